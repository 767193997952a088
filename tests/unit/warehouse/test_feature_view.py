"""The churn features as a warehouse view, on DuckDB, a real PostgreSQL, and Snowflake (fakesnow).

One query (`feature_sql`) feeds both Feast's offline table (`customer_feature_snapshots`) and the
`customer_features` view; transpiled for each engine, the view must give the same 21 features on
the committed real subset. DuckDB agrees up to the order of floating-point sums (DuckDB's own
run-to-run noise, ~1e-14); PostgreSQL and Snowflake to 1e-9 relative. PostgreSQL is a throw-away
cluster (tests/servers.py), skipped with the reason when the server binaries are missing.
fakesnow runs the Snowflake SQL on DuckDB, so it proves the SQL parses and means the same there,
not that Snowflake itself accepts every name: `test_rendered_view_avoids_names_the_target_lacks`
guards the known silent mistranslations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.errors import DataError, InfraError
from retail_mlops.features.customer import (
    FEATURE_COLUMNS,
    customer_feature_snapshots,
    feature_sql,
    monthly_cutoffs,
)
from retail_mlops.ingest.sources import CANONICAL_COLUMNS
from retail_mlops.warehouse import database
from retail_mlops.warehouse.database import (
    FEATURE_VIEW,
    LINES_TABLE,
    QUARANTINE_TABLE,
    WAREHOUSE_URL_ENV,
    Warehouse,
    default_duckdb_path,
)
from retail_mlops.warehouse.sql import transpile
from tests.servers import free_port

# monthly snapshots plus one mid-day cutoff: an invoice of that day straddles it
CUTOFFS = [*monthly_cutoffs("2010-03-01", "2010-08-01"), pd.Timestamp("2010-06-15 12:30")]
WINDOW = 365
KEY = ["cutoff", "customer_id"]
ENGINES = ["duckdb", "postgres", "snowflake"]
# DuckDB sums doubles in thread order: the offline table itself varies in the last bits
TOLERANCE = {"duckdb": 1e-12, "postgres": 1e-9, "snowflake": 1e-9}

pytestmark = pytest.mark.filterwarnings(
    # fakesnow's fetch_pandas_all copies DuckDB's arrow result; harmless, and not ours
    "ignore:Arrow output on a DB-API result:UserWarning"
)


@pytest.fixture
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse on the engine named by the test's `engine` parameter."""
    engine = request.param
    with ExitStack() as stack:
        if engine == "duckdb":
            wh = Warehouse.duckdb(tmp_path / "warehouse.duckdb")
        elif engine == "postgres":
            wh = Warehouse.postgres(_fresh_database(request.getfixturevalue("postgres_url")))
        else:
            import fakesnow

            stack.enter_context(fakesnow.patch())
            wh = Warehouse.snowflake(database="retail", schema="public")
        stack.callback(wh.close)
        yield wh


def _fresh_database(url: str) -> str:
    """A new, empty database on the module's server, so tests never see each other's tables."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


engines = pytest.mark.parametrize("warehouse", ENGINES, indirect=True)


@pytest.fixture(scope="module")
def snapshots(subset_clean: pd.DataFrame) -> pd.DataFrame:
    """The offline table Feast's store gets, for the test cutoffs."""
    snaps = customer_feature_snapshots(subset_clean, CUTOFFS, active_window_days=WINDOW)
    return snaps.sort_values(KEY, ignore_index=True)


def _quarantine(n: int = 3) -> pd.DataFrame:
    rows = {c: [f"{c}-{i}" for i in range(n)] for c in CANONICAL_COLUMNS}
    return pd.DataFrame({**rows, "reason": ["missing_customer"] * n}, dtype="string")


def _fill(wh: Warehouse, lines: pd.DataFrame, window: int = WINDOW) -> None:
    wh.load_lines(lines, _quarantine())
    wh.set_cutoffs(CUTOFFS)
    wh.create_feature_view(window)


def _count(wh: Warehouse, table: str) -> int:
    return int(wh.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])


def _assert_same_features(got: pd.DataFrame, want: pd.DataFrame, rtol: float) -> None:
    got = got.sort_values(KEY, ignore_index=True)
    assert list(got.columns) == ["customer_id", "cutoff", *FEATURE_COLUMNS]
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=rtol, atol=1e-12)


# --- the view equals the offline table ------------------------------------------------------------


