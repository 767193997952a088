"""Step: load the champion from the MLflow registry with its training-time reference data."""

from typing import Annotated

import pandas as pd
import xgboost as xgb
from zenml import step
from zenml.logger import get_logger

from materializers.xgb_materializer import XGBModelMaterializer
from retail_mlops.errors import DataError
from retail_mlops.names import CHAMPION, MODEL_NAME, A
from retail_mlops.registry import alias_version
from steps.client import configure_mlflow_from_stack, zenml_version_for

logger = get_logger(__name__)


@step(enable_cache=False, output_materializers={str(A.MODEL): XGBModelMaterializer})
def load_champion_model() -> tuple[
    Annotated[xgb.XGBClassifier, A.MODEL],
    Annotated[int, A.MODEL_VERSION],
    Annotated[pd.DataFrame, A.REFERENCE_FEATURES],
    Annotated[pd.DataFrame, A.REFERENCE_PREDICTIONS],
]:
    """Resolve `churn_classifier@champion` and the reference artifacts of its training run.

    Returns:
        The model, its MLflow version, the training features and training predictions.

    Raises:
        DataError: If there is no champion yet, or its training run is unknown to ZenML.
    """
    import mlflow

    configure_mlflow_from_stack()
    version = alias_version(MODEL_NAME, CHAMPION)
    if version is None:
        raise DataError(f"model {MODEL_NAME!r} has no champion yet: run churn_training first")
    model = mlflow.xgboost.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
    zen = zenml_version_for(MODEL_NAME, version)
    if zen is None:
        raise DataError(f"champion v{version} has no ZenML model version with its reference data")
    ref_features = zen.get_artifact(A.REFERENCE_FEATURES)
    ref_predictions = zen.get_artifact(A.REFERENCE_PREDICTIONS)
    if ref_features is None or ref_predictions is None:
        raise DataError(f"ZenML model version {zen.name} lacks its reference artifacts")
    logger.info("loaded %s v%d (ZenML model version %s)", MODEL_NAME, version, zen.name)
    return model, version, ref_features.load(), ref_predictions.load()
