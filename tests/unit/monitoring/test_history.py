"""Unit tests for retail_mlops/monitoring/history.py: the metrics table and the Evidently workspace.

Three monthly windows of the committed subset's real customers: features from
`customer_feature_snapshots`, a recency score standing in for the model, outcomes from the
invoice lines where the window has matured. The Evidently part runs real 0.7 reports.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from retail_mlops.errors import DataError
from retail_mlops.features.customer import FEATURE_COLUMNS, customer_feature_snapshots
from retail_mlops.monitoring import history
from retail_mlops.monitoring.drift import run_drift_report
from retail_mlops.monitoring.history import (
    COLUMNS,
    MetricRow,
    add_window,
    get_or_create_project,
    list_windows,
    metric_rows,
    open_workspace,
    prediction_report,
    read_metrics,
    write_metrics,
)
from retail_mlops.monitoring.performance import (
    performance_metrics,
    window_matured,
    window_outcomes,
)

MONTHS = ["2011-07-01", "2011-08-01", "2011-09-01"]
REFERENCE_CUTOFF = "2011-01-01"
JOB = "churn_batch"

# --- the metrics table --------------------------------------------------------------------------


def _month_rows(start: str, run_id: str, value: float = 0.5) -> list[MetricRow]:
    end = pd.Timestamp(start) + pd.offsets.MonthBegin(1)
    return metric_rows(
        {"drift_share": value, "prediction_ks": value / 2},
        window_start=start,
        window_end=end,
        job=JOB,
        source="batch",
        variant="champion",
        model_version=3,
        run_id=run_id,
    )


def test_three_windows_then_a_rerun_replaces_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "monitoring.duckdb"
    for i, month in enumerate(MONTHS):
        assert write_metrics(_month_rows(month, f"run-{i}"), db) == 2
    table = read_metrics(db)
    assert list(table.columns) == COLUMNS
    assert table.groupby("window_end").size().tolist() == [2, 2, 2]

    write_metrics(_month_rows(MONTHS[1], "run-1", value=0.9), db)  # the same window re-run
    table = read_metrics(db, job=JOB)
    assert len(table) == 6
    aug = table[table["window_start"] == pd.Timestamp(MONTHS[1])]
    assert sorted(aug["value"]) == [0.45, 0.9]
    assert set(aug["model_version"]) == {"3"}

    write_metrics(_month_rows(MONTHS[1], "run-other"), db)  # another scoring run of the window
    assert len(read_metrics(db)) == 8
    assert read_metrics(db, job="demand").empty


def test_a_failed_write_leaves_the_old_rows(tmp_path: Path) -> None:
    db = tmp_path / "monitoring.duckdb"
    write_metrics(_month_rows(MONTHS[0], "run-0"), db)
    good = _month_rows(MONTHS[0], "run-0")[0]
    broken = MetricRow(**{**good.__dict__, "variant": None})
    with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
        write_metrics([good, broken], db)
    assert len(read_metrics(db)) == 2


def test_reading_before_anything_was_written(tmp_path: Path) -> None:
    empty = read_metrics(tmp_path / "absent.duckdb")
    assert empty.empty
    assert list(empty.columns) == COLUMNS
    assert write_metrics([], tmp_path / "absent.duckdb") == 0
    assert not (tmp_path / "absent.duckdb").exists()


def test_metric_rows_refuse_an_empty_window() -> None:
    with pytest.raises(DataError, match="not after its start"):
        metric_rows(
            {"x": 1.0},
            window_start="2011-03-01",
            window_end="2011-03-01",
            job=JOB,
            source="batch",
            variant="champion",
            model_version="1",
            run_id="r",
        )


def test_default_paths_are_under_the_state_folder(tmp_path: Path) -> None:
    assert history.metrics_db_path(tmp_path) == tmp_path / "monitoring.duckdb"
    assert history.workspace_path(tmp_path) == tmp_path / "evidently"


# --- the Evidently workspace ----------------------------------------------------------------------


def _score(features: pd.DataFrame) -> np.ndarray:
    return np.asarray(1 - np.exp(-features["days_since_last_order"] / 60.0))


@pytest.fixture(scope="module")
def windows(subset_clean: pd.DataFrame) -> dict[str, Any]:
    """Reference features and scores, and each month's features, scores and (if known) outcomes."""
    feats = customer_feature_snapshots(subset_clean, [REFERENCE_CUTOFF, *MONTHS], 365)
    reference = feats[feats["cutoff"] == pd.Timestamp(REFERENCE_CUTOFF)]
    data_end = subset_clean["invoice_date"].max()
    months = {}
    for month in MONTHS:
        current = feats[feats["cutoff"] == pd.Timestamp(month)]
        scores = pd.DataFrame(
            {
                "customer_id": current["customer_id"],
                "cutoff": current["cutoff"],
                "churn_probability": _score(current),
            }
        )
        end = pd.Timestamp(month) + pd.offsets.MonthBegin(1)
        if window_matured(end, data_end):
            scores["churned"] = window_outcomes(scores, subset_clean)
        months[month] = (current, scores, end)
    return {
        "reference": reference,
        "reference_scores": pd.DataFrame({"churn_probability": _score(reference)}),
        "months": months,
    }


