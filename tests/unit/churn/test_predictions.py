"""Unit tests for retail_mlops/churn/predictions.py: DuckDB upserts of batch predictions."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from retail_mlops.churn.predictions import TABLE, write_duckdb


def _predictions(run_id: str, n: int, version: int = 1, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [str(13000 + offset + i) for i in range(n)],
            "cutoff": pd.Timestamp("2011-12-01"),
            "churn_probability": [round(0.1 * (i + 1), 3) for i in range(n)],
            "model_version": version,
            "run_id": run_id,
            "scored_at": pd.Timestamp("2011-12-02 03:04:05"),
        }
    )


# --- write_duckdb -----------------------------------------------------------------------------


def _rows(db: Path) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {TABLE} ORDER BY run_id, customer_id").fetchdf()
    finally:
        con.close()


def test_write_duckdb_creates_table_and_returns_count(tmp_path: Path) -> None:
    db = tmp_path / "db" / "predictions.duckdb"
    df = _predictions("r1", 3)
    assert write_duckdb(df, db) == 3
    got = _rows(db)
    assert list(got.columns) == list(df.columns)
    assert got["customer_id"].tolist() == df["customer_id"].tolist()
    assert got["churn_probability"].tolist() == pytest.approx(df["churn_probability"].tolist())


def test_write_duckdb_rerun_replaces_same_run(tmp_path: Path) -> None:
    db = tmp_path / "predictions.duckdb"
    assert write_duckdb(_predictions("r1", 3), db) == 3
    rerun = _predictions("r1", 3, version=2)
    assert write_duckdb(rerun, db) == 3
    got = _rows(db)
    assert len(got) == 3
    assert set(got["model_version"]) == {2}
    # a rerun with fewer rows replaces all of that run's rows
    assert write_duckdb(_predictions("r1", 2, version=3), db) == 2
    assert set(_rows(db)["model_version"]) == {3}


def test_write_duckdb_new_run_appends(tmp_path: Path) -> None:
    db = tmp_path / "predictions.duckdb"
    write_duckdb(_predictions("r1", 3), db)
    assert write_duckdb(_predictions("r2", 2, offset=100), db) == 5
    got = _rows(db)
    assert got.groupby("run_id").size().to_dict() == {"r1": 3, "r2": 2}
    # rerunning r2 leaves r1 untouched
    assert write_duckdb(_predictions("r2", 2, offset=100), db) == 5
    assert _rows(db).groupby("run_id").size().to_dict() == {"r1": 3, "r2": 2}


def test_write_duckdb_custom_table(tmp_path: Path) -> None:
    db = tmp_path / "predictions.duckdb"
    assert write_duckdb(_predictions("r1", 2), db, table="other_predictions") == 2
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    finally:
        con.close()
    assert tables == {"other_predictions"}


def test_write_duckdb_matches_columns_by_name(tmp_path: Path) -> None:
    db = tmp_path / "predictions.duckdb"
    write_duckdb(_predictions("r1", 2), db)
    second = _predictions("r2", 2, offset=100)
    cols = list(second.columns)
    cols[1], cols[5] = cols[5], cols[1]  # cutoff <-> scored_at: both timestamps, no cast error
    write_duckdb(second[cols], db)
    got = _rows(db)
    assert set(got.loc[got["run_id"] == "r2", "cutoff"]) == {pd.Timestamp("2011-12-01")}
