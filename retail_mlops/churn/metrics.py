"""Classification metrics with stable keys, shared by evaluation and promotion."""

from __future__ import annotations

import numpy as np
from pydantic import Field
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    roc_auc_score,
)

from retail_mlops.config import Params

PRIMARY_METRIC = "roc_auc"


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """ROC AUC, PR AUC, F1 at `threshold`, log loss and Brier score."""
    y = np.asarray(y_true).astype(int)
    p = np.clip(np.asarray(proba, dtype=float), 1e-7, 1 - 1e-7)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "f1": float(f1_score(y, (p >= threshold).astype(int))),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
    }


class PromotionParams(Params):
    """When a new model replaces the champion."""

    min_gain: float = Field(
        default=0.0, ge=-1, le=1, description="ROC AUC the challenger must gain over the champion"
    )


def beats(candidate: dict[str, float], incumbent: dict[str, float], min_gain: float = 0.0) -> bool:
    """True if the candidate's primary metric beats the incumbent's by more than `min_gain`."""
    return candidate[PRIMARY_METRIC] > incumbent[PRIMARY_METRIC] + min_gain
