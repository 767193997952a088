"""Monitoring over time: each window's figures in DuckDB and its report in an Evidently workspace.

Two records of the same windows, for two readers:

- `monitoring_metrics` in `<state>/monitoring.duckdb`: one row per (window, job, source,
  variant, metric), for gates, alerts and SQL. A window's rows are written in one transaction
  that first deletes the rows of the same (job, window_end, run_id), so a re-run replaces them.
- An Evidently 0.7 local workspace at `<state>/evidently`: one snapshot per (job, window,
  model version), timestamped at the window's end, in a project whose dashboard plots drift
  share, the prediction KS statistic and the performance figures over time, one line per model
  version. `evidently ui --workspace <state>/evidently` serves it.

Evidently 0.7 has no metric for the KS *statistic* (`ValueDrift(method="ks")` reports the
p-value), PR AUC, Brier or precision at the top decile, so `prediction_report` adds two small
custom metrics (`PredictionKS`, `ChurnScore`) next to the native `ClassificationPreset` (ROC AUC,
log loss, precision, recall...). Their results are plain `SingleValue`s, so the UI reads them
without importing this module.

Split by model version: Evidently 0.7.23's local storage picks the filter of a dashboard series
by metric type and labels only, then drops points whose snapshot metadata differs from that
filter's, so two series of one panel that differ only in snapshot tags or metadata (v1 and v2)
collapse into the first. `add_window` therefore also writes the job and model version into
every metric result's labels (`metric_value_location.metric.params`), which the storage does
tell apart; the panels select versions by those labels. Tags and metadata are set as well.

The custom metrics subclass Evidently's base classes, which cost about 15 s to import, so they
are built on first use (`custom_metrics`): writing metric rows never imports Evidently.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass, field, fields
from datetime import datetime
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd

from retail_mlops.errors import DataError
from retail_mlops.paths import state_dir
from retail_mlops.serving.predlog import now_utc

if TYPE_CHECKING:
    from evidently.core.report import Snapshot
    from evidently.sdk.models import DashboardModel
    from evidently.ui.workspace import Project, Workspace

TABLE = "monitoring_metrics"
PROJECT_NAME = "churn_monitoring"
# Labels every metric result of a window's snapshot carries, so the dashboard can tell series
# of different jobs and model versions apart (see the module docstring).
SERIES_LABELS = ("job", "model_version")
# Figures of `ChurnScore`: the ones `performance_metrics` has and Evidently 0.7 does not.
CUSTOM_SCORES = ("pr_auc", "brier", "precision_top_decile")
# Stable ids for the dashboard's tabs and panels, so a rebuilt dashboard keeps its links.
_DASHBOARD_NS = uuid.UUID("7b0e3b1e-4c1a-4f57-9a57-5c0d1c9c6a10")


# --- the metrics table --------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricRow:
    """One figure of one window: what was measured, on which model, by which run.

    `source` says where the scores came from (`batch`, `served`), `variant` which arm
    (`champion`, `challenger`, `shadow`); `run_id` names what is monitored (the scoring run),
    so re-monitoring it replaces its rows.
    """

    window_start: datetime
    window_end: datetime
    job: str
    source: str
    variant: str
    metric: str
    value: float
    model_version: str
    run_id: str
    recorded_at: datetime = field(default_factory=now_utc)


COLUMNS = [f.name for f in fields(MetricRow)]
_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    job VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    model_version VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL
)
"""


def metrics_db_path(state: Path | None = None) -> Path:
    """`<state>/monitoring.duckdb` (state: RETAIL_MLOPS_HOME or `.state/`)."""
    return (state or state_dir()) / "monitoring.duckdb"


def metric_rows(
    figures: Mapping[str, float],
    *,
    window_start: datetime | str,
    window_end: datetime | str,
    job: str,
    source: str,
    variant: str,
    model_version: str | int,
    run_id: str,
) -> list[MetricRow]:
    """One `MetricRow` per figure (a drift summary, `performance_metrics`...), stamped now."""
    start, end = _window(window_start, window_end)
    return [
        MetricRow(start, end, job, source, variant, name, float(value), str(model_version), run_id)
        for name, value in figures.items()
    ]


