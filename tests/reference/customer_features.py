"""Plain pandas reference for the customer features; the DuckDB version must agree with it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from retail_mlops.errors import DataError
from retail_mlops.features.customer import FEATURE_COLUMNS


def orders_from_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Collapse clean invoice lines into one row per order (customer, invoice).

    Raises:
        DataError: If a required column is missing.
    """
    needed = {"customer_id", "invoice", "invoice_date", "amount", "stock_code", "country"}
    missing = needed - set(lines.columns)
    if missing:
        raise DataError(f"invoice lines lack column(s): {', '.join(sorted(missing))}")
    grouped = lines.groupby(["customer_id", "invoice"], sort=False, observed=True)
    orders = grouped.agg(
        order_date=("invoice_date", "min"),
        order_value=("amount", "sum"),
        n_items=("stock_code", "nunique"),
        country=("country", "first"),
    ).reset_index()
    return orders.sort_values(["customer_id", "order_date", "invoice"], kind="stable").reset_index(
        drop=True
    )


def past_lines(lines: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Lines dated strictly before `cutoff` (an invoice straddling it is cut at it)."""
    return lines[lines["invoice_date"] < cutoff]


def customer_features(
    lines: pd.DataFrame,
    cutoff: pd.Timestamp,
    active_window_days: int = 365,
) -> pd.DataFrame:
    """Features per customer with an order in the `active_window_days` before `cutoff`.

    Orders are rebuilt from the lines before the cutoff, so even an invoice whose lines
    straddle the cutoff contributes only its earlier lines: nothing at or after t is read.

    Args:
        lines: Clean invoice lines.
        cutoff: The as-of time; only lines strictly before it are used.
        active_window_days: A customer is scored only if active within this window.

    Returns:
        One row per customer: `customer_id`, `cutoff` and `FEATURE_COLUMNS`.
    """
    cutoff = pd.Timestamp(cutoff)
    before = past_lines(lines, cutoff)
    past = orders_from_lines(before)
    last_date = past.groupby("customer_id", observed=True)["order_date"].max()
    active = last_date[last_date >= cutoff - pd.Timedelta(days=active_window_days)].index
    past = past[past["customer_id"].isin(active)]
    if past.empty:
        return pd.DataFrame(columns=["customer_id", "cutoff", *FEATURE_COLUMNS])

    g = past.groupby("customer_id", observed=True)
    feats = g.agg(
        total_orders=("invoice", "nunique"),
        total_spent=("order_value", "sum"),
        order_value_std=("order_value", "std"),
        order_value_min=("order_value", "min"),
        order_value_max=("order_value", "max"),
        first_order=("order_date", "min"),
        last_order=("order_date", "max"),
        country=("country", "last"),
    )
    # past is sorted by date within customer, so last() is the most recent order
    feats["prev_order_amount"] = g["order_value"].last()
    feats["avg_order_value"] = feats["total_spent"] / feats["total_orders"]
    days = lambda td: td.dt.total_seconds() / 86400.0  # noqa: E731
    feats["days_since_last_order"] = days(cutoff - feats["last_order"])
    feats["tenure_days"] = days(cutoff - feats["first_order"])
    span = days(feats["last_order"] - feats["first_order"])
    feats["mean_days_between_orders"] = np.where(
        feats["total_orders"] > 1, span / (feats["total_orders"] - 1).clip(lower=1), np.nan
    )
    feats["last_order_dow"] = feats["last_order"].dt.dayofweek
    feats["cutoff_month"] = cutoff.month

    for window, col in ((30, "spend_30d"), (90, "spend_90d")):
        recent = past[past["order_date"] >= cutoff - pd.Timedelta(days=window)]
        feats[col] = recent.groupby("customer_id", observed=True)["order_value"].sum()
    recent90 = past[past["order_date"] >= cutoff - pd.Timedelta(days=90)]
    feats["orders_90d"] = recent90.groupby("customer_id", observed=True)["invoice"].nunique()
    feats[["spend_30d", "spend_90d", "orders_90d"]] = feats[
        ["spend_30d", "spend_90d", "orders_90d"]
    ].fillna(0.0)

    lp = before[before["customer_id"].isin(active)]
    feats["distinct_items"] = lp.groupby("customer_id", observed=True)["stock_code"].nunique()
    feats["distinct_items"] = feats["distinct_items"].fillna(0)

    tenure = feats["tenure_days"].clip(lower=1.0)
    feats["spend_per_tenure_day"] = feats["total_spent"] / tenure
    feats["spend_90d_share"] = feats["spend_90d"] / feats["total_spent"].where(
        feats["total_spent"] > 0
    )
    feats["orders_per_month"] = feats["total_orders"] / (tenure / 30.0).clip(lower=1.0)
    feats["recency_x_frequency"] = feats["days_since_last_order"] * feats["orders_per_month"]
    feats["is_uk"] = (feats["country"] == "United Kingdom").astype(int)

    out = feats.reset_index()
    out["cutoff"] = cutoff
    out = out[["customer_id", "cutoff", *FEATURE_COLUMNS]]
    return out.astype({c: "float64" for c in FEATURE_COLUMNS})
