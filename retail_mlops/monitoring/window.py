"""One monitoring window of the churn model: what was scored in it, how it drifted, how it did.

A window is [start, end): `end` is the as-of date, `start` the end of the latest earlier window
recorded in `monitoring_metrics` (so consecutive windows tile time without gaps or overlaps),
or `end - window_days` when there is none. Two sources of scores fall into it:

- **batch**: rows of `churn_predictions` (`<state>/predictions/predictions.duckdb`) whose
  `cutoff` is in the window. A (customer, cutoff, model version) scored by several runs counts
  once, with its latest score: a re-run replaces a score, it is not new traffic.
- **served**: rows of the churn service's predictions log whose `timestamp` is in the window,
  read with `read_log_safe`: a part that cannot be read is left where it is (moving it is
  `compact_log`'s job, under its lock) and listed with its reason.

Each source is split into segments, one per (variant, model version), and each segment gets:

- prediction drift: `prediction_ks` of its scores against the champion's reference scores;
- feature drift: batch rows' features are *recomputed* from the invoice lines with
  `customer_feature_snapshots` for their (customer, cutoff), the function whose output the
  batch scoring read back through Feast (the training pipeline's test checks the two are
  equal), then `run_drift_report` against the champion's reference features. Served rows
  carry the features they were scored on in the log (the request body's, or what the online
  store returned); the same report runs on the segment's rows that have them. Rows of parts
  written before the log recorded features have none (NaN throughout): a segment of only such
  rows skips feature drift with the reason, one with some is measured on those and noted;
- performance, once the window has matured (`window_matured` with the champion's horizon):
  `window_outcomes` from the lines and `performance_metrics`. Before that its status is
  `not_mature` and it has no figures (an unobservable outcome would read as churn).

The result is plain data (`WindowResult`, a dict across step boundaries) with the figures of
each segment, its `MetricRow`s, and one Evidently snapshot per segment. Recording writes the
rows to `monitoring_metrics` and the snapshot to the Evidently project at the window's end;
the gate (`gate_window`) turns each segment's figures into ok / warn / retrain with
`decide`, and `AlertState` keeps a standing breach from alerting every window.

Series names (the `job` of rows, snapshots and alerts): `churn_batch` for batch scores,
`churn_served_<variant>` for served ones, so that two variants serving one model version
(champion and challenger both v1 after the first training) stay two series.

Framework-free, so the pipeline's steps, a notebook and the tests share it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import Field

from retail_mlops.churn.predictions import TABLE as PREDICTIONS_TABLE
from retail_mlops.config import Params
from retail_mlops.errors import DataError, InfraError
from retail_mlops.features.customer import FEATURE_COLUMNS, customer_feature_snapshots
from retail_mlops.monitoring.drift import DriftReportParams, prediction_ks, run_drift_report
from retail_mlops.monitoring.gate import (
    LEVELS,
    Action,
    Alert,
    AlertState,
    Decision,
    MonitoringGateParams,
    decide,
)
from retail_mlops.monitoring.history import (
    PROJECT_NAME,
    MetricRow,
    add_window,
    get_or_create_project,
    merge_snapshots,
    metric_rows,
    metrics_db_path,
    open_workspace,
    prediction_report,
    read_metrics,
    workspace_path,
    write_metrics,
)
from retail_mlops.monitoring.performance import (
    performance_metrics,
    window_matured,
    window_outcomes,
)
from retail_mlops.monitoring.retention import QuarantinedPart, ServedLogParams, read_log_safe
from retail_mlops.paths import state_dir
from retail_mlops.serving.predlog import COLUMNS as LOG_COLUMNS
from retail_mlops.serving.predlog import now_utc

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

WINDOW_DAYS = 30  # a window's length when no earlier window is recorded
BATCH = "batch"
SERVED = "served"
BATCH_JOB = "churn_batch"
SERVED_JOB_PREFIX = "churn_served_"
BATCH_VARIANT = "champion"  # batch scoring always uses the champion of its day
LOG_RUN_ID = "predictions_log"  # the `run_id` of served rows: no scoring run made them
PREDICTION = "churn_probability"
TARGET = "churned"
BATCH_KEY = ["customer_id", "cutoff", "model_version"]

# Segment statuses. Feature drift: measured or skipped; performance also not_mature.
MEASURED = "measured"
SKIPPED = "skipped"
NOT_MATURE = "not_mature"

_DRIFT = DriftReportParams.model_fields
_GATE = MonitoringGateParams.model_fields


class GatherWindowParams(ServedLogParams):
    """Where a window's scores are read from."""

    predictions_dir: str = Field(
        default="",
        description="Folder of predictions.duckdb (default <state>/predictions, as "
        "write_predictions' output_dir)",
    )


