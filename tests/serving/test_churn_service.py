"""The churn service as a client sees it: real `bentoml serve`, real models, HTTP on loopback."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT
from tests.serving.conftest import (
    API_KEY,
    churn_release_file,
    feature_row,
    read_json,
    start_churn,
)

pytestmark = [pytest.mark.integration]


def _post(dep: Any, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
    from retail_mlops.deploy.process import http

    return http("POST", dep.url + path, body, **kw)


@pytest.fixture(scope="module")
def release(churn_server: Any, release_dir: Path) -> dict[str, Any]:
    return read_json(release_dir / "open.json")


def test_predict_names_variant_and_version_and_matches_the_booster(
    churn_server: Any, release: dict[str, Any], churn_registry: dict[str, int]
) -> None:
    from retail_mlops.serving.bento_store import load_booster

    rows = [feature_row(str(12000 + i), release, value=float(i % 7)) for i in range(40)]
    status, body = _post(churn_server, "/predict", {"rows": rows})
    assert status == 200, body
    preds = body["predictions"]
    assert [p["customer_id"] for p in preds] == [r["customer_id"] for r in rows]
    assert {p["variant"] for p in preds} == {"champion", "challenger"}
    tags = {v["name"]: v["model_tag"] for v in release["variants"]}
    for p, row in zip(preds, rows, strict=True):
        assert p["model_version"] == churn_registry[p["variant"]]
        x = np.array([[row[f] for f in release["features"]]], dtype=np.float32)
        expected = load_booster(tags[p["variant"]]).inplace_predict(x)[0]
        assert p["churn_probability"] == pytest.approx(float(expected), rel=1e-6)


def test_served_scores_equal_batch_inference_of_the_same_version(
    churn_server: Any, release: dict[str, Any], churn_registry: dict[str, int]
) -> None:
    """The service scores with the trees batch inference uses (early stopping's best round)."""
    import mlflow
    import pandas as pd

    from retail_mlops.churn.model import predict_churn
    from retail_mlops.names import MODEL_NAME
    from steps.client import configure_mlflow_from_stack

    rows = [feature_row(str(13000 + i), release, value=float(i % 11) * 3.5) for i in range(60)]
    status, body = _post(churn_server, "/predict", {"rows": rows})
    assert status == 200, body
    frame = pd.DataFrame(rows)
    configure_mlflow_from_stack()
    for variant, version in churn_registry.items():
        model = mlflow.xgboost.load_model(f"models:/{MODEL_NAME}/{version}")
        batch = dict(zip(frame["customer_id"], predict_churn(model, frame), strict=True))
        served = [p for p in body["predictions"] if p["variant"] == variant]
        assert served, f"no row went to {variant}"
        for p in served:
            assert p["churn_probability"] == pytest.approx(float(batch[p["customer_id"]]), abs=1e-6)


def test_assignment_is_sticky_and_follows_the_weights(
    churn_server: Any, release: dict[str, Any]
) -> None:
    rows = [feature_row(f"c{i}", release) for i in range(1000)]
    first = _post(churn_server, "/predict", {"rows": rows})[1]["predictions"]
    again = _post(churn_server, "/predict", {"rows": rows[::-1]})[1]["predictions"][::-1]
    assert [p["variant"] for p in first] == [p["variant"] for p in again]
    share = sum(p["variant"] == "champion" for p in first) / len(first)
    assert 0.44 < share < 0.56  # 50/50 weights; binomial sd is 0.016


def test_predict_customer_uses_online_features_and_404s_unknown_ids(churn_server: Any) -> None:
    import pandas as pd

    from retail_mlops.features.feast_store import offline_path

    known = pd.read_parquet(offline_path("customer_features"), columns=["customer_id"])
    ids = [str(c) for c in known["customer_id"].drop_duplicates().head(3)]
    status, body = _post(churn_server, "/predict_customer", {"customer_ids": [*ids, "no-such-id"]})
    assert status == 200, body
    results = {r["customer_id"]: r for r in body["results"]}
    for cid in ids:
        assert results[cid]["status"] == 200
        assert 0.0 <= results[cid]["churn_probability"] <= 1.0
        assert results[cid]["variant"] in {"champion", "challenger"}
        assert results[cid]["features_as_of"].startswith("2011-12")
    assert results["no-such-id"]["status"] == 404
    assert "unknown customer id" in results["no-such-id"]["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rows": []}, "rows"),
        ({}, "rows"),
        ({"rows": [{"customer_id": "1"}]}, "total_orders"),
        ({"rows": "x"}, "rows"),
        ({"rows": [], "extra": 1}, "extra"),
    ],
)
def test_bad_bodies_get_400_naming_the_field(churn_server: Any, body: Any, field: str) -> None:
    status, answer = _post(churn_server, "/predict", body)
    assert status == 400
    assert field in str(answer["detail"])


