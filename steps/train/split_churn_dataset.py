"""Step: split the churn table by time into train, validation and test."""

from typing import Annotated

import pandas as pd
from zenml import step

from retail_mlops.churn.model import split_by_time
from retail_mlops.names import A


@step
def split_churn_dataset(
    dataset: pd.DataFrame, test_cutoff: str, n_valid_cutoffs: int = 2
) -> tuple[
    Annotated[pd.DataFrame, A.REFERENCE_FEATURES],
    Annotated[pd.DataFrame, A.VALID_SET],
    Annotated[pd.DataFrame, A.TEST_SET],
]:
    """Test = the test cutoff; validation = the latest training cutoffs; never at random.

    Args:
        dataset: Output of `build_churn_dataset`.
        test_cutoff: The held-out cutoff.
        n_valid_cutoffs: How many of the latest training cutoffs form the validation slice.

    Returns:
        Train (also the drift reference for batch inference), validation and test frames.

    Raises:
        DataError: If a split would be empty.
    """
    # ZenML reads the return statement to count outputs: return the tuple literally.
    train, valid, test = split_by_time(dataset, test_cutoff, n_valid_cutoffs)
    return train, valid, test
