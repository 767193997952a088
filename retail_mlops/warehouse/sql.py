"""One SQL source, three engines: DuckDB-dialect SQL rendered for DuckDB, PostgreSQL, Snowflake.

The project writes its warehouse SQL once, in DuckDB's dialect (what the tests and the offline
store run), and sqlglot renders it for the engine at hand. sqlglot is told to raise on anything it
knows it cannot render, so a construct that would be dropped or approximated fails here, at
transpile time, not as a wrong number in a dashboard. It does not catch everything: a few
functions it renders by name into a dialect that lacks them (isodow, epoch_us, first(ORDER BY)),
which is why the feature query in retail_mlops/features/customer.py keeps to plain constructs.
"""

from __future__ import annotations

from typing import Final

from retail_mlops.errors import DataError

DIALECTS: Final = ("duckdb", "postgres", "snowflake")
SOURCE_DIALECT: Final = "duckdb"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def transpile(sql: str, dialect: str) -> str:
    """Render DuckDB-dialect `sql` for `dialect` (duckdb, postgres or snowflake).

    DuckDB is rendered too, not passed through, so every engine runs text that went through the
    same parser (a statement sqlglot cannot read fails for all three alike).

    Args:
        sql: One or more statements in DuckDB's dialect.
        dialect: The target engine.

    Returns:
        The statements for the target, pretty-printed, separated by `;` lines.

    Raises:
        DataError: If the dialect is unknown, the SQL does not parse, or it uses a construct
            sqlglot cannot render faithfully for the target.
    """
    import sqlglot
    from sqlglot.errors import ParseError, UnsupportedError

    if dialect not in DIALECTS:
        raise DataError(f"unknown dialect {dialect!r} (choose {', '.join(DIALECTS)})")
    try:
        statements = sqlglot.transpile(
            sql,
            read=SOURCE_DIALECT,
            write=dialect,
            pretty=True,
            unsupported_level=sqlglot.ErrorLevel.RAISE,
        )
    except UnsupportedError as exc:
        raise DataError(f"SQL cannot be rendered for {dialect}: {_first_line(exc)}") from exc
    except ParseError as exc:
        raise DataError(f"SQL does not parse as {SOURCE_DIALECT}: {_first_line(exc)}") from exc
    return ";\n".join(statements)
