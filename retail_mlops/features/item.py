"""Item-day features: what is known about an item's demand on the morning of each open day.

The one engine behind Feast's `item_daily_features` and the global forecasting model. A row for
(item, day d) is computed from the open days strictly before d, so it is exactly what a forecast
made on the morning of d may use. Windows count the shop's open days (columns of the demand
panel: days on which it sold anything), because closed days carry no demand signal; an item's
days before its first sale are not listed and never count.

Vectorised over every origin at once (cumulative sums, running last-index, a rolling median):
the whole table for 4,700 items x 600 days takes seconds, and any single origin is a slice.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from retail_mlops.errors import DataError

MEAN_WINDOWS = (7, 28, 91, 364)
SHARE_WINDOWS = (28, 91)
LAGS = tuple(range(1, 8))
HISTORY_CAP = 400  # open days: `days_since_sale` and `listed_days` saturate here
PRICE_WINDOW = 364

ITEM_FEATURE_COLUMNS = [
    *[f"units_mean_{w}" for w in MEAN_WINDOWS],
    *[f"sale_share_{w}" for w in SHARE_WINDOWS],
    *[f"units_lag_{k}" for k in LAGS],
    "days_since_sale",
    "listed_days",
    "price_last",
    f"price_median_{PRICE_WINDOW}",
    "units_mean_last_year_28",
]
COLUMN = {c: k for k, c in enumerate(ITEM_FEATURE_COLUMNS)}
KEY, TIMESTAMP = "stock_code", "event_timestamp"
# What `ItemHistory.at` gives an item not listed yet: no level, no lag, no price, no sale.
UNLISTED = np.full(len(ITEM_FEATURE_COLUMNS), np.nan)
UNLISTED[COLUMN["days_since_sale"]] = HISTORY_CAP
UNLISTED[COLUMN["listed_days"]] = 0.0


class ItemHistory:
    """Items x open days (units, prices) with the running sums every origin's features need.

    Args:
        y: Units (S x T), NaN before an item's first sale.
        price: Unit prices (S x T), NaN on days without sales.
        dates: The open days of the columns.
    """

    def __init__(self, y: np.ndarray, price: np.ndarray, dates: pd.DatetimeIndex):
        if y.shape != price.shape or y.shape[1] != len(dates):
            raise DataError(
                f"units {y.shape}, prices {price.shape} and {len(dates)} days do not line up"
            )
        self.y, self.price, self.dates = y, price, pd.DatetimeIndex(dates)
        valid = ~np.isnan(y)
        values = np.nan_to_num(y)
        zero = np.zeros((y.shape[0], 1))
        self.sum = np.hstack([zero, np.cumsum(values, axis=1)])
        self.count = np.hstack([zero, np.cumsum(valid, axis=1)])
        self.sold = np.hstack([zero, np.cumsum(values > 0, axis=1)])
        cols = np.arange(y.shape[1])
        self._last_sale = np.maximum.accumulate(np.where(values > 0, cols, -1), axis=1)
        self._last_price = np.maximum.accumulate(np.where(np.isnan(price), -1, cols), axis=1)
        self._median: np.ndarray | None = None

    @property
    def n_items(self) -> int:
        """Rows (items) of the history."""
        return int(self.y.shape[0])

    def mean(self, lo: np.ndarray | int, hi: np.ndarray | int) -> np.ndarray:
        """Mean units over columns [lo, hi) per item, NaN where no listed day."""
        rows = np.arange(self.n_items)
        lo_, hi_ = np.broadcast_to(lo, rows.shape), np.broadcast_to(hi, rows.shape)
        n = self.count[rows, hi_] - self.count[rows, lo_]
        return np.divide(
            self.sum[rows, hi_] - self.sum[rows, lo_],
            n,
            out=np.full(rows.shape, np.nan),
            where=n > 0,
        )

    def sale_share(self, lo: int, hi: int) -> np.ndarray:
        """Share of listed days in [lo, hi) with a sale, NaN where no listed day."""
        n = self.count[:, hi] - self.count[:, lo]
        return np.divide(
            self.sold[:, hi] - self.sold[:, lo], n, out=np.full(n.shape, np.nan), where=n > 0
        )

    def listed(self, i: int) -> np.ndarray:
        """Items with at least one listed day before column i (mask)."""
        return np.asarray(self.count[:, i] > 0)

    def origin_day(self, i: int) -> pd.Timestamp:
        """The day a forecast before column i is made: the day after the last known one."""
        return self.dates[i - 1] + pd.Timedelta(days=1) if i else self.dates[0]

    def row_time(self, i: int) -> pd.Timestamp:
        """Event time of origin i's rows: its open day, or the day after the data for i = T."""
        return self.dates[i] if i < len(self.dates) else self.origin_day(i)

    def _price_median(self) -> np.ndarray:
        # pandas' rolling median skips NaN and equals np.nanmedian over each window, ~100x
        # faster than one nanmedian per origin.
        if self._median is None:
            frame = pd.DataFrame(self.price.T)
            self._median = frame.rolling(PRICE_WINDOW, min_periods=1).median().to_numpy().T
        return self._median

    def at(self, i: int) -> np.ndarray:
        """Features (S x len(ITEM_FEATURE_COLUMNS)) for a forecast made before column i.

        Reads only columns < i. An item not listed yet gets NaN means and lags.
        """
        s = self.n_items
        out = np.full((s, len(ITEM_FEATURE_COLUMNS)), np.nan)
        for w in MEAN_WINDOWS:
            out[:, COLUMN[f"units_mean_{w}"]] = self.mean(max(0, i - w), i)
        for w in SHARE_WINDOWS:
            out[:, COLUMN[f"sale_share_{w}"]] = self.sale_share(max(0, i - w), i)
        for k in LAGS:
            if i - k >= 0:
                out[:, COLUMN[f"units_lag_{k}"]] = self.y[:, i - k]
        rows = np.arange(s)
        if i:
            last = self._last_sale[:, i - 1]
            recent = (last >= 0) & (last >= i - HISTORY_CAP)
            out[:, COLUMN["days_since_sale"]] = np.where(recent, i - last, HISTORY_CAP)
            seen = self._last_price[:, i - 1]
            fresh = (seen >= 0) & (seen >= i - PRICE_WINDOW)
            out[:, COLUMN["price_last"]] = np.where(
                fresh, self.price[rows, np.maximum(seen, 0)], np.nan
            )
            out[:, COLUMN[f"price_median_{PRICE_WINDOW}"]] = self._price_median()[:, i - 1]
            day = self.origin_day(i)
            out[:, COLUMN["units_mean_last_year_28"]] = self.mean(
                self.dates.searchsorted(day - pd.Timedelta(days=364 + 28)),
                self.dates.searchsorted(day - pd.Timedelta(days=364)),
            )
        else:  # origin 0: nothing known yet (every mean stays NaN)
            out[:, COLUMN["days_since_sale"]] = HISTORY_CAP
        out[:, COLUMN["listed_days"]] = np.minimum(self.count[:, i], HISTORY_CAP)
        return out

    def table(self, skus: np.ndarray, origins: list[int] | None = None) -> pd.DataFrame:
        """The long feature table: one row per listed item and origin, at the origin's time.

        The default origins are every open day and the day after the data (the next forecast).

        Returns:
            stock_code, event_timestamp and `ITEM_FEATURE_COLUMNS` (float64).
        """
        cols = origins if origins is not None else list(range(1, len(self.dates) + 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            blocks = [self.at(i)[self.listed(i)] for i in cols]
        values = np.vstack(blocks) if blocks else np.empty((0, len(ITEM_FEATURE_COLUMNS)))
        keys = entity_rows(self, skus, cols)  # the same listed items, in the same order
        features = pd.DataFrame(values, columns=ITEM_FEATURE_COLUMNS)
        return pd.concat([keys, features], axis=1)


def entity_rows(history: ItemHistory, skus: np.ndarray, origins: list[int]) -> pd.DataFrame:
    """Feast entity rows (stock_code, event_timestamp) for the listed items at each origin."""
    codes, times = [], []
    for i in origins:
        keep = history.listed(i)
        codes.append(np.asarray(skus)[keep].astype(str))
        times.append(np.full(int(keep.sum()), history.row_time(i).to_datetime64()))
    return pd.DataFrame(
        {
            KEY: np.concatenate(codes) if codes else np.array([], dtype=str),
            TIMESTAMP: pd.to_datetime(np.concatenate(times) if times else []).astype(
                "datetime64[ns]"
            ),
        }
    )


def by_origin(
    frame: pd.DataFrame, history: ItemHistory, skus: np.ndarray, origins: list[int]
) -> dict[int, np.ndarray]:
    """Arrays (S x features) per origin column from a fetched long table, aligned to `skus`.

    Items without a row at an origin (not listed yet) get `UNLISTED`, as `ItemHistory.at`
    gives them.

    Raises:
        DataError: If the table lacks a column or has no rows at all for a requested origin.
    """
    missing = [c for c in (KEY, TIMESTAMP, *ITEM_FEATURE_COLUMNS) if c not in frame.columns]
    if missing:
        raise DataError(f"item features lack column(s): {', '.join(missing)}")
    index = {code: r for r, code in enumerate(np.asarray(skus).astype(str))}
    times = pd.to_datetime(frame[TIMESTAMP]).to_numpy()
    values = frame[ITEM_FEATURE_COLUMNS].to_numpy(dtype="float64")
    rows = frame[KEY].astype(str).map(index)
    out = {}
    for i in origins:
        when = history.row_time(i).to_datetime64()
        hit = (times == when) & rows.notna().to_numpy()
        block = np.tile(UNLISTED, (len(index), 1))
        picked = values[hit]
        found = ~np.isnan(picked).all(axis=1)
        if history.listed(i).any() and not found.any():
            raise DataError(f"item features have no rows for {pd.Timestamp(when).date()}")
        block[rows[hit].to_numpy(dtype=int)[found]] = picked[found]
        out[i] = block
    return out
