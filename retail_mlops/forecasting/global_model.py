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
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.features.item import COLUMN, ItemHistory

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


def _scale(feats: np.ndarray) -> np.ndarray:
    recent = feats[:, COLUMN["units_mean_91"]]
    year = feats[:, COLUMN["units_mean_364"]]
    return np.where(np.nan_to_num(recent) > 0, recent, np.nan_to_num(year))


def origin_features(
    y: np.ndarray,
    price: np.ndarray,
    dates: pd.DatetimeIndex,
    i: int,
    targets: pd.DatetimeIndex,
    history: ItemHistory | None = None,
    day_features: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features of every (item, target) pair for a forecast made before column `i`.

    The item's level, lags and price come from its item-day features at the origin (Feast's
    `item_daily_features` row in the pipelines, `ItemHistory.at(i)` otherwise: one engine);
    what depends on the target day (its weekday's recent mean, last year's level around it,
    the calendar, the step `h`) is added here from the same history before the origin.

    Args:
        y: Units (S x T), NaN before first sale; only columns < i are read.
        price: Unit prices (S x T), NaN without sales.
        dates: Open days of the columns.
        i: Origin: the first column not known.
        targets: Target days (any days after dates[i-1]).
        history: `ItemHistory` of y/price (reused across origins).
        day_features: The items' features at the origin (S x ITEM_FEATURE_COLUMNS), if fetched.

    Returns:
        X (S*H x len(FEATURES), item-major) and scale (S).
    """
    with warnings.catch_warnings():  # empty windows are NaN by design
        warnings.simplefilter("ignore", RuntimeWarning)
        history = history or ItemHistory(y, price, dates)
        feats = history.at(i) if day_features is None else day_features
        return _assemble(feats, history, i, targets)


def _assemble(
    feats: np.ndarray, history: ItemHistory, i: int, targets: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray]:
    y, dates = history.y, history.dates
    s_count, h_count = y.shape[0], len(targets)
    scale = _scale(feats)
    safe = np.where(scale > 0, scale, 1.0)
    base = {
        "log_scale": np.log1p(scale),
        "m7": feats[:, COLUMN["units_mean_7"]] / safe,
        "m28": feats[:, COLUMN["units_mean_28"]] / safe,
        "m91": feats[:, COLUMN["units_mean_91"]] / safe,
        "m364": feats[:, COLUMN["units_mean_364"]] / safe,
        "nz28": feats[:, COLUMN["sale_share_28"]],
        "nz91": feats[:, COLUMN["sale_share_91"]],
        "days_since_sale": feats[:, COLUMN["days_since_sale"]],
        "age": feats[:, COLUMN["listed_days"]],
    }
    for k in range(1, 8):
        base[f"lag{k}"] = feats[:, COLUMN[f"units_lag_{k}"]] / safe
    with np.errstate(all="ignore"):
        base["price_rel"] = feats[:, COLUMN["price_last"]] / feats[:, COLUMN["price_median_364"]]

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
    ly_origin = feats[:, COLUMN["units_mean_last_year_28"]]
    for h, t in enumerate(targets):
        lo = dates.searchsorted(t - pd.Timedelta(days=364 + 7))
        hi = dates.searchsorted(t - pd.Timedelta(days=364 - 7))
        hi = min(hi, i)
        ly = history.mean(lo, hi) if hi > lo else np.full(s_count, np.nan)
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


def training_origins(end: int, horizon: int, params: GlobalParams) -> list[int]:
    """Origin columns of the training rows for a model fitted before column `end`.

    Every `origin_step` open days back, whole target windows before `end`, 28 days of history.
    """
    origins = []
    for k in range(params.train_origins):
        j = end - horizon - k * params.origin_step
        if j < 28:
            break
        origins.append(j)
    return origins


def feature_origins(ends: list[int], horizon: int, params: GlobalParams) -> list[int]:
    """Every origin column whose item-day features fitting and forecasting at `ends` read."""
    cols = set(ends)
    for end in ends:
        cols.update(training_origins(end, horizon, params))
    return sorted(cols)


def training_set(
    y: np.ndarray,
    price: np.ndarray,
    dates: pd.DatetimeIndex,
    end: int,
    horizon: int,
    params: GlobalParams,
    day_features: Mapping[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows from past origins whose whole target window ends before column `end`.

    Args:
        y: Units (S x T), NaN before first sale.
        price: Unit prices (S x T).
        dates: Open days of the columns.
        end: Training rows' targets end before this column.
        horizon: Target days per origin.
        params: Origins and sampling.
        day_features: Item-day features per origin column (from the feature store); computed
            from `y` and `price` by the same engine when None.

    Returns:
        X, label (units / scale) and weight (scale), rows of items with a positive scale only,
        sampled down to `params.max_train_rows`.
    """
    history = ItemHistory(y, price, dates)
    xs, labels, weights = [], [], []
    for j in training_origins(end, horizon, params):
        feats = None if day_features is None else day_features[j]
        x, scale = origin_features(
            y, price, dates, j, _targets_at(dates, j, horizon), history, feats
        )
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
    day_features: Mapping[int, np.ndarray] | None = None,
):  # type: ignore[no-untyped-def]
    """Fit the global model on origins before column `end`; None if there is no training row.

    `day_features`: item-day features per origin column, as `training_set` takes them.
    """
    import xgboost as xgb

    x, label, weight = training_set(y, price, dates, end, horizon, params, day_features)
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
    day_features: np.ndarray | None = None,
) -> np.ndarray:
    """Forecasts (S x H) in units for a forecast made before column `i`; 0 for idle items.

    `day_features`: the items' item-day features at the origin, if fetched from the store.
    """
    x, scale = origin_features(y, price, dates, i, targets, day_features=day_features)
    if model is None:
        return np.zeros((y.shape[0], len(targets)))
    pred = model.predict(x).reshape(y.shape[0], len(targets))
    return np.clip(pred, 0, None) * np.where(scale > 0, scale, 0.0)[:, None]
