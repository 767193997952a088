"""Supervise `bentoml serve` processes: start, wait until ready, record, stop, replace.

`bentoml serve` is an arbiter whose workers run in their own process groups; killing the
arbiter hard orphans a worker that keeps the port. So a service starts in its own session,
its process tree is recorded, and stopping sends SIGTERM to the arbiter, waits, then kills
whatever of the recorded tree survives. The record (<state>/serving/deployments.json) is
what `run.py deployments` lists and what a rollback goes back to.

One change of a service at a time: a deployment, a rollback or a stop holds the service's
lock (`changing`, an exclusive `flock` the OS drops when the holder dies, however it dies),
so a second one started meanwhile fails at once with one line naming the first, instead of
both stopping and starting servers on one port and recording the loser as running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retail_mlops.errors import InfraError
from retail_mlops.io import atomic_write_text
from retail_mlops.paths import PROJECT_ROOT, state_dir, use_bentoml_home

HISTORY = 10  # deployments kept per service for rollback


@dataclass
class Deployment:
    """A running (or once running) service."""

    service: str
    target: str  # a Bento tag, or an import path served from the project
    host: str
    port: int
    pid: int
    pids: list[int] = field(default_factory=list)  # the whole tree at start
    started_at: float = 0.0
    log: str = ""
    models: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    """A port nothing listens on right now (for tests and benchmarks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True if something accepts connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, Any]:
    """A small JSON HTTP call; returns (status, parsed body or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _tree(pid: int) -> list[int]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return [pid] + [c.pid for c in proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server process from the project root, output to `log`.

    Its own session, so a Ctrl-C meant for us does not reach it half-way through a stop.
    """
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd,
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def own_bin_first(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with this interpreter's bin folder first on PATH.

    A server that starts a program by name (`mlflow server` and `mlflow models serve` run
    `uvicorn`) then runs this environment's, whatever the caller's PATH says.
    """
    bindir = str(Path(sys.executable).parent)
    return {**env, "PATH": os.pathsep.join((bindir, env.get("PATH", "")))}


def serve_command(target: str, host: str, port: int) -> list[str]:
    """`bentoml serve TARGET` from this environment (a Bento tag or a "module:Class" path)."""
    bentoml_bin = Path(sys.executable).with_name("bentoml")
    return [str(bentoml_bin), "serve", target, "--host", host, "--port", str(port)]


def service_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a `bentoml serve` child: this one, the state folder, the project.

    The bentoml CLI reads BENTOML_HOME before it imports the service, and the service imports
    the library from the project tree, so both are set for the child rather than relied on.
    """
    env = {**os.environ, "RETAIL_MLOPS_HOME": str(state_dir()), **(extra or {})}
    env.setdefault("BENTOML_HOME", str(state_dir() / "bentoml"))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


# What a service's own BentoML home links to in the project's one store.
SHARED_STORES = ("bentos", "models", "envs", "tmp")


def service_home(service: str, port: int) -> Path:
    """A BENTOML_HOME of one server's own, whose stores are links to the project's store.

    `bentoml serve` keeps Prometheus' multiprocess files in <BENTOML_HOME>/prometheus_multiproc_dir
    and empties that folder when it starts, so two services under one home share one folder:
    the second start deleted the first one's series and each /metrics showed the other's. A
    home per (service, port) keeps them apart; the Bento and model stores stay the one store
    (`paths.use_bentoml_home`), linked.
    """
    shared = use_bentoml_home()
    home = state_dir() / "serving" / "homes" / f"{service}-{port}"
    home.mkdir(parents=True, exist_ok=True)
    for name in SHARED_STORES:
        (shared / name).mkdir(parents=True, exist_ok=True)
        link = home / name
        if link.is_symlink() and link.resolve() == (shared / name).resolve():
            continue
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.exists():
            raise InfraError(f"{link} should link to {shared / name} but is a folder: remove it")
        link.symlink_to(shared / name, target_is_directory=True)
    return home


def launch(
    name: str,
    cmd: list[str],
    port: int,
    host: str = "127.0.0.1",
    probe: str = "/readyz",
    env: dict[str, str] | None = None,
    timeout_s: float = 180.0,
    log_path: Path | None = None,
    target: str | None = None,
    label: str | None = None,
) -> Deployment:
    """Start a server in its own session and wait until GET `probe` answers 200.

    The one launcher of HTTP servers: the services, and the servers a benchmark compares them
    with, start, wait and stop the same way. `name` is the record's service name, `label` how
    messages call it (default: the name).

    Raises:
        InfraError: If the port is taken, or the server exits or is not ready in time (with the
            end of its log, and the process tree stopped).
    """
    if port_in_use(host, port):
        raise InfraError(f"port {port} on {host} is already in use: stop what runs there first")
    logs = state_dir() / "serving" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = log_path or logs / f"{name}-{port}-{int(time.time())}.log"
    proc = spawn(cmd, env if env is not None else dict(os.environ), log)
    dep = Deployment(name, target or " ".join(cmd), host, port, proc.pid, [], time.time(), str(log))
    label = label or name
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InfraError(
                f"{label} exited with code {proc.returncode} while starting; "
                f"end of {log}:\n{_tail(log)}"
            )
        dep.pids = sorted(set(dep.pids) | set(_tree(proc.pid)))
        try:
            status, _ = http("GET", f"{dep.url}{probe}", timeout=2)
            if status == 200:
                dep.pids = sorted(set(dep.pids) | set(_tree(proc.pid)))
                return dep
        except OSError:
            pass
        time.sleep(0.5)
    stop(dep)
    raise InfraError(f"{label} not ready after {timeout_s:.0f} s; end of {log}:\n{_tail(log)}")


def start(
    service: str,
    target: str,
    port: int,
    host: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    timeout_s: float = 180.0,
    log_path: Path | None = None,
) -> Deployment:
    """Start `bentoml serve TARGET` for `service` and wait for /readyz.

    The server gets a BentoML home of its own (`service_home`), so its metrics are its own.

    Raises:
        InfraError: If the port is taken, or the service exits or is not ready in time.
    """
    own = {"BENTOML_HOME": str(service_home(service, port)), **(env or {})}
    return launch(
        service,
        serve_command(target, host, port),
        port,
        host=host,
        env=service_env(own),
        timeout_s=timeout_s,
        log_path=log_path,
        target=target,
        label=f"{service} service",
    )


def alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop(dep: Deployment, grace_s: float = 20.0) -> None:
    """SIGTERM the arbiter, wait, then SIGKILL whatever of its recorded tree is left."""
    pids = sorted(set(dep.pids) | set(_tree(dep.pid)))
    with contextlib.suppress(ProcessLookupError):
        os.kill(dep.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        _reap(dep.pid)
        time.sleep(0.2)
    for p in pids:
        if alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    _reap(dep.pid)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# --- the record of deployments ---------------------------------------------------------------


_HELD: set[str] = set()  # services whose lock this process holds (a rollback deploys)


@contextlib.contextmanager
def changing(service: str, what: str) -> Iterator[None]:
    """Hold `service`'s change lock for the block; re-entrant within one process.

    Raises:
        InfraError: If another process is changing the service (its pid, action and start).
    """
    if service in _HELD:
        yield
        return
    folder = state_dir() / "serving" / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{service}.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text(errors="replace").strip() or "another process"
            raise InfraError(
                f"{service} is being changed by {holder}: wait for it to finish, then run this "
                "again"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} ({what}, since {time.strftime('%H:%M:%S')})".encode(), 0)
        _HELD.add(service)
        try:
            yield
        finally:
            _HELD.discard(service)
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _record_path() -> Path:
    return state_dir() / "serving" / "deployments.json"


def _load() -> dict[str, list[dict[str, Any]]]:
    path = _record_path()
    return json.loads(path.read_text()) if path.exists() else {}


def _save(data: dict[str, list[dict[str, Any]]]) -> None:
    atomic_write_text(_record_path(), json.dumps(data, indent=1))


def history(service: str) -> list[Deployment]:
    """Deployments of a service, newest first."""
    return [Deployment(**d) for d in _load().get(service, [])]


def current(service: str) -> Deployment | None:
    """The newest recorded deployment of a service, if its arbiter is still alive."""
    deps = history(service)
    return deps[0] if deps and alive(deps[0].pid) else None


def record(dep: Deployment) -> None:
    """Make `dep` the service's current deployment, keeping the last few as history."""
    data = _load()
    data[dep.service] = [asdict(dep), *data.get(dep.service, [])[: HISTORY - 1]]
    _save(data)


def statuses() -> list[dict[str, Any]]:
    """What runs now, per service: target, URL, PID, and whether /readyz answers."""
    out = []
    for service, deps in sorted(_load().items()):
        if not deps:
            continue
        dep = Deployment(**deps[0])
        running = alive(dep.pid)
        ready = False
        if running:
            try:
                ready = http("GET", f"{dep.url}/readyz", timeout=2)[0] == 200
            except OSError:
                ready = False
        out.append(
            {
                "service": service,
                "target": dep.target,
                "url": dep.url,
                "pid": dep.pid,
                "state": "ready" if ready else ("starting" if running else "stopped"),
                "models": dep.models,
                "started_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dep.started_at)),
            }
        )
    return out


def stop_service(service: str) -> Deployment | None:
    """Stop the running deployment of a service (the record stays, for rollback).

    Raises:
        InfraError: If a deployment or rollback of the service is under way.
    """
    with changing(service, "stop"):
        dep = current(service)
        if dep is not None:
            stop(dep)
        return dep