class WindowGateParams(Params):
    """When a churn window warns and when it asks for retraining: the monitoring gate's limits.

    The churn subset of `MonitoringGateParams` (no demand WAPE), with its defaults and bounds.
    """

    # the FieldInfo itself (default, bounds, description); mypy sees a FieldInfo, not a float
    max_drift_share: float = _GATE["max_drift_share"]  # type: ignore[assignment]
    max_prediction_ks: float = _GATE["max_prediction_ks"]  # type: ignore[assignment]
    max_auc_drop: float = _GATE["max_auc_drop"]  # type: ignore[assignment]
    max_brier_rise: float = _GATE["max_brier_rise"]  # type: ignore[assignment]
    retrain_on_drift: bool = _GATE["retrain_on_drift"]  # type: ignore[assignment]
    worse_margin: float = _GATE["worse_margin"]  # type: ignore[assignment]

    def monitoring(self) -> MonitoringGateParams:
        """The same limits as the library gate's parameters."""
        return MonitoringGateParams(**self.model_dump())


# --- series names and the window's bounds -------------------------------------------------------


def segment_job(source: str, variant: str) -> str:
    """The series name of a segment: `churn_batch`, or `churn_served_<variant>`."""
    if source == BATCH:
        return BATCH_JOB
    if source == SERVED:
        return f"{SERVED_JOB_PREFIX}{variant}"
    raise DataError(f"unknown prediction source {source!r}: use {BATCH!r} or {SERVED!r}")


def is_window_job(job: str) -> bool:
    """True for the series this module writes (a window's end is taken from them only)."""
    return job == BATCH_JOB or job.startswith(SERVED_JOB_PREFIX)


def previous_window_end(
    end: pd.Timestamp | str, metrics_db: Path | None = None
) -> pd.Timestamp | None:
    """The latest recorded window end of the churn series strictly before `end`, if any."""
    table = read_metrics(metrics_db)
    if table.empty:
        return None
    ends = pd.to_datetime(table.loc[table["job"].map(is_window_job), "window_end"])
    earlier = ends[ends < pd.Timestamp(end)]
    return None if earlier.empty else pd.Timestamp(earlier.max())


TODAY = "today"  # an `as_of` resolved when the run starts: a scheduled run's window moves on


def resolve_as_of(as_of: str) -> str:
    """`as_of` as a date: the given one, or the UTC date the run starts for `today`.

    A schedule fixes a pipeline's parameters when it is created, so a scheduled monitoring
    run names `today` to monitor the window that ends when it runs, not the same one again.

    Raises:
        DataError: If `as_of` is neither a date nor `today`.
    """
    if as_of == TODAY:
        return str(now_utc().date())
    try:
        return str(pd.Timestamp(as_of).date())
    except ValueError as exc:
        raise DataError(f"as_of must be a date (YYYY-MM-DD) or {TODAY!r}, got {as_of!r}") from exc


