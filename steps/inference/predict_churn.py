"""Step: churn probability per customer, stamped with model version and run id."""

from typing import Annotated

import pandas as pd
import xgboost as xgb
from zenml import get_step_context, step

from retail_mlops.churn.predictions import score
from retail_mlops.names import A


@step
def predict_churn(
    model: xgb.XGBClassifier, features: pd.DataFrame, model_version: int
) -> Annotated[pd.DataFrame, A.PREDICTIONS]:
    """Score every customer in `features`.

    Args:
        model: The champion classifier.
        features: Scoring features, one row per customer.
        model_version: MLflow version of the model, recorded with each prediction.

    Returns:
        customer_id, cutoff, churn_probability, model_version, run_id, scored_at.

    Raises:
        DataError: If a feature the model needs is missing.
    """
    run_id = str(get_step_context().pipeline_run.id)
    return score(model, features, model_version, run_id)
