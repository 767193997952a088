"""Loopback servers the project starts itself (tests, benchmarks), on a free port, stopped by PID.

Debian's `redis-server` for the Feast online store: no persistence, bound to 127.0.0.1, a
throw-away instance per user, never the system service.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from retail_mlops.deploy.process import free_port
from retail_mlops.errors import InfraError


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
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise InfraError(f"redis-server exited with {proc.returncode}: {err[-500:]}")
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise InfraError(
                        f"redis-server (pid {proc.pid}) did not answer on port {port}"
                    ) from None
                time.sleep(0.05)
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
