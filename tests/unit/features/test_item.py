"""Unit tests for retail_mlops/features/item.py: the item-day features of `ItemHistory`.

The toy panel is hand-made: three items over 15 open days, three of them a year before the rest
(2009-12-20, 2010-01-10, 2010-01-17, then 2011-01-03 .. 2011-01-15 without the closed Sunday
2011-01-09):

    A sells 4 0 8 | 2 0 3 1 0 4 2 0 5 1 3 0 (columns 0 .. 14); its price is missing on column 8
      although it sold 4 (and on every day without a sale).
    B is listed late: first sale on column 9 (3 units at 1.0), 6 at 1.5 on column 12, else 0.
    C sells 2 at 5.0 on column 1 (its first day) and nothing afterwards.

Expected values are worked out by hand next to the assertions. Generated panels (random open-day
calendars, items listed late, prices missing) check that a forecast origin never reads its own
day or later; the committed real subset checks that features read back from the long table
(what Feast serves) are exactly the ones computed directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_mlops.errors import DataError
from retail_mlops.features.item import (
    ITEM_FEATURE_COLUMNS,
    ItemHistory,
    by_origin,
    entity_rows,
)
from retail_mlops.forecasting.demand import Panel, daily_demand, sales_lines
from retail_mlops.forecasting.global_model import origin_features
from tests.panels import CORRUPTIONS, corrupt, panels

NAN = np.nan
KEYS = ["stock_code", "event_timestamp"]
SKUS = np.array(["A", "B", "C"], dtype=object)
DATES = pd.DatetimeIndex(
    ["2009-12-20", "2010-01-10", "2010-01-17"]
    + [f"2011-01-{d:02d}" for d in range(3, 16) if d != 9]
)
Y = np.array(
    [
        [4, 0, 8, 2, 0, 3, 1, 0, 4, 2, 0, 5, 1, 3, 0],
        [NAN] * 9 + [3, 0, 0, 6, 0, 0],
        [NAN, 2] + [0] * 13,
    ]
)
PRICE = np.full(Y.shape, NAN)
PRICE[0, [0, 2, 3, 5, 6, 9, 11, 12, 13]] = [1.0, 1.0, 2.0, 1.6, 2.2, 2.0, 2.5, 2.0, 3.0]
PRICE[1, [9, 12]] = [1.0, 1.5]
PRICE[2, 1] = 5.0


def _expect(
    means: list[float], shares: list[float], lags: list[float], *scalars: float
) -> list[float]:
    """A feature row in ITEM_FEATURE_COLUMNS order.

    Means 7/28/91/364, shares 28/91, lags 1..7, then days_since_sale, listed_days, price_last,
    price_median_364 and units_mean_last_year_28.
    """
    assert (len(means), len(shares), len(lags), len(scalars)) == (4, 2, 7, 5)
    return [*means, *shares, *lags, *scalars]


UNLISTED = _expect([NAN] * 4, [NAN] * 2, [NAN] * 7, 400, 0, NAN, NAN, NAN)


@pytest.fixture(scope="module")
def toy() -> ItemHistory:
    return ItemHistory(Y, PRICE, DATES)


def test_features_by_hand_at_column_3(toy: ItemHistory) -> None:
    # Known: columns 0 .. 2 (2009-12-20 .. 2010-01-17); origin day 2010-01-18, nothing a year
    # before it. Lags 4 .. 7 reach before column 0: NaN.
    a, b, c = toy.at(3)
    # A: 4 0 8, mean 4 in every window, 2 of 3 days sold, last sale column 2; prices 1.0, 1.0
    np.testing.assert_allclose(
        a, _expect([4] * 4, [2 / 3] * 2, [8, 0, 4, *[NAN] * 4], 1, 3, 1.0, 1.0, NAN)
    )
    np.testing.assert_array_equal(b, UNLISTED)  # B is not listed yet: no sale ever, cap 400
    # C: listed from column 1: 2 0, mean 1; lag 3 is column 0, before C was listed
    np.testing.assert_allclose(
        c, _expect([1] * 4, [1 / 2] * 2, [0, 2, *[NAN] * 5], 2, 2, 5.0, 5.0, NAN)
    )


def test_features_by_hand_at_column_9(toy: ItemHistory) -> None:
    # Known: columns 0 .. 8 (.. Saturday 2011-01-08). The origin day is the closed Sunday
    # 2011-01-09, not the next open day 2011-01-10: last year's window is [2009-12-13,
    # 2010-01-10), which holds column 0 only (column 1 is 2010-01-10, just outside).
    a, b, c = toy.at(9)
    # A: 7 days 8 2 0 3 1 0 4 = 18; 9 days = 22; sold on columns 0 2 3 5 6 8 (6 of 9).
    # Column 8 sold without a price, so the last price is column 6's 2.2; prices so far
    # 1.0 1.0 2.0 1.6 2.2: median 1.6. Last year: column 0 alone, 4.
    np.testing.assert_allclose(
        a,
        _expect(
            [18 / 7, 22 / 9, 22 / 9, 22 / 9], [2 / 3] * 2, [4, 0, 1, 3, 0, 2, 8], 1, 9, 2.2, 1.6, 4
        ),
    )
    np.testing.assert_array_equal(b, UNLISTED)  # B's first day is column 9 itself
    # C: 8 listed days, 2 units on the first: mean_7 0 (columns 2 .. 8), mean_28 2/8; C was
    # not listed on column 0, so last year is NaN.
    np.testing.assert_allclose(
        c, _expect([0, 2 / 8, 2 / 8, 2 / 8], [1 / 8] * 2, [0] * 7, 8, 8, 5.0, 5.0, NAN)
    )


def test_features_by_hand_after_the_last_day(toy: ItemHistory) -> None:
    # Origin 15 = T: the next forecast, made on 2011-01-16. Last year: [2009-12-20, 2010-01-17):
    # columns 0 and 1; column 2 (2010-01-17) is just outside.
    a, b, c = toy.at(15)
    # A: last 7 days 4 2 0 5 1 3 0 = 15; all 15 days = 33; 10 of 15 days sold; last sale
    # column 13; last price 3.0; 9 prices 1 1 1.6 2 2 2 2.2 2.5 3: median 2; last year (4+0)/2.
    np.testing.assert_allclose(
        a,
        _expect(
            [15 / 7, 33 / 15, 33 / 15, 33 / 15],
            [10 / 15] * 2,
            [0, 3, 1, 5, 0, 2, 4],
            2,
            15,
            3.0,
            2.0,
            2.0,
        ),
    )
    # B: listed 6 days (columns 9 .. 14): 3 0 0 6 0 0, so mean 9/6 in every window (column 8,
    # unlisted, does not count); lag 7 is column 8: NaN. Prices 1.0, 1.5: median 1.25.
    np.testing.assert_allclose(
        b, _expect([1.5] * 4, [1 / 3] * 2, [0, 0, 6, 0, 0, 3, NAN], 3, 6, 1.5, 1.25, NAN)
    )
    # C: 14 listed days, one sale of 2 fourteen open days ago; last year column 1 alone: 2.
    np.testing.assert_allclose(
        c, _expect([0, 2 / 14, 2 / 14, 2 / 14], [1 / 14] * 2, [0] * 7, 14, 14, 5.0, 5.0, 2.0)
    )


def test_nothing_is_known_before_column_0(toy: ItemHistory) -> None:
    np.testing.assert_array_equal(toy.at(0), np.array([UNLISTED] * 3))
    assert not toy.listed(0).any()
    assert toy.listed(3).tolist() == [True, False, True]


def test_day_counts_saturate_at_400_and_prices_are_forgotten_after_364_open_days() -> None:
    # One item sells 1 at 2.0 on the first of 420 open days, then nothing.
    y = np.zeros((1, 420))
    y[0, 0] = 1.0
    price = np.full((1, 420), NAN)
    price[0, 0] = 2.0
    h = ItemHistory(y, price, pd.date_range("2010-01-01", periods=420, freq="D"))
    col = {c: k for k, c in enumerate(ITEM_FEATURE_COLUMNS)}
    days = ["days_since_sale", "listed_days", "price_last", "price_median_364"]
    feats = {i: h.at(i)[0, [col[c] for c in days]] for i in (364, 365, 400, 401, 420)}
    np.testing.assert_array_equal(feats[364], [364, 364, 2.0, 2.0])  # column 0 is in the window
    np.testing.assert_array_equal(feats[365], [365, 365, NAN, NAN])  # ... and now out of it
    np.testing.assert_array_equal(feats[400], [400, 400, NAN, NAN])
    np.testing.assert_array_equal(feats[401], [400, 400, NAN, NAN])  # capped
    np.testing.assert_array_equal(feats[420], [400, 400, NAN, NAN])


def test_misaligned_shapes_are_a_data_error() -> None:
    with pytest.raises(DataError, match=r"units \(3, 15\), prices \(3, 14\) and 15 days"):
        ItemHistory(Y, PRICE[:, :14], DATES)
    with pytest.raises(DataError, match=r"and 14 days do not line up"):
        ItemHistory(Y, PRICE, DATES[:14])


# --- no look-ahead ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    panel=panels(min_days=2, priced_share=0.9),
    data=st.data(),
    how_y=st.sampled_from(CORRUPTIONS),
    how_price=st.sampled_from(CORRUPTIONS),
    seed=st.integers(0, 1000),
)
def test_features_at_an_origin_never_read_values_at_or_after_it(
    panel: tuple[np.ndarray, np.ndarray, pd.DatetimeIndex],
    data: st.DataObject,
    how_y: str,
    how_price: str,
    seed: int,
) -> None:
    y, price, dates = panel
    i = data.draw(st.integers(0, len(dates)), label="origin column")
    want = ItemHistory(y, price, dates).at(i)

    bad = ItemHistory(corrupt(y, i, how_y, seed), corrupt(price, i, how_price, seed + 1), dates)

    np.testing.assert_array_equal(bad.at(i), want)


def test_the_day_before_the_origin_is_read(toy: ItemHistory) -> None:
    # The other side of the property: one changed unit on column 14 shows up at origin 15.
    y = Y.copy()
    y[0, 14] += 7.0
    got = ItemHistory(y, PRICE, DATES).at(15)[0]
    assert (got[0], got[6]) == pytest.approx((22 / 7, 7.0))  # units_mean_7, units_lag_1


# --- the long table, entity rows and the way back ---------------------------------------------


def test_table_stacks_the_listed_items_of_every_origin(toy: ItemHistory) -> None:
    table = toy.table(SKUS)
    assert list(table.columns) == [*KEYS, *ITEM_FEATURE_COLUMNS]
    assert (table[ITEM_FEATURE_COLUMNS].dtypes == "float64").all()
    assert table["event_timestamp"].dtype == "datetime64[ns]"
    # origins 1 .. 15: A from 1, C from 2, B from 10 (its first day is column 9)
    assert len(table) == 15 + 14 + 6
    assert not table.duplicated(KEYS).any()
    assert toy.row_time(9) == pd.Timestamp("2011-01-10")  # the open day, not the Sunday before
    assert toy.row_time(15) == pd.Timestamp("2011-01-16")  # the day after the data
    for i in range(1, 16):
        rows = table[table["event_timestamp"] == toy.row_time(i)]
        assert rows["stock_code"].tolist() == SKUS[toy.listed(i)].tolist()
        np.testing.assert_array_equal(rows[ITEM_FEATURE_COLUMNS], toy.at(i)[toy.listed(i)])
    subset = toy.table(SKUS, origins=[0, 9, 15])  # origin 0: nobody is listed yet
    assert subset["event_timestamp"].tolist() == [toy.row_time(9)] * 2 + [toy.row_time(15)] * 3


def test_entity_rows_are_the_keys_of_the_table(toy: ItemHistory) -> None:
    origins = list(range(16))
    got = entity_rows(toy, SKUS, origins)
    pd.testing.assert_frame_equal(got, toy.table(SKUS, origins)[KEYS])


def test_by_origin_gives_back_the_features_of_each_origin(toy: ItemHistory) -> None:
    origins = [0, 3, 9, 10, 15]
    table = toy.table(SKUS, origins).sample(frac=1.0, random_state=0)  # order does not matter
    back = by_origin(table, toy, SKUS, origins)
    assert sorted(back) == origins
    for i in origins:
        assert not toy.listed(0).any()  # origin 0: every item comes back without a row
        # not listed: no row in the table, and the same values `at` gives such an item
        np.testing.assert_array_equal(back[i], toy.at(i))


def test_by_origin_without_rows_for_an_origin_is_a_data_error(toy: ItemHistory) -> None:
    table = toy.table(SKUS)
    table = table[table["event_timestamp"] != toy.row_time(9)]
    with pytest.raises(DataError, match=r"item features have no rows for 2011-01-10"):
        by_origin(table, toy, SKUS, [8, 9])


def test_by_origin_names_missing_columns(toy: ItemHistory) -> None:
    table = toy.table(SKUS).drop(columns=["price_last", "event_timestamp"])
    with pytest.raises(DataError, match=r"lack column\(s\): event_timestamp, price_last$"):
        by_origin(table, toy, SKUS, [15])


# --- the committed real subset ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real(subset_clean: pd.DataFrame) -> Panel:
    """100 items spread over the committed subset's 3,766, on its 593 open days."""
    panel = Panel.from_long(daily_demand(sales_lines(subset_clean)[0]))
    return panel.subset(np.arange(0, len(panel.skus), len(panel.skus) // 100)[:100])


@pytest.fixture(scope="module")
def real_history(real: Panel) -> ItemHistory:
    return ItemHistory(real.y, real.price, real.dates)


@pytest.fixture(scope="module")
def real_table(real: Panel, real_history: ItemHistory) -> pd.DataFrame:
    return real_history.table(real.skus)


def _origins(real: Panel) -> list[int]:
    t = len(real.dates)
    return [60, 300, t - 14, t]  # at 60 and 300 some items are not listed yet


def _targets(history: ItemHistory, i: int) -> pd.DatetimeIndex:
    return pd.date_range(history.row_time(i), periods=14, freq="D")


def test_real_table_levels_and_recency_are_never_null(
    real: Panel, real_history: ItemHistory, real_table: pd.DataFrame
) -> None:
    listed = sum(int(real_history.listed(i).sum()) for i in range(1, len(real.dates) + 1))
    assert len(real_table) == listed > 40_000
    assert real_table["units_mean_7"].isna().mean() == 0
    assert real_table["days_since_sale"].isna().mean() == 0


def test_store_features_give_the_global_model_the_same_inputs(
    real: Panel, real_history: ItemHistory, real_table: pd.DataFrame
) -> None:
    # The proof that features fetched from the store and computed directly cannot differ
    # for any item the model can forecast: the table round-trip feeds `origin_features`.
    origins = _origins(real)
    fetched = by_origin(real_table, real_history, real.skus, origins)
    for i in origins:
        args = (real.y, real.price, real.dates, i, _targets(real_history, i))
        x, scale = origin_features(*args)
        x2, scale2 = origin_features(*args, day_features=fetched[i])
        np.testing.assert_array_equal(scale2, scale)
        np.testing.assert_array_equal(x2, x)
    assert not real_history.listed(origins[0]).all()  # items not listed yet are compared too
