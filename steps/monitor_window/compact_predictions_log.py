"""Step: the churn service's predictions log compacted to a file per day, old days deleted."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.monitoring.retention import RetentionParams, compact_log
from retail_mlops.monitoring.window import churn_log_dir
from retail_mlops.names import A
from retail_mlops.paths import resolve

logger = get_logger(__name__)

DEFAULTS = RetentionParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def compact_predictions_log(
    window: dict[str, Any],
    log_dir: str = DEFAULTS.log_dir,
    keep_days: int = DEFAULTS.keep_days,
) -> Annotated[dict[str, Any], A.LOG_COMPACTION]:
    """Merge the log's parts into day files and delete the days `keep_days` before the window.

    Runs after the window is recorded, so every row it read is kept or already judged.
    Retention counts from the window's end, not the clock: a backfill of old windows keeps
    the rows of the later ones, and each scheduled run moves the retention on by itself.

    Args:
        window: The monitored window (its end is the day retention counts from).
        log_dir: The churn service's predictions log; empty means its default folder.
        keep_days: Days kept before the window's end.

    Returns:
        What was merged, written and deleted, with the row counts that prove no row was lost.

    Raises:
        InfraError: If another compaction holds the log, or the counts would not add up.
    """
    params = RetentionParams.of(locals())
    folder = churn_log_dir(resolve(params.log_dir) if params.log_dir else "")
    result = compact_log(folder, params.keep_days, today=window["window_end"][:10])
    for part in result.quarantined:
        logger.warning("predictions log file %s quarantined: %s", part.path.name, part.reason)
    logger.info(
        "predictions log: %d parts merged into %d day files, %d days deleted (%d rows), "
        "%d rows kept",
        result.parts_merged,
        len(result.days_written),
        len(result.days_deleted),
        result.rows_expired,
        result.rows_kept,
    )
    info = result.info()
    log_metadata(metadata={"log_compaction": info}, infer_artifact=True)
    return info
