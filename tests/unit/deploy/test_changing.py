"""One change of a service at a time: the deployment lock between real processes.

A second process holds the lock as a deployment in progress would; this one's deployment,
rollback and stop are refused in one line naming the holder, and the record of what runs is
left as it was. The lock goes with the process that held it, however it ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retail_mlops.deploy import deployer, process
from retail_mlops.errors import InfraError
from tests.conftest import PROJECT_ROOT

HOLD = """
import sys, time
from retail_mlops.deploy.process import changing
with changing("churn", "deployment of churn_service:abc"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RETAIL_MLOPS_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def holder(state: Path) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD], env=env, stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def _record_one(state: Path) -> process.Deployment:
    dep = process.Deployment("churn", "churn_service:old", "127.0.0.1", 1, pid=2**22 + 7)
    process.record(dep)
    process.record(process.Deployment("churn", "churn_service:new", "127.0.0.1", 1, 2**22 + 8))
    return dep


def test_a_change_while_another_runs_is_one_line_naming_it_and_changes_nothing(
    state: Path, holder: subprocess.Popen[str]
) -> None:
    _record_one(state)
    before = (state / "serving" / "deployments.json").read_text()
    attempts = {
        "deploy": lambda: deployer.deploy("churn", "churn_service:x", 1, {}, {}),
        "rollback": lambda: deployer.rollback("churn", {}),
        "stop": lambda: process.stop_service("churn"),
    }
    for name, attempt in attempts.items():
        with pytest.raises(InfraError, match="is being changed by") as refused:
            attempt()
        message = str(refused.value)
        assert "\n" not in message, name
        assert f"pid {holder.pid} (deployment of churn_service:abc" in message, name
        assert "wait for it to finish" in message
    assert (state / "serving" / "deployments.json").read_text() == before


def test_the_lock_goes_with_its_holder_however_it_ends(
    state: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(InfraError, match="is being changed by"), process.changing("churn", "t"):
        pass
    with process.changing("demand", "test"):  # another service is not held
        pass
    holder.kill()  # SIGKILL: no clean-up ran
    holder.wait(timeout=10)
    deadline = time.monotonic() + 5
    while True:
        try:
            with process.changing("churn", "test"), process.changing("churn", "nested"):
                break  # re-entrant in one process: a rollback deploys under its own lock
        except InfraError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
