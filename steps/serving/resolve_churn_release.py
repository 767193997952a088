"""Step: the churn release (models per variant) from the registry aliases and the config."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.names import A
from steps.client import churn_release_from_stack

logger = get_logger(__name__)


@step(enable_cache=False)
def resolve_churn_release(churn: dict[str, Any]) -> Annotated[dict[str, Any], A.CHURN_RELEASE]:
    """Import `churn_classifier@<alias>` of every variant into the BentoML store.

    Never cached: the aliases move between runs while the config stays the same.

    Args:
        churn: `parameters.churn` of configs/deployment.yaml (see ChurnServing).

    Returns:
        The release: pinned BentoML model per variant, weights, routing, limits, features.
    """
    release = churn_release_from_stack(churn)
    summary = {
        v.name: f"v{v.model_version} ({v.model_tag}, weight {v.weight:g})" for v in release.variants
    }
    logger.info("churn release: %s; shadow=%s", summary, release.shadow)
    log_metadata(metadata={"variants": summary, "shadow": release.shadow}, infer_artifact=True)
    return release.model_dump(mode="json")
