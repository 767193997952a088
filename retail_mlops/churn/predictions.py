"""Score customers and write predictions atomically to Parquet and DuckDB."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xgboost as xgb
from pydantic import Field

from retail_mlops.churn.model import predict_churn
from retail_mlops.config import Params

TABLE = "churn_predictions"


class PredictionsParams(Params):
    """Where batch predictions are written."""

    output_dir: str = Field(default="", description="Folder for the Parquet file (default: state)")


def score(
    model: xgb.XGBClassifier, features: pd.DataFrame, model_version: int, run_id: str
) -> pd.DataFrame:
    """One row per customer: probability, the model version and run that produced it."""
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].astype(str).to_numpy(),
            "cutoff": pd.to_datetime(features["cutoff"]).to_numpy(),
            "churn_probability": predict_churn(model, features),
            "model_version": int(model_version),
            "run_id": run_id,
            "scored_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
        }
    )


def write_duckdb(df: pd.DataFrame, db_path: Path, table: str = TABLE) -> int:
    """Replace this run's rows in `table` inside one transaction; return the table's row count."""
    import duckdb

    db_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM df LIMIT 0")
        con.execute(f"DELETE FROM {table} WHERE run_id IN (SELECT DISTINCT run_id FROM df)")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM df")  # by name, not position
        con.execute("COMMIT")
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
