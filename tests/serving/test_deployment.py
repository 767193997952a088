"""The deployment pipeline as a user runs it: build the Bento, serve it, list it, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import run_cli, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_deploy_list_rollback_and_undeploy_churn(
    churn_registry: dict[str, int], tmp_path: Path
) -> None:
    from zenml.client import Client

    from steps.serving import _process

    port = _process.free_port()
    config = write_config(tmp_path, "deployment.yaml", **{"parameters.churn.port": port})
    first = run_cli("deployment", "--config", str(config), "--service", "churn", timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    dep = _process.current("churn")
    assert dep is not None
    assert dep.port == port
    assert dep.target.startswith("churn_service:")
    status, body = _process.http("POST", dep.url + "/predict_customer", {"customer_ids": ["nope"]})
    assert status == 200
    assert body["results"][0]["status"] == 404
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
    newer = _process.current("churn")
    assert newer is not None
    assert newer.target != dep.target
    assert newer.pid != dep.pid
    assert not _process.alive(dep.pid)
    back = run_cli("deployment", "--config", str(config), "--service", "churn", "--rollback")
    assert back.returncode == 0, back.stderr[-3000:]
    restored = _process.current("churn")
    assert restored is not None
    assert restored.target == dep.target
    assert _process.http("GET", restored.url + "/readyz")[0] == 200

    down = run_cli("undeploy", "churn")
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert _process.current("churn") is None
    assert not any(_process.alive(p) for p in restored.pids)
    assert not _process.port_in_use("127.0.0.1", port)


def test_a_service_that_cannot_start_keeps_the_previous_one(
    churn_registry: dict[str, int], tmp_path: Path
) -> None:
    from steps.errors import DataError
    from steps.serving import _deploy, _process

    port = _process.free_port()
    release: dict[str, Any] = _deploy_release()
    tag = _deploy.build_bento("churn", release)
    good = _deploy.deploy("churn", tag, port, release)
    try:
        with pytest.raises(DataError, match="restored"):
            _deploy.deploy("churn", "churn_service:doesnotexist", port, release)
        back = _process.current("churn")
        assert back is not None
        assert back.target == tag
        assert _process.http("GET", back.url + "/readyz")[0] == 200
    finally:
        _process.stop_service("churn")
        _process.stop(good)


def _deploy_release() -> dict[str, Any]:
    from steps.features._store import DEFAULT_REPO
    from steps.serving._models import churn_release
    from steps.serving._release import ChurnServing

    return dict(churn_release(ChurnServing(), str(DEFAULT_REPO)).model_dump(mode="json"))
