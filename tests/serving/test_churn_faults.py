"""Faults under load on a real churn service: its Redis online store stopped, a worker killed.

A load of concurrent clients (threads posting in a loop) runs while the fault is injected;
every answer is recorded with its time, so a test can say what was answered during the fault
and that nothing but the expected status came back after recovery.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT
from tests.servers import requires_redis
from tests.serving.conftest import churn_release_file, feature_row, read_json, start_churn

pytestmark = [pytest.mark.integration, pytest.mark.slow]
logger = logging.getLogger(__name__)

REDIS_REPO = PROJECT_ROOT / "feature_repo" / "redis"
VIEW = "customer_features"


class Load:
    """`clients` threads posting `body` to `url` until stopped; (time, status, answer) each."""

    def __init__(self, url: str, body: Any, clients: int = 4) -> None:
        self.url, self.body = url, body
        self.answers: list[tuple[float, int, Any]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        from retail_mlops.deploy.process import http

        while not self._stop.is_set():
            try:
                status, answer = http("POST", self.url, self.body, timeout=10)
            except OSError as exc:  # refused or reset while a worker is replaced
                status, answer = 0, str(exc)
            self.answers.append((time.monotonic(), status, answer))

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def since(self, t0: float) -> list[tuple[float, int, Any]]:
        return [a for a in list(self.answers) if a[0] >= t0]

    def wait_for(self, status: int, t0: float, timeout_s: float = 30.0) -> float:
        """The time of the first answer with `status` after t0 (fails after timeout_s)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            hits = [a[0] for a in self.since(t0) if a[1] == status]
            if hits:
                return hits[0]
            time.sleep(0.1)
        seen = sorted({a[1] for a in self.since(t0)})
        raise AssertionError(f"{self.url}: no {status} within {timeout_s} s (saw {seen})")


def _known_ids(n: int) -> list[str]:
    from retail_mlops.features.feast_store import offline_path

    known = pd.read_parquet(offline_path(VIEW), columns=["customer_id"])
    return [str(c) for c in known["customer_id"].drop_duplicates().head(n)]


def _backfill(store: Any) -> None:
    """Load the whole offline table into the online store (a new Redis holds nothing)."""
    from retail_mlops.features import feast_store

    start = pd.read_parquet(feast_store.offline_path(VIEW), columns=["event_timestamp"]).min()
    store.materialize(
        start_date=pd.Timestamp(start.iloc[0]).to_pydatetime(),
        end_date=datetime.now(),
        feature_views=[VIEW],
    )


@pytest.fixture
def redis_port(monkeypatch: pytest.MonkeyPatch) -> int:
    from retail_mlops.deploy.process import free_port

    port = free_port()
    monkeypatch.setenv("FEAST_REDIS_CONNECTION", f"127.0.0.1:{port}")
    return port


@pytest.fixture
def redis_service(
    churn_registry: dict[str, int], release_dir: Path, redis_port: int
) -> Iterator[dict[str, Any]]:
    """A churn service whose online store is a Redis on `redis_port`, loaded with the features.

    The Redis layout's Feast registry (in the session's state) is removed afterwards: it
    records materializations into this Redis, which goes away with the test, and a later
    stack on another Redis would otherwise only load what came since (incremental).
    """
    from retail_mlops.deploy import process
    from retail_mlops.deploy.servers import redis_server
    from retail_mlops.features import feast_store
    from retail_mlops.paths import state_dir

    with redis_server(port=redis_port):
        feast_store.feature_store.cache_clear()
        store = feast_store.feature_store(str(REDIS_REPO))
        feast_store.apply_definitions(store)
        _backfill(store)
        release = churn_release_file(release_dir, "redis.json", feature_repo=REDIS_REPO)
        dep = start_churn(release)
        try:
            yield {"dep": dep, "store": store, "release": read_json(release)}
        finally:
            process.stop(dep)
            feast_store.feature_store.cache_clear()
            (state_dir() / "feast" / "registry-redis.db").unlink(missing_ok=True)


