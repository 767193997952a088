"""Unit tests for retail_mlops/forecasting/global_model.py: no look-ahead, then fit and predict.

The leak properties are the forecasting counterpart of the churn feature leak tests: every
value at or after the origin (units and prices) is changed or corrupted, and the features,
training rows and forecasts made for that origin must not change at all. They run on small
generated panels (random open-day calendars, intermittent items, items listed late) and on
the committed top-items file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_mlops.errors import DataError
from retail_mlops.forecasting.backtest import BacktestSpec, global_backtest
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.global_model import (
    FEATURES,
    GlobalParams,
    fit_global,
    origin_features,
    predict_global,
    training_set,
)
from tests.panels import CORRUPTIONS, corrupt, panels

COL = {f: k for k, f in enumerate(FEATURES)}
FAST = GlobalParams(n_estimators=30, train_origins=6)
ORIGIN = pd.Timestamp("2011-09-01")
HORIZON = 14


def _with(**changes: object) -> GlobalParams:
    """FAST with some settings changed (validated, like a config override)."""
    return GlobalParams(**{**FAST.model_dump(), **changes})


@pytest.fixture(scope="module")
def real(top_items_demand: pd.DataFrame) -> Panel:
    """The 20 items of the committed top-items file, 2009-12-01 .. 2011-12-09 (604 open days)."""
    return Panel.from_long(top_items_demand)


def _corrupted_panel(panel: Panel, i: int, how_y: str, how_price: str, seed: int) -> Panel:
    return Panel(
        panel.skus,
        panel.dates,
        corrupt(panel.y, i, how_y, seed),
        corrupt(panel.price, i, how_price, seed + 1),
    )


# --- leak properties --------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    panel=panels(),
    data=st.data(),
    how_y=st.sampled_from(CORRUPTIONS),
    how_price=st.sampled_from(CORRUPTIONS),
    seed=st.integers(0, 1000),
)
def test_origin_features_never_read_values_at_or_after_the_origin(
    panel: tuple[np.ndarray, np.ndarray, pd.DatetimeIndex],
    data: st.DataObject,
    how_y: str,
    how_price: str,
    seed: int,
) -> None:
    y, price, dates = panel
    i = data.draw(st.integers(1, len(dates) - 1), label="origin column")  # column 0: see below
    targets = dates[i : i + data.draw(st.integers(1, 28), label="horizon")]
    x, scale = origin_features(y, price, dates, i, targets)

    x2, scale2 = origin_features(
        corrupt(y, i, how_y, seed), corrupt(price, i, how_price, seed + 1), dates, i, targets
    )

    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(scale2, scale)


@settings(max_examples=60, deadline=None)
@given(
    panel=panels(min_days=40),
    data=st.data(),
    how_y=st.sampled_from(CORRUPTIONS),
    how_price=st.sampled_from(CORRUPTIONS),
    seed=st.integers(0, 1000),
)
def test_training_rows_before_an_end_never_read_values_at_or_after_it(
    panel: tuple[np.ndarray, np.ndarray, pd.DatetimeIndex],
    data: st.DataObject,
    how_y: str,
    how_price: str,
    seed: int,
) -> None:
    y, price, dates = panel
    end = data.draw(st.integers(29, len(dates)), label="end column")
    horizon = data.draw(st.integers(1, 14), label="horizon")
    params = GlobalParams(
        train_origins=data.draw(st.integers(1, 8), label="train_origins"),
        origin_step=data.draw(st.integers(1, 7), label="origin_step"),
        max_train_rows=data.draw(st.sampled_from([100, 1_000_000]), label="max_train_rows"),
    )
    x, label, weight = training_set(y, price, dates, end, horizon, params)

    got = training_set(
        corrupt(y, end, how_y, seed),
        corrupt(price, end, how_price, seed + 1),
        dates,
        end,
        horizon,
        params,
    )

    for have, want in zip(got, (x, label, weight), strict=True):
        np.testing.assert_array_equal(have, want)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    how_y=st.sampled_from(CORRUPTIONS),
    how_price=st.sampled_from(CORRUPTIONS),
    seed=st.integers(0, 1000),
)
def test_origin_features_on_the_real_subset_never_read_values_at_or_after_the_origin(
    real: Panel, data: st.DataObject, how_y: str, how_price: str, seed: int
) -> None:
    i = data.draw(st.integers(1, len(real.dates) - 1), label="origin column")
    targets = real.dates[i : i + HORIZON]
    x, scale = origin_features(real.y, real.price, real.dates, i, targets)
    bad = _corrupted_panel(real, i, how_y, how_price, seed)

    x2, scale2 = origin_features(bad.y, bad.price, bad.dates, i, targets)

    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(scale2, scale)


def test_the_last_day_before_the_origin_is_read(real: Panel) -> None:
    # The other side of the leak properties: one changed day just before the origin shows up.
    i = real.index_of(ORIGIN)
    targets = real.dates[i : i + HORIZON]
    x, _ = origin_features(real.y, real.price, real.dates, i, targets)
    y = real.y.copy()
    y[:, i - 1] += 1000.0
    x2, _ = origin_features(y, real.price, real.dates, i, targets)
    assert not np.array_equal(x2[:, COL["lag1"]], x[:, COL["lag1"]])
    assert not np.array_equal(x2[:, COL["m7"]], x[:, COL["m7"]])


def test_fitted_forecast_for_an_origin_ignores_corrupted_values_at_or_after_it(
    real: Panel,
) -> None:
    # The whole panel goes in (not a slice), as in `global_forecast`: only columns < i may count.
    i = real.index_of(ORIGIN)
    targets = real.dates[i : i + HORIZON]
    bad = _corrupted_panel(real, i, "huge", "negative", seed=3)

    forecasts = []
    for p in (real, bad):
        model = fit_global(p.y, p.price, p.dates, i, HORIZON, FAST, n_jobs=1)
        forecasts.append(predict_global(model, p.y, p.price, p.dates, i, targets))

    np.testing.assert_array_equal(forecasts[1], forecasts[0])
    assert forecasts[0].sum() > 0  # a real forecast, not two empty ones


def test_global_backtest_at_an_origin_ignores_values_at_or_after_it(real: Panel) -> None:
    i = real.index_of(ORIGIN)
    spec = BacktestSpec([ORIGIN], HORIZON)
    bad = _corrupted_panel(real, i + HORIZON, "nan", "nan", seed=0)  # beyond the window
    worse = _corrupted_panel(real, i, "noise", "zero", seed=5)  # the window itself

    frames = [global_backtest(p, spec, FAST, n_jobs=1) for p in (real, bad, worse)]

    pd.testing.assert_frame_equal(frames[1], frames[0])
    pd.testing.assert_frame_equal(frames[2], frames[0])


# --- origin features by hand ------------------------------------------------------------------


def _hand_panel() -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Two items over 35 consecutive days from Monday 2011-01-03.

    A sells its weekday number (Mon 0 .. Sun 6) every day at price 2, but 3 on day 27.
    B is listed from day 20 and never sells.
    """
    dates = pd.date_range("2011-01-03", periods=35, freq="D")
    a = (np.arange(35) % 7).astype(float)
    b = np.where(np.arange(35) < 20, np.nan, 0.0)
    price_a = np.where(a > 0, 2.0, np.nan)
    price_a[27] = 3.0
    return np.vstack([a, b]), np.vstack([price_a, np.full(35, np.nan)]), dates


