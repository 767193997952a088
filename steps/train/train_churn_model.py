"""Step: fit the XGBoost churn classifier and log it to MLflow in its native format."""

from typing import Annotated

import pandas as pd
import xgboost as xgb
from zenml import ArtifactConfig, log_metadata, step
from zenml.enums import ArtifactType
from zenml.logger import get_logger

from materializers.xgb_materializer import XGBModelMaterializer
from retail_mlops.churn.model import TrainParams, fit_xgb
from retail_mlops.churn.tracking import log_churn_model
from retail_mlops.features.customer import FEATURE_COLUMNS
from retail_mlops.names import A

logger = get_logger(__name__)


DEFAULTS = TrainParams()  # the step's defaults; bounds and types are the model's


@step(output_materializers={str(A.MODEL): XGBModelMaterializer})
def train_churn_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    n_estimators: int = DEFAULTS.n_estimators,
    learning_rate: float = DEFAULTS.learning_rate,
    max_depth: int = DEFAULTS.max_depth,
    min_child_weight: float = DEFAULTS.min_child_weight,
    subsample: float = DEFAULTS.subsample,
    colsample_bytree: float = DEFAULTS.colsample_bytree,
    early_stopping_rounds: int = DEFAULTS.early_stopping_rounds,
    n_jobs: int = DEFAULTS.n_jobs,
    random_state: int = DEFAULTS.random_state,
) -> tuple[
    Annotated[xgb.XGBClassifier, ArtifactConfig(name=A.MODEL, artifact_type=ArtifactType.MODEL)],
    Annotated[str, A.MODEL_URI],
]:
    """Fit with early stopping on the validation slice; log params, model and importance plot.

    Args:
        train: Training rows (features + `churned`).
        valid: Later rows for early stopping.
        n_estimators: Upper bound on trees; early stopping picks the number.
        learning_rate: Shrinkage.
        max_depth: Tree depth.
        min_child_weight: Minimum hessian per leaf.
        subsample: Row subsample per tree.
        colsample_bytree: Column subsample per tree.
        early_stopping_rounds: Patience on validation log loss.
        n_jobs: XGBoost threads.
        random_state: Seed.

    Returns:
        The fitted classifier and the MLflow model URI it was logged under.

    Raises:
        DataError: If the frames lack feature columns or the label.
    """
    params = TrainParams.of(locals())
    features = list(FEATURE_COLUMNS)
    model = fit_xgb(train, valid, features, params)
    logger.info(
        "trained %d trees (best iteration %d)",
        model.get_booster().num_boosted_rounds(),
        model.best_iteration,
    )

    model_uri = log_churn_model(model, train, valid, params, features)
    log_metadata(
        metadata={"mlflow_model_uri": model_uri, "best_iteration": int(model.best_iteration)},
        infer_model=True,
    )
    return model, model_uri
