"""Step: load the latest feature values into the online store."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step

from retail_mlops.features import feast_store
from retail_mlops.names import A
from steps.client import stack_feature_store


@step(enable_cache=False)
def materialize_online_store(
    customer_table: str, item_table: str, end: str
) -> Annotated[dict[str, Any], A.MATERIALIZATION]:
    """Backfill each view the first time, then incrementally, up to `end`.

    Args:
        customer_table: Offline table of customer_features written upstream.
        item_table: Offline table of item_daily_features written upstream.
        end: Materialize rows with timestamps before this date (YYYY-MM-DD).

    Returns:
        For each view, "backfill" or "incremental".
    """
    tables = (customer_table, item_table)
    views = [
        name for name in feast_store.VIEWS if any(t.endswith(f"{name}.parquet") for t in tables)
    ]
    done = feast_store.materialize(stack_feature_store(), views, pd.Timestamp(end).to_pydatetime())
    log_metadata(metadata={"views": done, "end": end}, infer_artifact=True)
    return done
