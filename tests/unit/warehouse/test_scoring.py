"""The compiled model installed as `churn_scores`, the exported SQL files, the cutoff check."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
import xgboost as xgb

from retail_mlops.churn.model import LABEL, TrainParams, fit_xgb, predict_churn
from retail_mlops.errors import DataError
from retail_mlops.features.customer import FEATURE_COLUMNS, build_churn_dataset
from retail_mlops.warehouse.database import Warehouse
from retail_mlops.warehouse.scoring import (
    FEATURES_FILE,
    MODEL_FILE,
    check_cutoff,
    export_sql,
    install_model,
    model_view_sql,
    read_scores,
)

CUTOFF = "2011-06-01"


@pytest.fixture(scope="module")
def champion(subset_clean: pd.DataFrame) -> xgb.XGBClassifier:
    """A model trained as the pipeline trains it (early stopping), on the real subset."""
    data = build_churn_dataset(subset_clean, ["2010-09-01", "2010-12-01", "2011-03-01"])
    train = data[data["cutoff"] < pd.Timestamp("2011-03-01")]
    valid = data[data["cutoff"] == pd.Timestamp("2011-03-01")]
    params = TrainParams(n_estimators=300, early_stopping_rounds=20)
    model = fit_xgb(train, valid, FEATURE_COLUMNS, params)
    assert train[LABEL].nunique() == 2
    return model


def test_installed_model_scores_every_customer_as_the_booster(
    champion: xgb.XGBClassifier, subset_clean: pd.DataFrame, tmp_path: Path
) -> None:
    with Warehouse.duckdb(tmp_path / "w.duckdb") as warehouse:
        warehouse.load_lines(subset_clean)
        warehouse.set_cutoffs([CUTOFF])
        warehouse.create_feature_view()
        compiled = install_model(warehouse, champion, 7, run_id="run-1", group_size=40)
        features = warehouse.read_features()
        scores = read_scores(warehouse)
    expected = predict_churn(champion, features)
    assert len(scores) == len(features) > 100
    assert scores["customer_id"].tolist() == features["customer_id"].tolist()
    assert abs(scores["churn_probability"].to_numpy() - expected).max() <= 1e-6
    assert set(scores["model_version"]) == {7}
    assert set(scores["run_id"]) == {"run-1"}
    assert len(compiled.sha256) == 64
    assert compiled.features == tuple(FEATURE_COLUMNS)


def test_a_failed_install_keeps_the_previous_view(
    champion: xgb.XGBClassifier, subset_clean: pd.DataFrame, tmp_path: Path
) -> None:
    with Warehouse.duckdb(tmp_path / "w.duckdb") as warehouse:
        warehouse.load_lines(subset_clean)
        warehouse.set_cutoffs([CUTOFF])
        warehouse.create_feature_view()
        install_model(warehouse, champion, 1)
        with pytest.raises(duckdb.BinderException, match="no_such_column"):
            warehouse.replace_view(
                "CREATE OR REPLACE VIEW churn_scores AS "
                "SELECT no_such_column FROM customer_features"
            )
        assert set(read_scores(warehouse)["model_version"]) == {1}


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake"])
def test_export_writes_two_reviewable_files(
    champion: xgb.XGBClassifier, dialect: str, tmp_path: Path
) -> None:
    paths = export_sql(champion, "churn_classifier", 3, dialect, tmp_path)
    assert [p.name for p in paths] == [FEATURES_FILE, MODEL_FILE]
    model_sql = (tmp_path / MODEL_FILE).read_text()
    features_sql = (tmp_path / FEATURES_FILE).read_text()
    header = model_sql.splitlines()[:4]
    assert header[0].startswith("-- churn_scores: churn_classifier v3 compiled to SQL")
    assert header[1] == f"-- dialect: {dialect}"
    assert header[2] == "-- features (model order): " + ", ".join(FEATURE_COLUMNS)
    assert model_view_sql(champion, 3, dialect).sha256 in header[0]
    assert "CREATE OR REPLACE VIEW churn_scores" in model_sql
    assert "CREATE OR REPLACE VIEW customer_features" in features_sql
    assert "invoice_lines" in features_sql
    assert not list(tmp_path.glob("*.tmp*"))  # atomic writes leave nothing behind


def test_export_refuses_an_unknown_dialect_and_a_model_the_view_cannot_feed(
    champion: xgb.XGBClassifier, tmp_path: Path
) -> None:
    with pytest.raises(DataError, match="unknown dialect 'oracle'"):
        export_sql(champion, "churn_classifier", 1, "oracle", tmp_path)
    other = xgb.XGBClassifier(n_estimators=2, max_depth=1)
    other.fit(pd.DataFrame({"basket_size": [1.0, 2.0, 3.0, 4.0]}), [0, 1, 0, 1])
    with pytest.raises(DataError, match="basket_size"):
        export_sql(other, "churn_classifier", 1, "duckdb", tmp_path)
    assert not list(tmp_path.iterdir())


def test_cutoff_outside_the_data_is_named(subset_clean: pd.DataFrame) -> None:
    first = subset_clean["invoice_date"].min()
    last = subset_clean["invoice_date"].max()
    assert check_cutoff(subset_clean, CUTOFF) == pd.Timestamp(CUTOFF)
    assert check_cutoff(subset_clean, last.normalize() + pd.Timedelta(days=1))
    for bad in (first, first - pd.Timedelta(days=30), last + pd.Timedelta(days=2)):
        with pytest.raises(DataError, match="is outside the data"):
            check_cutoff(subset_clean, bad)
    with pytest.raises(DataError, match="no clean invoice lines"):
        check_cutoff(subset_clean.iloc[:0], CUTOFF)
