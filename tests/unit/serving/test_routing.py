"""Variant routing, releases, micro-batching, API keys and the predictions log, without a server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retail_mlops.errors import DataError
from retail_mlops.serving.predlog import COLUMNS, PredictionLog, now_utc, read_log
from retail_mlops.serving.release import (
    ChurnRelease,
    ChurnServing,
    Router,
    Variant,
    read_release,
    release_env,
    write_release,
)
from retail_mlops.serving.runtime import ApiKeyMiddleware, MicroBatcher, key_matches


def _variants(*weights: float) -> list[Variant]:
    return [
        Variant(name=f"v{i}", model_tag=f"m:v{i}", model_version=i + 1, weight=w)
        for i, w in enumerate(weights)
    ]


def test_sticky_router_is_stable_and_splits_by_weight() -> None:
    router = Router(_variants(90, 10))
    ids = [str(12000 + i) for i in range(20_000)]
    first = [router.assign(i) for i in ids]
    assert first == [Router(_variants(90, 10)).assign(i) for i in ids]  # across instances
    share = first.count(1) / len(first)
    assert 0.09 < share < 0.11


def test_zero_weight_variant_never_answers_and_all_zero_is_refused() -> None:
    router = Router(_variants(1, 0))
    assert {router.assign(str(i)) for i in range(2000)} == {0}
    with pytest.raises(DataError, match="weights"):
        Router(_variants(0, 0))


def test_random_router_is_not_sticky() -> None:
    router = Router(_variants(50, 50), sticky=False, seed=1)
    picks = {router.assign("same-customer") for _ in range(200)}
    assert picks == {0, 1}


def test_release_round_trip_and_env_override(tmp_path: Path, monkeypatch: Any) -> None:
    release = ChurnRelease(variants=_variants(90, 10), features=["a", "b"])
    write_release(release, tmp_path / "beside")
    assert read_release(ChurnRelease, tmp_path / "beside", "churn") == release
    other = write_release(release.model_copy(update={"shadow": True}), tmp_path, "x.json")
    monkeypatch.setenv(release_env("churn"), str(other))
    assert read_release(ChurnRelease, tmp_path / "beside", "churn").shadow is True


def test_missing_or_invalid_release_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"run\.py serve"):
        read_release(ChurnRelease, tmp_path, "churn")
    (tmp_path / "release.json").write_text(json.dumps({"variants": []}))
    with pytest.raises(DataError, match="not a valid release"):
        read_release(ChurnRelease, tmp_path, "churn")


def test_serving_config_refuses_duplicate_variants_and_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unique"):
        ChurnServing.model_validate(
            {"variants": [{"name": "a", "alias": "champion", "weight": 1}] * 2}
        )
    with pytest.raises(ValueError, match="Extra inputs"):
        ChurnServing.model_validate({"shadow_mode": True})


def test_micro_batcher_scores_concurrent_requests_in_one_call() -> None:
    calls: list[int] = []

    def score(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return x[:, 0] * 2

    async def main() -> list[np.ndarray]:
        batcher = MicroBatcher(score, max_size=100, max_latency_s=0.01)
        xs = [np.full((n, 3), float(n)) for n in (1, 2, 3, 4)]
        return await asyncio.gather(*(batcher(x) for x in xs))

    out = asyncio.run(main())
    assert [o.tolist() for o in out] == [[2.0], [4.0, 4.0], [6.0] * 3, [8.0] * 4]
    assert calls == [10]  # one booster call for all four requests


def test_micro_batcher_respects_max_size_and_passes_errors_on() -> None:
    calls: list[int] = []

    def score(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        if (x < 0).any():
            raise ValueError("bad row")
        return x[:, 0]

    async def main() -> list[Any]:
        batcher = MicroBatcher(score, max_size=4, max_latency_s=0.0)
        xs = [np.ones((2, 1)), np.ones((2, 1)), np.ones((2, 1)), -np.ones((1, 1))]
        return await asyncio.gather(*(batcher(x) for x in xs), return_exceptions=True)

    out = asyncio.run(main())
    assert calls == [4, 3]  # never more than max_size rows, requests never split
    assert [o.tolist() for o in out[:2]] == [[1.0, 1.0], [1.0, 1.0]]
    assert isinstance(out[2], ValueError)  # the whole failing batch gets the error
    assert isinstance(out[3], ValueError)


def test_micro_batcher_joins_lists_for_one_lookup_and_hands_each_its_own_ids() -> None:
    calls: list[list[str]] = []

    def lookup(ids: list[str]) -> list[dict[str, str]]:
        calls.append(ids)
        return [{"customer_id": i, "found": i != "nope"} for i in ids]  # type: ignore[dict-item]

    async def main() -> list[Any]:
        batcher = MicroBatcher(
            lookup, max_size=100, max_latency_s=0.0, join=lambda p: [i for x in p for i in x]
        )
        return await asyncio.gather(batcher(["a"]), batcher(["b", "nope"]), batcher(["c"]))

    out = asyncio.run(main())
    assert calls == [["a", "b", "nope", "c"]]  # one store read for three requests
    assert [[r["customer_id"] for r in o] for o in out] == [["a"], ["b", "nope"], ["c"]]


async def _call(app: Any, path: str, headers: dict[str, str]) -> int:
    sent: list[dict[str, Any]] = []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "path": path,
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    return int(sent[0]["status"])


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_api_key_middleware(monkeypatch: Any) -> None:
    monkeypatch.delenv("RETAIL_MLOPS_API_KEY", raising=False)
    open_app = ApiKeyMiddleware(_ok_app)
    assert asyncio.run(_call(open_app, "/predict", {})) == 200
    assert asyncio.run(_call(open_app, "/admin/reload", {})) == 403

    monkeypatch.setenv("RETAIL_MLOPS_API_KEY", "s3cret")
    app = ApiKeyMiddleware(_ok_app)
    assert asyncio.run(_call(app, "/predict", {})) == 401
    assert asyncio.run(_call(app, "/metrics", {"x-api-key": "nope"})) == 401
    assert asyncio.run(_call(app, "/readyz", {})) == 200
    assert asyncio.run(_call(app, "/predict", {"x-api-key": "s3cret"})) == 200
    assert asyncio.run(_call(app, "/admin/reload", {"authorization": "Bearer s3cret"})) == 200
    assert key_matches({"authorization": "bearer s3cret"}, "s3cret")


def test_prediction_log_flushes_parts_atomically_and_reads_back(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log", flush_rows=3, flush_seconds=60)
    stamp = now_utc()
    rows = [(f"r{i}", stamp, "predict", str(i), "champion", 1, 0.5, True, None) for i in range(5)]
    log.append(rows[:3])
    log.append(rows[3:])
    log.close()
    parts = sorted((tmp_path / "log").glob("*"))
    assert parts
    assert all(p.name.startswith("part-") and p.suffix == ".parquet" for p in parts)
    back = read_log(tmp_path / "log")
    assert list(back.columns) == COLUMNS
    assert sorted(back["request_id"]) == [f"r{i}" for i in range(5)]
    assert read_log(tmp_path / "empty").empty