def _window(start: datetime | str, end: datetime | str) -> tuple[datetime, datetime]:
    """The window's bounds as datetimes; a window must end after it starts."""
    first, last = pd.Timestamp(start).to_pydatetime(), pd.Timestamp(end).to_pydatetime()
    if last <= first:
        raise DataError(f"window end {last} is not after its start {first}")
    return first, last


def write_metrics(rows: Sequence[MetricRow], path: Path | None = None) -> int:
    """Replace the rows of every (job, window_end, run_id) in `rows` with `rows`, atomically.

    One transaction: a reader sees the old rows or the new ones, and a failed write leaves
    the old ones. DuckDB lets one process write a database file at a time; a second writer
    fails to open it rather than interleave.

    Returns:
        The number of rows written.
    """
    if not rows:
        return 0
    import duckdb

    db = path or metrics_db_path()
    db.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([astuple(r) for r in rows], columns=COLUMNS)
    with duckdb.connect(str(db)) as con:
        con.register("new_rows", frame)
        con.begin()
        try:
            con.execute(_DDL)
            con.execute(
                f"DELETE FROM {TABLE} WHERE (job, window_end, run_id) IN "
                "(SELECT DISTINCT job, window_end, run_id FROM new_rows)"
            )
            con.execute(f"INSERT INTO {TABLE} BY NAME SELECT * FROM new_rows")
            con.commit()
        except BaseException:
            con.rollback()
            raise
    return len(frame)


def read_metrics(path: Path | None = None, job: str | None = None) -> pd.DataFrame:
    """The table (of one `job`, if given) by window and metric; empty with the columns if none."""
    import duckdb

    db = path or metrics_db_path()
    if not db.exists():
        return pd.DataFrame(columns=COLUMNS)
    with duckdb.connect(str(db), read_only=True) as con:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [TABLE]
        ).fetchone()
        if not exists or not exists[0]:
            return pd.DataFrame(columns=COLUMNS)
        where, args = ("WHERE job = ?", [job]) if job is not None else ("", [])
        return con.execute(
            f"SELECT * FROM {TABLE} {where} ORDER BY window_end, job, source, variant, metric",
            args,
        ).df()


# --- Evidently: custom metrics and the window's report -----------------------------------------


@cache
def custom_metrics() -> SimpleNamespace:
    """Define the custom Evidently metrics once, on first use (Evidently is slow to import)."""
    from evidently.core.metric_types import SingleValueCalculation, SingleValueMetric

    from retail_mlops.monitoring.drift import prediction_ks
    from retail_mlops.monitoring.performance import performance_metrics

    class PredictionKS(SingleValueMetric):
        """Two-sample KS statistic of a score column, current against reference."""

        column: str

    class PredictionKSCalculation(SingleValueCalculation[PredictionKS]):
        def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
            if reference_data is None:
                raise DataError("the prediction KS statistic needs reference predictions")
            col = self.metric.column
            ks = prediction_ks(
                reference_data.as_dataframe()[col].to_numpy(),
                current_data.as_dataframe()[col].to_numpy(),
            )
            return self.result(ks["ks_statistic"])

        def display_name(self) -> str:
            return f"KS statistic of {self.metric.column} (current vs reference)"

    class ChurnScore(SingleValueMetric):
        """One figure of `performance_metrics` that Evidently lacks (PR AUC, Brier...)."""

        figure: str
        target: str
        prediction: str

    class ChurnScoreCalculation(SingleValueCalculation[ChurnScore]):
        def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
            frame = current_data.as_dataframe()
            figures = performance_metrics(
                frame[self.metric.target].to_numpy(), frame[self.metric.prediction].to_numpy()
            )
            return self.result(figures[self.metric.figure])

        def display_name(self) -> str:
            return self.metric.figure.replace("_", " ")

    class DemandFigure(SingleValueMetric):
        """One figure of one segment of a demand window (`monitoring.demand.segment_figure`)."""

        figure: str
        segment: str

    class DemandFigureCalculation(SingleValueCalculation[DemandFigure]):
        def calculate(self, context: Any, current_data: Any, reference_data: Any) -> Any:
            from retail_mlops.monitoring.demand import segment_figure

            frame = current_data.as_dataframe()
            return self.result(segment_figure(frame, self.metric.segment, self.metric.figure))

        def display_name(self) -> str:
            return f"{self.metric.figure.replace('_', ' ')} ({self.metric.segment})"

    return SimpleNamespace(
        PredictionKS=PredictionKS, ChurnScore=ChurnScore, DemandFigure=DemandFigure
    )


