"""Lazy re-exports for step packages whose helper modules Bentos import without ZenML."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_steps(package: str, names: list[str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `package.<name>` and returns its step `name`.

    `from steps.features import compute_customer_features` keeps working, while importing
    `steps.features._store` alone no longer imports ZenML (about 2 s and 150 MB per server
    worker).
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            step = getattr(importlib.import_module(f"{package}.{name}"), name)
            namespace[name] = step  # replaces the submodule the import bound to the same name
            return step
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
