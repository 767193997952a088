"""Unit tests for retail_mlops/monitoring/gate.py: decisions from thresholds, alerts sent once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from retail_mlops.errors import DataError
from retail_mlops.monitoring.drift import DriftGateParams
from retail_mlops.monitoring.gate import (
    AUC_DROP,
    BRIER_RISE,
    FEATURE_DRIFT,
    PREDICTION_DRIFT,
    WAPE_RATIO,
    AlertState,
    Decision,
    MonitoringGateParams,
    alert_state_path,
    decide,
)

PARAMS = MonitoringGateParams()
CHAMPION = {"roc_auc": 0.80, "brier": 0.18}
JOB = "churn_batch"

# --- params -------------------------------------------------------------------------------------


def test_drift_limits_are_the_batch_drift_gates() -> None:
    drift = DriftGateParams()
    assert PARAMS.max_drift_share == drift.max_drift_share
    assert PARAMS.max_prediction_ks == drift.max_prediction_ks
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        MonitoringGateParams(max_drift_share=1.5)


def test_params_forbid_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        MonitoringGateParams(max_auc_dorp=0.1)  # type: ignore[call-arg]


# --- decide -------------------------------------------------------------------------------------


def test_nothing_breached_is_ok_and_lists_what_was_checked() -> None:
    d = decide(
        PARAMS,
        drift_share=0.1,
        prediction_ks=0.05,
        performance={"roc_auc": 0.79, "brier": 0.185},
        champion=CHAMPION,
    )
    assert d.action == "ok"
    assert d.reasons == []
    assert d.checked == [FEATURE_DRIFT, PREDICTION_DRIFT, AUC_DROP, BRIER_RISE]
    assert d.figures["auc_drop"] == pytest.approx(0.01)
    assert d.figures["brier_rise"] == pytest.approx(0.005)


def test_drift_alone_warns_with_its_numbers() -> None:
    d = decide(PARAMS, drift_share=0.6, prediction_ks=0.31)
    assert d.action == "warn"
    assert [b.kind for b in d.breaches] == [FEATURE_DRIFT, PREDICTION_DRIFT]
    assert "60% of features drifted (limit 0.5)" in d.reasons[0]
    assert "KS statistic 0.310 (limit 0.2)" in d.reasons[1]
    assert AUC_DROP not in d.checked  # an immature window is not judged on performance


def test_drift_can_ask_for_retraining() -> None:
    d = decide(PARAMS.model_copy(update={"retrain_on_drift": True}), drift_share=0.6)
    assert d.action == "retrain"


def test_performance_loss_asks_for_retraining() -> None:
    d = decide(
        PARAMS,
        drift_share=0.6,
        performance={"roc_auc": 0.70, "brier": 0.21},
        champion=CHAMPION,
    )
    assert d.action == "retrain"
    assert {b.kind: b.level for b in d.breaches} == {
        FEATURE_DRIFT: "warn",
        AUC_DROP: "retrain",
        BRIER_RISE: "retrain",
    }
    assert "ROC AUC 0.700 is 0.100 below the champion's test 0.800 (limit 0.05)" in d.reasons
    assert any(r.startswith("Brier 0.210 is 0.030 above") for r in d.reasons)


def test_demand_wape_against_naive() -> None:
    fine = decide(PARAMS, wape=0.30, naive_wape=0.40)
    assert fine.action == "ok"
    assert fine.figures["wape_ratio"] == pytest.approx(0.75)
    worse = decide(PARAMS, wape=0.50, naive_wape=0.40)
    assert worse.action == "retrain"
    assert worse.breaches[0].kind == WAPE_RATIO
    assert "1.25x the naive" in worse.reasons[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"performance": {"roc_auc": 0.7, "brier": 0.2}}, "against the champion"),
        ({"performance": {"roc_auc": 0.7}, "champion": CHAMPION}, "window's figures lack brier"),
        ({"wape": 0.3}, "needs both"),
        ({"wape": 0.3, "naive_wape": 0.0}, "must be positive"),
    ],
)
def test_decide_rejects_incomplete_figures(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        decide(PARAMS, **kwargs)  # type: ignore[arg-type]


# --- AlertState ---------------------------------------------------------------------------------


def _drift(share: float) -> Decision:
    return decide(PARAMS, drift_share=share)


def test_same_breach_on_consecutive_windows_alerts_once() -> None:
    state = AlertState()
    first = state.update(JOB, _drift(0.6), "2011-03-01")
    assert [(a.kind, a.event, a.level) for a in first] == [(FEATURE_DRIFT, "new", "warn")]
    assert "60% of features drifted" in first[0].message
    assert state.update(JOB, _drift(0.6), "2011-04-01") == []
    assert state.update(JOB, _drift(0.65), "2011-05-01") == []  # within the 25% margin


def test_a_breach_alerts_again_when_it_worsens_by_the_margin() -> None:
    state = AlertState()
    state.update(JOB, _drift(0.56), "2011-03-01")
    assert state.update(JOB, _drift(0.66), "2011-04-01") == []  # +18%
    again = state.update(JOB, _drift(0.71), "2011-05-01")  # +27% of 0.56
    assert [(a.event, a.value) for a in again] == [("worse", 0.71)]
    assert state.update(JOB, _drift(0.72), "2011-06-01") == []  # measured from 0.71 now


def test_a_breach_alerts_again_when_its_level_rises() -> None:
    state = AlertState()
    state.update(JOB, _drift(0.6), "2011-03-01")
    stricter = PARAMS.model_copy(update={"retrain_on_drift": True})
    alerts = state.update(JOB, decide(stricter, drift_share=0.6), "2011-04-01")
    assert [(a.event, a.level) for a in alerts] == [("worse", "retrain")]
    assert state.standing(JOB) == {(JOB, FEATURE_DRIFT): "retrain"}


def test_clearing_alerts_and_a_return_alerts_anew() -> None:
    state = AlertState()
    state.update(JOB, _drift(0.6), "2011-03-01")
    cleared = state.update(JOB, _drift(0.2), "2011-04-01")
    assert [(a.kind, a.event, a.level) for a in cleared] == [(FEATURE_DRIFT, "cleared", "ok")]
    assert state.standing() == {}
    back = state.update(JOB, _drift(0.6), "2011-05-01")
    assert [a.event for a in back] == ["new"]


def test_a_check_that_did_not_run_does_not_clear() -> None:
    state = AlertState()
    poor = decide(PARAMS, performance={"roc_auc": 0.7, "brier": 0.18}, champion=CHAMPION)
    assert [a.kind for a in state.update(JOB, poor, "2011-03-01")] == [AUC_DROP]
    assert state.update(JOB, _drift(0.1), "2011-04-01") == []  # immature: no performance
    assert (JOB, AUC_DROP) in state.standing()


def test_jobs_do_not_share_alerts_and_old_windows_are_ignored() -> None:
    state = AlertState()
    assert len(state.update(JOB, _drift(0.6), "2011-04-01")) == 1
    assert len(state.update("churn_served", _drift(0.6), "2011-04-01")) == 1
    assert state.update(JOB, _drift(0.1), "2011-03-01") == []  # a backfill replays nothing
    assert state.update(JOB, _drift(0.6), "2011-04-01") == []  # the same window again


def test_state_round_trips_through_its_json_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    state = AlertState()
    state.update(JOB, _drift(0.6), "2011-03-01")
    assert state.save(path) == path
    assert [p.name for p in tmp_path.iterdir()] == ["alerts.json"]  # no temporary left over
    doc = json.loads(path.read_text())
    assert doc["standing"][0]["kind"] == FEATURE_DRIFT
    loaded = AlertState.load(path)
    assert loaded.update(JOB, _drift(0.6), "2011-04-01") == []  # remembered across processes
    assert [a.event for a in loaded.update(JOB, _drift(0.9), "2011-05-01")] == ["worse"]


def test_missing_state_is_empty_and_a_corrupt_one_is_refused(tmp_path: Path) -> None:
    assert AlertState.load(tmp_path / "absent.json").standing() == {}
    bad = tmp_path / "alerts.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="not an alert state"):
        AlertState.load(bad)


def test_default_state_path_is_under_the_state_folder() -> None:
    assert alert_state_path(Path("/x")) == Path("/x/monitoring_alerts.json")
