"""The churn service's ASGI app in-process: the same app `bentoml serve` runs, minus HTTP.

Fast checks of request handling; test_churn_service.py does the same over real HTTP.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import churn_release_file, feature_row, read_json

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def client(churn_registry: dict[str, int], release_dir: Path) -> Iterator[Any]:
    from starlette.testclient import TestClient

    path = churn_release_file(release_dir, "asgi.json")
    os.environ["RETAIL_MLOPS_CHURN_RELEASE"] = str(path)
    try:
        module = importlib.import_module("bentos.churn_service.service")
        with TestClient(module.ChurnService.to_asgi()) as test_client:
            test_client.release = read_json(path)  # type: ignore[attr-defined]
            yield test_client
    finally:
        os.environ.pop("RETAIL_MLOPS_CHURN_RELEASE", None)


def test_predict_through_the_app(client: Any, churn_registry: dict[str, int]) -> None:
    rows = [feature_row(str(i), client.release, value=float(i)) for i in range(20)]
    resp = client.post("/predict", json={"rows": rows})
    assert resp.status_code == 200, resp.text
    for p in resp.json()["predictions"]:
        assert p["model_version"] == churn_registry[p["variant"]]
        assert 0.0 <= p["churn_probability"] <= 1.0


def test_non_json_bodies_get_415_not_500(client: Any) -> None:
    resp = client.post(
        "/predict",
        content=b"--x\r\nContent-Disposition: form-data; name=rows\r\n\r\n[\r\n--x--",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert resp.status_code == 415
    assert "JSON" in resp.json()["error"]


def test_validation_errors_match_the_published_schema(client: Any) -> None:
    resp = client.post("/predict", json={"rows": [{"customer_id": "1"}]})
    assert resp.status_code == 400
    detail = resp.json()["detail"]
    assert {d["loc"][-1] for d in detail} >= {"total_orders", "is_uk"}
    spec = client.get("/docs.json").json()
    documented = spec["components"]["schemas"]["InvalidArgument"]["anyOf"]
    detail = documented[0]["properties"]["detail"]
    assert {"type": "array", "items": {"type": "object"}} in detail["anyOf"]
    assert documented[1]["type"] == "array"  # BentoML sends 4xx exceptions as [{"error": ...}]


def test_unknown_route_is_404_and_docs_ui_is_served(client: Any) -> None:
    assert client.post("/nope", json={}).status_code == 404
    assert client.get("/").status_code == 200
