"""Compile pipelines with ZenML's real KubeflowOrchestrator; write what the tests check.

Run as a subprocess (its own ZENML_CONFIG_PATH, connected to the harness's ZenML server):

    python -m tests.kubeflow.compile_pipelines --out DIR [--build] [PIPELINE ...]

It registers configs/stacks/kubeflow.yaml exactly as a user would, then runs each pipeline
with its config (the .dev variant when there is one) the way run.py does. Everything up to and
including `Compiler().compile(...)` is ZenML's and KFP's own code; only the upload to a KFP
API server is replaced by a recorder (no cluster here). Without --build, the image builder is
replaced too: it records the Dockerfile and build context it was given and returns the image
name it would have pushed. With --build, ZenML really builds the image (podman) and pushes it
to the stack's registry.

Writes DIR/<pipeline>.json: the IR path, the snapshot, ZenML's step dependencies, and the
image (and, without --build, the Dockerfile and dockerignore the build would have used).

A Kubeflow variant of a pipeline's config, `configs/<pipeline>.kubeflow.yaml` (a schedule,
which the local orchestrator refuses), is compiled too, as `<pipeline>.kubeflow`, and written
to DIR/<pipeline>.kubeflow.json. When the run has a schedule, ZenML's own upload code runs
with a recording KFP client in place of a real one, so the record also holds the calls it
made (`kfp_calls`: the experiment and the recurring run) and the ZenML schedule.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIGS = PROJECT_ROOT / "configs"


def pipeline_names() -> list[str]:
    """Every pipeline module in pipelines/ (module name = pipeline name)."""
    return sorted(
        p.stem for p in (PROJECT_ROOT / "pipelines").glob("*.py") if not p.stem.startswith("_")
    )


def variant_names() -> list[str]:
    """Every Kubeflow variant of a pipeline's config, as `<pipeline>.kubeflow`."""
    pipelines = set(pipeline_names())
    found = sorted(p.name.removesuffix(".yaml") for p in CONFIGS.glob("*.kubeflow.yaml"))
    return [v for v in found if v.split(".")[0] in pipelines]


def config_for(name: str) -> Path:
    """A variant's own file; else the pipeline's .dev config if it has one, else its main one."""
    if "." in name:
        return CONFIGS / f"{name}.yaml"
    dev = CONFIGS / f"{name}.dev.yaml"
    return dev if dev.exists() else CONFIGS / f"{name}.yaml"


