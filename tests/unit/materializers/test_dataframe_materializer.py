"""Round trip of the DataFrame materializer: zstd Parquet, a column summary, cheap metadata."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

if TYPE_CHECKING:
    from materializers import DataFrameMaterializer


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Every dtype the pipelines pass: ids as strings, counts, money with gaps, dates, flags."""
    rng = np.random.default_rng(0)
    n = 200
    price = rng.gamma(2.0, 3.0, n)
    price[::7] = np.nan
    return pd.DataFrame(
        {
            "customer_id": rng.choice(["12346", "12347", "12348", None], n),
            "quantity": rng.integers(1, 50, n),
            "price": price,
            "invoice_date": pd.date_range("2010-12-01", periods=n, freq="h"),
            "churned": rng.random(n) < 0.4,
            "country": pd.Categorical(rng.choice(["United Kingdom", "France"], n)),
        }
    )


def _materializer(name: str) -> DataFrameMaterializer:
    from zenml.client import Client

    from materializers import DataFrameMaterializer

    root = Client().active_stack.artifact_store.path
    return DataFrameMaterializer(uri=os.path.join(root, "dataframe-materializer-test", name))


def test_roundtrip_keeps_values_dtypes_and_index(frame: pd.DataFrame, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    m = _materializer(tmp_path.name)
    m.save(frame)
    assert os.listdir(m.uri) == ["df.parquet"]
    meta = pq.ParquetFile(os.path.join(m.uri, "df.parquet")).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    pd.testing.assert_frame_equal(m.load(pd.DataFrame), frame)

    indexed = frame.set_index("invoice_date")  # a frame keyed by time keeps its index
    m2 = _materializer(tmp_path.name + "-indexed")
    m2.save(indexed)
    pd.testing.assert_frame_equal(m2.load(pd.DataFrame), indexed)
    assert "invoice_date" not in m2.extract_metadata(indexed)["dtypes"]


def test_summary_matches_describe_and_sample_is_the_head(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    m = _materializer(tmp_path.name)
    m.save(frame)
    vis = m.save_visualizations(frame)
    assert sorted(os.path.basename(uri) for uri in vis) == ["sample.csv", "summary.csv"]
    summary_uri = next(uri for uri in vis if uri.endswith("summary.csv"))
    summary = pd.read_csv(summary_uri, index_col=0, dtype=str)  # a text table, as displayed
    described = frame.describe()
    for col in ("quantity", "price"):
        for stat in ("count", "mean", "std", "min", "25%", "50%", "75%", "max"):
            assert float(summary.loc[stat, col]) == pytest.approx(described.loc[stat, col])
    assert int(float(summary.loc["nulls", "price"])) == int(frame["price"].isna().sum())
    ids = frame["customer_id"].describe()
    assert int(float(summary.loc["unique", "customer_id"])) == ids["unique"]
    assert summary.loc["top", "customer_id"] == ids["top"]
    assert int(float(summary.loc["freq", "customer_id"])) == ids["freq"]
    assert summary.loc["min", "invoice_date"] == str(frame["invoice_date"].min())
    assert int(float(summary.loc["unique", "churned"])) == 2
    assert int(float(summary.loc["unique", "country"])) == 2
    sample = pd.read_csv(next(uri for uri in vis if uri.endswith("sample.csv")), index_col=0)
    assert len(sample) == 10
    assert list(sample.columns) == list(frame.columns)


def test_metadata_counts_rows_columns_dtypes_and_nulls(frame: pd.DataFrame) -> None:
    from materializers import DataFrameMaterializer

    meta = DataFrameMaterializer(uri="unused").extract_metadata(frame)
    assert meta["n_rows"] == 200
    assert meta["n_cols"] == 6
    assert meta["dtypes"] == {c: str(t) for c, t in frame.dtypes.items()}
    assert meta["null_counts"] == {
        "customer_id": int(frame["customer_id"].isna().sum()),
        "price": int(frame["price"].isna().sum()),
    }


def test_empty_frame_round_trips(tmp_path: Path) -> None:
    empty = pd.DataFrame(
        {"customer_id": pd.Series([], dtype=object), "x": pd.Series([], dtype=float)}
    )
    m = _materializer(tmp_path.name)
    m.save(empty)
    m.save_visualizations(empty)
    pd.testing.assert_frame_equal(m.load(pd.DataFrame), empty)


def test_dataframe_outputs_use_it_whatever_was_registered_first() -> None:
    from zenml.integrations.registry import integration_registry
    from zenml.materializers.materializer_registry import materializer_registry

    from materializers import DataFrameMaterializer

    integration_registry.activate_integrations()  # what each compile does: ZenML's pandas one
    assert materializer_registry[pd.DataFrame] is DataFrameMaterializer
    assert materializer_registry[pd.Series].__name__ == "PandasMaterializer"  # Series untouched


def test_loading_a_missing_artifact_fails_loudly(tmp_path: Path) -> None:
    m = _materializer(tmp_path.name + "-missing")
    with pytest.raises(FileNotFoundError, match=r"df\.parquet"):
        m.load(pd.DataFrame)
