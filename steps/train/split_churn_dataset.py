"""Step: split the churn table by time into train, validation and test."""

from typing import Annotated

import pandas as pd
from zenml import step

from retail_mlops.churn.model import SplitParams, split_by_time
from retail_mlops.names import A

DEFAULTS = SplitParams()  # the step's defaults; bounds and types are the model's


@step
def split_churn_dataset(
    dataset: pd.DataFrame, test_cutoff: str, n_valid_cutoffs: int = DEFAULTS.n_valid_cutoffs
) -> tuple[
    Annotated[pd.DataFrame, A.REFERENCE_FEATURES],
    Annotated[pd.DataFrame, A.VALID_SET],
    Annotated[pd.DataFrame, A.TEST_SET],
]:
    """Test = the test cutoff; validation = the latest training cutoffs; never at random.

    Args:
        dataset: Labelled features from `fetch_customer_features`.
        test_cutoff: The held-out cutoff.
        n_valid_cutoffs: How many of the latest training cutoffs form the validation slice.

    Returns:
        Train (also the drift reference for batch inference), validation and test frames.

    Raises:
        DataError: If a split would be empty.
    """
    # ZenML reads the return statement to count outputs: return the tuple literally.
    params = SplitParams.of(locals())
    train, valid, test = split_by_time(dataset, test_cutoff, params.n_valid_cutoffs)
    return train, valid, test
