"""Step: customer feature snapshots at the given cutoffs (DuckDB)."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from retail_mlops.features.customer import customer_feature_snapshots
from retail_mlops.ingest.sources import content_hash
from retail_mlops.names import A


@step
def compute_customer_features(
    transactions: pd.DataFrame, cutoffs: list[str], active_window_days: int
) -> tuple[Annotated[pd.DataFrame, A.CUSTOMER_FEATURES], Annotated[str, A.SOURCE_HASH]]:
    """Features of every active customer as of each cutoff, from earlier lines only.

    Args:
        transactions: Clean invoice lines.
        cutoffs: Snapshot times (YYYY-MM-DD).
        active_window_days: Only customers with an order this many days before a cutoff.

    Returns:
        customer_id, event_timestamp and the features; and the input's content hash (lineage).

    Raises:
        DataError: If the lines lack a column.
    """
    feats = customer_feature_snapshots(transactions, cutoffs, active_window_days)
    feats = feats.rename(columns={"cutoff": "event_timestamp"})
    source_hash = content_hash(transactions)
    log_metadata(
        metadata={"rows": len(feats), "snapshots": len(cutoffs), "source_data_hash": source_hash},
        artifact_name=A.CUSTOMER_FEATURES,
        infer_artifact=True,
    )
    return feats, source_hash
