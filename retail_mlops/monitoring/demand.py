"""Demand monitoring: the forecasts a past demand_forecasting run served, against what sold.

A forecasting run made on the data up to some day forecasts the next open days; once those
days have passed, the invoice lines hold what really sold. `window_rows` lines the two up (one
row per item and forecast day that the shop traded, the item's seasonal-naive forecast of the
same day from the same history beside it), and the figures are cut the ways a planner reads
them, never one snapshot per item (Evidently's UI slows down at thousands of reports):

- `all`, then per horizon bucket (open days ahead: 1-7, 8-14, 15-28) and per ABC class of
  items (by revenue before the forecast, so the class never knows the days it judges);
- WAPE, MASE and bias of the served forecast, the naive forecast's WAPE and bias on the same
  rows, and forecast value added (FVA = 1 - WAPE / naive WAPE: what the models add over the
  forecast a sceptic makes in one line);
- the inventory side: each item's recommended (reorder point, order quantity) replayed on its
  actual demand over the window (`inventory.policy.replay`): fill rate and stock-out days.

A forecast day on which the shop did not trade at all (a closed day the open calendar did not
foresee) has no actual to judge; such days are counted, not scored. Plain code: the pipeline's
steps and the tests share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from retail_mlops.config import Params
from retail_mlops.errors import DataError
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.metrics import metric_table, naive_scale
from retail_mlops.forecasting.naive import seasonal_naive
from retail_mlops.inventory.policy import abc_classes, replay
from retail_mlops.monitoring.gate import Alert, AlertState, Decision, MonitoringGateParams, decide
from retail_mlops.monitoring.history import (
    MetricRow,
    PanelSpec,
    add_window,
    get_or_create_project,
    metric_rows,
    metrics_db_path,
    open_workspace,
    workspace_path,
    write_metrics,
)
from retail_mlops.monitoring.window import RecordedWindow

if TYPE_CHECKING:
    from evidently.core.report import Snapshot

JOB = "demand_forecast"
PROJECT_NAME = "demand_monitoring"
SOURCE = "served_forecast"  # what is monitored: the forecast tables a run served
# (first, last open day ahead, label); a forecast further ahead falls in "29+"
HORIZON_BUCKETS: tuple[tuple[int, int, str], ...] = (
    (1, 7, "1-7"),
    (8, 14, "8-14"),
    (15, 28, "15-28"),
)
ALL = "all"
ACCURACY = ("wape", "mase", "bias", "naive_wape", "naive_bias", "fva", "units", "rows")
INVENTORY = ("fill_rate", "stockout_days", "stockout_item_share", "items")
ACCURACY_INPUTS = ["horizon", "abc_class", "y", "yhat", "naive", "scale"]
ROW_COLUMNS = ["stock_code", "ds", "step", "horizon", "abc_class", "y", "yhat", "naive", "scale"]


def horizon_bucket(step: np.ndarray | pd.Series) -> np.ndarray:
    """Each forecast step's bucket label (`1-7`, `8-14`, `15-28`, else `29+`)."""
    steps = np.asarray(step)
    labels = np.full(steps.shape, f"{HORIZON_BUCKETS[-1][1] + 1}+", dtype=object)
    for lo, hi, label in HORIZON_BUCKETS:
        labels[(steps >= lo) & (steps <= hi)] = label
    return labels


def segment_names(rows: pd.DataFrame) -> list[str]:
    """The segments a window is cut into, in reading order: all, horizons, ABC classes."""
    horizons = [h for _, _, h in HORIZON_BUCKETS if h in set(rows["horizon"])]
    horizons += sorted(set(rows["horizon"]) - {h for _, _, h in HORIZON_BUCKETS})
    return [ALL, *(f"horizon {h}" for h in horizons)] + [
        f"abc {c}" for c in sorted(set(rows["abc_class"]))
    ]


