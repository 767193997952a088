"""Step: the churn release (models per variant) from the registry aliases and the config."""

from typing import Annotated, Any

from zenml import log_metadata, step
from zenml.logger import get_logger

from steps.features._zenml import stack_feature_repo
from steps.names import MODEL_NAME
from steps.registry._registry import configure_mlflow_from_stack
from steps.serving._models import churn_release
from steps.serving._release import ChurnServing

logger = get_logger(__name__)


@step(enable_cache=False)
def resolve_churn_release(churn: dict[str, Any]) -> Annotated[dict[str, Any], "churn_release"]:
    """Import `churn_classifier@<alias>` of every variant into the BentoML store.

    Never cached: the aliases move between runs while the config stays the same.

    Args:
        churn: `parameters.churn` of configs/deployment.yaml (see ChurnServing).

    Returns:
        The release: pinned BentoML model per variant, weights, routing, limits, features.
    """
    configure_mlflow_from_stack()
    spec = ChurnServing.model_validate(churn)
    release = churn_release(spec, stack_feature_repo(), name=MODEL_NAME)
    summary = {
        v.name: f"v{v.model_version} ({v.model_tag}, weight {v.weight:g})" for v in release.variants
    }
    logger.info("churn release: %s; shadow=%s", summary, release.shadow)
    log_metadata(metadata={"variants": summary, "shadow": release.shadow}, infer_artifact=True)
    return release.model_dump(mode="json")
