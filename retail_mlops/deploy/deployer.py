"""Build a service's Bento and run it locally, replacing (or rolling back) what ran before.

ZenML 0.98's BentoML deployer step cannot start BentoML 1.4 class services, so the project
deploys with these functions (called by its own steps and by `run.py`): the Bento is built
from the service's bentofile.yaml with the project root as build context, served with
`bentoml serve TAG`, probed, and recorded by `retail_mlops.deploy.process`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.deploy import process
from retail_mlops.deploy.services import service as service_spec
from retail_mlops.errors import DataError, InfraError
from retail_mlops.paths import PROJECT_ROOT, use_bentoml_home
from retail_mlops.serving.release import RELEASE_FILE
from retail_mlops.serving.runtime import auth_headers


class DeployParams(Params):
    """Where a deployed service listens (its port comes from the deployment config)."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Interface to bind")


def build_bento(service: str, release: dict[str, Any]) -> str:
    """Pin `release` beside the service module and build its Bento; returns the Bento tag.

    The release file is part of the Bento, so the built service serves exactly those models.
    """
    import bentoml

    use_bentoml_home()

    folder = service_spec(service).path
    (folder / RELEASE_FILE).write_text(json.dumps(release, indent=1, default=str))
    bento = bentoml.bentos.build_bentofile(
        bentofile=str(folder / "bentofile.yaml"), build_ctx=str(PROJECT_ROOT)
    )
    return str(bento.tag)


def smoke_request(service: str, release: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A request the new service must answer with 200 before it replaces the old one."""
    if service == "churn":
        row = {"customer_id": "smoke-test", **dict.fromkeys(release["features"], 0.0)}
        return "/predict", {"rows": [row]}
    return "/forecast", {"sku": release["example_sku"], "horizon": 1}


def check(dep: process.Deployment, release: dict[str, Any], headers: dict[str, str]) -> None:
    """Fail unless the service answers its smoke request.

    Raises:
        InfraError: With the status and body of a wrong answer.
    """
    path, body = smoke_request(dep.service, release)
    method = "POST" if body else "GET"
    status, answer = process.http(method, dep.url + path, body or None, headers=headers)
    if status != 200:
        raise InfraError(
            f"{dep.service} service answered {path} with {status}: {str(answer)[:300]}"
        )


def deploy(
    service: str,
    target: str,
    port: int,
    release: dict[str, Any],
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> process.Deployment:
    """Replace the running deployment of `service` with `target`, or put the old one back.

    The old server is stopped first (it holds the port), the new one started and probed; if
    the new one fails to start or answer, the previous target is started again and the error
    is raised, so a bad Bento never leaves the service down.

    Raises:
        InfraError: If the new deployment fails to start or answer (after the previous one
            was restored), or another change of the service is under way.
    """
    with process.changing(service, f"deployment of {target}"):
        return _replace(service, target, port, release, headers, host)


def _replace(
    service: str,
    target: str,
    port: int,
    release: dict[str, Any],
    headers: dict[str, str] | None,
    host: str,
) -> process.Deployment:
    previous = process.current(service)
    if previous is not None:
        process.stop(previous)
    dep: process.Deployment | None = None
    try:
        dep = process.start(service, target, port, host=host)
        check(dep, release, headers if headers is not None else auth_headers())
    except (DataError, InfraError) as exc:
        if dep is not None:
            process.stop(dep)
        if previous is not None:
            restored = process.start(service, previous.target, previous.port, host=previous.host)
            restored.models = previous.models
            process.record(restored)
            note = f"{exc}\n(previous deployment {previous.target} restored)"
            raise type(exc)(note) from exc
        raise
    dep.models = _models_of(release)
    process.record(dep)
    return dep


def _models_of(release: dict[str, Any]) -> dict[str, Any]:
    if "variants" in release:
        return {
            v["name"]: {"tag": v["model_tag"], "version": v["model_version"], "weight": v["weight"]}
            for v in release["variants"]
        }
    return {"model": release.get("model_tag")}


def release_of(target: str) -> dict[str, Any]:
    """The release packed in a built Bento (for rollback's smoke check)."""
    import bentoml

    use_bentoml_home()

    bento = bentoml.get(target)
    for path in Path(bento.path_of("src")).rglob(RELEASE_FILE):
        return dict(json.loads(path.read_text()))
    raise DataError(f"Bento {target} has no {RELEASE_FILE}")


def rollback(service: str, headers: dict[str, str] | None = None) -> process.Deployment:
    """Serve the Bento deployed before the current one again.

    Raises:
        DataError: If there is no earlier Bento of this service.
        InfraError: If another change of the service is under way.
    """
    service_spec(service)
    with process.changing(service, "rollback"):  # the history read and the deploy, as one
        deps = process.history(service)
        current_target = deps[0].target if deps else None
        earlier = [d for d in deps[1:] if d.target != current_target]
        if not earlier:
            raise DataError(f"{service} has no earlier Bento to roll back to")
        target = earlier[0]
        return deploy(service, target.target, target.port, release_of(target.target), headers)