@engines
def test_view_equals_offline_snapshots(
    warehouse: Warehouse, subset_clean: pd.DataFrame, snapshots: pd.DataFrame
) -> None:
    _fill(warehouse, subset_clean)
    got = warehouse.read_features()
    assert set(got["cutoff"]) == set(CUTOFFS)
    assert len(got) > 1000  # not vacuous
    assert got[FEATURE_COLUMNS].isna().any().any()  # NULLs (std of one order) survive as NaN
    _assert_same_features(got, snapshots, TOLERANCE[warehouse.dialect])
    assert _count(warehouse, LINES_TABLE) == len(subset_clean)
    assert _count(warehouse, QUARANTINE_TABLE) == 3


@pytest.mark.parametrize("warehouse", ["postgres"], indirect=True)
def test_postgres_view_with_a_short_window(
    warehouse: Warehouse, subset_clean: pd.DataFrame
) -> None:
    _fill(warehouse, subset_clean, window=30)
    want = customer_feature_snapshots(subset_clean, CUTOFFS, active_window_days=30)
    _assert_same_features(warehouse.read_features(), want.sort_values(KEY, ignore_index=True), 1e-9)


def test_warehouse_url_selects_the_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(WAREHOUSE_URL_ENV, raising=False)
    with Warehouse.connect() as wh:
        assert wh.dialect == "duckdb"
    assert default_duckdb_path().exists()
    monkeypatch.setenv(WAREHOUSE_URL_ENV, f"duckdb://{tmp_path}/other.duckdb")
    with Warehouse.connect() as wh:
        assert wh.dialect == "duckdb"
    assert (tmp_path / "other.duckdb").exists()
    monkeypatch.setenv(WAREHOUSE_URL_ENV, "mysql://u:secret@db/x")
    with pytest.raises(DataError, match="scheme 'mysql'") as err:
        Warehouse.connect()
    assert "secret" not in str(err.value)


