"""Generated demand panels and look-ahead corruption for the leak tests.

Shared by the item-feature and global-model tests: an origin's features must not move when
every value at or after it is replaced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import strategies as st

CORRUPTIONS = ("nan", "zero", "huge", "negative", "noise")


def corrupt(a: np.ndarray, i: int, how: str, seed: int) -> np.ndarray:
    """A copy of `a` with every column from `i` on replaced according to `how`."""
    out = a.copy()
    tail = out[:, i:]
    rng = np.random.default_rng(seed)
    if how == "nan":
        tail[:] = np.nan
    elif how == "zero":
        tail[:] = 0.0
    elif how == "huge":
        tail[:] = 1e12
    elif how == "negative":
        tail[:] = -rng.uniform(1, 1e3, tail.shape)
    else:
        tail[:] = rng.uniform(0, 1e4, tail.shape)
    return out


@st.composite
def panels(
    draw: st.DrawFn, min_days: int = 8, priced_share: float = 1.0
) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """(y, price, dates): 1-4 intermittent items on a random open-day calendar.

    Items are listed from a random day (NaN before) and sell on a random share of days; a day
    with sales has a price with probability `priced_share` (days without sales never do), like
    `Panel.from_long(daily_demand(...))`. Past 364 days the last-year features kick in.
    """
    n_items = draw(st.integers(1, 4))
    n_days = draw(st.integers(min_days, 420))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    calendar = pd.date_range("2010-01-04", periods=int(n_days * 1.25) + 1, freq="D")
    dates = calendar[np.sort(rng.choice(len(calendar), n_days, replace=False))]
    rate = rng.gamma(0.7, 8.0, size=(n_items, 1))
    sells = rng.random((n_items, n_days)) < rng.uniform(0.05, 0.95, size=(n_items, 1))
    y = (rng.poisson(rate, size=(n_items, n_days)) * sells).astype("float64")
    for row, first in enumerate(rng.integers(0, n_days, n_items)):
        y[row, :first] = np.nan
    unit_price = rng.uniform(0.5, 10.0, size=(n_items, 1))
    priced = (y > 0) & (rng.random(y.shape) < priced_share)
    price = np.where(priced, unit_price * rng.uniform(0.8, 1.2, y.shape), np.nan)
    return y, price, pd.DatetimeIndex(dates)
