"""Tests for retail_mlops/features/feast_store.py on a real Feast store (DuckDB offline, SQLite).

The module builds one fresh store in a temporary RETAIL_MLOPS_HOME: feature_repo/definitions.py
reads that variable at import time (its Parquet paths), so it is reloaded after the variable is
set and again after it is restored; `feature_store` is an lru_cache and is cleared both times.

The customer view holds real snapshots from the committed subset at 2010-03-01, 04-01, 05-01,
06-01 and 09-01: the gap after 06-01 is longer than the view's TTL (45 days).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.errors import DataError
from retail_mlops.features import feast_store
from retail_mlops.features.customer import FEATURE_COLUMNS, customer_feature_snapshots
from retail_mlops.features.definitions import offline_layout
from retail_mlops.features.item import ITEM_FEATURE_COLUMNS

VIEW = "customer_features"
TS = "event_timestamp"
T = pd.Timestamp
CUTOFFS = [T(d) for d in ("2010-03-01", "2010-04-01", "2010-05-01", "2010-06-01", "2010-09-01")]


# --- one fresh store for the module ------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throw-away RETAIL_MLOPS_HOME with definitions and the store cache pointed at it."""
    root = tmp_path_factory.mktemp("feast-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETAIL_MLOPS_HOME", str(root))
        feast_store.feature_store.cache_clear()
        assert Path(offline_layout().uri) == root / "feast" / "data"
        yield root
    feast_store.feature_store.cache_clear()


@pytest.fixture(scope="module")
def snapshots(subset_clean: pd.DataFrame) -> pd.DataFrame:
    snaps = customer_feature_snapshots(subset_clean, CUTOFFS, active_window_days=365)
    return snaps.rename(columns={"cutoff": TS})


@pytest.fixture(scope="module")
def store(home: Path, snapshots: pd.DataFrame) -> Any:
    """The store with definitions applied and the customer snapshots written offline."""
    fs = feast_store.feature_store()
    feast_store.apply_definitions(fs)
    feast_store.apply_definitions(fs)  # idempotent, like `feast apply`
    summary = feast_store.quality_summary(snapshots, FEATURE_COLUMNS)
    feast_store.write_offline(snapshots, VIEW, summary)
    return fs


def _assert_features_equal(got: pd.DataFrame, want: pd.DataFrame, cols: list[str]) -> None:
    assert len(got) == len(want)
    for col in cols:
        a = got[col].astype("float64").to_numpy()
        b = want[col].astype("float64").to_numpy()
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), col


# --- definitions and paths ---------------------------------------------------------------------


def test_store_uses_the_module_home(store: Any, home: Path) -> None:
    assert feast_store.offline_path(VIEW) == home / "feast" / "data" / f"{VIEW}.parquet"
    assert (home / "feast" / "registry.db").exists()
    names = {fv.name for fv in store.list_feature_views()}
    assert names == set(feast_store.VIEWS)
    assert store.get_feature_view(VIEW).ttl.days == 45
    assert feast_store.feature_store() is store  # one per process


def test_view_columns_follow_the_feature_library(home: Path) -> None:
    assert feast_store.view_columns(VIEW) == FEATURE_COLUMNS
    assert feast_store.view_columns("item_daily_features") == ITEM_FEATURE_COLUMNS
    with pytest.raises(DataError, match="no feature view named 'nope'"):
        feast_store.view_columns("nope")


# --- check_feature_table -----------------------------------------------------------------------


def test_check_feature_table_accepts_the_snapshots(home: Path, snapshots: pd.DataFrame) -> None:
    feast_store.check_feature_table(snapshots, VIEW)


def test_check_feature_table_names_a_missing_column(home: Path, snapshots: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"customer_features: source lacks column 'spend_30d'"):
        feast_store.check_feature_table(snapshots.drop(columns="spend_30d"), VIEW)
    with pytest.raises(DataError, match=r"source lacks column 'customer_id'"):
        feast_store.check_feature_table(snapshots.drop(columns="customer_id"), VIEW)
    with pytest.raises(DataError, match=r"source lacks column 'event_timestamp'"):
        feast_store.check_feature_table(snapshots.rename(columns={TS: "cutoff"}), VIEW)


def test_check_feature_table_names_a_non_numeric_column(
    home: Path, snapshots: pd.DataFrame
) -> None:
    bad = snapshots.assign(is_uk=snapshots["is_uk"].map({1.0: "yes", 0.0: "no"}))
    with pytest.raises(DataError, match=r"column 'is_uk' is object, expected a number"):
        feast_store.check_feature_table(bad, VIEW)
    text_time = snapshots.assign(**{TS: snapshots[TS].astype(str)})
    with pytest.raises(DataError, match="'event_timestamp' is not a timestamp"):
        feast_store.check_feature_table(text_time, VIEW)


