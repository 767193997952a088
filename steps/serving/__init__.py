"""Serving steps: registry models into the BentoML store, Bentos built, services supervised."""

from steps.serving.build_bento import build_bento
from steps.serving.deploy_bento import deploy_bento
from steps.serving.import_demand_tables import import_demand_tables
from steps.serving.resolve_churn_release import resolve_churn_release

__all__ = ["build_bento", "deploy_bento", "import_demand_tables", "resolve_churn_release"]
