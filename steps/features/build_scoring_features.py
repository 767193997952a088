"""Step: customer features as of the scoring cutoff (no label: the future is unknown)."""

from typing import Annotated

import pandas as pd
from zenml import step

from steps.errors import DataError
from steps.features._customer import customer_features
from steps.names import A


@step
def build_scoring_features(
    transactions: pd.DataFrame, scoring_cutoff: str, active_window_days: int = 3650
) -> Annotated[pd.DataFrame, A.SCORING_FEATURES]:
    """Compute the features of every active customer as of `scoring_cutoff`.

    Args:
        transactions: Clean invoice lines.
        scoring_cutoff: As-of date (YYYY-MM-DD); only earlier invoices are used.
        active_window_days: Only customers with an order this many days before it are scored.

    Returns:
        One row per customer with the same feature columns as training.

    Raises:
        DataError: If no customer is active before the cutoff.
    """
    feats = customer_features(transactions, pd.Timestamp(scoring_cutoff), active_window_days)
    if feats.empty:
        raise DataError(f"no customer has orders before the scoring cutoff {scoring_cutoff}")
    return feats
