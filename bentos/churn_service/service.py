"""Churn service: champion/challenger XGBoost boosters behind one typed HTTP API.

What it serves is pinned by `release.json` beside this file (written by the deployment
pipeline or `run.py serve`): the BentoML model of each variant, the traffic weights, sticky
or random assignment, shadow mode and the batch limit. The models are native XGBoost UBJ
files loaded with `xgb.Booster`, never unpickled.

Fast path, measured (bench/serving.py): the booster is called on a NumPy row built straight
from the validated request (no DataFrame), the response is a pydantic model (a list return
type makes BentoML rebuild its JSON schema per response), access logging is off (Prometheus
metrics and the predictions log cover it) and the heap left after start-up is frozen out of
the garbage collector.

Every scored row is logged with the features it was scored on (the body's for /predict, the
online store's for /predict_customer): the float64 matrix the request built, sliced per
variant with NumPy and handed to the log in one piece, never a per-row copy.

Metrics are plain `prometheus_client` objects in its default registry, which BentoML's /metrics
serves (merged across workers in multiprocess mode). This module is imported inside each
worker, whose environment already names PROMETHEUS_MULTIPROC_DIR, so the import below starts
prometheus_client in multiprocess mode, as the deprecated `bentoml.metrics` wrapper did.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gc
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
import prometheus_client
from pydantic import BaseModel, ConfigDict, Field, create_model

from retail_mlops.paths import resolve, use_bentoml_home
from retail_mlops.serving.predlog import LogWrite, PredictionLog, now_utc
from retail_mlops.serving.release import ChurnRelease, Router, read_release
from retail_mlops.serving.runtime import MicroBatcher, harden, predictions_dir, service_options

logger = logging.getLogger(__name__)
use_bentoml_home()  # the pinned models below are looked up in this store
HERE = Path(__file__).resolve().parent
RELEASE = read_release(ChurnRelease, HERE, "churn")
FEATURES = RELEASE.features

EXAMPLE_ROW: dict[str, Any] = {"customer_id": "13085", **dict.fromkeys(FEATURES, 1.0)}


class _Row(BaseModel):
    # NaN/inf are refused (JSON has no such numbers; Python's parser would let them in);
    # null is allowed and means "missing", which XGBoost handles natively.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


FeatureRow = create_model(  # type: ignore[call-overload]
    "FeatureRow",
    __base__=_Row,
    customer_id=(
        str,
        Field(min_length=1, max_length=64, description="Routes the row to a variant (sticky)."),
    ),
    as_of=(
        dt.datetime | None,
        Field(
            None,
            description="When the features were computed (optional); logged, so an A/B report "
            "can tell when the outcome window starts.",
        ),
    ),
    **{name: (float | None, Field(description="null = missing")) for name in FEATURES},
)


class Prediction(BaseModel):
    """One row's score and who answered it."""

    customer_id: str
    churn_probability: float
    variant: str
    model_version: int


class PredictResponse(BaseModel):
    """Scores of one /predict call; request_id is the key into the predictions log."""

    request_id: str
    predictions: list[Prediction]


class CustomerResult(BaseModel):
    """One customer id's answer: a prediction, or status 404 for an id the store lacks."""

    customer_id: str
    status: int
    churn_probability: float | None = None
    variant: str | None = None
    model_version: int | None = None
    features_as_of: str | None = None
    detail: str | None = None


class CustomerResponse(BaseModel):
    """One result per requested id, in request order."""

    request_id: str
    results: list[CustomerResult]


class ReloadResponse(BaseModel):
    """What the service serves after a reload."""

    variants: dict[str, int]
    weights: dict[str, float]
    shadow: bool


Rows = Annotated[list[FeatureRow], Field(min_length=1, max_length=RELEASE.max_batch_rows)]  # type: ignore[valid-type]
CustomerIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]],
    Field(min_length=1, max_length=RELEASE.max_batch_rows),
]


class PredictInput(BaseModel):
    """/predict body: `{"rows": [...]}`; unknown top-level keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")
    rows: Rows


class ReplayInput(BaseModel):
    """/admin/replay body: recorded requests' rows and the time they were made."""

    model_config = ConfigDict(extra="forbid")
    at: dt.datetime = Field(description="When the requests were made: the log's timestamp.")
    rows: Rows


class CustomerInput(BaseModel):
    """/predict_customer body: `{"customer_ids": [...]}`."""

    model_config = ConfigDict(extra="forbid")
    customer_ids: CustomerIds


