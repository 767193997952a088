"""Step: the drift gate: KS test on predictions plus the feature-drift share, with thresholds."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.monitoring.drift import DriftGateParams, drift_gate, prediction_ks
from retail_mlops.names import A

logger = get_logger(__name__)


def _alert(text: str) -> None:
    """Always log; also post through the stack's alerter when one is configured."""
    from zenml.client import Client

    logger.warning("DRIFT ALERT: %s", text)
    alerter = Client().active_stack.alerter
    if alerter is not None:
        alerter.post(f"churn_batch_inference: {text}")


DEFAULTS = DriftGateParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def check_drift(
    drift_summary: dict[str, Any],
    reference_predictions: pd.DataFrame,
    predictions: pd.DataFrame,
    max_drift_share: float = DEFAULTS.max_drift_share,
    max_prediction_ks: float = DEFAULTS.max_prediction_ks,
    fail_on_feature_drift: bool = DEFAULTS.fail_on_feature_drift,
    fail_on_prediction_drift: bool = DEFAULTS.fail_on_prediction_drift,
) -> Annotated[dict[str, Any], A.GATE_RESULT]:
    """Fail or warn, with the numbers, when drift passes the configured thresholds.

    Args:
        drift_summary: Output of `build_drift_report`.
        reference_predictions: The champion's predictions on its training rows.
        predictions: This run's predictions.
        max_drift_share: Largest tolerated share of drifted feature columns.
        max_prediction_ks: Largest tolerated KS statistic between prediction distributions.
        fail_on_feature_drift: Fail the run (else warn) on feature drift.
        fail_on_prediction_drift: Fail the run (else warn) on prediction drift.

    Returns:
        The numbers and the decision.

    Raises:
        RuntimeError: With every breach and its numbers, when a failing check is breached.
    """
    params = DriftGateParams.of(locals())
    ks = prediction_ks(
        reference_predictions["churn_probability"].to_numpy(),
        predictions["churn_probability"].to_numpy(),
    )
    gate = drift_gate(
        drift_summary,
        ks,
        params.max_drift_share,
        params.max_prediction_ks,
        params.fail_on_feature_drift,
        params.fail_on_prediction_drift,
    )
    result = {
        **ks,
        "drift_share": drift_summary["drift_share"],
        "failed": gate.failed,
        "message": gate.message(),
    }
    log_metadata(metadata={k: v for k, v in result.items() if k != "message"}, infer_artifact=True)
    if gate.failures or gate.warnings:
        _alert(gate.message())
    else:
        logger.info("drift gate passed: %s", result)
    if gate.failed:
        raise RuntimeError(f"drift gate failed: {gate.message()}")
    return result
