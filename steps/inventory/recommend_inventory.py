"""Step: safety stock, reorder point and EOQ per item, replayed on held-out real demand."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger
from zenml.types import HTMLString

from retail_mlops.forecasting.intervals import residual_quantiles
from retail_mlops.forecasting.plots import figures_html, inventory_figure
from retail_mlops.inventory.policy import (
    InventoryParams,
    policy_inputs,
    recommend,
    replay_recommendations,
    unit_costs,
)
from retail_mlops.io import write_csv_atomic, write_parquet_atomic
from retail_mlops.names import A
from retail_mlops.paths import resolve, state_dir

logger = get_logger(__name__)


DEFAULTS = InventoryParams()  # the step's defaults; bounds and types are the model's


@step
def recommend_inventory(
    demand: pd.DataFrame,
    demand_forecast: pd.DataFrame,
    backtest_predictions: pd.DataFrame,
    service_level: float = DEFAULTS.service_level,
    lead_time_days: float = DEFAULTS.lead_time_days,
    lead_time_std_days: float = DEFAULTS.lead_time_std_days,
    order_cost: float = DEFAULTS.order_cost,
    holding_rate: float = DEFAULTS.holding_rate,
    open_days_per_year: float = DEFAULTS.open_days_per_year,
    fill_rate_tolerance: float = DEFAULTS.fill_rate_tolerance,
    top_n_chart: int = DEFAULTS.top_n_chart,
    output_dir: str | None = DEFAULTS.output_dir,
) -> tuple[
    Annotated[pd.DataFrame, A.INVENTORY_RECOMMENDATIONS], Annotated[HTMLString, A.INVENTORY_CHART]
]:
    """The (reorder point, order quantity) policy per item, and how it did on real demand.

    Args:
        demand: Daily demand (unit costs, held-out demand).
        demand_forecast: The final forecast (mean daily demand per item).
        backtest_predictions: Backtest rows (error sigma; the policy replay).
        service_level: Target cycle service level (z from the normal quantile).
        lead_time_days: Lead time in open days.
        lead_time_std_days: Its standard deviation (0: fixed lead time).
        order_cost: Cost of placing one order.
        holding_rate: Yearly holding cost as a share of unit cost.
        open_days_per_year: Open days in a year (annual demand = daily x this).
        fill_rate_tolerance: A replay fill rate below target - tolerance flags the item.
        top_n_chart: Items in the chart (by annual demand value).
        output_dir: Where recommendations.parquet / .csv go (default: state/inventory).

    Returns:
        The recommendation table and a chart of the top items.
    """
    settings = InventoryParams.of(locals())
    params = settings.policy()
    quantiles = residual_quantiles(backtest_predictions)
    items = policy_inputs(demand_forecast, quantiles, unit_costs(demand))
    recs = recommend(items, params)
    replay = replay_recommendations(backtest_predictions, demand, params)
    recs = recs.merge(replay.drop(columns="target"), on="stock_code", how="left")
    recs["missed_target"] = recs["missed_target"].astype("boolean")

    out_dir = resolve(settings.output_dir) if settings.output_dir else state_dir() / "inventory"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(recs, out_dir / "recommendations.parquet")
    write_csv_atomic(recs, out_dir / "recommendations.csv")

    replayed = recs.dropna(subset=["fill_rate"])
    weights = replayed["annual_demand"].clip(lower=1e-9)
    summary: dict[str, Any] = {
        "items": len(recs),
        "replayed_items": len(replayed),
        "target_service_level": params.service_level,
        "mean_fill_rate": float(replayed["fill_rate"].mean()),
        "demand_weighted_fill_rate": float((replayed["fill_rate"] * weights).sum() / weights.sum()),
        "mean_stockout_days": float(replayed["stockout_days"].mean()),
        "mean_avg_on_hand": float(replayed["avg_on_hand"].mean()),
        "missed_target_items": int(replayed["missed_target"].sum()),
        "output_dir": str(out_dir),
    }
    logger.info("inventory: %s", summary)
    log_metadata(
        metadata={"inventory": summary},
        artifact_name=A.INVENTORY_RECOMMENDATIONS,
        infer_artifact=True,
    )
    value = recs.assign(v=recs["annual_demand"] * recs["unit_cost"].fillna(0))
    top = value.nlargest(settings.top_n_chart, "v")
    html = figures_html(
        [("Policy of the top items by demand value", inventory_figure(top))], "Inventory"
    )
    return recs, HTMLString(html)
