"""Customer features and churn labels as of a cutoff, from invoice lines before it only.

Leak-free by construction: every feature for cutoff t is computed from orders dated strictly
before t; the label looks only at the `horizon_days` after t.
"""

from __future__ import annotations

import re
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
#
# The query is written once, in DuckDB's dialect, for this function and for the warehouse view
# (retail_mlops/warehouse), which sqlglot transpiles to PostgreSQL and Snowflake. So it keeps to
# constructs that mean the same in all three:
# - the latest order comes from ROW_NUMBER() (arg_max with a tuple key has no portable form)
#   and its country from its earliest lines (first(... ORDER BY) neither; min breaks ties);
# - conditional sums are CASE inside the aggregate (Snowflake has no FILTER);
# - durations are whole microseconds (date_diff), then DOUBLE: Snowflake cannot subtract
#   timestamps, and sqlglot renders epoch(interval) for it as integer seconds;
# - the weekday is day arithmetic from a Monday: isodow becomes a function PostgreSQL lacks,
#   extract(isodow) a date part Snowflake lacks;
# - every division has a DOUBLE on the left: `/` on integers is integer division in
#   PostgreSQL and fixed-scale NUMBER in Snowflake (6 decimals), float only in DuckDB;
# - order values are DOUBLE from the start, so a warehouse whose amounts are NUMBER(p, s)
#   still divides in floating point, and every feature leaves as DOUBLE: no engine hands
#   back a NUMERIC, NUMBER or BIGINT.
# The helper expressions stay plain DuckDB text, so the query reads as SQL. Sums of doubles
# follow the engine's thread order, so their last bits may differ between runs and engines
# (~1e-15 relative; with one thread this query and its arg_max predecessor agree bit for bit).
_DAYS = "CAST(date_diff('microsecond', {start}, {end}) AS DOUBLE) / 86400000000.0"
_MONDAY = "DATE '1900-01-01'"  # a Monday before any invoice
_FEATURE_SQL = """
WITH past AS (
    SELECT s.cutoff, l.customer_id, l.invoice, l.invoice_date, l.amount, l.stock_code
    FROM {lines} l JOIN {cutoffs} s ON l.invoice_date < s.cutoff
),
orders AS (
    SELECT cutoff, customer_id, invoice,
           min(invoice_date) AS order_date,
           CAST(sum(amount) AS DOUBLE) AS order_value
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
           coalesce(sum(CASE WHEN order_date >= cutoff - INTERVAL '30 DAY'
                             THEN order_value END), 0) AS spend_30d,
           coalesce(sum(CASE WHEN order_date >= cutoff - INTERVAL '90 DAY'
                             THEN order_value END), 0) AS spend_90d,
           count(CASE WHEN order_date >= cutoff - INTERVAL '90 DAY' THEN 1 END) AS orders_90d
    FROM orders GROUP BY cutoff, customer_id
    HAVING max(order_date) >= cutoff - INTERVAL '{active_window_days} DAY'
),
latest AS (
    SELECT cutoff, customer_id, invoice, order_date, order_value
    FROM (
        SELECT cutoff, customer_id, invoice, order_date, order_value,
               row_number() OVER (
                   PARTITION BY cutoff, customer_id ORDER BY order_date DESC, invoice DESC
               ) AS recency
        FROM orders
    ) ranked
    WHERE recency = 1
),
latest_country AS (
    SELECT t.cutoff, t.customer_id, min(l.country) AS country
    FROM latest t
    JOIN {lines} l ON l.customer_id = t.customer_id AND l.invoice = t.invoice
        AND l.invoice_date = t.order_date
    GROUP BY t.cutoff, t.customer_id
),
items AS (
    SELECT cutoff, customer_id, count(DISTINCT stock_code) AS distinct_items
    FROM past GROUP BY cutoff, customer_id
),
base AS (
    SELECT a.*, i.distinct_items, t.order_value AS prev_order_amount, c.country,
           {days_since_last} AS days_since_last_order,
           {tenure} AS tenure_days,
           {span} AS span_days,
           (date_diff('day', {monday}, CAST(a.last_order AS DATE)) % 7 + 7) % 7
               AS last_order_dow
    FROM agg a
    JOIN items i ON i.cutoff = a.cutoff AND i.customer_id = a.customer_id
    JOIN latest t ON t.cutoff = a.cutoff AND t.customer_id = a.customer_id
    JOIN latest_country c ON c.cutoff = a.cutoff AND c.customer_id = a.customer_id
)
SELECT customer_id, cutoff,
       CAST(total_orders AS DOUBLE) AS total_orders,
       total_spent,
       total_spent / CAST(total_orders AS DOUBLE) AS avg_order_value,
       days_since_last_order, prev_order_amount,
       tenure_days,
       CASE WHEN total_orders > 1 THEN span_days / CAST(total_orders - 1 AS DOUBLE) END
           AS mean_days_between_orders,
       CAST(last_order_dow AS DOUBLE) AS last_order_dow,
       CAST(extract(month FROM cutoff) AS DOUBLE) AS cutoff_month,
       spend_30d, spend_90d,
       CAST(orders_90d AS DOUBLE) AS orders_90d,
       order_value_std, order_value_min, order_value_max,
       CAST(distinct_items AS DOUBLE) AS distinct_items,
       total_spent / greatest(tenure_days, 1.0) AS spend_per_tenure_day,
       spend_90d / nullif(total_spent, 0) AS spend_90d_share,
       CAST(total_orders AS DOUBLE) / greatest(tenure_days / 30.0, 1.0) AS orders_per_month,
       days_since_last_order
           * (CAST(total_orders AS DOUBLE) / greatest(tenure_days / 30.0, 1.0))
           AS recency_x_frequency,
       CAST(CASE WHEN country = 'United Kingdom' THEN 1 ELSE 0 END AS DOUBLE) AS is_uk
FROM base
ORDER BY cutoff, customer_id
"""
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")


