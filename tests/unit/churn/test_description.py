"""Unit tests for retail_mlops/churn/description.py: the registry texts say what the model is."""

from __future__ import annotations

import pytest

from retail_mlops.churn.description import churn_model_description, churn_version_description
from retail_mlops.churn.model import LABEL
from retail_mlops.features.customer import FEATURE_COLUMNS


def test_model_description_states_target_label_and_every_feature() -> None:
    text = churn_model_description(90, FEATURE_COLUMNS)
    assert "no order in the 90 days after a cutoff" in text
    assert f"`{LABEL}`" in text
    assert "[cutoff, cutoff + 90 days)" in text
    assert f"**Features** ({len(FEATURE_COLUMNS)}," in text
    assert all(f"`{f}`" in text for f in FEATURE_COLUMNS)


def test_version_description_adds_the_data_window() -> None:
    text = churn_version_description(90, FEATURE_COLUMNS, "2010-03-01", "2011-09-01")
    assert text.startswith(churn_model_description(90, FEATURE_COLUMNS))
    assert "cutoffs 2010-03-01 .. 2011-09-01" in text
    assert "tested on 2011-09-01 (held out)" in text
    assert "orders before 2011-11-30" in text  # 2011-09-01 + 90 days


def test_horizon_changes_the_label_text() -> None:
    text = churn_version_description(30, ["total_orders"], "2010-03-01", "2010-06-01")
    assert "no order in the 30 days" in text
    assert "orders before 2010-07-01" in text
    assert "90" not in text


@pytest.mark.parametrize(
    ("horizon", "features", "first", "test", "match"),
    [
        (0, FEATURE_COLUMNS, "2010-03-01", "2011-09-01", "horizon_days must be positive"),
        (90, [], "2010-03-01", "2011-09-01", "needs its feature list"),
        (90, FEATURE_COLUMNS, "2011-09-01", "2011-09-01", "is not after first cutoff"),
    ],
)
def test_bad_inputs_are_refused(
    horizon: int, features: list[str], first: str, test: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        churn_version_description(horizon, features, first, test)
