"""A thin warehouse layer over DuckDB, PostgreSQL and Snowflake: lines, cutoffs, the feature view.

The warehouse holds three tables and one view:

- `invoice_lines`: the validated clean lines (canonical columns plus `amount`);
- `invoice_lines_quarantine`: the rows validation held back, raw text plus their `reason`;
- `feature_cutoffs(cutoff TIMESTAMP)`: the as-of times the view computes;
- `customer_features`: `feature_sql` (retail_mlops/features/customer.py) transpiled for the
  engine, so the view and the offline feature table come from one query (`replace_view`
  installs other views over it the same way, e.g. the compiled model's scores).

Each operation replaces its objects in one transaction, so a failure leaves the previous
contents (or view) as they were. DuckDB and PostgreSQL have transactional DDL, so table
creation, emptying, bulk load and view replacement all roll back together. Snowflake commits
every DDL statement on its own; there the layer does the best Snowflake allows: tables are
created (if missing) first, new rows are staged into a temporary table outside the
transaction, and only DML (DELETE, INSERT ... SELECT) runs inside BEGIN ... COMMIT; the view is
one CREATE OR REPLACE VIEW, which Snowflake applies atomically. A failed Snowflake load can
leave a new, empty table behind, never a half-filled one.

Where the warehouse is: `RETAIL_MLOPS_WAREHOUSE_URL` (environment only, never YAML, as URLs
carry passwords) with `postgresql://...`, `snowflake://user:password@account/db/schema?
warehouse=WH` or `duckdb:///path`; without it, a DuckDB file under the state folder.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import pandas as pd

from retail_mlops.errors import DataError, InfraError
from retail_mlops.features.customer import ACTIVE_WINDOW_DAYS, feature_frame, feature_sql
from retail_mlops.ingest.sources import CANONICAL_COLUMNS
from retail_mlops.paths import state_dir
from retail_mlops.warehouse.sql import transpile

WAREHOUSE_URL_ENV: Final = "RETAIL_MLOPS_WAREHOUSE_URL"
LINES_TABLE: Final = "invoice_lines"
QUARANTINE_TABLE: Final = "invoice_lines_quarantine"
CUTOFFS_TABLE: Final = "feature_cutoffs"
FEATURE_VIEW: Final = "customer_features"

# Logical column types; each engine spells them in `_TYPES`.
LINE_COLUMNS: Final = {
    "invoice": "text",
    "stock_code": "text",
    "description": "text",
    "quantity": "int",
    "invoice_date": "timestamp",
    "price": "float",
    "customer_id": "text",
    "country": "text",
    "amount": "float",
}
QUARANTINE_COLUMNS: Final = {**{c: "text" for c in CANONICAL_COLUMNS}, "reason": "text"}
CUTOFF_COLUMNS: Final = {"cutoff": "timestamp"}

# PostgreSQL text compares by the database's locale unless told otherwise; "C" compares bytes,
# as DuckDB and Snowflake do, so the view breaks order ties (ROW_NUMBER by invoice) alike.
_TYPES: Final = {
    "duckdb": {"text": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "timestamp": "TIMESTAMP"},
    "postgres": {
        "text": 'TEXT COLLATE "C"',
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "timestamp": "TIMESTAMP",
    },
    "snowflake": {
        "text": "VARCHAR",
        "int": "BIGINT",
        "float": "DOUBLE",
        "timestamp": "TIMESTAMP_NTZ",
    },
}
_PG_BINARY_TYPES: Final = {
    "text": "text",
    "int": "int8",
    "float": "float8",
    "timestamp": "timestamp",
}


@dataclass(frozen=True)
class _Table:
    """A table's name, logical columns and (for a load) its new rows."""

    name: str
    columns: dict[str, str]
    rows: pd.DataFrame | None = None

    def column_sql(self, dialect: str) -> str:
        return ", ".join(f"{c} {_TYPES[dialect][t]}" for c, t in self.columns.items())

    def create_sql(self, dialect: str) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({self.column_sql(dialect)})"


