"""Step: score the model and the recency baseline on the same held-out cutoff."""

from typing import Annotated, Any

import pandas as pd
import xgboost as xgb
from zenml import log_metadata, step
from zenml.logger import get_logger
from zenml.metadata.metadata_types import MetadataType

from retail_mlops.churn.metrics import classification_metrics
from retail_mlops.churn.model import LABEL, RecencyBaseline, predict_churn
from retail_mlops.names import A

logger = get_logger(__name__)


@step
def evaluate_churn_model(
    model: xgb.XGBClassifier, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[Annotated[dict[str, Any], A.METRICS], Annotated[pd.DataFrame, A.REFERENCE_PREDICTIONS]]:
    """ROC AUC, PR AUC, F1, log loss and Brier for the model and the baseline on the test set.

    Args:
        model: The fitted classifier.
        train: Training rows (the baseline is fitted on them).
        test: Held-out rows at the test cutoff.

    Returns:
        `{"model": {...}, "baseline": {...}}` and the model's predictions on the training rows
        (the reference distribution for the prediction-drift check).

    Raises:
        DataError: If the frames lack columns.
    """
    import mlflow

    model_metrics = classification_metrics(test[LABEL], predict_churn(model, test))
    baseline = RecencyBaseline().fit(train)
    baseline_metrics = classification_metrics(test[LABEL], baseline.predict_proba(test))
    metrics = {"model": model_metrics, "baseline": baseline_metrics, "test_rows": len(test)}
    logger.info("test metrics: model %s, baseline %s", model_metrics, baseline_metrics)
    flat: dict[str, MetadataType] = {f"test_{k}": v for k, v in model_metrics.items()}
    flat |= {f"baseline_test_{k}": v for k, v in baseline_metrics.items()}
    mlflow.log_metrics({k: float(v) for k, v in flat.items()})  # type: ignore[arg-type]
    log_metadata(metadata=flat, infer_model=True)
    reference = pd.DataFrame({"churn_probability": predict_churn(model, train)})
    return metrics, reference
