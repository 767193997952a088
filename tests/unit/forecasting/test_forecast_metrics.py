"""Forecast accuracy metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_mlops.forecasting.metrics import bias, mase, metric_table, naive_scale, smape, wape


def test_wape_bias_smape_mase_by_hand() -> None:
    y = np.array([10.0, 0.0, 5.0, 5.0])
    yhat = np.array([8.0, 2.0, 5.0, 10.0])
    # |e| = 2, 2, 0, 5 -> 9; sum y = 20
    assert wape(y, yhat) == pytest.approx(9 / 20)
    # e = -2, 2, 0, 5 -> 5
    assert bias(y, yhat) == pytest.approx(5 / 20)
    # 2|e|/(|y|+|yhat|): 4/18, 4/2, 0, 10/15 -> mean
    assert smape(y, yhat) == pytest.approx((4 / 18 + 2 + 0 + 10 / 15) / 4)
    assert mase(y, yhat, scale=1.5) == pytest.approx((9 / 4) / 1.5)


def test_degenerate_cases() -> None:
    zeros = np.zeros(3)
    assert np.isnan(wape(zeros, zeros + 1))
    assert smape(zeros, zeros) == 0.0  # 0/0 days count 0
    assert np.isnan(mase(zeros, zeros, scale=0.0))


def test_naive_scale_skips_closed_days() -> None:
    # Mon..Fri of two weeks; the second Wednesday is closed (absent).
    dates = pd.DatetimeIndex(["2011-01-03", "2011-01-04", "2011-01-05", "2011-01-10", "2011-01-11"])
    y = np.array([[1.0, 2.0, 3.0, 4.0, 6.0]])
    # pairs one week apart: (01-10, 01-03): 3, (01-11, 01-04): 4 -> mean 3.5
    assert naive_scale(y, dates)[0] == pytest.approx(3.5)
    y_new = np.array([[np.nan, np.nan, 3.0, 4.0, 6.0]])  # not listed before 01-05
    assert np.isnan(naive_scale(y_new, dates)[0])


def test_metric_table_groups() -> None:
    pred = pd.DataFrame(
        {
            "model": ["a", "a", "b", "b"],
            "stock_code": ["x", "x", "x", "x"],
            "y": [10.0, 0.0, 10.0, 0.0],
            "yhat": [8.0, 2.0, 10.0, 0.0],
            "scale": [2.0, 2.0, 2.0, 2.0],
        }
    )
    t = metric_table(pred, ["model"]).set_index("model")
    assert t.loc["a", "wape"] == pytest.approx(0.4)
    assert t.loc["a", "mase"] == pytest.approx(1.0)
    assert t.loc["a", "bias"] == pytest.approx(0.0)
    assert t.loc["b", "wape"] == 0.0
    assert t.loc["b", "smape"] == 0.0
