"""Unit tests for retail_mlops/monitoring/performance.py: maturity, outcomes, metrics, calibration.

Outcomes and the end-to-end window use the committed subset's real invoice lines; the metric
and calibration arithmetic use small hand-made arrays whose answers are known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retail_mlops.churn.metrics import classification_metrics
from retail_mlops.errors import DataError
from retail_mlops.features.customer import churn_labels, customer_feature_snapshots
from retail_mlops.monitoring.performance import (
    RELIABILITY_COLUMNS,
    performance_metrics,
    precision_at_top,
    reliability_plot,
    reliability_table,
    window_matured,
    window_outcomes,
)

# --- window_matured -----------------------------------------------------------------------------


def test_window_matured_exactly_at_the_horizon() -> None:
    assert window_matured("2011-03-01", "2011-05-30", horizon_days=90)
    assert not window_matured("2011-03-01", "2011-05-29 23:59", horizon_days=90)


def test_window_matured_uses_the_window_end_not_its_start() -> None:
    data_end = pd.Timestamp("2011-12-09 11:20")
    assert window_matured("2011-09-01", data_end)  # + 90 days = 2011-11-30
    assert not window_matured("2011-10-01", data_end)  # + 90 days = 2011-12-30


def test_window_matured_rejects_a_non_positive_horizon() -> None:
    with pytest.raises(DataError, match="horizon_days must be positive"):
        window_matured("2011-03-01", "2011-12-01", horizon_days=0)


# --- window_outcomes on real lines ----------------------------------------------------------------


@pytest.fixture(scope="module")
def march_scores(subset_clean: pd.DataFrame) -> pd.DataFrame:
    """Customers as of 2011-03-01 with a recency score standing in for the model."""
    feats = customer_feature_snapshots(subset_clean, ["2011-03-01"], active_window_days=365)
    return pd.DataFrame(
        {
            "customer_id": feats["customer_id"],
            "cutoff": feats["cutoff"],
            "churn_probability": 1 - np.exp(-feats["days_since_last_order"] / 60.0),
        }
    )


def test_window_outcomes_are_churn_labels(
    subset_clean: pd.DataFrame, march_scores: pd.DataFrame
) -> None:
    out = window_outcomes(march_scores, subset_clean)
    expected = churn_labels(subset_clean, march_scores["customer_id"], pd.Timestamp("2011-03-01"))
    assert out.name == "churned"
    assert out.index.equals(march_scores.index)
    assert out.tolist() == expected.tolist()
    assert 0 < out.mean() < 1


def test_window_outcomes_per_as_of_of_a_service_log(subset_clean: pd.DataFrame) -> None:
    ids = sorted(subset_clean["customer_id"].astype(str).unique())[:20]
    log = pd.DataFrame(
        {
            "entity_id": ids * 2,
            "as_of": [pd.Timestamp("2011-02-01")] * 20 + [pd.Timestamp("2011-06-01")] * 20,
        }
    )
    out = window_outcomes(log, subset_clean, id_column="entity_id", as_of_column="as_of")
    for when, rows in log.groupby("as_of"):
        labels = churn_labels(subset_clean, rows["entity_id"], pd.Timestamp(when))
        assert out.loc[rows.index].tolist() == labels.tolist()


def test_window_outcomes_refuse_an_immature_window(
    subset_clean: pd.DataFrame, march_scores: pd.DataFrame
) -> None:
    late = march_scores.assign(cutoff=pd.Timestamp("2011-10-01"))
    with pytest.raises(DataError, match="not observable yet"):
        window_outcomes(late, subset_clean)


def test_window_outcomes_name_a_missing_column(subset_clean: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="predictions lack column"):
        window_outcomes(pd.DataFrame({"customer_id": ["1"]}), subset_clean)


def test_performance_of_a_real_matured_window(
    subset_clean: pd.DataFrame, march_scores: pd.DataFrame
) -> None:
    y = window_outcomes(march_scores, subset_clean)
    m = performance_metrics(y.to_numpy(), march_scores["churn_probability"].to_numpy())
    assert m["roc_auc"] > 0.65  # recency alone ranks churners well
    assert m["n"] == len(march_scores)
    assert m["base_rate"] == pytest.approx(y.mean())
    assert m["lift_top_decile"] == pytest.approx(m["precision_top_decile"] / m["base_rate"])
    assert m["lift_top_decile"] > 1


# --- performance_metrics --------------------------------------------------------------------------


def test_performance_metrics_reuse_the_training_keys() -> None:
    y = np.array([0, 1, 0, 1, 1, 0, 0, 1, 0, 0])
    p = np.array([0.1, 0.8, 0.3, 0.6, 0.9, 0.2, 0.4, 0.35, 0.05, 0.5])
    m = performance_metrics(y, p)
    for key, value in classification_metrics(y, p).items():
        assert m[key] == pytest.approx(value)
    assert set(m) == {
        "roc_auc",
        "pr_auc",
        "f1",
        "log_loss",
        "brier",
        "precision_top_decile",
        "lift_top_decile",
        "base_rate",
        "n",
    }
    assert m["precision_top_decile"] == 1.0  # the top one (0.9) churned
    assert m["base_rate"] == 0.4


def test_precision_at_top_takes_at_least_one_row_and_rounds_up() -> None:
    y = np.array([1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(0.95, 0.05, 12)  # already in score order
    assert precision_at_top(y, p) == pytest.approx(1 / 2)  # ceil(1.2) = 2 rows
    assert precision_at_top(y[:3], p[:3]) == 1.0


@pytest.mark.parametrize(("y", "p"), [([], []), ([1, 1, 1], [0.2, 0.5, 0.9])])
def test_performance_metrics_need_both_outcomes(y: list[int], p: list[float]) -> None:
    with pytest.raises(DataError, match="needs both outcomes"):
        performance_metrics(np.array(y), np.array(p))


# --- reliability ----------------------------------------------------------------------------------


def test_quantile_bins_hold_equal_counts_and_the_right_means() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(2, 5, 1000)
    y = (rng.random(1000) < p).astype(int)  # calibrated by construction
    table = reliability_table(y, p, bins=10)
    assert list(table.columns) == RELIABILITY_COLUMNS
    assert table["count"].tolist() == [100] * 10
    first = np.sort(p)[:100]
    assert table["mean_predicted"].iloc[0] == pytest.approx(first.mean())
    assert (table["lower"] <= table["mean_predicted"]).all()
    assert (table["mean_predicted"] <= table["upper"]).all()
    assert np.abs(table["observed_rate"] - table["mean_predicted"]).max() < 0.15


def test_uniform_bins_drop_empty_ones() -> None:
    p = np.array([0.05, 0.07, 0.12, 0.91, 0.95])
    y = np.array([0, 0, 1, 1, 1])
    table = reliability_table(y, p, bins=10, strategy="uniform")
    assert table["bin"].tolist() == [0, 1, 9]
    assert table["count"].tolist() == [2, 1, 2]
    assert table["observed_rate"].tolist() == [0.0, 1.0, 1.0]
    assert table["lower"].tolist() == pytest.approx([0.0, 0.1, 0.9])


def test_tied_scores_merge_quantile_bins_without_losing_rows() -> None:
    p = np.array([0.2] * 8 + [0.7, 0.9])
    y = np.array([0] * 7 + [1, 1, 1])
    table = reliability_table(y, p, bins=10)
    assert table["count"].sum() == 10
    assert len(table) < 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"bins": 0}, "bins must be at least 1"), ({"strategy": "kmeans"}, "unknown bin strategy")],
)
def test_reliability_table_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        reliability_table(np.array([0, 1]), np.array([0.2, 0.8]), **kwargs)  # type: ignore[arg-type]


def test_reliability_plot_is_a_png_and_is_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    p = rng.random(200)
    table = reliability_table((rng.random(200) < p).astype(int), p)
    target = tmp_path / "plots" / "reliability.png"
    data = reliability_plot(table, target, title="March")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert target.read_bytes() == data
    assert [f.name for f in target.parent.iterdir()] == ["reliability.png"]
