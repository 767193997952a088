"""Demand monitoring pipeline: a served forecast against the sales that followed it."""

from typing import Any

from zenml import pipeline

from steps.forecasting.build_daily_demand import build_daily_demand
from steps.ingest import load_transactions
from steps.monitor_demand import (
    evaluate_demand_window,
    gate_demand_window,
    gather_served_forecast,
    record_demand_window,
)


@pipeline
def demand_monitoring(source: dict[str, Any], as_of: str, forecast_run: str | None = None) -> None:
    """Judge the newest forecast made before `as_of` on the actual sales of its days.

    1. gather_served_forecast: the newest completed demand_forecasting run on data before
       `as_of` (or `forecast_run`): its forecast table and inventory recommendations
    2. load_transactions / build_daily_demand: the daily demand up to now (history and
       actuals), the same steps as the forecasting run's, so a shared source is cached
    3. evaluate_demand_window: WAPE, MASE, bias, seasonal-naive WAPE and forecast value added
       overall, per horizon bucket (1-7, 8-14, 15-28 open days) and per ABC class; the
       recommended reorder points replayed on the actual demand (fill rate, stock-outs)
    4. record_demand_window: rows into `monitoring_metrics`, a snapshot into the Evidently
       project `demand_monitoring` at the window's end, figures as run metadata
    5. gate_demand_window: retrain when the forecast is worse than naive; alerts once

    Args:
        source: Where the invoice lines come from (the actual sales).
        as_of: Sales on or after this day are not known yet (a date, or `today`).
        forecast_run: The forecasting run to judge instead of the newest fitting one.
    """
    forecast, recommendations, served = gather_served_forecast(
        as_of=as_of, forecast_run=forecast_run
    )
    raw = load_transactions(source=source, after="gather_served_forecast")
    demand, _quarantine = build_daily_demand(raw, until=None)  # every sale known by now
    figures, snapshot = evaluate_demand_window(demand, forecast, recommendations, served)
    record_demand_window(figures, snapshot)
    gate_demand_window(figures, after="record_demand_window")
