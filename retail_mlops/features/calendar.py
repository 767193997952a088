"""Calendar features for a date range: weekday, month, week, weekend, month end, UK holidays."""

from __future__ import annotations

import numpy as np
import pandas as pd

CALENDAR_COLUMNS = [
    "dow",
    "month",
    "week_of_year",
    "is_weekend",
    "is_month_end",
    "is_holiday",
    "days_to_holiday",
    "days_from_holiday",
]


def uk_holidays(start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
    """UK (England) public holidays from a year before `start` to a year after `end`."""
    import holidays

    years = range(start.year - 1, end.year + 2)
    days = holidays.country_holidays("GB", subdiv="ENG", years=years)
    return pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in days))


def calendar_frame(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DataFrame:
    """One row per day in [start, end] with `CALENDAR_COLUMNS` (all known in advance)."""
    dates = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq="D")
    hol = uk_holidays(dates[0], dates[-1]).to_numpy()
    d = dates.to_numpy()
    nxt = np.searchsorted(hol, d, side="left")  # first holiday on or after d
    prv = np.searchsorted(hol, d, side="right") - 1  # last holiday on or before d
    day = np.timedelta64(1, "D")
    return pd.DataFrame(
        {
            "date": dates,
            "dow": dates.dayofweek,
            "month": dates.month,
            "week_of_year": dates.isocalendar().week.to_numpy().astype(int),
            "is_weekend": (dates.dayofweek >= 5).astype(int),
            "is_month_end": dates.is_month_end.astype(int),
            "is_holiday": np.isin(d, hol).astype(int),
            "days_to_holiday": (hol[nxt] - d) / day,
            "days_from_holiday": (d - hol[prv]) / day,
        }
    ).astype({c: "float64" for c in CALENDAR_COLUMNS})
