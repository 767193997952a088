"""Deployment pipeline: build the Bentos of the registered models and run them locally."""

from typing import Any

from zenml import pipeline

from retail_mlops.deploy.services import SERVICES
from steps.serving.build_bento import build_bento
from steps.serving.deploy_bento import deploy_bento
from steps.serving.import_demand_tables import import_demand_tables
from steps.serving.resolve_churn_release import resolve_churn_release


@pipeline(enable_cache=False)
def deployment(
    services: list[str],
    churn: dict[str, Any] | None = None,
    demand: dict[str, Any] | None = None,
) -> None:
    """Build and (re)start each service from what the registries hold now.

    1. resolve_churn_release: churn_classifier@champion/@challenger into the BentoML store,
       with the A/B settings of the config; import_demand_tables: the latest forecast and
       inventory tables of demand_forecasting as a BentoML model
    2. build_bento: release.json pinned, `bentoml build` from the service's bentofile.yaml
    3. deploy_bento: stop the old server, `bentoml serve BENTO`, wait for /readyz, smoke
       request; the old one comes back if the new one fails

    Args:
        services: Which services to deploy (churn, demand).
        churn: The churn service settings (port, variants and weights, sticky, shadow, limits).
        demand: The demand service settings (port, policy defaults).
    """
    churn = churn or {}
    demand = demand or {}
    if "churn" in services:
        release = resolve_churn_release(churn)
        tag = build_bento("churn", release, id="build_churn_bento")
        deploy_bento(
            "churn",
            tag,
            release,
            port=churn.get("port", SERVICES["churn"].port),
            id="deploy_churn_bento",
        )
    if "demand" in services:
        demand_release = import_demand_tables(demand)
        tag = build_bento("demand", demand_release, id="build_demand_bento")
        deploy_bento(
            "demand",
            tag,
            demand_release,
            port=demand.get("port", SERVICES["demand"].port),
            id="deploy_demand_bento",
        )