def test_wrong_types_nan_extra_fields_and_oversized_batches_get_400(
    churn_server: Any, release: dict[str, Any]
) -> None:
    from retail_mlops.deploy.process import http

    row = feature_row("1", release)
    cases = {
        "wrong type": {"rows": [{**row, "spend_30d": "lots"}]},
        "extra field": {"rows": [{**row, "favourite_colour": 1.0}]},
        "oversized": {"rows": [row] * (release["max_batch_rows"] + 1)},
        "empty ids": {"customer_ids": []},
    }
    for name, body in cases.items():
        path = "/predict_customer" if "customer_ids" in body else "/predict"
        status, answer = _post(churn_server, path, body)
        assert status == 400, (name, answer)
    # NaN and Infinity are not JSON, but Python clients send them: refused, naming the field
    for literal in ("NaN", "Infinity"):
        raw = json.dumps({"rows": [{**row, "total_orders": "__X__"}]}).replace('"__X__"', literal)
        req = urllib.request.Request(
            churn_server.url + "/predict",
            data=raw.encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError, match="Bad Request") as err:
            urllib.request.urlopen(req)
        assert err.value.code == 400
        detail = err.value.read().decode()
        assert "total_orders" in detail
        assert "finite" in detail
    status, answer = http("POST", churn_server.url + "/predict", None)
    assert status == 400


def test_health_metrics_and_docs(churn_server: Any) -> None:
    from retail_mlops.deploy.process import http

    for path in ("/healthz", "/readyz", "/livez"):
        assert http("GET", churn_server.url + path)[0] == 200
    status, spec = http("GET", churn_server.url + "/docs.json")
    assert status == 200
    assert "/predict" in spec["paths"]
    status, metrics = http("GET", churn_server.url + "/metrics")
    assert status == 200
    assert 'churn_variant_requests_total{endpoint="predict"' in metrics
    assert "churn_variant_score_bucket" in metrics
    assert "churn_variant_latency_seconds" in metrics


def test_predictions_are_logged_with_variant_version_and_request_id(
    churn_server: Any, release: dict[str, Any]
) -> None:
    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir

    status, body = _post(churn_server, "/predict", {"rows": [feature_row("logged-1", release)]})
    assert status == 200
    deadline = time.monotonic() + 15
    log = read_log(predictions_dir("churn"))
    while time.monotonic() < deadline and body["request_id"] not in set(log["request_id"]):
        time.sleep(0.5)
        log = read_log(predictions_dir("churn"))
    row = log[log["request_id"] == body["request_id"]].iloc[0]
    answered = body["predictions"][0]
    assert row["variant"] == answered["variant"]
    assert row["model_version"] == answered["model_version"]
    assert row["score"] == pytest.approx(answered["churn_probability"])
    assert bool(row["served"])
    assert row["entity_id"] == "logged-1"


def test_api_key_guards_everything_but_health_and_reload_switches_to_shadow(
    churn_registry: dict[str, int], release_dir: Path
) -> None:
    from retail_mlops.deploy import process
    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir

    path = churn_release_file(release_dir, "keyed.json")
    dep = start_churn(path, api_key=API_KEY)
    try:
        release = read_json(path)
        body = {"rows": [feature_row("k1", release)]}
        assert _post(dep, "/predict", body)[0] == 401
        assert _post(dep, "/predict", body, headers={"x-api-key": "wrong"})[0] == 401
        assert process.http("GET", dep.url + "/metrics")[0] == 401
        assert process.http("GET", dep.url + "/readyz")[0] == 200
        ok = {"x-api-key": API_KEY}
        assert _post(dep, "/predict", body, headers=ok)[0] == 200
        assert (
            _post(dep, "/predict", body, headers={"authorization": f"Bearer {API_KEY}"})[0] == 200
        )
        assert _post(dep, "/admin/reload", {})[0] == 401

        # shadow mode: the champion answers every row, the challenger scores it into the log
        churn_release_file(release_dir, "keyed.json", shadow=True)
        status, answer = _post(dep, "/admin/reload", {}, headers=ok)
        assert status == 200
        assert answer["shadow"] is True
        rows = [feature_row(f"s{i}", release) for i in range(50)]
        status, answer = _post(dep, "/predict", {"rows": rows}, headers=ok)
        assert {p["variant"] for p in answer["predictions"]} == {"champion"}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            log = read_log(predictions_dir("churn"))
            mine = log[log["request_id"] == answer["request_id"]]
            if len(mine) == 100:
                break
            time.sleep(0.5)
        assert sorted(mine.groupby(["variant", "served"]).size().items()) == [
            (("challenger", False), 50),
            (("champion", True), 50),
        ]
    finally:
        process.stop(dep)


