"""Run the pipelines on a real Kubeflow Pipelines cluster and wait for each (by hand, not CI).

    uv run python -m scripts.run_on_kubeflow [--dev] [--timeout 7200] [PIPELINE ...]

Needs: a ZenML client logged in to a deployed ZenML server (`uv run zenml login URL`), the
environment variables listed in configs/stacks/kubeflow.yaml, and a local Docker or Podman to
build the step image. It registers the kubeflow stack (idempotent), submits each pipeline with
its config (feature_materialization, churn_training, churn_batch_inference by default, in that
order), polls the ZenML run until it finishes, and exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.chdir(ROOT)  # the Docker settings name docker/pipeline.Dockerfile relative to the root
os.environ.setdefault("ZENML_CONFIG_PATH", str(ROOT / ".state" / "zenml"))
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")

DEFAULT = ["feature_materialization", "churn_training", "churn_batch_inference"]
FINISHED = {"completed", "failed", "stopped", "cached"}


def main() -> int:
    """Register the stack, run each pipeline, wait; 0 if all completed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipelines", nargs="*", default=DEFAULT)
    parser.add_argument("--dev", action="store_true", help="use the .dev configs (the subset)")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds per pipeline")
    args = parser.parse_args()

    from zenml.client import Client
    from zenml.utils import source_utils

    from configs.schema import run_config
    from configs.stacks import register_stack

    # ZenML archives the main module's folder as the code; ours is the project root.
    source_utils.set_custom_source_root(str(ROOT))
    client = Client()
    if client.zen_store.is_local_store():
        print("error: connect to a deployed ZenML server first (uv run zenml login URL)")
        return 2
    print(f"stack {register_stack('kubeflow')!r} registered and active")
    for name in args.pipelines:
        config = ROOT / "configs" / f"{name}{'.dev' if args.dev else ''}.yaml"
        pipe = getattr(importlib.import_module(f"pipelines.{name}"), name)
        # Submit and return; this script waits on the ZenML run, whatever KFP's own timeout.
        settings = {"orchestrator.kubeflow": {"synchronous": False}}
        with run_config(config, name) as path:
            run = pipe.with_options(config_path=str(path), settings=settings)()
        print(f"{name}: submitted run {run.name} ({run.id})")
        deadline = time.monotonic() + args.timeout
        status = str(client.get_pipeline_run(run.id).status.value)
        while status not in FINISHED and time.monotonic() < deadline:
            time.sleep(20)
            status = str(client.get_pipeline_run(run.id).status.value)
            print(f"{name}: {status}")
        if status not in {"completed", "cached"}:
            print(f"error: {name} ended {status!r}; see the KFP UI and `zenml pipeline runs list`")
            return 1
    print("all pipelines completed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
