"""Point-forecast accuracy: WAPE, MASE, sMAPE and bias, per series and in aggregate.

Conventions (all errors are forecast minus actual summed over the evaluated open days):
- WAPE = sum|yhat - y| / sum y (NaN when nothing sold).
- MASE = mean|yhat - y| / scale, scale = mean absolute seasonal-naive (same weekday one week
  earlier) error on the training history; NaN when that scale is 0.
- sMAPE = mean over days of 2|yhat - y| / (|y| + |yhat|), a day with y = yhat = 0 counting 0.
- bias = sum(yhat - y) / sum y (positive: over-forecast).

M5-style metrics (Makridakis et al. 2022, the M5 accuracy and uncertainty competitions):
- RMSSE = sqrt(mean (yhat - y)^2 / scale_sq), scale_sq = mean squared one-step difference of
  the training history from the item's first sale (`rmsse_scale`).
- pinball loss per quantile, and the scaled pinball loss (SPL): pinball over the mean absolute
  one-step difference of the same history (`spl_scale`), averaged over the quantiles.
- the Syntetos-Boylan intermittency class of a history (ADI / CV^2 of demand sizes).
- aggregates over items as M5 makes them: a revenue-weighted mean of the per-item scores
  (`m5_mean`, `m5_weights`, `m5_table`); WAPE stays the volume-weighted figure above.
A score whose scale is undefined (no pair of listed days after the first sale, or a history
that never changes) is NaN, like MASE, and left out of the aggregates, which count them.
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


# --- M5-style metrics ------------------------------------------------------------------------

# The nine quantiles of the M5 uncertainty competition (median and the 50/67/95/99% intervals).
M5_QUANTILES = (0.005, 0.025, 0.165, 0.25, 0.5, 0.75, 0.835, 0.975, 0.995)

# Syntetos-Boylan (2005) cut-offs and class names.
ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
SMOOTH, ERRATIC, INTERMITTENT, LUMPY = "smooth", "erratic", "intermittent", "lumpy"
NO_DEMAND = "no_demand"  # a history without a single sale: no class can be computed
INTERMITTENCY_CLASSES = (SMOOTH, ERRATIC, INTERMITTENT, LUMPY, NO_DEMAND)


def _one_step_diffs(y: np.ndarray) -> np.ndarray:
    """Per row: y_t - y_(t-1) over consecutive columns from the first sale; NaN elsewhere.

    Days before the first positive value are dropped (M5 starts each item's history at its
    first sale, so the months before a launch do not shrink its scale), and a pair with a NaN
    on either side is NaN.
    """
    y = np.atleast_2d(np.asarray(y, float))
    started = np.cumsum(np.nan_to_num(y) > 0, axis=1) > 0
    return np.diff(np.where(started, y, np.nan), axis=1)


def _mean_over_pairs(values: np.ndarray) -> np.ndarray:
    counts = (~np.isnan(values)).sum(axis=1)
    return np.divide(
        np.nansum(values, axis=1), counts, out=np.full(values.shape[0], np.nan), where=counts > 0
    )


def rmsse_scale(y: np.ndarray) -> np.ndarray:
    """Per row: mean squared one-step difference of the history from the first sale.

    One-step (yesterday's open day), not seasonal: it is M5's definition, so the figures can
    be read against the published M5 results, and on intermittent items a one-day difference
    is non-zero far more often than a one-week one, so fewer items end with an undefined
    scale. MASE keeps its seasonal-naive scale (`naive_scale`). The whole history counts,
    as in M5; the columns are open days, so closed days are skipped like in `naive_scale`.

    Args:
        y: History (S x T) before the origin, on open days; NaN before an item's first sale.

    Returns:
        The squared scale per row; NaN where no pair exists (no sale, or a single listed day)
        and 0 where the history never changed (then RMSSE is NaN).
    """
    return _mean_over_pairs(_one_step_diffs(y) ** 2)


def spl_scale(y: np.ndarray) -> np.ndarray:
    """Per row: mean absolute one-step difference of the history from the first sale.

    The scale of M5's scaled pinball loss; same history and pairs as `rmsse_scale`.

    Args:
        y: History (S x T) before the origin, on open days; NaN before an item's first sale.

    Returns:
        The scale per row; NaN where no pair exists.
    """
    return _mean_over_pairs(np.abs(_one_step_diffs(y)))


def rmsse(y: np.ndarray, yhat: np.ndarray, scale_sq: float) -> float:
    """Root mean squared error over the squared in-sample one-step scale `scale_sq`.

    Squared error is minimised by the mean, absolute error by the median, and the median
    of an item that sells on fewer than half its days is 0: WAPE and MASE can rank an
    all-zero forecast first on intermittent demand, RMSSE does not (M5 chose it for that).
    """
    return float(np.sqrt(np.mean((yhat - y) ** 2) / scale_sq)) if scale_sq > 0 else float("nan")


def pinball(y: np.ndarray, q_hat: np.ndarray, tau: float) -> float:
    """Mean pinball (quantile) loss of the forecast quantile `q_hat` at level `tau`.

    Under-forecasting costs tau per unit and over-forecasting 1 - tau, so the loss is
    minimised by the true tau-quantile; at tau = 0.5 it is half the absolute error.

    Raises:
        ValueError: If tau is not strictly between 0 and 1.
    """
    if not 0 < tau < 1:
        raise ValueError(f"quantile level must be in (0, 1), got {tau}")
    diff = np.asarray(y, float) - np.asarray(q_hat, float)
    return float(np.mean(np.maximum(tau * diff, (tau - 1) * diff)))


def scaled_pinball(
    y: np.ndarray, q_hat: np.ndarray, taus: tuple[float, ...], scale: float
) -> float:
    """M5's scaled pinball loss: mean over the quantiles of pinball / `scale`.

    The upper quantiles are what make a zero forecast lose on intermittent demand: at tau
    0.995 every unit sold and not covered costs 0.995.

    Args:
        y: Actuals over the horizon (H,).
        q_hat: Forecast quantiles (H x len(taus)), one column per level.
        taus: Quantile levels, e.g. `M5_QUANTILES`.
        scale: The item's mean absolute one-step difference (`spl_scale`).

    Returns:
        The SPL averaged over the quantiles with equal weight (as M5); NaN when scale is 0.

    Raises:
        ValueError: If q_hat has not one column per level, or a level is outside (0, 1).
    """
    q_hat = np.asarray(q_hat, float).reshape(len(np.atleast_1d(y)), -1)
    if q_hat.shape[1] != len(taus):
        raise ValueError(f"q_hat has {q_hat.shape[1]} quantile columns for {len(taus)} levels")
    losses = [pinball(y, q_hat[:, k], tau) for k, tau in enumerate(taus)]
    return float(np.mean(losses) / scale) if scale > 0 else float("nan")


def adi_cv2(history: np.ndarray) -> tuple[float, float]:
    """Average demand interval and squared coefficient of variation of the demand sizes.

    Both start at the first sale (NaN days, not listed yet, are skipped). ADI is the number
    of days from the first sale to the end over the number of days with a sale, so a run of
    zeros at the end (an item that stopped selling) counts as intermittency; CV^2 is
    (std / mean)^2 of the positive sizes (population std, so a single sale gives 0).

    Returns:
        (ADI, CV^2); both NaN for a history without a sale.
    """
    h = np.asarray(history, float)
    h = h[~np.isnan(h)]
    sold = np.flatnonzero(h > 0)
    if sold.size == 0:
        return float("nan"), float("nan")
    sizes = h[sold]
    return float((h.size - sold[0]) / sold.size), float(np.var(sizes) / np.mean(sizes) ** 2)


def intermittency_class(history: np.ndarray) -> str:
    """Syntetos-Boylan class of a demand history: smooth, erratic, intermittent or lumpy.

    ADI >= 1.32 means a sale on fewer than ~3 days in 4 (intermittent timing); CV^2 >= 0.49
    means sizes vary a lot (erratic sizes): smooth is neither, lumpy both. A history
    without a sale is `NO_DEMAND`, not a class, so a caller can drop or report it.
    """
    adi, cv2 = adi_cv2(history)
    if np.isnan(adi):
        return NO_DEMAND
    if adi < ADI_CUTOFF:
        return SMOOTH if cv2 < CV2_CUTOFF else ERRATIC
    return INTERMITTENT if cv2 < CV2_CUTOFF else LUMPY


def m5_weights(y: np.ndarray, price: np.ndarray, days: int = 28) -> np.ndarray:
    """Per row: share of the revenue in the last `days` open days of the history (M5's weights).

    M5 weights each series by its dollar sales over the last 28 days of training, so the
    aggregate follows what the business sells now: a mass of slow movers, on which a zero
    forecast is nearly right, cannot outweigh the items that make the money.

    Args:
        y: History (S x T) before the origin; NaN before an item's first sale.
        price: Unit price (S x T), NaN on days without sales.
        days: Open days of history that count.

    Returns:
        Weights summing to 1 (all 0 when nothing was sold in the window).
    """
    y, price = np.atleast_2d(np.asarray(y, float)), np.atleast_2d(np.asarray(price, float))
    start = max(y.shape[1] - days, 0)  # not y[:, -days:]: days = 0 would take everything
    revenue = np.nansum(y[:, start:] * price[:, start:], axis=1)
    total = revenue.sum()
    return revenue / total if total > 0 else np.zeros_like(revenue)


def m5_mean(scores: np.ndarray, weights: np.ndarray) -> float:
    """M5 aggregate of per-series scores: the weighted mean over series with a defined score.

    Series with a NaN score (undefined scale) are left out and the remaining weights are
    renormalised, so the figure stays a mean; NaN when no weight is left.
    """
    s, w = np.asarray(scores, float), np.asarray(weights, float)
    ok = ~np.isnan(s) & (w > 0)
    total = w[ok].sum()
    return float(np.sum(s[ok] * w[ok]) / total) if total > 0 else float("nan")


def m5_table(pred: pd.DataFrame, keys: list[str], series: str = "stock_code") -> pd.DataFrame:
    """RMSSE (plain and weighted mean over series), WAPE and bias per group of `keys`.

    `rmsse` is the plain mean of the per-series RMSSE (what a per-item model choice sees);
    `wrmsse` is M5's revenue-weighted mean (`m5_mean`), the headline figure. WAPE and bias
    are the project's volume-weighted ones, from sums over all rows as in `metric_table`.

    Args:
        pred: One row per series, origin and day with y, yhat, `scale_sq` (the series'
            `rmsse_scale` at that origin) and `weight` (its `m5_weights` share at that origin).
        keys: Grouping columns, e.g. ["model"] or ["model", "class"].
        series: The series column; an `origin` column, when there is one, also splits series.

    Returns:
        keys, rmsse, wrmsse, wape, bias, units, n_series, n_undefined (series with NaN RMSSE).
    """
    per = [*keys, series]
    if "origin" in pred.columns and "origin" not in keys:
        per.append("origin")
    err = pred["yhat"] - pred["y"]
    d = pred.assign(sq_err=err**2, abs_err=err.abs(), err=err)
    s = d.groupby(per, sort=True).agg(
        mse=("sq_err", "mean"), scale_sq=("scale_sq", "first"), weight=("weight", "first")
    )
    s["rmsse"] = np.sqrt(s["mse"] / s["scale_sq"].where(s["scale_sq"] > 0))
    g = s.groupby(keys, sort=True)
    sums = d.groupby(keys, sort=True)[["abs_err", "err", "y"]].sum()
    units = sums["y"].where(sums["y"] > 0)
    out = pd.DataFrame(
        {
            "rmsse": g["rmsse"].mean(),
            "wrmsse": g[["rmsse", "weight"]].apply(lambda f: m5_mean(f["rmsse"], f["weight"])),
            "wape": sums["abs_err"] / units,
            "bias": sums["err"] / units,
            "units": sums["y"],
            "n_series": g.size(),
            "n_undefined": g["rmsse"].apply(lambda r: int(r.isna().sum())),
        }
    )
    return out.reset_index()
