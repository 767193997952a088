"""Unit tests for retail_mlops/calendar.py: UK (England) holidays and calendar features.

The holiday dates are the published England and Wales bank holidays of 2010 and 2011, including
the substitute days when Christmas or Boxing Day fall on a weekend and the 2011 royal wedding.
"""

from __future__ import annotations

import pandas as pd
import pytest

from retail_mlops.calendar import CALENDAR_COLUMNS, calendar_frame, uk_holidays

T = pd.Timestamp

ENGLAND_2010 = [
    "2010-01-01",  # New Year's Day
    "2010-04-02",  # Good Friday
    "2010-04-05",  # Easter Monday
    "2010-05-03",  # Early May bank holiday
    "2010-05-31",  # Spring bank holiday
    "2010-08-30",  # Summer bank holiday
    "2010-12-27",  # Christmas Day substitute (25th is a Saturday)
    "2010-12-28",  # Boxing Day substitute (26th is a Sunday)
]
ENGLAND_2011 = [
    "2011-01-03",  # New Year's Day substitute (1st is a Saturday)
    "2011-04-22",  # Good Friday
    "2011-04-25",  # Easter Monday
    "2011-04-29",  # Royal wedding
    "2011-05-02",  # Early May bank holiday
    "2011-05-30",  # Spring bank holiday
    "2011-08-29",  # Summer bank holiday
    "2011-12-26",  # Boxing Day
    "2011-12-27",  # Christmas Day substitute (25th is a Sunday)
]


@pytest.fixture(scope="module")
def cal() -> pd.DataFrame:
    return calendar_frame("2009-12-01", "2011-12-31").set_index("date")


def test_uk_holidays_include_every_bank_holiday_and_substitute_day() -> None:
    hol = set(uk_holidays(T("2010-01-01"), T("2011-12-31")))
    for d in ENGLAND_2010 + ENGLAND_2011:
        assert T(d) in hol, d


def test_uk_holidays_are_england_not_scotland() -> None:
    hol = set(uk_holidays(T("2010-01-01"), T("2011-12-31")))
    assert T("2010-01-04") not in hol  # 2 January substitute: Scotland only
    assert T("2010-11-30") not in hol  # St Andrew's Day: Scotland only
    assert T("2010-03-17") not in hol  # St Patrick's Day: Northern Ireland only
    assert T("2010-08-02") not in hol  # Scotland's summer bank holiday


def test_uk_holidays_cover_a_year_either_side_sorted() -> None:
    hol = uk_holidays(T("2010-06-01"), T("2010-06-30"))
    assert hol.is_monotonic_increasing
    assert hol.min() == T("2009-01-01")
    assert T("2011-12-27") in set(hol)
    assert hol.max().year == 2011


@pytest.mark.parametrize("d", ENGLAND_2010 + ENGLAND_2011 + ["2010-12-25", "2011-12-25"])
def test_holidays_are_flagged_with_zero_distance(cal: pd.DataFrame, d: str) -> None:
    row = cal.loc[T(d)]
    assert row["is_holiday"] == 1.0
    assert row["days_to_holiday"] == 0.0
    assert row["days_from_holiday"] == 0.0


@pytest.mark.parametrize(
    "d", ["2010-12-24", "2010-12-29", "2011-04-28", "2011-04-26", "2010-06-01"]
)
def test_ordinary_days_are_not_holidays(cal: pd.DataFrame, d: str) -> None:
    assert cal.loc[T(d), "is_holiday"] == 0.0


@pytest.mark.parametrize(
    ("d", "to", "since"),
    [
        ("2009-12-01", 24, 92),  # next: 2009-12-25; last: 2009-08-31 (summer bank holiday)
        ("2010-01-02", 90, 1),  # next: Good Friday 2010-04-02; last: New Year's Day
        ("2010-12-24", 1, 116),  # next: Christmas Day; last: 2010-08-30
        ("2010-12-29", 3, 1),  # next: 2011-01-01; last: the Boxing Day substitute
        ("2011-01-04", 108, 1),  # next: Good Friday 2011-04-22; last: 2011-01-03 substitute
        ("2011-04-27", 2, 2),  # between Easter Monday and the royal wedding
        ("2011-04-30", 2, 1),  # between the wedding and Early May
        ("2011-12-31", 1, 4),  # next: 2012-01-01 (a year past the range); last: 2011-12-27
    ],
)
def test_days_to_and_from_holiday(cal: pd.DataFrame, d: str, to: int, since: int) -> None:
    row = cal.loc[T(d)]
    assert row["days_to_holiday"] == to
    assert row["days_from_holiday"] == since


@pytest.mark.parametrize(
    ("d", "dow", "weekend"),
    [
        ("2010-12-04", 5, 1),  # Saturday
        ("2010-12-05", 6, 1),  # Sunday
        ("2010-12-06", 0, 0),  # Monday
        ("2011-12-09", 4, 0),  # Friday
    ],
)
def test_weekday_and_weekend(cal: pd.DataFrame, d: str, dow: int, weekend: int) -> None:
    assert cal.loc[T(d), "dow"] == dow
    assert cal.loc[T(d), "is_weekend"] == weekend


@pytest.mark.parametrize(
    ("d", "flag"),
    [
        ("2010-02-28", 1),
        ("2011-02-28", 1),
        ("2010-02-27", 0),
        ("2010-04-30", 1),
        ("2010-12-31", 1),
        ("2010-12-30", 0),
        ("2011-01-01", 0),
    ],
)
def test_month_end_flag(cal: pd.DataFrame, d: str, flag: int) -> None:
    assert cal.loc[T(d), "is_month_end"] == flag


def test_month_and_iso_week(cal: pd.DataFrame) -> None:
    assert cal.loc[T("2010-01-01"), "week_of_year"] == 53  # ISO week 53 of 2009
    assert cal.loc[T("2010-01-04"), "week_of_year"] == 1
    assert cal.loc[T("2011-01-02"), "week_of_year"] == 52
    assert cal.loc[T("2011-06-15"), "month"] == 6


def test_frame_is_one_row_per_day_inclusive_and_float() -> None:
    frame = calendar_frame(T("2010-12-20 13:45"), "2011-01-05")
    assert list(frame.columns) == ["date", *CALENDAR_COLUMNS]
    assert frame["date"].iloc[0] == T("2010-12-20")  # times are dropped
    assert frame["date"].iloc[-1] == T("2011-01-05")
    assert len(frame) == 17
    assert frame["date"].diff().dropna().eq(pd.Timedelta(days=1)).all()
    for col in CALENDAR_COLUMNS:
        assert frame[col].dtype == "float64", col
    assert frame["is_holiday"].sum() == 6  # 12-25, 12-26, 12-27, 12-28, 01-01, 01-03


def test_single_day_frame() -> None:
    frame = calendar_frame("2011-04-29", "2011-04-29")
    assert len(frame) == 1
    assert frame.loc[0, "is_holiday"] == 1.0
    assert frame.loc[0, "dow"] == 4.0  # a Friday