HORIZON_DAYS = 90  # churn label: no order in [cutoff, cutoff + 90 days)
ACTIVE_WINDOW_DAYS = 3650  # a customer counts at a cutoff if they ordered in this many days


class ChurnEntityParams(Params):
    """The churn label's horizon."""

    horizon_days: int = Field(
        default=HORIZON_DAYS, ge=1, le=365, description="No order in this many days after a cutoff"
    )


def feature_sql(
    lines: str = "lines", cutoffs: str = "snaps", active_window_days: int = ACTIVE_WINDOW_DAYS
) -> str:
    """The churn features of every (customer, cutoff) as one DuckDB-dialect SELECT.

    The one home of the feature logic: `customer_feature_snapshots` runs it on frames, and the
    warehouse transpiles it into a view, so the offline table and the view cannot drift apart.
    The window is a literal, not a bind parameter, because a view cannot take parameters.

    Args:
        lines: Table of clean invoice lines (`REQUIRED_LINE_COLUMNS`), optionally qualified.
        cutoffs: Table with a TIMESTAMP column `cutoff`, one row per snapshot.
        active_window_days: Only customers with an order this many days before a cutoff.

    Returns:
        The query; its rows are `customer_id`, `cutoff` and `FEATURE_COLUMNS` (all DOUBLE).

    Raises:
        DataError: If a table name is not a plain (qualified) identifier or the window is not
            a non-negative integer: both are pasted into the text.
    """
    for name in (lines, cutoffs):
        if not _TABLE_NAME.fullmatch(name):
            raise DataError(f"table name {name!r} is not a plain SQL identifier")
    if isinstance(active_window_days, bool) or not isinstance(active_window_days, int):
        raise DataError(f"active_window_days must be an integer, not {active_window_days!r}")
    if active_window_days < 0:
        raise DataError(f"active_window_days must be >= 0, not {active_window_days}")
    return _FEATURE_SQL.format(
        lines=lines,
        cutoffs=cutoffs,
        active_window_days=active_window_days,
        days_since_last=_DAYS.format(start="a.last_order", end="a.cutoff"),
        tenure=_DAYS.format(start="a.first_order", end="a.cutoff"),
        span=_DAYS.format(start="a.first_order", end="a.last_order"),
        monday=_MONDAY,
    )


def customer_feature_snapshots(
    lines: pd.DataFrame,
    cutoffs: Iterable[pd.Timestamp | str],
    active_window_days: int = ACTIVE_WINDOW_DAYS,
) -> pd.DataFrame:
    """Customer features as of every cutoff, in one DuckDB query (`feature_sql`).

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
        out = con.execute(feature_sql("lines", "snaps", int(active_window_days))).df()
    finally:
        con.close()
    return feature_frame(out)


def feature_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of `feature_sql`, from any engine, as the snapshot table Feast's store gets.

    One home for the output types, so a warehouse view read back compares with
    `customer_feature_snapshots` column for column: customer ids as str, cutoffs as
    datetime64[ns], every feature float64 (NULL becomes NaN).
    """
    out = rows[["customer_id", "cutoff", *FEATURE_COLUMNS]].copy()
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
