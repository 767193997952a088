"""Step: customer features and churn labels at monthly cutoffs."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step

from steps.features._customer import build_churn_dataset as _build
from steps.features._customer import monthly_cutoffs
from steps.names import A


@step
def build_churn_dataset(
    transactions: pd.DataFrame,
    first_cutoff: str,
    last_train_cutoff: str,
    test_cutoff: str,
    horizon_days: int = 90,
    active_window_days: int = 3650,
) -> Annotated[pd.DataFrame, A.TRAIN_SET]:
    """Features as of each cutoff (from earlier invoices only) and the churn label after it.

    Args:
        transactions: Clean invoice lines.
        first_cutoff: First monthly training cutoff (YYYY-MM-DD).
        last_train_cutoff: Last monthly training cutoff.
        test_cutoff: The held-out cutoff, later than every training label window.
        horizon_days: A customer churns if they buy nothing this many days after the cutoff.
        active_window_days: Only customers with an order this many days before a cutoff count.

    Returns:
        One row per (customer, cutoff) with features and `churned`.

    Raises:
        DataError: If a label window runs past the data or no customer qualifies.
    """
    cutoffs = [*monthly_cutoffs(first_cutoff, last_train_cutoff), pd.Timestamp(test_cutoff)]
    data = _build(transactions, cutoffs, horizon_days, active_window_days)
    log_metadata(
        metadata={
            "rows": len(data),
            "cutoffs": len(cutoffs),
            "churn_rate": float(data["churned"].mean()),
        },
        infer_artifact=True,
    )
    return data
