"""Serving steps: registry models into the BentoML store, Bentos built, services supervised.

Re-exported lazily, like steps.features: the Bentos import the framework-free modules here
and must not import ZenML.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    if name in __all__:
        step = getattr(importlib.import_module(f"{__name__}.{name}"), name)
        globals()[name] = step  # replaces the submodule the import bound to the same name
        return step
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
