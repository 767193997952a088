"""Fit the churn classifier (XGBoost, early stopping on a later time slice) and its baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import Field
from sklearn.linear_model import LogisticRegression

from retail_mlops.config import Params
from retail_mlops.errors import DataError

LABEL = "churned"


class TrainParams(Params):
    """Hyper-parameters; shallow trees and a slow rate generalised best across cutoffs."""

    n_estimators: int = Field(
        default=3000, ge=1, description="Upper bound on trees; early stopping picks"
    )
    learning_rate: float = Field(default=0.02, gt=0, le=1, description="Shrinkage")
    max_depth: int = Field(default=2, ge=1, le=16, description="Tree depth")
    min_child_weight: float = Field(default=5.0, ge=0, description="Minimum hessian per leaf")
    subsample: float = Field(default=0.8, gt=0, le=1, description="Row subsample per tree")
    colsample_bytree: float = Field(
        default=0.8, gt=0, le=1, description="Column subsample per tree"
    )
    early_stopping_rounds: int = Field(
        default=100, ge=1, description="Patience on validation log loss"
    )
    n_jobs: int = Field(default=2, ge=1, description="XGBoost threads")
    random_state: int = Field(default=0, ge=0, description="Seed")


class SplitParams(Params):
    """How the dataset is split by time."""

    n_valid_cutoffs: int = Field(
        default=2, ge=1, description="Latest training cutoffs kept for validation"
    )


def split_by_time(
    data: pd.DataFrame, test_cutoff: str, n_valid_cutoffs: int = 2
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split rows by cutoff: test is `test_cutoff`, validation the latest training cutoffs.

    Never at random: rows of one customer at nearby cutoffs are correlated, and the model must
    be judged on a period it has not seen.

    Raises:
        DataError: If a part would be empty.
    """
    if n_valid_cutoffs < 1:
        raise DataError(f"n_valid_cutoffs must be at least 1, got {n_valid_cutoffs}")
    test_ts = pd.Timestamp(test_cutoff)
    test = data[data["cutoff"] == test_ts]
    earlier = data[data["cutoff"] < test_ts]
    cutoffs = sorted(earlier["cutoff"].unique())
    if test.empty:
        raise DataError(f"no rows at test cutoff {test_ts.date()}")
    if len(cutoffs) <= n_valid_cutoffs:
        raise DataError(
            f"need more than {n_valid_cutoffs} training cutoffs before {test_ts.date()}, "
            f"got {len(cutoffs)}"
        )
    valid_from = cutoffs[-n_valid_cutoffs]
    train = earlier[earlier["cutoff"] < valid_from]
    valid = earlier[earlier["cutoff"] >= valid_from]
    return train.reset_index(drop=True), valid.reset_index(drop=True), test.reset_index(drop=True)


def check_features(frame: pd.DataFrame, features: list[str], where: str) -> None:
    """Raise a readable error if feature columns or the label are missing."""
    missing = [c for c in [*features, LABEL] if c not in frame.columns]
    if missing:
        raise DataError(f"{where} lacks column(s): {', '.join(missing)}")


def fit_xgb(
    train: pd.DataFrame, valid: pd.DataFrame, features: list[str], params: TrainParams
) -> xgb.XGBClassifier:
    """Fit XGBoost with early stopping on the validation slice (log loss)."""
    check_features(train, features, "training set")
    check_features(valid, features, "validation set")
    model = xgb.XGBClassifier(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        max_depth=params.max_depth,
        min_child_weight=params.min_child_weight,
        subsample=params.subsample,
        colsample_bytree=params.colsample_bytree,
        early_stopping_rounds=params.early_stopping_rounds,
        eval_metric="logloss",
        n_jobs=params.n_jobs,
        random_state=params.random_state,
    )
    model.fit(
        train[features], train[LABEL], eval_set=[(valid[features], valid[LABEL])], verbose=False
    )
    return model


class RecencyBaseline:
    """Logistic regression on log recency: the simplest model worth beating."""

    feature = "days_since_last_order"

    def fit(self, frame: pd.DataFrame) -> RecencyBaseline:
        """Fit on a frame with recency and the label."""
        check_features(frame, [self.feature], "baseline training set")
        self.model_ = LogisticRegression().fit(self._x(frame), frame[LABEL])
        return self

    def _x(self, frame: pd.DataFrame) -> np.ndarray:
        return np.log1p(frame[[self.feature]].clip(lower=0).to_numpy())

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn probability per row."""
        return self.model_.predict_proba(self._x(frame))[:, 1]


def predict_churn(model: xgb.XGBClassifier, frame: pd.DataFrame) -> np.ndarray:
    """Churn probability per row, using the features the model was trained on.

    Raises:
        DataError: If the frame lacks one of the model's features.
    """
    names = list(model.get_booster().feature_names or [])
    missing = [c for c in names if c not in frame.columns]
    if missing:
        raise DataError(f"scoring features lack column(s) the model needs: {', '.join(missing)}")
    return model.predict_proba(frame[names])[:, 1]


def predicting_booster(booster: xgb.Booster) -> xgb.Booster:
    """The trees an early-stopped model predicts with: rounds 0..best_iteration, not all.

    `XGBClassifier.predict_proba` (batch scoring, evaluation) stops at the best iteration
    that early stopping recorded, while a bare `Booster` (what a service loads from the native
    file) predicts with every tree it holds, the `early_stopping_rounds` past the best one
    included. Slicing the booster once makes both paths score with the same trees.
    """
    best = booster.attr("best_iteration")
    if best is None or int(best) + 1 >= booster.num_boosted_rounds():
        return booster
    return booster[: int(best) + 1]
