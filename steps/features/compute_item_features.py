"""Step: item-day features (levels, lags, price) of the daily demand, for Feast's item view."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from retail_mlops.features.item import ItemHistory
from retail_mlops.forecasting.demand import Panel
from retail_mlops.ingest.sources import content_hash
from retail_mlops.names import A


@step
def compute_item_features(
    demand: pd.DataFrame,
) -> tuple[Annotated[pd.DataFrame, A.ITEM_FEATURES], Annotated[str, A.ITEM_SOURCE_HASH]]:
    """One row per listed item and open day (and the day after the data), past-only.

    The same engine the global forecasting model reads at every origin, so what the feature
    store serves and what the model trained on cannot differ.

    Args:
        demand: Daily demand from `build_daily_demand` (stock_code, ds, y, price).

    Returns:
        stock_code, event_timestamp and the features; the demand's content hash.
    """
    panel = Panel.from_long(demand)
    feats = ItemHistory(panel.y, panel.price, panel.dates).table(panel.skus)
    source_hash = content_hash(demand)
    log_metadata(
        metadata={
            "rows": len(feats),
            "items": len(panel.skus),
            "days": len(panel.dates) + 1,
            "source_data_hash": source_hash,
        },
        artifact_name=A.ITEM_FEATURES,
        infer_artifact=True,
    )
    return feats, source_hash
