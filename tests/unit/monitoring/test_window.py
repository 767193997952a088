"""Unit tests for retail_mlops/monitoring/window.py: one churn window, gathered, evaluated, kept.

The committed subset's real customers: features from `customer_feature_snapshots`, a recency
score standing in for the model, written to a real `churn_predictions` DuckDB table and a real
predictions log (`PredictionLog`), outcomes from the invoice lines. The subset ends
2011-12-09, so with the 90-day horizon the window ending 2011-09-01 has matured and the one
ending 2011-12-01 has not. Evidently runs real 0.7 reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.churn.predictions import write_duckdb
from retail_mlops.errors import DataError
from retail_mlops.features.customer import FEATURE_COLUMNS, customer_feature_snapshots
from retail_mlops.monitoring import window as W
from retail_mlops.monitoring.drift import prediction_ks, run_drift_report
from retail_mlops.monitoring.gate import AlertState, MonitoringGateParams
from retail_mlops.monitoring.history import (
    get_or_create_project,
    list_windows,
    metric_rows,
    open_workspace,
    read_metrics,
    write_metrics,
)
from retail_mlops.monitoring.performance import performance_metrics, window_outcomes
from retail_mlops.serving.predlog import PredictionLog

REFERENCE_CUTOFF = "2011-01-01"
IN_WINDOW = "2011-08-15"  # scored in the matured window [2011-08-02, 2011-09-01)
LATE = "2011-11-15"  # in the young window [2011-09-01, 2011-12-01)
BEFORE = "2011-06-15"  # in neither
HORIZON = 90
CHAMPION = {"roc_auc": 0.8, "brier": 0.15}


def _score(features: pd.DataFrame) -> np.ndarray:
    return np.asarray(1 - np.exp(-features["days_since_last_order"] / 60.0))


def _batch(features: pd.DataFrame, run_id: str, scored_at: str, factor: float = 1.0) -> Any:
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "cutoff": features["cutoff"].to_numpy(),
            "churn_probability": _score(features) * factor,
            "model_version": 1,
            "run_id": run_id,
            "scored_at": pd.Timestamp(scored_at),
        }
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, subset_clean: pd.DataFrame) -> dict[str, Any]:
    """Reference data, a predictions table and a predictions log over three cutoffs."""
    root = tmp_path_factory.mktemp("window")
    feats = customer_feature_snapshots(subset_clean, [REFERENCE_CUTOFF, BEFORE, IN_WINDOW, LATE])
    at = {
        c: feats[feats["cutoff"] == pd.Timestamp(c)]
        for c in (REFERENCE_CUTOFF, BEFORE, IN_WINDOW, LATE)
    }
    reference = at[REFERENCE_CUTOFF]

    db = root / "predictions" / "predictions.duckdb"
    write_duckdb(_batch(at[BEFORE], "run-before", "2011-06-15 06:00"), db)
    write_duckdb(_batch(at[IN_WINDOW], "run-a", "2011-08-15 06:00", factor=0.5), db)
    write_duckdb(_batch(at[IN_WINDOW], "run-b", "2011-08-15 09:00"), db)  # re-scored: it wins
    write_duckdb(_batch(at[LATE], "run-late", "2011-11-15 06:00"), db)

    # the service answered 100 customers with the champion, the shadow scored them too
    log_dir = root / "log"
    log = PredictionLog(log_dir)
    served = at[IN_WINDOW].head(100)
    as_of = pd.Timestamp(IN_WINDOW).to_pydatetime()
    rows = []
    for i, (cid, s) in enumerate(zip(served["customer_id"], _score(served), strict=True)):
        ts = (pd.Timestamp("2011-08-16") + pd.Timedelta(minutes=i)).to_pydatetime()
        rows.append((f"r{i}", ts, "predict_customer", cid, "champion", 1, float(s), True, as_of))
        rows.append((f"r{i}", ts, "predict_customer", cid, "shadow", 2, s * 0.9, False, as_of))
    for i, cid in enumerate(served["customer_id"].head(5)):  # /predict without an as_of
        ts = (pd.Timestamp("2011-08-20") + pd.Timedelta(minutes=i)).to_pydatetime()
        rows.append((f"n{i}", ts, "predict", cid, "champion", 1, 0.5, True, None))
    late = pd.Timestamp("2012-01-05").to_pydatetime()  # after both windows
    rows.append(("x", late, "predict", "12345", "champion", 1, 0.5, True, late))
    log.append(rows)
    log.flush()
    bad = log_dir / "part-zz-truncated.parquet"
    bad.write_bytes(b"PAR1 truncated")
    return {
        "lines": subset_clean,
        "reference": reference,
        "reference_scores": pd.DataFrame({"churn_probability": _score(reference)}),
        "db": db,
        "log_dir": log_dir,
        "bad_part": bad,
        "in_window": at[IN_WINDOW],
    }


def _gather(
    world: dict[str, Any], as_of: str, tmp: Path, days: int = W.WINDOW_DAYS
) -> W.WindowData:
    return W.gather_window(
        as_of,
        days,
        predictions_db=world["db"],
        log_dir=world["log_dir"],
        metrics_db=tmp / "none.duckdb",
    )


def _evaluate(world: dict[str, Any], data: W.WindowData) -> W.WindowEvaluation:
    return W.evaluate_window(
        data, world["lines"], world["reference"], world["reference_scores"], HORIZON
    )


@pytest.fixture(scope="module")
def mature(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> W.WindowEvaluation:
    return _evaluate(world, _gather(world, "2011-09-01", tmp_path_factory.mktemp("m")))


@pytest.fixture(scope="module")
def young(world: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> W.WindowEvaluation:
    data = _gather(world, "2011-12-01", tmp_path_factory.mktemp("y"), days=91)
    return _evaluate(world, data)


# --- bounds -------------------------------------------------------------------------------------


def test_window_bounds() -> None:
    end = pd.Timestamp("2011-09-01")
    assert W.window_bounds("2011-09-01") == (pd.Timestamp("2011-08-02"), end)
    assert W.window_bounds(end, 7) == (pd.Timestamp("2011-08-25"), end)
    previous = pd.Timestamp("2011-07-01")
    assert W.window_bounds(end, 7, previous) == (previous, end)
    # a recorded window that ends at or after this one's end is no previous window
    assert W.window_bounds(end, 7, end) == (pd.Timestamp("2011-08-25"), end)
    with pytest.raises(DataError, match="window_days must be at least 1"):
        W.window_bounds(end, 0)


def test_previous_window_end_reads_the_churn_series_only(tmp_path: Path) -> None:
    db = tmp_path / "monitoring.duckdb"
    assert W.previous_window_end("2011-09-01", db) is None
    for job, source, end in (
        ("churn_batch", "batch", "2011-08-01"),
        ("churn_served_champion", "served", "2011-08-15"),
        ("demand", "batch", "2011-08-20"),  # another job's window is not this one's start
    ):
        write_metrics(
            metric_rows(
                {"prediction_ks": 0.1},
                window_start="2011-07-01",
                window_end=end,
                job=job,
                source=source,
                variant="champion",
                model_version=1,
                run_id="r",
            ),
            db,
        )
    assert W.previous_window_end("2011-09-01", db) == pd.Timestamp("2011-08-15")
    assert W.previous_window_end("2011-08-10", db) == pd.Timestamp("2011-08-01")
    assert W.previous_window_end("2011-08-01", db) is None


def test_segment_jobs() -> None:
    assert W.segment_job("batch", "champion") == "churn_batch"
    assert W.segment_job("served", "shadow") == "churn_served_shadow"
    assert W.is_window_job("churn_served_shadow")
    assert not W.is_window_job("demand")
    with pytest.raises(DataError, match="unknown prediction source 'stream'"):
        W.segment_job("stream", "champion")


# --- gathering ----------------------------------------------------------------------------------


def test_gather_keeps_the_window_and_the_latest_score(
    world: dict[str, Any], tmp_path: Path
) -> None:
    data = _gather(world, "2011-09-01", tmp_path)
    assert (data.start, data.end) == (pd.Timestamp("2011-08-02"), pd.Timestamp("2011-09-01"))
    batch = data.batch
    assert set(batch["cutoff"]) == {pd.Timestamp(IN_WINDOW)}
    assert len(batch) == batch["customer_id"].nunique() == len(world["in_window"])
    assert set(batch["run_id"]) == {"run-b"}  # the re-scored rows replace the first run's
    expected = dict(zip(world["in_window"]["customer_id"], _score(world["in_window"]), strict=True))
    np.testing.assert_allclose(batch["churn_probability"], batch["customer_id"].map(expected))
    assert set(batch["model_version"]) == {"1"}

    served = data.served
    assert len(served) == 205  # 100 answered + 100 shadow + 5 without as_of; not January's
    assert served["timestamp"].between(data.start, data.end, inclusive="left").all()
    assert served.groupby("variant").size().to_dict() == {"champion": 105, "shadow": 100}

    # the truncated part is listed with its reason and left where it was
    assert [q.path for q in data.quarantined] == [world["bad_part"]]
    assert data.quarantined[0].reason.startswith("unreadable")
    assert world["bad_part"].exists()
    info = data.info()
    assert json.loads(json.dumps(info)) == info
    assert info["quarantined"][0]["path"] == str(world["bad_part"])
    again = W.WindowData.from_info(info, data.batch, data.served)
    assert (again.start, again.end, again.quarantined) == (data.start, data.end, data.quarantined)


def test_an_empty_window_is_one_readable_line(world: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no predictions in the window") as info:
        _gather(world, "2010-06-01", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("no predictions in the window [2010-05-02, 2010-06-01)")
    assert "cutoffs 2011-06-15..2011-11-15" in message
    with pytest.raises(DataError, match="no batch predictions database at"):
        W.gather_window(
            "2011-09-01",
            predictions_db=tmp_path / "missing.duckdb",
            log_dir=tmp_path / "no-log",
            metrics_db=tmp_path / "m.duckdb",
        )


# --- evaluation ---------------------------------------------------------------------------------


def test_a_matured_window_has_every_figure(
    mature: W.WindowEvaluation, world: dict[str, Any]
) -> None:
    result = mature.result
    assert result.matured
    keys = [s.key for s in result.segments]
    assert keys == ["churn_batch/v1", "churn_served_champion/v1", "churn_served_shadow/v2"]
    assert set(mature.snapshots) == set(keys)
    assert result.skipped == {}
    assert len(result.quarantined) == 1

    batch = result.segments[0]
    assert (batch.source, batch.variant, batch.run_id, batch.n_rows) == (
        "batch",
        "champion",
        "run-b",
        len(world["in_window"]),
    )
    scores = _score(world["in_window"])
    assert batch.prediction == pytest.approx(
        prediction_ks(world["reference_scores"]["churn_probability"], scores)
    )
    assert batch.feature_drift_status == W.MEASURED
    assert batch.feature_drift is not None
    assert 0 <= batch.feature_drift["drift_share"] <= 1
    assert batch.performance_status == W.MEASURED
    frame = world["in_window"][["customer_id", "cutoff"]].assign(churn_probability=scores)
    outcomes = window_outcomes(frame, world["lines"], HORIZON)
    expected = performance_metrics(outcomes.to_numpy(), scores)
    expected["n_outcomes"] = expected.pop("n")
    assert batch.performance == pytest.approx(expected)

    champion, shadow = result.segments[1:]
    for segment in (champion, shadow):
        assert segment.feature_drift_status == W.SKIPPED
        assert "records scores, not the features" in segment.feature_drift_reason
        assert segment.feature_drift is None
        assert segment.performance_status == W.MEASURED
        assert segment.performance is not None
        assert segment.performance["n_outcomes"] == 100  # the rows without an as_of are not judged
    assert champion.n_rows == 105  # ...but their scores count for drift
    assert shadow.model_version == "2"

    rows = result.metric_rows()
    assert len(rows) == sum(len(s.figures()) for s in result.segments)
    by_job = {job: {r.metric for r in rows if r.job == job} for job in {r.job for r in rows}}
    assert {"prediction_ks", "drift_share", "roc_auc", "brier", "n_predictions"} <= by_job[
        "churn_batch"
    ]
    assert "drift_share" not in by_job["churn_served_shadow"]
    assert "roc_auc" in by_job["churn_served_shadow"]
    assert {r.window_end for r in rows} == {pd.Timestamp("2011-09-01").to_pydatetime()}

    doc = result.to_dict()
    assert W.WindowResult.from_dict(json.loads(json.dumps(doc))) == result
    metadata = result.metadata()
    assert metadata["window"]["matured"] is True
    assert metadata["churn_batch/v1"]["roc_auc"] == pytest.approx(expected["roc_auc"])


def _metric_types(snapshot: Any) -> set[str]:
    return {m["config"]["type"].rsplit(":", 1)[-1] for m in snapshot.dict()["metrics"]}


def test_a_young_window_says_not_mature_and_has_no_performance(young: W.WindowEvaluation) -> None:
    result = young.result
    assert (result.window_start, result.window_end) == (
        pd.Timestamp("2011-09-01"),
        pd.Timestamp("2011-12-01"),
    )
    assert not result.matured
    assert result.skipped == {"served": "no served predictions in the window"}
    [segment] = result.segments
    assert segment.run_id == "run-late"
    assert segment.performance_status == W.NOT_MATURE
    assert "end + 90 days" in segment.performance_reason
    assert segment.performance is None
    metrics = {r.metric for r in result.metric_rows()}
    assert {"prediction_ks", "drift_share"} <= metrics
    assert not metrics & {"roc_auc", "pr_auc", "brier", "log_loss", "n_outcomes"}
    types = _metric_types(young.snapshots[segment.key])
    assert {"DriftedColumnsCount", "PredictionKS"} <= types
    assert "RocAuc" not in types


def test_served_rows_logged_with_features_get_feature_drift(
    world: dict[str, Any], tmp_path: Path
) -> None:
    # the champion's rows carry their features (one older part of its rows has none); the
    # shadow's come from an older part only
    served = world["in_window"].head(60)
    ts = pd.Timestamp("2011-08-16").to_pydatetime()
    as_of = pd.Timestamp(IN_WINDOW).to_pydatetime()

    def rows(variant: str, version: int, frame: pd.DataFrame) -> list[tuple[Any, ...]]:
        return [
            (f"{variant}{i}", ts, "predict", cid, variant, version, float(s), True, as_of)
            for i, (cid, s) in enumerate(zip(frame["customer_id"], _score(frame), strict=True))
        ]

    old = PredictionLog(tmp_path / "log")
    old.append(rows("champion", 1, served.tail(10)) + rows("shadow", 2, served))
    old.close()
    new = PredictionLog(tmp_path / "log", features=FEATURE_COLUMNS)
    new.append(rows("champion", 1, served.head(50)), served.head(50)[FEATURE_COLUMNS].to_numpy())
    new.close()
    data = W.gather_window(
        "2011-09-01",
        predictions_db=tmp_path / "none" / "predictions.duckdb",
        log_dir=tmp_path / "log",
        metrics_db=tmp_path / "none.duckdb",
    )
    evaluation = _evaluate(world, data)
    segments = {s.key: s for s in evaluation.result.segments}
    champion = segments["churn_served_champion/v1"]
    assert champion.n_rows == 60
    assert champion.feature_drift_status == W.MEASURED
    _, expected = run_drift_report(world["reference"], served.head(50), list(FEATURE_COLUMNS))
    assert champion.feature_drift == {
        k: pytest.approx(float(expected[k]))
        for k in ("drift_share", "drifted_columns", "n_columns")
    }
    assert "churn_served_champion/v1: feature drift on the 50 of 60 rows" in " ".join(
        evaluation.result.notes
    )
    assert "DriftedColumnsCount" in _metric_types(evaluation.snapshots[champion.key])
    metrics = {r.metric for r in evaluation.result.metric_rows() if r.job == champion.job}
    assert {"drift_share", "prediction_ks", "roc_auc"} <= metrics

    shadow = segments["churn_served_shadow/v2"]
    assert shadow.feature_drift_status == W.SKIPPED
    assert "records scores, not the features" in shadow.feature_drift_reason
    assert shadow.feature_drift is None


# --- recording ----------------------------------------------------------------------------------


def test_record_writes_rows_and_one_snapshot_per_segment(
    mature: W.WindowEvaluation, young: W.WindowEvaluation, tmp_path: Path
) -> None:
    db, ws_dir = tmp_path / "monitoring.duckdb", tmp_path / "evidently"
    for evaluation in (mature, young):
        recorded = W.record_window(
            evaluation.result, evaluation.snapshots, metrics_db=db, workspace_dir=ws_dir
        )
        assert set(recorded.snapshot_ids) == {s.key for s in evaluation.result.segments}
    table = read_metrics(db)
    assert len(table) == len(mature.result.metric_rows()) + len(young.result.metric_rows())
    # re-recording a window replaces its rows and its snapshots
    W.record_window(mature.result, mature.snapshots, metrics_db=db, workspace_dir=ws_dir)
    assert len(read_metrics(db)) == len(table)

    workspace = open_workspace(ws_dir)
    listed = list_windows(workspace, get_or_create_project(workspace).id)
    assert len(listed) == 4
    assert sorted(set(listed["timestamp"])) == [
        pd.Timestamp("2011-09-01"),
        pd.Timestamp("2011-12-01"),
    ]
    young_rows = listed[listed["timestamp"] == pd.Timestamp("2011-12-01")]
    assert young_rows[["job", "model_version", "performance"]].values.tolist() == [
        ["churn_batch", "1", "not_mature"]
    ]
    # the next window starts where the recorded ones end
    assert W.previous_window_end("2012-01-01", db) == pd.Timestamp("2011-12-01")

    with pytest.raises(DataError, match="no Evidently snapshot for segment"):
        W.record_window(mature.result, {}, metrics_db=db, workspace_dir=ws_dir)


def test_report_html(mature: W.WindowEvaluation, young: W.WindowEvaluation) -> None:
    [(key, snapshot)] = young.snapshots.items()
    page = W.report_html({key: snapshot})
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert "<iframe srcdoc=" not in page  # the report itself, not framed
    assert "KS statistic of churn_probability" in page
    two = dict(list(mature.snapshots.items())[1:])  # the two served segments
    page = W.report_html(two)
    assert page.count("<iframe srcdoc=") == 2
    assert "<h2>churn_served_shadow/v2</h2>" in page
    with pytest.raises(DataError, match="no report to show"):
        W.report_html({})


# --- the gate -----------------------------------------------------------------------------------


def test_gate_decides_each_segment_and_alerts_once(mature: W.WindowEvaluation) -> None:
    state = AlertState()
    params = W.WindowGateParams(max_prediction_ks=0.0)  # every segment breaches the KS
    decision = W.gate_window(mature.result, params, {"1": CHAMPION}, state)
    assert set(decision.segments) == {s.key for s in mature.result.segments}
    assert decision.action in {"warn", "retrain"}
    assert all(r.split(": ", 1)[0] in decision.segments for r in decision.reasons)
    batch = decision.segments["churn_batch/v1"]
    assert {"drift_share", "prediction_ks", "auc_drop", "brier_rise"} <= set(batch.checked)
    # v2 has no test figures: its performance is shown, not judged
    shadow = decision.segments["churn_served_shadow/v2"]
    assert shadow.checked == ["prediction_ks"]
    assert decision.notes == [
        "churn_served_shadow/v2: no test figures for model v2: performance not judged"
    ]
    kinds = {(a.job, a.kind) for a in decision.alerts}
    assert ("churn_served_shadow", "prediction_ks") in kinds
    assert ("churn_batch", "prediction_ks") in kinds
    doc = decision.to_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["window_end"] == "2011-09-01T00:00:00"

    # the same window again: the breaches stand, nothing is re-sent
    again = W.gate_window(mature.result, params, {"1": CHAMPION}, state)
    assert again.action == decision.action
    assert again.alerts == []


def test_gate_with_loose_limits_is_ok_and_clears(mature: W.WindowEvaluation) -> None:
    state = AlertState()
    strict = W.WindowGateParams(max_drift_share=0, retrain_on_drift=True)
    breached = W.gate_window(mature.result, strict, {}, state)
    assert breached.action == "retrain"
    assert ("churn_batch", "drift_share") in {(a.job, a.kind) for a in breached.alerts}
    loose = W.WindowGateParams(
        max_drift_share=1, max_prediction_ks=1, max_auc_drop=1, max_brier_rise=1
    )
    decision = W.gate_window(mature.result, loose, {"1": CHAMPION, "2": CHAMPION}, state)
    assert (decision.action, decision.reasons) == ("ok", [])
    assert decision.alerts
    assert {a.event for a in decision.alerts} == {"cleared"}
    assert state.standing() == {}


def test_gate_params_are_the_monitoring_gates() -> None:
    assert W.WindowGateParams().monitoring() == MonitoringGateParams()
    with pytest.raises(ValueError, match="less than or equal to 1"):
        W.WindowGateParams(max_auc_drop=2)
    assert W.champion_test_figures({"test_roc_auc": 0.8, "test_brier": 0.1, "x": 1}) == {
        "roc_auc": 0.8,
        "brier": 0.1,
    }
    assert W.champion_test_figures({"test_roc_auc": 0.8}) is None


def test_as_of_today_is_the_day_the_run_starts_and_a_bad_one_is_one_error() -> None:
    from retail_mlops.serving.predlog import now_utc

    assert W.resolve_as_of("2011-06-01") == "2011-06-01"
    assert W.resolve_as_of(W.TODAY) == str(now_utc().date())
    with pytest.raises(DataError, match="as_of must be a date"):
        W.resolve_as_of("next tuesday")
