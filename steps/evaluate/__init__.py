"""Evaluation steps."""

from steps.evaluate.evaluate_churn_model import evaluate_churn_model

__all__ = ["evaluate_churn_model"]
