"""Step: a served forecast against the actual sales since, per horizon and ABC class."""

from typing import Annotated, Any

import pandas as pd
from zenml import step
from zenml.logger import get_logger

from retail_mlops.monitoring.demand import ALL, demand_report
from retail_mlops.monitoring.demand import evaluate_demand_window as evaluate
from retail_mlops.monitoring.window import dump_snapshot
from retail_mlops.names import A

logger = get_logger(__name__)


@step
def evaluate_demand_window(
    demand: pd.DataFrame,
    forecast: pd.DataFrame,
    recommendations: pd.DataFrame,
    served: dict[str, Any],
) -> tuple[
    Annotated[dict[str, Any], A.DEMAND_WINDOW_FIGURES],
    Annotated[str, A.DEMAND_WINDOW_SNAPSHOT],
]:
    """WAPE, MASE, bias, naive WAPE, FVA and the policy's stock-outs of the served forecast.

    Args:
        demand: Daily demand of the monitoring run's data (history and actuals).
        forecast: The served `demand_forecast`.
        recommendations: The served `inventory_recommendations`.
        served: The forecasting run (`gather_served_forecast`), with the `as_of` it resolved:
            sales on or after that day are not known yet.

    Returns:
        The window's figures per segment and its Evidently snapshot (JSON).

    Raises:
        DataError: If no forecast day has its actual sales yet.
    """
    window, rows, replayed = evaluate(
        forecast,
        recommendations,
        demand,
        served["as_of"],
        run_id=served["run_id"],
        model_version=served["model_version"],
        lead_time_days=served["lead_time_days"],
    )
    overall = window.segments[ALL]
    logger.info(
        "forecast days %s..%s: WAPE %.3f vs naive %.3f (FVA %.1f%%), bias %+.3f; fill rate %.3f",
        window.window_start.date(),
        (window.window_end - pd.Timedelta(days=1)).date(),
        overall["wape"],
        overall["naive_wape"],
        100 * overall["fva"],
        overall["bias"],
        overall.get("fill_rate", float("nan")),
    )
    snapshot = demand_report(rows, replayed, list(window.segments))
    return window.to_dict(), dump_snapshot(snapshot)
