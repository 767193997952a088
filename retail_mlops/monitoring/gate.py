"""The monitoring gate: one window's figures against thresholds, and alerts that do not repeat.

`decide` turns a window's drift and (once known) performance figures into an action: `ok`,
`warn` (drift without proven harm: outcomes take the churn horizon to arrive) or `retrain`
(performance fell below the champion's own test figures, or a demand model stopped beating the
naive forecast). `AlertState` remembers what has been alerted per (job, breach kind), so a
breach that persists over consecutive windows alerts once, and again only when it worsens or
after it has cleared. Plain code, so the monitoring step and the tests share it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.errors import DataError
from retail_mlops.io import atomic_write_text
from retail_mlops.monitoring.drift import DriftGateParams
from retail_mlops.paths import state_dir

Action = Literal["ok", "warn", "retrain"]
LEVELS: dict[str, int] = {"ok": 0, "warn": 1, "retrain": 2}  # severity, for ordering

# Breach kinds, named after the figure each one tests; every one grows as things get worse.
FEATURE_DRIFT = "drift_share"
PREDICTION_DRIFT = "prediction_ks"
AUC_DROP = "auc_drop"
BRIER_RISE = "brier_rise"
WAPE_RATIO = "wape_ratio"

_DRIFT = DriftGateParams.model_fields  # one home for the drift limits: the batch drift gate's


class MonitoringGateParams(Params):
    """When a monitored window warns, and when it asks for retraining."""

    # the FieldInfo itself (default, bounds, description); mypy sees a FieldInfo, not a float
    max_drift_share: float = _DRIFT["max_drift_share"]  # type: ignore[assignment]
    max_prediction_ks: float = _DRIFT["max_prediction_ks"]  # type: ignore[assignment]
    max_auc_drop: float = Field(
        default=0.05, ge=0, le=1, description="ROC AUC a window may lose vs the champion's test"
    )
    max_brier_rise: float = Field(
        default=0.02, ge=0, le=1, description="Brier score a window may gain vs the champion's test"
    )
    max_wape_ratio: float = Field(
        default=1.0, gt=0, le=10, description="Largest demand WAPE as a multiple of the naive WAPE"
    )
    retrain_on_drift: bool = Field(
        default=False, description="Drift alone asks for retraining (default: it warns)"
    )
    worse_margin: float = Field(
        default=0.25,
        ge=0,
        le=10,
        description="A standing breach alerts again when its value grows by this share",
    )


@dataclass(frozen=True)
class Breach:
    """One threshold a window crossed, with its numbers."""

    kind: str
    level: Action
    value: float
    limit: float
    reason: str


@dataclass
class Decision:
    """What the gate decided, why, and on which numbers.

    `checked` lists the breach kinds the window could be judged on (performance only once it
    has matured), so a check that did not run never reads as a breach that cleared.
    """

    action: Action = "ok"
    reasons: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    breaches: list[Breach] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)


def decide(
    params: MonitoringGateParams,
    *,
    drift_share: float | None = None,
    prediction_ks: float | None = None,
    performance: Mapping[str, float] | None = None,
    champion: Mapping[str, float] | None = None,
    wape: float | None = None,
    naive_wape: float | None = None,
) -> Decision:
    """Compare one window's figures with the thresholds; a figure left out is not checked.

    Args:
        params: The thresholds.
        drift_share: Share of drifted features (`summarize_snapshot`'s `drift_share`).
        prediction_ks: KS statistic of the scores against the reference.
        performance: The matured window's `performance_metrics` (`roc_auc`, `brier`).
        champion: The champion's test figures with the same keys (its training run's metrics).
        wape: The demand model's WAPE on the window.
        naive_wape: The naive baseline's WAPE on the same window.

    Returns:
        The decision; its action is the most severe breach's level.

    Raises:
        DataError: If performance comes without the champion's figures, a key is missing, or
            only one of the two WAPEs is given.
    """
    drift_level: Action = "retrain" if params.retrain_on_drift else "warn"
    checks: list[tuple[str, Action, float, float, str]] = []
    figures: dict[str, float] = {}
    if drift_share is not None:
        figures["drift_share"] = float(drift_share)
        text = f"feature drift: {drift_share:.0%} of features drifted"
        checks.append((FEATURE_DRIFT, drift_level, drift_share, params.max_drift_share, text))
    if prediction_ks is not None:
        figures["prediction_ks"] = float(prediction_ks)
        text = f"prediction drift: KS statistic {prediction_ks:.3f}"
        checks.append(
            (PREDICTION_DRIFT, drift_level, prediction_ks, params.max_prediction_ks, text)
        )
    if performance is not None:
        if champion is None:
            raise DataError("performance can only be judged against the champion's test figures")
        for name, source in (("window", performance), ("champion", champion)):
            missing = [k for k in ("roc_auc", "brier") if k not in source]
            if missing:
                raise DataError(f"the {name}'s figures lack {', '.join(missing)}")
        auc_drop = champion["roc_auc"] - performance["roc_auc"]
        brier_rise = performance["brier"] - champion["brier"]
        figures.update(
            roc_auc=float(performance["roc_auc"]),
            champion_roc_auc=float(champion["roc_auc"]),
            auc_drop=float(auc_drop),
            brier=float(performance["brier"]),
            champion_brier=float(champion["brier"]),
            brier_rise=float(brier_rise),
        )
        checks += [
            (
                AUC_DROP,
                "retrain",
                auc_drop,
                params.max_auc_drop,
                f"ROC AUC {performance['roc_auc']:.3f} is {auc_drop:.3f} below the champion's "
                f"test {champion['roc_auc']:.3f}",
            ),
            (
                BRIER_RISE,
                "retrain",
                brier_rise,
                params.max_brier_rise,
                f"Brier {performance['brier']:.3f} is {brier_rise:.3f} above the champion's "
                f"test {champion['brier']:.3f}",
            ),
        ]
    if (wape is None) != (naive_wape is None):
        raise DataError("the WAPE check needs both the model's and the naive baseline's WAPE")
    if wape is not None and naive_wape is not None:
        if naive_wape <= 0:
            raise DataError(f"naive WAPE must be positive, got {naive_wape}")
        ratio = wape / naive_wape
        figures.update(wape=float(wape), naive_wape=float(naive_wape), wape_ratio=float(ratio))
        text = f"demand WAPE {wape:.3f} is {ratio:.2f}x the naive forecast's {naive_wape:.3f}"
        checks.append((WAPE_RATIO, "retrain", ratio, params.max_wape_ratio, text))

    decision = Decision(figures=figures, checked=[c[0] for c in checks])
    for kind, level, value, limit, text in checks:
        if value > limit:
            reason = f"{text} (limit {limit:g})"
            decision.breaches.append(Breach(kind, level, float(value), float(limit), reason))
            decision.reasons.append(reason)
            if LEVELS[level] > LEVELS[decision.action]:
                decision.action = level
    return decision


# --- alert de-duplication ------------------------------------------------------------------------


def alert_state_path(state: Path | None = None) -> Path:
    """`<state>/monitoring_alerts.json`."""
    return (state or state_dir()) / "monitoring_alerts.json"


@dataclass(frozen=True)
class Alert:
    """One message to send: a breach that is new, has worsened, or has cleared."""

    job: str
    kind: str
    event: Literal["new", "worse", "cleared"]
    level: Action
    value: float | None
    message: str
    window_end: str


@dataclass
class _Standing:
    """A breach that has been alerted and has not cleared since."""

    level: Action
    value: float  # this window's
    alerted_value: float  # at the last alert: "worse" is measured from here, so creep adds up
    since: str
    last_window: str


class AlertState:
    """Alerted breaches per (job, kind), persisted as JSON (written whole, atomically).

    A breach alerts when it is new; again when its level rises (warn -> retrain) or its value
    grows by `worse_margin` of the value last alerted; and once more, as `cleared`, when a
    window that checked it no longer breaches. A window older than the job's latest is
    ignored, so a backfill cannot replay old alerts; the same window again changes nothing.
    """

    def __init__(self) -> None:
        self._standing: dict[tuple[str, str], _Standing] = {}
        self._last_window: dict[str, str] = {}

    @classmethod
    def load(cls, path: Path | None = None) -> AlertState:
        """The state in `path` (default `alert_state_path()`); empty if the file does not exist.

        Raises:
            DataError: If the file is not a state this class wrote (a silent reset would
                re-send every standing alert).
        """
        file = path or alert_state_path()
        state = cls()
        if not file.exists():
            return state
        try:
            doc = json.loads(file.read_text())
            for item in doc["standing"]:
                key = (item.pop("job"), item.pop("kind"))
                state._standing[key] = _Standing(**item)
            state._last_window = {str(k): str(v) for k, v in doc["last_window"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f"{file}: not an alert state ({exc}); move it away to start over"
            ) from exc
        return state

    def save(self, path: Path | None = None) -> Path:
        """Write the state whole (a reader never sees half a file); return the path."""
        file = path or alert_state_path()
        doc = {
            "version": 1,
            "standing": [
                {"job": job, "kind": kind, **asdict(s)}
                for (job, kind), s in sorted(self._standing.items())
            ],
            "last_window": dict(sorted(self._last_window.items())),
        }
        atomic_write_text(file, json.dumps(doc, indent=2) + "\n")
        return file

    def standing(self, job: str | None = None) -> dict[tuple[str, str], str]:
        """The standing breaches' levels by (job, kind), of one job if given."""
        return {k: s.level for k, s in self._standing.items() if job is None or k[0] == job}

    def update(
        self,
        job: str,
        decision: Decision,
        window_end: datetime | str,
        worse_margin: float = MonitoringGateParams().worse_margin,
    ) -> list[Alert]:
        """Fold one window's decision in; return the alerts to send for it (often none)."""
        when = pd.Timestamp(window_end).isoformat()
        if when < self._last_window.get(job, ""):
            return []
        self._last_window[job] = when
        alerts = []
        breached = {b.kind: b for b in decision.breaches}
        for kind, breach in breached.items():
            old = self._standing.get((job, kind))
            event = self._event(old, breach, worse_margin)
            if event is None and old is not None:
                old.level, old.value, old.last_window = breach.level, breach.value, when
                continue
            since = old.since if old is not None else when
            self._standing[(job, kind)] = _Standing(
                breach.level, breach.value, breach.value, since, when
            )
            alerts.append(
                Alert(
                    job,
                    kind,
                    event or "new",
                    breach.level,
                    breach.value,
                    f"{job}: {breach.reason}",
                    when,
                )
            )
        for job_, kind in [k for k in self._standing if k[0] == job]:
            if kind in decision.checked and kind not in breached:
                del self._standing[(job_, kind)]
                value = decision.figures.get(kind)
                text = f"{job}: {kind} is back within its limit ({value:.3g})"
                alerts.append(Alert(job, kind, "cleared", "ok", value, text, when))
        return alerts

    @staticmethod
    def _event(
        old: _Standing | None, breach: Breach, margin: float
    ) -> Literal["new", "worse"] | None:
        """`new` if not standing, `worse` if its level rose or its value grew enough, else None."""
        if old is None:
            return "new"
        if LEVELS[breach.level] > LEVELS[old.level]:
            return "worse"
        if breach.value - old.alerted_value > margin * abs(old.alerted_value):
            return "worse"
        return None