# --- quality_summary and check_null_rates -------------------------------------------------------


def test_quality_summary_counts_nulls_and_ranges() -> None:
    df = pd.DataFrame(
        {"a": [1.0, np.nan, 3.0, np.nan], "b": [np.nan] * 4, "c": [-2, 5, 0, 1], "d": [np.inf] * 4}
    )
    s = feast_store.quality_summary(df, ["a", "b", "c", "d"])
    assert s["row_count"] == 4
    assert s["null_rate"] == {"a": 0.5, "b": 1.0, "c": 0.0, "d": 0.0}
    assert s["min"] == {"a": 1.0, "b": None, "c": -2.0, "d": None}
    assert s["max"] == {"a": 3.0, "b": None, "c": 5.0, "d": None}
    json.dumps(s)  # it is stored as JSON next to the table


def test_check_null_rates_absolute_limit_lists_every_breach() -> None:
    summary = {"null_rate": {"a": 0.75, "b": 0.1, "c": 0.5}}
    with pytest.raises(DataError, match=r"^feature quality: ") as err:
        feast_store.check_null_rates(summary, None, max_null_rate=0.4, max_null_rate_increase=0.2)
    msg = str(err.value)
    assert "a null rate 75.0% > limit 40.0%" in msg
    assert "c null rate 50.0% > limit 40.0%" in msg
    assert "b null rate" not in msg


def test_check_null_rates_jump_against_previous() -> None:
    previous = {"null_rate": {"a": 0.1, "b": 0.3}}
    summary = {"null_rate": {"a": 0.35, "b": 0.45, "new": 0.5}}
    with pytest.raises(DataError, match=r"a null rate jumped 10\.0% -> 35\.0% \(limit \+20\.0%\)"):
        feast_store.check_null_rates(
            summary, previous, max_null_rate=0.6, max_null_rate_increase=0.2
        )
    # b rose 15 points and `new` has no history: both pass
    ok = {"null_rate": {"a": 0.25, "b": 0.45, "new": 0.5}}
    feast_store.check_null_rates(ok, previous, max_null_rate=0.6, max_null_rate_increase=0.2)
    feast_store.check_null_rates(ok, None, max_null_rate=0.6, max_null_rate_increase=0.0)


# --- write_offline ------------------------------------------------------------------------------


def _item_table(keys: list[tuple[str, str]], value: float) -> pd.DataFrame:
    df = pd.DataFrame(keys, columns=["stock_code", TS])
    df[TS] = pd.to_datetime(df[TS])
    for i, col in enumerate(ITEM_FEATURE_COLUMNS):
        df[col] = value + i
    return df


def _no_temp_files(folder: Path) -> bool:
    return not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_write_offline_upserts_and_leaves_no_temp_files(store: Any) -> None:
    view = "item_daily_features"
    first = _item_table([(s, d) for s in ("A", "B") for d in ("2010-01-02", "2010-01-01")], 1.0)
    s1 = feast_store.quality_summary(first, ITEM_FEATURE_COLUMNS)
    path = feast_store.write_offline(first.assign(extra="dropped"), view, s1)
    assert path == feast_store.offline_path(view)
    assert feast_store.previous_summary(view) == s1

    second = _item_table([("A", "2010-01-02"), ("C", "2010-01-01"), ("A", "2010-01-03")], 100.0)
    s2 = feast_store.quality_summary(second, ITEM_FEATURE_COLUMNS)
    feast_store.write_offline(second, view, s2)
    table = pd.read_parquet(path)
    assert list(table.columns) == ["stock_code", TS, *ITEM_FEATURE_COLUMNS]
    keys = list(zip(table["stock_code"], table[TS].dt.strftime("%Y-%m-%d"), strict=True))
    assert keys == [
        ("A", "2010-01-01"),
        ("A", "2010-01-02"),
        ("A", "2010-01-03"),
        ("B", "2010-01-01"),
        ("B", "2010-01-02"),
        ("C", "2010-01-01"),
    ]
    first_col = table[ITEM_FEATURE_COLUMNS[0]].tolist()
    assert first_col == [1.0, 100.0, 100.0, 1.0, 1.0, 100.0]  # (A, 01-02) replaced, once
    assert feast_store.previous_summary(view) == s2
    assert _no_temp_files(path.parent)