class RecordingKfpClient:
    """Stands for `kfp.Client` in ZenML's upload code: records each call, reaches nothing."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def _record(self, method: str, **kwargs: Any) -> None:
        self.calls.append(
            {
                "method": method,
                **{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in kwargs.items()},
            }
        )

    def get_experiment(self, experiment_name: str, namespace: str | None = None) -> Any:
        self._record("get_experiment", experiment_name=experiment_name, namespace=namespace)
        raise ValueError(f"no experiment {experiment_name!r}")  # as kfp says on a fresh cluster

    def create_experiment(self, name: str, namespace: str | None = None, **kwargs: Any) -> Any:
        self._record("create_experiment", name=name, namespace=namespace, **kwargs)
        return SimpleNamespace(experiment_id="recorded-experiment")

    def create_recurring_run(self, **kwargs: Any) -> Any:
        self._record("create_recurring_run", **kwargs)
        return SimpleNamespace(recurring_run_id="recorded-recurring-run")

    def create_run_from_pipeline_package(self, pipeline_file: str, **kwargs: Any) -> Any:
        self._record("create_run_from_pipeline_package", pipeline_file=pipeline_file, **kwargs)
        return SimpleNamespace(run_id="recorded-run")


def main() -> None:
    """Register the stack, compile each pipeline, write the records."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--build", action="store_true")
    parser.add_argument("pipelines", nargs="*")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    from zenml.image_builders.local_image_builder import LocalImageBuilder
    from zenml.integrations.kubeflow.orchestrators.kubeflow_orchestrator import (
        KubeflowOrchestrator,
    )
    from zenml.utils import source_utils

    from configs.schema import run_config
    from configs.stacks import register_stack

    # ZenML takes the main module's folder as the source root (what it archives and ships to
    # the steps); run.py sits at the root, this script does not.
    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    register_stack("kubeflow")

    submitted: dict[str, Any] = {}
    builds: list[dict[str, Any]] = []

    upload = KubeflowOrchestrator._upload_and_run_pipeline

    def record_upload(
        self: KubeflowOrchestrator, snapshot: Any, pipeline_file_path: str, run_name: str
    ) -> None:
        submitted.update(snapshot=snapshot, ir_path=pipeline_file_path, run_name=run_name)
        if snapshot.schedule is not None:
            # ZenML's own code decides what a schedule sends to KFP; only the client records.
            client = RecordingKfpClient()
            self._get_kfp_client = lambda settings: client  # type: ignore[method-assign]
            try:
                upload(self, snapshot, pipeline_file_path, run_name)
            finally:
                del self._get_kfp_client
            submitted["kfp_calls"] = client.calls

    KubeflowOrchestrator._upload_and_run_pipeline = record_upload  # type: ignore[method-assign,assignment]

    if not args.build:
        # Builds recorded here were never built: keep ZenML from reusing them (or reusing a real
        # one, which would skip the recorder) by clearing the server's builds around the run.
        _delete_builds()

        def record_build(self: Any, image_name: str, build_context: Any, **kwargs: Any) -> str:
            files = getattr(build_context, "_extra_files", {})
            ignore = build_context.dockerignore_file
            builds.append(
                {
                    "image": image_name,
                    "dockerfile": files.get("Dockerfile", ""),
                    "dockerignore": Path(ignore).read_text() if ignore else "",
                    "push": kwargs.get("container_registry") is not None,
                }
            )
            return image_name

        LocalImageBuilder.build = record_build  # type: ignore[method-assign,assignment]

    failed = False
    for name in args.pipelines or [*pipeline_names(), *variant_names()]:
        config = config_for(name)
        pipeline = name.split(".")[0]
        submitted.clear()
        t0 = time.monotonic()
        try:
            pipe = getattr(importlib.import_module(f"pipelines.{pipeline}"), pipeline)
            with run_config(config, pipeline) as path:
                pipe.with_options(config_path=str(path))()
        except Exception:
            # One broken pipeline fails its own tests, not every pipeline's.
            failed = True
            error = traceback.format_exc()
            print(error, file=sys.stderr)  # noqa: T201
            (args.out / f"{name}.json").write_text(json.dumps({"pipeline": name, "error": error}))
            continue
        snapshot = submitted["snapshot"]
        steps = snapshot.step_configurations
        record = {
            "pipeline": name,
            "config": str(config),
            "compile_s": round(time.monotonic() - t0, 1),
            "ir_path": submitted["ir_path"],
            "run_name": submitted["run_name"],
            "snapshot_id": str(snapshot.id),
            "upstream": {s: sorted(cfg.spec.upstream_steps) for s, cfg in steps.items()},
            "step_sources": {s: str(cfg.spec.source) for s, cfg in steps.items()},
            "images": {s: snapshot.build.get_image("orchestrator", s) for s in steps},
            # ZenML reuses a build whose checksum matches: all pipelines share one image, so
            # these are the builds of the whole session.
            "builds": list(builds),
        }
        if snapshot.schedule is not None:
            schedule = snapshot.schedule
            record["schedule"] = {
                "id": str(schedule.id),
                "name": schedule.name,
                "cron_expression": schedule.cron_expression,
                "catchup": schedule.catchup,
                "active": schedule.active,
            }
            record["kfp_calls"] = submitted.get("kfp_calls", [])
        (args.out / f"{name}.json").write_text(json.dumps(record, indent=2))
        print(f"compiled {name} in {record['compile_s']} s -> {record['ir_path']}")  # noqa: T201
    if not args.build:
        _delete_builds()
    sys.stdout.flush()
    sys.exit(1 if failed else 0)


def _delete_builds() -> None:
    from zenml.client import Client

    client = Client()
    for build in client.list_builds(size=1000).items:
        client.delete_build(str(build.id))


if __name__ == "__main__":
    main()
