"""Fixtures for the services: real models from real training runs, real `bentoml serve`.

The churn models come from the churn_training pipeline on the committed subset (two runs,
so champion and challenger are different versions) and the online features from
feature_materialization; the servers are started and stopped by PID like a deployment.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retail_mlops.deploy.services import SERVICES
from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import local_stack, mlflow_client  # noqa: F401  (fixtures)

API_KEY = "test-key-7f3a"
CHURN_TARGET = SERVICES["churn"].target


def _run(name: str, config: str) -> Any:
    from run import run_pipeline

    return run_pipeline(name, str(PROJECT_ROOT / "configs" / config), no_cache=False)


@pytest.fixture(scope="session")
def churn_registry(local_stack: str) -> dict[str, int]:  # noqa: F811
    """Champion and challenger of churn_classifier, two different versions trained for real."""
    from mlflow import MlflowClient

    from retail_mlops.names import CHALLENGER, CHAMPION, MODEL_NAME
    from retail_mlops.registry import alias_version
    from retail_mlops.serving.bento_store import import_alias
    from steps.client import configure_mlflow_from_stack, promote_model

    _run("feature_materialization", "feature_materialization.dev.yaml")

    def versions() -> list[int]:
        # ZenML points MLflow elsewhere after every step: re-aim before each registry call
        configure_mlflow_from_stack()
        found = MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")
        return sorted(int(v.version) for v in found)

    while len(versions()) < 2:
        from run import run_pipeline

        run_pipeline(
            "churn_training",
            str(PROJECT_ROOT / "configs" / "churn_training.dev.yaml"),
            no_cache=True,
        )
    newest = versions()[-1]
    configure_mlflow_from_stack()
    MlflowClient().set_registered_model_alias(MODEL_NAME, CHALLENGER, str(newest))
    if alias_version(MODEL_NAME, CHAMPION) in (None, newest):
        promote_model(MODEL_NAME, versions()[-2])
        configure_mlflow_from_stack()
    for alias in (CHAMPION, CHALLENGER):
        assert import_alias(MODEL_NAME, alias) is not None
    return {
        CHAMPION: int(alias_version(MODEL_NAME, CHAMPION) or 0),
        CHALLENGER: int(alias_version(MODEL_NAME, CHALLENGER) or 0),
    }


def churn_release_file(
    folder: Path, name: str = "churn.json", feature_repo: Path | None = None, **changes: Any
) -> Path:
    """Resolve the churn release from the registry like the pipeline, with config changes."""
    from retail_mlops.features.feast_store import DEFAULT_REPO
    from retail_mlops.serving.bento_store import churn_release
    from retail_mlops.serving.release import ChurnServing, write_release

    spec = ChurnServing.model_validate({**ChurnServing().model_dump(), **changes})
    repo = str(feature_repo or DEFAULT_REPO)
    return write_release(churn_release(spec, repo), folder, name)


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("releases")


def start_churn(release: Path, api_key: str | None = None, log_dir: Path | None = None) -> Any:
    from retail_mlops.deploy import process

    env = {"RETAIL_MLOPS_CHURN_RELEASE": str(release)}
    if api_key:
        env["RETAIL_MLOPS_API_KEY"] = api_key
    return process.start("churn", CHURN_TARGET, process.free_port(), env=env)


@pytest.fixture(scope="module")
def churn_server(churn_registry: dict[str, int], release_dir: Path) -> Iterator[Any]:
    """A churn service on a free loopback port, champion 50 / challenger 50, no API key."""
    from retail_mlops.deploy import process

    release = churn_release_file(
        release_dir,
        "open.json",
        variants=[
            {"name": "champion", "alias": "champion", "weight": 50},
            {"name": "challenger", "alias": "challenger", "weight": 50},
        ],
    )
    dep = start_churn(release)
    yield dep
    process.stop(dep)
    assert not any(process.alive(p) for p in dep.pids), "a server process survived stop()"


def feature_row(customer_id: str, release: dict[str, Any], value: float = 1.0) -> dict[str, Any]:
    return {"customer_id": customer_id, **dict.fromkeys(release["features"], value)}


def read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))