@requires_redis
def test_redis_down_503s_the_lookup_only_and_both_recover_without_a_restart(
    redis_service: dict[str, Any], redis_port: int
) -> None:
    import redis

    from retail_mlops.deploy.servers import redis_server

    dep = redis_service["dep"]
    ids = _known_ids(3)
    customer = Load(f"{dep.url}/predict_customer", {"customer_ids": ids})
    rows = Load(f"{dep.url}/predict", {"rows": [feature_row("r1", redis_service["release"])]})
    with customer, rows:
        t_up = time.monotonic()
        customer.wait_for(200, t_up)
        # stop Redis (the fixture's server process exits); the service keeps running
        with contextlib.suppress(redis.ConnectionError):  # it hangs up as it shuts down
            redis.Redis(host="127.0.0.1", port=redis_port).shutdown(nosave=True)
        t_down = time.monotonic()
        first_503 = customer.wait_for(503, t_down)
        time.sleep(2)
        t_restart = time.monotonic()
        with redis_server(port=redis_port):  # Redis is back (empty, as after a restart)
            _backfill(redis_service["store"])
            t_loaded = time.monotonic()
            back = customer.wait_for(200, t_loaded)
            time.sleep(1)
            t_end = time.monotonic()
    during = [a for a in customer.since(first_503) if a[0] < t_restart]
    refused = [a for a in during if a[1] == 503]
    assert refused, "no 503 while Redis was down"
    assert all(a[1] in (200, 503) for a in during)  # never a bare 500
    messages = {str(a[2]) for a in refused}
    assert all("online feature store unavailable: redis store" in m for m in messages), messages
    # /predict never needed the store: every answer 200, before, during and after
    assert {a[1] for a in rows.since(t_up) if a[0] <= t_end} == {200}
    assert len([a for a in rows.since(t_down) if a[0] < t_restart]) > 0
    # recovered without a restart of the service: every lookup after recovery answers 200
    after = [a for a in customer.since(back) if a[0] <= t_end]
    assert after
    assert {a[1] for a in after} == {200}
    assert all(r["status"] == 200 for a in after for r in a[2]["results"])
    assert back - t_loaded < 15  # the service's client reconnects by itself
    logger.info(
        "redis down: first 503 %.2f s after the stop; lookups answer again %.2f s after the "
        "store is reloaded",
        first_503 - t_down,
        back - t_loaded,
    )


def test_a_killed_worker_is_replaced_under_load_and_no_5xx_follows_recovery(
    churn_registry: dict[str, int], release_dir: Path
) -> None:
    import os
    import signal

    import psutil

    from retail_mlops.deploy import process

    path = churn_release_file(release_dir, "kill.json")
    dep = start_churn(path)
    try:
        release = read_json(path)
        body = {"rows": [feature_row("k1", release)]}
        with Load(f"{dep.url}/predict", body) as load:
            t0 = time.monotonic()
            load.wait_for(200, t0)
            time.sleep(1)
            arbiter = psutil.Process(dep.pid)
            workers = [
                p for p in arbiter.children(recursive=True) if "worker" in " ".join(p.cmdline())
            ]
            if not workers:  # BentoML names its workers in the command line; else any child
                workers = arbiter.children(recursive=True)
            victim = workers[-1]
            t_kill = time.monotonic()
            os.kill(victim.pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                pids = {p.pid for p in arbiter.children(recursive=True)}
                if victim.pid not in pids and len(pids) >= len(workers):
                    break
                time.sleep(0.2)
            replaced = time.monotonic()
            recovered = load.wait_for(200, replaced)
            time.sleep(3)
            t_end = time.monotonic()
        assert process.alive(dep.pid), "the server died with its worker"
        after = [a for a in load.since(recovered) if a[0] <= t_end]
        assert after
        assert {a[1] for a in after} == {200}, sorted({a[1] for a in after})
        assert recovered - t_kill < 60
        logger.info(
            "worker SIGKILL: replaced in %.2f s, answering 200 again %.2f s after the kill; "
            "%d answers after, all 200",
            replaced - t_kill,
            recovered - t_kill,
            len(after),
        )
    finally:
        process.stop(dep)
