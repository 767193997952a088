"""Loopback servers the project starts itself, each stopped by its PID: the `local-servers` stack.

- Debian's `redis-server` for the Feast online store: no persistence, bound to 127.0.0.1, an
  instance of the project's own, never the system service;
- `mlflow server` for tracking and the registry: its own SQLite backend store, artifacts
  stored under its folder and served through it (`--serve-artifacts`), so clients reach the
  models only over HTTP, as they would a shared server.

`redis_server` and `mlflow_server` run one for a block (tests, benchmarks); `start_servers`
and `stop_servers` (`make servers`, `make servers-stop`) leave both running between commands,
recorded in <state>/servers/servers.json, with the variables the stack needs written to
<state>/servers/env.sh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from retail_mlops.deploy import process
from retail_mlops.deploy.process import free_port
from retail_mlops.errors import InfraError
from retail_mlops.io import atomic_write_text
from retail_mlops.paths import state_dir

HOST = "127.0.0.1"
MLFLOW_PORT = 5000
REDIS_PORT = 6379
# the server has no auth; ZenML's MLflow tracker still wants one method (a token it passes on)
NO_AUTH_TOKEN = "local-servers-no-auth"


@contextmanager
def redis_server(timeout_s: float = 15.0, port: int | None = None) -> Iterator[int]:
    """Run Debian's redis-server on 127.0.0.1 (no persistence); yield its port.

    `port` (default: a free one) lets a fault test start a server again where it was.

    Raises:
        InfraError: If redis-server is missing, exits, or does not answer in time.
    """
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise InfraError("redis-server is not installed (apt-get install redis-server)")
    port = free_port() if port is None else port
    proc = subprocess.Popen(
        _redis_command(binary, port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        client = redis.Redis(host=HOST, port=port)
        wait_answering(proc, "redis-server", port, client.ping, redis.ConnectionError, timeout_s)
        client.close()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def wait_answering(
    proc: subprocess.Popen[Any],
    name: str,
    port: int,
    answers: Callable[[], Any],
    refused: type[BaseException] | tuple[type[BaseException], ...],
    timeout_s: float,
    log: Path | None = None,
    poll_s: float = 0.05,
) -> None:
    """Wait until the server `proc` started answers on `port`: `answers()` returns truthy.

    `refused` are the errors a server that is not listening yet makes `answers` raise.

    Raises:
        InfraError: If the server exits first (with the end of `log`, else of its stderr
            pipe), or does not answer within `timeout_s`.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            if log is not None:
                err = log.read_text(errors="replace")
            else:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise InfraError(f"{name} exited with {proc.returncode}: {err[-500:]}")
        try:
            if answers():
                return
        except refused:
            pass
        if time.monotonic() > deadline:
            raise InfraError(f"{name} (pid {proc.pid}) did not answer on port {port}")
        time.sleep(poll_s)


def _redis_command(binary: str, port: int) -> list[str]:
    return [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]


def _mlflow_command(folder: Path, port: int) -> list[str]:
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    return [
        *(mlflow, "server", "--host", HOST, "--port", str(port), "--workers", "1"),
        *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", str(folder / "artifacts"), "--serve-artifacts"),
    ]


def start_mlflow_server(folder: Path, port: int | None = None) -> process.Deployment:
    """`mlflow server` on loopback with its store in `folder`; returns it once /health answers.

    Raises:
        InfraError: If the port is taken or the server does not come up.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port() if port is None else port
    return process.launch(
        "mlflow-server",
        _mlflow_command(folder, port),
        port,
        host=HOST,
        probe="/health",
        env=process.own_bin_first(os.environ),  # its uvicorn is this environment's
        log_path=folder / "server.log",
        label="mlflow server",
    )


@contextmanager
def mlflow_server(folder: Path, port: int | None = None) -> Iterator[str]:
    """Run `mlflow server` (store in `folder`) for the block; yields its URL."""
    dep = start_mlflow_server(folder, port)
    try:
        yield dep.url
    finally:
        process.stop(dep)


def _servers_dir() -> Path:
    folder = state_dir() / "servers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_servers(mlflow_port: int = MLFLOW_PORT, redis_port: int = REDIS_PORT) -> dict[str, str]:
    """Start the local-servers stack's servers in the background; returns the stack's variables.

    Both are recorded (PIDs, ports) for `stop_servers`; servers already recorded and alive are
    kept as they are.

    Raises:
        InfraError: If redis-server is missing, a port is taken, or a server does not start.
    """
    import redis

    folder = _servers_dir()
    running = _recorded()
    if "mlflow" not in running:
        running["mlflow"] = start_mlflow_server(folder / "mlflow", mlflow_port)
    if "redis" not in running:
        binary = shutil.which("redis-server")
        if binary is None:
            raise InfraError("redis-server is not installed (apt-get install redis-server)")
        if process.port_in_use(HOST, redis_port):
            raise InfraError(f"port {redis_port} on {HOST} is already in use: stop what runs there")
        log = folder / "redis.log"
        proc = process.spawn(_redis_command(binary, redis_port), dict(os.environ), log)
        client = redis.Redis(host=HOST, port=redis_port)
        wait_answering(
            proc, "redis-server", redis_port, client.ping, redis.ConnectionError, 15, log
        )
        client.close()
        running["redis"] = process.Deployment(
            "redis", "redis-server", HOST, redis_port, proc.pid, [proc.pid], time.time(), str(log)
        )
    atomic_write_text(
        folder / "servers.json", json.dumps({k: asdict(v) for k, v in running.items()}, indent=1)
    )
    variables = {
        "RETAIL_MLOPS_MLFLOW_URL": running["mlflow"].url,
        "MLFLOW_TRACKING_TOKEN": os.environ.get("MLFLOW_TRACKING_TOKEN", NO_AUTH_TOKEN),
        "FEAST_REDIS_CONNECTION": f"{HOST}:{running['redis'].port}",
    }
    atomic_write_text(folder / "env.sh", "".join(f"export {k}={v}\n" for k, v in variables.items()))
    return variables


def _recorded() -> dict[str, process.Deployment]:
    """The recorded servers whose process is still alive."""
    path = _servers_dir() / "servers.json"
    if not path.exists():
        return {}
    deps = {k: process.Deployment(**v) for k, v in json.loads(path.read_text()).items()}
    return {k: d for k, d in deps.items() if process.alive(d.pid)}


def stop_servers() -> list[str]:
    """Stop the servers `start_servers` left running; returns what was stopped."""
    stopped = []
    for name, dep in _recorded().items():
        process.stop(dep)
        stopped.append(f"{name} (pid {dep.pid}, port {dep.port})")
    (_servers_dir() / "servers.json").unlink(missing_ok=True)
    return stopped