def test_origin_features_by_hand() -> None:
    y, price, dates = _hand_panel()
    i = 28  # origin Monday 2011-01-31; the history is four whole weeks
    targets = dates[i : i + 2]
    x, scale = origin_features(y, price, dates, i, targets)

    assert x.shape == (2 * 2, len(FEATURES))  # item-major: A h1, A h2, B h1, B h2
    # A: mean of 4 x (0+1+..+6) / 28 days = 3; B never sold: scale 0
    np.testing.assert_array_equal(scale, [3.0, 0.0])
    a1, a2, b1, b2 = (dict(zip(FEATURES, row, strict=True)) for row in x)
    assert (a1["h"], a2["h"], b1["h"], b2["h"]) == (1, 2, 1, 2)
    assert a1["log_scale"] == pytest.approx(np.log1p(3.0))
    for window in ("m7", "m28", "m91", "m364"):  # every window holds whole weeks: mean 3
        assert a1[window] == pytest.approx(1.0)
    assert a1["nz28"] == pytest.approx(24 / 28)  # the four Mondays sold 0
    # lag k is day 28 - k: Sunday (6) back to Monday (0), over the scale 3
    assert [a1[f"lag{k}"] for k in range(1, 8)] == pytest.approx(
        [2, 5 / 3, 4 / 3, 1, 2 / 3, 1 / 3, 0]
    )
    assert a1["days_since_sale"] == 1  # sold on the day before the origin
    assert a1["age"] == 28
    assert a1["price_rel"] == pytest.approx(1.5)  # last price 3 over the median 2
    # the weekday mean of the target's weekday: Monday 0, Tuesday 1 (over the scale)
    assert (a1["weekday_mean"], a2["weekday_mean"]) == pytest.approx((0.0, 1 / 3))
    assert np.isnan(a1["last_year"])  # no year of history
    assert np.isnan(a1["last_year_trend"])
    assert (a1["weekday"], a1["month"], a1["day_of_year"]) == (0, 1, 31)
    assert (a2["weekday"], a2["day_of_year"]) == (1, 32)
    assert a1["days_to_christmas"] == (pd.Timestamp("2011-12-25") - targets[0]).days == 328

    # B: listed 8 days, never sold; features are divided by 1 instead of its zero scale
    assert (b1["log_scale"], b1["m7"], b1["nz28"], b1["lag1"]) == (0.0, 0.0, 0.0, 0.0)
    assert (b1["days_since_sale"], b1["age"]) == (400, 8)
    assert np.isnan(b1["price_rel"])


