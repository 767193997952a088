"""M5-style metrics (RMSSE, pinball and SPL, intermittency class, M5 aggregates) by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_mlops.forecasting.metrics import (
    ERRATIC,
    INTERMITTENT,
    LUMPY,
    M5_QUANTILES,
    NO_DEMAND,
    SMOOTH,
    adi_cv2,
    intermittency_class,
    m5_mean,
    m5_table,
    m5_weights,
    mase,
    metric_table,
    pinball,
    rmsse,
    rmsse_scale,
    scaled_pinball,
    spl_scale,
    wape,
)

# Item 20752 of the full data, units per open day: the 84 open days before 2011-09-01 and the
# 28 from it. Lumpy (sells on a third of its days, sizes 1 to 12), like most of the catalogue.
ITEM_HISTORY = np.concatenate(
    [
        [0, 0, 0, 0, 0, 1, 12, 1, 0, 0, 0, 3, 3, 0, 0, 0, 0, 1, 0, 4, 6, 0, 6, 4, 0, 9, 0, 0],
        [3, 0, 0, 0, 0, 1, 0, 5, 3, 1, 7, 0, 0, 2, 0, 1, 6, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 2, 0, 2, 0, 0, 1, 12, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0],
    ]
).astype(float)
ITEM_ACTUAL = np.array(
    [1, 0, 4, 0, 1, 4, 12, 0, 1, 0, 2, 1, 0, 0, 1, 1, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 0, 0],
    dtype=float,
)


def test_scales_by_hand_start_at_first_sale() -> None:
    # NaN (not listed) and the zeros before the first sale are dropped: from 2 on,
    # one-step differences -2, 0, 3.
    y = np.array([[np.nan, 0.0, 2.0, 0.0, 0.0, 3.0], [2.0, np.nan, 4.0, 1.0, np.nan, np.nan]])
    assert rmsse_scale(y)[0] == pytest.approx((4 + 0 + 9) / 3)
    assert spl_scale(y)[0] == pytest.approx((2 + 0 + 3) / 3)
    # a pair with a NaN side does not count: only (4, 1)
    assert rmsse_scale(y)[1] == pytest.approx(9.0)
    assert spl_scale(y)[1] == pytest.approx(3.0)


def test_scales_of_degenerate_histories() -> None:
    y = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],  # never sold: no history from a first sale
            [np.nan, np.nan, np.nan, np.nan],  # not listed
            [0.0, 0.0, 0.0, 5.0],  # first sale on the last day: no pair
            [3.0, 3.0, 3.0, 3.0],  # never changes: scale 0
        ]
    )
    sq, ab = rmsse_scale(y), spl_scale(y)
    assert np.isnan(sq[:3]).all()
    assert np.isnan(ab[:3]).all()
    assert sq[3] == 0.0
    assert ab[3] == 0.0
    # an undefined or zero scale gives NaN, like MASE with a zero scale
    for scale in (*sq, 0.0):
        assert np.isnan(rmsse(np.ones(2), np.zeros(2), scale))


def test_rmsse_by_hand_and_nan_like_the_others() -> None:
    y, yhat = np.array([1.0, 0.0, 3.0]), np.array([0.0, 0.0, 1.0])
    # squared errors 1, 0, 4 -> mean 5/3; scale 13/3 -> sqrt(5/13)
    assert rmsse(y, yhat, 13 / 3) == pytest.approx(np.sqrt(5 / 13))
    assert rmsse(y, y, 2.0) == 0.0
    # a NaN actual propagates, as in wape and mase
    y_nan = np.array([1.0, np.nan, 3.0])
    assert np.isnan(rmsse(y_nan, yhat, 1.0))
    assert np.isnan(mase(y_nan, yhat, 1.0))
    assert np.isnan(wape(y_nan, yhat))


def test_pinball_by_hand() -> None:
    y, q = np.array([10.0, 0.0]), np.array([8.0, 2.0])
    # tau 0.9: under by 2 costs 0.9 * 2, over by 2 costs 0.1 * 2 -> mean 1.0
    assert pinball(y, q, 0.9) == pytest.approx(1.0)
    assert pinball(y, q, 0.1) == pytest.approx((0.2 + 1.8) / 2)
    # at the median it is half the mean absolute error
    assert pinball(y, q, 0.5) == pytest.approx(np.mean(np.abs(y - q)) / 2)
    with pytest.raises(ValueError, match="quantile level"):
        pinball(y, q, 1.0)


def test_scaled_pinball_by_hand() -> None:
    y = np.array([10.0, 0.0])
    q_hat = np.array([[8.0, 12.0], [0.0, 2.0]])  # columns: tau 0.1, tau 0.9
    # tau 0.1: 0.1 * 2 and 0 -> 0.1; tau 0.9: 0.1 * 2 twice -> 0.2; mean 0.15 over scale 0.5
    assert scaled_pinball(y, q_hat, (0.1, 0.9), 0.5) == pytest.approx(0.3)
    assert np.isnan(scaled_pinball(y, q_hat, (0.1, 0.9), 0.0))
    with pytest.raises(ValueError, match="quantile columns"):
        scaled_pinball(y, q_hat, (0.1, 0.5, 0.9), 1.0)


def test_adi_cv2_by_hand() -> None:
    # from the first sale (NaN and the leading zero skipped): 7 days, 3 with a sale
    adi, cv2 = adi_cv2(np.array([np.nan, 0.0, 4.0, 0.0, 0.0, 2.0, 0.0, 6.0, 0.0]))
    assert adi == pytest.approx(7 / 3)
    assert cv2 == pytest.approx((8 / 3) / 4**2)  # sizes 4, 2, 6: var 8/3, mean 4


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([5.0, 5.0, 6.0, 5.0], SMOOTH),
        ([1.0, 10.0, 1.0, 10.0], ERRATIC),  # CV^2 = 20.25 / 30.25
        ([4.0, 0.0, 0.0, 5.0, 0.0, 0.0], INTERMITTENT),
        ([1.0, 0.0, 0.0, 10.0, 0.0, 0.0], LUMPY),
        ([1.0] * 25 + [0.0] * 8, INTERMITTENT),  # ADI exactly 33 / 25 = 1.32: on the cut-off
        ([1.0] * 26 + [0.0] * 8, SMOOTH),  # ADI 34 / 26 < 1.32
        ([3.0, 17.0], ERRATIC),  # CV^2 exactly 49 / 100 = 0.49: on the cut-off
        ([3.1, 16.9], SMOOTH),
        ([0.0, 0.0, 0.0], NO_DEMAND),
        ([np.nan, np.nan], NO_DEMAND),
        ([], NO_DEMAND),
    ],
)
def test_intermittency_class(history: list[float], expected: str) -> None:
    assert intermittency_class(np.array(history)) == expected


def test_zero_forecast_loses_rmsse_and_spl_on_a_real_lumpy_item() -> None:
    assert intermittency_class(ITEM_HISTORY) == LUMPY
    zero = np.zeros_like(ITEM_ACTUAL)
    mean = np.full_like(ITEM_ACTUAL, ITEM_HISTORY.mean())
    scale_sq = rmsse_scale(ITEM_HISTORY[None])[0]
    assert rmsse(ITEM_ACTUAL, zero, scale_sq) > rmsse(ITEM_ACTUAL, mean, scale_sq)
    # the absolute-error metrics rank the zero forecast first here: why M5 took RMSSE
    assert wape(ITEM_ACTUAL, zero) < wape(ITEM_ACTUAL, mean)
    assert np.mean(np.abs(zero - ITEM_ACTUAL)) < np.mean(np.abs(mean - ITEM_ACTUAL))
    # quantiles: all zero against the history's empirical quantiles, same every day
    taus = M5_QUANTILES
    empirical = np.tile(np.quantile(ITEM_HISTORY, taus), (len(ITEM_ACTUAL), 1))
    scale = spl_scale(ITEM_HISTORY[None])[0]
    zero_spl = scaled_pinball(ITEM_ACTUAL, np.zeros_like(empirical), taus, scale)
    assert zero_spl > scaled_pinball(ITEM_ACTUAL, empirical, taus, scale)


def test_m5_weights_are_recent_revenue_shares() -> None:
    y = np.array([[5.0, 1.0, 2.0, 3.0], [np.nan, 9.0, 0.0, 1.0]])
    price = np.array([[9.0, 1.0, 1.0, 2.0], [np.nan, 9.0, np.nan, 4.0]])
    # last 2 days: 2 * 1 + 3 * 2 = 8 and 0 + 1 * 4 = 4
    assert m5_weights(y, price, days=2) == pytest.approx([2 / 3, 1 / 3])
    assert (m5_weights(y, price, days=0) == 0).all()
    assert (m5_weights(np.zeros((2, 3)), np.ones((2, 3))) == 0).all()


def test_m5_mean_skips_undefined_scores_and_renormalises() -> None:
    assert m5_mean(np.array([1.0, np.nan, 3.0]), np.array([0.5, 0.3, 0.2])) == pytest.approx(
        (0.5 * 1 + 0.2 * 3) / 0.7
    )
    assert np.isnan(m5_mean(np.array([np.nan]), np.array([1.0])))


def test_m5_table_plain_and_weighted_means() -> None:
    # Three items over two days: x is off by 1 on both, y by 2 on one, and z has a zero scale
    # (undefined RMSSE). Item x makes 90% of the revenue.
    pred = pd.DataFrame(
        {
            "model": ["a"] * 6,
            "stock_code": ["x", "x", "y", "y", "z", "z"],
            "y": [4.0, 2.0, 1.0, 0.0, 1.0, 1.0],
            "yhat": [3.0, 3.0, 1.0, 2.0, 0.0, 0.0],
            "scale_sq": [4.0, 4.0, 1.0, 1.0, 0.0, 0.0],
            "weight": [0.9, 0.9, 0.05, 0.05, 0.05, 0.05],
        }
    )
    t = m5_table(pred, ["model"]).set_index("model").loc["a"]
    rx = np.sqrt(1 / 4)  # MSE 1, scale 4
    ry = np.sqrt(2 / 1)  # errors 0 and 2: MSE 2
    assert t["rmsse"] == pytest.approx((rx + ry) / 2)
    assert t["wrmsse"] == pytest.approx((0.9 * rx + 0.05 * ry) / 0.95)
    assert t["n_series"] == 3
    assert t["n_undefined"] == 1
    # WAPE and bias are the project's volume-weighted ones
    flat = metric_table(pred.assign(scale=1.0), ["model"]).set_index("model").loc["a"]
    assert t["wape"] == pytest.approx(flat["wape"])
    assert t["bias"] == pytest.approx(flat["bias"])
    assert t["wape"] == pytest.approx(6 / 9)


def test_m5_table_splits_series_by_origin() -> None:
    # the same item at two origins is two series, each with its own scale
    pred = pd.DataFrame(
        {
            "model": ["a"] * 2,
            "stock_code": ["x", "x"],
            "origin": pd.to_datetime(["2011-08-01", "2011-09-01"]),
            "y": [2.0, 2.0],
            "yhat": [0.0, 1.0],
            "scale_sq": [4.0, 1.0],
            "weight": [1.0, 1.0],
        }
    )
    t = m5_table(pred, ["model"]).set_index("model").loc["a"]
    assert t["n_series"] == 2
    assert t["rmsse"] == pytest.approx((1.0 + 1.0) / 2)
