"""Unit tests for retail_mlops/churn/model.py: time-based split, XGBoost fit, scoring, baseline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from xgboost import XGBClassifier

from retail_mlops.churn.model import (
    LABEL,
    RecencyBaseline,
    TrainParams,
    fit_xgb,
    predict_churn,
    predicting_booster,
    split_by_time,
)
from retail_mlops.errors import DataError

Fitted = tuple[XGBClassifier, pd.DataFrame, list[str]]
FAST = TrainParams(n_estimators=200, learning_rate=0.1, early_stopping_rounds=20)


def _by_cutoff(months: list[str], rows_per_cutoff: int = 3) -> pd.DataFrame:
    cutoffs = [pd.Timestamp(m) for m in months for _ in range(rows_per_cutoff)]
    return pd.DataFrame(
        {
            "customer_id": [f"c{i % rows_per_cutoff}" for i in range(len(cutoffs))],
            "cutoff": cutoffs,
            "x": np.arange(len(cutoffs), dtype=float),
            LABEL: [i % 2 for i in range(len(cutoffs))],
        }
    )


# --- split_by_time ----------------------------------------------------------------------------


def test_split_by_time_parts() -> None:
    months = [
        "2010-01-01",
        "2010-02-01",
        "2010-03-01",
        "2010-04-01",
        "2010-05-01",
        "2010-06-01",
        "2010-07-01",
    ]
    data = _by_cutoff(months).sample(frac=1.0, random_state=0)  # order must not matter
    train, valid, test = split_by_time(data, "2010-06-01", n_valid_cutoffs=2)
    ts = pd.Timestamp
    assert set(test["cutoff"]) == {ts("2010-06-01")}
    assert set(valid["cutoff"]) == {ts("2010-04-01"), ts("2010-05-01")}
    assert set(train["cutoff"]) == {ts("2010-01-01"), ts("2010-02-01"), ts("2010-03-01")}
    # rows after the test cutoff belong to no part
    assert len(train) + len(valid) + len(test) == len(data) - 3
    for part in (train, valid, test):
        assert list(part.index) == list(range(len(part)))
        assert list(part.columns) == list(data.columns)


def test_split_by_time_n_valid_cutoffs() -> None:
    data = _by_cutoff(["2010-01-01", "2010-02-01", "2010-03-01", "2010-04-01"])
    train, valid, test = split_by_time(data, "2010-04-01", n_valid_cutoffs=1)
    assert set(valid["cutoff"]) == {pd.Timestamp("2010-03-01")}
    assert set(train["cutoff"]) == {pd.Timestamp("2010-01-01"), pd.Timestamp("2010-02-01")}
    assert len(test) == 3


def test_split_by_time_missing_test_cutoff_raises() -> None:
    data = _by_cutoff(["2010-01-01", "2010-02-01", "2010-03-01", "2010-04-01"])
    with pytest.raises(DataError, match="no rows at test cutoff 2010-05-01"):
        split_by_time(data, "2010-05-01")


def test_split_by_time_too_few_training_cutoffs_raises() -> None:
    data = _by_cutoff(["2010-01-01", "2010-02-01", "2010-03-01"])
    # two earlier cutoffs, both needed for validation: nothing left to train on
    with pytest.raises(DataError, match=r"need more than 2 training cutoffs .* got 2"):
        split_by_time(data, "2010-03-01", n_valid_cutoffs=2)


def test_split_by_time_zero_valid_cutoffs_never_returns_an_empty_part() -> None:
    data = _by_cutoff(["2010-01-01", "2010-02-01", "2010-03-01"])
    try:
        parts = split_by_time(data, "2010-03-01", n_valid_cutoffs=0)
    except DataError:
        return
    assert all(len(p) > 0 for p in parts)


# --- fit_xgb / predict_churn ------------------------------------------------------------------


def _classification_frame(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    x, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, n_redundant=0, random_state=seed
    )
    features = [f"f{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=features)
    frame[LABEL] = y
    return frame, features


@pytest.fixture(scope="module")
def fitted() -> Fitted:
    frame, features = _classification_frame()
    train, valid, test = frame.iloc[:900], frame.iloc[900:1200], frame.iloc[1200:]
    model = fit_xgb(train, valid, features, FAST)
    return model, test, features


def test_fit_xgb_learns(fitted: Fitted) -> None:
    model, test, _ = fitted
    proba = predict_churn(model, test)
    assert proba.shape == (len(test),)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert roc_auc_score(test[LABEL], proba) > 0.8
    # early stopping on the validation slice kept fewer trees than the cap
    assert model.best_iteration < FAST.n_estimators - 1


def test_a_booster_loaded_from_its_file_scores_as_batch_inference(
    fitted: Fitted, tmp_path: Path
) -> None:
    """The service's native booster predicts with the early-stopped trees, as batch does."""
    model, test, features = fitted
    path = tmp_path / "model.ubj"
    model.save_model(path)
    loaded = xgb.Booster(model_file=str(path))
    assert loaded.num_boosted_rounds() > model.best_iteration + 1  # the patience rounds
    served = predicting_booster(loaded).inplace_predict(test[features].to_numpy(np.float32))
    assert np.abs(served - predict_churn(model, test)).max() <= 1e-6
    assert predicting_booster(loaded).feature_names == features
    data = xgb.DMatrix(test[features], label=test[LABEL])
    unstopped = xgb.train({"objective": "binary:logistic"}, data, 3)
    assert predicting_booster(unstopped) is unstopped


