"""Plain pandas reference for the item-day features; the DuckDB version must agree with it.

Written the way a first notebook would: sort by item and day, then `groupby().shift` for lags and
`groupby().rolling` over the shifted series for the past-only windows. It is also the pandas
baseline of the feature benchmark, so it stays vectorised (no Python loop over rows).

Edge semantics follow DuckDB's window aggregates: a window with no non-null value gives NaN for
mean/std/max/min/sum and 0 for the count; a sample std of a single value is NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from retail_mlops.calendar import calendar_frame
from retail_mlops.errors import DataError
from retail_mlops.features.item import DEFAULT_LAGS, DEFAULT_WINDOWS, item_feature_columns

REQUIRED_DAILY_COLUMNS = ("stock_code", "date", "units", "revenue", "price", "is_open")


def _rolling(prev: pd.Series, keys: pd.Series, window: int, how: str) -> pd.Series:
    """`how` over the `window` rows of `prev` (already shifted by one day) within each item."""
    min_periods = 0 if how == "count" else 1
    rolled = prev.groupby(keys, sort=False).rolling(window, min_periods=min_periods)
    out = getattr(rolled, how)()
    return out.reset_index(level=0, drop=True).reindex(prev.index)


def item_daily_features_pandas(
    daily: pd.DataFrame,
    lags: Sequence[int] = DEFAULT_LAGS,
    windows: Sequence[int] = DEFAULT_WINDOWS,
) -> pd.DataFrame:
    """Features per (item, day) from `daily_item_demand` output, in plain pandas.

    Args:
        daily: stock_code, date, units, revenue, price, is_open; one row per item and day.
        lags: Lag days of units (calendar days within the item).
        windows: Lengths of the rolling windows that end the day before.

    Returns:
        stock_code, date and `item_feature_columns(lags, windows)` as float64, sorted by item
        and day.

    Raises:
        DataError: If a required column is missing.
    """
    missing = [c for c in REQUIRED_DAILY_COLUMNS if c not in daily.columns]
    if missing:
        raise DataError(f"daily demand lacks column(s): {', '.join(missing)}")

    df = daily.sort_values(["stock_code", "date"], kind="stable", ignore_index=True)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")
    keys = df["stock_code"]
    g = df.groupby("stock_code", sort=False)

    # everything below looks at yesterday and earlier only
    prev_units = g["units"].shift(1)
    prev_price = g["price"].shift(1)
    prev_revenue = g["revenue"].shift(1)

    feats: dict[str, pd.Series] = {"is_open": df["is_open"]}
    for k in lags:
        feats[f"units_lag_{k}"] = g["units"].shift(k)
    for w in windows:
        feats[f"units_mean_{w}"] = _rolling(prev_units, keys, w, "mean")
        feats[f"units_std_{w}"] = _rolling(prev_units, keys, w, "std")
        feats[f"units_max_{w}"] = _rolling(prev_units, keys, w, "max")
    feats["units_sum_28"] = _rolling(prev_units, keys, 28, "sum")
    feats["units_count_28"] = _rolling(prev_units, keys, 28, "count")
    feats["units_min_28"] = _rolling(prev_units, keys, 28, "min")

    # the last price seen before the day: items do not sell every day
    price_last = prev_price.groupby(keys, sort=False).ffill()
    price_mean_hist = (
        prev_price.groupby(keys, sort=False)
        .expanding(min_periods=1)
        .mean()
        .reset_index(level=0, drop=True)
        .reindex(df.index)
    )
    feats["price_last"] = price_last
    feats["price_mean_28"] = _rolling(prev_price, keys, 28, "mean")
    feats["price_ratio_hist"] = price_last / price_mean_hist.where(price_mean_hist != 0)
    feats["revenue_mean_28"] = _rolling(prev_revenue, keys, 28, "mean")

    out = pd.concat([df[["stock_code", "date"]], pd.DataFrame(feats)], axis=1)
    cal = calendar_frame(df["date"].min(), df["date"].max())
    out = out.merge(cal, on="date", how="left", validate="many_to_one")
    cols = item_feature_columns(lags, windows)
    return out[["stock_code", "date", *cols]].astype({c: "float64" for c in cols})
