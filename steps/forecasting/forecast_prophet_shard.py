"""Step: Prophet backtest and final forecast for one shard of items (one pod on Kubeflow)."""

from typing import Annotated

import pandas as pd
from zenml import step
from zenml.logger import get_logger

from materializers.prophet_materializer import ProphetModelsMaterializer
from retail_mlops.calendar import OpenCalendar
from retail_mlops.forecasting.backtest import BacktestSpec, prophet_shard
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.prophet import ProphetModels, ProphetParams, ProphetShardParams
from retail_mlops.names import A

logger = get_logger(__name__)


DEFAULTS = ProphetShardParams()  # the step's defaults; bounds and types are the model's


@step(output_materializers={str(A.PROPHET_MODELS): ProphetModelsMaterializer})
def forecast_prophet_shard(
    demand: pd.DataFrame,
    shard: int,
    n_shards: int,
    origins: list[str],
    horizon: int,
    min_prophet_days: int,
    country: str,
    n_jobs: int,
    changepoint_prior_scale: float = DEFAULTS.changepoint_prior_scale,
    interval_width: float = DEFAULTS.interval_width,
) -> tuple[
    Annotated[pd.DataFrame, A.PROPHET_BACKTEST],
    Annotated[pd.DataFrame, A.PROPHET_FORECAST],
    Annotated[ProphetModels, A.PROPHET_MODELS],
]:
    """Fit Prophet (weekly + yearly seasonality, public holidays) on every n_shards-th item.

    Args:
        demand: Daily demand from `build_daily_demand`.
        shard: This shard's index, 0 .. n_shards - 1.
        n_shards: Number of shards the items are split into.
        origins: Backtest origin days.
        horizon: Open days forecast from each origin and into the future.
        min_prophet_days: Fewest days with sales for Prophet to fit an item (else it is left
            to the other models).
        country: Public holidays (Prophet's country holidays and the open calendar).
        changepoint_prior_scale: Trend flexibility.
        interval_width: Width of Prophet's own interval on the final forecast.
        n_jobs: Processes in the pool.

    Returns:
        Backtest forecasts, the final forecast, and the fitted final models (Prophet JSON).
    """
    tuned = ProphetShardParams.of(locals())
    panel = Panel.from_long(demand)
    calendar = OpenCalendar(panel.dates, country=country)
    targets = calendar.next_open_days(panel.dates[-1] + pd.Timedelta(days=1), horizon)
    spec = BacktestSpec([pd.Timestamp(o) for o in origins], horizon)
    params = ProphetParams(
        country_holidays=country,
        changepoint_prior_scale=tuned.changepoint_prior_scale,
        interval_width=tuned.interval_width,
        uncertainty_samples=200,
    )
    backtest, forecast, models = prophet_shard(
        panel, spec, targets, params, min_prophet_days, shard, n_shards, n_jobs=n_jobs
    )
    logger.info("shard %d/%d: %d Prophet models", shard, n_shards, len(models))
    return backtest, forecast, ProphetModels(models)
