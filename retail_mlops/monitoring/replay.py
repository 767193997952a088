"""Replay of real customers' requests through the running churn service, month by month.

`run.py monitor` scores each month start as if it were that day. Batch scoring covers the
batch path; this module covers the served one: the customers who really bought in the month
before the scoring day ask the running service for their score, with the features the batch
run computed for that day, so the service's models, router and predictions log handle them
as live traffic. They go to `/admin/replay`, which scores as `/predict` does but logs each
request at the time it names (the scoring day, spread over its first hours), so the month's
served rows fall in the month's monitoring window and get the same drift, KS and (once the
outcomes are known) performance checks as the batch scores.

The endpoint writes history, so the service guards it with its API key: a service started
without one refuses replays (403), and the runner says so in one line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from retail_mlops.errors import InfraError

REPLAY_PATH = "/admin/replay"
ACTIVE_DAYS = 30  # a customer who bought in the month before the scoring day asks that day
MAX_CUSTOMERS = 1000
BATCH_ROWS = 100
SPREAD = pd.Timedelta(hours=8)  # the day's requests arrive over its first hours


@dataclass(frozen=True)
class ReplayResult:
    """What one month's replay sent and what the service answered."""

    at: pd.Timestamp
    customers: int
    requests: int
    model_versions: dict[int, int]  # served model version -> rows it answered
    request_ids: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the month's report."""
        versions = ", ".join(f"v{v}: {n}" for v, n in sorted(self.model_versions.items()))
        return f"{self.customers} customers replayed in {self.requests} requests ({versions})"


def replay_rows(
    features: pd.DataFrame,
    feature_names: Sequence[str],
    cutoff: pd.Timestamp | str,
    active_days: int = ACTIVE_DAYS,
    max_customers: int = MAX_CUSTOMERS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The request rows of the customers who bought in the `active_days` before `cutoff`.

    Args:
        features: A batch scoring run's features: customer_id, cutoff and the features.
        feature_names: The features the service scores on (its request schema).
        cutoff: The scoring day (only rows of this cutoff are used).
        active_days: A customer whose last order is at most this many days old asks.
        max_customers: A seeded sample of at most this many when more are active.
        seed: The sample's seed.

    Returns:
        One `/predict` row per customer: customer_id, as_of (the cutoff), every feature
        (None where missing), in customer id order.

    Raises:
        InfraError: If the frame lacks a feature the service asks for.
    """
    day = pd.Timestamp(cutoff)
    missing = [c for c in ("customer_id", "cutoff", *feature_names) if c not in features.columns]
    if missing:
        raise InfraError(f"the scoring features lack {', '.join(missing)}: cannot replay")
    frame = features[pd.to_datetime(features["cutoff"]) == day]
    frame = frame[frame["days_since_last_order"] <= active_days]
    if len(frame) > max_customers:
        frame = frame.sample(n=max_customers, random_state=seed)
    frame = frame.sort_values("customer_id")
    values = frame[list(feature_names)].astype(float)
    rows = []
    for cid, vals in zip(
        frame["customer_id"].astype(str), values.itertuples(index=False), strict=True
    ):
        row: dict[str, Any] = {"customer_id": cid, "as_of": day.isoformat()}
        row.update(
            {f: (None if math.isnan(v) else v) for f, v in zip(feature_names, vals, strict=True)}
        )
        rows.append(row)
    return rows


Post = Callable[[str, Any], tuple[int, Any]]


def replay(
    post: Post,
    rows: list[dict[str, Any]],
    at: pd.Timestamp | str,
    batch_rows: int = BATCH_ROWS,
    spread: pd.Timedelta = SPREAD,
) -> ReplayResult:
    """Send `rows` to the service's replay endpoint in batches, timed from `at` over `spread`.

    Args:
        post: Sends a JSON body to a path of the service; returns (status, parsed answer).
        rows: The request rows (`replay_rows`).
        at: When the first request is made; batch i is made at at + i * spread / batches.
        batch_rows: Rows per request.
        spread: The time the requests are spread over.

    Returns:
        The counts and the model versions that answered.

    Raises:
        InfraError: If the service refuses or fails a request (the status and its message).
    """
    start = pd.Timestamp(at)
    batches = [rows[i : i + batch_rows] for i in range(0, len(rows), batch_rows)]
    versions: dict[int, int] = {}
    ids: list[str] = []
    for i, batch in enumerate(batches):
        when = start + spread * i / max(len(batches), 1)
        status, answer = post(REPLAY_PATH, {"at": when.isoformat(), "rows": batch})
        if status != 200:
            detail = answer.get("error", answer) if isinstance(answer, dict) else answer
            hint = " (start the service with RETAIL_MLOPS_API_KEY set, and set it here)"
            raise InfraError(
                f"the churn service answered {status} to a replay: {str(detail)[:300]}"
                + (hint if status in (401, 403) else "")
            )
        ids.append(str(answer["request_id"]))
        for p in answer["predictions"]:
            versions[int(p["model_version"])] = versions.get(int(p["model_version"]), 0) + 1
    return ReplayResult(start, len(rows), len(batches), versions, ids)


def wait_logged(folder: Path, request_ids: Sequence[str], timeout_s: float = 60.0) -> None:
    """Wait until the service's log holds every replayed request (it writes every few seconds).

    The month's window reads the log right after the replay; without the wait its last
    requests could still sit in the service's buffer and be missed.

    Raises:
        InfraError: If some request is still not in the log after `timeout_s`.
    """
    from retail_mlops.monitoring.retention import read_log_safe

    wanted = set(request_ids)
    deadline = time.monotonic() + timeout_s
    while True:
        rows, _bad = read_log_safe(folder)
        missing = wanted - set(rows["request_id"])
        if not missing:
            return
        if time.monotonic() > deadline:
            raise InfraError(
                f"{len(missing)} replayed request(s) not in the predictions log {folder} after "
                f"{timeout_s:.0f} s: is the service writing its log elsewhere?"
            )
        time.sleep(0.5)
