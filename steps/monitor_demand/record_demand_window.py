"""Step: a demand window's figures into `monitoring_metrics`, its snapshot into Evidently."""

from typing import Annotated, Any

from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger
from zenml.types import HTMLString

from retail_mlops.monitoring.demand import DemandWindow
from retail_mlops.monitoring.demand import record_demand_window as record
from retail_mlops.monitoring.window import load_snapshot
from retail_mlops.names import A

logger = get_logger(__name__)


@step(enable_cache=False)
def record_demand_window(
    figures: dict[str, Any], snapshot: str
) -> Annotated[HTMLString, A.DEMAND_WINDOW_REPORT]:
    """Record the window (a re-run replaces it) and show its report on the step.

    Writes one row per segment and figure to `<state>/monitoring.duckdb` (job
    `demand_forecast`), adds the snapshot to the Evidently project `demand_monitoring` at
    `<state>/evidently` (timestamp = the window's end; the dashboard is rebuilt) and logs the
    headline figures as the run's metadata.

    Args:
        figures: Output of `evaluate_demand_window`.
        snapshot: Its Evidently snapshot as JSON.

    Returns:
        The window's Evidently report (HTML), the step's visualisation.
    """
    window = DemandWindow.from_dict(figures)
    loaded = load_snapshot(snapshot)
    run = get_step_context().pipeline_run
    recorded = record(window, loaded, monitor_run_id=str(run.id))
    logger.info(
        "demand window [%s, %s): %d metric rows in %s, snapshot %s in %s",
        window.window_start.date(),
        window.window_end.date(),
        recorded.rows,
        recorded.metrics_db,
        recorded.snapshot_ids,
        recorded.workspace,
    )
    log_metadata(metadata=window.metadata(), run_id_name_or_prefix=run.id)
    return HTMLString(loaded.get_html_str(as_iframe=False))