def _python_columns(frame: pd.DataFrame, columns: dict[str, str]) -> list[list[Any]]:
    """Each column as a list of plain Python values, missing values as None (SQL NULL).

    Drivers that copy row by row (psycopg) need Python scalars, and NaN, NaT and pd.NA must all
    become NULL rather than a 'NaN' float or text.
    """
    out: list[list[Any]] = []
    for name, kind in columns.items():
        col = frame[name]
        missing = col.isna().to_numpy()
        if kind == "timestamp":
            # datetime64[us] -> datetime.datetime (NaT -> None), without a pd.Timestamp per row
            stamps = pd.to_datetime(col).to_numpy().astype("datetime64[us]")
            values: list[Any] = stamps.astype(object).tolist()
        elif kind == "text":
            values = [v if isinstance(v, str) else str(v) for v in col.astype(object).tolist()]
        else:
            values = col.astype(object).tolist()  # numpy scalars become int / float
        out.append([None if m else v for v, m in zip(values, missing, strict=True)])
    return out


def _typed_frame(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """The frame cut to `columns`, in their order, text as pandas strings, times as datetimes."""
    out = frame[list(columns)].copy()
    for name, kind in columns.items():
        if kind == "text":
            out[name] = out[name].astype("string")  # missing stays missing, not "nan"
        elif kind == "timestamp":
            out[name] = pd.to_datetime(out[name])
    return out


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what} lack column(s): {', '.join(missing)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- engines: one small adapter per driver ------------------------------------------------------


class _Engine(ABC):
    """What the warehouse needs from a driver: statements, a transaction, a bulk load, a fetch."""

    dialect: str = ""

    @abstractmethod
    def execute(self, sql: str) -> None:
        """Run one statement."""

    @abstractmethod
    def fetch(self, sql: str) -> pd.DataFrame:
        """Run one query; its rows."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """Commit on exit, roll back on an exception."""

    def replace_rows(self, tables: Sequence[_Table]) -> None:
        """Create the tables if missing and swap their rows for the new ones, atomically."""
        with self.transaction():
            for table in tables:
                self.execute(table.create_sql(self.dialect))
                self.execute(f"DELETE FROM {table.name}")
                if table.rows is not None and len(table.rows):
                    self.insert(table)

    def execute_ddl(self, statements: Sequence[str]) -> None:
        """Run DDL statements as one transaction (transactional DDL)."""
        with self.transaction():
            for sql in statements:
                self.execute(sql)

    @abstractmethod
    def insert(self, table: _Table) -> None:
        """Bulk-insert `table.rows`, inside the caller's transaction."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""


class _DuckDB(_Engine):
    dialect = "duckdb"

    def __init__(self, path: Path) -> None:
        import duckdb

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(str(path))
        except duckdb.Error as exc:
            raise InfraError(f"cannot open DuckDB warehouse {path}: {_first_line(exc)}") from exc
        self.path = path

    def execute(self, sql: str) -> None:
        self._con.execute(sql)

    def fetch(self, sql: str) -> pd.DataFrame:
        return self._con.execute(sql).df()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._con.begin()
        try:
            yield
        except BaseException:
            self._con.rollback()
            raise
        self._con.commit()

    def insert(self, table: _Table) -> None:
        assert table.rows is not None
        frame = _typed_frame(table.rows, table.columns)
        cols = ", ".join(table.columns)
        self._con.register("_retail_mlops_rows", frame)
        try:
            self._con.execute(
                f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM _retail_mlops_rows"
            )
        finally:
            self._con.unregister("_retail_mlops_rows")

    def close(self) -> None:
        self._con.close()


class _Postgres(_Engine):
    dialect = "postgres"

    def __init__(self, url: str, connect_timeout_s: int = 10) -> None:
        import psycopg

        parts = urlsplit(url)
        try:
            where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        except ValueError:  # a port that is not a number
            raise DataError("the PostgreSQL URL's port is not a number") from None
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in url:
            options["connect_timeout"] = connect_timeout_s
        try:
            self._conn = psycopg.connect(url, **options)
        except psycopg.Error as exc:
            reason = _first_line(exc)
            if parts.password:
                reason = reason.replace(parts.password, "***")
            raise InfraError(f"cannot reach PostgreSQL at {where}: {reason}") from None
        self.where = where
        # The compiled model is thousands of CASE expressions: PostgreSQL's JIT spends minutes
        # compiling them for a query that runs in seconds without it (20k rows: 58-150 s with
        # JIT, 1.7 s without). Off for this session; a DBA's own sessions may want the same.
        self._conn.execute("SET jit = off")

    def execute(self, sql: str) -> None:
        self._conn.execute(sql)

    def fetch(self, sql: str) -> pd.DataFrame:
        cur = self._conn.execute(sql)
        names = [d.name for d in cur.description or []]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def replace_rows(self, tables: Sequence[_Table]) -> None:
        # TRUNCATE instead of DELETE: same transactional effect, no dead rows to vacuum
        with self.transaction():
            for table in tables:
                self.execute(table.create_sql(self.dialect))
                self.execute(f"TRUNCATE {table.name}")
                if table.rows is not None and len(table.rows):
                    self.insert(table)

    def insert(self, table: _Table) -> None:
        """COPY in binary: a million lines in seconds, where INSERTs would take minutes."""
        assert table.rows is not None
        cols = ", ".join(table.columns)
        types = [_PG_BINARY_TYPES[t] for t in table.columns.values()]
        values = _python_columns(table.rows, table.columns)
        with (
            self._conn.cursor() as cur,
            cur.copy(f"COPY {table.name} ({cols}) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(types)
            for row in zip(*values, strict=True):
                copy.write_row(row)

    def close(self) -> None:
        self._conn.close()


class _Snowflake(_Engine):
    dialect = "snowflake"

    def __init__(self, params: dict[str, Any]) -> None:
        import snowflake.connector

        self.where = str(params.get("account") or "the default account")
        try:
            self._conn = snowflake.connector.connect(**params)
        except snowflake.connector.errors.Error as exc:
            reason = _first_line(exc)
            password = params.get("password")
            if password:
                reason = reason.replace(str(password), "***")
            raise InfraError(f"cannot reach Snowflake account {self.where}: {reason}") from None

    def execute(self, sql: str) -> None:
        with self._conn.cursor() as cur:
            cur.execute(sql)

    def fetch(self, sql: str) -> pd.DataFrame:
        with self._conn.cursor() as cur:
            cur.execute(sql)
            out = cur.fetch_pandas_all()
        # unquoted identifiers come back upper-case; the project's SQL names them lower-case
        return out.rename(columns=str.lower)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def replace_rows(self, tables: Sequence[_Table]) -> None:
        # DDL commits on its own in Snowflake, and write_pandas creates a stage: both run
        # before the transaction, which holds only DML and so is atomic.
        staged: list[tuple[_Table, str]] = []
        try:
            for table in tables:
                self.execute(table.create_sql(self.dialect))
                staging = _Table(f"{table.name}__staging", table.columns, table.rows)
                staged.append((table, staging.name))
                columns = staging.column_sql(self.dialect)
                self.execute(f"CREATE OR REPLACE TEMPORARY TABLE {staging.name} ({columns})")
                if staging.rows is not None and len(staging.rows):
                    self.insert(staging)
            with self.transaction():
                for table, staging_name in staged:
                    cols = ", ".join(table.columns)
                    self.execute(f"DELETE FROM {table.name}")
                    self.execute(
                        f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {staging_name}"
                    )
        finally:
            for _, staging_name in staged:
                self.execute(f"DROP TABLE IF EXISTS {staging_name}")

    def insert(self, table: _Table) -> None:
        """write_pandas: Parquet files through a stage and COPY INTO, Snowflake's bulk path."""
        from snowflake.connector.pandas_tools import write_pandas

        assert table.rows is not None
        write_pandas(
            self._conn,
            _typed_frame(table.rows, table.columns),
            table.name,
            quote_identifiers=False,
            use_logical_type=True,  # datetimes land as TIMESTAMP_NTZ, not as numbers
        )

    def execute_ddl(self, statements: Sequence[str]) -> None:
        # each DDL statement commits on its own; CREATE OR REPLACE VIEW swaps atomically
        for sql in statements:
            self.execute(sql)

    def close(self) -> None:
        self._conn.close()


def snowflake_params(url: str) -> dict[str, Any]:
    """`snowflake.connector.connect` arguments from `snowflake://user:password@account/db/schema?k=v`.

    Query parameters (warehouse, role, authenticator, ...) pass through as they are.
    """
    parts = urlsplit(url)
    account = parts.netloc.rsplit("@", 1)[-1]
    params: dict[str, Any] = {"account": account} if account else {}
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    path = [unquote(p) for p in parts.path.split("/") if p]
    if path:
        params["database"] = path[0]
    if len(path) > 1:
        params["schema"] = path[1]
    params.update(parse_qsl(parts.query))
    return params


def default_duckdb_path() -> Path:
    """The embedded warehouse file: `<state>/warehouse/retail.duckdb`."""
    return state_dir() / "warehouse" / "retail.duckdb"


class Warehouse:
    """One open warehouse connection: DuckDB file, PostgreSQL or Snowflake.

    Open it with `Warehouse.connect()` (the environment's URL, else the DuckDB file) or with
    `duckdb`, `postgres` or `snowflake`; close it, or use it as a context manager.
    """

    def __init__(self, engine: _Engine) -> None:
        self._engine = engine

    @classmethod
    def duckdb(cls, path: str | Path | None = None) -> Warehouse:
        """A DuckDB file (created if missing); default `default_duckdb_path()`.

        Raises:
            InfraError: If the file cannot be opened (another process holds its lock).
        """
        return cls(_DuckDB(Path(path) if path is not None else default_duckdb_path()))

    @classmethod
    def postgres(cls, url: str | None = None) -> Warehouse:
        """A PostgreSQL database by URL; default the `RETAIL_MLOPS_WAREHOUSE_URL` variable.

        Raises:
            InfraError: If no URL is given or set, or the server cannot be reached (the message
                names host and port, never the password).
        """
        url = url or os.environ.get(WAREHOUSE_URL_ENV)
        if not url:
            raise InfraError(f"no PostgreSQL URL: set {WAREHOUSE_URL_ENV}")
        return cls(_Postgres(url))

    @classmethod
    def snowflake(cls, **connect_args: Any) -> Warehouse:
        """A Snowflake database; `connect_args` go to `snowflake.connector.connect`.

        Raises:
            InfraError: If the connector cannot connect (the message names the account).
        """
        return cls(_Snowflake(connect_args))

    @classmethod
    def connect(cls, url: str | None = None) -> Warehouse:
        """The warehouse at `url`, else at `RETAIL_MLOPS_WAREHOUSE_URL`, else the DuckDB file.

        Raises:
            DataError: If the URL's scheme is none of duckdb, postgresql, snowflake.
            InfraError: If the warehouse cannot be reached.
        """
        url = url or os.environ.get(WAREHOUSE_URL_ENV)
        if not url:
            return cls.duckdb()
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("postgresql", "postgres"):
            return cls.postgres(url)
        if scheme == "snowflake":
            return cls.snowflake(**snowflake_params(url))
        if scheme == "duckdb":
            path = unquote(url.split(":", 1)[1].removeprefix("//"))
            return cls.duckdb(path or None)
        raise DataError(
            f"{WAREHOUSE_URL_ENV} has scheme {scheme!r} (choose duckdb, postgresql, snowflake)"
        )

    @property
    def dialect(self) -> str:
        """The engine's SQL dialect: duckdb, postgres or snowflake."""
        return self._engine.dialect

    def load_lines(self, clean: pd.DataFrame, quarantine: pd.DataFrame | None = None) -> None:
        """Replace `invoice_lines` (and `invoice_lines_quarantine`) in one transaction.

        Both tables describe one ingest, so they are replaced together: without a quarantine
        frame the quarantine table is emptied, not left from an earlier load.

        Args:
            clean: Validated lines with `LINE_COLUMNS` (the clean frame of `split_quarantine`).
            quarantine: The held-back rows with the canonical columns and `reason`.

        Raises:
            DataError: If a frame lacks a column.
        """
        _require(clean, LINE_COLUMNS, "clean invoice lines")
        if quarantine is not None:
            _require(quarantine, QUARANTINE_COLUMNS, "quarantined lines")
        self._engine.replace_rows(
            [
                _Table(LINES_TABLE, dict(LINE_COLUMNS), clean),
                _Table(QUARANTINE_TABLE, dict(QUARANTINE_COLUMNS), quarantine),
            ]
        )

    def set_cutoffs(self, cutoffs: Iterable[pd.Timestamp | str]) -> list[pd.Timestamp]:
        """Replace `feature_cutoffs` with these as-of times (deduplicated, sorted).

        Returns:
            The cutoffs written.

        Raises:
            DataError: If a value is not a time.
        """
        try:
            stamps = sorted({pd.Timestamp(c) for c in cutoffs})
        except (TypeError, ValueError) as exc:
            raise DataError(f"a cutoff is not a time: {_first_line(exc)}") from exc
        rows = pd.DataFrame({"cutoff": pd.to_datetime(stamps).astype("datetime64[us]")})
        self._engine.replace_rows([_Table(CUTOFFS_TABLE, dict(CUTOFF_COLUMNS), rows)])
        return stamps

    @staticmethod
    def feature_view_statements(
        dialect: str, active_window_days: int = ACTIVE_WINDOW_DAYS
    ) -> list[str]:
        """The DDL behind `customer_features` for `dialect`, no connection needed.

        The tables it reads (`CREATE TABLE IF NOT EXISTS`, with this layer's column types),
        then `CREATE OR REPLACE VIEW customer_features AS <feature_sql, transpiled>`: what
        `create_feature_view` runs, and what a DBA reviews.

        Raises:
            DataError: On an unknown dialect.
        """
        source = feature_sql(LINES_TABLE, CUTOFFS_TABLE, active_window_days)
        view = transpile(f"CREATE OR REPLACE VIEW {FEATURE_VIEW} AS {source}", dialect)
        tables = [_Table(LINES_TABLE, dict(LINE_COLUMNS)), _Table(CUTOFFS_TABLE, CUTOFF_COLUMNS)]
        return [*(t.create_sql(dialect) for t in tables), view]

    def create_feature_view(self, active_window_days: int = ACTIVE_WINDOW_DAYS) -> str:
        """(Re)create the `customer_features` view over the lines and cutoffs tables.

        Missing tables are created empty in the same transaction, so the view exists even
        before the first load; on failure the previous view stays.

        Returns:
            The view statement that ran.
        """
        statements = self.feature_view_statements(self.dialect, active_window_days)
        self._engine.execute_ddl(statements)
        return statements[-1]

    def replace_view(self, statement: str) -> None:
        """Run one `CREATE OR REPLACE VIEW` (in this engine's dialect) atomically.

        On DuckDB and PostgreSQL inside a transaction; Snowflake applies the one statement
        atomically itself. On failure the previous view stays.
        """
        self._engine.execute_ddl([statement])

    def query(self, sql: str) -> pd.DataFrame:
        """Run one query in the engine's own dialect; its rows as a DataFrame.

        Column names are lower-case on every engine (Snowflake returns unquoted names in
        upper case). For DuckDB-dialect SQL, pass it through `transpile(sql, self.dialect)`.
        """
        return self._engine.fetch(sql)

    def read_features(self) -> pd.DataFrame:
        """The `customer_features` view, typed as `customer_feature_snapshots` returns it."""
        rows = self.query(f"SELECT * FROM {FEATURE_VIEW} ORDER BY cutoff, customer_id")
        return feature_frame(rows)

    def close(self) -> None:
        """Close the connection."""
        self._engine.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
