"""Serving steps: registry models into the BentoML store, Bentos built, services supervised.

Re-exported lazily, like steps.features: the Bentos import the framework-free modules here
and must not import ZenML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steps._lazy import lazy_steps

if TYPE_CHECKING:
    from steps.serving.build_bento import build_bento
    from steps.serving.deploy_bento import deploy_bento
    from steps.serving.import_demand_tables import import_demand_tables
    from steps.serving.resolve_churn_release import resolve_churn_release

__all__ = [
    "build_bento",
    "deploy_bento",
    "import_demand_tables",
    "resolve_churn_release",
]


__getattr__ = lazy_steps(__name__, __all__, globals())
