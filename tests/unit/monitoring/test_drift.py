"""Unit tests for retail_mlops/monitoring/drift.py: KS on predictions, the gate, snapshot summaries.

One test runs a real Evidently 0.7 report (its import takes a few seconds); the rest use a
hand-made snapshot dict shaped like Evidently's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.errors import DataError
from retail_mlops.monitoring.drift import (
    GateResult,
    drift_gate,
    prediction_ks,
    run_drift_report,
    summarize_snapshot,
)

# --- prediction_ks ----------------------------------------------------------------------------


def test_prediction_ks_same_distribution_is_small() -> None:
    rng = np.random.default_rng(0)
    ks = prediction_ks(rng.beta(2, 5, 2000), rng.beta(2, 5, 2000))
    assert set(ks) == {"ks_statistic", "ks_pvalue", "reference_mean", "current_mean"}
    assert ks["ks_statistic"] < 0.06
    assert ks["ks_pvalue"] > 0.01


def test_prediction_ks_shifted_is_large() -> None:
    rng = np.random.default_rng(1)
    ref = rng.beta(2, 5, 2000)
    cur = np.clip(ref + 0.3, 0, 1)
    ks = prediction_ks(ref, cur)
    assert ks["ks_statistic"] > 0.5
    assert ks["ks_pvalue"] < 1e-6
    assert ks["reference_mean"] == pytest.approx(ref.mean())
    assert ks["current_mean"] == pytest.approx(cur.mean())


def test_prediction_ks_identical_samples() -> None:
    ks = prediction_ks([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert ks["ks_statistic"] == 0.0
    assert ks["ks_pvalue"] == pytest.approx(1.0)


@pytest.mark.parametrize(("ref", "cur"), [([], [0.1]), ([0.1], []), ([], [])])
def test_prediction_ks_empty_raises(ref: list[float], cur: list[float]) -> None:
    with pytest.raises(DataError, match="needs predictions on both sides"):
        prediction_ks(np.array(ref), np.array(cur))


# --- drift_gate -------------------------------------------------------------------------------

DRIFT = {"drift_share": 0.5, "drifted_columns": 2, "n_columns": 4}
KS = {"ks_statistic": 0.3, "ks_pvalue": 0.0012}


def _gate(fail_feature: bool, fail_prediction: bool, **overrides: Any) -> GateResult:
    kwargs: dict[str, Any] = {"max_drift_share": 0.3, "max_prediction_ks": 0.2}
    kwargs.update(overrides)
    return drift_gate(
        DRIFT,
        KS,
        fail_on_feature_drift=fail_feature,
        fail_on_prediction_drift=fail_prediction,
        **kwargs,
    )


def test_drift_gate_feature_fails_prediction_warns() -> None:
    gate = _gate(fail_feature=True, fail_prediction=False)
    assert gate.failed
    assert len(gate.failures) == 1
    assert len(gate.warnings) == 1
    assert "feature drift: 2/4 columns (50%) drifted, limit 30%" in gate.failures[0]
    assert "prediction drift: KS statistic 0.300 (p=0.0012) above 0.200" in gate.warnings[0]
    assert gate.message() == f"{gate.failures[0]}; {gate.warnings[0]}"


def test_drift_gate_switches_swap_fail_and_warn() -> None:
    gate = _gate(fail_feature=False, fail_prediction=True)
    assert gate.failed
    assert gate.failures[0].startswith("prediction drift")
    assert gate.warnings[0].startswith("feature drift")


def test_drift_gate_warn_only_does_not_fail() -> None:
    gate = _gate(fail_feature=False, fail_prediction=False)
    assert not gate.failed
    assert gate.failures == []
    assert len(gate.warnings) == 2
    assert "50%" in gate.message()
    assert "0.300" in gate.message()


def test_drift_gate_both_fail() -> None:
    gate = _gate(fail_feature=True, fail_prediction=True)
    assert gate.failed
    assert len(gate.failures) == 2
    assert gate.warnings == []


def test_drift_gate_within_limits_passes() -> None:
    # thresholds are strict: equal to the limit is not a breach
    gate = _gate(
        fail_feature=True, fail_prediction=True, max_drift_share=0.5, max_prediction_ks=0.3
    )
    assert not gate.failed
    assert gate.failures == []
    assert gate.warnings == []
    assert gate.message() == "no drift beyond thresholds"


# --- summarize_snapshot -----------------------------------------------------------------------


def _value_drift(column: str, score: float) -> dict[str, Any]:
    return {
        "id": f"id-{column}",
        "metric_name": f"ValueDrift(column={column},method=wasserstein,threshold=0.1)",
        "config": {
            "type": "evidently:metric_v2:ValueDrift",
            "column": column,
            "method": "wasserstein",
            "threshold": 0.1,
        },
        "value": score,
    }


def _drift_test(column: str | None, status: str, kind: str = "ValueDrift") -> dict[str, Any]:
    params: dict[str, Any] = {"type": f"evidently:metric_v2:{kind}"}
    if column is not None:
        params["column"] = column
    return {
        "id": "drift",
        "metric_config": {"metric_id": "x", "params": params},
        "test_config": {},
        "status": status,
    }


def _snapshot() -> dict[str, Any]:
    return {
        "metrics": [
            {
                "id": "count",
                "metric_name": "DriftedColumnsCount(drift_share=0.5)",
                "config": {"type": "evidently:metric_v2:DriftedColumnsCount", "drift_share": 0.5},
                "value": {"count": 1.0, "share": 0.3333333333333333},
            },
            _value_drift("a", 0.01),
            _value_drift("b", 0.02),
            _value_drift("c", 3.2),
            {"id": "other", "config": {"type": "evidently:metric_v2:RowCount"}, "value": 300},
        ],
        "tests": [
            _drift_test(None, "SUCCESS", kind="DriftedColumnsCount"),
            _drift_test("a", "SUCCESS"),
            _drift_test("b", "SUCCESS"),
            _drift_test("c", "FAIL"),
            _drift_test("not_a_metric_column", "FAIL"),
        ],
    }


def test_summarize_snapshot() -> None:
    summary = summarize_snapshot(_snapshot(), ["a", "b", "c"])
    assert summary == {
        "n_columns": 3,
        "drifted_columns": 1,
        "drift_share": pytest.approx(1 / 3),
        "columns": {
            "a": {"score": 0.01, "drifted": False},
            "b": {"score": 0.02, "drifted": False},
            "c": {"score": 3.2, "drifted": True},
        },
    }
    assert isinstance(summary["drifted_columns"], int)


def test_summarize_snapshot_without_tests_has_scores_only() -> None:
    snap = _snapshot()
    del snap["tests"]
    summary = summarize_snapshot(snap, ["a", "b", "c"])
    assert summary["columns"]["c"] == {"score": 3.2}


def test_summarize_snapshot_without_count_metric_raises() -> None:
    snap = _snapshot()
    snap["metrics"] = [
        m for m in snap["metrics"] if not m["config"]["type"].endswith("DriftedColumnsCount")
    ]
    with pytest.raises(DataError, match="no DriftedColumnsCount metric"):
        summarize_snapshot(snap, ["a", "b", "c"])


# --- run_drift_report (real Evidently) --------------------------------------------------------


def test_run_drift_report_flags_shifted_column() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"a": rng.normal(size=300), "b": rng.exponential(size=300), "c": rng.normal(size=300)}
    )
    # the same values in another order for a and b (no drift at all), c shifted by 3 sd
    current = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)
    current["c"] = current["c"] + 3.0
    current["ignored"] = 1.0

    snapshot, summary = run_drift_report(reference, current, ["a", "b", "c"])

    assert snapshot is not None
    assert summary["n_columns"] == 3
    assert summary["drifted_columns"] == 1
    assert summary["drift_share"] == pytest.approx(1 / 3)
    assert set(summary["columns"]) == {"a", "b", "c"}
    assert summary["columns"]["c"]["drifted"] is True
    assert summary["columns"]["c"]["score"] > 1.0
    assert summary["columns"]["a"]["drifted"] is False
    assert summary["columns"]["b"]["drifted"] is False


def test_run_drift_report_missing_column_raises() -> None:
    both = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    with pytest.raises(DataError, match=r"reference data lacks column\(s\): b"):
        run_drift_report(both[["a"]], both, ["a", "b"])
    with pytest.raises(DataError, match=r"current data lacks column\(s\): a"):
        run_drift_report(both, both[["b"]], ["a", "b"])
