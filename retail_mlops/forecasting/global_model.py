"""One XGBoost model across all items: direct multi-horizon on lag, rolling, calendar, price.

Strategy: **direct**, one model for every horizon step. A training row is (item, origin,
target day): features are computed from the history strictly before the origin, plus the
target day's calendar and the horizon step `h`; the label is the target day's units. No
forecast is fed back as an input (no recursion), so errors do not compound over the horizon.

Items differ in volume by orders of magnitude, so features and label are divided by the
item's recent level (`scale`, the mean of its last 91 open days, else of its last 364). The
loss is absolute error weighted by `scale`, which is exactly the WAPE numerator in units: the
model learns the median daily demand, the right target for WAPE on intermittent series.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pydantic import Field

from retail_mlops.config import Params

FEATURES = [
    "h",
    "log_scale",
    "m7",
    "m28",
    "m91",
    "m364",
    "nz28",
    "nz91",
    *[f"lag{k}" for k in range(1, 8)],
    "days_since_sale",
    "age",
    "weekday_mean",
    "last_year",
    "last_year_trend",
    "price_rel",
    "weekday",
    "month",
    "day_of_year",
    "days_to_christmas",
]


class GlobalParams(Params):
    """XGBoost and sampling settings of the global model.

    Depth 4: the lowest WAPE on the origins before the held-out one.
    """

    n_estimators: int = Field(default=300, ge=1, description="Trees")
    learning_rate: float = Field(default=0.05, gt=0, le=1, description="Shrinkage")
    max_depth: int = Field(default=4, ge=1, le=16, description="Tree depth")
    min_child_weight: float = Field(default=5.0, ge=0, description="Minimum hessian per leaf")
    subsample: float = Field(default=0.8, gt=0, le=1, description="Row subsample per tree")
    colsample_bytree: float = Field(
        default=0.8, gt=0, le=1, description="Column subsample per tree"
    )
    train_origins: int = Field(
        default=30, ge=1, description="Past origins the training rows come from"
    )
    origin_step: int = Field(default=7, ge=1, description="Days between those origins")
    max_train_rows: int = Field(
        default=1_000_000, ge=100, description="Training rows sampled down to"
    )
    seed: int = Field(default=0, ge=0, description="Seed of the sampling and of XGBoost")


class _Cum:
    """Cumulative sums over the open-day columns for O(1) window means."""

    def __init__(self, y: np.ndarray):
        valid = ~np.isnan(y)
        zero = np.zeros((y.shape[0], 1))
        self.s = np.hstack([zero, np.cumsum(np.nan_to_num(y), axis=1)])
        self.n = np.hstack([zero, np.cumsum(valid, axis=1)])
        self.nz = np.hstack([zero, np.cumsum(np.nan_to_num(y) > 0, axis=1)])

    def mean(self, lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
        """Mean over columns [lo, hi) per row, NaN where no listed day."""
        rows = np.arange(self.s.shape[0])
        lo_, hi_ = np.broadcast_to(lo, rows.shape), np.broadcast_to(hi, rows.shape)
        n = self.n[rows, hi_] - self.n[rows, lo_]
        return np.divide(
            self.s[rows, hi_] - self.s[rows, lo_], n, out=np.full(rows.shape, np.nan), where=n > 0
        )

    def nonzero_share(self, lo: int, hi: int) -> np.ndarray:
        n = self.n[:, hi] - self.n[:, lo]
        return np.divide(
            self.nz[:, hi] - self.nz[:, lo], n, out=np.full(n.shape, np.nan), where=n > 0
        )


def _scale(cum: _Cum, i: int) -> np.ndarray:
    recent = cum.mean(max(0, i - 91), i)
    year = cum.mean(max(0, i - 364), i)
    return np.where(np.nan_to_num(recent) > 0, recent, np.nan_to_num(year))


def origin_features(*args, **kwargs) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """`_origin_features` without numpy's empty-slice warnings (empty windows are NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _origin_features(*args, **kwargs)


