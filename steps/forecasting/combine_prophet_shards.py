"""Step: gather the Prophet shards into one backtest, one forecast, one model collection."""

from typing import Annotated

import pandas as pd
from zenml import step

from materializers.prophet_materializer import ProphetModelsMaterializer
from retail_mlops.forecasting.prophet import ProphetModels
from retail_mlops.names import A


@step(output_materializers={str(A.PROPHET_MODELS): ProphetModelsMaterializer})
def combine_prophet_shards(
    backtests: list[pd.DataFrame],
    forecasts: list[pd.DataFrame],
    models: list[ProphetModels],
) -> tuple[
    Annotated[pd.DataFrame, A.PROPHET_BACKTEST],
    Annotated[pd.DataFrame, A.PROPHET_FORECAST],
    Annotated[ProphetModels, A.PROPHET_MODELS],
]:
    """Concatenate the shards' outputs (each item is in exactly one shard).

    Args:
        backtests: Each shard's backtest forecasts.
        forecasts: Each shard's final forecasts.
        models: Each shard's fitted models.

    Returns:
        The combined backtest, forecast and models.
    """
    combined = ProphetModels()
    for part in models:
        combined.update(part)
    backtest = pd.concat(backtests, ignore_index=True)
    forecast = pd.concat(forecasts, ignore_index=True)
    return backtest, forecast, combined
