"""The Evidently UI serves the monitoring workspace: `evidently ui` on a free loopback port.

Three monthly windows of real customers go into a workspace through `history.add_window`; the
UI is started as a subprocess (`uv run evidently ui --workspace ... --port ... --host
127.0.0.1`), and its HTTP API must list the project, its three snapshots with their window
timestamps, the dashboard, and one data series per model version for a panel. It is stopped by
PID (the launcher records the process tree) whatever the test's outcome.

Routes (Evidently 0.7.23, evidently/ui/service/api/projects.py): GET /api/projects,
GET /api/projects/{id}/snapshots, GET /api/v2/dashboards/{id},
POST /api/v2/snapshots/{id}/data_series_batch.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.deploy.process import Deployment, free_port, http, launch, stop
from retail_mlops.features.customer import customer_feature_snapshots
from retail_mlops.monitoring.history import (
    PROJECT_NAME,
    add_window,
    get_or_create_project,
    open_workspace,
    prediction_report,
)
from retail_mlops.monitoring.performance import window_outcomes

pytestmark = pytest.mark.slow  # the UI takes 15-30 s to import and start

MONTHS = ["2011-04-01", "2011-05-01", "2011-06-01"]


@pytest.fixture(scope="module")
def workspace(subset_clean: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with three matured monthly windows: model 1, then model 2 for the last."""
    path = tmp_path_factory.mktemp("ui") / "evidently"
    feats = customer_feature_snapshots(subset_clean, ["2011-01-01", *MONTHS], 365)
    recency = 1 - np.exp(-feats["days_since_last_order"] / 60.0)
    scored = feats[["customer_id", "cutoff"]].assign(churn_probability=recency)
    reference = scored[scored["cutoff"] == pd.Timestamp("2011-01-01")]
    ws = open_workspace(path)
    project = get_or_create_project(ws)
    for i, month in enumerate(MONTHS):
        window = scored[scored["cutoff"] == pd.Timestamp(month)]
        window = window.assign(churned=window_outcomes(window, subset_clean))
        add_window(
            ws,
            project.id,
            [prediction_report(window, reference)],
            job="churn_batch",
            window_start=month,
            window_end=pd.Timestamp(month) + pd.offsets.MonthBegin(1),
            model_version=1 if i < 2 else 2,
        )
    return path


def _command(workspace: Path, port: int) -> list[str]:
    args = ["ui", "--workspace", str(workspace), "--port", str(port), "--host", "127.0.0.1"]
    uv = shutil.which("uv")
    if uv is not None:
        return [uv, "run", "--frozen", "evidently", *args]
    return [str(Path(sys.executable).with_name("evidently")), *args]  # the same environment


@pytest.fixture(scope="module")
def ui(workspace: Path) -> Iterator[Deployment]:
    port = free_port()
    dep = launch(
        "evidently-ui",
        _command(workspace, port),
        port,
        probe="/api/projects",
        timeout_s=180,
        log_path=workspace.parent / "ui.log",
    )
    try:
        yield dep
    finally:
        stop(dep)


def _get(dep: Deployment, route: str) -> Any:
    status, body = http("GET", f"{dep.url}{route}", timeout=30)
    assert status == 200, body
    return body


def test_ui_lists_the_project_and_its_windows(ui: Deployment) -> None:
    projects = _get(ui, "/api/projects")
    assert [p["name"] for p in projects] == [PROJECT_NAME]
    project_id = projects[0]["id"]

    snapshots = _get(ui, f"/api/projects/{project_id}/snapshots")
    assert len(snapshots) == 3
    stamps = sorted(s["timestamp"] for s in snapshots)
    assert stamps == ["2011-05-01T00:00:00", "2011-06-01T00:00:00", "2011-07-01T00:00:00"]
    assert sorted(s["metadata"]["model_version"] for s in snapshots) == ["1", "1", "2"]


def test_ui_plots_one_line_per_model_version(ui: Deployment) -> None:
    project_id = _get(ui, "/api/projects")[0]["id"]
    dashboard = _get(ui, f"/api/v2/dashboards/{project_id}")
    panel = next(p for p in dashboard["panels"] if p["title"] == "ROC AUC")
    filters = [
        {k: v[k] for k in ("tags", "metadata", "metric", "metric_labels")} for v in panel["values"]
    ]
    status, data = http(
        "POST",
        f"{ui.url}/api/v2/snapshots/{project_id}/data_series_batch",
        {"series_filter": filters},
        timeout=30,
    )
    assert status in (200, 201), data
    assert len(data["sources"]) == 3
    by_version = {s["params"]["model_version"]: s["values"] for s in data["series"]}
    assert set(by_version) == {"1", "2"}
    # a series holds a value per source (window) up to its last one; None where it has none
    assert len(by_version["1"]) == 2
    assert all(0.5 < v < 1 for v in by_version["1"])
    assert by_version["2"][:2] == [None, None]
    assert 0.5 < by_version["2"][2] < 1