@pytest.mark.parametrize("endpoint", ["/admin/reload", "/admin/replay"])
def test_admin_endpoints_are_refused_without_a_configured_key(
    churn_server: Any, endpoint: str
) -> None:
    status, answer = _post(churn_server, endpoint, {})
    assert status == 403
    assert "RETAIL_MLOPS_API_KEY" in answer["error"]


def test_a_replayed_request_is_scored_as_predict_and_logged_at_its_own_time(
    churn_registry: dict[str, int], release_dir: Path
) -> None:
    """/admin/replay: the served model's answer, the log's timestamp the request's own."""
    from retail_mlops.deploy import process
    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir

    path = churn_release_file(release_dir, "replay.json")
    dep = start_churn(path, api_key=API_KEY)
    ok = {"x-api-key": API_KEY}
    try:
        release = read_json(path)
        rows = [
            {**feature_row(f"r{i}", release, value=float(i)), "as_of": "2011-03-01T00:00:00"}
            for i in range(5)
        ]
        at = "2011-03-01T10:30:00+01:00"
        assert _post(dep, "/admin/replay", {"at": at, "rows": rows})[0] == 401
        status, replayed = _post(dep, "/admin/replay", {"at": at, "rows": rows}, headers=ok)
        assert status == 200, replayed
        status, live = _post(dep, "/predict", {"rows": rows}, headers=ok)
        assert [p["churn_probability"] for p in replayed["predictions"]] == [
            p["churn_probability"] for p in live["predictions"]
        ]
        bad = _post(dep, "/admin/replay", {"at": "not a time", "rows": rows}, headers=ok)
        assert bad[0] == 400
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            log = read_log(predictions_dir("churn"))
            mine = log[log["request_id"] == replayed["request_id"]]
            if len(mine) == len(rows):
                break
            time.sleep(0.5)
        assert len(mine) == len(rows)
        assert set(mine["endpoint"]) == {"replay"}
        assert set(mine["timestamp"]) == {pd.Timestamp("2011-03-01 09:30:00")}  # naive UTC
        assert set(mine["as_of"]) == {pd.Timestamp("2011-03-01")}
        assert mine.sort_values("entity_id")["total_orders"].tolist() == [
            float(i) for i in range(5)
        ]
    finally:
        process.stop(dep)


@pytest.mark.parametrize("endpoint", ["predict", "predict_customer"])
def test_the_example_requests_work_as_they_are(churn_server: Any, endpoint: str) -> None:
    # what the README tells a user: curl -d @bentos/churn_service/examples/<endpoint>.json
    from retail_mlops.deploy.process import http

    example = PROJECT_ROOT / "bentos" / "churn_service" / "examples" / f"{endpoint}.json"
    status, answer = http("POST", f"{churn_server.url}/{endpoint}", json.loads(example.read_text()))
    assert status == 200, answer


def _metric(dep: Any, name: str) -> float:
    from retail_mlops.deploy.process import http

    _, text = http("GET", dep.url + "/metrics")
    values = [
        float(line.rsplit(" ", 1)[1])
        for line in str(text).splitlines()
        if line.startswith(name) and not line.startswith("#")
    ]
    return sum(values)


def test_an_unwritable_log_keeps_the_service_answering_and_loses_no_row(
    churn_server: Any, release: dict[str, Any], tmp_path: Path
) -> None:
    """The log's folder taken by a file: answers go on, the metrics count, the rows come later."""
    import shutil

    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir

    folder = predictions_dir("churn")
    aside = tmp_path / "earlier-parts"
    if folder.exists():
        shutil.move(str(folder), aside)
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the log's folder should be")
    failures_before = _metric(churn_server, "churn_predictions_log_write_failures_total")
    try:
        ids = []
        for i in range(20):
            rows = [feature_row(f"u{i}-{j}", release) for j in range(5)]
            status, answer = _post(churn_server, "/predict", {"rows": rows})
            assert status == 200, answer  # the service keeps answering
            ids.append(answer["request_id"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if _metric(churn_server, "churn_predictions_log_pending_rows") >= 100:
                break
            time.sleep(0.5)
        assert _metric(churn_server, "churn_predictions_log_pending_rows") >= 100
        failed = _metric(churn_server, "churn_predictions_log_write_failures_total")
        assert failed > failures_before

        folder.unlink()  # writable again: the waiting rows go into the next part
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            log = read_log(folder)
            if set(ids) <= set(log["request_id"]):
                break
            time.sleep(0.5)
        mine = log[log["request_id"].isin(ids)]
        assert len(mine) == 100  # every row of every request, none lost
        assert _metric(churn_server, "churn_predictions_log_pending_rows") == 0
        assert _metric(churn_server, "churn_predictions_log_dropped_rows_total") == 0
    finally:
        if folder.is_file():
            folder.unlink()
        if aside.exists():
            folder.mkdir(parents=True, exist_ok=True)
            for part in aside.iterdir():
                shutil.move(str(part), folder / part.name)
