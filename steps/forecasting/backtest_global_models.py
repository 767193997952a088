"""Step: seasonal-naive and global XGBoost forecasts at every origin and into the future."""

from typing import Annotated

import pandas as pd
import xgboost as xgb
from zenml import step
from zenml.logger import get_logger

from materializers.xgb_materializer import XGBModelMaterializer
from retail_mlops.calendar import OpenCalendar
from retail_mlops.errors import DataError
from retail_mlops.forecasting.backtest import (
    BacktestSpec,
    fetch_day_features,
    global_backtest,
    global_forecast,
)
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.global_model import GlobalParams
from retail_mlops.names import A
from steps.client import stack_feature_store

logger = get_logger(__name__)


DEFAULTS = GlobalParams()  # the step's defaults; bounds and types are the model's


@step(output_materializers={str(A.GLOBAL_MODEL): XGBModelMaterializer})
def backtest_global_models(
    demand: pd.DataFrame,
    item_table: str,
    origins: list[str],
    horizon: int,
    country: str,
    n_estimators: int = DEFAULTS.n_estimators,
    learning_rate: float = DEFAULTS.learning_rate,
    max_depth: int = DEFAULTS.max_depth,
    min_child_weight: float = DEFAULTS.min_child_weight,
    subsample: float = DEFAULTS.subsample,
    colsample_bytree: float = DEFAULTS.colsample_bytree,
    train_origins: int = DEFAULTS.train_origins,
    origin_step: int = DEFAULTS.origin_step,
    max_train_rows: int = DEFAULTS.max_train_rows,
    seed: int = DEFAULTS.seed,
) -> tuple[
    Annotated[pd.DataFrame, A.GLOBAL_BACKTEST],
    Annotated[pd.DataFrame, A.GLOBAL_FORECAST],
    Annotated[xgb.XGBRegressor, A.GLOBAL_MODEL],
]:
    """Backtest and forecast the models that see all items at once.

    Args:
        demand: Daily demand from `build_daily_demand`.
        item_table: The `item_daily_features` offline table written upstream: the model's
            item-day features come from it through Feast's point-in-time join.
        origins: Backtest origin days.
        horizon: Open days forecast from each origin and into the future.
        country: Public holidays for the open calendar of future days.
        n_estimators: Trees of the global XGBoost model.
        learning_rate: Shrinkage.
        max_depth: Tree depth.
        min_child_weight: Minimum hessian per leaf.
        subsample: Row subsample per tree.
        colsample_bytree: Column subsample per tree.
        train_origins: Past origins the training rows come from.
        origin_step: Days between those origins.
        max_train_rows: Training rows are sampled down to this many.
        seed: Seed of the sampling and of XGBoost.

    Returns:
        Backtest forecasts (model, stock_code, origin, ds, yhat) and future forecasts
        (model, stock_code, ds, yhat) of `naive` and `xgboost`, and the global model trained
        on all the history (XGBoost UBJSON, for inspection and reuse without retraining).

    Raises:
        DataError: If the history is too short to train the global model at all.
    """
    panel = Panel.from_long(demand)
    params = GlobalParams.of(locals())
    spec = BacktestSpec([pd.Timestamp(o) for o in origins], horizon)
    day_features = fetch_day_features(stack_feature_store(), panel, spec, params)
    logger.info("item features: %d origins from %s", len(day_features), item_table)
    backtest = global_backtest(panel, spec, params, day_features=day_features)
    calendar = OpenCalendar(panel.dates, country=country)
    targets = calendar.next_open_days(panel.dates[-1] + pd.Timedelta(days=1), horizon)
    forecast, model = global_forecast(panel, targets, horizon, params, day_features=day_features)
    if model is None:
        raise DataError(
            f"too little history for the global model: {len(panel.dates)} open days, "
            f"{len(panel.skus)} items"
        )
    logger.info("global models: %d backtest rows, %d forecast rows", len(backtest), len(forecast))
    return backtest, forecast, model
