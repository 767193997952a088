"""Demand forecasting pipeline: backtest three models per item, forecast, stock and price."""

from typing import Any

from zenml import pipeline

from steps.features import compute_item_features, write_feature_table
from steps.forecasting.backtest_global_models import backtest_global_models
from steps.forecasting.build_daily_demand import build_daily_demand
from steps.forecasting.combine_prophet_shards import combine_prophet_shards
from steps.forecasting.evaluate_forecasts import evaluate_forecasts
from steps.forecasting.forecast_demand import forecast_demand
from steps.forecasting.forecast_prophet_shard import forecast_prophet_shard
from steps.ingest import load_transactions
from steps.inventory.analyze_pricing import analyze_pricing
from steps.inventory.recommend_inventory import recommend_inventory


@pipeline
def demand_forecasting(
    source: dict[str, Any],
    origins: list[str],
    horizon: int = 28,
    n_shards: int = 2,
    min_prophet_days: int = 200,
    country: str = "UK",
    prophet_n_jobs: int = 2,
    until: str | None = None,
) -> None:
    """Forecast daily units per item and recommend stock levels.

    1. load_transactions, build_daily_demand: daily units per item on open days; bad lines
       quarantined with a reason
    2. compute_item_features, write_item_features: item-day features (levels, lags, price)
       into Feast's offline store, as feature_materialization writes them
    3. forecast_prophet_shard x n_shards: Prophet per item over a process pool; on Kubeflow each
       shard is its own pod, locally they run one after another
    4. combine_prophet_shards: one backtest, forecast and model collection (Prophet JSON)
    5. backtest_global_models: seasonal naive and the global XGBoost at the same origins, the
       XGBoost inputs read through Feast's point-in-time join
    6. evaluate_forecasts: WAPE/MASE/sMAPE/bias, best model per item (MLflow)
    7. forecast_demand: the chosen model's forecast with intervals, plots (MLflow, ZenML)
    8. recommend_inventory: safety stock, reorder point, EOQ, policy replay on real demand
    9. analyze_pricing: price elasticity and promotion uplift

    Args:
        source: Where the invoice lines come from (see `retail_mlops.ingest.sources`).
        origins: Backtest origin days; the last one is held out for scoring the choice.
        horizon: Open days forecast from each origin and into the future.
        n_shards: Parallel Prophet steps.
        min_prophet_days: Fewest selling days for an item to get a Prophet model.
        country: Public holidays (Prophet and the open calendar).
        prophet_n_jobs: Processes per Prophet shard.
        until: Forecast as if it were this day (sales from it on are left out), so that
            demand_monitoring can later judge the forecast on what sold; default: all data.
    """
    raw = load_transactions(source=source)
    demand, _quarantine = build_daily_demand(raw, until=until)
    items, item_hash = compute_item_features(demand)
    item_table = write_feature_table(
        items, item_hash, view="item_daily_features", id="write_item_features"
    )
    backtests, forecasts, models = [], [], []
    for shard in range(n_shards):
        bt, fc, m = forecast_prophet_shard(
            demand,
            shard=shard,
            n_shards=n_shards,
            origins=origins,
            horizon=horizon,
            min_prophet_days=min_prophet_days,
            country=country,
            n_jobs=prophet_n_jobs,
            id=f"forecast_prophet_shard_{shard}",
        )
        backtests.append(bt)
        forecasts.append(fc)
        models.append(m)
    prophet_backtest, prophet_forecast, _models = combine_prophet_shards(
        backtests, forecasts, models
    )
    global_backtest, global_forecast, _global_model = backtest_global_models(
        demand, item_table, origins=origins, horizon=horizon, country=country
    )
    predictions, _metrics, _summary, choice = evaluate_forecasts(
        demand, global_backtest, prophet_backtest
    )
    forecast, _plots = forecast_demand(
        demand, global_forecast, prophet_forecast, predictions, choice
    )
    recommend_inventory(demand, forecast, predictions)
    analyze_pricing(demand)
