"""What a deployed service runs: its variants, their models, routing and limits.

A release is resolved once, by the deployment pipeline (or `run.py serve`), from
configs/deployment.yaml and the MLflow aliases, and written as `release.json` beside the
service module, so the Bento pins exactly the models it names and the server never talks to
the registry. Framework-free: the services, the steps and the tests share it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retail_mlops.deploy.services import SERVICES
from retail_mlops.errors import DataError
from retail_mlops.io import atomic_write_text

RELEASE_FILE = "release.json"
R = TypeVar("R", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Batching(_Strict):
    """Adaptive micro-batching of /predict rows across concurrent requests."""

    enabled: bool = True
    max_batch_size: int = Field(default=256, ge=1, le=100_000)
    max_latency_ms: float = Field(default=2.0, ge=0, le=1000)


class VariantSpec(_Strict):
    """A variant as configured: which registry alias serves it, and its traffic weight."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    alias: str
    weight: float = Field(ge=0)


class Variant(_Strict):
    """A variant as released: the pinned BentoML model and the MLflow version behind it."""

    name: str
    model_tag: str
    model_version: int
    weight: float = Field(ge=0)


class ChurnServing(_Strict):
    """`parameters.churn` of configs/deployment.yaml: how the churn service is run."""

    port: int = Field(default=SERVICES["churn"].port, ge=1, le=65535)
    variants: list[VariantSpec] = Field(
        default_factory=lambda: [
            VariantSpec(name="champion", alias="champion", weight=90),
            VariantSpec(name="challenger", alias="challenger", weight=10),
        ],
        min_length=1,
    )
    sticky: bool = True
    shadow: bool = False
    max_batch_rows: int = Field(default=1000, ge=1, le=100_000)
    batching: Batching = Batching()

    @model_validator(mode="after")
    def _champion_first(self) -> ChurnServing:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        if self.shadow and self.variants[0].weight <= 0:
            raise ValueError("in shadow mode the first variant answers: give it a weight")
        return self


class ChurnRelease(_Strict):
    """Everything the churn service needs to know at import time."""

    service: str = "churn"
    variants: list[Variant] = Field(min_length=1)
    sticky: bool = True
    shadow: bool = False
    max_batch_rows: int = Field(default=1000, ge=1)
    batching: Batching = Batching()
    features: list[str] = Field(min_length=1)
    feature_repo: str = "feature_repo"

    @model_validator(mode="after")
    def _routable(self) -> ChurnRelease:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        if not any(v.weight > 0 for v in self.variants):
            raise ValueError("at least one variant needs a positive weight")
        return self


def write_release(release: BaseModel, folder: Path, name: str = RELEASE_FILE) -> Path:
    """Write a release into `folder` atomically (a server may be reading the old one)."""
    path = folder / name
    atomic_write_text(path, release.model_dump_json(indent=1))
    return path


def release_env(service: str) -> str:
    """Environment variable that points a service at a release file outside its folder.

    `run.py serve`, the tests and the benchmark use it so they never overwrite the
    release.json that a Bento build packs; a built Bento reads the file beside its module.
    """
    return f"RETAIL_MLOPS_{service.upper()}_RELEASE"


def read_release(kind: type[R], folder: Path, service: str) -> R:
    """The release a service runs: the file named by `release_env(service)`, else beside it.

    Raises:
        DataError: If there is none (nothing was deployed from this folder yet) or it is invalid.
    """
    override = os.environ.get(release_env(service))
    path = Path(override) if override else folder / RELEASE_FILE
    if not path.exists():
        raise DataError(
            f"no release at {path}: start services with `run.py serve` or "
            "`run.py deployment`, which resolve the models first"
        )
    try:
        return kind.model_validate(json.loads(path.read_text()))
    except ValueError as exc:
        raise DataError(f"{path.name} is not a valid release: {exc}") from exc


def bucket(entity_id: str) -> float:
    """A stable position in [0, 1) for an entity: the same id lands in the same place forever.

    blake2b, not `hash()`: Python salts str hashes per process, so workers would disagree.
    """
    digest = hashlib.blake2b(entity_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class Router:
    """Assigns each entity to a variant by weight; sticky (by id hash) or random."""

    def __init__(self, variants: list[Variant], sticky: bool = True, seed: int | None = None):
        total = sum(v.weight for v in variants)
        if total <= 0:
            raise DataError("variant weights must add up to more than 0")
        self.names = [v.name for v in variants]
        edges, acc = [], 0.0
        for v in variants:
            acc += v.weight / total
            edges.append(acc)
        edges[-1] = 1.0
        self._edges = edges
        self._sticky = sticky
        self._random = random.Random(seed)

    def assign(self, entity_id: str) -> int:
        """Index of the variant that answers for `entity_id`."""
        u = bucket(entity_id) if self._sticky else self._random.random()
        for i, edge in enumerate(self._edges):
            if u < edge:
                return i
        return len(self._edges) - 1
