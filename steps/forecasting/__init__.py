"""Demand forecasting steps."""

from steps.forecasting.backtest_global_models import backtest_global_models
from steps.forecasting.build_daily_demand import build_daily_demand
from steps.forecasting.combine_prophet_shards import combine_prophet_shards
from steps.forecasting.evaluate_forecasts import evaluate_forecasts
from steps.forecasting.forecast_demand import forecast_demand
from steps.forecasting.forecast_prophet_shard import forecast_prophet_shard

__all__ = [
    "backtest_global_models",
    "build_daily_demand",
    "combine_prophet_shards",
    "evaluate_forecasts",
    "forecast_demand",
    "forecast_prophet_shard",
]
