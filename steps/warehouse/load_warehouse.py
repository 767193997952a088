"""Step: load the validated lines into the warehouse and (re)create the feature view."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.names import A
from retail_mlops.warehouse.database import Warehouse
from retail_mlops.warehouse.scoring import check_cutoff

logger = get_logger(__name__)


@step(enable_cache=False)
def load_warehouse(
    transactions: pd.DataFrame,
    quarantine: pd.DataFrame,
    scoring_cutoff: str,
    active_window_days: int,
) -> Annotated[dict[str, Any], A.WAREHOUSE_LOAD]:
    """Replace `invoice_lines` (quarantine beside it), set the cutoff, create `customer_features`.

    The warehouse is `RETAIL_MLOPS_WAREHOUSE_URL` (environment only: URLs carry passwords),
    else the embedded DuckDB file. Each replacement is one transaction.

    Args:
        transactions: Validated clean lines.
        quarantine: The rows validation held back, with their reason.
        scoring_cutoff: The as-of date the view computes the features for.
        active_window_days: Customers with an order this many days before the cutoff.

    Returns:
        The engine, the row counts and the cutoff (no URL: it may hold a password).

    Raises:
        DataError: If the cutoff is outside the data.
    """
    check_cutoff(transactions, scoring_cutoff)
    with Warehouse.connect() as warehouse:
        warehouse.load_lines(transactions, quarantine)
        (cutoff,) = warehouse.set_cutoffs([scoring_cutoff])
        warehouse.create_feature_view(active_window_days)
        summary: dict[str, Any] = {
            "dialect": warehouse.dialect,
            "lines": len(transactions),
            "quarantined": len(quarantine),
            "cutoff": str(cutoff.date()),
            "active_window_days": int(active_window_days),
        }
    logger.info(
        "loaded %d lines (%d quarantined) into the %s warehouse; features as of %s",
        summary["lines"],
        summary["quarantined"],
        summary["dialect"],
        summary["cutoff"],
    )
    log_metadata(metadata=summary, infer_artifact=True)
    return summary
