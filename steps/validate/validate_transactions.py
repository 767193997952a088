"""Step: type invoice lines, quarantine bad rows with a reason."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.names import A
from retail_mlops.validate.rules import split_quarantine

logger = get_logger(__name__)


@step
def validate_transactions(
    raw: pd.DataFrame,
) -> tuple[Annotated[pd.DataFrame, A.TRANSACTIONS], Annotated[pd.DataFrame, A.QUARANTINE]]:
    """Split raw lines into clean typed lines and a quarantine artifact.

    Args:
        raw: Raw invoice lines from `load_transactions`.

    Returns:
        The clean lines (meeting the pandera contract) and the quarantined lines with `reason`.

    Raises:
        DataError: On a missing column, a wrongly typed file, or nothing left after filtering.
    """
    clean, quarantine = split_quarantine(raw)
    counts = {str(k): int(v) for k, v in quarantine["reason"].value_counts().items()}
    logger.info(
        "validated %d rows: %d clean, %d quarantined %s",
        len(raw),
        len(clean),
        len(quarantine),
        counts,
    )
    log_metadata(
        metadata={"quarantined_rows": len(quarantine), "reasons": counts},
        artifact_name=A.QUARANTINE,
        infer_artifact=True,
    )
    log_metadata(
        metadata={"clean_rows": len(clean), "customers": int(clean["customer_id"].nunique())},
        artifact_name=A.TRANSACTIONS,
        infer_artifact=True,
    )
    return clean, quarantine
