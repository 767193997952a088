"""Compile tier: every pipeline through ZenML's real KubeflowOrchestrator, the IR checked.

Needs no container engine and no cluster: a ZenML server and an S3 store (moto) on loopback,
both started by the session fixtures. The image build is recorded, not run (the container
tier builds for real).
"""

from __future__ import annotations

import importlib.metadata
import itertools
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.kubeflow import ir
from tests.kubeflow.compile_pipelines import PROJECT_ROOT, pipeline_names, variant_names

pytestmark = pytest.mark.kubeflow_compile

ENTRYPOINT = ["python", "-m", "zenml.entrypoints.entrypoint"]
STEP_ENTRYPOINT = "zenml.entrypoints.step_entrypoint_configuration.StepEntrypointConfiguration"
# ZenML 0.98 calls `.after(<component>)`; kfp 2.17.0 accepts only PipelineTask there, so no
# pipeline with a dependency compiles (same in ZenML's Vertex and Tekton orchestrators).
KFP_BREAKING = (2, 17)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def test_lock_keeps_kfp_below_2_17() -> None:
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["package"]}
    installed = importlib.metadata.version("kfp")
    for where, version in (("uv.lock", locked["kfp"]), ("installed", installed)):
        assert _version(version)[:2] < KFP_BREAKING, (
            f"kfp {version} ({where}): ZenML 0.98's KubeflowOrchestrator calls "
            "PipelineTask.after(<ContainerComponent>), which kfp >= 2.17 rejects, so no "
            "pipeline with a step dependency compiles. Keep kfp==2.16.1 until ZenML fixes it."
        )
    assert locked["kfp"] == installed, "the environment is not the lock's: run uv sync --frozen"


@pytest.fixture(params=[*pipeline_names(), *variant_names()])
def record(request: pytest.FixtureRequest, compiled: dict[str, dict[str, Any]]) -> dict[str, Any]:
    name = request.param
    assert name in compiled, f"pipeline {name} was not compiled"
    if "error" in compiled[name]:
        pytest.fail(f"{name} does not compile for Kubeflow:\n{compiled[name]['error'][-3000:]}")
    return compiled[name]


def test_ir_is_valid_kfp(record: dict[str, Any]) -> None:
    from kfp import components

    path = Path(record["ir_path"])
    spec = ir.strict_parse(path)
    assert spec.pipeline_info.name == record["run_name"]
    loaded = components.load_component_from_file(str(path))
    assert loaded.name == record["run_name"]


def test_dag_edges_equal_zenml_dependencies(record: dict[str, Any]) -> None:
    tasks = ir.tasks(Path(record["ir_path"]))
    assert set(tasks) == set(record["upstream"]), "one task per ZenML step"
    edges = ir.step_edges(tasks)
    assert edges == {s: set(up) for s, up in record["upstream"].items()}


def test_every_task_runs_the_zenml_entrypoint_in_the_built_image(record: dict[str, Any]) -> None:
    tasks = ir.tasks(Path(record["ir_path"]))
    registry = record["images"][next(iter(record["images"]))].split("/")[0]
    built = {b["image"] for b in record["builds"]}
    for step, task in tasks.items():
        assert task.image == record["images"][step]
        assert task.image in built, f"{step}: image {task.image} was never built"
        assert task.image.startswith(registry + "/"), "images come from the stack's registry"
        assert task.command == ENTRYPOINT
        args = dict(zip(task.args[::2], task.args[1::2], strict=True))
        assert args == {
            "--entrypoint_config_source": STEP_ENTRYPOINT,
            "--snapshot_id": record["snapshot_id"],
            "--step_name": step,
        }


def test_steps_reach_the_zenml_server_and_know_their_run(
    record: dict[str, Any], kf_env: Any
) -> None:
    for step, task in ir.tasks(Path(record["ir_path"])).items():
        assert task.env.get("ZENML_STORE_URL") == kf_env.zenml_url, step
        # KFP substitutes the run's job name; ZenML uses it as the orchestrator run id.
        assert task.env.get("KFP_RUN_ID") == "{{$.pipeline_job_name}}", step


