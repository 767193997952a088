"""Step: the forecast and inventory policy a past demand_forecasting run served."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.monitoring.window import resolve_as_of
from retail_mlops.names import A

logger = get_logger(__name__)


@step(enable_cache=False)
def gather_served_forecast(
    as_of: str, forecast_run: str | None
) -> tuple[
    Annotated[pd.DataFrame, A.SERVED_FORECAST],
    Annotated[pd.DataFrame, A.SERVED_RECOMMENDATIONS],
    Annotated[dict[str, Any], A.SERVED_FORECAST_RUN],
]:
    """The newest completed forecasting run made on data before `as_of` (or `forecast_run`).

    Never cached: which run is newest changes between runs with the same inputs.

    Args:
        as_of: Actual sales before this day are known (a date, or `today`).
        forecast_run: A demand_forecasting run name or id instead of the newest fitting one.

    Returns:
        Its `demand_forecast`, its `inventory_recommendations` and the run's id, name, model
        version, last day of data and lead time.

    Raises:
        DataError: If no completed forecasting run was made on data before `as_of`.
    """
    from steps.client import served_demand_forecast

    day = resolve_as_of(as_of)
    forecast, recommendations, info = served_demand_forecast(day, forecast_run)
    info["as_of"] = day  # the evaluation judges the days before it, whatever the clock says then
    logger.info(
        "judging run %s (data up to %s, model version %s): %d items",
        info["run_name"],
        info["last_day"],
        info["model_version"],
        forecast["stock_code"].nunique(),
    )
    log_metadata(metadata={"forecast_run": info})
    return forecast, recommendations, info