def prediction_report(
    current: pd.DataFrame,
    reference: pd.DataFrame | None = None,
    *,
    prediction: str = "churn_probability",
    target: str = "churned",
    threshold: float = 0.5,
) -> Snapshot:
    """An Evidently snapshot of a window's scores: KS vs the reference, and performance.

    The KS statistic needs `reference`; performance needs outcomes (`target` in `current`,
    a matured window).

    Performance is Evidently's `ClassificationPreset` on a `BinaryClassification(target,
    prediction_probas)` (ROC AUC, log loss, and precision, recall, F1 at `threshold`), plus
    `ChurnScore` metrics for PR AUC, Brier and precision at the top decile. The KS runs as
    its own report, as the reference (training-time test scores) has no outcomes.

    Raises:
        DataError: If a column is missing, or there is nothing to report.
    """
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    custom = custom_metrics()
    for name, frame in (("current", current), ("reference", reference)):
        if frame is not None and prediction not in frame.columns:
            raise DataError(f"{name} scores lack column {prediction!r}")
    parts = []
    if reference is not None:
        ks = Report([custom.PredictionKS(column=prediction)])
        parts.append(
            ks.run(current_data=current[[prediction]], reference_data=reference[[prediction]])
        )
    if target in current.columns:
        definition = DataDefinition(
            numerical_columns=[prediction],
            classification=[BinaryClassification(target=target, prediction_probas=prediction)],
        )
        data = Dataset.from_pandas(
            current[[target, prediction]].astype({target: int}), data_definition=definition
        )
        scores = [
            custom.ChurnScore(figure=f, target=target, prediction=prediction) for f in CUSTOM_SCORES
        ]
        quality = Report([ClassificationPreset(probas_threshold=threshold), *scores])
        parts.append(quality.run(current_data=data, reference_data=None))
    if not parts:
        raise DataError("nothing to report: give reference scores, outcomes (target), or both")
    return merge_snapshots(parts)


def merge_snapshots(snapshots: Sequence[Snapshot]) -> Snapshot:
    """Several reports of one window as one snapshot, as the workspace stores a window."""
    return snapshots[0] if len(snapshots) == 1 else _load(_merged(snapshots))


def _merged(snapshots: Sequence[Snapshot]) -> dict[str, Any]:
    """Several snapshots as one serialized snapshot: every metric, widget and test of each."""
    docs = [json.loads(s.dumps()) for s in snapshots]
    out = docs[0]
    for doc in docs[1:]:
        out["metric_results"].update(doc["metric_results"])
        out["top_level_metrics"] += [
            m for m in doc["top_level_metrics"] if m not in out["top_level_metrics"]
        ]
        out["widgets"] += doc["widgets"]
        out["tests_widgets"] += doc["tests_widgets"]
    return out


def _load(doc: dict[str, Any]) -> Snapshot:
    from evidently.core.report import Snapshot

    return Snapshot.load_dict(doc)


def _label_series(node: Any, labels: Mapping[str, str]) -> None:
    """Add `labels` to the metric params of every value location under `node`, in place."""
    if isinstance(node, dict):
        location = node.get("metric_value_location")
        if isinstance(location, dict) and isinstance(location.get("metric"), dict):
            location["metric"].setdefault("params", {}).update(labels)
        for value in node.values():
            _label_series(value, labels)
    elif isinstance(node, list):
        for value in node:
            _label_series(value, labels)


