"""Container tier: churn_training compiled for Kubeflow, each step run in its own container.

ZenML builds the step image from docker/pipeline.Dockerfile (the lock) with podman on a
debootstrap'd Debian base and pushes it to a registry on loopback; KFP's own local
DockerRunner executes the compiled IR through podman's Docker API; steps talk to a ZenML
server, an S3 store (moto) and an MLflow server, all on 127.0.0.1.
"""

from __future__ import annotations

import re

import pytest

from tests.kubeflow.conftest import ContainerRun

# The first test builds everything (fixture setup): ~8 min on a fresh 2-core machine.
pytestmark = [pytest.mark.kubeflow_container, pytest.mark.slow, pytest.mark.timeout(2700)]


def _context(run: ContainerRun) -> str:
    return f"{run.result}\n--- kfp.local ---\n" + "\n".join(run.kfp_log.splitlines()[-60:])


def test_run_completed_in_containers(container_run: ContainerRun) -> None:
    result = container_run.result
    assert result["kfp_exit"] == 0, _context(container_run)
    assert result["runs"] == 1, _context(container_run)
    assert result["status"] == "completed", _context(container_run)
    assert result["stack"] == "kubeflow"
    assert result["orchestrator_run_id"] == result["run_id"], "KFP_RUN_ID reached the steps"
    assert set(result["steps"]) == set(container_run.compile_record["upstream"])
    assert set(result["steps"].values()) == {"completed"}, result["steps"]
    # each step ran in a container of its own, which exited 0
    exits = re.findall(r"\[harness\] container \S+ of (\S+) exited (\d+)", container_run.kfp_log)
    assert len(exits) == len(result["steps"]), exits
    assert {code for _, code in exits} == {"0"}
    assert {image for image, _ in exits} == set(container_run.compile_record["images"].values())


def test_model_version_registered(container_run: ContainerRun) -> None:
    result = container_run.result
    assert result["model_version"] is not None, _context(container_run)
    assert result["model_version"]["model"] == "churn_classifier"
    assert result["mlflow_versions"] == [1], result["mlflow_versions"]
    # the first version beats the baseline and becomes champion (it is challenger first)
    assert result["mlflow_aliases"] == {"champion": 1, "challenger": 1}, result["mlflow_aliases"]


def test_artifacts_load_on_the_host(container_run: ContainerRun) -> None:
    artifacts = container_run.result["artifacts"]
    model = [v for k, v in artifacts.items() if k.startswith("train_churn_model.")]
    assert any("XGBClassifier" in v for v in model), artifacts
    frames = [v for v in artifacts.values() if v.startswith("pandas.core.frame.DataFrame")]
    assert len(frames) >= 4, artifacts