def test_origin_features_at_the_first_column_are_all_unknown() -> None:
    y, price, dates = _hand_panel()
    x, scale = origin_features(y, price, dates, 0, dates[:2])
    f = dict(zip(FEATURES, x[0], strict=True))
    np.testing.assert_array_equal(scale, [0.0, 0.0])  # nothing sold yet
    assert np.isnan(f["lag1"])
    assert f["age"] == 0


def test_last_year_features_come_from_the_same_weeks_a_year_earlier() -> None:
    # One item selling 10 a day in January 2010 and 20 a day in January 2011.
    dates = pd.date_range("2010-01-01", "2011-01-31", freq="D")
    y = np.where(dates.year == 2010, 10.0, 20.0)[None, :]
    y[0, (dates >= "2010-03-01") & (dates < "2011-01-01")] = 5.0
    i = dates.get_loc(pd.Timestamp("2011-01-20"))
    x, scale = origin_features(y, np.full_like(y, np.nan), dates, i, dates[i : i + 1])
    f = dict(zip(FEATURES, x[0], strict=True))
    # scale: the last 91 days: 72 days of 5 (2010-10-21 .. 12-31) and 19 of 20 (2011-01-01 .. 19)
    assert scale[0] == pytest.approx((72 * 5 + 19 * 20) / 91)
    # 364 +- 7 days before 2011-01-20 is 2010-01-14 .. 2010-01-27: all 10 a day
    assert f["last_year"] == pytest.approx(10 / scale[0])
    # the 28 days a year before the origin (2009-12-24 .. 2010-01-20; listed from 01-01): all 10
    assert f["last_year_trend"] == pytest.approx(1.0)


# --- training rows ----------------------------------------------------------------------------


def test_training_rows_are_units_over_scale_weighted_by_scale(real: Panel) -> None:
    end = real.index_of(ORIGIN)
    params = GlobalParams(train_origins=1)
    x, label, weight = training_set(real.y, real.price, real.dates, end, HORIZON, params)
    j = end - HORIZON  # the one origin whose window ends just before `end`
    _, scale = origin_features(real.y, real.price, real.dates, j, real.dates[j:end])
    sold = scale > 0
    assert x.shape == (sold.sum() * HORIZON, len(FEATURES))
    np.testing.assert_allclose(label * weight, real.y[sold, j:end].reshape(-1))
    np.testing.assert_array_equal(weight, np.repeat(scale[sold], HORIZON))
    assert (weight > 0).all()


def test_training_rows_are_sampled_down_reproducibly(real: Panel) -> None:
    end = real.index_of(ORIGIN)
    full = training_set(real.y, real.price, real.dates, end, HORIZON, FAST)
    small = _with(max_train_rows=100)
    a = training_set(real.y, real.price, real.dates, end, HORIZON, small)
    b = training_set(real.y, real.price, real.dates, end, HORIZON, small)
    assert len(full[1]) > 100
    assert a[0].shape == (100, len(FEATURES))
    for have, again in zip(a, b, strict=True):
        np.testing.assert_array_equal(have, again)
    full_rows = {tuple(np.nan_to_num(r, nan=-1e300)) for r in np.column_stack(full)}
    assert {tuple(np.nan_to_num(r, nan=-1e300)) for r in np.column_stack(a)} <= full_rows


