"""The one calendar of the project: public holidays, open and closed days, calendar features.

Open and closed days: the shop's calendar is learnt from the history, never assumed.

A day with no invoice line at all (any item) is a closed day: the shop did not trade, so an
item's zero on that day is not demand. Closed days are left out of every series (not filled
with zeros) and future closed days get no forecast. Future days are closed when the history
says so: a weekday that almost never trades (Saturday here), a calendar date closed in every
year the history covers (the Christmas break), or a public holiday of the configured country
when most past holidays were closed.

Calendar features (`calendar_frame`: weekday, month, week, weekend, month end, days to and
from the nearest UK holiday) are known in advance for any day, so the item-day features and
any future day can carry them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def open_days(dates: Iterable[pd.Timestamp] | pd.Series) -> pd.DatetimeIndex:
    """The sorted distinct calendar days on which anything was sold."""
    return pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dt.normalize().unique()).sort_values()


def public_holidays(country: str | None, years: Iterable[int]) -> set[pd.Timestamp]:
    """Public holidays of `country` in `years` (UK/GB: England's); none for None."""
    if not country:
        return set()
    import holidays

    subdiv = "ENG" if country.upper() in {"UK", "GB"} else None
    cal = holidays.country_holidays(country.upper(), subdiv=subdiv, years=sorted(set(years)))
    return {pd.Timestamp(d) for d in cal}


class OpenCalendar:
    """Rules for future open days, learnt from the days the shop traded.

    Args:
        history: Days on which the shop traded (from `open_days`).
        country: Public holidays of this country (`UK`) count as closed when the history was
            closed on at least half of them; None ignores public holidays.
        closed_weekday_share: A weekday open on fewer than this share of its occurrences is a
            closed weekday.
    """

    def __init__(
        self,
        history: pd.DatetimeIndex,
        country: str | None = "UK",
        closed_weekday_share: float = 0.1,
    ):
        self.history = pd.DatetimeIndex(history).normalize().unique().sort_values()
        if len(self.history) == 0:
            raise ValueError("an open calendar needs at least one open day")
        self.country = country
        span = pd.date_range(self.history[0], self.history[-1])
        is_open = pd.Series(span.isin(self.history), index=span)
        share = is_open.groupby(span.dayofweek).mean()
        self.closed_weekdays = {int(d) for d, s in share.items() if s < closed_weekday_share}
        # A (month, day) closed on every occurrence (at least two): the Christmas break.
        by_md = is_open.groupby([span.month, span.day])
        self.closed_dates: set[tuple[int, int]] = set()
        for md, vals in by_md:
            if len(vals) >= 2 and not vals.any():
                self.closed_dates.add((int(md[0]), int(md[1])))
        hols = [d for d in public_holidays(country, span.year) if span[0] <= d <= span[-1]]
        hols = [d for d in hols if d.dayofweek not in self.closed_weekdays]
        closed_share = float(np.mean([not is_open[d] for d in hols])) if hols else 0.0
        self.closes_on_holidays = closed_share >= 0.5
        self._holiday_cache: dict[int, set[pd.Timestamp]] = {}

    def _holidays(self, year: int) -> set[pd.Timestamp]:
        if not self.closes_on_holidays:
            return set()
        if year not in self._holiday_cache:
            self._holiday_cache[year] = public_holidays(self.country, [year])
        return self._holiday_cache[year]

    def is_open(self, day: pd.Timestamp) -> bool:
        """Whether the shop is expected to trade on `day`."""
        day = pd.Timestamp(day).normalize()
        return not (
            day.dayofweek in self.closed_weekdays
            or (day.month, day.day) in self.closed_dates
            or day in self._holidays(day.year)
        )

    def next_open_days(self, start: pd.Timestamp, n: int) -> pd.DatetimeIndex:
        """The first `n` open days on or after `start`."""
        out: list[pd.Timestamp] = []
        day = pd.Timestamp(start).normalize()
        while len(out) < n:
            if self.is_open(day):
                out.append(day)
            day += pd.Timedelta(days=1)
        return pd.DatetimeIndex(out)


# --- calendar features ---------------------------------------------------------------------

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
    years = range(start.year - 1, end.year + 2)
    return pd.DatetimeIndex(sorted(public_holidays("UK", years)))


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
