"""Fixtures for pipeline runs on the local stack registered from configs/stacks/local.yaml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="session")
def local_stack() -> str:
    """Register the project's local stack in the session's throw-away ZenML config."""
    from configs.stacks import register_stack

    return register_stack("local")


@pytest.fixture(scope="session")
def mlflow_client(local_stack: str) -> Any:
    """An MLflow client pointed at the stack's tracking store."""
    from mlflow import MlflowClient

    from steps.client import configure_mlflow_from_stack

    return MlflowClient(tracking_uri=configure_mlflow_from_stack())


def write_config(tmp_path: Path, base: str, **changes: Any) -> Path:
    """Copy configs/<base> (merged over what it extends) with changes: dotted keys set values."""
    from configs.schema import load_config

    raw = load_config(PROJECT_ROOT / "configs" / base)
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    out = tmp_path / base
    out.write_text(yaml.safe_dump(raw))
    return out


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run `python run.py ...` as a user would, with this session's isolated state."""
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        check=False,
    )
