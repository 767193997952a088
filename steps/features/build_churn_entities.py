"""Step: the churn entity frame: customers active at each cutoff, with their label."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from retail_mlops.features.customer import ChurnEntityParams, churn_entities
from retail_mlops.names import A

DEFAULTS = ChurnEntityParams()  # the step's defaults; bounds and types are the model's


@step
def build_churn_entities(
    transactions: pd.DataFrame,
    cutoffs: list[str],
    active_window_days: int,
    horizon_days: int = DEFAULTS.horizon_days,
) -> Annotated[pd.DataFrame, A.CHURN_ENTITIES]:
    """(customer_id, event_timestamp = cutoff, churned) for Feast's point-in-time join.

    Args:
        transactions: Clean invoice lines.
        cutoffs: Training and test cutoffs (YYYY-MM-DD).
        horizon_days: A customer churns if they buy nothing this many days after the cutoff.
        active_window_days: Only customers with an order this many days before a cutoff.

    Returns:
        The entity frame with labels.

    Raises:
        DataError: If a label window runs past the data or no customer qualifies.
    """
    params = ChurnEntityParams.of(locals())
    entities = churn_entities(transactions, cutoffs, params.horizon_days, active_window_days)
    log_metadata(
        metadata={
            "rows": len(entities),
            "cutoffs": len(cutoffs),
            "churn_rate": float(entities["churned"].mean()),
            "horizon_days": params.horizon_days,
        },
        infer_artifact=True,
    )
    return entities
