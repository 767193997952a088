"""The deployment pipeline as a user runs it: build the Bento, serve it, list it, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import run_cli, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_deploy_list_rollback_and_undeploy_churn(
    churn_registry: dict[str, int], tmp_path: Path
) -> None:
    from zenml.client import Client

    from retail_mlops.deploy import process

    port = process.free_port()
    config = write_config(tmp_path, "deployment.yaml", **{"parameters.churn.port": port})
    first = run_cli("deployment", "--config", str(config), "--service", "churn", timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    dep = process.current("churn")
    assert dep is not None
    assert dep.port == port
    assert dep.target.startswith("churn_service:")
    status, body = process.http("POST", dep.url + "/predict_customer", {"customer_ids": ["nope"]})
    assert status == 200
    assert body["results"][0]["status"] == 404
    # the Swagger page describes the service with its own README, not the project's
    status, spec = process.http("GET", dep.url + "/docs.json")
    assert status == 200
    own = (PROJECT_ROOT / "bentos" / "churn_service" / "README.md").read_text()
    assert spec["info"]["description"].strip() == own.strip()
    run = Client().get_pipeline("deployment").last_run
    assert run.status.value == "completed"
    assert {"resolve_churn_release", "build_churn_bento", "deploy_churn_bento"} <= set(run.steps)

    listing = run_cli("deployments")
    assert "churn" in listing.stdout
    assert "ready" in listing.stdout
    assert dep.target in listing.stdout
    assert f"champion={churn_registry['champion']}" in listing.stdout

    # a second deployment replaces the first (new Bento, same port); rollback brings it back
    second = run_cli("deployment", "--config", str(config), "--service", "churn", timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    newer = process.current("churn")
    assert newer is not None
    assert newer.target != dep.target
    assert newer.pid != dep.pid
    assert not process.alive(dep.pid)
    back = run_cli("deployment", "--config", str(config), "--service", "churn", "--rollback")
    assert back.returncode == 0, back.stderr[-3000:]
    restored = process.current("churn")
    assert restored is not None
    assert restored.target == dep.target
    assert process.http("GET", restored.url + "/readyz")[0] == 200

    down = run_cli("undeploy", "churn")
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert process.current("churn") is None
    assert not any(process.alive(p) for p in restored.pids)
    assert not process.port_in_use("127.0.0.1", port)


def test_a_service_that_cannot_start_keeps_the_previous_one(
    churn_registry: dict[str, int], tmp_path: Path
) -> None:
    from retail_mlops.deploy import deployer, process
    from retail_mlops.errors import InfraError

    port = process.free_port()
    release: dict[str, Any] = _deploy_release()
    tag = deployer.build_bento("churn", release)
    good = deployer.deploy("churn", tag, port, release)
    try:
        with pytest.raises(InfraError, match="restored"):
            deployer.deploy("churn", "churn_service:doesnotexist", port, release)
        back = process.current("churn")
        assert back is not None
        assert back.target == tag
        assert process.http("GET", back.url + "/readyz")[0] == 200
    finally:
        process.stop_service("churn")
        process.stop(good)


def _deploy_release() -> dict[str, Any]:
    from retail_mlops.features.feast_store import DEFAULT_REPO
    from retail_mlops.serving.bento_store import churn_release
    from retail_mlops.serving.release import ChurnServing

    return dict(churn_release(ChurnServing(), str(DEFAULT_REPO)).model_dump(mode="json"))
