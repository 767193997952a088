"""Customer features and churn labels as of a cutoff, from invoice lines before it only.

Leak-free by construction: every feature for cutoff t is computed from orders dated strictly
before t; the label looks only at the `horizon_days` after t.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.errors import DataError

FEATURE_COLUMNS = [
    # the seed's customer_features
    "total_orders",
    "total_spent",
    "avg_order_value",
    "days_since_last_order",
    "prev_order_amount",
    # temporal
    "tenure_days",
    "mean_days_between_orders",
    "last_order_dow",
    "cutoff_month",
    # rolling (past-only windows)
    "spend_30d",
    "spend_90d",
    "orders_90d",
    # aggregation
    "order_value_std",
    "order_value_min",
    "order_value_max",
    "distinct_items",
    # interaction
    "spend_per_tenure_day",
    "spend_90d_share",
    "orders_per_month",
    "recency_x_frequency",
    "is_uk",
]


REQUIRED_LINE_COLUMNS = (
    "customer_id",
    "invoice",
    "invoice_date",
    "amount",
    "stock_code",
    "country",
)

# Orders are rebuilt per snapshot from the lines strictly before it, so an invoice whose lines
# straddle a cutoff contributes only its earlier lines: nothing at or after t is ever read.
# Ties between orders at the same minute break on the invoice number, as in the reference.
_SQL = """
WITH past AS (
    SELECT s.cutoff, l.customer_id, l.invoice, l.invoice_date, l.amount, l.stock_code, l.country
    FROM lines l JOIN snaps s ON l.invoice_date < s.cutoff
),
orders AS (
    SELECT cutoff, customer_id, invoice,
           min(invoice_date) AS order_date,
           sum(amount) AS order_value,
           first(country ORDER BY invoice_date) AS country
    FROM past GROUP BY cutoff, customer_id, invoice
),
agg AS (
    SELECT cutoff, customer_id,
           count(*) AS total_orders,
           sum(order_value) AS total_spent,
           stddev_samp(order_value) AS order_value_std,
           min(order_value) AS order_value_min,
           max(order_value) AS order_value_max,
           min(order_date) AS first_order,
           max(order_date) AS last_order,
           arg_max(order_value, (order_date, invoice)) AS prev_order_amount,
           arg_max(country, (order_date, invoice)) AS country,
           coalesce(sum(order_value) FILTER (WHERE order_date >= cutoff - INTERVAL 30 DAY), 0)
               AS spend_30d,
           coalesce(sum(order_value) FILTER (WHERE order_date >= cutoff - INTERVAL 90 DAY), 0)
               AS spend_90d,
           count(*) FILTER (WHERE order_date >= cutoff - INTERVAL 90 DAY) AS orders_90d
    FROM orders GROUP BY cutoff, customer_id
    HAVING max(order_date) >= cutoff - to_days(CAST($active_window_days AS INTEGER))
),
items AS (
    SELECT cutoff, customer_id, count(DISTINCT stock_code) AS distinct_items
    FROM past GROUP BY cutoff, customer_id
),
base AS (
    SELECT a.*, i.distinct_items,
           epoch(a.cutoff - a.last_order) / 86400.0 AS days_since_last_order,
           epoch(a.cutoff - a.first_order) / 86400.0 AS tenure_days,
           epoch(a.last_order - a.first_order) / 86400.0 AS span_days
    FROM agg a JOIN items i USING (cutoff, customer_id)
)
SELECT customer_id, cutoff,
       total_orders, total_spent,
       total_spent / total_orders AS avg_order_value,
       days_since_last_order, prev_order_amount,
       tenure_days,
       CASE WHEN total_orders > 1 THEN span_days / (total_orders - 1) END
           AS mean_days_between_orders,
       isodow(last_order) - 1 AS last_order_dow,
       month(cutoff) AS cutoff_month,
       spend_30d, spend_90d, orders_90d,
       order_value_std, order_value_min, order_value_max, distinct_items,
       total_spent / greatest(tenure_days, 1.0) AS spend_per_tenure_day,
       spend_90d / nullif(total_spent, 0) AS spend_90d_share,
       total_orders / greatest(tenure_days / 30.0, 1.0) AS orders_per_month,
       days_since_last_order * (total_orders / greatest(tenure_days / 30.0, 1.0))
           AS recency_x_frequency,
       CASE WHEN country = 'United Kingdom' THEN 1 ELSE 0 END AS is_uk
FROM base
ORDER BY cutoff, customer_id
"""


HORIZON_DAYS = 90  # churn label: no order in [cutoff, cutoff + 90 days)
ACTIVE_WINDOW_DAYS = 3650  # a customer counts at a cutoff if they ordered in this many days


class ChurnEntityParams(Params):
    """The churn label's horizon."""

    horizon_days: int = Field(
        default=HORIZON_DAYS, ge=1, le=365, description="No order in this many days after a cutoff"
    )


