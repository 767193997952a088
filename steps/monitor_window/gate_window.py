"""Step: the gate of a window: ok, warn or retrain, with reasons and de-duplicated alerts."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.monitoring.gate import AlertState, alert_state_path
from retail_mlops.monitoring.window import (
    WindowGateParams,
    WindowResult,
    champion_test_figures,
)
from retail_mlops.monitoring.window import gate_window as gate
from retail_mlops.names import MODEL_NAME, A

logger = get_logger(__name__)

DEFAULTS = WindowGateParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def gate_window(
    figures: dict[str, Any],
    max_drift_share: float = DEFAULTS.max_drift_share,
    max_prediction_ks: float = DEFAULTS.max_prediction_ks,
    max_auc_drop: float = DEFAULTS.max_auc_drop,
    max_brier_rise: float = DEFAULTS.max_brier_rise,
    retrain_on_drift: bool = DEFAULTS.retrain_on_drift,
    worse_margin: float = DEFAULTS.worse_margin,
) -> Annotated[dict[str, Any], A.MONITORING_DECISION]:
    """Decide the window from its figures; alert on new, worse or cleared breaches only.

    Performance is judged against the test figures of the very model version that scored
    (its ZenML model version's `test_roc_auc` and `test_brier`). Every decision is logged;
    alerts also go to the active stack's alerter when it has one. The alert state
    (`<state>/monitoring_alerts.json`) is saved after they are sent, so a standing breach
    alerts once. Retraining is not started here: the decision is the output.

    Args:
        figures: Output of `evaluate_window`.
        max_drift_share: Largest share of drifted features before a warning.
        max_prediction_ks: Largest KS statistic of the scores before a warning.
        max_auc_drop: ROC AUC a window may lose against the model's test figure.
        max_brier_rise: Brier score a window may gain against the model's test figure.
        retrain_on_drift: Drift alone asks for retraining (default: it warns).
        worse_margin: A standing breach alerts again when its value grows by this share.

    Returns:
        The action (`ok`, `warn`, `retrain`), the reasons, each segment's decision and the
        alerts sent.

    Raises:
        DataError: If the alert state file is not one this gate wrote.
    """
    from steps.client import send_alerts, zenml_version_for

    params = WindowGateParams.of(locals())
    result = WindowResult.from_dict(figures)
    champion = {}
    for version in {s.model_version for s in result.segments}:
        zen = zenml_version_for(MODEL_NAME, int(version))
        champion[version] = champion_test_figures(zen.run_metadata) if zen is not None else None
    state = AlertState.load(alert_state_path())
    decision = gate(result, params, champion, state)
    for note in decision.notes:
        logger.warning("%s", note)
    log = logger.info if decision.action == "ok" else logger.warning
    log(
        "window ending %s: %s%s",
        result.window_end.date(),
        decision.action.upper(),
        "".join(f"\n  - {r}" for r in decision.reasons),
    )
    send_alerts("churn_monitoring", decision.alerts)
    state.save(alert_state_path())  # after sending: an alert that failed to go out stays new
    doc = decision.to_dict()
    log_metadata(
        metadata={
            "action": decision.action,
            "reasons": decision.reasons,
            "alerts": len(doc["alerts"]),
        },
        infer_artifact=True,
    )
    return doc
