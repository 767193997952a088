"""Batch inference steps."""

from steps.inference.load_champion_model import load_champion_model
from steps.inference.predict_churn import predict_churn
from steps.inference.write_predictions import write_predictions

__all__ = ["load_champion_model", "predict_churn", "write_predictions"]
