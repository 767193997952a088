"""Feature steps."""

from steps.features.build_churn_dataset import build_churn_dataset
from steps.features.build_scoring_features import build_scoring_features

__all__ = ["build_churn_dataset", "build_scoring_features"]
