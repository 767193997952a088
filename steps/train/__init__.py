"""Training steps."""

from steps.train.split_churn_dataset import split_churn_dataset
from steps.train.train_churn_model import train_churn_model

__all__ = ["split_churn_dataset", "train_churn_model"]
