"""Safety stock, reorder point, EOQ on textbook cases, and the policy replay by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_mlops.inventory.policy import (
    PolicyParams,
    eoq,
    policy_backtest,
    recommend,
    reorder_point,
    replay,
    safety_stock,
    z_value,
)


def test_z_value() -> None:
    assert z_value(0.95) == pytest.approx(1.6449, abs=1e-4)
    assert z_value(0.5) == pytest.approx(0.0)


def test_safety_stock_fixed_lead_time() -> None:
    # sigma_d = 10 units/day, L = 9 days, 95%: 1.645 * 10 * 3 = 49.35
    assert float(safety_stock(10.0, 9, z_value(0.95))) == pytest.approx(49.35, abs=0.01)


def test_safety_stock_with_lead_time_variability() -> None:
    # d = 20, sigma_d = 4, L = 4, sigma_L = 1: sqrt(4*16 + 400*1) = sqrt(464) = 21.54
    ss = float(safety_stock(4.0, 4, z_value(0.95), mean_demand=20.0, lead_time_std=1.0))
    assert ss == pytest.approx(1.6449 * 21.5407, abs=0.01)
    assert float(reorder_point(20.0, 4, ss)) == pytest.approx(80 + ss)


def test_eoq_textbook() -> None:
    # D = 1000 a year, S = 10 per order, H = 0.5 per unit-year: sqrt(40000) = 200
    assert float(eoq(1000, 10.0, 0.5)) == pytest.approx(200.0)
    assert float(eoq(0, 10.0, 0.5)) == 0.0
    assert float(eoq(1000, 10.0, 0.0)) == 0.0


def test_recommend_table() -> None:
    items = pd.DataFrame(
        {"stock_code": ["a"], "mean_demand": [20.0], "sigma": [4.0], "unit_cost": [2.0]}
    )
    params = PolicyParams(
        service_level=0.95,
        lead_time_days=4,
        lead_time_std_days=1,
        order_cost=10.0,
        holding_rate=0.25,
        open_days_per_year=50,
    )
    rec = recommend(items, params).iloc[0]
    assert rec["safety_stock"] == pytest.approx(1.6449 * 21.5407, abs=0.01)
    assert rec["annual_demand"] == pytest.approx(1000)
    assert rec["order_quantity"] == pytest.approx(200)  # H = 0.25 * 2 = 0.5


def test_replay_without_stockout() -> None:
    # start 20 on hand; ROP 10, Q 10, lead time 2 (worked by hand in the docstring of replay)
    r = replay(np.array([5, 5, 5, 5, 5.0]), rop=10, q=10, lead_time=2)
    assert r == {"fill_rate": 1.0, "stockout_days": 0.0, "avg_on_hand": 9.0, "orders": 2.0}


def test_replay_with_stockout_loses_sales() -> None:
    # start 15; day 0 demand 30: serve 15, one stock-out day, order 10 arriving day 1.
    r = replay(np.array([30, 0, 0.0]), rop=5, q=10, lead_time=1)
    assert r["fill_rate"] == pytest.approx(0.5)
    assert r["stockout_days"] == 1
    assert r["avg_on_hand"] == pytest.approx(20 / 3)
    assert r["orders"] == 1


def test_policy_backtest_flags_missed_targets() -> None:
    recs = pd.DataFrame(
        {"stock_code": ["ok", "bad"], "reorder_point": [10, 0], "order_quantity": [10, 1]}
    )
    days = pd.date_range("2011-01-03", periods=5)
    actual = pd.concat(
        [
            pd.DataFrame({"stock_code": "ok", "ds": days, "y": 5.0}),
            pd.DataFrame({"stock_code": "bad", "ds": days, "y": 10.0}),
        ]
    )
    out = policy_backtest(
        recs, actual, PolicyParams(service_level=0.95, lead_time_days=2)
    ).set_index("stock_code")
    assert not out.loc["ok", "missed_target"]
    assert out.loc["bad", "missed_target"]
    assert out.loc["bad", "fill_rate"] < 0.9
