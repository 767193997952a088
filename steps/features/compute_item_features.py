"""Step: item-per-day demand features (calendar, lags, past-only windows) with DuckDB."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from retail_mlops.features.item import ItemFeatureParams, daily_item_demand, item_daily_features
from retail_mlops.ingest.sources import content_hash
from retail_mlops.names import A

DEFAULTS = ItemFeatureParams()  # the step's defaults; bounds and types are the model's


@step
def compute_item_features(
    transactions: pd.DataFrame,
    lags: list[int] = DEFAULTS.lags,
    windows: list[int] = DEFAULTS.windows,
) -> tuple[Annotated[pd.DataFrame, A.ITEM_FEATURES], Annotated[str, A.ITEM_SOURCE_HASH]]:
    """Dense item x day features; closed days stay explicit (NULL demand, `is_open` = 0).

    Args:
        transactions: Clean invoice lines.
        lags: Lag days (default 1, 7, 14, 28); the Feast view defines the default set.
        windows: Rolling window lengths in days (default 7, 28, 91).

    Returns:
        stock_code, event_timestamp (the day) and the features; the input's content hash.

    Raises:
        DataError: If the lines lack a column or are empty.
    """
    daily = daily_item_demand(transactions)
    params = ItemFeatureParams.of(locals())
    feats = item_daily_features(daily, tuple(params.lags), tuple(params.windows))
    feats = feats.rename(columns={"date": "event_timestamp"})
    source_hash = content_hash(transactions)
    log_metadata(
        metadata={
            "rows": len(feats),
            "items": int(feats["stock_code"].nunique()),
            "source_data_hash": source_hash,
        },
        artifact_name=A.ITEM_FEATURES,
        infer_artifact=True,
    )
    return feats, source_hash
