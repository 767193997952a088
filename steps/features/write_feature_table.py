"""Step: write a feature table to the Feast offline store, with lineage and a quality gate."""

from typing import Annotated

import pandas as pd
from zenml import get_step_context, log_metadata, step
from zenml.logger import get_logger

from retail_mlops.features import feast_store
from retail_mlops.features.feast_store import FeatureTableParams
from retail_mlops.names import A
from steps.client import stack_feature_store

logger = get_logger(__name__)


DEFAULTS = FeatureTableParams()  # the step's defaults; bounds and types are the model's


@step(enable_cache=False)
def write_feature_table(
    features: pd.DataFrame,
    source_hash: str,
    view: str,
    max_null_rate: float = DEFAULTS.max_null_rate,
    max_null_rate_increase: float = DEFAULTS.max_null_rate_increase,
) -> Annotated[str, A.OFFLINE_TABLE]:
    """Check the table against its view, gate on null rates, upsert it, and `feast apply`.

    Args:
        features: Key, event_timestamp and the view's feature columns.
        source_hash: Content hash of the data the features came from (lineage).
        view: Feast feature view name.
        max_null_rate: Largest tolerated null rate of any feature.
        max_null_rate_increase: Largest tolerated rise of a null rate since the last write.

    Returns:
        Path of the view's offline Parquet file.

    Raises:
        DataError: Naming the column on a schema mismatch, or the numbers on a null-rate breach.
    """
    params = FeatureTableParams.of(locals())
    feast_store.check_feature_table(features, view)
    columns = feast_store.view_columns(view)
    summary = feast_store.quality_summary(features, columns)
    feast_store.check_null_rates(
        summary,
        feast_store.previous_summary(view),
        params.max_null_rate,
        params.max_null_rate_increase,
    )
    store = stack_feature_store()
    feast_store.apply_definitions(store)
    path = feast_store.write_offline(features, view, summary)
    from retail_mlops.features.definitions import definition_version

    lineage = {
        "producing_run": get_step_context().pipeline_run.name,
        "source_data_hash": source_hash,
        "definition_version": definition_version(),
        "view": view,
        "path": str(path),
    }
    worst = max(summary["null_rate"].items(), key=lambda kv: kv[1])
    logger.info(
        "%s: wrote %d rows to %s (highest null rate %s %.1f%%)",
        view,
        summary["row_count"],
        path,
        worst[0],
        100 * worst[1],
    )
    log_metadata(metadata={"lineage": lineage, "quality": summary}, infer_artifact=True)
    return str(path)
