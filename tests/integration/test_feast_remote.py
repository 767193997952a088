"""The remote Feast layout (feature_repo/remote/) across two "pods" that share no disk.

A moto S3 server (the stand-in for a cloud object store) and a redis-server run on loopback.
Pod A (this process, its own RETAIL_MLOPS_HOME) applies the definitions, writes real customer
snapshots from the committed subset to S3 through `write_offline` in two upserts, and
materializes them into Redis. Pod B (a subprocess with another RETAIL_MLOPS_HOME,
tests/integration/feast_pod.py) reads point-in-time historical features and online features:
they must equal what A wrote. Neither home holds a registry or a table afterwards.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.deploy.servers import redis_server
from retail_mlops.errors import InfraError
from retail_mlops.features import feast_store
from retail_mlops.features.customer import FEATURE_COLUMNS, customer_feature_snapshots
from tests.conftest import PROJECT_ROOT
from tests.servers import free_port, requires_redis

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    requires_redis,
]

REMOTE_REPO = PROJECT_ROOT / "feature_repo" / "remote"
BUCKET = "retail-feast"
VIEW = "customer_features"
TS = "event_timestamp"
T = pd.Timestamp
FIRST = [T("2010-04-01"), T("2010-05-01")]  # pod A's first write
SECOND = [T("2010-06-01")]  # its second write: an upsert into the object on S3
END = datetime(2010, 7, 1)
TTL = pd.Timedelta(days=45)


@dataclass
class Remote:
    """What both pods see: the environment naming the bucket and Redis, and their homes."""

    env: dict[str, str]
    home_a: Path
    home_b: Path
    s3: Any  # a boto3 client of the moto server, to look at the bucket
    redis_port: int


def _s3_client(endpoint: str) -> Any:
    """A boto3 S3 client on the loopback server, with the test's fake credentials."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="pod",
        aws_secret_access_key="pod-secret",
        region_name="us-east-1",
    )


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port with one empty bucket."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _s3_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="module")
def remote(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """The remote layout's variables, pointed at the loopback servers; two empty homes."""
    with redis_server() as port:
        env = {
            "FEAST_REGISTRY_PATH": f"s3://{BUCKET}/feast/registry.db",
            "FEAST_OFFLINE_URI": f"s3://{BUCKET}/feast/data",
            "FEAST_S3_ENDPOINT_URL": s3_endpoint,
            "FEAST_REDIS_CONNECTION": f"127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "pod",
            "AWS_SECRET_ACCESS_KEY": "pod-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        s3 = _s3_client(s3_endpoint)
        yield Remote(
            env=env,
            home_a=tmp_path_factory.mktemp("pod-a-home"),
            home_b=tmp_path_factory.mktemp("pod-b-home"),
            s3=s3,
            redis_port=port,
        )


@pytest.fixture
def pod_env(remote: Remote, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process as pod A: the remote variables and its own home; caches reset after."""
    for key, value in remote.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RETAIL_MLOPS_HOME", str(remote.home_a))
    feast_store.feature_store.cache_clear()
    yield
    feast_store.feature_store.cache_clear()


def _restore_definitions() -> None:
    """Drop the stores built for the remote environment, for the tests after these."""
    feast_store.feature_store.cache_clear()


@pytest.fixture(scope="module")
def snapshots(subset_clean: pd.DataFrame) -> pd.DataFrame:
    # a 30-day activity window: some customers drop out of later snapshots
    snaps = customer_feature_snapshots(subset_clean, [*FIRST, *SECOND], active_window_days=30)
    return snaps.rename(columns={"cutoff": TS})


@pytest.fixture(scope="module")
def written(remote: Remote, snapshots: pd.DataFrame) -> dict[str, Any]:
    """Pod A: apply, write the snapshots to S3 in two upserts, backfill Redis."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in remote.env.items():
            mp.setenv(key, value)
        mp.setenv("RETAIL_MLOPS_HOME", str(remote.home_a))
        feast_store.feature_store.cache_clear()
        store = feast_store.feature_store(str(REMOTE_REPO))
        feast_store.apply_definitions(store)
        paths = []
        for cutoffs in (FIRST, SECOND):
            part = snapshots[snapshots[TS].isin(cutoffs)]
            summary = feast_store.quality_summary(part, FEATURE_COLUMNS)
            paths.append(feast_store.write_offline(part, VIEW, summary))
        done = feast_store.materialize(store, [VIEW], END)
        out = {
            "paths": paths,
            "done": done,
            "summary": feast_store.previous_summary(VIEW),
            "last_summary": summary,
            "registry": store.config.registry.path,
            "online_type": store.config.online_store.type,
        }
    _restore_definitions()
    return out


def _entities(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Known customers at times that pick each snapshot, an exact cutoff, and a stale one."""
    ids = sorted(snapshots["customer_id"].unique())[::7][:12]
    times = [T("2010-04-15"), T("2010-05-01"), T("2010-06-20"), T("2010-08-01")]
    rows = [(cid, t) for cid in ids for t in times]
    return pd.DataFrame(rows, columns=["customer_id", TS])


def _expected_as_of(snapshots: pd.DataFrame, entities: pd.DataFrame) -> pd.DataFrame:
    """The point-in-time answer in plain pandas: latest snapshot at or before t, within the TTL."""
    rows = []
    for cid, t in entities[["customer_id", TS]].itertuples(index=False):
        mine = snapshots[(snapshots["customer_id"] == cid) & (snapshots[TS] <= t)]
        mine = mine[mine[TS] >= t - TTL].sort_values(TS)
        values = mine.iloc[-1][FEATURE_COLUMNS] if len(mine) else pd.Series(np.nan, FEATURE_COLUMNS)
        rows.append(values.astype("float64").to_numpy())
    return pd.DataFrame(rows, columns=FEATURE_COLUMNS)


def _assert_close(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want)
    for col in FEATURE_COLUMNS:
        a = got[col].astype("float64").to_numpy()
        b = want[col].astype("float64").to_numpy()
        assert np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True), col


@pytest.fixture(scope="module")
def pod_b(remote: Remote, written: dict[str, Any], snapshots: pd.DataFrame) -> dict[str, Any]:
    """Pod B in a fresh process with its own home: historical and online reads."""
    work = remote.home_b.parent / "pod-b-io"
    work.mkdir(exist_ok=True)
    entities = _entities(snapshots)
    entities.to_parquet(work / "entities.parquet")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEAST_")}
    env.update(remote.env, RETAIL_MLOPS_HOME=str(remote.home_b))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.feast_pod",
            str(work / "entities.parquet"),
            str(work),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return {
        "entities": entities,
        "historical": pd.read_parquet(work / "historical.parquet"),
        "online": pd.read_parquet(work / "online.parquet"),
        "summary": json.loads((work / "summary.json").read_text()),
    }


def _local_feast_files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in (home / "feast").rglob("*") if p.is_file())


def test_pod_a_writes_everything_to_s3_and_redis(remote: Remote, written: dict[str, Any]) -> None:
    import redis

    uri = f"s3://{BUCKET}/feast/data/{VIEW}.parquet"
    assert written["paths"] == [uri, uri]
    assert written["registry"] == remote.env["FEAST_REGISTRY_PATH"]
    assert written["online_type"] == "redis"
    assert written["done"] == {VIEW: "backfill"}
    assert written["summary"] == written["last_summary"]  # read back from S3
    listed = remote.s3.list_objects_v2(Bucket=BUCKET, Prefix="feast/")
    keys = sorted(obj["Key"] for obj in listed.get("Contents", []))
    assert keys == [
        f"feast/data/{VIEW}.parquet",
        f"feast/data/{VIEW}.quality.json",
        "feast/registry.db",
    ]
    assert _local_feast_files(remote.home_a) == []  # nothing a next pod would miss
    client = redis.Redis(host="127.0.0.1", port=remote.redis_port)
    try:
        assert int(client.dbsize()) > 0  # type: ignore[arg-type]
    finally:
        client.close()


def test_upsert_on_s3_keeps_both_writes(
    remote: Remote, written: dict[str, Any], snapshots: pd.DataFrame
) -> None:
    body = remote.s3.get_object(Bucket=BUCKET, Key=f"feast/data/{VIEW}.parquet")["Body"].read()
    table = pd.read_parquet(io.BytesIO(body))
    assert sorted(table[TS].unique()) == [*FIRST, *SECOND]
    assert len(table) == len(snapshots)
    assert not table.duplicated(["customer_id", TS]).any()


def test_pod_b_reads_point_in_time_features_as_written(
    pod_b: dict[str, Any], snapshots: pd.DataFrame
) -> None:
    entities, got = pod_b["entities"], pod_b["historical"]
    assert got["customer_id"].tolist() == entities["customer_id"].tolist()
    assert got[TS].tolist() == entities[TS].tolist()
    want = _expected_as_of(snapshots, entities)
    # every case occurs: an April, May and June snapshot, and none (older than the TTL)
    picked = want.notna().any(axis=1)
    assert picked.any()
    assert (~picked).any()
    _assert_close(got, want)


def test_pod_b_reads_the_latest_features_online(
    remote: Remote, pod_b: dict[str, Any], snapshots: pd.DataFrame
) -> None:
    online = pod_b["online"]
    ids = pod_b["entities"]["customer_id"].drop_duplicates().tolist()
    assert online["customer_id"].tolist() == [*ids, "no-such-customer"]
    assert online["found"].tolist() == [True] * len(ids) + [False]
    latest = snapshots.sort_values(TS).groupby("customer_id").tail(1).set_index("customer_id")
    _assert_close(online.iloc[: len(ids)], latest.loc[ids].reset_index())
    assert online.iloc[-1][FEATURE_COLUMNS].isna().all()
    assert _local_feast_files(remote.home_b) == []


def test_pod_b_sees_the_quality_summary_of_the_last_write(
    pod_b: dict[str, Any], written: dict[str, Any]
) -> None:
    assert pod_b["summary"] == written["last_summary"]


@pytest.mark.usefixtures("pod_env")
def test_missing_variable_is_one_readable_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEAST_REGISTRY_PATH")
    monkeypatch.delenv("FEAST_REDIS_CONNECTION")
    with pytest.raises(InfraError, match="needs environment variable") as info:
        feast_store.feature_store(str(REMOTE_REPO))
    message = str(info.value)
    assert "\n" not in message
    assert "FEAST_REGISTRY_PATH, FEAST_REDIS_CONNECTION" in message
    assert "remote/" in message


@pytest.mark.usefixtures("pod_env")
def test_remote_registry_without_remote_tables_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEAST_OFFLINE_URI")
    try:
        with pytest.raises(InfraError, match=r"FEAST_OFFLINE_URI is unset") as info:
            feast_store.feature_store(str(REMOTE_REPO))
        assert "\n" not in str(info.value)
    finally:
        monkeypatch.undo()
        _restore_definitions()
