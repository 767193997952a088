"""Feast feature store access: one FeatureStore per process, offline writes, PIT and online reads.

Framework-free (no ZenML import): steps, services and tests share it. The repo folder comes from
the caller (the active ZenML stack's Feast component, or the project's feature_repo/). Offline
tables live in a local folder (the embedded default) or, in the remote layout that pods sharing no
disk need (feature_repo/remote/), under an s3:// URI; both are written whole, never half.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.errors import DataError, InfraError
from retail_mlops.features.definitions import VIEW_FEATURES, feast_objects, offline_layout
from retail_mlops.io import atomic_write_text, filesystem, write_parquet_atomic
from retail_mlops.paths import PROJECT_ROOT, state_dir

DEFAULT_REPO = PROJECT_ROOT / "feature_repo"
TIMESTAMP = "event_timestamp"
# view -> (entity join key, feature columns): the contract each feature table must meet
VIEWS: dict[str, str] = {"customer_features": "customer_id", "item_daily_features": "stock_code"}


class FeatureTableParams(Params):
    """The quality gate of a feature table before it reaches the offline store."""

    max_null_rate: float = Field(
        default=0.6, ge=0, le=1, description="Largest share of nulls per column"
    )
    max_null_rate_increase: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="Largest rise of a column's null share since the last write",
    )


def view_columns(view: str) -> list[str]:
    """Feature names of a view, from the definitions.

    Raises:
        DataError: For an unknown view.
    """
    if view not in VIEW_FEATURES:
        raise DataError(f"no feature view named {view!r} (known: {', '.join(VIEW_FEATURES)})")
    return list(VIEW_FEATURES[view])


def offline_path(view: str) -> Path | str:
    """Parquet file behind a view's FileSource: a local Path, or an s3:// URI when remote."""
    view_columns(view)
    return offline_layout().table(view)


# Feast expands feature_store.yaml with os.path.expandvars: $VAR and ${VAR}, no defaults.
_ENV_REF = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def check_repo_environment(repo: Path) -> None:
    """Refuse a Feast repo whose feature_store.yaml needs unset variables, or another layout.

    Feast leaves an unset `${VAR}` as literal text, so a missing FEAST_REGISTRY_PATH would
    quietly become a local file named "${FEAST_REGISTRY_PATH}"; and a registry in object storage
    with the offline tables on local disk would work in one pod and lose them in the next.

    Raises:
        InfraError: One line naming the missing variables, or the mismatch and how to fix it.
    """
    import yaml

    path = repo / "feature_store.yaml"
    if not path.exists():
        raise InfraError(f"Feast repo {repo} has no feature_store.yaml")
    text = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
    names = dict.fromkeys(a or b for a, b in _ENV_REF.findall(text))
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise InfraError(
            f"Feast repo {repo.name}/ needs environment variable(s) {', '.join(missing)} "
            f"(see its feature_store.yaml)"
        )
    config = yaml.safe_load(os.path.expandvars(text)) or {}
    registry = config.get("registry")
    registry_path = str(registry.get("path") if isinstance(registry, dict) else registry)
    offline_type = (config.get("offline_store") or {}).get("type", "dask")
    local_tables = offline_layout().local
    if "://" in registry_path and local_tables:
        raise InfraError(
            f"Feast repo {repo.name}/ keeps its registry at {registry_path} but FEAST_OFFLINE_URI "
            f"is unset: the offline tables would stay on this machine"
        )
    if offline_type == "duckdb" and not local_tables:
        raise InfraError(
            f"FEAST_OFFLINE_URI is set but Feast repo {repo.name}/ reads local Parquet with "
            f"DuckDB: unset it, or use the remote layout (feature_repo/remote)"
        )


@functools.lru_cache(maxsize=4)
def feature_store(repo_path: str | None = None) -> Any:
    """The FeatureStore for `repo_path` (default feature_repo/), built once per process.

    Building one per call costs ~50 ms per online read (ZenML's flavor does that); reuse it.

    Raises:
        InfraError: If the repo's feature_store.yaml needs unset environment variables, or its
            registry and the offline tables are not both local or both remote (before Feast
            loads, whose own error would be far from the cause).
    """
    os.environ.setdefault("RETAIL_MLOPS_HOME", str(state_dir()))
    repo = Path(repo_path) if repo_path else DEFAULT_REPO
    check_repo_environment(repo)
    from feast import FeatureStore

    (state_dir() / "feast").mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(repo))


def apply_definitions(store: Any) -> None:
    """Register entities and feature views (what `feast apply` does), idempotently."""
    store.apply(feast_objects())


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


def _quality_path(table: Path | str) -> Path | str:
    if isinstance(table, Path):
        return table.with_suffix(".quality.json")
    return table.removesuffix(".parquet") + ".quality.json"


def _exists(location: Path | str) -> bool:
    if isinstance(location, Path):
        return location.exists()
    fs, path = filesystem(location)
    return bool(fs.exists(path))


def _read_bytes(location: Path | str) -> bytes:
    if isinstance(location, Path):
        return location.read_bytes()
    fs, path = filesystem(location)
    return bytes(fs.cat_file(path))


def _read_parquet(location: Path | str, columns: list[str] | None = None) -> pd.DataFrame:
    if isinstance(location, Path):
        return pd.read_parquet(location, columns=columns)
    return pd.read_parquet(io.BytesIO(_read_bytes(location)), columns=columns)


def previous_summary(view: str) -> dict[str, Any] | None:
    """The quality summary recorded with the view's last offline write, if any."""
    path = _quality_path(offline_path(view))
    return json.loads(_read_bytes(path)) if _exists(path) else None


def write_offline(df: pd.DataFrame, view: str, summary: dict[str, Any]) -> Path | str:
    """Upsert rows into the view's Parquet (same key and timestamp: the new row wins), atomically.

    A table written under an older definition of the view (other columns) is replaced whole.

    Returns:
        The Parquet path (an s3:// URI in the remote layout).
    """
    check_feature_table(df, view)
    key = VIEWS[view]
    path = offline_path(view)
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    table = df[[key, TIMESTAMP, *view_columns(view)]]
    old = _read_parquet(path) if _exists(path) else None
    # rows of an older definition of the view (other columns) cannot be mixed in: replaced
    if old is not None and list(old.columns) == list(table.columns):
        table = pd.concat([old, table], ignore_index=True)
        table = table.drop_duplicates([key, TIMESTAMP], keep="last")
    table = table.sort_values([key, TIMESTAMP], ignore_index=True)
    write_parquet_atomic(table, path)
    text = json.dumps(summary, indent=1)
    atomic_write_text(_quality_path(path), text)
    return path


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
            start = _read_parquet(offline_path(view), columns=[TIMESTAMP])[TIMESTAMP].min()
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
    out[TIMESTAMP] = _naive_utc(out[TIMESTAMP])
    # Feast 0.67's file (dask) offline store, the remote layout's, drops an entity row whose
    # matching rows all lie outside [t - ttl, t] (its _filter_ttl keeps only null or in-window
    # timestamps after the left merge); DuckDB keeps it with null features. Put it back so.
    dropped = frame[~frame["_row"].isin(out["_row"])]
    if len(dropped):
        dropped = dropped.assign(**{TIMESTAMP: _naive_utc(dropped[TIMESTAMP])})
        out = pd.concat([out, dropped], ignore_index=True)
    return out.sort_values("_row").drop(columns="_row").reset_index(drop=True)


def _naive_utc(ts: pd.Series) -> pd.Series:
    if getattr(ts.dt, "tz", None) is not None:
        return ts.dt.tz_convert("UTC").dt.tz_localize(None)
    return ts


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
