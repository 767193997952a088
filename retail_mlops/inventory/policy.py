"""Inventory policy per item: safety stock, reorder point, EOQ, and a replay on real demand.

Units of time are open (trading) days: demand is forecast per open day and the lead time is
counted in open days. Formulas (z = standard normal quantile of the cycle service level):

- safety stock, fixed lead time:     SS = z * sigma_d * sqrt(L)
- safety stock, variable lead time:  SS = z * sqrt(L * sigma_d^2 + d^2 * sigma_L^2)
- reorder point:                     ROP = d * L + SS
- economic order quantity:           EOQ = sqrt(2 * D * S / H)

with d the mean daily demand forecast, sigma_d the standard deviation of the daily forecast
error (RMSE of the backtest residuals), L and sigma_L the lead time and its standard deviation,
D the annual demand (d x open days a year), S the cost of one order and H the cost of holding
one unit for a year (holding rate x unit cost).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field
from scipy.stats import norm

from retail_mlops.config import Params


class PolicyParams(Params):
    """Service and cost settings shared by all items."""

    service_level: float = Field(default=0.95, gt=0, lt=1, description="Target cycle service level")
    lead_time_days: float = Field(default=7.0, ge=0, description="Lead time in open days")
    lead_time_std_days: float = Field(default=0.0, ge=0, description="Its standard deviation")
    order_cost: float = Field(default=50.0, ge=0, description="Cost of placing one order")
    holding_rate: float = Field(default=0.25, gt=0, description="Yearly holding cost / unit cost")
    open_days_per_year: float = Field(
        default=305.0, gt=0, le=366, description="Open days in a year"
    )
    fill_rate_tolerance: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="A replay fill rate below target - this flags the item",
    )


class InventoryParams(PolicyParams):
    """The recommend_inventory step: the policy, the chart and where the table goes."""

    top_n_chart: int = Field(
        default=15, ge=1, description="Items in the chart, by annual demand value"
    )
    output_dir: str | None = Field(default=None, description="Folder of the table (default: state)")

    def policy(self) -> PolicyParams:
        """The policy settings alone."""
        return PolicyParams.of(self.model_dump())


def z_value(service_level: float) -> float:
    """Standard normal quantile of the service level (0.95 -> 1.645)."""
    return float(norm.ppf(service_level))


def safety_stock(
    sigma_d: np.ndarray | float,
    lead_time: float,
    z: float,
    mean_demand: np.ndarray | float = 0.0,
    lead_time_std: float = 0.0,
) -> np.ndarray:
    """Safety stock; with lead_time_std = 0 it reduces to z * sigma_d * sqrt(L)."""
    sigma_d, mean_demand = np.asarray(sigma_d, float), np.asarray(mean_demand, float)
    return z * np.sqrt(lead_time * sigma_d**2 + mean_demand**2 * lead_time_std**2)


def reorder_point(
    mean_demand: np.ndarray | float, lead_time: float, ss: np.ndarray | float
) -> np.ndarray:
    """Demand over the lead time plus safety stock."""
    return np.asarray(mean_demand, float) * lead_time + np.asarray(ss, float)


def eoq(
    annual_demand: np.ndarray | float, order_cost: float, holding_cost: np.ndarray | float
) -> np.ndarray:
    """Economic order quantity sqrt(2DS/H); 0 where there is no demand or no holding cost."""
    d, h = np.asarray(annual_demand, float), np.asarray(holding_cost, float)
    return np.sqrt(
        np.divide(2 * d * order_cost, h, out=np.zeros(np.broadcast(d, h).shape), where=h > 0)
    )


def order_quantity(annual_demand: np.ndarray | float, eoq_units: np.ndarray | float) -> np.ndarray:
    """The EOQ rounded up to whole units, at least 1 where there is demand, 0 where none."""
    d, q = np.asarray(annual_demand, float), np.asarray(eoq_units, float)
    return np.where(d > 0, np.maximum(np.ceil(q), 1.0), 0.0)


def recommend(items: pd.DataFrame, params: PolicyParams) -> pd.DataFrame:
    """The policy of each item.

    Args:
        items: stock_code, mean_demand (units per open day), sigma (daily forecast error),
            unit_cost.
        params: Service level, lead time, costs.

    Returns:
        items plus safety_stock, reorder_point, order_quantity (EOQ, at least 1 when there is
        demand), annual_demand, z, service_level.
    """
    z = z_value(params.service_level)
    out = items.copy()
    out["z"] = z
    out["service_level"] = params.service_level
    out["safety_stock"] = safety_stock(
        out["sigma"].fillna(0.0),
        params.lead_time_days,
        z,
        out["mean_demand"],
        params.lead_time_std_days,
    )
    out["reorder_point"] = reorder_point(
        out["mean_demand"], params.lead_time_days, out["safety_stock"]
    )
    out["annual_demand"] = out["mean_demand"] * params.open_days_per_year
    q = eoq(
        out["annual_demand"], params.order_cost, params.holding_rate * out["unit_cost"].fillna(0.0)
    )
    out["order_quantity"] = order_quantity(out["annual_demand"], q)
    return out


def replay(demand: np.ndarray, rop: float, q: float, lead_time: int) -> dict[str, float]:
    """Replay a continuous-review (ROP, Q) policy over daily demand; unmet demand is lost.

    The item starts with ROP + Q on hand and nothing on order. Each day: receive orders due,
    serve demand from stock, then while the inventory position (on hand + on order) is at or
    below ROP, order Q, arriving `lead_time` days later.

    Returns:
        fill_rate (served / demanded; 1 with no demand), stockout_days (days with unmet
        demand), avg_on_hand (end-of-day stock), orders.
    """
    on_hand = float(rop + q)
    pipeline: list[tuple[int, float]] = []
    served = demanded = 0.0
    stockout_days = orders = 0
    stock_sum = 0.0
    for day, d in enumerate(np.nan_to_num(np.asarray(demand, float))):
        on_hand += sum(qty for due, qty in pipeline if due == day)
        pipeline = [(due, qty) for due, qty in pipeline if due > day]
        sold = min(on_hand, d)
        served += sold
        demanded += d
        stockout_days += int(d > on_hand + 1e-9)
        on_hand -= sold
        while q > 0 and on_hand + sum(qty for _, qty in pipeline) <= rop:
            orders += 1
            if lead_time <= 0:
                on_hand += q  # arrives at once
            else:
                pipeline.append((day + int(lead_time), q))
        stock_sum += on_hand
    n = max(len(demand), 1)
    return {
        "fill_rate": served / demanded if demanded > 0 else 1.0,
        "stockout_days": float(stockout_days),
        "avg_on_hand": stock_sum / n,
        "orders": float(orders),
    }


def policy_backtest(recs: pd.DataFrame, actual: pd.DataFrame, params: PolicyParams) -> pd.DataFrame:
    """Replay each item's recommended policy over its real held-out demand.

    Args:
        recs: stock_code, reorder_point, order_quantity (from `recommend`, made before the
            held-out days).
        actual: stock_code, ds, y: the real demand on the held-out open days.
        params: The target service level, lead time and tolerance.

    Returns:
        stock_code, fill_rate, stockout_days, avg_on_hand, orders, target, missed_target
        (fill rate below target - tolerance).
    """
    series = {k: g.sort_values("ds")["y"].to_numpy() for k, g in actual.groupby("stock_code")}
    rows = []
    for rec in recs.itertuples(index=False):
        demand = series.get(rec.stock_code)
        if demand is None:
            continue
        r = replay(
            demand,
            float(rec.reorder_point),
            float(rec.order_quantity),
            round(params.lead_time_days),
        )
        rows.append({"stock_code": rec.stock_code, **r})
    out = pd.DataFrame(
        rows, columns=["stock_code", "fill_rate", "stockout_days", "avg_on_hand", "orders"]
    )
    out["target"] = params.service_level
    out["missed_target"] = out["fill_rate"] < params.service_level - params.fill_rate_tolerance
    return out


ABC_SHARES = (0.8, 0.95)  # cumulative revenue share that closes class A, then class B


def abc_classes(demand: pd.DataFrame, shares: tuple[float, float] = ABC_SHARES) -> pd.Series:
    """ABC class per item by revenue (units x price) over `demand`: A, B or C.

    Items sorted by revenue, largest first: A holds the items whose cumulative share of the
    total is within the first `shares[0]` (the item that crosses it included), B those up to
    `shares[1]`, C the rest, items without revenue among them. Computed on history only (the
    caller passes the days before a forecast), so the class never knows the days it judges.

    Returns:
        The class (str) indexed by stock_code.
    """
    revenue = (
        (demand["y"] * demand["price"].fillna(0.0)).groupby(demand["stock_code"]).sum()
    ).sort_values(ascending=False, kind="stable")
    total = float(revenue.sum())
    if total <= 0:
        return pd.Series("C", index=revenue.index, name="abc_class")
    before = (revenue.cumsum() - revenue) / total  # share held by the items above each one
    labels = np.where(before < shares[0], "A", np.where(before < shares[1], "B", "C"))
    return pd.Series(labels, index=revenue.index, name="abc_class")


def unit_costs(demand: pd.DataFrame, days: int = 91) -> pd.DataFrame:
    """Median selling price over each item's last `days` open days with sales.

    The data has no purchase cost; the selling price stands in for it in the holding cost.
    """
    sold = demand[(demand["y"] > 0) & demand["price"].notna()]
    cutoff = sold["ds"].max() - pd.Timedelta(days=days)
    recent = sold[sold["ds"] >= cutoff].groupby("stock_code")["price"].median()
    overall = sold.groupby("stock_code")["price"].median()
    return recent.reindex(overall.index).fillna(overall).rename("unit_cost").reset_index()


def policy_inputs(
    forecast: pd.DataFrame, quantiles: pd.DataFrame, costs: pd.DataFrame
) -> pd.DataFrame:
    """Per item: mean daily demand, the daily error sigma of its model, and the unit cost.

    The mean daily demand is the mean point forecast plus the model's mean backtest error
    (de-biased: the models forecast the median day, stock has to cover the mean).

    Args:
        forecast: stock_code, model, yhat rows over the planning window.
        quantiles: stock_code, model, sigma, mean_error (from `residual_quantiles`).
        costs: stock_code, unit_cost.
    """
    items = forecast.groupby(["stock_code", "model"], as_index=False)["yhat"].mean()
    items = items.merge(quantiles[["stock_code", "model", "sigma", "mean_error"]], how="left")
    # The point forecasts aim at the median day (best for WAPE); stock must cover the mean
    # day, so the model's mean backtest error is added back.
    items["mean_demand"] = (items["yhat"] + items["mean_error"].fillna(0.0)).clip(lower=0.0)
    items = items.drop(columns=["yhat", "mean_error"])
    return items.merge(costs, how="left")


def replay_recommendations(
    backtest: pd.DataFrame, demand: pd.DataFrame, params: PolicyParams, interval_level: float = 0.8
) -> pd.DataFrame:
    """Recommend as of the last backtest origin, then replay over the real demand after it.

    The model choice and error sigma come from the earlier origins only, the mean demand from
    the chosen model's forecast made at the last origin: nothing after the origin is used to
    set the policy.
    """
    from retail_mlops.forecasting.backtest import choose_models
    from retail_mlops.forecasting.intervals import residual_quantiles

    origins = sorted(backtest["origin"].unique())
    last = origins[-1]
    early = backtest[backtest["origin"] < last]
    choice = choose_models(early if len(early) else backtest, origins[:-1] or origins)
    at_last = backtest[backtest["origin"] == last].merge(choice, on=["stock_code", "model"])
    items = policy_inputs(
        at_last,
        residual_quantiles(early if len(early) else backtest, interval_level),
        unit_costs(demand[demand["ds"] < last]),
    )
    recs = recommend(items, params)
    actual = demand[(demand["ds"] >= last) & demand["stock_code"].isin(recs["stock_code"])]
    return policy_backtest(recs, actual, params)
