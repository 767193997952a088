"""Data contract for invoice lines: type the raw frame, quarantine bad rows with a reason.

Structural problems (a missing column, a column with no parsable value, nothing left after
filtering) stop the run with one line naming the problem. Row-level problems move the row to a
quarantine frame with the first rule it broke; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from retail_mlops.errors import DataError
from retail_mlops.ingest.sources import CANONICAL_COLUMNS

DATE_FORMAT = "%m/%d/%Y %H:%M"

# The contract the clean frame must meet; validated for real after quarantining.
CLEAN_SCHEMA = pa.DataFrameSchema(
    {
        "invoice": pa.Column(str, pa.Check.str_matches(r"^\d+$")),
        "stock_code": pa.Column(str),
        "description": pa.Column(str, nullable=True),
        "quantity": pa.Column("int64", pa.Check.gt(0)),
        "invoice_date": pa.Column("datetime64[ns]"),
        "price": pa.Column("float64", pa.Check.gt(0)),
        "customer_id": pa.Column(str, pa.Check.str_matches(r"^\d+$")),
        "country": pa.Column(str),
        "amount": pa.Column("float64", pa.Check.gt(0)),
    },
    strict=True,
    coerce=False,
)


def _parse_dates(values: pd.Series) -> pd.Series:
    """Parse the source's US-style timestamps; fall back to ISO for other sources."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.to_datetime(values).dt.tz_localize(None) if values.dt.tz else values
    text = values.astype("string")
    parsed = pd.to_datetime(text, format=DATE_FORMAT, errors="coerce")
    retry = parsed.isna() & text.notna()
    if retry.any():
        # ISO with an offset ("...T08:26Z", "+05:00") is converted to naive UTC like the rest;
        # left aware, it turned the column into objects and failed the clean schema.
        iso = pd.to_datetime(text[retry], errors="coerce", format="ISO8601", utc=True)
        parsed.loc[retry] = iso.dt.tz_convert(None)
    return parsed


def _normalize_customer(values: pd.Series) -> pd.Series:
    """Customer ids arrive as '13085.0', 13085 or '13085'; keep the integer text."""
    num = pd.to_numeric(values, errors="coerce")
    out = pd.Series(pd.NA, index=values.index, dtype="string")
    # an id is a whole number >= 0; beyond 1e15 it is no id and would overflow
    ok = num.notna() & (num == num.round()) & (num >= 0) & (num < 1e15)
    out[ok] = num[ok].astype("int64").astype(str)
    return out


def type_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """Coerce the raw columns to their types; unparsable values become missing, to be flagged.

    Raises:
        DataError: If a column is missing or a typed column has no parsable value at all
            (a wrong file, not a few bad rows).
    """
    missing = [c for c in CANONICAL_COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"missing column(s): {', '.join(missing)}")
    if raw.empty:
        raise DataError("the input has no rows")
    df = pd.DataFrame(index=raw.index)
    df["invoice"] = raw["invoice"].astype("string").str.strip()
    df["stock_code"] = raw["stock_code"].astype("string").str.strip()
    df["description"] = raw["description"].astype("string").str.strip()
    df["quantity"] = pd.to_numeric(raw["quantity"], errors="coerce")
    df["invoice_date"] = _parse_dates(raw["invoice_date"])
    df["price"] = pd.to_numeric(raw["price"], errors="coerce")
    df["customer_id"] = _normalize_customer(raw["customer_id"])
    df["country"] = raw["country"].astype("string").str.strip()
    for col, kind in (("quantity", "numbers"), ("price", "numbers"), ("invoice_date", "dates")):
        if df[col].isna().all():
            raise DataError(f"column {col!r} has no parsable {kind} (wrong types?)")
    return df


def _blank(col: pd.Series) -> pd.Series:
    return col.isna() | (col == "")


# (reason, predicate on the typed frame); a row gets the first reason it matches.
RULES: list[tuple[str, Callable[[pd.DataFrame], pd.Series]]] = [
    ("unparsable_date", lambda d: d["invoice_date"].isna()),
    ("unparsable_quantity", lambda d: d["quantity"].isna()),
    ("unparsable_price", lambda d: d["price"].isna()),
    ("non_finite_quantity", lambda d: ~np.isfinite(d["quantity"])),
    ("non_finite_price", lambda d: ~np.isfinite(d["price"])),
    ("missing_stock_code", lambda d: _blank(d["stock_code"])),
    ("missing_country", lambda d: _blank(d["country"])),
    ("cancelled_invoice", lambda d: d["invoice"].str.startswith("C")),
    ("non_positive_quantity", lambda d: d["quantity"] <= 0),
    ("non_positive_price", lambda d: d["price"] <= 0),
    ("missing_customer_id", lambda d: d["customer_id"].isna()),
    ("non_numeric_invoice", lambda d: ~d["invoice"].str.fullmatch(r"\d+").fillna(False)),
    ("fractional_quantity", lambda d: d["quantity"] != d["quantity"].round()),
    # would overflow int64, and is no real order
    ("implausible_quantity", lambda d: d["quantity"] > 1e9),
    # the line's amount would overflow to inf; no unit price comes near
    ("implausible_price", lambda d: d["price"] > 1e9),
]


def split_quarantine(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw invoice lines into a clean typed frame and a quarantine frame with reasons.

    Args:
        raw: Canonical raw frame from ingestion.

    Returns:
        (clean, quarantine). Clean rows meet `CLEAN_SCHEMA` and carry `amount`; quarantined rows
        keep their raw values plus `reason`.

    Raises:
        DataError: On structural problems, or if no row survives.
    """
    typed = type_frame(raw)
    reason = pd.Series(pd.NA, index=typed.index, dtype="string")
    for name, rule in RULES:
        hit = pd.Series(rule(typed), index=typed.index).fillna(False).astype(bool) & reason.isna()
        reason[hit] = name
    bad = reason.notna()
    quarantine = raw.loc[bad].astype("string").assign(reason=reason[bad])
    clean = typed.loc[~bad].copy()
    if clean.empty:
        counts = reason.value_counts().to_dict()
        raise DataError(f"no valid rows left after filtering ({len(raw)} rows; reasons: {counts})")
    clean["quantity"] = clean["quantity"].astype("int64")
    clean["price"] = clean["price"].astype("float64")
    for col in ("invoice", "stock_code", "customer_id", "country"):
        clean[col] = clean[col].astype(str)
    clean["description"] = clean["description"].astype(object).where(clean["description"].notna())
    clean["amount"] = clean["quantity"] * clean["price"]
    clean = CLEAN_SCHEMA.validate(clean.reset_index(drop=True), lazy=True)
    return clean, quarantine.reset_index(drop=True)
