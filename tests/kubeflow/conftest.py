"""Session fixtures for the Kubeflow tiers: loopback services, started and stopped by PID.

The pytest process itself never connects to these services' ZenML server: the compile and
the checks run in subprocesses with their own ZENML_CONFIG_PATH, so the rest of the suite
keeps its embedded local store.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.kubeflow import harness

BUCKET = "retail-mlops"


@dataclass
class KubeflowEnv:
    """Ports, folders and the client environment shared by both tiers."""

    root: Path
    home: Path  # the client's state folder; step containers each have their own
    ports: dict[str, int]
    services: dict[str, harness.Service] = field(default_factory=dict)

    @property
    def zenml_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['zenml']}"

    @property
    def registry(self) -> str:
        return f"127.0.0.1:{self.ports['registry']}"

    def client_env(self, **extra: str) -> dict[str, str]:
        """Environment of a ZenML client of the harness's server, with the stack's variables."""
        env = dict(os.environ)
        env.update(
            ZENML_CONFIG_PATH=str(self.root / "client"),
            ZENML_STORE_URL=self.zenml_url,
            ZENML_ANALYTICS_OPT_IN="false",
            ZENML_LOGGING_COLORS_DISABLED="true",
            ZENML_ENABLE_RICH_TRACEBACK="false",
            RETAIL_MLOPS_HOME=str(self.home),
            # configs/stacks/kubeflow.yaml's variables; KFP's port is closed on purpose
            KFP_HOST="http://127.0.0.1:9/pipeline",
            ARTIFACT_STORE_PATH=f"s3://{BUCKET}/zenml",
            S3_ENDPOINT_URL=f"http://127.0.0.1:{self.ports['s3']}",
            AWS_ACCESS_KEY_ID="harness",
            AWS_SECRET_ACCESS_KEY="harness-secret",
            CONTAINER_REGISTRY_URI=self.registry,
            MLFLOW_TRACKING_URI=f"http://127.0.0.1:{self.ports['mlflow']}",
            MLFLOW_TRACKING_TOKEN="unused",
            FEAST_REGISTRY_PATH=f"s3://{BUCKET}/feast/registry.db",
            FEAST_OFFLINE_URI=f"s3://{BUCKET}/feast/data",
            # churn_training never touches the online store; closed port, like KFP's
            FEAST_REDIS_CONNECTION="127.0.0.1:9",
            ZENML_CONTAINER_ENGINE="podman",
        )
        env.pop("MLFLOW_TRACKING_URI_OVERRIDE", None)
        env.update(extra)
        return env

    def python(self, *args: str, env: dict[str, str], timeout: float, log: str) -> Result:
        """Run `python *args` from the project root, its output streamed to a log file."""
        path = self.root / "logs" / log
        with path.open("wb") as out:
            proc = subprocess.run(
                [sys.executable, *args],
                cwd=harness.PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        return Result(proc.returncode, path.read_text(errors="replace"))


@dataclass
class Result:
    """Exit status and combined output of a subprocess."""

    returncode: int
    output: str


def _tail(text: str, n: int = 60) -> str:
    return "\n".join(text.splitlines()[-n:])


@pytest.fixture(scope="session")
def kf_env() -> Iterator[KubeflowEnv]:
    """Moto S3 and a ZenML server (its own config dir and user id: remote to the client)."""
    with harness.services_dir("retail-mlops-kf-") as root:
        (root / "logs").mkdir()
        home = root / "client-state"
        home.mkdir()
        ports = {k: harness.free_port() for k in ("s3", "zenml", "registry", "mlflow")}
        env = KubeflowEnv(root=root, home=home, ports=ports)
        try:
            s3 = harness.start(
                "moto",
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(ports["s3"])],
                root / "logs",
            )
            env.services["moto"] = s3
            server_dir = root / "server"
            server = harness.start(
                "zenml-server",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "zenml.zen_server.zen_server_api:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["zenml"]),
                    "--log-level",
                    "warning",
                ],
                root / "logs",
                env={
                    "ZENML_SERVER": "true",
                    "ZENML_CONFIG_PATH": str(server_dir / "config"),
                    "ZENML_LOCAL_STORES_PATH": str(server_dir / "stores"),
                    # A user id of its own: the server's id differs from any client's, so
                    # clients treat it as remote, as a deployed server would be.
                    "ZENML_USER_ID": str(uuid.uuid4()),
                    "ZENML_SERVER_AUTH_SCHEME": "NO_AUTH",
                    "ZENML_SERVER_DEPLOYMENT_TYPE": "other",
                    "ZENML_SERVER_AUTO_ACTIVATE": "True",
                    "ZENML_ANALYTICS_OPT_IN": "false",
                },
            )
            env.services["zenml"] = server
            harness.wait_until(s3, lambda: harness.http_ok(f"http://127.0.0.1:{ports['s3']}"), 60)
            import boto3

            boto3.client(
                "s3",
                endpoint_url=f"http://127.0.0.1:{ports['s3']}",
                aws_access_key_id="harness",
                aws_secret_access_key="harness-secret",
                region_name="us-east-1",
            ).create_bucket(Bucket=BUCKET)
            harness.wait_until(server, lambda: harness.http_ok(f"{env.zenml_url}/health"), 180)
            yield env
        finally:
            for service in reversed(list(env.services.values())):
                service.stop()
            # The session folder goes; its logs stay for a look after a failure.
            kept = harness.CACHE / "last-session-logs"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(root / "logs", kept, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def compiled(kf_env: KubeflowEnv) -> dict[str, dict[str, Any]]:
    """Every pipeline compiled once (image build recorded, not run): name -> record."""
    out = kf_env.root / "compiled"
    res = kf_env.python(
        "-m",
        "tests.kubeflow.compile_pipelines",
        "--out",
        str(out),
        env=kf_env.client_env(),
        timeout=900,
        log="compile.log",
    )
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}
    if res.returncode != 0 and not records:
        pytest.fail(f"compiling with the KubeflowOrchestrator failed:\n{_tail(res.output)}")
    return records


@dataclass
class ContainerRun:
    """What the container tier produced, for the tests to check."""

    compile_record: dict[str, Any]
    result: dict[str, Any]
    timings: dict[str, float]
    kfp_log: str


@pytest.fixture(scope="session")
def container_run(kf_env: KubeflowEnv) -> ContainerRun:
    """churn_training (dev config) built, compiled and run in containers.

    ZenML builds the image with podman and pushes it to a local registry, the
    KubeflowOrchestrator compiles, kfp.local's DockerRunner executes; skipped with the reason
    when this machine cannot run containers.
    """
    import time

    reason = harness.missing_prerequisites()
    if reason:
        pytest.skip(f"container tier: {reason}")
    timings: dict[str, float] = {}
    t_all = time.monotonic()
    logs = kf_env.root / "logs"
    podman = harness.Podman(kf_env.root, registry=kf_env.registry)
    podman.write_configs()
    timings["base_image_s"] = round(podman.ensure_base_image(logs), 1)
    failure = podman.smoke()
    if failure:
        pytest.skip(f"container tier: this machine cannot run containers: {failure[-800:]}")

    registry_dir = harness.CACHE / "registry"
    registry_dir.mkdir(parents=True, exist_ok=True)
    (kf_env.root / "registry.yml").write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {registry_dir}\n"
        f"http:\n  addr: {kf_env.registry}\n"
        "log:\n  level: warn\n"
    )
    registry = harness.start(
        "registry", ["docker-registry", "serve", str(kf_env.root / "registry.yml")], logs
    )
    kf_env.services["registry"] = registry
    mlflow_port = kf_env.ports["mlflow"]
    mlflow = harness.start(
        "mlflow",
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(mlflow_port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{kf_env.root / 'mlflow.db'}",
            "--artifacts-destination",
            str(kf_env.root / "mlflow-artifacts"),
        ],
        logs,
    )
    kf_env.services["mlflow"] = mlflow
    socket_path = kf_env.root / "podman.sock"
    service = harness.start(
        "podman-service",
        ["podman", "system", "service", "--time=0", f"unix://{socket_path}"],
        logs,
        env=podman.env,
    )
    kf_env.services["podman"] = service
    harness.wait_until(registry, lambda: harness.http_ok(f"http://{kf_env.registry}/v2/"), 60)
    harness.wait_until(
        mlflow, lambda: harness.http_ok(f"http://127.0.0.1:{mlflow_port}/health"), 180
    )
    harness.wait_until(service, socket_path.exists, 60)

    env = kf_env.client_env(**podman.env, DOCKER_HOST=f"unix://{socket_path}")
    out = kf_env.root / "container"
    t0 = time.monotonic()
    res = kf_env.python(
        "-m",
        "tests.kubeflow.compile_pipelines",
        "--build",
        "--out",
        str(out),
        "churn_training",
        env=env,
        timeout=1500,
        log="build-and-compile.log",
    )
    timings["build_and_compile_s"] = round(time.monotonic() - t0, 1)
    if res.returncode != 0:
        pytest.fail(f"building the image / compiling failed:\n{_tail(res.output)}")
    record = json.loads((out / "churn_training.json").read_text())

    t0 = time.monotonic()
    run_id = f"churn-training-{uuid.uuid4().hex[:12]}"
    res = kf_env.python(
        "-m",
        "tests.kubeflow.run_ir",
        record["ir_path"],
        "--run-id",
        run_id,
        "--pipeline-root",
        str(kf_env.root / "kfp"),
        env=env,
        timeout=1500,
        log="kfp-local.log",
    )
    timings["kfp_local_run_s"] = round(time.monotonic() - t0, 1)
    kfp_log = res.output
    t0 = time.monotonic()
    verify = kf_env.python(
        "-m",
        "tests.kubeflow.verify_run",
        "--snapshot-id",
        record["snapshot_id"],
        "--out",
        str(out / "result.json"),
        env=env,
        timeout=600,
        log="verify.log",
    )
    timings["verify_s"] = round(time.monotonic() - t0, 1)
    podman.remove_stale_images()
    timings["total_s"] = round(time.monotonic() - t_all, 1)
    print(f"\ncontainer tier timings: {timings}")  # noqa: T201
    if verify.returncode != 0:
        pytest.fail(
            f"reading the run back failed:\n{_tail(verify.output)}\n"
            f"--- kfp.local run (exit {res.returncode}) ---\n{_tail(kfp_log, 80)}"
        )
    result = json.loads((out / "result.json").read_text())
    result["kfp_exit"] = res.returncode
    result["run_id"] = run_id
    return ContainerRun(record, result, timings, kfp_log)
