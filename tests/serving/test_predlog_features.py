"""The churn service logs the features each row was scored on: real `bentoml serve`, real log.

/predict logs the body's values (float64, null as NaN); /predict_customer logs exactly what the
online store returned for each id, read here with the same `online_records` call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.serving.conftest import read_json

pytestmark = [pytest.mark.integration]


def _post(dep: Any, path: str, body: Any) -> tuple[int, Any]:
    from retail_mlops.deploy.process import http

    return http("POST", dep.url + path, body)


def _logged(request_id: str, n: int) -> pd.DataFrame:
    """The log's rows of one request, once the writer has flushed all `n` of them."""
    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir

    deadline = time.monotonic() + 15
    while True:
        log = read_log(predictions_dir("churn"))
        mine = log[log["request_id"] == request_id]
        if len(mine) >= n or time.monotonic() > deadline:
            return mine.set_index("entity_id")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def release(churn_server: Any, release_dir: Path) -> dict[str, Any]:
    return read_json(release_dir / "open.json")


def test_predict_logs_the_features_of_the_body(churn_server: Any, release: dict[str, Any]) -> None:
    features = release["features"]
    rng = np.random.default_rng(7)
    sent = rng.normal(100.0, 30.0, size=(20, len(features)))  # not exact in float32
    sent[3, 2] = np.nan
    rows = [
        {
            "customer_id": f"feat-{i}",
            **{
                f: None if np.isnan(v) else float(v) for f, v in zip(features, sent[i], strict=True)
            },
        }
        for i in range(len(sent))
    ]
    status, body = _post(churn_server, "/predict", {"rows": rows})
    assert status == 200, body
    assert {p["variant"] for p in body["predictions"]} == {"champion", "challenger"}

    log = _logged(body["request_id"], len(rows))
    assert len(log) == len(rows)
    assert (log[features].dtypes == np.float64).all()
    got = log.loc[[r["customer_id"] for r in rows], features].to_numpy()
    np.testing.assert_array_equal(got, sent)  # bit-equal, NaN where null was sent


def test_predict_customer_logs_what_the_online_store_returned(
    churn_server: Any, release: dict[str, Any]
) -> None:
    from retail_mlops.features.feast_store import feature_store, offline_path, online_records
    from retail_mlops.paths import resolve

    features = release["features"]
    known = pd.read_parquet(offline_path("customer_features"), columns=["customer_id"])
    ids = [str(c) for c in known["customer_id"].drop_duplicates().head(5)]
    status, body = _post(churn_server, "/predict_customer", {"customer_ids": [*ids, "no-such-id"]})
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == [200] * len(ids) + [404]

    store = feature_store(str(resolve(release["feature_repo"])))
    records = online_records(store, "customer_features", ids, features)
    expected = np.array(
        [[np.nan if r[f] is None else r[f] for f in features] for r in records], dtype=np.float64
    )
    log = _logged(body["request_id"], len(ids))
    assert sorted(log.index) == sorted(ids)  # the unknown id is answered 404, not logged
    np.testing.assert_array_equal(log.loc[ids, features].to_numpy(), expected)