def test_write_offline_replaces_a_table_of_an_older_definition(store: Any) -> None:
    view = "item_daily_features"
    path = feast_store.offline_path(view)
    older = _item_table([("A", "2010-01-01"), ("Z", "2010-01-01")], 1.0).rename(
        columns={ITEM_FEATURE_COLUMNS[0]: "retired_feature"}
    )
    older.to_parquet(path)
    new = _item_table([("A", "2010-01-01"), ("B", "2010-01-02")], 5.0)
    feast_store.write_offline(new, view, feast_store.quality_summary(new, ITEM_FEATURE_COLUMNS))
    table = pd.read_parquet(path)
    assert list(table.columns) == ["stock_code", TS, *ITEM_FEATURE_COLUMNS]
    assert table["stock_code"].tolist() == ["A", "B"]  # Z (old definition) is gone, not mixed in
    assert table[ITEM_FEATURE_COLUMNS[0]].tolist() == [5.0, 5.0]


def test_write_offline_failure_keeps_the_old_table(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = feast_store.offline_path(VIEW)
    before = path.read_bytes()

    def broken(self: pd.DataFrame, target: str, **_: Any) -> None:
        Path(target).write_bytes(b"half a parquet")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    snaps = pd.read_parquet(path)
    with pytest.raises(OSError, match="disk full"):
        feast_store.write_offline(snaps, VIEW, {})
    assert path.read_bytes() == before
    assert _no_temp_files(path.parent)


# --- historical_features (point in time) -------------------------------------------------------


@pytest.fixture(scope="module")
def customers(snapshots: pd.DataFrame) -> dict[str, list[str]]:
    """Customer ids by presence in the April, May, June snapshots."""
    ids = {c: set(snapshots.loc[snapshots[TS] == c, "customer_id"]) for c in CUTOFFS}
    both = sorted(ids[CUTOFFS[1]] & ids[CUTOFFS[2]])
    june = sorted(ids[CUTOFFS[3]])
    assert len(both) >= 20
    assert len(june) >= 20
    return {"apr_and_may": both[:20], "june": june[::7][:20]}


def _snapshot_rows(snapshots: pd.DataFrame, ids: list[str], at: pd.Timestamp) -> pd.DataFrame:
    rows = snapshots[snapshots[TS] == at].set_index("customer_id")
    return rows.loc[ids].reset_index()


def test_historical_features_equal_the_snapshots_at_their_cutoffs(
    store: Any, snapshots: pd.DataFrame
) -> None:
    sample = snapshots.groupby(TS, group_keys=False).sample(n=8, random_state=0)
    sample = sample.sample(frac=1.0, random_state=1)  # shuffled: rows come back in this order
    entities = sample[["customer_id", TS]].assign(churned=np.arange(len(sample)) % 2)
    out = feast_store.historical_features(store, entities, VIEW)
    assert list(out.columns) == ["customer_id", TS, "churned", *FEATURE_COLUMNS]
    assert out["customer_id"].tolist() == sample["customer_id"].tolist()
    assert (out[TS].to_numpy() == sample[TS].to_numpy()).all()
    assert out["churned"].tolist() == entities["churned"].tolist()
    _assert_features_equal(out, sample.reset_index(drop=True), FEATURE_COLUMNS)


def test_historical_features_point_in_time_and_ttl(
    store: Any, snapshots: pd.DataFrame, customers: dict[str, list[str]]
) -> None:
    both, june = customers["apr_and_may"], customers["june"]
    cases = [
        ("between", both, T("2010-04-15")),  # -> 04-01
        ("just_before", both, T("2010-04-30 23:59")),  # -> 04-01
        ("exactly_at", both, T("2010-05-01")),  # -> 05-01 (at or before)
        ("within_ttl", june, T("2010-07-15")),  # 44 days after 06-01 -> 06-01
        ("past_ttl", june, T("2010-07-20")),  # 49 days after 06-01, before 09-01 -> NULL
        ("before_any", june, T("2010-02-15")),  # no snapshot yet -> NULL
        ("unknown", ["no-such-customer"], T("2010-05-01")),
    ]
    entities = pd.concat(
        [pd.DataFrame({"customer_id": ids, TS: at, "case": name}) for name, ids, at in cases],
        ignore_index=True,
    )
    out = feast_store.historical_features(store, entities, VIEW)
    assert out["case"].tolist() == entities["case"].tolist()

    def part(name: str) -> pd.DataFrame:
        return out[out["case"] == name].reset_index(drop=True)

    april = _snapshot_rows(snapshots, both, CUTOFFS[1])
    _assert_features_equal(part("between"), april, FEATURE_COLUMNS)
    _assert_features_equal(part("just_before"), april, FEATURE_COLUMNS)
    may = _snapshot_rows(snapshots, both, CUTOFFS[2])
    _assert_features_equal(part("exactly_at"), may, FEATURE_COLUMNS)
    _assert_features_equal(
        part("within_ttl"), _snapshot_rows(snapshots, june, CUTOFFS[3]), FEATURE_COLUMNS
    )
    # April and May differ, so the join really picks by time
    assert not np.allclose(april["tenure_days"], may["tenure_days"])
    for name in ("past_ttl", "before_any", "unknown"):
        assert part(name)[FEATURE_COLUMNS].isna().all().all(), name


def test_historical_features_subset_and_undefined_feature(
    store: Any, snapshots: pd.DataFrame, customers: dict[str, list[str]]
) -> None:
    ids = customers["apr_and_may"][:5]
    entities = pd.DataFrame({"customer_id": ids, TS: CUTOFFS[1]})
    out = feast_store.historical_features(store, entities, VIEW, ["total_spent", "is_uk"])
    assert list(out.columns) == ["customer_id", TS, "total_spent", "is_uk"]
    _assert_features_equal(
        out, _snapshot_rows(snapshots, ids, CUTOFFS[1]), ["total_spent", "is_uk"]
    )
    with pytest.raises(DataError, match="customer_features has no feature"):
        feast_store.historical_features(store, entities, VIEW, ["total_spent", "nope"])


# --- materialize and online_features ------------------------------------------------------------


def _latest_before(snapshots: pd.DataFrame, end: pd.Timestamp) -> pd.DataFrame:
    past = snapshots[snapshots[TS] <= end].sort_values(TS)
    return past.groupby("customer_id").tail(1).set_index("customer_id")


@pytest.fixture(scope="module")
def materialized(store: Any, snapshots: pd.DataFrame) -> dict[str, Any]:
    """Backfill to 2010-05-15, read some ids online, then load the rest incrementally."""
    sample = sorted(set(snapshots["customer_id"]))[::9]
    first = feast_store.materialize(store, [VIEW], datetime(2010, 5, 15))
    online_first = feast_store.online_features(store, VIEW, sample)
    second = feast_store.materialize(store, [VIEW], datetime(2010, 9, 15))
    return {"first": first, "second": second, "sample": sample, "online_first": online_first}


def test_materialize_backfills_first_then_goes_incremental(materialized: dict[str, Any]) -> None:
    assert materialized["first"] == {VIEW: "backfill"}
    assert materialized["second"] == {VIEW: "incremental"}


def test_online_features_after_backfill_are_the_latest_before_its_end(
    materialized: dict[str, Any], snapshots: pd.DataFrame
) -> None:
    online = materialized["online_first"]
    latest = _latest_before(snapshots, T("2010-05-15"))
    known = online["customer_id"].isin(latest.index)
    assert known.any()
    assert (~known).any()  # some customers only appear from June on
    assert online["found"].tolist() == known.tolist()
    hit = online[known].reset_index(drop=True)
    _assert_features_equal(hit, latest.loc[hit["customer_id"]].reset_index(), FEATURE_COLUMNS)
    assert online.loc[~known, FEATURE_COLUMNS].isna().all().all()


def test_online_features_after_incremental_are_the_latest(
    store: Any, materialized: dict[str, Any], snapshots: pd.DataFrame
) -> None:
    ids = materialized["sample"]
    online = feast_store.online_features(store, VIEW, ids)
    assert list(online.columns) == ["customer_id", *FEATURE_COLUMNS, "found"]
    assert online["found"].all()
    latest = _latest_before(snapshots, T("2010-09-15")).loc[ids].reset_index()
    _assert_features_equal(online, latest, FEATURE_COLUMNS)
    # incremental loading moved customers forward to the September snapshot
    assert (latest[TS] == CUTOFFS[-1]).any()


def test_online_features_unknown_ids_are_not_found(
    store: Any, materialized: dict[str, Any]
) -> None:
    known = materialized["sample"][0]
    online = feast_store.online_features(
        store, VIEW, ["nobody", known, "12345678"], ["total_spent"]
    )
    assert list(online.columns) == ["customer_id", "total_spent", "found"]
    assert online["customer_id"].tolist() == ["nobody", known, "12345678"]
    assert online["found"].tolist() == [False, True, False]
    assert online["total_spent"].isna().tolist() == [True, False, True]
    assert str(online["total_spent"].dtype) == "Float64"


def test_online_features_undefined_feature_raises(store: Any) -> None:
    with pytest.raises(DataError, match=r"customer_features has no feature\(s\) nope, nada"):
        feast_store.online_features(store, VIEW, ["x"], ["total_spent", "nope", "nada"])
