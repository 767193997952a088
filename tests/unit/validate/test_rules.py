"""Unit tests for retail_mlops/validate/rules.py: typing raw invoice lines, quarantining bad rows.

Raw frames use the canonical column names with every value a string, as the CSV reader gives
them, and the source's US-style dates ('12/1/2009 7:45').
"""

from __future__ import annotations

import pandas as pd
import pytest

from retail_mlops.errors import DataError
from retail_mlops.ingest.sources import CANONICAL_COLUMNS
from retail_mlops.validate.rules import split_quarantine

GOOD = {
    "invoice": "489434",
    "stock_code": "85048",
    "description": "15CM CHRISTMAS GLASS BALL 20 LIGHTS",
    "quantity": "12",
    "invoice_date": "12/1/2009 7:45",
    "price": "6.95",
    "customer_id": "13085.0",
    "country": "United Kingdom",
}


def _raw(*overrides: dict[str, str | None]) -> pd.DataFrame:
    """One raw row per override dict, each a copy of GOOD with some fields replaced."""
    rows = [{**GOOD, **o} for o in overrides]
    return pd.DataFrame(rows, columns=CANONICAL_COLUMNS, dtype=object)


# (override, expected reason)
BAD_ROWS: list[tuple[dict[str, str | None], str]] = [
    ({"invoice": "C489449", "quantity": "-12"}, "cancelled_invoice"),
    ({"invoice": "C489450"}, "cancelled_invoice"),
    ({"quantity": "0"}, "non_positive_quantity"),
    ({"quantity": "-3"}, "non_positive_quantity"),
    ({"price": "0"}, "non_positive_price"),
    ({"price": "-11.06"}, "non_positive_price"),
    ({"customer_id": None}, "missing_customer_id"),
    ({"customer_id": ""}, "missing_customer_id"),
    ({"invoice_date": "not a date"}, "unparsable_date"),
    ({"invoice_date": None}, "unparsable_date"),
    ({"quantity": "twelve"}, "unparsable_quantity"),
    ({"price": "abc"}, "unparsable_price"),
    ({"invoice": "A506401"}, "non_numeric_invoice"),
    ({"quantity": "1.5"}, "fractional_quantity"),
]


@pytest.mark.parametrize(("override", "reason"), BAD_ROWS, ids=[r for _, r in BAD_ROWS])
def test_bad_row_is_quarantined_with_reason_and_raw_values(
    override: dict[str, str | None], reason: str
) -> None:
    raw = _raw({}, override)
    clean, quarantine = split_quarantine(raw)
    assert len(clean) == 1
    assert len(quarantine) == 1
    row = quarantine.iloc[0]
    assert row["reason"] == reason
    for col in CANONICAL_COLUMNS:
        expected = raw.loc[1, col]
        if expected is None:
            assert pd.isna(row[col]), col
        else:
            assert row[col] == expected, col  # the raw text, not the typed value


def test_first_matching_rule_wins() -> None:
    # cancelled with a negative quantity and a missing customer: cancellation is reported
    _, quarantine = split_quarantine(
        _raw({}, {"invoice": "C1", "quantity": "-1", "customer_id": None})
    )
    assert quarantine["reason"].tolist() == ["cancelled_invoice"]
    # unparsable date is checked before everything else
    _, quarantine = split_quarantine(_raw({}, {"invoice": "C1", "invoice_date": "??"}))
    assert quarantine["reason"].tolist() == ["unparsable_date"]


def test_quarantine_keeps_raw_columns_plus_reason() -> None:
    _, quarantine = split_quarantine(_raw({}, {"price": "abc"}))
    assert list(quarantine.columns) == [*CANONICAL_COLUMNS, "reason"]
    assert quarantine.loc[0, "price"] == "abc"
    assert quarantine.loc[0, "customer_id"] == "13085.0"  # raw, not normalised


def test_clean_rows_are_typed_with_amount() -> None:
    raw = _raw(
        {},
        {
            "invoice": "489435",
            "quantity": "3",
            "price": "2.5",
            "customer_id": "12346",
            "invoice_date": "1/31/2010 17:05",
            "description": None,
        },
    )
    clean, quarantine = split_quarantine(raw)
    assert quarantine.empty
    assert list(clean.columns) == [*CANONICAL_COLUMNS, "amount"]
    assert clean["quantity"].dtype == "int64"
    assert clean["price"].dtype == "float64"
    assert clean["amount"].dtype == "float64"
    assert str(clean["invoice_date"].dtype) == "datetime64[ns]"
    assert clean["quantity"].tolist() == [12, 3]
    assert clean["price"].tolist() == pytest.approx([6.95, 2.5])
    assert clean["amount"].tolist() == pytest.approx([12 * 6.95, 3 * 2.5])
    assert clean["invoice_date"].tolist() == [
        pd.Timestamp("2009-12-01 07:45"),
        pd.Timestamp("2010-01-31 17:05"),
    ]
    assert clean["invoice"].tolist() == ["489434", "489435"]
    assert clean["country"].tolist() == ["United Kingdom", "United Kingdom"]
    assert pd.isna(clean.loc[1, "description"])


