"""configs/stacks/kubeflow.yaml: hosts and buckets from the environment, credentials as secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from configs.stacks import STACKS_DIR, load_stack_file
from retail_mlops.errors import InfraError
from retail_mlops.paths import PROJECT_ROOT

pytestmark = pytest.mark.kubeflow_compile

ENV = {
    "KFP_HOST": "https://kfp.example.com/pipeline",
    "ARTIFACT_STORE_PATH": "s3://bucket/zenml",
    "S3_ENDPOINT_URL": "https://s3.eu-west-1.amazonaws.com",
    "AWS_ACCESS_KEY_ID": "AKIA-test",
    "AWS_SECRET_ACCESS_KEY": "secret-test",
    "CONTAINER_REGISTRY_URI": "ghcr.io/acme",
    "MLFLOW_TRACKING_URI": "https://mlflow.example.com",
    "MLFLOW_TRACKING_TOKEN": "token-test",
    "FEAST_REGISTRY_PATH": "s3://bucket/feast/registry.db",
    "FEAST_OFFLINE_URI": "s3://bucket/feast/data",
    "FEAST_REDIS_CONNECTION": "redis.example.com:6379,password=redis-test",
}
COMPONENTS = {
    "orchestrator": "kubeflow",
    "artifact_store": "s3",
    "container_registry": "default",
    "image_builder": "local",
    "experiment_tracker": "mlflow",
    "model_registry": "mlflow",
    "data_validator": "evidently",
    "feature_store": "feast",
}


def _leaves(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [leaf for v in node.values() for leaf in _leaves(v)]
    return [node] if isinstance(node, str) else []


@pytest.fixture
def stack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("KFP_NAMESPACE", "AWS_REGION"):
        monkeypatch.delenv(key, raising=False)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def test_every_value_is_a_variable_or_a_secret() -> None:
    raw = yaml.safe_load((STACKS_DIR / "kubeflow.yaml").read_text())
    assert {t: c["flavor"] for t, c in raw["components"].items()} == COMPONENTS
    for comp in raw["components"].values():
        config = dict(comp.get("configuration") or {})
        config.pop("feast_repo", None)  # a folder of this project, checked below
        for value in _leaves(config) + _leaves(comp.get("environment") or {}):
            assert value.startswith(("${", "{{")), f"literal value in kubeflow.yaml: {value!r}"
        for secret in comp.get("secrets") or []:
            assert secret in raw["secrets"], f"component secret {secret!r} is not declared"
    for values in raw["secrets"].values():
        assert all(v.startswith("${") for v in values.values())


def test_feast_repo_is_the_remote_layout_relative_to_the_project() -> None:
    raw = yaml.safe_load((STACKS_DIR / "kubeflow.yaml").read_text())
    repo = raw["components"]["feature_store"]["configuration"]["feast_repo"]
    assert not Path(repo).is_absolute(), "each pod resolves it against its own copy of the code"
    text = (PROJECT_ROOT / repo / "feature_store.yaml").read_text()
    for name in ("FEAST_REGISTRY_PATH", "FEAST_REDIS_CONNECTION"):
        assert f"${{{name}}}" in text
    assert "type: file" in text  # Feast's dask store reads s3://; DuckDB here has no httpfs


@pytest.mark.usefixtures("stack_env")
def test_expands_from_the_environment_with_defaults() -> None:
    spec = load_stack_file("kubeflow")
    orchestrator = spec["components"]["orchestrator"]["configuration"]
    assert orchestrator == {"kubeflow_hostname": ENV["KFP_HOST"], "kubeflow_namespace": "kubeflow"}
    store = spec["components"]["artifact_store"]["configuration"]
    assert store["key"] == "{{kubeflow_s3.aws_access_key_id}}", "credentials stay references"
    assert store["client_kwargs"]["region_name"] == "us-east-1"
    assert spec["secrets"]["kubeflow_s3"]["aws_secret_access_key"] == "secret-test"
    feast = spec["components"]["feature_store"]
    assert feast["environment"] == {
        "FEAST_REGISTRY_PATH": ENV["FEAST_REGISTRY_PATH"],
        "FEAST_OFFLINE_URI": ENV["FEAST_OFFLINE_URI"],
        "FEAST_S3_ENDPOINT_URL": ENV["S3_ENDPOINT_URL"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    assert feast["secrets"] == ["kubeflow_feast"]
    assert spec["secrets"]["kubeflow_feast"] == {
        "AWS_ACCESS_KEY_ID": ENV["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": ENV["AWS_SECRET_ACCESS_KEY"],
        "FEAST_REDIS_CONNECTION": ENV["FEAST_REDIS_CONNECTION"],
    }


@pytest.mark.usefixtures("stack_env")
@pytest.mark.parametrize("name", ["KFP_HOST", "FEAST_OFFLINE_URI", "FEAST_REDIS_CONNECTION"])
def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.delenv(name)
    with pytest.raises(InfraError, match=name):
        load_stack_file("kubeflow")


@pytest.mark.usefixtures("stack_env")
def test_register_gives_steps_the_feast_environment_and_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Registering twice updates the component's environment (a moved bucket) in place."""
    from zenml.client import Client
    from zenml.config.pipeline_configurations import PipelineConfiguration
    from zenml.enums import StackComponentType
    from zenml.utils.env_utils import get_runtime_environment, get_runtime_secret_environment

    from configs.stacks import register_stack

    register_stack("kubeflow", activate=False)
    monkeypatch.setenv("FEAST_OFFLINE_URI", "s3://moved/feast/data")
    register_stack("kubeflow", activate=False)
    client = Client()
    feast = client.get_stack_component(StackComponentType.FEATURE_STORE, "kubeflow_feast")
    assert feast.configuration["feast_repo"] == "feature_repo/remote"
    assert feast.environment["FEAST_OFFLINE_URI"] == "s3://moved/feast/data"
    assert [client.get_secret(s).name for s in feast.secrets] == ["kubeflow_feast"]
    # what ZenML sets around each step of a run on this stack, in the pod
    stack = client.get_stack("kubeflow")
    run_config = PipelineConfiguration(name="probe")  # no environment or secrets of its own
    env = get_runtime_environment(run_config, stack)
    env.update(get_runtime_secret_environment(run_config, stack))
    assert env["FEAST_REGISTRY_PATH"] == ENV["FEAST_REGISTRY_PATH"]
    assert env["FEAST_S3_ENDPOINT_URL"] == ENV["S3_ENDPOINT_URL"]
    assert env["FEAST_REDIS_CONNECTION"] == ENV["FEAST_REDIS_CONNECTION"]
    assert env["AWS_SECRET_ACCESS_KEY"] == ENV["AWS_SECRET_ACCESS_KEY"]
