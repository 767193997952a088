"""The project's HTTP services, named once: folder, BentoML import path, default port.

`run.py`, the deployment steps, the release defaults, the tests and the benchmarks all look a
service up here, so renaming a folder or moving a port is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retail_mlops.errors import DataError
from retail_mlops.paths import PROJECT_ROOT


@dataclass(frozen=True)
class Service:
    """One service: where its sources are, what `bentoml serve` imports, where it listens."""

    name: str
    folder: str  # relative to the project root; also the Bento's build context layout
    target: str  # "module:Class", served from the project tree (`run.py serve`, tests)
    port: int  # the default port of the local deployment
    packages: tuple[str, ...] = ()  # direct needs; deploy.lock pins them and theirs from uv.lock

    @property
    def path(self) -> Path:
        """The service's folder in this checkout."""
        return PROJECT_ROOT / self.folder

    @property
    def requirements(self) -> Path:
        """The Bento's pinned requirements, generated from uv.lock (`deploy.lock`)."""
        return self.path / "requirements.txt"


SERVICES: dict[str, Service] = {
    "churn": Service(
        "churn",
        "bentos/churn_service",
        "bentos.churn_service.service:ChurnService",
        3000,
        ("bentoml", "xgboost", "feast[redis]", "pandas", "pyarrow", "prometheus-client"),
    ),
    "demand": Service(
        "demand",
        "bentos/demand_service",
        "bentos.demand_service.service:DemandService",
        3001,
        ("bentoml", "pandas", "pyarrow", "scipy", "prometheus-client"),
    ),
}
SERVICE_NAMES = tuple(SERVICES)


def service(name: str) -> Service:
    """The service called `name`.

    Raises:
        DataError: For an unknown name, listing the known ones.
    """
    if name not in SERVICES:
        raise DataError(f"no service named {name!r} (known: {', '.join(SERVICES)})")
    return SERVICES[name]
