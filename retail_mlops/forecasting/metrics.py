"""Point-forecast accuracy: WAPE, MASE, sMAPE and bias, per series and in aggregate.

Conventions (all errors are forecast minus actual summed over the evaluated open days):
- WAPE = sum|yhat - y| / sum y (NaN when nothing sold).
- MASE = mean|yhat - y| / scale, scale = mean absolute seasonal-naive (same weekday one week
  earlier) error on the training history; NaN when that scale is 0.
- sMAPE = mean over days of 2|yhat - y| / (|y| + |yhat|), a day with y = yhat = 0 counting 0.
- bias = sum(yhat - y) / sum y (positive: over-forecast).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def wape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Weighted absolute percentage error."""
    total = float(np.sum(np.abs(y)))
    return float(np.sum(np.abs(yhat - y)) / total) if total > 0 else float("nan")


def bias(y: np.ndarray, yhat: np.ndarray) -> float:
    """Relative bias: over-forecast is positive."""
    total = float(np.sum(np.abs(y)))
    return float(np.sum(yhat - y) / total) if total > 0 else float("nan")


def smape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Symmetric MAPE in [0, 2]; days with y = yhat = 0 count as 0."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    den = np.abs(y) + np.abs(yhat)
    terms = np.divide(2 * np.abs(yhat - y), den, out=np.zeros_like(den), where=den > 0)
    return float(terms.mean()) if terms.size else float("nan")


def mase(y: np.ndarray, yhat: np.ndarray, scale: float) -> float:
    """Mean absolute error over the in-sample seasonal-naive error `scale`."""
    return float(np.mean(np.abs(yhat - y)) / scale) if scale > 0 else float("nan")


def naive_scale(y: np.ndarray, dates: pd.DatetimeIndex, window: int = 364) -> np.ndarray:
    """Per row: mean |y_t - y_(t-7 days)| over open-day pairs one week apart.

    Only the last `window` calendar days count; closed days and days before the first sale
    are skipped.

    Args:
        y: History (S x T) on the open days `dates`; NaN before an item's first sale.
        dates: Sorted open days.
        window: Calendar days of history to use.

    Returns:
        The scale per row; NaN where no pair exists.
    """
    y = np.atleast_2d(np.asarray(y, float))
    prev = dates.get_indexer(dates - pd.Timedelta(days=7))
    recent = dates >= dates[-1] - pd.Timedelta(days=window) if len(dates) else dates
    cols = np.flatnonzero((prev >= 0) & recent)
    if cols.size == 0:
        return np.full(y.shape[0], np.nan)
    diffs = np.abs(y[:, cols] - y[:, prev[cols]])
    counts = (~np.isnan(diffs)).sum(axis=1)
    return np.divide(
        np.nansum(diffs, axis=1), counts, out=np.full(y.shape[0], np.nan), where=counts > 0
    )


def metric_table(pred: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """WAPE, MASE, sMAPE, bias per group of `keys` from rows of y, yhat and scale.

    Args:
        pred: One row per series, origin and day with y, yhat and `scale` (the series'
            seasonal-naive MAE at that origin).
        keys: Grouping columns, e.g. ["model", "stock_code"] or ["model"].
    """
    d = pred.assign(
        abs_err=(pred["yhat"] - pred["y"]).abs(),
        err=pred["yhat"] - pred["y"],
        den=pred["y"].abs() + pred["yhat"].abs(),
    )
    d["sape"] = np.where(d["den"] > 0, 2 * d["abs_err"] / d["den"].where(d["den"] > 0, 1), 0.0)
    d["scaled"] = d["abs_err"] / d["scale"].where(d["scale"] > 0)
    g = d.groupby(keys, sort=True)
    sums = g[["abs_err", "err", "y"]].sum()
    out = pd.DataFrame(
        {
            "wape": sums["abs_err"] / sums["y"].where(sums["y"] > 0),
            "mase": g["scaled"].mean(),
            "smape": g["sape"].mean(),
            "bias": sums["err"] / sums["y"].where(sums["y"] > 0),
            "units": sums["y"],
            "days": g.size(),
        }
    )
    return out.reset_index()
