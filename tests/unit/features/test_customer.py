"""Unit tests for retail_mlops/features/customer.py: orders, features as of a cutoff, churn labels.

The fixtures are tiny hand-made invoice-line frames whose feature values are computed by hand in
the comments next to the assertions.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retail_mlops.errors import DataError
from retail_mlops.features.customer import (
    FEATURE_COLUMNS,
    build_churn_dataset,
    churn_labels,
    customer_features,
    monthly_cutoffs,
)
from tests.reference.customer_features import orders_from_lines

CUTOFF = pd.Timestamp("2010-04-01")
T = pd.Timestamp


def _lines(rows: list[tuple[str, str, str, float, str, str]]) -> pd.DataFrame:
    """Clean invoice lines from (customer_id, invoice, date, amount, stock_code, country)."""
    df = pd.DataFrame(
        rows, columns=["customer_id", "invoice", "invoice_date", "amount", "stock_code", "country"]
    )
    df["invoice_date"] = pd.to_datetime(df["invoice_date"], format="ISO8601")
    df["amount"] = df["amount"].astype("float64")
    return df


def _base_lines() -> pd.DataFrame:
    """Three customers around CUTOFF (2010-04-01), plus rows that must be ignored.

    A (UK): orders 30 (2009-12-15, two lines), 50 (2010-02-15), 40 (2010-03-20), and one after
        the cutoff (999, 2010-04-05).
    B (France): one order of 100 (two lines) on 2010-03-25 12:00.
    C (UK): one order on 2008-12-01, more than 365 days before the cutoff: inactive.
    D (UK): its only order is exactly at the cutoff: not in the past, so no features.
    """
    return _lines(
        [
            ("A", "1001", "2009-12-15 10:00", 10.0, "X", "United Kingdom"),
            ("A", "1001", "2009-12-15 10:00", 20.0, "Y", "United Kingdom"),
            ("A", "1002", "2010-02-15 09:00", 50.0, "X", "United Kingdom"),
            ("A", "1003", "2010-03-20 00:00", 40.0, "Z", "United Kingdom"),
            ("A", "1004", "2010-04-05 08:00", 999.0, "W", "United Kingdom"),
            ("B", "2001", "2010-03-25 12:00", 60.0, "X", "France"),
            ("B", "2001", "2010-03-25 12:00", 40.0, "Q", "France"),
            ("C", "3001", "2008-12-01 10:00", 70.0, "X", "United Kingdom"),
            ("D", "4001", "2010-04-01 00:00", 80.0, "X", "United Kingdom"),
        ]
    )


def _features_at(lines: pd.DataFrame, cutoff: pd.Timestamp = CUTOFF) -> pd.DataFrame:
    return customer_features(lines, cutoff).set_index("customer_id")


# --- orders_from_lines ------------------------------------------------------------------------


def test_orders_from_lines_collapses_lines_into_orders() -> None:
    orders = orders_from_lines(_base_lines())
    assert len(orders) == 7
    first = orders[(orders["customer_id"] == "A") & (orders["invoice"] == "1001")].iloc[0]
    assert first["order_value"] == pytest.approx(30.0)
    assert first["n_items"] == 2
    assert first["order_date"] == T("2009-12-15 10:00")
    assert first["country"] == "United Kingdom"
    b = orders[orders["customer_id"] == "B"].iloc[0]
    assert b["order_value"] == pytest.approx(100.0)
    assert b["n_items"] == 2


def test_orders_from_lines_sorted_by_customer_then_date() -> None:
    shuffled = _base_lines().sample(frac=1.0, random_state=3)
    orders = orders_from_lines(shuffled)
    assert list(orders.columns) == [
        "customer_id",
        "invoice",
        "order_date",
        "order_value",
        "n_items",
        "country",
    ]
    expected = orders.sort_values(["customer_id", "order_date"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(orders, expected)
    assert list(orders.index) == list(range(len(orders)))


def test_orders_from_lines_order_date_is_earliest_line() -> None:
    lines = _lines(
        [
            ("A", "1", "2010-01-02 10:00", 5.0, "X", "UK"),
            ("A", "1", "2010-01-01 10:00", 5.0, "Y", "UK"),
        ]
    )
    orders = orders_from_lines(lines)
    assert orders.loc[0, "order_date"] == T("2010-01-01 10:00")
    assert orders.loc[0, "order_value"] == pytest.approx(10.0)


def test_orders_from_lines_missing_column_raises() -> None:
    lines = _base_lines().drop(columns=["amount", "country"])
    with pytest.raises(DataError, match="amount, country"):
        orders_from_lines(lines)


# --- customer_features ------------------------------------------------------------------------


def test_customer_features_shape_and_columns() -> None:
    feats = customer_features(_base_lines(), CUTOFF)
    assert list(feats.columns) == ["customer_id", "cutoff", *FEATURE_COLUMNS]
    # C is inactive (last order > 365 days ago), D only ordered at the cutoff itself
    assert sorted(feats["customer_id"]) == ["A", "B"]
    assert (feats["cutoff"] == CUTOFF).all()
    for col in FEATURE_COLUMNS:
        assert feats[col].dtype == "float64", col


def test_customer_features_hand_computed_multi_order_customer() -> None:
    a = _features_at(_base_lines()).loc["A"]
    # orders before the cutoff: 30 (12-15 10:00), 50 (02-15 09:00), 40 (03-20 00:00)
    assert a["total_orders"] == 3
    assert a["total_spent"] == pytest.approx(120.0)
    assert a["avg_order_value"] == pytest.approx(40.0)
    assert a["days_since_last_order"] == pytest.approx(12.0)  # 03-20 -> 04-01
    assert a["prev_order_amount"] == pytest.approx(40.0)  # the most recent order, not 999
    # 30-day window starts 03-02: only the 40; 90-day window starts 2010-01-01: 50 + 40
    assert a["spend_30d"] == pytest.approx(40.0)
    assert a["spend_90d"] == pytest.approx(90.0)
    assert a["orders_90d"] == 2
    assert a["order_value_std"] == pytest.approx(10.0)  # sample std of 30, 50, 40
    assert a["order_value_min"] == pytest.approx(30.0)
    assert a["order_value_max"] == pytest.approx(50.0)
    assert a["distinct_items"] == 3  # X, Y, Z; W is after the cutoff
    assert a["is_uk"] == 1
    tenure = 107 - 10 / 24  # 2009-12-15 10:00 -> 2010-04-01 00:00
    assert a["tenure_days"] == pytest.approx(tenure)
    assert a["mean_days_between_orders"] == pytest.approx((tenure - 12.0) / 2)
    assert a["last_order_dow"] == T("2010-03-20").dayofweek
    assert a["cutoff_month"] == 4
    assert a["spend_per_tenure_day"] == pytest.approx(120.0 / tenure)
    assert a["spend_90d_share"] == pytest.approx(90.0 / 120.0)
    assert a["orders_per_month"] == pytest.approx(3 / (tenure / 30.0))
    assert a["recency_x_frequency"] == pytest.approx(12.0 * 3 / (tenure / 30.0))


def test_customer_features_hand_computed_single_order_customer() -> None:
    b = _features_at(_base_lines()).loc["B"]
    assert b["total_orders"] == 1
    assert b["total_spent"] == pytest.approx(100.0)
    assert b["avg_order_value"] == pytest.approx(100.0)
    assert b["days_since_last_order"] == pytest.approx(6.5)  # 03-25 12:00 -> 04-01 00:00
    assert b["prev_order_amount"] == pytest.approx(100.0)
    assert b["spend_30d"] == pytest.approx(100.0)
    assert b["spend_90d"] == pytest.approx(100.0)
    assert math.isnan(b["order_value_std"])  # one order: undefined
    assert math.isnan(b["mean_days_between_orders"])
    assert b["order_value_min"] == pytest.approx(100.0)
    assert b["order_value_max"] == pytest.approx(100.0)
    assert b["distinct_items"] == 2
    assert b["is_uk"] == 0
    # tenure 6.5 days < 30, so orders_per_month uses the 1-month floor
    assert b["orders_per_month"] == pytest.approx(1.0)


def test_customer_features_rolling_windows_are_inclusive_at_their_start() -> None:
    lines = _lines(
        [
            ("A", "1", "2010-01-01 00:00", 7.0, "X", "UK"),  # exactly cutoff - 90 days
            ("A", "2", "2010-03-02 00:00", 3.0, "X", "UK"),  # exactly cutoff - 30 days
            ("A", "3", "2009-12-31 23:59", 100.0, "X", "UK"),  # a minute before the 90-day window
        ]
    )
    a = _features_at(lines).loc["A"]
    assert a["spend_30d"] == pytest.approx(3.0)
    assert a["spend_90d"] == pytest.approx(10.0)
    assert a["orders_90d"] == 2


def test_customer_features_no_recent_spend_is_zero_not_nan() -> None:
    lines = _lines([("A", "1", "2009-06-01", 20.0, "X", "UK")])
    a = _features_at(lines).loc["A"]
    assert a["spend_30d"] == 0.0
    assert a["spend_90d"] == 0.0
    assert a["orders_90d"] == 0.0
    assert a["spend_90d_share"] == 0.0


def test_customer_features_active_window_boundary() -> None:
    lines = _lines(
        [
            ("A", "1", "2009-04-01 00:00", 10.0, "X", "UK"),  # exactly 365 days before: active
            ("B", "2", "2009-03-31 23:59", 10.0, "X", "UK"),  # just older: inactive
        ]
    )
    feats = customer_features(lines, CUTOFF)
    assert list(feats["customer_id"]) == ["A"]
    shorter = customer_features(lines, CUTOFF, active_window_days=30)
    assert shorter.empty


def test_customer_features_empty_when_nobody_is_active() -> None:
    feats = customer_features(_base_lines(), T("2008-01-01"))
    assert feats.empty
    assert list(feats.columns) == ["customer_id", "cutoff", *FEATURE_COLUMNS]


# --- leak test --------------------------------------------------------------------------------

_future_row = st.tuples(
    st.sampled_from(["A", "B", "C", "D", "E"]),  # existing and brand-new customers
    st.integers(min_value=0, max_value=400 * 24),  # hours at or after the cutoff
    st.floats(min_value=-500, max_value=5000, allow_nan=False, allow_infinity=False),
    st.sampled_from(["X", "Y", "NEW1", "NEW2"]),
    st.sampled_from(["United Kingdom", "France", "Germany"]),
)


@settings(max_examples=30, deadline=None)
@given(
    extra=st.lists(_future_row, min_size=1, max_size=15),
    new_amount=st.floats(min_value=0.01, max_value=1e4, allow_nan=False, allow_infinity=False),
    new_country=st.sampled_from(["France", "Spain"]),
)
def test_rows_at_or_after_cutoff_do_not_change_features(
    extra: list[tuple[str, int, float, str, str]], new_amount: float, new_country: str
) -> None:
    base = _base_lines()
    expected = _features_at(base)

    changed = base.copy()
    future = changed["invoice_date"] >= CUTOFF  # A's 999 order and D's order at the cutoff
    changed.loc[future, "amount"] = new_amount
    changed.loc[future, "country"] = new_country
    changed.loc[future, "stock_code"] = "CHANGED"
    added = _lines(
        [
            (cust, f"9{i:03d}", str(CUTOFF + pd.Timedelta(hours=hours)), amount, item, country)
            for i, (cust, hours, amount, item, country) in enumerate(extra)
        ]
    )
    leaked = pd.concat([changed, added], ignore_index=True)

    pd.testing.assert_frame_equal(_features_at(leaked), expected)


def test_post_cutoff_line_of_a_pre_cutoff_invoice_does_not_leak() -> None:
    # Real invoices span consecutive minutes (e.g. 23:59 and 00:00), so this can cross a cutoff.
    base = _lines([("A", "1", "2010-03-31 23:59", 40.0, "X", "United Kingdom")])
    leaked = pd.concat(
        [base, _lines([("A", "1", "2010-04-01 00:00", 500.0, "Y", "United Kingdom")])],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(_features_at(leaked), _features_at(base))


# --- churn_labels -----------------------------------------------------------------------------


def _orders(rows: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [c for c, _ in rows],
            "invoice_date": pd.to_datetime([d for _, d in rows], format="ISO8601"),
        }
    )


def test_churn_labels_window_is_cutoff_inclusive_end_exclusive() -> None:
    end = CUTOFF + pd.Timedelta(days=90)  # 2010-06-30
    orders = _orders(
        [
            ("at_cutoff", str(CUTOFF)),
            ("inside", "2010-05-10"),
            ("last_second", str(end - pd.Timedelta(seconds=1))),
            ("at_end", str(end)),
            ("after", "2010-08-01"),
            ("before", "2010-03-31 23:59"),
        ]
    )
    ids = ["at_cutoff", "inside", "last_second", "at_end", "after", "before", "never"]
    labels = churn_labels(orders, ids, CUTOFF, horizon_days=90)
    assert labels.name == "churned"
    assert list(labels.index) == ids
    assert labels.to_dict() == {
        "at_cutoff": 0,
        "inside": 0,
        "last_second": 0,
        "at_end": 1,
        "after": 1,
        "before": 1,
        "never": 1,
    }


def test_churn_labels_horizon_changes_window() -> None:
    orders = _orders([("a", "2010-04-20")])
    assert churn_labels(orders, ["a"], CUTOFF, horizon_days=30)["a"] == 0
    assert churn_labels(orders, ["a"], CUTOFF, horizon_days=10)["a"] == 1


# --- build_churn_dataset ----------------------------------------------------------------------


def _two_period_lines() -> pd.DataFrame:
    """Data from 2009-12 to 2010-07-15; A orders every month, B stops in February."""
    return _lines(
        [
            ("A", "1", "2009-12-10", 10.0, "X", "United Kingdom"),
            ("A", "2", "2010-01-10", 10.0, "X", "United Kingdom"),
            ("B", "3", "2010-01-20", 50.0, "Y", "France"),
            ("A", "4", "2010-02-10", 10.0, "X", "United Kingdom"),
            ("B", "5", "2010-02-20", 50.0, "Y", "France"),
            ("A", "6", "2010-03-10", 10.0, "X", "United Kingdom"),
            ("A", "7", "2010-04-10", 10.0, "X", "United Kingdom"),
            ("A", "8", "2010-05-10", 10.0, "X", "United Kingdom"),
            ("A", "9", "2010-07-15", 10.0, "X", "United Kingdom"),
        ]
    )


def test_build_churn_dataset_stacks_cutoffs_with_labels() -> None:
    data = build_churn_dataset(_two_period_lines(), ["2010-01-01", "2010-03-01"], horizon_days=90)
    assert list(data.columns) == ["customer_id", "cutoff", *FEATURE_COLUMNS, "churned"]
    got = {(r.customer_id, r.cutoff): r.churned for r in data.itertuples()}
    assert got == {
        ("A", T("2010-01-01")): 0,  # only A existed; it orders in January
        ("A", T("2010-03-01")): 0,
        ("B", T("2010-03-01")): 1,  # B never orders in [03-01, 05-30)
    }
    b = data[(data["customer_id"] == "B")].iloc[0]
    assert b["total_orders"] == 2
    assert b["total_spent"] == pytest.approx(100.0)


def test_build_churn_dataset_matches_per_cutoff_features() -> None:
    lines = _two_period_lines()
    data = build_churn_dataset(lines, ["2010-03-01"])
    direct = customer_features(lines, T("2010-03-01"))
    pd.testing.assert_frame_equal(data.drop(columns="churned"), direct)


def test_build_churn_dataset_raises_when_horizon_passes_data_end() -> None:
    # data ends 2010-07-15; 2010-05-01 + 90 days = 2010-07-30
    with pytest.raises(DataError, match=r"2010-05-01 \+ 90 days is past the data's end"):
        build_churn_dataset(_two_period_lines(), ["2010-01-01", "2010-05-01"], horizon_days=90)


def test_build_churn_dataset_horizon_ending_at_data_end_is_allowed() -> None:
    # 2010-04-16 + 90 days = 2010-07-15, the last day with data
    data = build_churn_dataset(_two_period_lines(), ["2010-04-16"], horizon_days=90)
    assert set(data["cutoff"]) == {T("2010-04-16")}


def test_build_churn_dataset_skips_empty_cutoffs_and_raises_when_all_empty() -> None:
    lines = _two_period_lines()
    data = build_churn_dataset(lines, ["2009-11-01", "2010-01-01"])
    assert set(data["cutoff"]) == {T("2010-01-01")}
    with pytest.raises(DataError, match="no customers are active"):
        build_churn_dataset(lines, ["2009-11-01"])


# --- monthly_cutoffs --------------------------------------------------------------------------


def test_monthly_cutoffs_inclusive_first_of_month() -> None:
    assert monthly_cutoffs("2010-01-01", "2010-04-01") == [
        T("2010-01-01"),
        T("2010-02-01"),
        T("2010-03-01"),
        T("2010-04-01"),
    ]


def test_monthly_cutoffs_start_mid_month_rounds_up() -> None:
    assert monthly_cutoffs("2010-01-15", "2010-03-20") == [T("2010-02-01"), T("2010-03-01")]


def test_monthly_cutoffs_empty_when_end_before_start() -> None:
    assert monthly_cutoffs("2010-05-01", "2010-04-01") == []
