"""Unit tests for retail_mlops/churn/metrics.py: metric values, stable keys and `beats`."""

from __future__ import annotations

import math

import numpy as np
import pytest

from retail_mlops.churn.metrics import PRIMARY_METRIC, beats, classification_metrics

KEYS = {"roc_auc", "pr_auc", "f1", "log_loss", "brier"}


def test_keys_are_exactly_the_stable_set() -> None:
    m = classification_metrics(np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.6]))
    assert set(m) == KEYS
    assert all(isinstance(v, float) for v in m.values())
    assert PRIMARY_METRIC in m


def test_perfect_predictor() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.05, 0.1, 0.2, 0.8, 0.9, 0.95])
    m = classification_metrics(y, p)
    assert m["roc_auc"] == 1.0
    assert m["pr_auc"] == 1.0
    assert m["f1"] == 1.0
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def test_hard_zero_one_probabilities_are_clipped_to_finite_log_loss() -> None:
    m = classification_metrics([0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0])
    assert m["roc_auc"] == 1.0
    assert math.isfinite(m["log_loss"])
    assert m["log_loss"] < 1e-5
    assert m["brier"] < 1e-12
    wrong = classification_metrics([0, 1], [1.0, 0.0])
    assert math.isfinite(wrong["log_loss"])
    assert wrong["log_loss"] == pytest.approx(-math.log(1e-7), rel=1e-3)


def test_random_predictor() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=20_000)
    p = rng.uniform(size=y.size)
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(0.5, abs=0.02)
    assert m["pr_auc"] == pytest.approx(y.mean(), abs=0.02)
    assert m["brier"] == pytest.approx(1 / 3, abs=0.02)  # E[(U - Y)^2] = 1/3 for U uniform


def test_threshold_moves_f1() -> None:
    y = np.array([0, 1, 1, 1])
    p = np.array([0.1, 0.3, 0.6, 0.9])
    assert classification_metrics(y, p)["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1))
    assert classification_metrics(y, p, threshold=0.2)["f1"] == 1.0


def test_accepts_boolean_labels_and_lists() -> None:
    m = classification_metrics([False, True, True], [0.2, 0.8, 0.7])
    assert m["roc_auc"] == 1.0


def test_beats() -> None:
    assert beats({"roc_auc": 0.80}, {"roc_auc": 0.70})
    assert not beats({"roc_auc": 0.70}, {"roc_auc": 0.70})  # a tie does not beat
    assert not beats({"roc_auc": 0.60}, {"roc_auc": 0.70})
    assert not beats({"roc_auc": 0.74}, {"roc_auc": 0.70}, min_gain=0.05)
    assert beats({"roc_auc": 0.76}, {"roc_auc": 0.70}, min_gain=0.05)
    # only the primary metric counts
    assert beats({"roc_auc": 0.8, "f1": 0.0}, {"roc_auc": 0.7, "f1": 1.0})
