"""Unit tests for retail_mlops/runlock.py: a live launcher is seen alive, a killed one is not."""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from retail_mlops import runlock

HOLDER = """
import time
from retail_mlops import runlock
with runlock.running() as launcher:
    print(repr(launcher), flush=True)
    time.sleep(120)
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RETAIL_MLOPS_HOME", str(tmp_path))
    return tmp_path


def test_a_live_launcher_is_alive_and_a_killed_one_is_not(home: Path) -> None:
    env = {**os.environ, "RETAIL_MLOPS_HOME": str(home), "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    launcher = ast.literal_eval(proc.stdout.readline())
    try:
        assert launcher["pid"] == proc.pid
        assert runlock.alive(launcher)
        # the same pid with another start time is another process: not the launcher
        assert not runlock.alive({**launcher, "started": launcher["started"] - 1})
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    # the OS dropped the lock with the process: the launcher is gone, its file cleared
    assert not runlock.alive(launcher)
    assert list((home / "runs").glob("*.lock")) == []


def test_this_process_and_other_hosts_count_as_alive(home: Path) -> None:
    with runlock.running() as launcher:
        assert (home / "runs" / f"{os.getpid()}.lock").exists()
        assert runlock.alive(launcher)
    assert list((home / "runs").iterdir()) == []
    other = {"pid": 1, "host": socket.gethostname() + "-elsewhere", "started": 0.0}
    assert runlock.alive(other)  # cannot be checked from here
    gone = {"pid": 999_999_999, "host": socket.gethostname(), "started": 0.0}
    assert not runlock.alive(gone)
