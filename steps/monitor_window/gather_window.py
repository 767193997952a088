"""Step: the window ending at `as_of`, with every batch and served churn score in it."""

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.errors import DataError
from retail_mlops.monitoring.window import (
    GatherWindowParams,
    churn_log_dir,
    predictions_db_path,
    resolve_as_of,
)
from retail_mlops.monitoring.window import gather_window as gather
from retail_mlops.names import CHAMPION, MODEL_NAME, A
from retail_mlops.paths import resolve

logger = get_logger(__name__)

DEFAULTS = GatherWindowParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def gather_window(
    as_of: str,
    window_days: int,
    predictions_dir: str = DEFAULTS.predictions_dir,
    log_dir: str = DEFAULTS.log_dir,
) -> tuple[
    Annotated[dict[str, Any], A.MONITORING_WINDOW],
    Annotated[pd.DataFrame, A.WINDOW_BATCH_PREDICTIONS],
    Annotated[pd.DataFrame, A.WINDOW_SERVED_PREDICTIONS],
]:
    """Bound the window, read its batch and served scores, and look up the churn horizon.

    Args:
        as_of: The window's exclusive end (a date, or `today`: the day the run starts).
        window_days: The window's length when no earlier window is recorded.
        predictions_dir: Folder of predictions.duckdb; empty means `<state>/predictions`.
        log_dir: The churn service's predictions log; empty means its default folder.

    Returns:
        The window (bounds, counts, horizon, unreadable log parts), its batch scores and its
        served scores.

    Raises:
        DataError: If the window holds no prediction, or the champion records no horizon.
        InfraError: If the stack has no MLflow tracker, or the database cannot be opened.
    """
    from retail_mlops.registry import HORIZON_TAG, alias_version, churn_horizon
    from steps.client import configure_mlflow_from_stack

    params = GatherWindowParams.of(locals())
    data = gather(
        resolve_as_of(as_of),
        window_days,
        predictions_db=predictions_db_path(
            resolve(params.predictions_dir) if params.predictions_dir else ""
        ),
        log_dir=churn_log_dir(resolve(params.log_dir) if params.log_dir else ""),
    )
    # the label the scores predict: its horizon says when the window's outcomes are known
    configure_mlflow_from_stack()
    if alias_version(MODEL_NAME, CHAMPION) is None:
        raise DataError(f"model {MODEL_NAME!r} has no champion yet: run churn_training first")
    try:
        data.horizon_days = churn_horizon(MODEL_NAME)
    except DataError as exc:  # its message names the ab-report option, not this pipeline
        raise DataError(
            f"{MODEL_NAME}@{CHAMPION} records no {HORIZON_TAG}: retrain it to monitor its windows"
        ) from exc
    for part in data.quarantined:
        logger.warning("predictions log part %s left out: %s", Path(part.path).name, part.reason)
    info = data.info()
    logger.info(
        "window [%s, %s): %d batch and %d served scores, horizon %d days",
        info["window_start"],
        info["window_end"],
        info["batch_rows"],
        info["served_rows"],
        data.horizon_days,
    )
    log_metadata(metadata={"window": info}, infer_artifact=True, artifact_name=A.MONITORING_WINDOW)
    return info, data.batch, data.served