def customer_feature_snapshots(
    lines: pd.DataFrame,
    cutoffs: Iterable[pd.Timestamp | str],
    active_window_days: int = 3650,
) -> pd.DataFrame:
    """Customer features as of every cutoff, in one DuckDB query.

    Args:
        lines: Clean invoice lines.
        cutoffs: As-of times; each snapshot uses only lines strictly before its cutoff.
        active_window_days: Only customers with an order this many days before a cutoff.

    Returns:
        One row per (customer, cutoff): `customer_id`, `cutoff` and `FEATURE_COLUMNS` (float).

    Raises:
        DataError: If a required column is missing.
    """
    import duckdb

    missing = [c for c in REQUIRED_LINE_COLUMNS if c not in lines.columns]
    if missing:
        raise DataError(f"invoice lines lack column(s): {', '.join(missing)}")
    snaps = pd.DataFrame({"cutoff": pd.to_datetime(list(cutoffs)).astype("datetime64[us]")})
    con = duckdb.connect()
    try:
        con.register("lines", lines[list(REQUIRED_LINE_COLUMNS)])
        con.register("snaps", snaps)
        out = con.execute(_SQL, {"active_window_days": int(active_window_days)}).df()
    finally:
        con.close()
    out["customer_id"] = out["customer_id"].astype(str)
    out["cutoff"] = pd.to_datetime(out["cutoff"]).astype("datetime64[ns]")
    return out.astype({c: "float64" for c in FEATURE_COLUMNS})


def customer_features(
    lines: pd.DataFrame, cutoff: pd.Timestamp | str, active_window_days: int = 365
) -> pd.DataFrame:
    """Features per customer active in the `active_window_days` before one `cutoff`."""
    return customer_feature_snapshots(lines, [cutoff], active_window_days)


def past_lines(lines: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Lines dated strictly before `cutoff`."""
    return lines[lines["invoice_date"] < cutoff]


def churn_labels(
    lines: pd.DataFrame,
    customers: Iterable[str],
    cutoff: pd.Timestamp,
    horizon_days: int = HORIZON_DAYS,
) -> pd.Series:
    """1 if the customer has no invoice line in [cutoff, cutoff + horizon_days), else 0."""
    cutoff = pd.Timestamp(cutoff)
    end = cutoff + pd.Timedelta(days=horizon_days)
    window = lines[(lines["invoice_date"] >= cutoff) & (lines["invoice_date"] < end)]
    buyers = set(window["customer_id"])
    ids = list(customers)
    return pd.Series([0 if c in buyers else 1 for c in ids], index=ids, name="churned")


def _check_label_window(
    lines: pd.DataFrame, cutoffs: list[pd.Timestamp], horizon_days: int
) -> None:
    data_end = lines["invoice_date"].max()
    for cutoff in cutoffs:
        if cutoff + pd.Timedelta(days=horizon_days) > data_end + pd.Timedelta(days=1):
            raise DataError(
                f"cutoff {cutoff.date()} + {horizon_days} days is past the data's end "
                f"({data_end.date()}): its labels cannot be observed"
            )


def churn_entities(
    lines: pd.DataFrame,
    cutoffs: Iterable[pd.Timestamp | str],
    horizon_days: int = HORIZON_DAYS,
    active_window_days: int = 3650,
) -> pd.DataFrame:
    """The training entity frame: (customer_id, event_timestamp = cutoff, churned).

    A customer enters at a cutoff if they have a line in the `active_window_days` before it,
    the same rule the feature snapshots use, so every entity finds its features.

    Raises:
        DataError: If a label window runs past the data or no customer qualifies.
    """
    stamps = [pd.Timestamp(c) for c in cutoffs]
    _check_label_window(lines, stamps, horizon_days)
    frames = []
    for cutoff in stamps:
        before = past_lines(lines, cutoff)
        # an order is dated by its first line, exactly as in the snapshot query
        order_dates = before.groupby(["customer_id", "invoice"], observed=True)[
            "invoice_date"
        ].min()
        last = order_dates.groupby(level="customer_id", observed=True).max()
        ids = sorted(last[last >= cutoff - pd.Timedelta(days=active_window_days)].index)
        if not ids:
            continue
        labels = churn_labels(lines, ids, cutoff, horizon_days)
        frames.append(
            pd.DataFrame(
                {
                    "customer_id": [str(i) for i in ids],
                    "event_timestamp": cutoff,
                    "churned": labels.to_numpy(),
                }
            )
        )
    if not frames:
        raise DataError("no customers are active before any of the configured cutoffs")
    return pd.concat(frames, ignore_index=True)


def build_churn_dataset(
    lines: pd.DataFrame,
    cutoffs: Iterable[pd.Timestamp | str],
    horizon_days: int = HORIZON_DAYS,
    active_window_days: int = 365,
) -> pd.DataFrame:
    """Features and labels for several cutoffs, computed directly (no feature store).

    The pipelines get the same table through Feast's point-in-time join; this direct path is
    the reference the tests compare it with, and what the overhead benchmark times.

    Raises:
        DataError: If a label window runs past the data or no customer qualifies.
    """
    stamps = [pd.Timestamp(c) for c in cutoffs]
    entities = churn_entities(lines, stamps, horizon_days, active_window_days)
    feats = customer_feature_snapshots(lines, stamps, active_window_days)
    data = feats.merge(
        entities.rename(columns={"event_timestamp": "cutoff"}),
        on=["customer_id", "cutoff"],
        how="inner",
        validate="one_to_one",
    )
    return data.sort_values(["cutoff", "customer_id"], ignore_index=True)


def monthly_cutoffs(start: str, end: str) -> list[pd.Timestamp]:
    """First-of-month cutoffs from `start` to `end`, inclusive."""
    return list(pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="MS"))
