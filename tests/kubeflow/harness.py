"""Loopback services, podman and the base image for the Kubeflow test tiers.

Everything here runs on 127.0.0.1 and is started and stopped by PID (each service in its own
process group, led by the PID we started). Heavy, reusable work is cached under
`.state/kubeflow/` (gitignored; RETAIL_MLOPS_KUBEFLOW_CACHE moves it): podman's image storage
(the debootstrap'd base image and the pipeline image's layers, the `uv sync` layer included)
and the registry's blobs, so a rerun pushes and builds only what changed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(
    os.environ.get("RETAIL_MLOPS_KUBEFLOW_CACHE", str(PROJECT_ROOT / ".state" / "kubeflow"))
)
# The Dockerfile says FROM debian:bookworm-slim; no image registry is reachable here, so the
# harness makes that image itself with debootstrap and stores it under the same name.
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
DEBIAN_MIRROR = os.environ.get("RETAIL_MLOPS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Pre-installed so the Dockerfile's apt-get is quick here; it installs them itself elsewhere.
BASE_PACKAGES = ["python3", "python3-venv", "python3-pip", "ca-certificates", "libgomp1"]
TOOLS = ("podman", "runc", "debootstrap", "docker-registry")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def missing_prerequisites() -> str | None:
    """Why this machine cannot run the container tier, or None if it has what it needs."""
    if sys.platform != "linux":
        return f"containers need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "the container tier runs rootful podman and needs root"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return (
            f"missing Debian packages: {', '.join(missing)} "
            "(apt-get install podman runc debootstrap docker-registry; .ci/run does this)"
        )
    return None


# --------------------------------------------------------------------------- processes


@dataclass
class Service:
    """A process we started, in its own process group, with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the service's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the group led by our PID, then SIGKILL it if it outlives `timeout`."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


def start(name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None) -> Service:
    """Start `cmd` in a new session (its PID leads the group we stop later)."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return Service(name, proc, log)


def wait_until(service: Service, ready: Callable[[], bool], timeout: float) -> None:
    """Poll `ready()` until true; fail with the service's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(
                f"{service.name} exited with {service.proc.returncode}:\n{service.log_tail()}"
            )
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.5)
    raise RuntimeError(f"{service.name} not ready after {timeout:.0f} s:\n{service.log_tail()}")


def http_ok(url: str) -> bool:
    """True when `url` answers with a status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500


# --------------------------------------------------------------------------- podman


@dataclass
class Podman:
    """Private podman configuration: no file under /etc is touched."""

    session_dir: Path
    registry: str = ""

    @property
    def env(self) -> dict[str, str]:
        """Environment selecting this configuration for podman and the tools that call it."""
        return {
            "CONTAINERS_CONF": str(self.session_dir / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(CACHE / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(self.session_dir / "registries.conf"),
        }

    def write_configs(self) -> None:
        """Write storage (cached, shared by sessions), engine and registry configuration."""
        CACHE.mkdir(parents=True, exist_ok=True)
        runroot = Path(tempfile.gettempdir()) / "retail-mlops-podman-run"
        (CACHE / "storage.conf").write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{CACHE / "podman"}"\n'
            f'runroot = "{runroot}"\n'
            # no private bind mount over the storage folder: `make clean-state` can delete it
            "[storage.options.overlay]\n"
            'skip_mount_home = "true"\n'
        )
        # Root here lacks CAP_SYS_RESOURCE (podman raises ulimits by default); crun rejects the
        # hybrid cgroup layout (runc works); steps must reach the loopback services (host
        # network). Each step container gets its own state folder in its own /tmp and no
        # volume: like pods, steps share only the services (ZenML, S3, MLflow), so Feast's
        # registry and tables must go through S3 (the stack's remote Feast layout).
        (self.session_dir / "containers.conf").write_text(
            "[containers]\n"
            'netns = "host"\n'
            'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
            'env = ["RETAIL_MLOPS_HOME=/tmp/retail-mlops-state"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            'compression_format = "zstd"\n'
        )
        registry = (
            f'[[registry]]\nlocation = "{self.registry}"\ninsecure = true\n'
            if self.registry
            else ""
        )
        (self.session_dir / "registries.conf").write_text(
            'unqualified-search-registries = ["docker.io"]\n'
            'short-name-mode = "permissive"\n' + registry
        )

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        """Run a podman command with this configuration; return its output."""
        res = subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            check=False,
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)} failed:\n{res.stderr[-3000:]}")
        return res.stdout + res.stderr

    def has_image(self, name: str) -> bool:
        """Whether local storage has the image."""
        return (
            subprocess.run(
                ["podman", "image", "exists", name],
                env={**os.environ, **self.env},
                check=False,
            ).returncode
            == 0
        )

    def ensure_base_image(self, log_dir: Path) -> float:
        """Create BASE_IMAGE with debootstrap unless storage has it; return seconds spent."""
        if self.has_image(BASE_IMAGE):
            return 0.0
        t0 = time.monotonic()
        rootfs = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE))
        try:
            with (log_dir / "debootstrap.log").open("wb") as out:
                subprocess.run(
                    [
                        "debootstrap",
                        "--variant=minbase",
                        f"--include={','.join(BASE_PACKAGES)}",
                        "bookworm",
                        str(rootfs),
                        DEBIAN_MIRROR,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=1200,
                )
            # This network reaches the package registries through a CA that only the host
            # trusts; the image trusts it too (under the name update-ca-certificates keeps).
            if HOST_CA.exists():
                local_ca = rootfs / "usr/local/share/ca-certificates/host-bundle.crt"
                local_ca.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(HOST_CA, local_ca)
                shutil.copyfile(HOST_CA, rootfs / "etc/ssl/certs/ca-certificates.crt")
            shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
            tar_path = rootfs.with_suffix(".tar")
            with tarfile.open(tar_path, "w") as tar:
                tar.add(rootfs, arcname=".")
            self.run(
                "import",
                "--change",
                'CMD ["/bin/bash"]',
                "--change",
                "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
                str(tar_path),
                BASE_IMAGE,
                timeout=600,
            )
            tar_path.unlink()
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
        return time.monotonic() - t0

    def remove_stale_images(self) -> None:
        """Untag images pushed to earlier sessions' registries, then drop unused layers.

        Keeps the base image and this session's image (whose layers the next build reuses), so
        the cache does not grow by an image every time the lock changes.
        """
        names = self.run("images", "--format", "{{.Repository}}:{{.Tag}}").split()
        stale = [
            n for n in names if n.startswith("127.0.0.1:") and not n.startswith(self.registry + "/")
        ]
        if stale:
            self.run("rmi", "--force", *stale, check=False)
        self.run("image", "prune", "--force", check=False)

    def smoke(self) -> str | None:
        """Run a trivial container; the error text if this machine cannot run containers."""
        try:
            out = self.run("run", "--rm", BASE_IMAGE, "echo", "container-ok", timeout=120)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        return None if "container-ok" in out else f"unexpected output: {out[-500:]}"


@contextlib.contextmanager
def services_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder for one session's configs, logs and state."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":  # warm the cache by hand: python -m tests.kubeflow.harness
    reason = missing_prerequisites()
    if reason:
        sys.exit(reason)
    with services_dir("kf-warm-") as d:
        pm = Podman(d)
        pm.write_configs()
        spent = pm.ensure_base_image(d)
        print(f"base image ready ({spent:.0f} s); smoke: {pm.smoke() or 'ok'}")  # noqa: T201
