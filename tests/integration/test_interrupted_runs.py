"""A pipeline run killed in the middle of a step: marked failed, and a re-run reuses the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DEV = str(PROJECT_ROOT / "configs" / "churn_training.dev.yaml")
KILL_IN = "train_churn_model"


def _kill_during(step: str, timeout_s: float = 600) -> None:
    """Start churn_training as a user would and SIGKILL it once `step` has started."""
    proc = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "run.py"), "churn_training", "--config", DEV],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
    )
    deadline = time.monotonic() + timeout_s
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if step in line and "has started" in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "".join(seen[-40:])
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-40:])


def _latest_run() -> Any:
    from zenml.client import Client

    return Client().list_pipeline_runs(
        pipeline_name="churn_training", sort_by="desc:created", size=1, hydrate=True
    )[0]


def test_a_killed_run_ends_failed_with_the_reason_and_the_rerun_uses_the_cache(
    local_stack: str,
) -> None:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from steps.client import ORPHAN_REASON

    assert run_cli("churn_training", "--config", DEV, timeout=900).returncode == 0  # warm cache
    _kill_during(KILL_IN)
    killed = _latest_run()
    assert killed.status == ExecutionStatus.RUNNING  # what a kill leaves behind by itself

    again = run_cli("churn_training", "--config", DEV, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"marked run {killed.name} failed" in again.stdout

    killed = Client().get_pipeline_run(killed.id)
    assert killed.status == ExecutionStatus.FAILED
    assert killed.get_body().status_reason == ORPHAN_REASON  # shown by the dashboard
    assert killed.steps[KILL_IN].status == ExecutionStatus.FAILED
    rerun = _latest_run()
    assert rerun.id != killed.id
    assert rerun.status == ExecutionStatus.COMPLETED
    assert rerun.steps["load_transactions"].status == ExecutionStatus.CACHED
    assert rerun.steps["validate_transactions"].status == ExecutionStatus.CACHED
    assert rerun.steps[KILL_IN].status == ExecutionStatus.COMPLETED