def _reports(windows: dict[str, Any], month: str) -> list[Any]:
    current, scores, _ = windows["months"][month]
    drift, _ = run_drift_report(
        windows["reference"], current, FEATURE_COLUMNS, method="wasserstein", threshold=0.1
    )
    return [drift, prediction_report(scores, windows["reference_scores"])]


def _metric_types(workspace: Any, project_id: Any, snapshot_id: Any) -> set[str]:
    model = workspace.get_run(project_id, snapshot_id)
    return {r.metric_value_location.metric.params["type"] for r in model.metric_results.values()}


def test_windows_in_the_workspace(tmp_path: Path, windows: dict[str, Any]) -> None:
    # only windows whose 90 days the subset covers have outcomes (it ends 2011-12-09)
    assert ["churned" in windows["months"][m][1] for m in MONTHS] == [True, True, False]
    ws = open_workspace(tmp_path / "evidently")
    project = get_or_create_project(ws)
    assert get_or_create_project(ws).id == project.id
    ids = {}
    for i, month in enumerate(MONTHS):
        end = windows["months"][month][2]
        ids[month] = add_window(
            ws,
            project.id,
            _reports(windows, month),
            job=JOB,
            window_start=month,
            window_end=end,
            model_version="1" if i < 2 else "2",
            run_id=f"run-{i}",
        )

    listed = list_windows(ws, project.id)
    assert len(listed) == len(ws.list_runs(project.id)) == 3
    assert listed["timestamp"].tolist() == [windows["months"][m][2] for m in MONTHS]
    assert listed["window_start"].tolist() == [pd.Timestamp(m).isoformat() for m in MONTHS]
    assert listed["model_version"].tolist() == ["1", "1", "2"]

    matured = _metric_types(ws, project.id, ids[MONTHS[0]])
    young = _metric_types(ws, project.id, ids[MONTHS[2]])
    base = {"evidently:metric_v2:DriftedColumnsCount", "evidently:metric_v2:PredictionKS"}
    performance = {
        "evidently:metric_v2:RocAuc",
        "evidently:metric_v2:LogLoss",
        "evidently:metric_v2:ChurnScore",
    }
    assert base | performance <= matured
    assert base <= young
    assert not performance & young

    # every series carries the job and model version as labels, the snapshot as metadata
    model = ws.get_run(project.id, ids[MONTHS[2]])
    assert model.metadata["model_version"] == "2"
    assert model.tags == [f"job:{JOB}", "model:2"]
    for result in model.metric_results.values():
        params = result.metric_value_location.metric.params
        assert (params["job"], params["model_version"]) == (JOB, "2")

    # the values in the snapshot are the library's own figures
    _, scores, _ = windows["months"][MONTHS[0]]
    expected = performance_metrics(scores["churned"], scores["churn_probability"])
    first = ws.get_run(project.id, ids[MONTHS[0]])
    found = {
        r.metric_value_location.metric.params.get("figure"): r.value
        for r in first.metric_results.values()
        if r.metric_value_location.metric.params["type"].endswith("ChurnScore")
    }
    assert found == pytest.approx({f: expected[f] for f in history.CUSTOM_SCORES})
    roc = next(
        r.value
        for r in first.metric_results.values()
        if r.metric_value_location.metric.params["type"].endswith(":RocAuc")
    )
    assert roc == pytest.approx(expected["roc_auc"])

    # re-adding a window replaces it
    again = add_window(
        ws,
        project.id,
        _reports(windows, MONTHS[1]),
        job=JOB,
        window_start=MONTHS[1],
        window_end=windows["months"][MONTHS[1]][2],
        model_version="1",
        run_id="run-1b",
    )
    listed = list_windows(ws, project.id)
    assert len(listed) == 3
    assert again in set(listed["snapshot_id"])
    assert ids[MONTHS[1]] not in set(listed["snapshot_id"])
    assert listed["run_id"].tolist() == ["run-0", "run-1b", "run-2"]

    # the dashboard: a line per model version in every panel, a stable layout on rebuild
    dashboard = ws.get_dashboard(project.id)
    assert [t.title for t in dashboard.tabs] == ["Drift", "Performance"]
    assert [p.title for p in dashboard.panels] == [p[1] for p in history.PANELS]
    for panel in dashboard.panels:
        assert [v.metric_labels["model_version"] for v in panel.values] == ["1", "2"]
        assert [v.legend for v in panel.values] == ["model 1", "model 2"]
    assert sum(len(t.panels) for t in dashboard.tabs) == len(history.PANELS)
    rebuilt = history.update_dashboard(ws, project.id)
    assert [p.id for p in rebuilt.panels] == [p.id for p in dashboard.panels]


def test_prediction_report_needs_something_to_report(windows: dict[str, Any]) -> None:
    _, scores, _ = windows["months"][MONTHS[2]]
    with pytest.raises(DataError, match="nothing to report"):
        prediction_report(scores)
    with pytest.raises(DataError, match="lack column 'score'"):
        prediction_report(scores, windows["reference_scores"], prediction="score")


def test_add_window_needs_a_report_and_a_window(tmp_path: Path) -> None:
    ws = open_workspace(tmp_path / "evidently")
    project = get_or_create_project(ws, "other")
    with pytest.raises(DataError, match="at least one"):
        add_window(
            ws,
            project.id,
            [],
            job=JOB,
            window_start=datetime(2011, 3, 1),
            window_end=datetime(2011, 4, 1),
            model_version=1,
        )
