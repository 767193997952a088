"""Seasonal-naive baseline on open days: each day repeats the last open same weekday."""

from __future__ import annotations

import numpy as np
import pandas as pd


def seasonal_naive(y: np.ndarray, dates: pd.DatetimeIndex, targets: pd.DatetimeIndex) -> np.ndarray:
    """Forecast each target day with the same weekday of the latest week in the history.

    A target whose same weekday one week back is still in the future (horizon over 7 days)
    or was a closed day goes back another week, until an observed open day is found. An item
    not listed yet on that day counts 0; a weekday never seen gives 0.

    Args:
        y: History (S x T), NaN before an item's first sale; columns are `dates`.
        dates: The history's open days (sorted).
        targets: Days to forecast, all after `dates[-1]`.

    Returns:
        Forecasts (S x len(targets)).
    """
    y = np.atleast_2d(y)
    out = np.zeros((y.shape[0], len(targets)))
    if len(dates) == 0:
        return out
    last = dates[-1]
    position = {d: k for k, d in enumerate(dates)}
    for h, t in enumerate(targets):
        weeks = max(1, int(np.ceil((t - last).days / 7)))
        day = t - pd.Timedelta(days=7 * weeks)
        while day >= dates[0] and day not in position:
            day -= pd.Timedelta(days=7)
        if day in position:
            out[:, h] = np.nan_to_num(y[:, position[day]])
    return out
