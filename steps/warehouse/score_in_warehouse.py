"""Step: compile the champion to SQL, install it as `churn_scores`, score in the warehouse."""

from typing import Annotated, Any

import xgboost as xgb
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from retail_mlops.names import A
from retail_mlops.warehouse.database import Warehouse
from retail_mlops.warehouse.scoring import (
    SCORES_VIEW,
    WarehouseScoringParams,
    install_model,
)

logger = get_logger(__name__)

DEFAULTS = WarehouseScoringParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def score_in_warehouse(
    model: xgb.XGBClassifier,
    model_version: int,
    warehouse_load: dict[str, Any],
    group_size: int = DEFAULTS.group_size,
) -> Annotated[dict[str, Any], A.WAREHOUSE_SCORES]:
    """Install the champion's trees as the view `churn_scores` and count what it scores.

    The scores never leave the database: the step reads back one count and the spread of
    the probabilities, and records the SQL's hash, so the run says exactly what ran.

    Args:
        model: The champion classifier.
        model_version: Its MLflow version, a column of the view.
        warehouse_load: What `load_warehouse` loaded (its engine and cutoff).
        group_size: Most trees in one SQL expression.

    Returns:
        Row count, model version, run id, the SQL's length and sha256.
    """
    params = WarehouseScoringParams.of(locals())
    run_id = str(get_step_context().pipeline_run.id)
    with Warehouse.connect() as warehouse:
        compiled = install_model(
            warehouse, model, model_version, run_id=run_id, group_size=params.group_size
        )
        stats = warehouse.query(
            f"SELECT count(*) AS n, avg(churn_probability) AS mean_probability, "
            f"min(churn_probability) AS min_probability, "
            f"max(churn_probability) AS max_probability FROM {SCORES_VIEW}"
        ).iloc[0]
    summary = {
        "dialect": compiled.dialect,
        "view": SCORES_VIEW,
        "rows": int(stats["n"]),
        "mean_probability": float(stats["mean_probability"]),
        "min_probability": float(stats["min_probability"]),
        "max_probability": float(stats["max_probability"]),
        "model_version": compiled.model_version,
        "run_id": run_id,
        "cutoff": warehouse_load["cutoff"],
        "sql_sha256": compiled.sha256,
        "sql_chars": len(compiled.statement),
        "features": list(compiled.features),
    }
    logger.info(
        "scored %d customers in %s with the champion v%d compiled to SQL (%d characters)",
        summary["rows"],
        compiled.dialect,
        compiled.model_version,
        summary["sql_chars"],
    )
    log_metadata(metadata=summary)  # on the step run, where the dashboard shows it
    return summary