def segment_mask(frame: pd.DataFrame, segment: str) -> pd.Series:
    """Rows of `segment` (`all`, `horizon 1-7`, `abc A`...) in the rows or the item replay.

    The replay has one row per item and no horizon: horizon buckets cut days, not items, so a
    frame without the segment's column has none of its rows.
    """
    if segment == ALL:
        return pd.Series(True, index=frame.index)
    kind, _, value = segment.partition(" ")
    column = {"horizon": "horizon", "abc": "abc_class"}.get(kind)
    if column is None or not value:
        raise DataError(f"unknown demand segment {segment!r}")
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column] == value


@dataclass(frozen=True)
class WindowRows:
    """The lined-up rows of a window and what framed them."""

    rows: pd.DataFrame
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    closed_days: int
    pending_days: int

    def info(self) -> dict[str, Any]:
        """JSON-able facts about the window (run metadata)."""
        return {
            "window_start": str(self.window_start.date()),
            "window_end": str(self.window_end.date()),
            "rows": len(self.rows),
            "items": int(self.rows["stock_code"].nunique()),
            "closed_days": self.closed_days,
            "pending_days": self.pending_days,
        }


def window_rows(
    forecast: pd.DataFrame, demand: pd.DataFrame, as_of: str | pd.Timestamp
) -> WindowRows:
    """One row per item and forecast day with actual sales known before `as_of`.

    The history (naive forecast, MASE scale, ABC class) is `demand` before the forecast's
    first day: what the forecasting run knew. Actuals are `demand` on the forecast days: an
    item listed but not sold that day counts 0.

    Args:
        forecast: stock_code, ds, yhat (a run's `demand_forecast`).
        demand: Daily demand (stock_code, ds, y, price) covering the history and the window.
        as_of: Days on or after it are not known yet.

    Returns:
        The rows (`ROW_COLUMNS`) and the window's bounds: from the first forecast day to the
        day after the last judged one.

    Raises:
        DataError: If a column is missing or no forecast day has its actuals yet.
    """
    for name, frame, cols in (
        ("forecast", forecast, ("stock_code", "ds", "yhat")),
        ("demand", demand, ("stock_code", "ds", "y", "price")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(f"the {name} lacks column(s) {', '.join(missing)}")
    fc = forecast[["stock_code", "ds", "yhat"]].copy()
    fc["stock_code"] = fc["stock_code"].astype(str)
    fc["ds"] = pd.to_datetime(fc["ds"])
    fc = fc.sort_values(["stock_code", "ds"], ignore_index=True)
    fc["step"] = fc.groupby("stock_code").cumcount() + 1
    first = fc["ds"].min()
    cut = pd.Timestamp(as_of)
    history = demand[demand["ds"] < first]
    later = demand[(demand["ds"] >= first) & (demand["ds"] < cut)]
    traded = set(later["ds"].unique())
    known_until = later["ds"].max() if len(later) else first - pd.Timedelta(days=1)
    due = fc["ds"] <= known_until
    judged = due & fc["ds"].isin(traded)
    closed = int(fc.loc[due & ~judged, "ds"].nunique())
    pending = int(fc.loc[~due, "ds"].nunique())
    if not judged.any():
        raise DataError(
            f"no forecast day from {first.date()} has actual sales before {cut.date()}: "
            "the forecast is too recent to judge"
        )
    rows = fc[judged].reset_index(drop=True)
    actual = later.set_index(["stock_code", "ds"])["y"]
    rows["y"] = actual.reindex(pd.MultiIndex.from_frame(rows[["stock_code", "ds"]])).to_numpy()
    rows["y"] = rows["y"].fillna(0.0)

    panel = Panel.from_long(history[history["stock_code"].isin(set(rows["stock_code"]))])
    days = pd.DatetimeIndex(sorted(rows["ds"].unique()))
    naive = pd.DataFrame(
        seasonal_naive(panel.y, panel.dates, days), index=panel.skus, columns=days
    ).stack()
    scale = pd.Series(naive_scale(panel.y, panel.dates), index=panel.skus)
    keys = pd.MultiIndex.from_frame(rows[["stock_code", "ds"]])
    rows["naive"] = naive.reindex(keys).fillna(0.0).to_numpy()  # not listed before: naive 0
    rows["scale"] = scale.reindex(rows["stock_code"]).to_numpy()
    rows["horizon"] = horizon_bucket(rows["step"])
    rows["abc_class"] = abc_classes(history).reindex(rows["stock_code"]).fillna("C").to_numpy()
    end = rows["ds"].max() + pd.Timedelta(days=1)
    return WindowRows(rows[ROW_COLUMNS], first, end, closed, pending)


def accuracy_figures(rows: pd.DataFrame) -> dict[str, float]:
    """WAPE, MASE, bias of the served forecast and of seasonal naive on `rows`, and FVA."""
    if rows.empty:
        return {}
    pred = pd.concat(
        [
            rows.assign(model="served"),
            rows.assign(model="naive", yhat=rows["naive"]),
        ],
        ignore_index=True,
    )
    table = metric_table(pred, ["model"]).set_index("model")
    served, naive = table.loc["served"], table.loc["naive"]
    fva = 1 - served["wape"] / naive["wape"] if naive["wape"] > 0 else float("nan")
    return {
        "wape": float(served["wape"]),
        "mase": float(served["mase"]),
        "bias": float(served["bias"]),
        "naive_wape": float(naive["wape"]),
        "naive_bias": float(naive["bias"]),
        "fva": float(fva),
        "units": float(served["units"]),
        "rows": float(len(rows)),
    }


def item_replay(
    rows: pd.DataFrame, recommendations: pd.DataFrame, lead_time_days: float
) -> pd.DataFrame:
    """Each recommended item's (reorder point, order quantity) replayed on its actual demand.

    Returns:
        stock_code, abc_class, demanded, served, fill_rate, stockout_days; items the
        recommendations do not cover are left out (they were not stocked by this policy).
    """
    missing = [
        c for c in ("stock_code", "reorder_point", "order_quantity") if c not in recommendations
    ]
    if missing:
        raise DataError(f"the inventory recommendations lack column(s) {', '.join(missing)}")
    recs = recommendations.assign(stock_code=recommendations["stock_code"].astype(str))
    recs = recs.set_index("stock_code")
    out = []
    for code, g in rows.sort_values("ds").groupby("stock_code", sort=True):
        if code not in recs.index:
            continue
        rec = recs.loc[code]
        result = replay(
            g["y"].to_numpy(),
            float(rec["reorder_point"]),
            float(rec["order_quantity"]),
            round(lead_time_days),
        )
        demanded = float(g["y"].sum())
        out.append(
            {
                "stock_code": code,
                "abc_class": g["abc_class"].iloc[0],
                "demanded": demanded,
                "served": result["fill_rate"] * demanded,
                "fill_rate": result["fill_rate"],
                "stockout_days": result["stockout_days"],
            }
        )
    columns = ["stock_code", "abc_class", "demanded", "served", "fill_rate", "stockout_days"]
    return pd.DataFrame(out, columns=columns)


def inventory_figures(replayed: pd.DataFrame) -> dict[str, float]:
    """Units-weighted fill rate, stock-out days and the share of items that ran out."""
    if replayed.empty:
        return {}
    demanded = float(replayed["demanded"].sum())
    return {
        "fill_rate": float(replayed["served"].sum() / demanded) if demanded > 0 else 1.0,
        "stockout_days": float(replayed["stockout_days"].sum()),
        "stockout_item_share": float((replayed["stockout_days"] > 0).mean()),
        "items": float(len(replayed)),
    }


@dataclass
class DemandWindow:
    """One monitored forecast: its bounds, the run that served it, and figures per segment."""

    window_start: pd.Timestamp
    window_end: pd.Timestamp
    run_id: str
    model_version: str
    segments: dict[str, dict[str, float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the evaluation step's output artifact."""
        return {
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "run_id": self.run_id,
            "model_version": self.model_version,
            "segments": {k: dict(v) for k, v in self.segments.items()},
            "info": dict(self.info),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DemandWindow:
        """The inverse of `to_dict`."""
        return cls(
            pd.Timestamp(doc["window_start"]),
            pd.Timestamp(doc["window_end"]),
            str(doc["run_id"]),
            str(doc["model_version"]),
            {k: dict(v) for k, v in doc["segments"].items()},
            dict(doc.get("info", {})),
        )

    def metric_rows(self) -> list[MetricRow]:
        """One `monitoring_metrics` row per segment and figure (the segment is the variant)."""
        rows: list[MetricRow] = []
        for segment, figures in self.segments.items():
            rows += metric_rows(
                {k: v for k, v in figures.items() if v == v},  # NaN: not measurable, no row
                window_start=self.window_start,
                window_end=self.window_end,
                job=JOB,
                source=SOURCE,
                variant=segment,
                model_version=self.model_version,
                run_id=self.run_id,
            )
        return rows

    def metadata(self) -> dict[str, Any]:
        """The headline figures for the ZenML run."""
        return {
            "demand_window": {
                **self.info,
                "forecast_run": self.run_id,
                "model_version": self.model_version,
                **self.segments.get(ALL, {}),
            }
        }


def evaluate_demand_window(
    forecast: pd.DataFrame,
    recommendations: pd.DataFrame,
    demand: pd.DataFrame,
    as_of: str | pd.Timestamp,
    *,
    run_id: str,
    model_version: str,
    lead_time_days: float,
) -> tuple[DemandWindow, pd.DataFrame, pd.DataFrame]:
    """Judge one served forecast on the actuals known before `as_of`.

    Returns:
        The window's figures per segment, the lined-up rows and the per-item replay (the
        current data of the window's Evidently report).
    """
    framed = window_rows(forecast, demand, as_of)
    replayed = item_replay(framed.rows, recommendations, lead_time_days)
    window = DemandWindow(framed.window_start, framed.window_end, run_id, model_version)
    window.info = framed.info()
    for segment in segment_names(framed.rows):
        figures = accuracy_figures(framed.rows[segment_mask(framed.rows, segment)])
        figures |= inventory_figures(replayed[segment_mask(replayed, segment)])
        window.segments[segment] = figures
    return window, framed.rows, replayed


def segment_figure(frame: pd.DataFrame, segment: str, figure: str) -> float:
    """One figure of one segment: accuracy from the rows, inventory from the item replay.

    How the window's Evidently metric computes its value from the report's own data, so the
    workspace holds figures Evidently computed, not copies of ours.
    """
    if figure in ACCURACY:
        return accuracy_figures(frame[segment_mask(frame, segment)]).get(figure, float("nan"))
    if figure in INVENTORY:
        return inventory_figures(frame[segment_mask(frame, segment)]).get(figure, float("nan"))
    raise DataError(f"unknown demand figure {figure!r}")


# (tab, title, metric type, labels): one line per forecasting model version in each panel
PANELS: tuple[PanelSpec, ...] = (
    ("Accuracy", "WAPE (all items)", "DemandFigure", {"figure": "wape", "segment": ALL}),
    ("Accuracy", "Seasonal-naive WAPE", "DemandFigure", {"figure": "naive_wape", "segment": ALL}),
    ("Accuracy", "Forecast value added", "DemandFigure", {"figure": "fva", "segment": ALL}),
    ("Accuracy", "Bias", "DemandFigure", {"figure": "bias", "segment": ALL}),
    ("Accuracy", "MASE", "DemandFigure", {"figure": "mase", "segment": ALL}),
    *(
        (
            "Horizons",
            f"WAPE, {label} open days ahead",
            "DemandFigure",
            {"figure": "wape", "segment": f"horizon {label}"},
        )
        for _, _, label in HORIZON_BUCKETS
    ),
    *(
        (
            "ABC classes",
            f"WAPE, class {c}",
            "DemandFigure",
            {"figure": "wape", "segment": f"abc {c}"},
        )
        for c in "ABC"
    ),
    ("Inventory", "Fill rate", "DemandFigure", {"figure": "fill_rate", "segment": ALL}),
    ("Inventory", "Stock-out days", "DemandFigure", {"figure": "stockout_days", "segment": ALL}),
)


def demand_report(rows: pd.DataFrame, replayed: pd.DataFrame, segments: list[str]) -> Snapshot:
    """The window's Evidently snapshot: every figure of every segment, computed by Evidently.

    Two reports merged into one snapshot: the accuracy figures over the rows, the inventory
    figures over the item replay; each is a `DemandFigure` (a `SingleValue`), labelled with
    its figure and segment, which the dashboard's panels select.
    """
    from evidently import Dataset, Report

    from retail_mlops.monitoring.history import custom_metrics, merge_snapshots

    custom = custom_metrics()
    accuracy = Report(
        [custom.DemandFigure(figure=f, segment=s) for s in segments for f in ACCURACY]
    )
    parts = [accuracy.run(current_data=Dataset.from_pandas(rows[ACCURACY_INPUTS]))]
    if not replayed.empty:
        inventory = Report(
            [
                custom.DemandFigure(figure=f, segment=s)
                for s in segments
                if s == ALL or s.startswith("abc ")
                for f in INVENTORY
            ]
        )
        parts.append(inventory.run(current_data=Dataset.from_pandas(replayed)))
    return merge_snapshots(parts)


# --- recording and the gate ---------------------------------------------------------------------

_GATE = MonitoringGateParams.model_fields  # one home for the limits: the monitoring gate's


class DemandGateParams(Params):
    """When a demand window asks for retraining: the demand subset of the monitoring gate."""

    # the FieldInfo itself (default, bounds, description); mypy sees a FieldInfo, not a float
    max_wape_ratio: float = _GATE["max_wape_ratio"]  # type: ignore[assignment]
    worse_margin: float = _GATE["worse_margin"]  # type: ignore[assignment]

    def monitoring(self) -> MonitoringGateParams:
        """The same limits as the library gate's parameters."""
        return MonitoringGateParams(**self.model_dump())


def record_demand_window(
    window: DemandWindow,
    snapshot: Snapshot,
    *,
    metrics_db: Path | None = None,
    workspace_dir: Path | None = None,
    monitor_run_id: str = "",
) -> RecordedWindow:
    """Write the window's rows and its snapshot (the `demand_monitoring` project).

    A re-run of the same forecast and window replaces both, as for churn windows.
    """
    db = metrics_db or metrics_db_path()
    rows = write_metrics(window.metric_rows(), db)
    folder = workspace_dir or workspace_path()
    workspace = open_workspace(folder)
    project = get_or_create_project(
        workspace,
        PROJECT_NAME,
        description="Served demand forecasts against actual sales: WAPE, bias and value added "
        "over seasonal naive per horizon and ABC class, and the stock-outs of the policy",
    )
    snapshot_id = add_window(
        workspace,
        project.id,
        [snapshot],
        job=JOB,
        window_start=window.window_start,
        window_end=window.window_end,
        model_version=window.model_version,
        run_id=window.run_id,
        source=SOURCE,
        extra_metadata={"monitor_run_id": monitor_run_id},
        panels=PANELS,
    )
    return RecordedWindow(rows, {ALL: snapshot_id}, db, folder)


def gate_demand_window(
    window: DemandWindow, params: DemandGateParams, state: AlertState
) -> tuple[Decision, list[Alert]]:
    """Judge the window's WAPE against seasonal naive's on the same days; fold it into `state`.

    Returns:
        The decision (`ok`, or `retrain` when the served forecast is worse than naive by more
        than the limit) and the alerts to send (a standing breach alerts once).
    """
    figures = window.segments.get(ALL, {})
    wape, naive = figures.get("wape"), figures.get("naive_wape")
    measurable = wape is not None and naive is not None and wape == wape and naive > 0
    decision = decide(
        params.monitoring(),
        wape=wape if measurable else None,
        naive_wape=naive if measurable else None,
    )
    if not measurable:
        decision.reasons.append("no units sold on the judged days: WAPE not measurable")
    alerts = state.update(JOB, decision, window.window_end, params.worse_margin)
    return decision, alerts
