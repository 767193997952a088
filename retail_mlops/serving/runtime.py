"""Pieces both services share: API-key check, micro-batching, service paths.

Plain ASGI and asyncio; the Bentos import these, the tests exercise them directly.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from retail_mlops.paths import state_dir

API_KEY_ENV = "RETAIL_MLOPS_API_KEY"
# BentoML's health probes stay open: orchestrators and load balancers call them without keys
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/livez"})
ADMIN_PREFIX = "/admin/"


def api_key() -> str | None:
    """The configured API key (environment only, never a config file); None when unset."""
    return os.environ.get(API_KEY_ENV) or None


def auth_headers() -> dict[str, str]:
    """Headers that authenticate this process's own calls (smoke checks, the CLI)."""
    key = api_key()
    return {"x-api-key": key} if key else {}


def key_matches(headers: dict[str, str], key: str) -> bool:
    """Whether a request carries `key` as `X-API-Key: K` or `Authorization: Bearer K`."""
    given = headers.get("x-api-key") or ""
    if not given and headers.get("authorization", "").lower().startswith("bearer "):
        given = headers["authorization"][7:]
    return hmac.compare_digest(given.encode(), key.encode())


class ApiKeyMiddleware:
    """Refuses every request but the health probes without the configured API key (401).

    With no key configured it passes everything through, so local use needs no set-up,
    except the admin endpoints, which then answer 403: they never run unauthenticated.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.key = api_key()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI entry point."""
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        admin = scope["path"].startswith(ADMIN_PREFIX)
        if self.key is None:
            if not admin:
                await self.app(scope, receive, send)
                return
            await _refuse(
                send, 403, f"admin endpoints need an API key: set {API_KEY_ENV} on the server"
            )
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if key_matches(headers, self.key):
            await self.app(scope, receive, send)
            return
        await _refuse(send, 401, "missing or wrong API key: send it as X-API-Key")


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"ApiKey"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def predictions_dir(service: str) -> Any:
    """Where a service logs its predictions: <state>/serving/predictions/<service>."""
    return state_dir() / "serving" / "predictions" / service


class MicroBatcher:
    """Adaptive batching of calls across concurrent requests, in the event loop.

    A request's rows join a queue; one drain task hands everything queued (up to `max_size`
    rows) to one call. Under light load a batch is one request and waits at most
    `max_latency_s`; under heavy load batches grow by themselves while the previous one runs.
    The rows are a NumPy matrix (model calls, joined with `np.vstack`) or a list (online
    store look-ups, joined by concatenation); each request gets its slice of the answer.
    The call may be a coroutine (a look-up waiting on another thread): while it is awaited,
    new requests queue up for the next batch.
    """

    def __init__(
        self,
        score: Callable[[Any], Any],
        max_size: int,
        max_latency_s: float,
        join: Callable[[list[Any]], Any] = np.vstack,
    ) -> None:
        self._score = score
        self._max_size = max_size
        self._max_latency_s = max_latency_s
        self._join = join
        self._queue: list[tuple[Any, asyncio.Future[Any]]] = []
        self._draining = False
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, x: Any) -> Any:
        """Hand `x` to the next batch's call and return its rows of the result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((x, future))
        if not self._draining:
            self._draining = True
            self._task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self._max_latency_s > 0 and self._queued_rows() < self._max_size:
                    await asyncio.sleep(self._max_latency_s)
                else:
                    await asyncio.sleep(0)  # let requests that are already parsed join
                batch: list[tuple[Any, asyncio.Future[Any]]] = []
                rows = 0
                while self._queue and (
                    not batch or rows + len(self._queue[0][0]) <= self._max_size
                ):
                    item = self._queue.pop(0)
                    batch.append(item)
                    rows += len(item[0])
                try:
                    scores = self._score(self._join([x for x, _ in batch]))
                    if inspect.isawaitable(scores):
                        scores = await scores
                except Exception as exc:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                start = 0
                for x, fut in batch:
                    if not fut.done():
                        fut.set_result(scores[start : start + len(x)])
                    start += len(x)
        finally:
            self._draining = False

    def _queued_rows(self) -> int:
        return sum(len(x) for x, _ in self._queue)


def document_errors() -> None:
    """Make BentoML's published error schemas match the error bodies it sends.

    Two mismatches in BentoML 1.4, both found by schemathesis: a request that fails
    validation gets pydantic's list of errors (each naming the field) in `detail`, documented
    as a string; and a 4xx raised as a BentoML exception (404 unknown sku) is sent as a
    one-element list `[{"error": ...}]`, documented as an object. The bodies are useful as
    they are; the documentation is what changes, so clients and the schema agree.
    """
    from bentoml._internal.service.openapi.specification import Schema
    from bentoml._internal.service.openapi.utils import exception_components_schema

    detail = Schema(
        title="Error Detail",
        anyOf=[Schema(type="string"), Schema(type="array", items=Schema(type="object"))],
    )
    components = exception_components_schema()
    for title, schema in list(components.items()):
        if schema.anyOf is not None:
            continue  # done already (both services call this in one process in tests)
        properties = dict(schema.properties or {})
        properties["detail"] = detail
        error = Schema(type="object", properties=properties, required=schema.required, title=title)
        components[title] = Schema(
            title=title,
            description=schema.description,
            anyOf=[error, Schema(type="array", items=error)],
        )


class JsonBodyMiddleware:
    """Answers 415 to a POST whose body is declared as anything but JSON.

    BentoML also parses form and multipart bodies for any API, and a malformed multipart body
    makes it answer 500; these APIs take JSON only, so anything else is refused before
    parsing. An undeclared content type is read as JSON.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI entry point."""
        if scope["type"] == "http" and scope["method"] == "POST":
            ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if ctype.split(b";")[0].strip().lower() not in (b"", b"application/json"):
                await _refuse(
                    send, 415, "send the body as JSON, with Content-Type: application/json"
                )
                return
        await self.app(scope, receive, send)


def service_options(name: str, hot_paths: list[str]) -> dict[str, Any]:
    """`@bentoml.service` settings both services share, and why.

    BentoML's timeout middleware leaves each request's timer (and the context it copied,
    tracing span included) alive for the whole timeout after the answer: at ~1,000 req/s a
    60 s timeout kept ~60k of them, memory grew and p99 went from 40 ms to 400 ms over a
    minute of load. Scoring takes milliseconds, so a short timeout bounds that, and the hot
    paths create no spans (no exporter is configured anyway). Access logging is off: the
    Prometheus metrics and the predictions log record every call.
    """
    return {
        "name": name,
        "workers": 1,
        "traffic": {"timeout": 5},
        "tracing": {"excluded_urls": hot_paths},
        "logging": {"access": {"enabled": False}},
        "metrics": {"enabled": True},
    }


def harden(service: Any) -> Any:
    """API key first (a request without it gets 401 before any 415), JSON only, honest docs."""
    service.add_asgi_middleware(ApiKeyMiddleware)
    service.add_asgi_middleware(JsonBodyMiddleware)
    document_errors()
    return service
