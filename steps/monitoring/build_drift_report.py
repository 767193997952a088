"""Step: Evidently data-drift report of scoring features against the training reference."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.types import HTMLString

from retail_mlops.features.customer import FEATURE_COLUMNS
from retail_mlops.monitoring.drift import DriftReportParams, run_drift_report
from retail_mlops.names import A

DEFAULTS = DriftReportParams()  # the step's defaults; bounds and types are the model's


@step
def build_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    method: str = DEFAULTS.method,
    threshold: float = DEFAULTS.threshold,
    max_reference_rows: int = DEFAULTS.max_reference_rows,
) -> tuple[Annotated[HTMLString, A.DRIFT_REPORT], Annotated[dict[str, Any], A.DRIFT_SUMMARY]]:
    """Run the report and return its HTML (the step's dashboard view) and a summary.

    Args:
        reference: Training features (from the champion's training run).
        current: Features being scored.
        method: Evidently drift method (KS flags everything at thousands of rows).
        threshold: Per-column drift threshold for the method.
        max_reference_rows: Seeded sample size of the reference.

    Returns:
        The report HTML and {"drift_share", "drifted_columns", "n_columns", "columns"}.

    Raises:
        DataError: If feature columns are missing.
    """
    params = DriftReportParams.of(locals())
    snapshot, summary = run_drift_report(
        reference,
        current,
        list(FEATURE_COLUMNS),
        params.method,
        params.threshold,
        params.max_reference_rows,
    )
    log_metadata(
        metadata={
            "drift_share": summary["drift_share"],
            "drifted_columns": summary["drifted_columns"],
        },
        artifact_name=A.DRIFT_SUMMARY,
        infer_artifact=True,
    )
    return HTMLString(snapshot.get_html_str(as_iframe=False)), summary
