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
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def pipeline_names() -> list[str]:
    """Every pipeline module in pipelines/ (module name = pipeline name)."""
    return sorted(
        p.stem for p in (PROJECT_ROOT / "pipelines").glob("*.py") if not p.stem.startswith("_")
    )


def config_for(name: str) -> Path:
    """The pipeline's .dev config if it has one, else its main config."""
    dev = PROJECT_ROOT / "configs" / f"{name}.dev.yaml"
    return dev if dev.exists() else PROJECT_ROOT / "configs" / f"{name}.yaml"


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

    def record_upload(
        self: KubeflowOrchestrator, snapshot: Any, pipeline_file_path: str, run_name: str
    ) -> None:
        submitted.update(snapshot=snapshot, ir_path=pipeline_file_path, run_name=run_name)

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
    for name in args.pipelines or pipeline_names():
        config = config_for(name)
        submitted.clear()
        t0 = time.monotonic()
        try:
            pipe = getattr(importlib.import_module(f"pipelines.{name}"), name)
            with run_config(config, name) as path:
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
