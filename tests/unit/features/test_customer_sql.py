"""The DuckDB customer snapshots against the pandas reference, on the committed real subset.

`customer_feature_snapshots` computes every cutoff in one query; the reference
(tests/reference/customer_features.py) is called once per cutoff. They must agree on every
column. `build_churn_dataset` must be exactly the churn entities joined with the snapshots.
"""

from __future__ import annotations

import pandas as pd
import pytest

from retail_mlops.features.customer import (
    FEATURE_COLUMNS,
    build_churn_dataset,
    churn_entities,
    customer_feature_snapshots,
    customer_features,
    monthly_cutoffs,
)
from tests.reference.customer_features import customer_features as reference_features

CUTOFFS = monthly_cutoffs("2010-03-01", "2010-08-01")  # six monthly snapshots
KEY = ["cutoff", "customer_id"]


def _reference(lines: pd.DataFrame, window: int) -> pd.DataFrame:
    frames = [reference_features(lines, c, active_window_days=window) for c in CUTOFFS]
    return pd.concat(frames, ignore_index=True).sort_values(KEY, ignore_index=True)


@pytest.mark.parametrize("window", [365, 30])
def test_snapshots_match_pandas_reference(subset_clean: pd.DataFrame, window: int) -> None:
    sql = customer_feature_snapshots(subset_clean, CUTOFFS, active_window_days=window)
    sql = sql.sort_values(KEY, ignore_index=True)
    ref = _reference(subset_clean, window)
    assert list(sql.columns) == ["customer_id", "cutoff", *FEATURE_COLUMNS]
    assert set(sql["cutoff"]) == set(CUTOFFS)
    assert len(sql) > 100  # not vacuous
    pd.testing.assert_frame_equal(sql, ref, check_exact=False, rtol=1e-9, atol=1e-12)


def test_one_query_equals_one_call_per_cutoff(subset_clean: pd.DataFrame) -> None:
    together = customer_feature_snapshots(subset_clean, CUTOFFS, active_window_days=365)
    apart = pd.concat([customer_features(subset_clean, c) for c in CUTOFFS], ignore_index=True)
    pd.testing.assert_frame_equal(
        together.sort_values(KEY, ignore_index=True), apart.sort_values(KEY, ignore_index=True)
    )


def test_build_churn_dataset_is_entities_joined_with_snapshots(subset_clean: pd.DataFrame) -> None:
    data = build_churn_dataset(subset_clean, CUTOFFS, horizon_days=90, active_window_days=365)
    entities = churn_entities(subset_clean, CUTOFFS, horizon_days=90, active_window_days=365)
    snaps = customer_feature_snapshots(subset_clean, CUTOFFS, active_window_days=365)
    joined = snaps.merge(
        entities.rename(columns={"event_timestamp": "cutoff"}), on=["customer_id", "cutoff"]
    ).sort_values(KEY, ignore_index=True)
    pd.testing.assert_frame_equal(data, joined)
    # every entity finds its features and every snapshot row has a label
    assert len(data) == len(entities) == len(snaps)
    assert set(data["churned"]) == {0, 1}


def test_entity_rule_matches_snapshot_rule_for_invoice_straddling_window_start() -> None:
    rows = [
        # cutoff 2010-05-01, window 365 days: the window starts at 2009-05-01 00:00
        ("A", "1", "2009-04-30 23:59", 10.0, "X", "United Kingdom"),
        ("A", "1", "2009-05-01 00:00", 5.0, "Y", "United Kingdom"),
        ("B", "2", "2010-04-01 10:00", 10.0, "X", "United Kingdom"),
        ("B", "3", "2010-08-01 10:00", 10.0, "X", "United Kingdom"),  # data reach the horizon
    ]
    lines = pd.DataFrame(
        rows, columns=["customer_id", "invoice", "invoice_date", "amount", "stock_code", "country"]
    )
    lines["invoice_date"] = pd.to_datetime(lines["invoice_date"])
    cutoff = ["2010-05-01"]
    entities = churn_entities(lines, cutoff, horizon_days=90, active_window_days=365)
    snaps = customer_feature_snapshots(lines, cutoff, active_window_days=365)
    # the docstring's promise: "the same rule the feature snapshots use, so every entity
    # finds its features"
    assert sorted(entities["customer_id"]) == sorted(snaps["customer_id"])
