"""The `local-servers` stack end to end: a real `mlflow server` and a real Redis on loopback.

Both servers are started for this module the way `make servers` starts them (by PID, on free
ports), the stack is registered from configs/stacks/local-servers.yaml, and the churn jobs
run on it: feature_materialization (online rows into Redis), churn_training (tracked and
registered through the server, artifacts uploaded to it), churn_batch_inference and the
churn deployment (models downloaded through the server). The registry is then read through
the server's REST API, as any other client would. The session's local stack is active again
afterwards.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import run_cli, write_config
from tests.servers import requires_redis

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    requires_redis,
]

TOKEN = "local-servers-test-token"


def _rest(url: str, path: str, **query: str) -> Any:
    from retail_mlops.deploy.process import http

    status, body = http(
        "GET", f"{url}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(query)}", timeout=30
    )
    assert status == 200, body
    return body


@pytest.fixture(scope="module")
def servers(local_stack: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The two servers, the stack registered and active; the local stack again afterwards."""
    from zenml.client import Client

    from configs.stacks import register_stack
    from retail_mlops.deploy.servers import mlflow_server, redis_server
    from retail_mlops.features import feast_store

    folder = tmp_path_factory.mktemp("mlflow-server")
    with (
        redis_server() as redis_port,
        mlflow_server(folder) as url,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setenv("RETAIL_MLOPS_MLFLOW_URL", url)
        mp.setenv("MLFLOW_TRACKING_TOKEN", TOKEN)
        mp.setenv("FEAST_REDIS_CONNECTION", f"127.0.0.1:{redis_port}")
        feast_store.feature_store.cache_clear()
        try:
            assert register_stack("local-servers") == "local-servers"
            yield {"url": url, "folder": folder, "redis_port": redis_port}
        finally:
            Client().activate_stack(local_stack)
            feast_store.feature_store.cache_clear()


def _run(name: str, config: Path, parameters: dict[str, Any] | None = None) -> Any:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from run import run_pipeline

    run = Client().get_pipeline_run(run_pipeline(name, str(config), True, parameters).id)
    assert run.status == ExecutionStatus.COMPLETED
    return run


def test_the_churn_jobs_run_on_the_servers_and_the_registry_answers_over_rest(
    servers: dict[str, Any], tmp_path: Path
) -> None:
    import redis
    from zenml.client import Client

    from retail_mlops.deploy import process
    from retail_mlops.names import MODEL_NAME
    from steps.client import configure_mlflow_from_stack

    url = servers["url"]
    configs = PROJECT_ROOT / "configs"
    assert configure_mlflow_from_stack() == url  # the stack's tracker is the server

    _run("feature_materialization", configs / "feature_materialization.dev.yaml")
    online = redis.Redis(host="127.0.0.1", port=servers["redis_port"])
    assert online.dbsize() > 0  # the online rows live in this Redis
    online.close()

    training = _run("churn_training", configs / "churn_training.dev.yaml")
    registered = _rest(url, "registered-models/get", name=MODEL_NAME)["registered_model"]
    aliases = {a["alias"]: int(a["version"]) for a in registered.get("aliases", [])}
    assert aliases["champion"] == aliases["challenger"] == 1  # a fresh registry: v1 wins
    version = _rest(url, "model-versions/get", name=MODEL_NAME, version="1")["model_version"]
    assert version["run_id"] == training.steps["train_churn_model"].run_metadata["mlflow_run_id"]
    experiments = _rest(url, "experiments/get-by-name", experiment_name="churn_training")
    # artifacts stored by the server and served through it, not written by the client
    assert experiments["experiment"]["artifact_location"].startswith("mlflow-artifacts:")
    stored = list((servers["folder"] / "artifacts").rglob("*.ubj")) + list(
        (servers["folder"] / "artifacts").rglob("*.json")
    )
    assert stored

    scoring = _run("churn_batch_inference", configs / "churn_batch_inference.dev.yaml")
    predictions = scoring.steps["predict_churn"].outputs["predictions"][0].load()
    assert set(predictions["model_version"]) == {1}

    # as a user runs it, in a process of its own: building the Bento imports the service
    # module, whose release is read once per process (an in-process build would leave this
    # session's later in-process service tests with this stack's release)
    port = process.free_port()
    deploy = write_config(tmp_path, "deployment.dev.yaml", **{"parameters.churn.port": port})
    deployed = run_cli("deployment", "--config", str(deploy), "--service", "churn", timeout=600)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert Client().get_pipeline("deployment").last_run.stack.name == "local-servers"
    dep = process.current("churn")
    assert dep is not None
    try:
        ids = [str(c) for c in predictions["customer_id"].head(3)]
        status, body = process.http("POST", f"{dep.url}/predict_customer", {"customer_ids": ids})
        assert status == 200, body
        assert [r["status"] for r in body["results"]] == [200, 200, 200]  # features from Redis
        assert {r["model_version"] for r in body["results"]} == {1}
    finally:
        process.stop_service("churn")
