"""configs/stacks/kubeflow.yaml: hosts and buckets from the environment, credentials as secrets."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from configs.stacks import STACKS_DIR, load_stack_file
from steps.errors import DataError

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
}
COMPONENTS = {
    "orchestrator": "kubeflow",
    "artifact_store": "s3",
    "container_registry": "default",
    "image_builder": "local",
    "experiment_tracker": "mlflow",
    "model_registry": "mlflow",
    "data_validator": "evidently",
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
        for value in _leaves(comp.get("configuration") or {}):
            assert value.startswith(("${", "{{")), f"literal value in kubeflow.yaml: {value!r}"
    for values in raw["secrets"].values():
        assert all(v.startswith("${") for v in values.values())


@pytest.mark.usefixtures("stack_env")
def test_expands_from_the_environment_with_defaults() -> None:
    spec = load_stack_file("kubeflow")
    orchestrator = spec["components"]["orchestrator"]["configuration"]
    assert orchestrator == {"kubeflow_hostname": ENV["KFP_HOST"], "kubeflow_namespace": "kubeflow"}
    store = spec["components"]["artifact_store"]["configuration"]
    assert store["key"] == "{{kubeflow_s3.aws_access_key_id}}", "credentials stay references"
    assert store["client_kwargs"]["region_name"] == "us-east-1"
    assert spec["secrets"]["kubeflow_s3"]["aws_secret_access_key"] == "secret-test"


@pytest.mark.usefixtures("stack_env")
def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KFP_HOST")
    with pytest.raises(DataError, match="KFP_HOST"):
        load_stack_file("kubeflow")
