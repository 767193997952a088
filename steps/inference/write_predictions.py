"""Step: write predictions to a Parquet file and a DuckDB table, atomically."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.churn.predictions import TABLE, PredictionsParams, write_duckdb
from retail_mlops.io import write_parquet_atomic
from retail_mlops.names import A
from retail_mlops.paths import resolve, state_dir

logger = get_logger(__name__)


DEFAULTS = PredictionsParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def write_predictions(
    predictions: pd.DataFrame, output_dir: str = DEFAULTS.output_dir
) -> Annotated[str, A.PREDICTIONS_PATH]:
    """Write `churn_predictions.parquet` and upsert this run's rows into `predictions.duckdb`.

    Args:
        predictions: Output of `predict_churn`.
        output_dir: Folder for the files; empty means `<state>/predictions`.

    Returns:
        The Parquet path.
    """
    params = PredictionsParams.of(locals())
    folder = resolve(params.output_dir) if params.output_dir else state_dir() / "predictions"
    path = write_parquet_atomic(predictions, folder / "churn_predictions.parquet")
    total = write_duckdb(predictions, folder / "predictions.duckdb")
    logger.info(
        "wrote %d predictions to %s and DuckDB table %s (%d rows in all)",
        len(predictions),
        path,
        TABLE,
        total,
    )
    log_metadata(
        metadata={
            "rows": len(predictions),
            "path": str(path),
            "duckdb": str(folder / "predictions.duckdb"),
        },
        infer_artifact=True,
    )
    return str(path)
