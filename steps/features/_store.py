"""Feast feature store access: one FeatureStore per process, offline writes, PIT and online reads.

Framework-free (no ZenML import): steps, services and tests share it. The repo folder comes from
the caller (the active ZenML stack's Feast component, or the project's feature_repo/).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from steps.errors import DataError
from steps.paths import PROJECT_ROOT, state_dir

DEFAULT_REPO = PROJECT_ROOT / "feature_repo"
TIMESTAMP = "event_timestamp"
# view -> (entity join key, feature columns): the contract each feature table must meet
VIEWS: dict[str, str] = {"customer_features": "customer_id", "item_daily_features": "stock_code"}


def _definitions() -> Any:
    os.environ.setdefault("RETAIL_MLOPS_HOME", str(state_dir()))
    import importlib

    return importlib.import_module("feature_repo.definitions")


def view_columns(view: str) -> list[str]:
    """Feature names of a view, from the definitions.

    Raises:
        DataError: For an unknown view.
    """
    defs = _definitions()
    columns = {
        "customer_features": defs.CUSTOMER_FEATURES,
        "item_daily_features": defs.ITEM_FEATURES,
    }
    if view not in columns:
        raise DataError(f"no feature view named {view!r} (known: {', '.join(columns)})")
    return list(columns[view])


def offline_path(view: str) -> Path:
    """Parquet file behind a view's FileSource."""
    view_columns(view)
    return Path(_definitions().OFFLINE_DIR) / f"{view}.parquet"


@functools.lru_cache(maxsize=4)
def feature_store(repo_path: str | None = None) -> Any:
    """The FeatureStore for `repo_path` (default feature_repo/), built once per process.

    Building one per call costs ~50 ms per online read (ZenML's flavor does that); reuse it.
    """
    os.environ.setdefault("RETAIL_MLOPS_HOME", str(state_dir()))
    from feast import FeatureStore

    repo = Path(repo_path) if repo_path else DEFAULT_REPO
    (state_dir() / "feast").mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(repo))


def apply_definitions(store: Any) -> None:
    """Register entities and feature views (what `feast apply` does), idempotently."""
    store.apply(_definitions().OBJECTS)


def check_feature_table(df: pd.DataFrame, view: str) -> None:
    """Refuse a table that does not match the view's schema, naming the column.

    Raises:
        DataError: On a missing key, timestamp or feature column, or a non-numeric feature.
    """
    key = VIEWS[view]
    for col in (key, TIMESTAMP, *view_columns(view)):
        if col not in df.columns:
            raise DataError(f"{view}: source lacks column {col!r}")
    if not pd.api.types.is_datetime64_any_dtype(df[TIMESTAMP]):
        raise DataError(f"{view}: column {TIMESTAMP!r} is not a timestamp")
    for col in view_columns(view):
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise DataError(f"{view}: column {col!r} is {df[col].dtype}, expected a number")


def quality_summary(df: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """Row count and per-feature null rate, min and max."""
    values = df[columns].astype("float64")
    null = values.isna().mean()
    return {
        "row_count": len(df),
        "null_rate": {c: round(float(null[c]), 6) for c in columns},
        "min": {c: _finite(values[c].min()) for c in columns},
        "max": {c: _finite(values[c].max()) for c in columns},
    }


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def check_null_rates(
    summary: dict[str, Any],
    previous: dict[str, Any] | None,
    max_null_rate: float,
    max_null_rate_increase: float,
) -> None:
    """Fail when a feature's null rate passes the limit or jumps against the last table.

    Raises:
        DataError: Listing every breaching feature with its numbers.
    """
    breaches = []
    before = (previous or {}).get("null_rate", {})
    for col, rate in summary["null_rate"].items():
        if rate > max_null_rate:
            breaches.append(f"{col} null rate {rate:.1%} > limit {max_null_rate:.1%}")
        elif col in before and rate - before[col] > max_null_rate_increase:
            breaches.append(
                f"{col} null rate jumped {before[col]:.1%} -> {rate:.1%} "
                f"(limit +{max_null_rate_increase:.1%})"
            )
    if breaches:
        raise DataError("feature quality: " + "; ".join(breaches))


def previous_summary(view: str) -> dict[str, Any] | None:
    """The quality summary recorded with the view's last offline write, if any."""
    path = offline_path(view).with_suffix(".quality.json")
    return json.loads(path.read_text()) if path.exists() else None


def write_offline(df: pd.DataFrame, view: str, summary: dict[str, Any]) -> Path:
    """Upsert rows into the view's Parquet (same key and timestamp: the new row wins), atomically.

    Returns:
        The Parquet path.
    """
    check_feature_table(df, view)
    key = VIEWS[view]
    path = offline_path(view)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = df[[key, TIMESTAMP, *view_columns(view)]]
    if path.exists():
        old = pd.read_parquet(path)
        table = pd.concat([old, table], ignore_index=True)
        table = table.drop_duplicates([key, TIMESTAMP], keep="last")
    table = table.sort_values([key, TIMESTAMP], ignore_index=True)
    _atomic(path, lambda tmp: table.to_parquet(tmp, index=False))
    _atomic(
        path.with_suffix(".quality.json"),
        lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=1)),
    )
    return path