def window_bounds(
    as_of: pd.Timestamp | str,
    window_days: int = WINDOW_DAYS,
    previous_end: pd.Timestamp | None = None,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end): end = `as_of`; start = `previous_end` if it is earlier, else end - days.

    Raises:
        DataError: If `window_days` is not positive.
    """
    if window_days < 1:
        raise DataError(f"window_days must be at least 1, got {window_days}")
    end = pd.Timestamp(as_of)
    if previous_end is not None and pd.Timestamp(previous_end) < end:
        return pd.Timestamp(previous_end), end
    return end - pd.Timedelta(days=window_days), end


# --- gathering the window's scores ----------------------------------------------------------


def predictions_db_path(predictions_dir: str | Path = "") -> Path:
    """`<dir>/predictions.duckdb`; the default folder is `<state>/predictions`."""
    folder = Path(predictions_dir) if str(predictions_dir) else state_dir() / "predictions"
    return folder / "predictions.duckdb"


def churn_log_dir(log_dir: str | Path = "") -> Path:
    """The churn service's predictions log folder (`<state>/serving/predictions/churn`)."""
    return Path(log_dir) if str(log_dir) else state_dir() / "serving" / "predictions" / "churn"


def _batch_frame(rows: pd.DataFrame | None = None) -> pd.DataFrame:
    columns = ["customer_id", "cutoff", PREDICTION, "model_version", "run_id", "scored_at"]
    frame = pd.DataFrame(columns=columns) if rows is None else rows[columns].copy()
    return frame.astype(
        {
            "customer_id": str,
            "cutoff": "datetime64[ns]",
            PREDICTION: float,
            "model_version": str,
            "run_id": str,
            "scored_at": "datetime64[ns]",
        }
    )


def read_batch_predictions(
    db: Path, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, str]:
    """Batch scores with `start <= cutoff < end`, one per (customer, cutoff, model version).

    Returns:
        The rows (model_version as str) and a one-line account of what the table holds,
        for the message of an empty window.

    Raises:
        InfraError: If the database cannot be opened (another process is writing it).
    """
    import duckdb

    if not db.exists():
        return _batch_frame(), f"no batch predictions database at {db}"
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise InfraError(f"cannot open {db} to read batch predictions: {exc}") from exc
    with con:
        found = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
            [PREDICTIONS_TABLE],
        ).fetchone()
        if not found or not found[0]:
            return _batch_frame(), f"{db} has no table {PREDICTIONS_TABLE}"
        total, first, last = con.execute(
            f"SELECT count(*), min(cutoff), max(cutoff) FROM {PREDICTIONS_TABLE}"
        ).fetchone() or (0, None, None)
        rows = con.execute(
            f"SELECT * FROM {PREDICTIONS_TABLE} WHERE cutoff >= ? AND cutoff < ?",
            [start.to_pydatetime(), end.to_pydatetime()],
        ).df()
    held = f"{PREDICTIONS_TABLE} in {db} has {total} rows"
    if total:
        held += f" with cutoffs {pd.Timestamp(first):%Y-%m-%d}..{pd.Timestamp(last):%Y-%m-%d}"
    frame = _batch_frame(rows).sort_values(["scored_at", "run_id"], kind="stable")
    frame = frame.drop_duplicates(BATCH_KEY, keep="last")  # a re-scored row counts once
    return frame.sort_values(BATCH_KEY, ignore_index=True), held


