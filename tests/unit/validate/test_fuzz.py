"""Fuzz the ingest and validation path with arbitrary invoice files.

Whatever the file holds (mixed types, garbage dates, huge and negative numbers, unicode, blank
and duplicate headers, truncated gzip, binary noise), reading and validating it either raises
the project's `DataError` (one readable line for the CLI) or splits it so that every input row
is either clean or quarantined with a reason: counts are conserved, nothing is dropped silently,
and never another exception (a traceback for the user).
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_mlops.errors import DataError
from retail_mlops.ingest.sources import RAW_TO_CANONICAL, read_source
from retail_mlops.validate.rules import split_quarantine

HEADERS = list(RAW_TO_CANONICAL)
GOOD = {
    "Invoice": "536365",
    "StockCode": "85123A",
    "Description": "WHITE HANGING HEART T-LIGHT HOLDER",
    "Quantity": "6",
    "InvoiceDate": "2010-12-01 08:26:00",
    "Price": "2.55",
    "Customer ID": "17850.0",
    "Country": "United Kingdom",
}
NUMBERS = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e308", "-1e309", "0x1F", "1,5", " 3 ", "NaN", "inf", "--2", "", "٣"]),
)
DATES = st.one_of(
    st.datetimes().map(str),
    st.sampled_from(
        ["2010-13-45 99:99", "31/12/2010 10:00", "0000-00-00", "yesterday", "", "2010-12-01T08:26Z"]
    ),
)
TEXT = st.text(max_size=30)  # any unicode, commas, quotes, newlines included
FIELD = {
    "Invoice": st.one_of(TEXT, st.sampled_from(["C536379", "A563185", "536365"])),
    "StockCode": st.one_of(TEXT, st.sampled_from(["POST", "85123A", " ", "M"])),
    "Description": TEXT,
    "Quantity": NUMBERS,
    "InvoiceDate": DATES,
    "Price": NUMBERS,
    "Customer ID": st.one_of(NUMBERS, TEXT),
    "Country": TEXT,
}


@st.composite
def invoice_csv(draw: st.DrawFn) -> bytes:
    """A CSV whose header may lose, repeat or add columns and whose rows mix good and garbage."""
    header = list(HEADERS)
    if draw(st.booleans()):
        header.append(draw(st.sampled_from([*HEADERS, "", "Extra", "Ünïcode"])))  # duplicate/extra
    if draw(st.integers(0, 9)) == 0:
        header.remove(draw(st.sampled_from(HEADERS)))
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        row = {h: GOOD.get(h, "") for h in header}
        for h in draw(st.sets(st.sampled_from(header), max_size=len(header))):
            row[h] = draw(FIELD.get(h, TEXT))
        rows.append([row[h] for h in header])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _read_and_split(path: Path) -> tuple[object, ...] | str:
    """(raw, lineage, clean, quarantine), or the DataError's message; any other error escapes."""
    try:
        raw, lineage = read_source({"kind": "file", "path": str(path)})
        return raw, lineage, *split_quarantine(raw)
    except DataError as exc:
        return str(exc)


def _check(path: Path) -> None:
    result = _read_and_split(path)
    if isinstance(result, str):
        assert result.strip(), "an empty error message"
        assert "\n" not in result.strip(), f"a multi-line error: {result}"
        return
    raw, lineage, clean, quarantine = result
    assert lineage["row_count"] == len(raw)
    assert len(clean) + len(quarantine) == len(raw)  # every row lands somewhere
    assert quarantine["reason"].notna().all()
    assert (quarantine["reason"].astype(str).str.len() > 0).all()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(content=invoice_csv())
def test_any_invoice_csv_is_split_or_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "lines.csv"
    path.write_bytes(content)
    _check(path)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(content=invoice_csv(), cut=st.floats(0.0, 1.0))
def test_truncated_gzip_is_split_or_refused_in_one_line(
    tmp_path: Path, content: bytes, cut: float
) -> None:
    packed = gzip.compress(content)
    path = tmp_path / "lines.csv.gz"
    path.write_bytes(packed[: int(len(packed) * cut)])
    _check(path)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(noise=st.binary(max_size=2000), suffix=st.sampled_from([".csv", ".csv.gz", ".parquet"]))
def test_binary_noise_is_refused_in_one_line(tmp_path: Path, noise: bytes, suffix: str) -> None:
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(noise)
    _check(path)


def test_the_good_row_is_clean(tmp_path: Path) -> None:
    # the fuzzer's base row really is valid, so the properties above see clean rows too
    path = tmp_path / "one.csv"
    path.write_text(",".join(HEADERS) + "\n" + ",".join(f'"{GOOD[h]}"' for h in HEADERS) + "\n")
    raw, _ = read_source({"kind": "file", "path": str(path)})
    clean, quarantine = split_quarantine(raw)
    assert (len(clean), len(quarantine)) == (1, 0)


pytestmark = pytest.mark.filterwarnings("ignore")
