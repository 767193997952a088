"""MLflow logging of a fitted churn model: params, the native-format model, importance plot."""

from __future__ import annotations

import pandas as pd
import xgboost as xgb

from retail_mlops.churn.model import TrainParams


def importance_figure(model: xgb.XGBClassifier, features: list[str]):  # type: ignore[no-untyped-def]
    """A bar chart of the booster's gain importance per feature, for the MLflow run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gains = model.get_booster().get_score(importance_type="gain")
    items = sorted(((gains.get(f, 0.0), f) for f in features), reverse=True)[:20][::-1]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh([f for _, f in items], [g for g, _ in items])
    ax.set_xlabel("total gain")
    ax.set_title("Churn model feature importance")
    fig.tight_layout()
    return fig


def log_churn_model(
    model: xgb.XGBClassifier,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: TrainParams,
    features: list[str],
) -> str:
    """Log params, the model (UBJSON, signature, input example) and its plot to the active run.

    Returns:
        The MLflow model URI.
    """
    import mlflow
    from mlflow.models import infer_signature

    mlflow.log_params(
        {
            **params.model_dump(),
            "n_features": len(features),
            "train_rows": len(train),
            "valid_rows": len(valid),
            "best_iteration": model.best_iteration,
        }
    )
    example = train[features].head(5)
    info = mlflow.xgboost.log_model(
        model,
        name="model",
        signature=infer_signature(example, model.predict_proba(example)[:, 1]),
        input_example=example,
        model_format="ubj",
        # Inferring requirements costs ~15 s per call; the lock already pins them.
        pip_requirements=[f"xgboost=={xgb.__version__}", f"pandas=={pd.__version__}"],
    )
    mlflow.log_figure(importance_figure(model, features), "feature_importance.png")
    return str(info.model_uri)