def read_served_predictions(
    folder: Path, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[pd.DataFrame, list[QuarantinedPart]]:
    """Logged scores with `start <= timestamp < end`, and the parts that could not be read.

    The rows have the log's columns, then the `FEATURE_COLUMNS` the log holds (float, NaN in
    rows logged without features); none of them when no part of the log recorded features.
    """
    log, bad = read_log_safe(folder)
    stamps = pd.to_datetime(log["timestamp"])
    rows = log[(stamps >= start) & (stamps < end)].copy()
    rows["timestamp"] = pd.to_datetime(rows["timestamp"])
    rows["as_of"] = pd.to_datetime(rows["as_of"])
    features = [c for c in FEATURE_COLUMNS if c in rows.columns]
    rows = rows.astype(
        {
            "entity_id": str,
            "variant": str,
            "model_version": str,
            "score": float,
            **dict.fromkeys(features, float),
        }
    )
    return rows[LOG_COLUMNS + features].sort_values("timestamp", ignore_index=True), bad


@dataclass
class WindowData:
    """A window's bounds and the scores that fall into it, before any figure is computed."""

    start: pd.Timestamp
    end: pd.Timestamp
    batch: pd.DataFrame
    served: pd.DataFrame
    quarantined: list[QuarantinedPart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    horizon_days: int | None = None

    def info(self) -> dict[str, Any]:
        """The bounds, counts, horizon, notes and unreadable log parts as JSON-able values."""
        return {
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
            "horizon_days": self.horizon_days,
            "batch_rows": len(self.batch),
            "served_rows": len(self.served),
            "quarantined": [{"path": str(q.path), "reason": q.reason} for q in self.quarantined],
            "notes": list(self.notes),
        }

    @classmethod
    def from_info(
        cls, info: Mapping[str, Any], batch: pd.DataFrame, served: pd.DataFrame
    ) -> WindowData:
        """Rebuild from `info()` and the two frames (what the gathering step hands on)."""
        return cls(
            start=pd.Timestamp(info["window_start"]),
            end=pd.Timestamp(info["window_end"]),
            batch=batch,
            served=served,
            quarantined=[
                QuarantinedPart(Path(q["path"]), q["reason"]) for q in info["quarantined"]
            ],
            notes=list(info.get("notes", [])),
            horizon_days=info.get("horizon_days"),
        )


def gather_window(
    as_of: pd.Timestamp | str,
    window_days: int = WINDOW_DAYS,
    *,
    predictions_db: Path | None = None,
    log_dir: Path | None = None,
    metrics_db: Path | None = None,
) -> WindowData:
    """The window ending at `as_of` and every batch and served score in it.

    Args:
        as_of: The window's (exclusive) end.
        window_days: Its length when no earlier window is recorded.
        predictions_db: The batch predictions database (default `predictions_db_path()`).
        log_dir: The churn service's log (default `churn_log_dir()`).
        metrics_db: Where earlier windows are recorded (default `metrics_db_path()`).

    Raises:
        DataError: If neither source has a score in the window (one line: the window, what
            the table holds and what the log holds).
    """
    start, end = window_bounds(as_of, window_days, previous_window_end(as_of, metrics_db))
    db = predictions_db or predictions_db_path()
    folder = log_dir or churn_log_dir()
    batch, held = read_batch_predictions(db, start, end)
    served, bad = read_served_predictions(folder, start, end)
    notes = [f"{len(bad)} unreadable part(s) of the predictions log left out"] if bad else []
    if batch.empty and served.empty:
        raise DataError(
            f"no predictions in the window [{start:%Y-%m-%d}, {end:%Y-%m-%d}): {held}, and the "
            f"predictions log ({folder}) has none in it; score the window first "
            "(churn_batch_inference with a cutoff in it) or pick another as_of"
        )
    return WindowData(start, end, batch, served, bad, notes)


# --- figures ------------------------------------------------------------------------------------


@dataclass
class Segment:
    """The figures of one (source, variant, model version) of a window, with their statuses."""

    source: str
    variant: str
    model_version: str
    run_id: str
    n_rows: int
    prediction: dict[str, float]
    feature_drift_status: str = SKIPPED
    feature_drift_reason: str = ""
    feature_drift: dict[str, float] | None = None
    performance_status: str = SKIPPED
    performance_reason: str = ""
    performance: dict[str, float] | None = None

    @property
    def job(self) -> str:
        """The segment's series name."""
        return segment_job(self.source, self.variant)

    @property
    def key(self) -> str:
        """`<job>/v<model version>`: unique within a window."""
        return f"{self.job}/v{self.model_version}"

    def figures(self) -> dict[str, float]:
        """Every figure of the segment by metric name (the rows of `monitoring_metrics`)."""
        out = {
            "n_predictions": float(self.n_rows),
            "prediction_ks": self.prediction["ks_statistic"],
            "prediction_ks_pvalue": self.prediction["ks_pvalue"],
            "prediction_mean": self.prediction["current_mean"],
            "reference_prediction_mean": self.prediction["reference_mean"],
        }
        out.update(self.feature_drift or {})
        out.update(self.performance or {})
        return out


@dataclass
class WindowResult:
    """A window's figures per segment, and why some were not computed."""

    window_start: pd.Timestamp
    window_end: pd.Timestamp
    horizon_days: int
    data_end: pd.Timestamp
    matured: bool
    segments: list[Segment]
    skipped: dict[str, str] = field(default_factory=dict)  # source -> why it has no segment
    quarantined: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (timestamps as ISO strings): what the evaluation step hands on."""
        doc = asdict(self)
        for key in ("window_start", "window_end", "data_end"):
            doc[key] = pd.Timestamp(doc[key]).isoformat()
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> WindowResult:
        """The inverse of `to_dict`."""
        values = dict(doc)
        for key in ("window_start", "window_end", "data_end"):
            values[key] = pd.Timestamp(values[key])
        values["segments"] = [Segment(**s) for s in values["segments"]]
        return cls(**values)

    def metric_rows(self) -> list[MetricRow]:
        """One `MetricRow` per figure of every segment, stamped now."""
        rows: list[MetricRow] = []
        for s in self.segments:
            rows += metric_rows(
                s.figures(),
                window_start=self.window_start,
                window_end=self.window_end,
                job=s.job,
                source=s.source,
                variant=s.variant,
                model_version=s.model_version,
                run_id=s.run_id,
            )
        return rows

    def metadata(self) -> dict[str, Any]:
        """The window and each segment's figures and statuses, for a run's metadata."""
        out: dict[str, Any] = {
            "window": {
                "start": self.window_start.isoformat(),
                "end": self.window_end.isoformat(),
                "horizon_days": self.horizon_days,
                "data_end": self.data_end.isoformat(),
                "matured": self.matured,
                "segments": [s.key for s in self.segments],
                **({"skipped": dict(self.skipped)} if self.skipped else {}),
                **({"quarantined_log_parts": len(self.quarantined)} if self.quarantined else {}),
            }
        }
        for s in self.segments:
            out[s.key] = {
                **s.figures(),
                "feature_drift": s.feature_drift_status,
                "performance": s.performance_status,
            }
        return out


@dataclass
class WindowEvaluation:
    """A window's result and one Evidently snapshot per segment (by `Segment.key`)."""

    result: WindowResult
    snapshots: dict[str, Snapshot]


_NO_LOGGED_FEATURES = (
    "the predictions log records scores, not the features they were computed from, for these "
    "rows (parts written before features were logged)"
)


def _logged_features(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The served rows' logged features (rows with at least one value), or why there are none."""
    missing = [c for c in FEATURE_COLUMNS if c not in rows.columns]
    if len(missing) == len(FEATURE_COLUMNS):
        return rows.iloc[:0], _NO_LOGGED_FEATURES
    if missing:
        return rows.iloc[:0], f"the predictions log lacks feature column(s): {', '.join(missing)}"
    values = rows[FEATURE_COLUMNS]
    current = values[values.notna().any(axis=1)]
    return current, "" if len(current) else _NO_LOGGED_FEATURES


def _feature_drift(
    segment: Segment,
    current: pd.DataFrame,
    reason: str,
    reference: pd.DataFrame,
    drift: DriftReportParams,
) -> Snapshot | None:
    """Fill the segment's feature drift from `current` (its rows' features); return the report.

    With no current rows the drift is skipped with `reason`.
    """
    if current.empty:
        segment.feature_drift_reason = reason
        return None
    snapshot, summary = run_drift_report(
        reference,
        current,
        list(FEATURE_COLUMNS),
        drift.method,
        drift.threshold,
        drift.max_reference_rows,
    )
    segment.feature_drift_status = MEASURED
    segment.feature_drift = {
        "drift_share": float(summary["drift_share"]),
        "drifted_columns": float(summary["drifted_columns"]),
        "n_columns": float(summary["n_columns"]),
    }
    return snapshot


def _performance(
    segment: Segment,
    scores: pd.DataFrame,
    lines: pd.DataFrame,
    horizon_days: int,
    matured: bool,
    id_column: str,
    as_of_column: str,
) -> pd.Series | None:
    """Fill the segment's performance (if the window matured); return the outcomes used."""
    if not matured:
        segment.performance_status = NOT_MATURE
        segment.performance_reason = (
            f"outcomes of this window are known once the lines reach its end + {horizon_days} days"
        )
        return None
    if scores.empty:
        segment.performance_reason = "no score with the time of its features (as_of)"
        return None
    outcomes = window_outcomes(scores, lines, horizon_days, id_column, as_of_column)
    try:
        figures = performance_metrics(outcomes.to_numpy(), scores[PREDICTION].to_numpy())
    except DataError as exc:  # one outcome only: AUCs are undefined
        segment.performance_reason = str(exc)
        return None
    figures["n_outcomes"] = figures.pop("n")
    segment.performance_status = MEASURED
    segment.performance = figures
    return outcomes


def evaluate_window(
    data: WindowData,
    lines: pd.DataFrame,
    reference_features: pd.DataFrame,
    reference_predictions: pd.DataFrame,
    horizon_days: int,
    drift: DriftReportParams | None = None,
) -> WindowEvaluation:
    """Drift, prediction KS and (once matured) performance of every segment of the window.

    Args:
        data: The window and its scores (`gather_window`).
        lines: Clean invoice lines: the features of batch rows and every outcome come from them.
        reference_features: The champion's training features.
        reference_predictions: The champion's scores on its training rows (`churn_probability`).
        horizon_days: The champion's churn horizon.
        drift: How feature drift is measured.

    Returns:
        The result and one Evidently snapshot per segment.

    Raises:
        DataError: If the reference lacks columns, or a source's frame lacks its columns.
    """
    drift = drift or DriftReportParams()
    data_end = pd.Timestamp(pd.to_datetime(lines["invoice_date"]).max())
    matured = window_matured(data.end, data_end, horizon_days)
    reference = reference_predictions[PREDICTION].to_numpy(dtype=float)
    result = WindowResult(
        data.start,
        data.end,
        int(horizon_days),
        data_end,
        matured,
        [],
        quarantined=[{"path": str(q.path), "reason": q.reason} for q in data.quarantined],
        notes=list(data.notes),
    )
    snapshots: dict[str, Snapshot] = {}

    def add(
        segment: Segment,
        scores: pd.DataFrame,
        drift_report: Snapshot | None,
        judged: pd.DataFrame | None = None,
        outcomes: pd.Series | None = None,
    ) -> None:
        """Keep the segment and its snapshot: feature drift, the KS of `scores`, performance.

        `judged` are the rows with `outcomes`; when they are `scores` themselves (batch), one
        report holds the KS and the performance, else (served) each has its own.
        """
        reports = [drift_report] if drift_report is not None else []
        current = scores[[PREDICTION]].reset_index(drop=True)
        rated = None
        if judged is not None and outcomes is not None:
            rated = judged[[PREDICTION]].reset_index(drop=True)
            rated[TARGET] = outcomes.to_numpy()
            if judged is scores:
                current, rated = rated, None
        reports.append(prediction_report(current, reference_predictions[[PREDICTION]]))
        if rated is not None:
            reports.append(prediction_report(rated))
        result.segments.append(segment)
        snapshots[segment.key] = merge_snapshots(reports)

    # --- batch: features recomputed for the rows' (customer, cutoff) ---
    if data.batch.empty:
        result.skipped[BATCH] = "no batch predictions in the window"
    else:
        batch = data.batch
        cutoffs = sorted(pd.to_datetime(batch["cutoff"]).unique())
        features = customer_feature_snapshots(lines, cutoffs)
        for version, rows in batch.groupby("model_version", sort=True):
            rows = rows.reset_index(drop=True)
            segment = Segment(
                BATCH,
                BATCH_VARIANT,
                str(version),
                ",".join(sorted(rows["run_id"].unique())),
                len(rows),
                prediction_ks(reference, rows[PREDICTION].to_numpy(dtype=float)),
            )
            current = rows[["customer_id", "cutoff"]].merge(
                features, on=["customer_id", "cutoff"], how="inner", validate="many_to_one"
            )
            report = _feature_drift(
                segment,
                current,
                "no features recomputed for the segment's customers",
                reference_features,
                drift,
            )
            outcomes = _performance(
                segment, rows, lines, horizon_days, matured, "customer_id", "cutoff"
            )
            add(segment, rows, report, rows, outcomes)

    # --- served: the log's scores and the features they were scored on; outcomes per
    # (customer, as_of) ---
    if data.served.empty:
        result.skipped[SERVED] = "no served predictions in the window"
    else:
        served = data.served.rename(columns={"score": PREDICTION})
        for (variant, version), rows in served.groupby(["variant", "model_version"], sort=True):
            rows = rows.reset_index(drop=True)
            segment = Segment(
                SERVED,
                str(variant),
                str(version),
                LOG_RUN_ID,
                len(rows),
                prediction_ks(reference, rows[PREDICTION].to_numpy(dtype=float)),
            )
            current, reason = _logged_features(rows)
            report = _feature_drift(segment, current, reason, reference_features, drift)
            if report is not None and len(current) < len(rows):
                result.notes.append(
                    f"{segment.key}: feature drift on the {len(current)} of {len(rows)} rows "
                    "logged with features"
                )
            # one outcome per (customer, as_of): a repeated request is not another customer
            judged = rows[rows["as_of"].notna() & (rows["as_of"] < data.end)]
            judged = judged.drop_duplicates(["entity_id", "as_of"], keep="last")
            outcomes = _performance(
                segment, judged, lines, horizon_days, matured, "entity_id", "as_of"
            )
            add(segment, rows, report, judged, outcomes)  # KS on every score, outcomes on judged
    return WindowEvaluation(result, snapshots)


# --- recording ----------------------------------------------------------------------------------


def dump_snapshot(snapshot: Snapshot) -> str:
    """A snapshot as JSON text (how it travels between steps)."""
    return str(snapshot.dumps())


def load_snapshot(text: str) -> Snapshot:
    """The inverse of `dump_snapshot`."""
    import json

    from evidently.core.report import Snapshot

    return Snapshot.load_dict(json.loads(text))


@dataclass(frozen=True)
class RecordedWindow:
    """Where a window was recorded: rows written, and the snapshot id of each segment."""

    rows: int
    snapshot_ids: dict[str, str]
    metrics_db: Path
    workspace: Path


def record_window(
    result: WindowResult,
    snapshots: Mapping[str, Snapshot],
    *,
    metrics_db: Path | None = None,
    workspace_dir: Path | None = None,
    monitor_run_id: str = "",
) -> RecordedWindow:
    """Write the window's rows to `monitoring_metrics` and its snapshots to the Evidently project.

    A re-run of the same window replaces both: the rows of the same (job, window end, scoring
    runs), the snapshot of the same (job, window end, model version). `add_window` rebuilds
    the project's dashboard after each snapshot.

    Raises:
        DataError: If a segment has no snapshot.
    """
    missing = [s.key for s in result.segments if s.key not in snapshots]
    if missing:
        raise DataError(f"no Evidently snapshot for segment(s) {', '.join(missing)}")
    db = metrics_db or metrics_db_path()
    rows = write_metrics(result.metric_rows(), db)
    folder = workspace_dir or workspace_path()
    workspace = open_workspace(folder)
    project = get_or_create_project(
        workspace,
        PROJECT_NAME,
        description="Churn model windows: feature and prediction drift, and performance once "
        "outcomes are known",
    )
    ids = {}
    for s in result.segments:
        ids[s.key] = add_window(
            workspace,
            project.id,
            [snapshots[s.key]],
            job=s.job,
            window_start=result.window_start,
            window_end=result.window_end,
            model_version=s.model_version,
            run_id=s.run_id,
            source=s.source,
            extra_metadata={
                "variant": s.variant,
                "performance": s.performance_status,
                "monitor_run_id": monitor_run_id,
            },
        )
    return RecordedWindow(rows, ids, db, folder)


def report_html(snapshots: Mapping[str, Snapshot]) -> str:
    """One HTML page of the window's reports: the report itself if one, else one frame each.

    Each Evidently page carries its own script bundle (about 4 MB), so several are framed
    (`srcdoc`) under a heading each rather than merged into one page.

    Raises:
        DataError: If there is no snapshot.
    """
    if not snapshots:
        raise DataError("no report to show: the window has no segment")
    pages = {key: s.get_html_str(as_iframe=False) for key, s in snapshots.items()}
    if len(pages) == 1:
        return next(iter(pages.values()))
    parts = [
        f"<h2>{html.escape(key)}</h2>\n"
        f'<iframe srcdoc="{html.escape(page, quote=True)}" '
        'style="width:100%;height:1200px;border:0"></iframe>'
        for key, page in pages.items()
    ]
    return "<!doctype html><html><body>\n" + "\n".join(parts) + "\n</body></html>"


# --- the gate -----------------------------------------------------------------------------------


@dataclass
class WindowDecision:
    """The window's action (the most severe segment's), its reasons, and the alerts to send."""

    action: Action
    reasons: list[str]
    segments: dict[str, Decision]
    alerts: list[Alert]
    notes: list[str] = field(default_factory=list)
    window_end: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the gate's output artifact."""
        return {
            "action": self.action,
            "reasons": list(self.reasons),
            "window_end": self.window_end,
            "segments": {
                k: {
                    "action": d.action,
                    "reasons": d.reasons,
                    "figures": d.figures,
                    "checked": d.checked,
                }
                for k, d in self.segments.items()
            },
            "alerts": [asdict(a) for a in self.alerts],
            "notes": list(self.notes),
        }


def champion_test_figures(metadata: Mapping[str, Any]) -> dict[str, float] | None:
    """`roc_auc` and `brier` of a model version's test set from its metadata (`test_<metric>`)."""
    try:
        return {k: float(metadata[f"test_{k}"]) for k in ("roc_auc", "brier")}
    except (KeyError, TypeError, ValueError):
        return None


def gate_window(
    result: WindowResult,
    params: WindowGateParams,
    champion: Mapping[str, Mapping[str, float] | None],
    state: AlertState,
) -> WindowDecision:
    """Decide every segment with the monitoring gate; fold the decisions into `state`.

    Args:
        result: The evaluated window.
        params: The limits.
        champion: Test figures (`roc_auc`, `brier`) by model version; a version missing here
            has its performance shown but not judged (noted).
        state: The alert state; updated in place (the caller saves it once the alerts are out).

    Returns:
        The window's action and reasons, each segment's decision, and the alerts to send.
    """
    limits = params.monitoring()
    end = result.window_end.isoformat()
    decision = WindowDecision("ok", [], {}, [], window_end=end)
    for s in result.segments:
        baseline = champion.get(s.model_version)
        performance = s.performance
        if performance is not None and baseline is None:
            decision.notes.append(
                f"{s.key}: no test figures for model v{s.model_version}: performance not judged"
            )
            performance = None
        d = decide(
            limits,
            drift_share=(s.feature_drift or {}).get("drift_share"),
            prediction_ks=s.prediction["ks_statistic"],
            performance=performance,
            champion=baseline if performance is not None else None,
        )
        decision.segments[s.key] = d
        decision.reasons += [f"{s.key}: {r}" for r in d.reasons]
        if LEVELS[d.action] > LEVELS[decision.action]:
            decision.action = d.action
        decision.alerts += state.update(s.job, d, result.window_end, params.worse_margin)
    return decision
