"""Descriptions of the churn model for the MLflow registry, so its UI explains the model."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from retail_mlops.churn.model import LABEL


def churn_model_description(horizon_days: int, features: Sequence[str]) -> str:
    """What the registered churn model predicts, its label and its features (Markdown).

    Raises:
        ValueError: If `horizon_days` is not positive or there are no features.
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be positive, got {horizon_days}")
    if not features:
        raise ValueError("a churn model description needs its feature list")
    return "\n\n".join(
        [
            f"Predicts the probability that a customer churns: places no order in the "
            f"{horizon_days} days after a cutoff date. XGBoost binary classifier (native UBJSON "
            f"format), one row per customer active at a monthly cutoff.",
            f"**Label** `{LABEL}`: 1 if the customer has no invoice line in "
            f"[cutoff, cutoff + {horizon_days} days), else 0.",
            f"**Features** ({len(features)}, from invoice lines strictly before the cutoff): "
            + ", ".join(f"`{f}`" for f in features)
            + ".",
        ]
    )


def churn_version_description(
    horizon_days: int, features: Sequence[str], first_cutoff: str, test_cutoff: str
) -> str:
    """The model's description plus this version's data window (Markdown).

    Raises:
        ValueError: As `churn_model_description`, or if the test cutoff is not after the first.
    """
    first, test = pd.Timestamp(first_cutoff), pd.Timestamp(test_cutoff)
    if test <= first:
        raise ValueError(f"test cutoff {test.date()} is not after first cutoff {first.date()}")
    labels_end = test + pd.Timedelta(days=horizon_days)
    window = (
        f"**Data window**: cutoffs {first.date()} .. {test.date()}. Trained and early-stopped on "
        f"the monthly cutoffs from {first.date()} up to before {test.date()}; tested on "
        f"{test.date()} (held out), whose labels read orders before {labels_end.date()}."
    )
    return churn_model_description(horizon_days, features) + "\n\n" + window