def _atomic(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def materialize(store: Any, views: list[str], end: datetime) -> dict[str, str]:
    """Load the online store: a full backfill the first time, incremental afterwards.

    Feast's first `materialize_incremental` only loads the TTL window before `end`, which is
    nothing for historical data, so an empty view is backfilled from its earliest row.
    """
    done = {}
    for view in views:
        fv = store.get_feature_view(view)
        if fv.materialization_intervals:
            store.materialize_incremental(end_date=end, feature_views=[view])
            done[view] = "incremental"
        else:
            start = pd.read_parquet(offline_path(view), columns=[TIMESTAMP])[TIMESTAMP].min()
            store.materialize(start_date=start.to_pydatetime(), end_date=end, feature_views=[view])
            done[view] = "backfill"
    return done


def _refs(view: str, features: list[str] | None) -> list[str]:
    known = view_columns(view)
    wanted = features or known
    unknown = [f for f in wanted if f not in known]
    if unknown:
        raise DataError(f"{view} has no feature(s) {', '.join(unknown)}")
    return [f"{view}:{f}" for f in wanted]


def historical_features(
    store: Any, entity_df: pd.DataFrame, view: str, features: list[str] | None = None
) -> pd.DataFrame:
    """Point-in-time join: for each (entity, event_timestamp), the latest row at or before it.

    Returns the entity frame's columns plus the features, timestamps naive UTC, rows in the
    entity frame's order.
    """
    refs = _refs(view, features)
    frame = entity_df.reset_index(drop=True).assign(_row=lambda d: np.arange(len(d)))
    # Feast's DuckDB store works in microseconds; finer timestamps would fail its cast
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP]).dt.floor("us")
    out = store.get_historical_features(entity_df=frame, features=refs).to_df()
    out = out.sort_values("_row").drop(columns="_row").reset_index(drop=True)
    if getattr(out[TIMESTAMP].dt, "tz", None) is not None:
        out[TIMESTAMP] = out[TIMESTAMP].dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def online_records(
    store: Any,
    view: str,
    ids: list[str],
    features: list[str] | None = None,
    with_timestamp: bool = False,
) -> list[dict[str, Any]]:
    """Latest features per entity id from the online store, as one dict per id.

    The serving path: plain dicts, no DataFrame (building one costs more than the lookup).
    Unknown ids come back with None features and `found = False`, never an error. With
    `with_timestamp`, `as_of` is the event time (naive UTC) of the row the features came from,
    None for unknown ids: what an A/B report needs to know when the outcome window starts.

    Raises:
        DataError: If a requested feature is not defined in the view.
    """
    key = VIEWS[view]
    refs = _refs(view, features)
    names = [r.split(":", 1)[1] for r in refs]
    keys = [str(i) for i in ids]
    response = store.get_online_features(features=refs, entity_rows=[{key: k} for k in keys])
    data = response.to_dict(include_event_timestamps=with_timestamp)
    records = []
    for row, k in enumerate(keys):
        rec: dict[str, Any] = {key: k}
        for name in names:
            rec[name] = data[name][row]
        rec["found"] = any(rec[name] is not None for name in names)
        if with_timestamp:
            seconds = max(data[f"{name}__ts"][row] for name in names)
            when = datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
            rec["as_of"] = when if rec["found"] else None
        records.append(rec)
    return records


def online_features(
    store: Any, view: str, ids: list[str], features: list[str] | None = None
) -> pd.DataFrame:
    """`online_records` as a DataFrame (nullable floats), for notebooks and batch use.

    Raises:
        DataError: If a requested feature is not defined in the view.
    """
    records = online_records(store, view, ids, features)
    out = pd.DataFrame.from_records(records)
    names = [c for c in out.columns if c not in (VIEWS[view], "found")]
    return out.astype({n: "Float64" for n in names})