def _origin_features(
    y: np.ndarray,
    price: np.ndarray,
    dates: pd.DatetimeIndex,
    i: int,
    targets: pd.DatetimeIndex,
    cum: _Cum | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every (item, target) pair for a forecast made before column `i`.

    Args:
        y: Units (S x T), NaN before first sale; only columns < i are read.
        price: Unit prices (S x T), NaN without sales.
        dates: Open days of the columns.
        i: Origin: the first column not known.
        targets: Target days (any days after dates[i-1]).
        cum: Precomputed cumulative sums of `y` (reused across origins).

    Returns:
        X (S*H x len(FEATURES), item-major) and scale (S).
    """
    cum = cum or _Cum(y)
    s_count, h_count = y.shape[0], len(targets)
    scale = _scale(cum, i)
    safe = np.where(scale > 0, scale, 1.0)
    hist = np.nan_to_num(y[:, max(0, i - 400) : i])
    base = {
        "log_scale": np.log1p(scale),
        "m7": cum.mean(max(0, i - 7), i) / safe,
        "m28": cum.mean(max(0, i - 28), i) / safe,
        "m91": cum.mean(max(0, i - 91), i) / safe,
        "m364": cum.mean(max(0, i - 364), i) / safe,
        "nz28": cum.nonzero_share(max(0, i - 28), i),
        "nz91": cum.nonzero_share(max(0, i - 91), i),
    }
    for k in range(1, 8):
        base[f"lag{k}"] = (y[:, i - k] / safe) if i - k >= 0 else np.full(s_count, np.nan)
    sold = hist > 0
    if sold.shape[1]:
        last_sale = np.where(
            sold.any(axis=1), sold.shape[1] - 1 - np.argmax(sold[:, ::-1], axis=1), -1
        )
    else:  # origin 0: nothing known yet
        last_sale = np.full(s_count, -1)
    base["days_since_sale"] = np.where(last_sale >= 0, sold.shape[1] - last_sale, 400)
    base["age"] = np.minimum(cum.n[:, i], 400)
    recent_prices = price[:, max(0, i - 364) : i]
    with np.errstate(all="ignore"):
        median_price = np.nanmedian(
            np.where(np.isnan(recent_prices), np.nan, recent_prices), axis=1
        )
        last_price = pd.DataFrame(recent_prices).ffill(axis=1).iloc[:, -1].to_numpy() if i else None
    base["price_rel"] = (
        last_price / median_price if last_price is not None else np.full(s_count, np.nan)
    )

    # Per-target features: weekday mean over the last 8 weeks, last year's level around the day.
    wd_hist = dates[max(0, i - 48) : i].dayofweek
    recent = y[:, max(0, i - 48) : i]
    weekday_mean = {}
    with np.errstate(all="ignore"):
        for wd in range(7):
            cols = wd_hist == wd
            weekday_mean[wd] = (
                np.nanmean(recent[:, cols], axis=1) if cols.any() else np.full(s_count, np.nan)
            )
    x = np.empty((s_count, h_count, len(FEATURES)))
    col = {f: k for k, f in enumerate(FEATURES)}
    for f, v in base.items():
        x[:, :, col[f]] = v[:, None]
    origin_day = dates[i - 1] + pd.Timedelta(days=1) if i else targets[0]
    ly_origin = cum.mean(
        dates.searchsorted(origin_day - pd.Timedelta(days=364 + 28)),
        dates.searchsorted(origin_day - pd.Timedelta(days=364)),
    )
    for h, t in enumerate(targets):
        lo = dates.searchsorted(t - pd.Timedelta(days=364 + 7))
        hi = dates.searchsorted(t - pd.Timedelta(days=364 - 7))
        hi = min(hi, i)
        ly = cum.mean(lo, hi) if hi > lo else np.full(s_count, np.nan)
        x[:, h, col["h"]] = h + 1
        x[:, h, col["weekday_mean"]] = weekday_mean[t.dayofweek] / safe
        x[:, h, col["last_year"]] = ly / safe
        with np.errstate(all="ignore"):
            x[:, h, col["last_year_trend"]] = ly / ly_origin
        x[:, h, col["weekday"]] = t.dayofweek
        x[:, h, col["month"]] = t.month
        x[:, h, col["day_of_year"]] = t.dayofyear
        christmas = pd.Timestamp(year=t.year, month=12, day=25)
        x[:, h, col["days_to_christmas"]] = (christmas - t).days
    x[~np.isfinite(x)] = np.nan
    return x.reshape(s_count * h_count, len(FEATURES)), scale


def _targets_at(dates: pd.DatetimeIndex, i: int, horizon: int) -> pd.DatetimeIndex:
    return dates[i : i + horizon]


def training_set(
    y: np.ndarray,
    price: np.ndarray,
    dates: pd.DatetimeIndex,
    end: int,
    horizon: int,
    params: GlobalParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows from past origins whose whole target window ends before column `end`.

    Returns:
        X, label (units / scale) and weight (scale), rows of items with a positive scale only,
        sampled down to `params.max_train_rows`.
    """
    cum = _Cum(y)
    xs, labels, weights = [], [], []
    for k in range(params.train_origins):
        j = end - horizon - k * params.origin_step
        if j < 28:
            break
        x, scale = origin_features(y, price, dates, j, _targets_at(dates, j, horizon), cum)
        label = y[:, j : j + horizon].reshape(-1)
        w = np.repeat(scale, horizon)
        ok = (w > 0) & ~np.isnan(label)
        xs.append(x[ok])
        labels.append(label[ok] / w[ok])
        weights.append(w[ok])
    if not xs:
        return np.empty((0, len(FEATURES))), np.empty(0), np.empty(0)
    x_all, y_all, w_all = np.vstack(xs), np.concatenate(labels), np.concatenate(weights)
    if len(y_all) > params.max_train_rows:
        keep = np.random.default_rng(params.seed).choice(
            len(y_all), params.max_train_rows, replace=False
        )
        x_all, y_all, w_all = x_all[keep], y_all[keep], w_all[keep]
    return x_all, y_all, w_all


def fit_global(
    y: np.ndarray,
    price: np.ndarray,
    dates: pd.DatetimeIndex,
    end: int,
    horizon: int,
    params: GlobalParams,
    n_jobs: int = -1,
):  # type: ignore[no-untyped-def]
    """Fit the global model on origins before column `end`; None if there is no training row."""
    import xgboost as xgb

    x, label, weight = training_set(y, price, dates, end, horizon, params)
    if len(label) < 50:
        return None
    model = xgb.XGBRegressor(
        objective="reg:absoluteerror",
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        max_depth=params.max_depth,
        min_child_weight=params.min_child_weight,
        subsample=params.subsample,
        colsample_bytree=params.colsample_bytree,
        tree_method="hist",
        random_state=params.seed,
        n_jobs=n_jobs,
    )
    model.fit(x, label, sample_weight=weight)
    return model


def predict_global(
    model,  # type: ignore[no-untyped-def]
    y: np.ndarray,
    price: np.ndarray,
    dates: pd.DatetimeIndex,
    i: int,
    targets: pd.DatetimeIndex,
) -> np.ndarray:
    """Forecasts (S x H) in units for a forecast made before column `i`; 0 for idle items."""
    x, scale = origin_features(y, price, dates, i, targets)
    if model is None:
        return np.zeros((y.shape[0], len(targets)))
    pred = model.predict(x).reshape(y.shape[0], len(targets))
    return np.clip(pred, 0, None) * np.where(scale > 0, scale, 0.0)[:, None]
