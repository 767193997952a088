"""Step: a window's figures into `monitoring_metrics`, its snapshots into the Evidently project."""

from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger
from zenml.types import HTMLString

from retail_mlops.monitoring.window import WindowResult, load_snapshot, report_html
from retail_mlops.monitoring.window import record_window as record
from retail_mlops.names import A

logger = get_logger(__name__)


@step(enable_cache=False)
def record_window(
    figures: dict[str, Any], snapshots: dict[str, str]
) -> Annotated[HTMLString, A.WINDOW_REPORT]:
    """Record the window (a re-run replaces it) and show its report on the step.

    Writes one row per figure to `<state>/monitoring.duckdb`, adds one snapshot per segment to
    the Evidently project `churn_monitoring` at `<state>/evidently` (timestamp = the window's
    end; the dashboard is rebuilt), and logs the figures as the run's metadata.

    Args:
        figures: Output of `evaluate_window`.
        snapshots: Each segment's Evidently snapshot as JSON.

    Returns:
        The window's Evidently report (HTML), the step's visualisation.

    Raises:
        DataError: If a segment has no snapshot.
    """
    result = WindowResult.from_dict(figures)
    loaded = {key: load_snapshot(text) for key, text in snapshots.items()}
    run = get_step_context().pipeline_run
    recorded = record(result, loaded, monitor_run_id=str(run.id))
    logger.info(
        "window [%s, %s): %d metric rows in %s, snapshots %s in %s",
        result.window_start.date(),
        result.window_end.date(),
        recorded.rows,
        recorded.metrics_db,
        recorded.snapshot_ids,
        recorded.workspace,
    )
    log_metadata(metadata=result.metadata(), run_id_name_or_prefix=run.id)
    return HTMLString(report_html(loaded))
