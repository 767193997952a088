"""Price elasticity (log-log regression with controls) and promotion uplift per item.

Elasticity: on an item's days with sales, log(units) = a + b log(price) + weekday and month
dummies + a linear trend; b is the elasticity, with a t-based confidence interval from the
OLS standard error. Only items whose price varies enough (std of log price and distinct price
levels) are estimated. Caveat on this data: the unit price of a line falls with the quantity
bought (wholesale tiers), so part of a negative b is volume pricing, not customers reacting
to price.

Uplift: the regular price is the item's most frequent daily price; a promotion day is a day
its price was at least `promo_threshold` below it. Uplift = mean units on promotion days /
mean units on regular days - 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field
from scipy import stats

from retail_mlops.config import Params


class PricingParams(Params):
    """Which items get an elasticity estimate, and what counts as a promotion."""

    min_days: int = Field(default=30, ge=5, description="Fewest selling days for an elasticity")
    min_log_price_std: float = Field(
        default=0.05, ge=0, description="Fewest price variation for one"
    )
    promo_threshold: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="A day this share below the regular price is a promotion",
    )


def ols(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Least squares coefficients, their standard errors, and residual degrees of freedom."""
    beta, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    dof = len(y) - int(rank)
    resid = y - x @ beta
    sigma2 = float(resid @ resid) / dof if dof > 0 else float("nan")
    cov = sigma2 * np.linalg.pinv(x.T @ x)
    return beta, np.sqrt(np.clip(np.diag(cov), 0, None)), dof


def design(days: pd.DataFrame) -> np.ndarray:
    """Log price, intercept, weekday and month dummies (first level dropped), trend."""
    ds = pd.to_datetime(days["ds"])
    cols = [np.log(days["price"].to_numpy()), np.ones(len(days))]
    cols += [(ds.dt.dayofweek == d).to_numpy(float) for d in sorted(ds.dt.dayofweek.unique())[1:]]
    cols += [(ds.dt.month == m).to_numpy(float) for m in sorted(ds.dt.month.unique())[1:]]
    cols.append(((ds - ds.min()).dt.days / 365.0).to_numpy())
    return np.column_stack(cols)


def elasticity(
    demand: pd.DataFrame,
    min_days: int = 30,
    min_log_price_std: float = 0.05,
    min_price_levels: int = 3,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per item: elasticity, CI, days used; items without enough price variation are skipped.

    Args:
        demand: stock_code, ds, y, price (daily, as from `daily_demand`).
        min_days: Fewest days with sales.
        min_log_price_std: Fewest variation of log price.
        min_price_levels: Fewest distinct prices (to the penny).
        level: Confidence level of the interval.
    """
    sold = demand[(demand["y"] > 0) & (demand["price"] > 0)]
    rows = []
    for code, g in sold.groupby("stock_code", sort=True):
        if len(g) < min_days:
            continue
        logp = np.log(g["price"].to_numpy())
        if logp.std() < min_log_price_std or g["price"].round(2).nunique() < min_price_levels:
            continue
        beta, se, dof = ols(design(g), np.log(g["y"].to_numpy()))
        if dof <= 0 or not np.isfinite(se[0]):
            continue
        t = float(stats.t.ppf((1 + level) / 2, dof))
        rows.append(
            {
                "stock_code": code,
                "elasticity": float(beta[0]),
                "ci_low": float(beta[0] - t * se[0]),
                "ci_high": float(beta[0] + t * se[0]),
                "std_error": float(se[0]),
                "n_days": len(g),
                "log_price_std": float(logp.std()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "stock_code",
            "elasticity",
            "ci_low",
            "ci_high",
            "std_error",
            "n_days",
            "log_price_std",
        ],
    )


def promotion_uplift(
    demand: pd.DataFrame, promo_threshold: float = 0.1, min_days: int = 5
) -> pd.DataFrame:
    """Per item: regular price, promotion days, mean units on and off promotion, uplift.

    Only days with sales have a price, so this compares selling days: it measures how much
    more is bought per selling day at a reduced price.
    """
    sold = demand[(demand["y"] > 0) & (demand["price"] > 0)].assign(p=lambda d: d["price"].round(2))
    rows = []
    for code, g in sold.groupby("stock_code", sort=True):
        regular = float(g["p"].mode().max())
        promo = g["p"] <= regular * (1 - promo_threshold)
        if promo.sum() < min_days or (~promo).sum() < min_days:
            continue
        on, off = float(g.loc[promo, "y"].mean()), float(g.loc[~promo, "y"].mean())
        rows.append(
            {
                "stock_code": code,
                "regular_price": regular,
                "promo_days": int(promo.sum()),
                "regular_days": int((~promo).sum()),
                "units_promo": on,
                "units_regular": off,
                "uplift": on / off - 1 if off > 0 else float("nan"),
            }
        )
    cols = [
        "stock_code",
        "regular_price",
        "promo_days",
        "regular_days",
        "units_promo",
        "units_regular",
        "uplift",
    ]
    return pd.DataFrame(rows, columns=cols)
