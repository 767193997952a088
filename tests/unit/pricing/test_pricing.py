"""Elasticity recovered on synthetic data with a known value; promotion uplift by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_mlops.pricing import elasticity, promotion_uplift


def _synthetic(b: float, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2010-01-01", periods=n)
    price = np.exp(rng.normal(np.log(3.0), 0.2, n)).round(2)
    weekday = np.where(ds.dayofweek == 0, 0.3, 0.0)  # a control the model must absorb
    units = np.exp(4 + b * np.log(price) + weekday + rng.normal(0, 0.3, n))
    return pd.DataFrame({"stock_code": "x", "ds": ds, "y": units, "price": price})


@pytest.mark.parametrize("true_b", [-1.5, -0.5])
def test_elasticity_recovers_known_value(true_b: float) -> None:
    out = elasticity(_synthetic(true_b)).iloc[0]
    assert out["elasticity"] == pytest.approx(true_b, abs=0.1)
    assert out["ci_low"] < true_b < out["ci_high"]
    assert out["n_days"] == 2000


def test_elasticity_skips_items_with_a_fixed_price() -> None:
    d = _synthetic(-1.0).assign(price=2.5)
    assert elasticity(d).empty


def test_promotion_uplift_by_hand() -> None:
    ds = pd.date_range("2011-01-01", periods=20)
    price = [2.0] * 14 + [1.5] * 6  # regular 2.0; 25% off on 6 days
    y = [10.0] * 14 + [15.0] * 6
    out = promotion_uplift(
        pd.DataFrame({"stock_code": "x", "ds": ds, "y": y, "price": price})
    ).iloc[0]
    assert out["regular_price"] == 2.0
    assert out["promo_days"] == 6
    assert out["uplift"] == pytest.approx(0.5)
