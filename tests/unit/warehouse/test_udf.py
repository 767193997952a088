"""Unit tests for retail_mlops/warehouse/udf.py: the booster as a DuckDB Arrow UDF.

The UDF must return what `Booster.inplace_predict` returns for the same rows, NULL cells
included (as missing values, not as a NULL answer), on real customer features.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from retail_mlops.churn.model import LABEL, TrainParams, fit_xgb, split_by_time
from retail_mlops.errors import DataError
from retail_mlops.features.customer import FEATURE_COLUMNS, build_churn_dataset, monthly_cutoffs
from retail_mlops.warehouse.trees import scoring_sql
from retail_mlops.warehouse.udf import register_churn_udf, udf_scoring_sql

FEATURES = list(FEATURE_COLUMNS)
CUTOFFS = monthly_cutoffs("2010-03-01", "2011-09-01")


@pytest.fixture(scope="module")
def frame(subset_clean: pd.DataFrame) -> pd.DataFrame:
    """Real features at 19 cutoffs, then a copy with 15% of the cells missing; unique keys."""
    data = build_churn_dataset(subset_clean, CUTOFFS, horizon_days=90, active_window_days=365)
    holes = data.copy()
    mask = np.random.default_rng(3).random((len(holes), len(FEATURES))) < 0.15
    holes[FEATURES] = holes[FEATURES].mask(mask)
    out = pd.concat([data, holes], ignore_index=True)
    out["customer_id"] = [f"row{i}" for i in range(len(out))]
    return out


@pytest.fixture(scope="module")
def booster(frame: pd.DataFrame) -> xgb.Booster:
    """A champion-like booster (depth 2, the project's defaults), trained with missing cells."""
    p = TrainParams()
    model = xgb.XGBClassifier(
        n_estimators=200,
        learning_rate=0.05,
        max_depth=p.max_depth,
        subsample=p.subsample,
        colsample_bytree=p.colsample_bytree,
        n_jobs=1,
        random_state=0,
    )
    model.fit(frame[FEATURES], frame[LABEL])
    return model.get_booster()


def _connect(frame: pd.DataFrame) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("customer_features", frame)
    return con


def _scores(con: duckdb.DuckDBPyConnection, sql: str, frame: pd.DataFrame) -> np.ndarray:
    out = con.execute(sql).df().set_index("customer_id")["churn_probability"]
    return out.loc[frame["customer_id"]].to_numpy()


def test_udf_equals_inplace_predict_on_every_row(frame: pd.DataFrame, booster: xgb.Booster) -> None:
    con = _connect(frame)
    names = register_churn_udf(con, booster, FEATURES)
    assert names == FEATURES
    sql = udf_scoring_sql(names, key_columns=("customer_id",))
    assert sql.startswith('SELECT "customer_id", predict_churn("total_orders", ')
    got = _scores(con, sql, frame)
    want = booster.inplace_predict(frame[FEATURES].to_numpy(dtype=np.float32))
    assert frame[FEATURES].isna().any().any()
    assert not np.isnan(got).any()
    np.testing.assert_array_equal(got, want.astype(np.float64))


def test_udf_agrees_with_the_compiled_sql(frame: pd.DataFrame, booster: xgb.Booster) -> None:
    con = _connect(frame)
    register_churn_udf(con, booster, FEATURES)
    udf = _scores(con, udf_scoring_sql(FEATURES), frame)
    compiled = _scores(con, scoring_sql(booster, FEATURES), frame)
    assert np.abs(udf - compiled).max() < 1e-6


def test_null_arguments_are_missing_values_not_a_null_answer(booster: xgb.Booster) -> None:
    con = duckdb.connect()
    register_churn_udf(con, booster, FEATURES, name="score")
    nulls = ", ".join(["NULL"] * len(FEATURES))
    (got,) = con.execute(f"SELECT score({nulls})").fetchone()  # type: ignore[misc]
    want = booster.inplace_predict(np.full((1, len(FEATURES)), np.nan, dtype=np.float32))[0]
    assert got == pytest.approx(float(want), abs=0)


def test_integer_columns_and_argument_order(frame: pd.DataFrame, booster: xgb.Booster) -> None:
    """Arguments follow the model's order whatever order the caller lists; ints cast to DOUBLE."""
    con = _connect(frame)
    names = register_churn_udf(con, booster, [*reversed(FEATURES), "customer_id"])
    assert names == FEATURES
    con.execute(
        "CREATE TABLE typed AS SELECT * REPLACE (CAST(total_orders AS BIGINT) AS total_orders) "
        "FROM customer_features"
    )
    got = _scores(con, udf_scoring_sql(names, source="typed", key_columns=("customer_id",)), frame)
    want = booster.inplace_predict(frame[FEATURES].to_numpy(dtype=np.float32))
    np.testing.assert_array_equal(got, want.astype(np.float64))


def test_nthread_scores_with_a_copy(frame: pd.DataFrame, booster: xgb.Booster) -> None:
    def nthread() -> str:
        return json.loads(booster.save_config())["learner"]["generic_param"]["nthread"]

    before = nthread()
    con = _connect(frame)
    register_churn_udf(con, booster, FEATURES, nthread=1)
    assert nthread() == before
    got = _scores(con, udf_scoring_sql(FEATURES, key_columns=("customer_id",)), frame)
    want = booster.inplace_predict(frame[FEATURES].to_numpy(dtype=np.float32))
    np.testing.assert_array_equal(got, want.astype(np.float64))


def test_classifier_scores_with_its_best_iteration(frame: pd.DataFrame) -> None:
    """Like the compiled SQL, the UDF of an early-stopped XGBClassifier uses its best rounds."""
    train, valid, _ = split_by_time(frame, "2011-09-01", 2)
    params = TrainParams(n_estimators=400, learning_rate=0.2, early_stopping_rounds=10, n_jobs=1)
    model = fit_xgb(train, valid, FEATURES, params)
    assert model.get_booster().num_boosted_rounds() > model.best_iteration + 1
    con = _connect(frame)
    register_churn_udf(con, model, FEATURES)
    got = _scores(con, udf_scoring_sql(FEATURES), frame)
    want = model.predict_proba(frame[FEATURES].to_numpy(dtype=np.float32))[:, 1]
    np.testing.assert_array_equal(got, want.astype(np.float64))


def test_missing_feature_is_a_data_error(booster: xgb.Booster) -> None:
    with pytest.raises(DataError, match="not in the given columns: is_uk"):
        register_churn_udf(duckdb.connect(), booster, FEATURES[:-1])
