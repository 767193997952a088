"""Step: seasonal-naive and global XGBoost forecasts at every origin and into the future."""

from typing import Annotated

import pandas as pd
import xgboost as xgb
from zenml import step
from zenml.logger import get_logger

from materializers.xgb_materializer import XGBModelMaterializer
from retail_mlops.errors import DataError
from retail_mlops.forecasting.backtest import BacktestSpec, global_backtest, global_forecast
from retail_mlops.forecasting.calendar import OpenCalendar
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.global_model import GlobalParams
from retail_mlops.names import A

logger = get_logger(__name__)


@step(output_materializers={str(A.GLOBAL_MODEL): XGBModelMaterializer})
def backtest_global_models(
    demand: pd.DataFrame,
    origins: list[str],
    horizon: int,
    country: str = "UK",
    n_estimators: int = 300,
    learning_rate: float = 0.05,
    max_depth: int = 4,
    train_origins: int = 30,
    max_train_rows: int = 1_000_000,
) -> tuple[
    Annotated[pd.DataFrame, A.GLOBAL_BACKTEST],
    Annotated[pd.DataFrame, A.GLOBAL_FORECAST],
    Annotated[xgb.XGBRegressor, A.GLOBAL_MODEL],
]:
    """Backtest and forecast the models that see all items at once.

    Args:
        demand: Daily demand from `build_daily_demand`.
        origins: Backtest origin days.
        horizon: Open days forecast from each origin and into the future.
        country: Public holidays for the open calendar of future days.
        n_estimators: Trees of the global XGBoost model.
        learning_rate: Shrinkage.
        max_depth: Tree depth.
        train_origins: Past origins (a week apart) the training rows come from.
        max_train_rows: Training rows are sampled down to this many.

    Returns:
        Backtest forecasts (model, stock_code, origin, ds, yhat) and future forecasts
        (model, stock_code, ds, yhat) of `naive` and `xgboost`, and the global model trained
        on all the history (XGBoost UBJSON, for inspection and reuse without retraining).

    Raises:
        DataError: If the history is too short to train the global model at all.
    """
    panel = Panel.from_long(demand)
    params = GlobalParams(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        max_depth=max_depth,
        train_origins=train_origins,
        max_train_rows=max_train_rows,
    )
    spec = BacktestSpec([pd.Timestamp(o) for o in origins], horizon)
    backtest = global_backtest(panel, spec, params)
    calendar = OpenCalendar(panel.dates, country=country)
    targets = calendar.next_open_days(panel.dates[-1] + pd.Timedelta(days=1), horizon)
    forecast, model = global_forecast(panel, targets, horizon, params)
    if model is None:
        raise DataError(
            f"too little history for the global model: {len(panel.dates)} open days, "
            f"{len(panel.skus)} items"
        )
    logger.info("global models: %d backtest rows, %d forecast rows", len(backtest), len(forecast))
    return backtest, forecast, model