# --- Evidently: the workspace, windows and the dashboard ----------------------------------------


def workspace_path(state: Path | None = None) -> Path:
    """`<state>/evidently`, the folder `evidently ui --workspace` serves."""
    return (state or state_dir()) / "evidently"


def open_workspace(path: Path | None = None) -> Workspace:
    """The local Evidently workspace at `path` (default `workspace_path()`), created if new."""
    from evidently.ui.workspace import Workspace

    folder = path or workspace_path()
    folder.mkdir(parents=True, exist_ok=True)
    return Workspace(str(folder))


def get_or_create_project(
    workspace: Workspace, name: str = PROJECT_NAME, description: str | None = None
) -> Project:
    """The project called `name` (the oldest, if several), or a new one."""
    found = sorted(workspace.search_project(name), key=lambda p: str(p.id))  # uuid7: by age
    if found:
        return found[0]
    return workspace.create_project(name, description=description)


@dataclass(frozen=True)
class WindowKey:
    """What makes a snapshot unique in a project: one job's window, scored by one model."""

    job: str
    window_end: datetime
    model_version: str

    def metadata(self) -> dict[str, str]:
        """The key as snapshot metadata (strings, as Evidently's filters compare them)."""
        return {
            "job": self.job,
            "window_end": self.window_end.isoformat(),
            "model_version": self.model_version,
        }


def add_window(
    workspace: Workspace,
    project_id: Any,
    snapshots: Sequence[Snapshot],
    *,
    job: str,
    window_start: datetime | str,
    window_end: datetime | str,
    model_version: str | int,
    run_id: str = "",
    source: str = "batch",
    extra_metadata: Mapping[str, str] | None = None,
    panels: Sequence[PanelSpec] | None = None,
) -> str:
    """Store a window's reports as one snapshot at `window_end`, replacing any of the same key.

    The reports (a drift snapshot from `run_drift_report`, `prediction_report`...) are merged
    into one snapshot, timestamped at the window's end, with the key (job, window end, model
    version) and the window's start, run and source in its metadata, tags `job:<job>` and
    `model:<version>`, and the job and version in every series' labels. Other snapshots of
    the same key are then deleted, so a re-run (a window re-monitored once its outcomes are known)
    replaces its snapshot instead of adding a second point. The dashboard is then rebuilt for
    the jobs and versions the project holds.

    Returns:
        The new snapshot's id.

    Raises:
        DataError: If no report is given or the window is empty.
    """
    if not snapshots:
        raise DataError("add_window needs at least one Evidently snapshot")
    start, end = _window(window_start, window_end)
    key = WindowKey(job, end, str(model_version))
    doc = _merged(snapshots)
    _label_series(doc["metric_results"], {"job": key.job, "model_version": key.model_version})
    doc.update(
        timestamp=end.isoformat(),
        name=f"{job} {start:%Y-%m-%d}..{end:%Y-%m-%d} model {key.model_version}",
        tags=[f"job:{job}", f"model:{key.model_version}"],
        metadata={
            **key.metadata(),
            "window_start": start.isoformat(),
            "run_id": run_id,
            "source": source,
            **(extra_metadata or {}),
        },
    )
    # add first, then delete: a failed write leaves the old snapshot, never none
    ref = workspace.add_run(project_id, _load(doc))
    kept = []
    for snapshot_id, metadata in _snapshot_metadata(workspace, project_id):
        same_key = all(metadata.get(k) == v for k, v in key.metadata().items())
        if same_key and snapshot_id != ref.id:
            workspace.delete_run(project_id, snapshot_id)
        else:
            kept.append((snapshot_id, metadata))
    update_dashboard(workspace, project_id, kept, panels)
    return str(ref.id)


def _runs(workspace: Workspace, project_id: Any) -> Iterator[tuple[Any, Any]]:
    """(id, SnapshotModel) of every snapshot in the project; each file is read whole."""
    for snapshot_id in workspace.list_runs(project_id):
        model = workspace.get_run(project_id, snapshot_id)
        if model is not None:
            yield snapshot_id, model