LOOKUP_TIMEOUT_S = 2.0  # an online-store read slower than this answers 503
STORE_RETRY_S = 1.0  # after a failed read, the store is asked again this much later


class StoreUnavailable(RuntimeError):
    """The online store failed or did not answer; the message is its last error."""


class _Variants:
    """The loaded boosters and the router; swapped whole on reload."""

    def __init__(self, release: ChurnRelease) -> None:
        from retail_mlops.serving.bento_store import load_booster

        self.release = release
        self.names = [v.name for v in release.variants]
        self.versions = [v.model_version for v in release.variants]
        self.router = Router(release.variants, sticky=release.sticky)
        boosters = [load_booster(v.model_tag) for v in release.variants]
        self.scorers = [functools.partial(_score, b) for b in boosters]
        b = release.batching
        self.batchers = [
            MicroBatcher(score, b.max_batch_size, b.max_latency_ms / 1000.0)
            for score in self.scorers
        ]

    async def score(self, i: int, x: np.ndarray) -> np.ndarray:
        if self.release.batching.enabled:
            return await self.batchers[i](x)
        return self.scorers[i](x)


def _score(booster: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(booster.inplace_predict(x, validate_features=False))


def _variant_tags() -> dict[str, bentoml.models.BentoModel]:
    return {f"model_{v.name}": bentoml.models.BentoModel(v.model_tag) for v in RELEASE.variants}


class ChurnService:
    """Scores churn probability; every answer names its variant and model version."""

    requests_total = prometheus_client.Counter(
        name="churn_variant_requests_total",
        documentation="Rows scored per variant (served = answered, or shadow).",
        labelnames=["endpoint", "variant", "model_version", "served"],
    )
    latency = prometheus_client.Histogram(
        name="churn_variant_latency_seconds",
        documentation="Model time per call and variant.",
        labelnames=["variant"],
        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    )
    scores = prometheus_client.Histogram(
        name="churn_variant_score",
        documentation="Distribution of churn probabilities per variant.",
        labelnames=["variant", "served"],
        buckets=tuple(round(0.1 * i, 1) for i in range(1, 11)),
    )

    log_pending = prometheus_client.Gauge(
        name="churn_predictions_log_pending_rows",
        documentation="Scored rows the predictions log could not write yet (written later).",
        multiprocess_mode="livesum",
    )
    log_failures = prometheus_client.Counter(
        name="churn_predictions_log_write_failures_total",
        documentation="Writes of the predictions log that failed (the rows wait in memory).",
    )
    log_dropped = prometheus_client.Counter(
        name="churn_predictions_log_dropped_rows_total",
        documentation="Rows given up because too many waited for an unwritable log.",
    )

    def __init__(self) -> None:
        self.variants = _Variants(RELEASE)
        self.log = PredictionLog(
            predictions_dir("churn"), features=FEATURES, on_write=self._log_written
        )
        self._store: Any = None
        # concurrent /predict_customer requests share one online-store read: the store's
        # client costs about a millisecond per call, whatever the number of ids in it
        self._lookups = MicroBatcher(self._lookup, RELEASE.max_batch_rows, 0.0, join=_concat)
        # the reads run on a thread of their own, so a store that hangs or retries (redis-py
        # backs off for seconds on a refused connection) never stalls the event loop: /predict
        # keeps answering, and a read that outlives LOOKUP_TIMEOUT_S is a 503
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="online-store")
        self._store_down: tuple[float, str] | None = None  # (retry after, the last error)
        self._warm_online_store()
        gc.collect()
        gc.freeze()  # start-up objects never need collecting; shorter GC pauses under load

    @bentoml.on_shutdown
    def _flush_log(self) -> None:
        self.log.close()

    def _log_written(self, write: LogWrite) -> None:
        self.log_pending.set(write.pending)
        if write.error is not None:
            self.log_failures.inc()
        if write.dropped:
            self.log_dropped.inc(write.dropped)

    def _warm_online_store(self) -> None:
        """Open the Feast store and read once at start-up, not in the first request.

        Opening it (imports, registry) takes seconds; done lazily, the first /predict_customer
        could outlive the request timeout. A service without a feature store still starts:
        /predict works, and /predict_customer says what is missing.
        """
        from retail_mlops.features.feast_store import online_records

        try:
            online_records(self._online_store(), "customer_features", ["warm-up"], FEATURES)
        except Exception as exc:
            self._store = None
            logger.warning("online feature store not ready (%s); /predict_customer retries", exc)

    async def _lookup(self, ids: list[str]) -> list[dict[str, Any]]:
        """One online-store read for a batch of ids, bounded in time, with a short breaker.

        After a failure the store is not asked again for STORE_RETRY_S: the requests in
        between get the last error at once instead of queueing behind a read that hangs.
        """
        down = self._store_down
        if down is not None and time.monotonic() < down[0]:
            raise StoreUnavailable(down[1])
        loop = asyncio.get_running_loop()
        try:
            records: list[dict[str, Any]] = await asyncio.wait_for(
                loop.run_in_executor(self._store_thread, self._read_store, ids),
                LOOKUP_TIMEOUT_S,
            )
        except Exception as exc:
            kind = getattr(getattr(self._store, "config", None), "online_store", None)
            reason = (f"{kind.type} store: " if kind is not None else "") + (
                f"no answer within {LOOKUP_TIMEOUT_S:g} s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}"
            )
            self._store_down = (time.monotonic() + STORE_RETRY_S, reason)
            raise StoreUnavailable(reason) from exc
        self._store_down = None
        return records

    def _read_store(self, ids: list[str]) -> list[dict[str, Any]]:
        from retail_mlops.features.feast_store import online_records

        return online_records(
            self._online_store(), "customer_features", ids, FEATURES, with_timestamp=True
        )

    def _online_store(self) -> Any:
        if self._store is None:
            from retail_mlops.features.feast_store import feature_store

            self._store = feature_store(str(_feature_repo()))
        return self._store

    async def _score_rows(
        self,
        endpoint: str,
        ids: list[str],
        features: np.ndarray,
        as_of: list[Any],
        stamp: dt.datetime | None = None,
    ) -> tuple[str, list[tuple[str, float, int]]]:
        """Route, score, record; returns the request id and (variant, score, version) per row.

        `features` (float64, NaN = missing, FEATURES order) is what gets logged; the boosters
        score a float32 copy of each variant's rows, as XGBoost would convert them anyway.
        `stamp` is the log's timestamp: now, unless a replay names when the request was made.
        """
        v = self.variants
        request_id = uuid.uuid4().hex
        stamp = now_utc() if stamp is None else stamp
        assigned = [0] * len(ids) if v.release.shadow else [v.router.assign(i) for i in ids]
        answer: list[tuple[str, float, int]] = [("", 0.0, 0)] * len(ids)
        log: list[tuple[Any, ...]] = []
        logged: list[np.ndarray] = []  # the feature rows of `log`, one block per variant
        for i, name in enumerate(v.names):
            rows = (
                list(range(len(ids)))
                if v.release.shadow
                else [r for r, a in enumerate(assigned) if a == i]
            )
            if not rows:
                continue
            served = not v.release.shadow or i == 0
            mine = features if len(rows) == len(ids) else features[rows]
            logged.append(mine)
            t0 = time.perf_counter()
            p = await v.score(i, mine.astype(np.float32))
            self.latency.labels(variant=name).observe(time.perf_counter() - t0)
            version = v.versions[i]
            self.requests_total.labels(endpoint, name, str(version), str(served).lower()).inc(
                len(rows)
            )
            hist = self.scores.labels(name, str(served).lower())
            for r, s in zip(rows, p.tolist(), strict=True):
                hist.observe(s)
                if served:
                    answer[r] = (name, s, version)
                log.append(
                    (request_id, stamp, endpoint, ids[r], name, version, s, served, as_of[r])
                )
        self.log.append(log, logged[0] if len(logged) == 1 else np.concatenate(logged))
        return request_id, answer

    @bentoml.api(route="/predict", input_spec=PredictInput)
    async def predict(self, rows: Rows) -> PredictResponse:  # type: ignore[valid-type]
        """Score a batch of feature rows (one per customer)."""
        return await self._predict_rows("predict", rows)

    @bentoml.api(route="/admin/replay", input_spec=ReplayInput)
    async def replay(self, at: dt.datetime, rows: Rows) -> PredictResponse:  # type: ignore[valid-type]
        """Score recorded requests as /predict does, logged at the time they were made.

        A replay of past traffic (`run.py monitor`) goes through the served models, router
        and log like live traffic; only the log's timestamp is the request's own, so each
        replayed month lands in its monitoring window. Its rows are logged with endpoint
        `replay`. It writes history, so ApiKeyMiddleware guards it like every admin endpoint.
        """
        return await self._predict_rows("replay", rows, _naive_utc(at))

    async def _predict_rows(
        self, endpoint: str, rows: Any, stamp: dt.datetime | None = None
    ) -> PredictResponse:
        x = np.array(
            [[np.nan if (val := getattr(r, f)) is None else val for f in FEATURES] for r in rows],
            dtype=np.float64,
        )
        ids = [str(getattr(r, "customer_id")) for r in rows]  # noqa: B009 (a created model)
        as_of = [_naive_utc(getattr(r, "as_of")) for r in rows]  # noqa: B009
        request_id, answer = await self._score_rows(endpoint, ids, x, as_of, stamp)
        return PredictResponse(
            request_id=request_id,
            predictions=[
                Prediction(customer_id=c, churn_probability=s, variant=n, model_version=ver)
                for c, (n, s, ver) in zip(ids, answer, strict=True)
            ],
        )

    @bentoml.api(route="/predict_customer", input_spec=CustomerInput)
    async def predict_customer(
        self,
        customer_ids: CustomerIds,  # type: ignore[valid-type]
        ctx: bentoml.Context,
    ) -> CustomerResponse:
        """Score customers by id with their latest features from the online store.

        An id the store does not know gets status 404 in its own result; the others are scored.
        A store that fails or does not answer makes the whole answer 503, each id's result
        naming the store and its error (BentoML would hide a raised 5xx's message).
        """
        try:
            records = await self._lookups(list(customer_ids))
        except Exception as exc:
            # the server's problem, not the client's: 503 with the cause, never a bare 500
            logger.warning("online feature store unavailable: %s", exc)
            ctx.response.status_code = 503
            detail = f"online feature store unavailable: {exc}"
            return CustomerResponse(
                request_id=uuid.uuid4().hex,
                results=[
                    CustomerResult(customer_id=c, status=503, detail=detail) for c in customer_ids
                ],
            )
        found = [r for r in records if r["found"]]
        scored: dict[str, tuple[str, float, int]] = {}
        request_id = uuid.uuid4().hex
        if found:
            x = np.array(
                [[np.nan if r[f] is None else r[f] for f in FEATURES] for r in found],
                dtype=np.float64,
            )
            ids = [r["customer_id"] for r in found]
            request_id, answer = await self._score_rows(
                "predict_customer", ids, x, [r["as_of"] for r in found]
            )
            scored = dict(zip(ids, answer, strict=True))
        results = []
        for r in records:
            cid = r["customer_id"]
            if cid in scored:
                n, s, ver = scored[cid]
                results.append(
                    CustomerResult(
                        customer_id=cid,
                        status=200,
                        churn_probability=s,
                        variant=n,
                        model_version=ver,
                        features_as_of=r["as_of"].isoformat(),
                    )
                )
            else:
                results.append(
                    CustomerResult(
                        customer_id=cid, status=404, detail="unknown customer id: no features"
                    )
                )
        return CustomerResponse(request_id=request_id, results=results)

    @bentoml.api(route="/admin/reload")
    def reload(self) -> ReloadResponse:
        """Re-read release.json and swap models, weights and mode without a restart.

        ApiKeyMiddleware guards it: the API key is always required here, and with none
        configured on the server the endpoint answers 403.
        """
        release = read_release(ChurnRelease, HERE, "churn")
        if release.features != FEATURES:
            raise bentoml.exceptions.InvalidArgument(
                "the new release changes the feature list: rebuild and redeploy instead"
            )
        self.variants = _Variants(release)
        return ReloadResponse(
            variants={v.name: v.model_version for v in release.variants},
            weights={v.name: v.weight for v in release.variants},
            shadow=release.shadow,
        )


def _concat(parts: list[list[Any]]) -> list[Any]:
    return [item for part in parts for item in part]


def _naive_utc(when: dt.datetime | None) -> dt.datetime | None:
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(dt.UTC).replace(tzinfo=None)


def _feature_repo() -> Path:
    return resolve(RELEASE.feature_repo)


for _attr, _ref in _variant_tags().items():
    setattr(ChurnService, _attr, _ref)  # BentoML pins class-level model refs into the Bento

ChurnService = harden(  # type: ignore[misc]
    bentoml.service(**service_options("churn_service", ["/predict", "/predict_customer"]))(
        ChurnService
    )
)
