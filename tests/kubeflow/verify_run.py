"""What the host sees after a containerised run: the ZenML run, the model, the artifacts.

    python -m tests.kubeflow.verify_run --snapshot-id ID --out result.json

Runs as a client of the harness's ZenML server; artifacts are loaded from the S3 store with
the credentials the stack's secret holds, as any other client would.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def main() -> None:
    """Write run status, step statuses, model versions and loaded artifact types as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshot-id", required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    from zenml.client import Client

    client = Client()
    runs = client.list_pipeline_runs(snapshot_id=args.snapshot_id, hydrate=True)
    result: dict[str, Any] = {"runs": len(runs.items)}
    if runs.items:
        run = client.get_pipeline_run(runs.items[0].id)
        result["status"] = str(run.status.value)
        result["orchestrator_run_id"] = run.orchestrator_run_id
        result["stack"] = run.stack.name if run.stack else None
        result["steps"] = {name: str(s.status.value) for name, s in run.steps.items()}
        mv = run.model_version
        result["model_version"] = (
            {"model": mv.model.name, "number": mv.number} if mv is not None else None
        )
        loaded: dict[str, str] = {}
        for step_name, step in run.steps.items():
            for out_name, versions in step.outputs.items():
                for version in versions:
                    value = version.load()
                    shape = getattr(value, "shape", None)
                    loaded[f"{step_name}.{out_name}"] = (
                        f"{type(value).__module__}.{type(value).__name__}"
                        + (f"{tuple(shape)}" if shape is not None else "")
                    )
        result["artifacts"] = loaded
        from mlflow import MlflowClient

        mlflow = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
        result["mlflow_versions"] = [
            int(v.version) for v in mlflow.search_model_versions("name='churn_classifier'")
        ]
        aliases: dict[str, int | None] = {}
        for alias in ("champion", "challenger"):
            try:
                aliases[alias] = int(
                    mlflow.get_model_version_by_alias("churn_classifier", alias).version
                )
            except Exception:  # MlflowException: alias not set
                aliases[alias] = None
        result["mlflow_aliases"] = aliases
    args.out.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