def test_image_is_built_from_the_lock(record: dict[str, Any]) -> None:
    images = set(record["images"].values())
    assert len(images) == 1, f"one image for every step, got {images}"
    (build,) = [b for b in record["builds"] if b["image"] in images]
    assert build["push"], "the image is pushed to the stack's registry"
    dockerfile = build["dockerfile"]
    assert "COPY pyproject.toml uv.lock" in dockerfile
    assert "uv sync --frozen --no-dev" in dockerfile
    assert "pip install" not in dockerfile.replace(
        'pip install --no-cache-dir --break-system-packages "uv==', ""
    )
    for apt in ("python3", "libgomp1"):
        assert re.search(rf"apt-get install .*\b{apt}\b", dockerfile), apt
    # the build context holds the lock and nothing else
    rules = [r for r in build["dockerignore"].splitlines() if r and not r.startswith("#")]
    assert rules == ["*", "!pyproject.toml", "!uv.lock"]


def test_repeated_steps_stay_parallel(record: dict[str, Any]) -> None:
    """Independent invocations of one step stay parallel tasks in the IR.

    SKU shards, or one write per feature view: no path between them, so a cluster runs them as
    parallel pods. Shard steps must exist as such a group when a pipeline has them.
    """
    edges = ir.step_edges(ir.tasks(Path(record["ir_path"])))
    zenml_edges = {s: set(up) for s, up in record["upstream"].items()}
    by_source: dict[str, list[str]] = {}
    for step, source in record["step_sources"].items():
        by_source.setdefault(source, []).append(step)
    for group in by_source.values():
        for a, b in itertools.combinations(sorted(group), 2):
            if ir.independent(zenml_edges, a, b):
                assert ir.independent(edges, a, b), f"{a} and {b} are serialised in the IR"
    shards = sorted(s for s in edges if re.search(r"shard_?\d+$", s))  # one step per shard
    if shards:
        assert len(shards) >= 2, f"one shard step only: {shards}"
        for a, b in itertools.combinations(shards, 2):
            assert ir.independent(edges, a, b), f"shards {a} and {b} are not parallel"


def test_monitoring_is_scheduled_on_kubeflow(compiled: dict[str, dict[str, Any]]) -> None:
    """churn_monitoring with its Kubeflow variant: a ZenML schedule and a KFP recurring run.

    The IR itself has no schedule (KFP keeps it on the recurring run): ZenML registers the
    schedule on its server and its upload code asks KFP for a recurring run of the compiled
    IR with the cron, here answered by a recording client.
    """
    from configs.schema import load_config

    name = "churn_monitoring.kubeflow"
    assert name in variant_names(), "configs/churn_monitoring.kubeflow.yaml is compiled"
    assert name in compiled, f"{name} was not compiled"
    rec = compiled[name]
    assert "error" not in rec, rec.get("error", "")[-3000:]
    want = load_config(PROJECT_ROOT / "configs" / f"{name}.yaml")["schedule"]
    cron = want["cron_expression"]
    assert len(cron.split()) == 6, f"KFP's cron has six fields, seconds first: {cron!r}"
    # the local configs stay schedule-free: the local orchestrator refuses a schedule
    for local in ("churn_monitoring.yaml", "churn_monitoring.dev.yaml"):
        assert "schedule" not in load_config(PROJECT_ROOT / "configs" / local), local

    assert rec["schedule"]["cron_expression"] == cron
    assert rec["schedule"]["catchup"] is want.get("catchup", False)
    assert rec["schedule"]["active"] is True
    calls = {c["method"]: c for c in rec["kfp_calls"]}
    assert "create_run_from_pipeline_package" not in calls, "a scheduled run is no one-off run"
    assert calls["create_experiment"]["name"] == "churn_monitoring"
    recurring = calls["create_recurring_run"]
    assert recurring["cron_expression"] == cron
    assert recurring["pipeline_package_path"] == rec["ir_path"]
    assert recurring["job_name"] == rec["run_name"]
    assert recurring["no_catchup"] is not want.get("catchup", False)
    assert recurring["experiment_id"] == "recorded-experiment"
    # the same pipeline as the unscheduled compile: same steps, same edges
    assert rec["upstream"] == compiled["churn_monitoring"]["upstream"]
