"""Step: build a service's Bento (from its bentofile.yaml) around a release."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.deploy.deployer import build_bento as build
from retail_mlops.names import A

logger = get_logger(__name__)


@step(enable_cache=False)
def build_bento(service: str, release: dict[str, Any]) -> Annotated[str, A.BENTO_TAG]:
    """Pin the release into the service's sources and run `bentoml build`.

    Args:
        service: churn or demand.
        release: What the Bento serves (from resolve_churn_release / import_demand_tables).

    Returns:
        The Bento tag, e.g. churn_service:abc123.
    """
    tag = build(service, release)
    logger.info("built Bento %s", tag)
    log_metadata(metadata={"bento": tag, "service": service}, infer_artifact=True)
    return tag
