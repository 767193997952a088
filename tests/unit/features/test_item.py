"""Unit tests for retail_mlops/features/item.py: daily demand with closed days, item features.

The toy data are hand-made invoice lines for two items over 40 days (2010-01-01 .. 2010-02-09):

    A sells i + 1 units on day i (day 0 = 2010-01-01) at 2.0 each (3.0 from day 20 on); on day 5
      it sells 3 at 2.0 and 3 at 4.0 (day price 3.0); it sells nothing on day 16 (an open day).
    B first sells on day 2; it sells 10 units at 1.5 on even days and nothing on odd days.
    Day 9 (2010-01-10) nobody sells: the shop is closed.

Expected values are worked out by hand next to the assertions; the DuckDB features are also checked
against the pandas reference (tests/reference/item_features.py), on the toy data and on the real
subset.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_mlops.calendar import CALENDAR_COLUMNS
from retail_mlops.errors import DataError
from retail_mlops.features.item import (
    ITEM_FEATURE_COLUMNS,
    daily_item_demand,
    item_daily_features,
    item_feature_columns,
)
from tests.reference.item_features import item_daily_features_pandas

D0 = pd.Timestamp("2010-01-01")
N_DAYS = 40
CLOSED = 9  # 2010-01-10
A_NO_SALE = 16  # 2010-01-17: open (B sells), A sells nothing
KEY = ["stock_code", "date"]


def day(i: int) -> pd.Timestamp:
    """Date of toy day i."""
    return D0 + pd.Timedelta(days=i)


def _lines(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    """Invoice lines from (stock_code, invoice_date, quantity, unit price)."""
    df = pd.DataFrame(rows, columns=["stock_code", "invoice_date", "quantity", "price"])
    df["invoice_date"] = pd.to_datetime(df["invoice_date"], format="ISO8601")
    df["quantity"] = df["quantity"].astype("int64")
    df["amount"] = df["quantity"] * df["price"].astype("float64")
    return df.drop(columns="price")


def _toy_lines() -> pd.DataFrame:
    rows: list[tuple[str, str, int, float]] = []
    for i in range(N_DAYS):
        if i == CLOSED:
            continue
        stamp = str(day(i) + pd.Timedelta(hours=10, minutes=i))
        if i == 5:
            rows += [("A", stamp, 3, 2.0), ("A", stamp, 3, 4.0)]
        elif i != A_NO_SALE:
            rows.append(("A", stamp, i + 1, 2.0 if i < 20 else 3.0))
        if i >= 2 and i % 2 == 0:
            rows.append(("B", str(day(i) + pd.Timedelta(hours=15)), 10, 1.5))
    return _lines(rows)


@pytest.fixture(scope="module")
def toy_daily() -> pd.DataFrame:
    return daily_item_demand(_toy_lines())


@pytest.fixture(scope="module")
def toy_features(toy_daily: pd.DataFrame) -> pd.DataFrame:
    return item_daily_features(toy_daily).set_index(KEY).sort_index()


def _row(frame: pd.DataFrame, item: str, i: int) -> pd.Series:
    return frame.loc[(item, day(i))]


# --- daily_item_demand ------------------------------------------------------------------------


def test_daily_demand_is_dense_from_first_sale_to_last_data_day(toy_daily: pd.DataFrame) -> None:
    assert list(toy_daily.columns) == [
        "stock_code",
        "date",
        "units",
        "revenue",
        "price",
        "is_open",
    ]
    a = toy_daily[toy_daily["stock_code"] == "A"]
    b = toy_daily[toy_daily["stock_code"] == "B"]
    assert list(a["date"]) == [day(i) for i in range(N_DAYS)]
    assert list(b["date"]) == [day(i) for i in range(2, N_DAYS)]  # B starts on its first sale
    assert toy_daily["date"].dtype == "datetime64[ns]"
    assert toy_daily["units"].dtype == "float64"
    assert toy_daily["is_open"].dtype == "int64"


def test_daily_demand_closed_day_is_null_not_zero(toy_daily: pd.DataFrame) -> None:
    closed = toy_daily[toy_daily["date"] == day(CLOSED)]
    assert sorted(closed["stock_code"]) == ["A", "B"]
    assert closed["units"].isna().all()
    assert closed["revenue"].isna().all()
    assert closed["price"].isna().all()
    assert (closed["is_open"] == 0).all()
    # every other day someone sold something, so it is open
    assert (toy_daily.loc[toy_daily["date"] != day(CLOSED), "is_open"] == 1).all()


def test_daily_demand_open_day_without_sales_is_zero(toy_daily: pd.DataFrame) -> None:
    d = toy_daily.set_index(KEY)
    a16 = d.loc[("A", day(A_NO_SALE))]
    assert a16["units"] == 0.0
    assert a16["revenue"] == 0.0
    assert math.isnan(a16["price"])  # no sale: no price that day
    assert a16["is_open"] == 1
    b3 = d.loc[("B", day(3))]  # odd day, A sells so the shop is open
    assert (b3["units"], b3["revenue"], b3["is_open"]) == (0.0, 0.0, 1)


def test_daily_demand_sums_lines_and_price_is_revenue_per_unit(toy_daily: pd.DataFrame) -> None:
    d = toy_daily.set_index(KEY)
    a5 = d.loc[("A", day(5))]
    assert a5["units"] == 6.0  # 3 + 3
    assert a5["revenue"] == pytest.approx(18.0)  # 3 * 2.0 + 3 * 4.0
    assert a5["price"] == pytest.approx(3.0)
    a30 = d.loc[("A", day(30))]
    assert (a30["units"], a30["revenue"], a30["price"]) == (31.0, 93.0, 3.0)
    b4 = d.loc[("B", day(4))]
    assert (b4["units"], b4["revenue"], b4["price"]) == (10.0, 15.0, 1.5)


def test_daily_demand_groups_by_calendar_day_not_timestamp() -> None:
    lines = _lines(
        [
            ("A", "2010-01-01 00:00", 1, 1.0),
            ("A", "2010-01-01 23:59", 2, 1.0),
            ("A", "2010-01-03 12:00", 4, 1.0),
        ]
    )
    d = daily_item_demand(lines)
    assert list(d["date"]) == [day(0), day(1), day(2)]
    assert d["units"].tolist()[0] == 3.0
    assert math.isnan(d["units"].tolist()[1])  # 2010-01-02: nobody sold
    assert d["is_open"].tolist() == [1, 0, 1]


def test_daily_demand_missing_columns_raise() -> None:
    with pytest.raises(DataError, match=r"lack column\(s\): quantity, amount"):
        daily_item_demand(_toy_lines().drop(columns=["quantity", "amount"]))


def test_daily_demand_no_lines_raise() -> None:
    with pytest.raises(DataError, match="no invoice lines"):
        daily_item_demand(_toy_lines().iloc[:0])


# --- item_daily_features: hand-computed values -------------------------------------------------


def test_features_columns_order_and_dtypes(toy_daily: pd.DataFrame) -> None:
    feats = item_daily_features(toy_daily)
    assert list(feats.columns) == ["stock_code", "date", *ITEM_FEATURE_COLUMNS]
    assert ITEM_FEATURE_COLUMNS[: len(CALENDAR_COLUMNS)] == CALENDAR_COLUMNS
    assert len(feats) == len(toy_daily)
    for col in ITEM_FEATURE_COLUMNS:
        assert feats[col].dtype == "float64", col
    assert feats["date"].dtype == "datetime64[ns]"


def test_custom_lags_and_windows_name_the_columns(toy_daily: pd.DataFrame) -> None:
    cols = item_feature_columns((2,), (3,))
    assert cols == [
        *CALENDAR_COLUMNS,
        "is_open",
        "units_lag_2",
        "units_mean_3",
        "units_std_3",
        "units_max_3",
        "units_sum_28",
        "units_count_28",
        "units_min_28",
        "price_last",
        "price_mean_28",
        "price_ratio_hist",
        "revenue_mean_28",
    ]
    feats = item_daily_features(toy_daily, lags=(2,), windows=(3,)).set_index(KEY)
    assert list(feats.columns) == cols
    a12 = feats.loc[("A", day(12))]
    assert a12["units_lag_2"] == 11.0  # day 10
    assert a12["units_mean_3"] == pytest.approx((11 + 12) / 2)  # days 9..11, day 9 closed
    assert a12["units_max_3"] == 12.0


def test_first_day_has_no_history(toy_features: pd.DataFrame) -> None:
    a0 = _row(toy_features, "A", 0)
    for col in ITEM_FEATURE_COLUMNS:
        if col.startswith(("units_", "price_", "revenue_")) and col != "units_count_28":
            assert math.isnan(a0[col]), col
    assert a0["units_count_28"] == 0.0  # COUNT over an empty window is 0, not NULL
    assert a0["is_holiday"] == 1.0  # New Year's Day


def test_one_past_value_has_mean_but_no_std(toy_features: pd.DataFrame) -> None:
    a1 = _row(toy_features, "A", 1)
    assert a1["units_lag_1"] == 1.0
    assert a1["units_mean_7"] == 1.0
    assert math.isnan(a1["units_std_7"])  # sample std of one value is undefined
    assert a1["units_count_28"] == 1.0
    assert a1["units_sum_28"] == 1.0
    assert a1["price_last"] == 2.0
    assert a1["price_ratio_hist"] == pytest.approx(1.0)
    a2 = _row(toy_features, "A", 2)
    assert a2["units_std_7"] == pytest.approx(math.sqrt(0.5))  # std(1, 2), ddof 1


def test_day_after_closed_day_sees_a_null_lag_and_skips_it_in_windows(
    toy_features: pd.DataFrame,
) -> None:
    a10 = _row(toy_features, "A", 10)
    assert math.isnan(a10["units_lag_1"])  # day 9 was closed: unknown, not 0
    assert a10["units_lag_7"] == 4.0  # day 3
    assert a10["units_mean_7"] == pytest.approx(39 / 6)  # days 3..8: 4+5+6+7+8+9
    assert a10["units_max_7"] == 9.0
    assert a10["units_count_28"] == 9.0  # days 0..8
    assert a10["units_sum_28"] == 45.0  # 1 + ... + 9
    assert a10["units_min_28"] == 1.0
    assert a10["price_last"] == 2.0  # carried over the closed day from day 8
    assert a10["is_open"] == 1.0
    assert _row(toy_features, "A", CLOSED)["is_open"] == 0.0
    assert _row(toy_features, "B", CLOSED)["is_open"] == 0.0
    # lag 14 of day 23 lands on the closed day
    assert math.isnan(_row(toy_features, "A", 23)["units_lag_14"])


def test_open_day_without_sales_counts_as_zero(toy_features: pd.DataFrame) -> None:
    a17 = _row(toy_features, "A", 17)
    assert a17["units_lag_1"] == 0.0
    assert a17["units_min_28"] == 0.0
    assert a17["units_mean_7"] == pytest.approx((11 + 12 + 13 + 14 + 15 + 16 + 0) / 7)
    assert a17["units_count_28"] == 16.0  # days 0..16 minus the closed day
    assert a17["price_last"] == 2.0  # day 16 had no price: day 15's carries
    b4 = _row(toy_features, "B", 4)
    assert b4["units_lag_1"] == 0.0  # day 3: open, B sold nothing
    assert b4["units_mean_7"] == pytest.approx(5.0)  # B's days 2, 3: 10, 0
    assert b4["price_last"] == 1.5  # from day 2, over day 3 without a sale


def test_windows_are_past_only(toy_features: pd.DataFrame) -> None:
    a12 = _row(toy_features, "A", 12)
    assert a12["units_max_7"] == 12.0  # day 11; day 12's own 13 is not in the window
    a39 = _row(toy_features, "A", 39)
    # days 0..38: 1 + ... + 39 minus day 9 (10) and day 16 (17, sold 0); 38 known days
    assert a39["units_mean_91"] == pytest.approx((780 - 10 - 17) / 38)
    assert a39["units_lag_28"] == 12.0  # day 11
    assert a39["units_max_91"] == 39.0


def test_price_features(toy_features: pd.DataFrame) -> None:
    a21 = _row(toy_features, "A", 21)
    assert a21["price_last"] == 3.0  # day 20
    # prices of days 0..20 with a sale: 17 days at 2.0, day 5 at 3.0, day 20 at 3.0
    assert a21["price_ratio_hist"] == pytest.approx(3.0 / (40 / 19))
    assert a21["price_mean_28"] == pytest.approx(40 / 19)
    a6 = _row(toy_features, "A", 6)
    assert a6["price_last"] == 3.0  # day 5's mixed price
    assert a6["revenue_mean_28"] == pytest.approx((2 + 4 + 6 + 8 + 10 + 18) / 6)


def test_sql_matches_pandas_reference_on_toy_data(toy_daily: pd.DataFrame) -> None:
    sql = item_daily_features(toy_daily).sort_values(KEY, ignore_index=True)
    ref = item_daily_features_pandas(toy_daily)
    pd.testing.assert_frame_equal(sql, ref, check_exact=False, rtol=1e-9, atol=1e-12)


def test_features_missing_columns_raise(toy_daily: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"daily demand lacks column\(s\): price, is_open"):
        item_daily_features(toy_daily.drop(columns=["price", "is_open"]))


def test_reference_missing_columns_raise(toy_daily: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"lacks column\(s\): units"):
        item_daily_features_pandas(toy_daily.drop(columns=["units"]))


# --- leak tests --------------------------------------------------------------------------------

_maybe_units = st.one_of(st.none(), st.floats(min_value=0, max_value=1e4, allow_nan=False))
_price = st.one_of(st.none(), st.floats(min_value=0.01, max_value=100, allow_nan=False))


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(min_value=1, max_value=N_DAYS - 1),
    units=st.lists(_maybe_units, min_size=1, max_size=8),
    prices=st.lists(_price, min_size=1, max_size=8),
    extra_days=st.integers(min_value=0, max_value=5),
    new_item_days=st.integers(min_value=0, max_value=5),
)
def test_demand_at_or_after_t_does_not_change_features_up_to_t(
    toy_daily: pd.DataFrame,
    toy_features: pd.DataFrame,
    t: int,
    units: list[float | None],
    prices: list[float | None],
    extra_days: int,
    new_item_days: int,
) -> None:
    cut = day(t)
    expected = toy_features.reset_index()

    changed = toy_daily.copy()
    future = np.flatnonzero(changed["date"] >= cut)
    u = np.array([np.nan if x is None else x for x in units], dtype="float64")
    p = np.array([np.nan if x is None else x for x in prices], dtype="float64")
    new_u = u[np.arange(len(future)) % len(u)]
    new_p = p[np.arange(len(future)) % len(p)]
    changed.loc[future, "units"] = new_u
    changed.loc[future, "price"] = new_p
    changed.loc[future, "revenue"] = new_u * new_p
    added = [
        {"stock_code": item, "date": day(N_DAYS + k), "units": float(k), "revenue": 2.0 * k}
        | {"price": 2.0, "is_open": 1}
        for item in ("A", "B")
        for k in range(extra_days)
    ]
    added += [
        {"stock_code": "C", "date": day(t + k), "units": 5.0, "revenue": 50.0}
        | {"price": 10.0, "is_open": 1}
        for k in range(new_item_days)
    ]
    if added:
        extra = pd.DataFrame(added, columns=changed.columns).astype(toy_daily.dtypes.to_dict())
        changed = pd.concat([changed, extra], ignore_index=True)

    got = item_daily_features(changed)

    keep = expected["date"] <= cut
    want = expected[keep].sort_values(KEY, ignore_index=True)
    have = got[got["date"] <= cut].merge(want[KEY], on=KEY).sort_values(KEY, ignore_index=True)
    pd.testing.assert_frame_equal(have, want)


_future_line = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    st.integers(min_value=0, max_value=20 * 24 * 60),  # minutes at or after day t's midnight
    st.integers(min_value=1, max_value=500),
    st.floats(min_value=0.1, max_value=50, allow_nan=False),
)


@settings(max_examples=25, deadline=None)
@given(
    t=st.integers(min_value=1, max_value=N_DAYS - 1),
    extra=st.lists(_future_line, min_size=1, max_size=12),
)
def test_invoice_lines_at_or_after_t_do_not_change_features_up_to_t(
    toy_features: pd.DataFrame, t: int, extra: list[tuple[str, int, int, float]]
) -> None:
    cut = day(t)
    base = _toy_lines()
    expected = toy_features.reset_index()
    added = _lines([(item, str(cut + pd.Timedelta(minutes=m)), q, p) for item, m, q, p in extra])
    got = item_daily_features(daily_item_demand(pd.concat([base, added], ignore_index=True)))

    # Whether the shop opens on day t is that day's own fact (a sale at t may open a closed
    # day), so is_open of day t may change; nothing else of day t, nothing at all before it.
    cols = [c for c in expected.columns if c != "is_open"]
    want = expected[expected["date"] <= cut].sort_values(KEY, ignore_index=True)
    have = got.merge(want[KEY], on=KEY).sort_values(KEY, ignore_index=True)
    assert len(have) == len(want)
    pd.testing.assert_frame_equal(have[cols], want[cols])
    before = want["date"] < cut
    pd.testing.assert_series_equal(have.loc[before, "is_open"], want.loc[before, "is_open"])


# --- agreement with the pandas reference on real data ------------------------------------------


@pytest.fixture(scope="module")
def real_daily(subset_clean: pd.DataFrame) -> pd.DataFrame:
    items = sorted(subset_clean["stock_code"].unique())[::12][:300]  # ~300 items across the range
    return daily_item_demand(subset_clean[subset_clean["stock_code"].isin(items)])


def test_sql_matches_pandas_reference_on_real_subset(real_daily: pd.DataFrame) -> None:
    assert real_daily["stock_code"].nunique() == 300
    assert (real_daily["is_open"] == 0).any()  # real closed days are in the sample
    sql = item_daily_features(real_daily).sort_values(KEY, ignore_index=True)
    ref = item_daily_features_pandas(real_daily).sort_values(KEY, ignore_index=True)
    assert list(sql.columns) == list(ref.columns)
    assert len(sql) == len(ref) == len(real_daily)
    assert (sql["stock_code"].to_numpy() == ref["stock_code"].to_numpy()).all()
    assert (sql["date"].to_numpy() == ref["date"].to_numpy()).all()
    bad = [
        col
        for col in ITEM_FEATURE_COLUMNS
        if not np.allclose(
            sql[col].to_numpy(), ref[col].to_numpy(), rtol=1e-6, atol=1e-6, equal_nan=True
        )
    ]
    assert bad == []
    # the comparison is not vacuous: most features have values
    assert sql["units_mean_28"].notna().mean() > 0.9
    assert sql["price_last"].notna().mean() > 0.9
