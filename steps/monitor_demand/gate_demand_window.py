"""Step: the gate of a demand window: ok or retrain, with reasons and de-duplicated alerts."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.monitoring.demand import DemandGateParams, DemandWindow
from retail_mlops.monitoring.demand import gate_demand_window as gate
from retail_mlops.monitoring.gate import AlertState, alert_state_path
from retail_mlops.names import A

logger = get_logger(__name__)

DEFAULTS = DemandGateParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def gate_demand_window(
    figures: dict[str, Any],
    max_wape_ratio: float = DEFAULTS.max_wape_ratio,
    worse_margin: float = DEFAULTS.worse_margin,
) -> Annotated[dict[str, Any], A.DEMAND_DECISION]:
    """Decide the window on its WAPE against seasonal naive's; alert on new or worse breaches.

    A served forecast worse than the naive forecast of the same days (WAPE ratio above the
    limit) asks for retraining. Alerts go to the active stack's alerter when it has one and
    are always logged; the alert state is shared with churn monitoring, keyed by job.

    Args:
        figures: Output of `evaluate_demand_window`.
        max_wape_ratio: Largest WAPE as a multiple of the naive forecast's.
        worse_margin: A standing breach alerts again when its value grows by this share.

    Returns:
        The action, the reasons, the figures judged and the alerts sent.
    """
    from steps.client import send_alerts

    params = DemandGateParams.of(locals())
    window = DemandWindow.from_dict(figures)
    state = AlertState.load(alert_state_path())
    decision, alerts = gate(window, params, state)
    log = logger.info if decision.action == "ok" else logger.warning
    log(
        "demand window ending %s: %s%s",
        window.window_end.date(),
        decision.action.upper(),
        "".join(f"\n  - {r}" for r in decision.reasons),
    )
    send_alerts("demand_monitoring", alerts)
    state.save(alert_state_path())  # after sending: an alert that failed to go out stays new
    doc = {
        "action": decision.action,
        "reasons": decision.reasons,
        "figures": decision.figures,
        "checked": decision.checked,
        "alerts": [a.message for a in alerts],
        "window_end": window.window_end.isoformat(),
    }
    log_metadata(
        metadata={"action": decision.action, "reasons": decision.reasons, "alerts": len(alerts)},
        infer_artifact=True,
    )
    return doc