# --- fit and predict --------------------------------------------------------------------------


def test_predict_shape_is_items_by_targets_and_never_negative(real: Panel) -> None:
    i = real.index_of(ORIGIN)
    targets = real.dates[i : i + HORIZON]
    model = fit_global(real.y, real.price, real.dates, i, HORIZON, FAST, n_jobs=1)
    pred = predict_global(model, real.y, real.price, real.dates, i, targets)
    assert isinstance(model, xgb.XGBRegressor)
    assert pred.shape == (len(real.skus), HORIZON)
    assert np.isfinite(pred).all()
    assert (pred >= 0).all()


def test_predict_clips_a_negative_model_output_to_zero_and_rescales_to_units(real: Panel) -> None:
    # Real boosters fitted on a constant label: the forecast is label x scale, and never < 0.
    i = real.index_of(ORIGIN)
    targets = real.dates[i : i + 3]
    x, scale = origin_features(real.y, real.price, real.dates, i, targets)
    for constant, expected in ((2.0, 2.0 * scale), (-1.0, np.zeros_like(scale))):
        model = xgb.XGBRegressor(n_estimators=2, n_jobs=1).fit(x, np.full(len(x), constant))
        pred = predict_global(model, real.y, real.price, real.dates, i, targets)
        np.testing.assert_allclose(pred, np.repeat(expected[:, None], 3, axis=1), rtol=1e-5)


def test_an_item_without_sales_in_the_last_year_is_forecast_zero(real: Panel) -> None:
    i = real.index_of(ORIGIN)
    y, price = real.y.copy(), real.price.copy()
    y[0, i - 400 : i] = 0.0  # stopped selling more than a year ago
    price[0, i - 400 : i] = np.nan
    model = fit_global(y, price, real.dates, i, HORIZON, FAST, n_jobs=1)
    pred = predict_global(model, y, price, real.dates, i, real.dates[i : i + HORIZON])
    np.testing.assert_array_equal(pred[0], 0.0)
    assert pred[1:].sum() > 0


def test_fit_is_deterministic_for_a_seed_and_the_seed_matters(real: Panel) -> None:
    i = real.index_of(ORIGIN)
    targets = real.dates[i : i + HORIZON]

    def forecast(params: GlobalParams) -> np.ndarray:
        model = fit_global(real.y, real.price, real.dates, i, HORIZON, params, n_jobs=1)
        return predict_global(model, real.y, real.price, real.dates, i, targets)

    first = forecast(FAST)
    np.testing.assert_array_equal(forecast(FAST), first)
    # subsample and colsample_bytree are 0.8: another seed grows other trees
    assert not np.array_equal(forecast(_with(seed=1)), first)


def test_too_short_a_history_gives_no_model_and_a_zero_forecast(real: Panel) -> None:
    # With end 40 and horizon 14 the only origin is column 26, before the 28 days a row needs.
    assert len(training_set(real.y, real.price, real.dates, 40, HORIZON, FAST)[1]) == 0
    assert fit_global(real.y, real.price, real.dates, 40, HORIZON, FAST, n_jobs=1) is None
    pred = predict_global(None, real.y, real.price, real.dates, 40, real.dates[40:54])
    np.testing.assert_array_equal(pred, np.zeros((len(real.skus), 14)))


def test_backtest_origin_with_too_short_a_history_is_a_readable_data_error(real: Panel) -> None:
    early = real.dates[55]  # 55 open days before it, one too few
    with pytest.raises(
        DataError,
        match=r"backtest origin 2010-02-\d\d needs 56 open days before it and 14 after it "
        r"\(data covers 2009-12-01 \.\. 2011-12-09\)",
    ):
        global_backtest(real, BacktestSpec([early], HORIZON), FAST, n_jobs=1)
    assert BacktestSpec([real.dates[56]], HORIZON).columns(real) == [56]


def test_backtest_origin_without_a_whole_window_after_it_is_a_data_error(real: Panel) -> None:
    late = real.dates[-HORIZON + 1]  # 13 open days left
    with pytest.raises(DataError, match=r"needs 56 open days before it and 14 after it"):
        BacktestSpec([late], HORIZON).columns(real)
    assert BacktestSpec([real.dates[-HORIZON]], HORIZON).columns(real) == [len(real.dates) - 14]