def _snapshot_metadata(workspace: Workspace, project_id: Any) -> list[tuple[Any, dict[str, Any]]]:
    """(id, metadata) of every snapshot in the project."""
    return [
        (snapshot_id, dict(model.metadata)) for snapshot_id, model in _runs(workspace, project_id)
    ]


def list_windows(workspace: Workspace, project_id: Any) -> pd.DataFrame:
    """One row per snapshot: id, timestamp, job, window start and end, model version, run."""
    rows = [
        {"snapshot_id": str(snapshot_id), "timestamp": model.timestamp, **model.metadata}
        for snapshot_id, model in _runs(workspace, project_id)
    ]
    frame = pd.DataFrame(rows)
    return frame.sort_values(["timestamp", "snapshot_id"], ignore_index=True) if rows else frame


# (tab, title, Evidently metric type, labels that pick the series out of the metric's values)
PanelSpec = tuple[str, str, str, dict[str, str]]
PANELS: tuple[PanelSpec, ...] = (
    ("Drift", "Share of drifted features", "DriftedColumnsCount", {"value_type": "share"}),
    ("Drift", "Prediction KS statistic", "PredictionKS", {}),
    ("Performance", "ROC AUC", "RocAuc", {}),
    ("Performance", "PR AUC (average precision)", "ChurnScore", {"figure": "pr_auc"}),
    ("Performance", "Log loss", "LogLoss", {}),
    ("Performance", "Brier score", "ChurnScore", {"figure": "brier"}),
    (
        "Performance",
        "Precision at the top decile",
        "ChurnScore",
        {"figure": "precision_top_decile"},
    ),
)


def update_dashboard(
    workspace: Workspace,
    project_id: Any,
    windows: Sequence[tuple[Any, Mapping[str, Any]]] | None = None,
    panels: Sequence[PanelSpec] | None = None,
) -> DashboardModel:
    """Rebuild the project's dashboard: one line per (job, model version) in each panel.

    The whole dashboard is saved in one go (`save_dashboard`) instead of panel by panel:
    0.7.23's `add_panel` lists a panel twice when its tab already exists, and a rebuild is
    idempotent. Panel and tab ids derive from their titles, so they stay put across rebuilds.

    Args:
        workspace: The workspace.
        project_id: The project.
        windows: (snapshot id, metadata) of every snapshot, if the caller has them already
            (reading them costs about 0.3 s a snapshot); read from the workspace otherwise.
        panels: The panels (default: the churn project's `PANELS`).
    """
    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import line_plot_panel

    # series in order of first appearance: model versions come one after another over time
    first_seen: dict[tuple[str, str], str] = {}
    for _, m in windows if windows is not None else _snapshot_metadata(workspace, project_id):
        key = (str(m.get("job", "")), str(m.get("model_version", "")))
        first_seen[key] = min(first_seen.get(key, "~"), str(m.get("window_end", "")))
    series = sorted(first_seen, key=lambda s: (first_seen[s], s))
    jobs = {job for job, _ in series}
    tabs: dict[str, list[Any]] = {}
    built = []
    for tab, title, metric, labels in PANELS if panels is None else panels:
        values = [
            PanelMetric(
                legend=f"model {version}" if len(jobs) == 1 else f"{job}: model {version}",
                metric=metric,
                metric_labels={**labels, "job": job, "model_version": version},
                tags=[f"job:{job}"],
            )
            for job, version in series
        ]
        panel = line_plot_panel(title, values, size="half")
        panel.id = uuid.uuid5(_DASHBOARD_NS, f"panel:{title}")
        built.append(panel)
        tabs.setdefault(tab, []).append(panel.id)
    dashboard = DashboardModel(
        tabs=[
            DashboardTabModel(id=uuid.uuid5(_DASHBOARD_NS, f"tab:{t}"), title=t, panels=ids)
            for t, ids in tabs.items()
        ],
        panels=built,
    )
    workspace.save_dashboard(project_id, dashboard)
    return dashboard
