"""The replay of a month's real customers: who asks, with which features, when, and refusals.

The rows come from the committed subset's real feature snapshots; `post` records what would
go over HTTP (the service's own replay endpoint is tested against a running server in
tests/serving/test_churn_service.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.errors import InfraError
from retail_mlops.features.customer import FEATURE_COLUMNS, customer_feature_snapshots
from retail_mlops.monitoring.replay import REPLAY_PATH, replay, replay_rows, wait_logged

CUTOFF = "2011-06-01"


@pytest.fixture(scope="module")
def features(subset_clean: pd.DataFrame) -> pd.DataFrame:
    return customer_feature_snapshots(subset_clean, [CUTOFF, "2011-07-01"])


def test_the_customers_who_bought_in_the_month_before_ask_with_that_days_features(
    features: pd.DataFrame, subset_clean: pd.DataFrame
) -> None:
    rows = replay_rows(features, FEATURE_COLUMNS, CUTOFF, max_customers=10_000)
    day = pd.Timestamp(CUTOFF)
    lines = subset_clean[
        (subset_clean["invoice_date"] < day)
        & (subset_clean["invoice_date"] >= day - pd.Timedelta(days=30))
    ]
    assert {r["customer_id"] for r in rows} == set(lines["customer_id"].astype(str))
    assert {r["as_of"] for r in rows} == {day.isoformat()}
    snapshot = features[pd.to_datetime(features["cutoff"]) == day].set_index("customer_id")
    snapshot.index = snapshot.index.astype(str)
    for row in rows[:20]:
        expected = snapshot.loc[row["customer_id"], list(FEATURE_COLUMNS)].astype(float)
        got = np.array([np.nan if row[f] is None else row[f] for f in FEATURE_COLUMNS], dtype=float)
        np.testing.assert_array_equal(got, expected.to_numpy())
    assert set(rows[0]) == {"customer_id", "as_of", *FEATURE_COLUMNS}  # the /predict row, no extras


def test_a_busy_month_is_sampled_reproducibly_and_a_missing_feature_is_one_line(
    features: pd.DataFrame,
) -> None:
    everyone = replay_rows(features, FEATURE_COLUMNS, CUTOFF, max_customers=10_000)
    sample = replay_rows(features, FEATURE_COLUMNS, CUTOFF, max_customers=5)
    assert len(sample) == 5 < len(everyone)
    assert sample == replay_rows(features, FEATURE_COLUMNS, CUTOFF, max_customers=5)
    with pytest.raises(InfraError, match="lack no_such_feature"):
        replay_rows(features, [*FEATURE_COLUMNS, "no_such_feature"], CUTOFF)


def test_requests_are_batched_timed_over_the_morning_and_counted_by_version(
    features: pd.DataFrame,
) -> None:
    rows = replay_rows(features, FEATURE_COLUMNS, CUTOFF, max_customers=25)
    assert len(rows) == 25
    sent: list[tuple[str, Any]] = []

    def post(path: str, body: Any) -> tuple[int, Any]:
        sent.append((path, body))
        answers = [{"model_version": 3 if i % 4 else 4} for i, _ in enumerate(body["rows"])]
        return 200, {"request_id": f"req-{len(sent)}", "predictions": answers}

    result = replay(post, rows, CUTOFF, batch_rows=10, spread=pd.Timedelta(hours=6))
    assert [p for p, _ in sent] == [REPLAY_PATH] * 3
    assert [len(b["rows"]) for _, b in sent] == [10, 10, 5]
    assert [b["at"] for _, b in sent] == [
        "2011-06-01T00:00:00",
        "2011-06-01T02:00:00",
        "2011-06-01T04:00:00",
    ]
    assert sum(b["rows"] == rows[i * 10 : (i + 1) * 10] for i, (_, b) in enumerate(sent)) == 3
    assert (result.customers, result.requests) == (25, 3)
    assert result.request_ids == ["req-1", "req-2", "req-3"]
    assert result.model_versions == {3: 17, 4: 8}
    assert result.summary() == "25 customers replayed in 3 requests (v3: 17, v4: 8)"


@pytest.mark.parametrize(
    ("status", "needle"), [(403, "RETAIL_MLOPS_API_KEY"), (503, "answered 503")]
)
def test_a_refused_replay_is_one_line_naming_the_status(status: int, needle: str) -> None:
    def post(path: str, body: Any) -> tuple[int, Any]:
        return status, {"error": "admin endpoints need an API key"}

    with pytest.raises(InfraError, match=needle) as raised:
        replay(post, [{"customer_id": "1"}], CUTOFF)
    assert "\n" not in str(raised.value)


def test_waiting_for_the_log_returns_once_every_request_is_written(tmp_path: Path) -> None:
    from retail_mlops.serving.predlog import PredictionLog, now_utc

    log = PredictionLog(tmp_path)
    row = ("req-1", now_utc(), "replay", "12346", "champion", 1, 0.5, True, None)
    log.append([row])
    log.close()
    wait_logged(tmp_path, ["req-1"], timeout_s=5)
    with pytest.raises(InfraError, match="1 replayed request"):
        wait_logged(tmp_path, ["req-1", "req-2"], timeout_s=0.5)