def test_warehouse_url_reaches_postgres(monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:
    monkeypatch.setenv(WAREHOUSE_URL_ENV, postgres_url)
    with Warehouse.connect() as wh:
        assert wh.dialect == "postgres"
        assert wh.query("SELECT 1 AS one")["one"].tolist() == [1]


def test_snowflake_url_becomes_connector_arguments() -> None:
    url = "snowflake://bob:p%40ss@xy12345.eu-west-1/RETAIL/PUBLIC?warehouse=WH&role=ANALYST"
    assert database.snowflake_params(url) == {
        "account": "xy12345.eu-west-1",
        "user": "bob",
        "password": "p@ss",
        "database": "RETAIL",
        "schema": "PUBLIC",
        "warehouse": "WH",
        "role": "ANALYST",
    }


# --- transpile ----------------------------------------------------------------------------------


def test_transpile_rejects_an_unknown_dialect() -> None:
    with pytest.raises(
        DataError, match=r"^unknown dialect 'mysql' \(choose duckdb, postgres, snowflake\)$"
    ):
        transpile("SELECT 1", "mysql")


def test_transpile_raises_on_a_construct_the_target_cannot_express() -> None:
    # DuckDB's PIVOT statement has no PostgreSQL form; sqlglot knows and refuses
    with pytest.raises(DataError, match="cannot be rendered for postgres: PIVOT unsupported"):
        transpile("PIVOT lines ON stock_code USING sum(amount)", "postgres")


def test_transpile_raises_on_sql_that_does_not_parse() -> None:
    with pytest.raises(DataError, match="does not parse as duckdb"):
        transpile("SELECT FROM WHERE (", "postgres")


@pytest.mark.parametrize(
    ("dialect", "absent"),
    [
        # sqlglot renders these DuckDB names as-is (or wrongly) without raising
        ("postgres", ["DAYOFWEEK_ISO", "EPOCH_US", "TO_DAYS", "ARG_MAX", "FIRST(", "DATE_DIFF("]),
        ("snowflake", ["ISODOW", "EPOCH_SECOND", "FILTER(", "ARG_MAX", "MAX_BY", "TO_DAYS"]),
    ],
)
def test_rendered_view_avoids_names_the_target_lacks(dialect: str, absent: list[str]) -> None:
    rendered = transpile(feature_sql(LINES_TABLE, "feature_cutoffs", WINDOW), dialect).upper()
    assert [name for name in absent if name in rendered] == []


@pytest.mark.parametrize("amount_type", ["DOUBLE", "DECIMAL(12, 2)"])
def test_every_division_and_feature_is_floating_point(amount_type: str) -> None:
    """`/` on integers is integer division in PostgreSQL and 6-decimal NUMBER in Snowflake.

    sqlglot's type inference over the source query: the left side of every division is DOUBLE
    and so is every feature, even where the warehouse keeps amounts as decimals.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify

    lines = {c: "VARCHAR" for c in database.LINE_COLUMNS}
    lines |= {"quantity": "BIGINT", "invoice_date": "TIMESTAMP", "price": amount_type}
    schema = {LINES_TABLE: lines | {"amount": amount_type}, "cutoffs": {"cutoff": "TIMESTAMP"}}
    tree = sqlglot.parse_one(feature_sql(LINES_TABLE, "cutoffs", WINDOW), read="duckdb")
    tree = annotate_types(qualify(tree, schema=schema, dialect="duckdb"), schema=schema)
    divisions = list(tree.find_all(exp.Div))
    assert len(divisions) >= 10
    assert {d.sql(): d.this.type.sql() for d in divisions if d.this.type.sql() != "DOUBLE"} == {}
    assert isinstance(tree, exp.Select)
    types = {s.alias_or_name: s.type.sql() for s in tree.selects}
    assert {c: types[c] for c in FEATURE_COLUMNS if types[c] != "DOUBLE"} == {}


@pytest.mark.parametrize("dialect", ENGINES)
def test_feature_view_statements_need_no_connection(dialect: str) -> None:
    *tables, view = Warehouse.feature_view_statements(dialect, 1234)
    assert [t.split("(")[0] for t in tables] == [
        f"CREATE TABLE IF NOT EXISTS {LINES_TABLE} ",
        "CREATE TABLE IF NOT EXISTS feature_cutoffs ",
    ]
    assert view.startswith(f"CREATE OR REPLACE VIEW {FEATURE_VIEW} AS")
    assert re.search(r"INTERVAL '1234( DAY'|' DAY)", view)  # the window, as a literal
    # PostgreSQL compares text bytewise, as the other two do, only when told to
    assert ('COLLATE "C"' in tables[0]) == (dialect == "postgres")


def test_feature_view_statements_refuse_an_unknown_dialect() -> None:
    with pytest.raises(DataError, match="unknown dialect 'oracle'"):
        Warehouse.feature_view_statements("oracle")


# --- connection errors --------------------------------------------------------------------------


def test_unreachable_postgres_is_an_infra_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"postgresql://alice:hunter2-secret@127.0.0.1:{free_port()}/retail"
    with pytest.raises(InfraError, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:") as err:
        Warehouse.postgres(url)
    message = str(err.value)
    assert "hunter2" not in message
    assert "\n" not in message
    monkeypatch.setenv(WAREHOUSE_URL_ENV, url)
    with pytest.raises(InfraError, match=r"127\.0\.0\.1") as err:
        Warehouse.connect()
    assert "hunter2" not in str(err.value)


def test_postgres_without_a_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WAREHOUSE_URL_ENV, raising=False)
    with pytest.raises(InfraError, match=WAREHOUSE_URL_ENV):
        Warehouse.postgres()


# --- nothing half-written -----------------------------------------------------------------------


@engines
def test_a_bad_row_leaves_the_previous_lines(
    warehouse: Warehouse, subset_clean: pd.DataFrame, snapshots: pd.DataFrame
) -> None:
    _fill(warehouse, subset_clean)
    bad = subset_clean.head(100).astype({"quantity": object})
    bad.loc[bad.index[-1], "quantity"] = "many"  # fails in the bulk load, after the emptying
    with pytest.raises(Exception):  # noqa: B017, PT011 (each driver has its own error type)
        warehouse.load_lines(bad)
    assert _count(warehouse, LINES_TABLE) == len(subset_clean)
    assert _count(warehouse, QUARANTINE_TABLE) == 3
    _assert_same_features(warehouse.read_features(), snapshots, TOLERANCE[warehouse.dialect])


@engines
def test_a_failure_inside_the_load_rolls_back_both_tables(
    warehouse: Warehouse, subset_clean: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(warehouse, subset_clean)
    _fail_when_quarantine_is_written(warehouse, monkeypatch)
    # by then the lines table is emptied and refilled with 10 rows, inside the transaction
    with pytest.raises(RuntimeError, match="injected"):
        warehouse.load_lines(subset_clean.head(10), _quarantine(5))
    assert _count(warehouse, LINES_TABLE) == len(subset_clean)
    assert _count(warehouse, QUARANTINE_TABLE) == 3


def _fail_when_quarantine_is_written(wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inject a fault at the last write of `load_lines`, inside its transaction.

    DuckDB and PostgreSQL write rows in the transaction (`insert`); Snowflake stages them first
    and copies them in with INSERT ... SELECT (`execute`), so the fault goes there.
    """
    engine: Any = wh._engine  # the seam the fault goes through; no public API offers one
    if wh.dialect == "snowflake":
        execute = engine.execute

        def failing_execute(sql: str) -> None:
            if sql.startswith(f"INSERT INTO {QUARANTINE_TABLE} "):
                raise RuntimeError("injected failure")
            execute(sql)

        monkeypatch.setattr(engine, "execute", failing_execute)
    else:
        insert = engine.insert

        def failing_insert(table: Any) -> None:
            if table.name == QUARANTINE_TABLE:
                raise RuntimeError("injected failure")
            insert(table)

        monkeypatch.setattr(engine, "insert", failing_insert)


@engines
def test_a_failed_view_replacement_keeps_the_previous_view(
    warehouse: Warehouse,
    subset_clean: pd.DataFrame,
    snapshots: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fill(warehouse, subset_clean)
    broken = "SELECT cutoff, no_such_column FROM feature_cutoffs"
    monkeypatch.setattr(database, "feature_sql", lambda *args: broken)
    with pytest.raises(Exception, match=r"(?i)no_such_column"):
        warehouse.create_feature_view(30)
    _assert_same_features(warehouse.read_features(), snapshots, TOLERANCE[warehouse.dialect])


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"], indirect=True)
def test_a_failed_first_view_creates_no_tables(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    # transactional DDL: the tables created for the view roll back with it (not on Snowflake,
    # whose DDL commits statement by statement)
    monkeypatch.setattr(database, "feature_sql", lambda *args: "SELECT no_such_column")
    with pytest.raises(Exception, match=r"(?i)no_such_column"):
        warehouse.create_feature_view()
    tables = warehouse.query(
        "SELECT table_name FROM information_schema.tables "
        f"WHERE table_name IN ('{LINES_TABLE}', 'feature_cutoffs', '{FEATURE_VIEW}')"
    )
    assert tables.empty


# --- the query's own guards ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lines": "lines; DROP TABLE x"}, "not a plain SQL identifier"),
        ({"cutoffs": "snaps s"}, "not a plain SQL identifier"),
        ({"active_window_days": -1}, ">= 0"),
        ({"active_window_days": 1.5}, "must be an integer"),
    ],
)
def test_feature_sql_refuses_text_it_would_paste(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(DataError, match=message):
        feature_sql(**kwargs)


def test_cutoffs_are_deduplicated_and_sorted(tmp_path: Path) -> None:
    with Warehouse.duckdb(tmp_path / "w.duckdb") as wh:
        written = wh.set_cutoffs(["2010-05-01", "2010-04-01", pd.Timestamp("2010-05-01")])
        assert written == [pd.Timestamp("2010-04-01"), pd.Timestamp("2010-05-01")]
        assert _count(wh, "feature_cutoffs") == 2


@engines
def test_the_compiled_model_scores_the_view_as_the_booster_does(
    warehouse: Warehouse, subset_clean: pd.DataFrame, snapshots: pd.DataFrame
) -> None:
    """The champion-like model installed as `churn_scores`, on each engine, within 1e-6."""
    import xgboost as xgb

    from retail_mlops.churn.model import predict_churn
    from retail_mlops.features.customer import churn_labels
    from retail_mlops.warehouse.scoring import install_model, read_scores

    train = snapshots[snapshots["cutoff"] < CUTOFFS[-1]]
    labels = [
        churn_labels(subset_clean, part["customer_id"], cutoff).to_numpy()
        for cutoff, part in train.groupby("cutoff", sort=True)
    ]
    model = xgb.XGBClassifier(n_estimators=150, max_depth=3, learning_rate=0.1, n_jobs=1)
    model.fit(train[FEATURE_COLUMNS], np.concatenate(labels))
    _fill(warehouse, subset_clean)
    install_model(warehouse, model, 5, run_id="r", group_size=40)
    scores = read_scores(warehouse)
    expected = predict_churn(model, snapshots)
    assert scores["customer_id"].tolist() == snapshots["customer_id"].tolist()
    assert np.abs(scores["churn_probability"].to_numpy() - expected).max() <= 1e-6
    assert set(scores["model_version"]) == {5}