@pytest.mark.parametrize("raw_id", ["13085.0", "13085", " 13085 ", "13085.00"])
def test_customer_id_is_normalised_to_integer_text(raw_id: str) -> None:
    clean, _ = split_quarantine(_raw({"customer_id": raw_id}))
    assert clean.loc[0, "customer_id"] == "13085"


def test_non_integer_customer_id_is_quarantined() -> None:
    clean, quarantine = split_quarantine(_raw({}, {"customer_id": "13085.5"}))
    assert len(clean) == 1
    assert quarantine["reason"].tolist() == ["missing_customer_id"]


@pytest.mark.parametrize("raw_id", ["-1", "-13085.0"])
def test_negative_customer_id_is_quarantined(raw_id: str) -> None:
    # found by the fuzz test: "-1" passed the rules and then failed the clean schema
    clean, quarantine = split_quarantine(_raw({}, {"customer_id": raw_id}))
    assert len(clean) == 1
    assert quarantine["reason"].tolist() == ["missing_customer_id"]


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2010-03-04T05:06:00Z", "2010-03-04 05:06"),
        ("2010-03-04 07:06:00+02:00", "2010-03-04 05:06"),
    ],
)
def test_iso_dates_with_an_offset_become_naive_utc(text: str, utc: str) -> None:
    # found by the fuzz test: an aware timestamp made the column objects (a schema traceback)
    clean, quarantine = split_quarantine(_raw({}, {"invoice_date": text}))
    assert quarantine.empty
    assert clean["invoice_date"].dtype == "datetime64[ns]"
    assert clean.loc[1, "invoice_date"] == pd.Timestamp(utc)


def test_a_price_whose_amount_would_overflow_is_quarantined() -> None:
    clean, quarantine = split_quarantine(_raw({}, {"price": "1e308"}))
    assert len(clean) == 1
    assert quarantine["reason"].tolist() == ["implausible_price"]


def test_iso_dates_are_accepted_as_fallback() -> None:
    clean, quarantine = split_quarantine(_raw({}, {"invoice_date": "2010-03-04 05:06:00"}))
    assert quarantine.empty
    assert clean.loc[1, "invoice_date"] == pd.Timestamp("2010-03-04 05:06")


def test_whitespace_is_stripped_from_text_columns() -> None:
    clean, _ = split_quarantine(
        _raw({"invoice": " 489434 ", "stock_code": " 85048 ", "country": " France "})
    )
    assert clean.loc[0, "invoice"] == "489434"
    assert clean.loc[0, "stock_code"] == "85048"
    assert clean.loc[0, "country"] == "France"


def test_no_row_is_lost() -> None:
    raw = _raw({}, *[o for o, _ in BAD_ROWS], {"invoice": "500000"}, {"quantity": "7"})
    clean, quarantine = split_quarantine(raw)
    assert len(clean) + len(quarantine) == len(raw)
    assert len(clean) == 3
    assert sorted(quarantine["reason"]) == sorted(r for _, r in BAD_ROWS)


def test_non_default_index_is_handled() -> None:
    raw = _raw({}, {"price": "0"}, {"quantity": "2"})
    raw.index = [10, 5, 7]
    clean, quarantine = split_quarantine(raw)
    assert list(clean.index) == [0, 1]
    assert clean["quantity"].tolist() == [12, 2]
    assert quarantine["reason"].tolist() == ["non_positive_price"]


@pytest.mark.parametrize("column", CANONICAL_COLUMNS)
def test_missing_column_raises_naming_it(column: str) -> None:
    raw = _raw({}).drop(columns=[column])
    with pytest.raises(DataError, match=f"missing column.*{column}"):
        split_quarantine(raw)


def test_empty_input_raises() -> None:
    with pytest.raises(DataError, match="no rows"):
        split_quarantine(_raw({}).iloc[0:0])


def test_no_valid_rows_left_raises() -> None:
    raw = _raw({"invoice": "C1"}, {"quantity": "0"})
    with pytest.raises(DataError, match="no valid rows left") as info:
        split_quarantine(raw)
    assert "cancelled_invoice" in str(info.value)
    assert "non_positive_quantity" in str(info.value)


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("price", "abc", "numbers"),
        ("quantity", "many", "numbers"),
        ("invoice_date", "yesterday", "dates"),
    ],
)
def test_wholly_unparsable_column_raises(column: str, value: str, kind: str) -> None:
    raw = _raw({column: value}, {column: value})
    with pytest.raises(DataError, match=f"column '{column}' has no parsable {kind}"):
        split_quarantine(raw)


# --- rows that once slipped through: missing text fields, non-finite and huge numbers ---------


@pytest.mark.parametrize("column", ["stock_code", "country"])
def test_missing_text_field_is_quarantined(column: str) -> None:
    clean, quarantine = split_quarantine(_raw({}, {column: None}))
    assert "<NA>" not in clean[column].tolist()
    assert len(quarantine) == 1


@pytest.mark.parametrize(
    "override",
    [{"quantity": "inf"}, {"quantity": "1e30"}, {"price": "inf"}],
    ids=["quantity-inf", "quantity-1e30", "price-inf"],
)
def test_non_finite_numbers_are_quarantined(override: dict[str, str]) -> None:
    clean, quarantine = split_quarantine(_raw({}, override))
    assert len(clean) == 1
    assert len(quarantine) == 1
