"""The online round trip of retail_mlops/features/feast_store.py against a real redis-server.

A throw-away redis-server (no persistence) runs on a free local port for this module; the store
is feature_repo/redis/ with FEAST_REDIS_CONNECTION pointed at it and a temporary
RETAIL_MLOPS_HOME (definitions reloaded, store cache cleared, both restored afterwards).
Skipped when redis-server is not installed; CI installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.deploy.servers import redis_server
from retail_mlops.features import feast_store
from retail_mlops.features.customer import FEATURE_COLUMNS, customer_feature_snapshots
from retail_mlops.features.definitions import offline_layout
from tests.conftest import PROJECT_ROOT
from tests.servers import requires_redis

VIEW = "customer_features"
TS = "event_timestamp"
CUTOFFS = [pd.Timestamp("2010-04-01"), pd.Timestamp("2010-05-01")]

pytestmark = requires_redis


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A redis-server subprocess on a free port, stopped (by its own PID) after the module."""
    with redis_server() as port:
        yield port


@pytest.fixture(scope="module")
def snapshots(subset_clean: pd.DataFrame) -> pd.DataFrame:
    # a 30-day activity window: some April customers are missing from May
    snaps = customer_feature_snapshots(subset_clean, CUTOFFS, active_window_days=30)
    return snaps.rename(columns={"cutoff": TS})


@pytest.fixture(scope="module")
def redis_store(
    redis_port: int, snapshots: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The Redis-backed store with the snapshots written offline and backfilled online."""
    home = tmp_path_factory.mktemp("feast-redis-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RETAIL_MLOPS_HOME", str(home))
        mp.setenv("FEAST_REDIS_CONNECTION", f"127.0.0.1:{redis_port}")
        feast_store.feature_store.cache_clear()
        assert Path(offline_layout().uri) == home / "feast" / "data"
        store = feast_store.feature_store(str(PROJECT_ROOT / "feature_repo" / "redis"))
        feast_store.apply_definitions(store)
        feast_store.write_offline(
            snapshots, VIEW, feast_store.quality_summary(snapshots, FEATURE_COLUMNS)
        )
        done = feast_store.materialize(store, [VIEW], datetime(2010, 6, 1))
        assert done == {VIEW: "backfill"}
        yield store
    feast_store.feature_store.cache_clear()


def test_store_is_backed_by_the_redis_server(redis_store: Any, redis_port: int) -> None:
    import redis

    assert redis_store.config.online_store.type == "redis"
    assert redis_store.config.online_store.connection_string == f"127.0.0.1:{redis_port}"
    client = redis.Redis(host="127.0.0.1", port=redis_port)
    try:
        assert client.dbsize() > 0  # the materialized rows live in this server
    finally:
        client.close()


def test_redis_online_features_are_the_latest_snapshot(
    redis_store: Any, snapshots: pd.DataFrame
) -> None:
    latest = snapshots.sort_values(TS).groupby("customer_id").tail(1).set_index("customer_id")
    ids = sorted(latest.index)[::3]
    # some ids have their latest row in May, some only in April
    assert set(latest.loc[ids, TS]) == set(CUTOFFS)
    online = feast_store.online_features(redis_store, VIEW, ids)
    assert online["customer_id"].tolist() == ids
    assert online["found"].all()
    want = latest.loc[ids].reset_index()
    for col in FEATURE_COLUMNS:
        a = online[col].astype("float64").to_numpy()
        b = want[col].to_numpy()
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), col


def test_redis_unknown_ids_are_not_found(redis_store: Any, snapshots: pd.DataFrame) -> None:
    known = str(snapshots["customer_id"].iloc[0])
    online = feast_store.online_features(redis_store, VIEW, ["nobody", known], ["total_orders"])
    assert online["found"].tolist() == [False, True]
    assert online["total_orders"].isna().tolist() == [True, False]


def test_redis_incremental_materialization(redis_store: Any) -> None:
    assert feast_store.materialize(redis_store, [VIEW], datetime(2010, 6, 15)) == {
        VIEW: "incremental"
    }
