"""Step: register the new model version and promote it if it beats the incumbent."""

from typing import Annotated, Any

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from retail_mlops.churn.description import churn_model_description, churn_version_description
from retail_mlops.churn.metrics import (
    PRIMARY_METRIC,
    PromotionParams,
    beats,
    classification_metrics,
)
from retail_mlops.churn.model import LABEL, predict_churn
from retail_mlops.errors import DataError
from retail_mlops.features.customer import FEATURE_COLUMNS
from retail_mlops.names import CHAMPION, MODEL_NAME, A
from retail_mlops.registry import HORIZON_TAG, MLFLOW_VERSION_KEY, alias_version, register
from steps.client import promote_model

logger = get_logger(__name__)

ENTITIES_STEP = "build_churn_entities"  # labels the rows: its horizon_days defines churn
DEFAULTS = PromotionParams()  # the step's defaults; bounds and types are the model's


def _descriptions() -> tuple[str, str, int | None]:
    """(version, registered model) descriptions and the horizon, from this run's configuration.

    The horizon is the entities step's parameter and the window the pipeline's cutoffs; both
    are read from the run's snapshot, where ZenML records every step's resolved parameters, so
    the text states what this version was really trained on. Empty strings (and a warning)
    for a pipeline that lacks them: the version is registered all the same.
    """
    snapshot = get_step_context().pipeline_run.snapshot
    steps = snapshot.step_configurations if snapshot else {}
    params = (snapshot.pipeline_configuration.parameters if snapshot else None) or {}
    try:
        horizon = int(steps[ENTITIES_STEP].config.parameters["horizon_days"])
        first, test = str(params["first_cutoff"]), str(params["test_cutoff"])
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("run lacks the horizon or cutoffs (%r): no registry descriptions", exc)
        return "", "", None
    features = list(FEATURE_COLUMNS)
    return (
        churn_version_description(horizon, features, first, test),
        churn_model_description(horizon, features),
        horizon,
    )


@step(enable_cache=False)
def promote_churn_model(
    model_uri: str, metrics: dict[str, Any], test: pd.DataFrame, min_gain: float = DEFAULTS.min_gain
) -> Annotated[dict[str, Any], A.PROMOTION]:
    """Register `model_uri` as the challenger; make it champion only if it wins.

    The first version must beat the recency baseline; later ones must beat the current
    champion re-scored on this run's test set, so both are judged on the same rows.

    Args:
        model_uri: MLflow model URI from training.
        metrics: Output of `evaluate_churn_model`.
        test: The held-out rows.
        min_gain: Required margin on the primary metric (ROC AUC).

    Returns:
        What happened: version, incumbent, both scores, promoted or not.

    Raises:
        MlflowException: If the registry cannot be reached.
    """
    import mlflow

    params = PromotionParams.of(locals())
    run_name = get_step_context().pipeline_run.name
    description, model_description, horizon = _descriptions()
    # The horizon travels with the version: whatever later needs the label's definition (the
    # A/B report, monitoring once outcomes are known) reads it here, not from a default.
    horizon_tag = {HORIZON_TAG: str(horizon)} if horizon else {}
    version = register(
        model_uri,
        MODEL_NAME,
        tags={"zenml_run": run_name, **horizon_tag},
        description=description,
        model_description=model_description,
    )
    # Link the ZenML model version to the MLflow one before promotion mirrors the stage.
    log_metadata(metadata={MLFLOW_VERSION_KEY: version, **horizon_tag}, infer_model=True)
    candidate = metrics["model"]
    champion = alias_version(MODEL_NAME, CHAMPION)
    incumbent, against = metrics["baseline"], "baseline"
    if champion is not None:
        try:
            champ = mlflow.xgboost.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
            incumbent = classification_metrics(test[LABEL], predict_churn(champ, test))
            against = f"champion v{champion}"
        except DataError as exc:
            logger.warning(
                "champion v%s cannot score this test set (%s); comparing with the baseline instead",
                champion,
                exc,
            )
    promoted = beats(candidate, incumbent, params.min_gain)
    if promoted:
        promote_model(MODEL_NAME, version)
    result = {
        "version": version,
        "against": against,
        f"candidate_{PRIMARY_METRIC}": candidate[PRIMARY_METRIC],
        f"incumbent_{PRIMARY_METRIC}": incumbent[PRIMARY_METRIC],
        "promoted": promoted,
        "champion": version if promoted else champion,
    }
    logger.info(
        "model %s v%d vs %s: %.4f vs %.4f -> %s",
        MODEL_NAME,
        version,
        against,
        candidate[PRIMARY_METRIC],
        incumbent[PRIMARY_METRIC],
        "champion" if promoted else "stays challenger",
    )
    mlflow.log_metric("promoted", float(promoted))
    return result
