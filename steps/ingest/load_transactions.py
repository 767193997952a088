"""Step: read invoice lines from the configured source, recording lineage."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step

from retail_mlops.ingest.sources import read_source
from retail_mlops.names import A


@step
def load_transactions(source: dict[str, Any]) -> Annotated[pd.DataFrame, A.RAW_TRANSACTIONS]:
    """Read the raw invoice lines and attach their lineage as artifact metadata.

    Args:
        source: The `source` block from config: `{kind: dataset}`, `{kind: file, path}`,
            `{kind: sql, url, query}` or `{kind: http, url, page_size}`.

    Returns:
        Raw invoice lines with canonical column names.

    Raises:
        DataError: If the source is missing, unreadable or lacks columns.
    """
    df, lineage = read_source(source)
    log_metadata(
        metadata={"lineage": lineage}, artifact_name=A.RAW_TRANSACTIONS, infer_artifact=True
    )
    return df
