"""Loopback servers for tests and benchmarks, started on a free port and stopped by PID."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from retail_mlops.deploy.servers import wait_answering


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


requires_redis = pytest.mark.skipif(
    shutil.which("redis-server") is None,
    reason="redis-server is not installed (apt-get install redis-server); CI installs it",
)

POSTGRES_HINT = "apt-get install postgresql"


def _postgres_bindir() -> Path | None:
    """The newest Debian PostgreSQL server bin folder, else what pg_config names, else None."""

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    if found:
        return Path(found[0]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(out.stdout.strip())
        if out.returncode == 0 and (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    return None


@contextmanager
def postgres_server(timeout_s: float = 60.0) -> Iterator[str]:
    """Run a throw-away PostgreSQL cluster on 127.0.0.1; yield its URL (trust auth, no password).

    The cluster lives in a temporary folder (data, unix socket, log), runs with fsync off, and
    is stopped by its own PID (fast shutdown, so open test connections cannot hold it up) and
    deleted at exit. initdb and postgres refuse to run as root, so as root both run as the
    `postgres` system user, which then owns the folder.

    Yields:
        `postgresql://postgres@127.0.0.1:<port>/postgres`.

    Raises:
        RuntimeError: If the server binaries or the postgres user are missing, initdb fails,
            or the server exits or does not answer in time.
    """
    import psycopg

    bindir = _postgres_bindir()
    if bindir is None:
        raise RuntimeError(f"PostgreSQL server binaries are not installed ({POSTGRES_HINT})")
    as_user: dict[str, Any] = {}
    root = Path(tempfile.mkdtemp(prefix="retail-mlops-pg-"))
    try:
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    f"running as root and there is no postgres user to run the server as "
                    f"({POSTGRES_HINT} creates it)"
                ) from None
            os.chown(root, user.pw_uid, user.pw_gid)
            as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        data = root / "data"
        initdb = subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--no-locale", "--no-sync"],
            capture_output=True, text=True, check=False, cwd=root, **as_user,
        )  # fmt: skip
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb exited with {initdb.returncode}: {initdb.stderr[-500:]}")
        port = free_port()
        cmd = [
            str(bindir / "postgres"), "-D", str(data), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip
        log_path = root / "postgres.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root, **as_user)
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

        def answers() -> bool:
            psycopg.connect(url, connect_timeout=2).close()
            return True

        try:
            # InfraError is a RuntimeError: the session fixture skips with its message
            wait_answering(
                proc, "postgres", port, answers, psycopg.OperationalError, timeout_s, log_path, 0.1
            )
            yield url
        finally:
            proc.send_signal(signal.SIGINT)  # fast shutdown: disconnects clients, then exits
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    finally:
        shutil.rmtree(root, ignore_errors=True)
