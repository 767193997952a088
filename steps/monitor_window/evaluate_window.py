"""Step: drift, prediction KS and (once outcomes are known) performance of a window's scores."""

from typing import Annotated, Any

import pandas as pd
from zenml import step
from zenml.logger import get_logger

from retail_mlops.monitoring.drift import DriftReportParams
from retail_mlops.monitoring.window import WindowData, dump_snapshot
from retail_mlops.monitoring.window import evaluate_window as evaluate
from retail_mlops.names import A

logger = get_logger(__name__)

DEFAULTS = DriftReportParams()  # the step's defaults; bounds and types are the model's


@step
def evaluate_window(
    window: dict[str, Any],
    batch: pd.DataFrame,
    served: pd.DataFrame,
    transactions: pd.DataFrame,
    reference_features: pd.DataFrame,
    reference_predictions: pd.DataFrame,
    method: str = DEFAULTS.method,
    threshold: float = DEFAULTS.threshold,
    max_reference_rows: int = DEFAULTS.max_reference_rows,
) -> tuple[
    Annotated[dict[str, Any], A.WINDOW_FIGURES],
    Annotated[dict[str, str], A.WINDOW_SNAPSHOTS],
]:
    """Figures per (source, variant, model version), and an Evidently snapshot of each.

    Args:
        window: Output of `gather_window` (bounds, horizon).
        batch: The window's batch scores.
        served: The window's served scores.
        transactions: Clean invoice lines (batch features and every outcome come from them).
        reference_features: The champion's training features.
        reference_predictions: The champion's scores on its training rows.
        method: Evidently drift method of the feature-drift report.
        threshold: Per-column drift threshold of the method.
        max_reference_rows: Seeded sample size of the reference.

    Returns:
        The window's result (`WindowResult.to_dict()`) and each segment's snapshot as JSON.

    Raises:
        DataError: If a frame lacks the columns the figures need.
    """
    params = DriftReportParams.of(locals())
    data = WindowData.from_info(window, batch, served)
    evaluation = evaluate(
        data,
        transactions,
        reference_features,
        reference_predictions,
        int(window["horizon_days"]),
        params,
    )
    for segment in evaluation.result.segments:
        logger.info(
            "%s: %d scores, prediction KS %.3f, feature drift %s, performance %s",
            segment.key,
            segment.n_rows,
            segment.prediction["ks_statistic"],
            segment.feature_drift_status,
            segment.performance_status,
        )
    snapshots = {key: dump_snapshot(s) for key, s in evaluation.snapshots.items()}
    return evaluation.result.to_dict(), snapshots
