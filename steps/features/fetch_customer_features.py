"""Step: customer features for an entity frame through Feast's point-in-time join."""

from typing import Annotated

import pandas as pd
from zenml import step

from retail_mlops.errors import DataError
from retail_mlops.features import feast_store
from retail_mlops.names import A
from steps.client import stack_feature_store


@step(enable_cache=False)
def fetch_customer_features(
    entities: pd.DataFrame, offline_table: str
) -> Annotated[pd.DataFrame, A.CUSTOMER_DATASET]:
    """Join each (customer_id, event_timestamp) with the latest snapshot at or before it.

    Training and scoring both come through here, so they cannot skew.

    Args:
        entities: customer_id, event_timestamp and optionally `churned`.
        offline_table: The offline table written upstream (orders this step after the write).

    Returns:
        customer_id, cutoff, the features, and `churned` when the entities carry it.

    Raises:
        DataError: If the entity frame lacks columns or an entity finds no snapshot.
    """
    keep = [c for c in ("customer_id", "event_timestamp", "churned") if c in entities.columns]
    if keep[:2] != ["customer_id", "event_timestamp"]:
        raise DataError(f"entity frame needs customer_id and event_timestamp, got {keep}")
    data = feast_store.historical_features(
        stack_feature_store(), entities[keep], "customer_features"
    )
    features = feast_store.view_columns("customer_features")
    missing = data[features].isna().all(axis=1)
    if missing.any():
        raise DataError(
            f"{int(missing.sum())} entities found no feature snapshot in "
            f"{offline_table} (first: {data.loc[missing].iloc[0].to_dict()})"
        )
    return data.rename(columns={"event_timestamp": "cutoff"})