def test_fit_xgb_missing_column_raises() -> None:
    frame, features = _classification_frame(n=200)
    with pytest.raises(DataError, match=r"validation set lacks column\(s\): f3"):
        fit_xgb(frame, frame.drop(columns="f3"), features, FAST)
    with pytest.raises(DataError, match=rf"training set lacks column\(s\): {LABEL}"):
        fit_xgb(frame.drop(columns=LABEL), frame, features, FAST)


def test_predict_churn_uses_model_features_by_name(
    fitted: Fitted,
) -> None:
    model, test, features = fitted
    expected = predict_churn(model, test)
    shuffled = test[list(reversed(features))].assign(extra=1.0, customer_id="x")
    np.testing.assert_allclose(predict_churn(model, shuffled), expected)


def test_predict_churn_missing_feature_raises(
    fitted: Fitted,
) -> None:
    model, test, _ = fitted
    with pytest.raises(DataError, match="model needs: f2, f4"):
        predict_churn(model, test.drop(columns=["f2", "f4"]))


# --- RecencyBaseline --------------------------------------------------------------------------


def test_recency_baseline_longer_recency_means_higher_churn() -> None:
    rng = np.random.default_rng(0)
    recency = rng.uniform(0, 365, size=2000)
    churned = (rng.uniform(size=recency.size) < recency / 365).astype(int)
    frame = pd.DataFrame({"days_since_last_order": recency, LABEL: churned})
    baseline = RecencyBaseline().fit(frame)
    probe = pd.DataFrame({"days_since_last_order": [1.0, 10.0, 60.0, 180.0, 360.0]})
    proba = baseline.predict_proba(probe)
    assert proba.shape == (5,)
    assert np.all(np.diff(proba) > 0)
    assert proba[0] < 0.3 < 0.7 < proba[-1]
    assert roc_auc_score(churned, baseline.predict_proba(frame)) > 0.7


def test_recency_baseline_clips_negative_recency() -> None:
    frame = pd.DataFrame({"days_since_last_order": [1.0, 2.0, 200.0, 300.0], LABEL: [0, 0, 1, 1]})
    baseline = RecencyBaseline().fit(frame)
    proba = baseline.predict_proba(pd.DataFrame({"days_since_last_order": [-5.0, 0.0]}))
    assert np.isfinite(proba).all()
    assert proba[0] == pytest.approx(proba[1])


def test_recency_baseline_requires_recency_and_label() -> None:
    expected = r"baseline training set lacks column\(s\): days_since_last_order"
    with pytest.raises(DataError, match=expected):
        RecencyBaseline().fit(pd.DataFrame({LABEL: [0, 1]}))
