"""Unit tests for retail_mlops/warehouse/trees.py: the booster compiled to SQL, run in DuckDB.

Every score is checked against XGBoost itself on real customer features (the committed subset),
with missing values and with feature values placed on, and one float32 or float64 step either
side of, every split threshold of the model, where a float64 comparison would take the wrong
branch.
"""

from __future__ import annotations

import json
import math
import re
import uuid

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
import xgboost as xgb

from retail_mlops.churn.model import LABEL, TrainParams, fit_xgb, split_by_time
from retail_mlops.errors import DataError
from retail_mlops.features.customer import FEATURE_COLUMNS, build_churn_dataset, monthly_cutoffs
from retail_mlops.warehouse import trees
from retail_mlops.warehouse.trees import (
    Forest,
    base_margin,
    float32_split_bound,
    forest_sql,
    model_features,
    parse_forest,
    quote_identifier,
    scoring_sql,
    tree_sql,
)

FEATURES = list(FEATURE_COLUMNS)
CUTOFFS = monthly_cutoffs("2010-03-01", "2011-09-01")
TOL = 1e-6


# --- real data and models ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(subset_clean: pd.DataFrame) -> pd.DataFrame:
    """Features and churn labels of the subset's customers at 19 monthly cutoffs."""
    return build_churn_dataset(subset_clean, CUTOFFS, horizon_days=90, active_window_days=365)


def _with_missing(frame: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """A copy with `share` of the feature cells set to NaN at random."""
    out = frame.copy()
    mask = np.random.default_rng(seed).random((len(out), len(FEATURES))) < share
    out[FEATURES] = out[FEATURES].mask(mask)
    return out


@pytest.fixture(scope="module")
def champion(dataset: pd.DataFrame) -> xgb.Booster:
    """Like the production model: depth 2, the project's defaults, 300 trees."""
    p = TrainParams()
    model = xgb.XGBClassifier(
        n_estimators=300,
        learning_rate=0.05,
        max_depth=p.max_depth,
        min_child_weight=p.min_child_weight,
        subsample=p.subsample,
        colsample_bytree=p.colsample_bytree,
        n_jobs=1,
        random_state=0,
    )
    model.fit(dataset[FEATURES], dataset[LABEL])
    return model.get_booster()


@pytest.fixture(scope="module")
def deep(dataset: pd.DataFrame) -> xgb.Booster:
    """Depth 6, trained with missing cells everywhere so default directions go both ways."""
    train = _with_missing(dataset, 0.15, seed=1)
    model = xgb.XGBClassifier(
        n_estimators=60, learning_rate=0.1, max_depth=6, n_jobs=1, random_state=0
    )
    model.fit(train[FEATURES], train[LABEL])
    return model.get_booster()


def _threshold_values(threshold: float) -> list[float]:
    """Doubles on and around a float32 threshold, where rounding to float32 decides."""
    t = np.float32(threshold)
    with np.errstate(over="ignore"):  # one step past the float32 range is infinity
        below32 = np.nextafter(t, np.float32(-np.inf))
        above32 = np.nextafter(t, np.float32(np.inf))
    low_mid = (float(below32) + float(t)) / 2  # a tie: rounds to the even neighbour
    high_mid = (float(t) + float(above32)) / 2
    values = [float(t), float(below32), float(above32), low_mid, high_mid]
    for v in (float(t), low_mid, high_mid):
        values += [float(np.nextafter(v, -np.inf)), float(np.nextafter(v, np.inf))]
    return values


def scoring_frame(dataset: pd.DataFrame, forest: Forest) -> pd.DataFrame:
    """The real rows, a copy with missing cells, and rows on every split threshold."""
    rng = np.random.default_rng(7)
    splits = sorted(
        {
            (tree.feature[i], tree.threshold[i])
            for tree in forest.trees
            for i in range(len(tree.left))
            if not tree.is_leaf(i)
        }
    )
    values = [(f, v) for f, t in splits for v in _threshold_values(t)]
    base = dataset.iloc[rng.integers(0, len(dataset), size=len(values))].reset_index(drop=True)
    cells = base[list(forest.features)].to_numpy(dtype=np.float64)
    for j, (f, v) in enumerate(values):
        cells[j, f] = v
    base[list(forest.features)] = cells
    frame = pd.concat(
        [dataset, _with_missing(dataset, 0.15, seed=2), base], ignore_index=True
    ).astype({f: "float64" for f in FEATURES})
    frame["customer_id"] = [f"row{i}" for i in range(len(frame))]
    return frame


def duckdb_scores(sql: str, frame: pd.DataFrame) -> np.ndarray:
    """Run a scoring query over `frame` registered as customer_features; scores in row order."""
    con = duckdb.connect()
    try:
        con.register("customer_features", frame)
        out = con.execute(f"SELECT * FROM ({sql}) AS s").df()
    finally:
        con.close()
    scores = out.set_index("customer_id")["churn_probability"]
    return scores.loc[frame["customer_id"]].to_numpy()


def xgb_scores(booster: xgb.Booster, frame: pd.DataFrame, rounds: int = 0) -> np.ndarray:
    return booster.predict(xgb.DMatrix(frame[FEATURES]), iteration_range=(0, rounds))


# --- the float32 threshold --------------------------------------------------------------------


def _random_float32(n: int, seed: int) -> np.ndarray:
    """Finite float32 values from random bit patterns: every exponent, subnormals, both signs."""
    bits = np.random.default_rng(seed).integers(0, 2**32, size=4 * n, dtype=np.uint64)
    values = bits.astype(np.uint32).view(np.float32)
    return values[np.isfinite(values)][:n]


def test_float32_split_bound_decides_exactly_as_float32_does() -> None:
    special = np.array(
        [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 12.0, 1e-45, -1e-45, 1.1754944e-38, 3.4028235e38],
        dtype=np.float32,
    )
    thresholds = np.concatenate([special, -special, _random_float32(4000, seed=0)])
    for t in thresholds:
        bound = float32_split_bound(float(t))
        xs = np.array(
            [
                *_threshold_values(float(t)),
                bound,
                float(np.nextafter(bound, -np.inf)),
                float(np.nextafter(bound, np.inf)),
            ]
        )
        with np.errstate(over="ignore"):
            expected = xs.astype(np.float32) < t
        np.testing.assert_array_equal(xs < bound, expected, err_msg=f"threshold {t!r}")


def test_float32_split_bound_at_the_float32_range_ends() -> None:
    lowest = float(np.finfo(np.float32).min)
    bound = float32_split_bound(lowest)
    # float32(x) < -FLT_MAX only where x overflows to -inf
    with np.errstate(over="ignore"):
        assert np.float32(np.nextafter(bound, -np.inf)) == -np.inf
        assert np.float32(bound) == np.float32(lowest)


def test_float32_split_bound_rejects_non_finite() -> None:
    with pytest.raises(DataError, match="not finite"):
        float32_split_bound(math.inf)


def test_a_float64_threshold_would_take_the_wrong_branch(
    dataset: pd.DataFrame, champion: xgb.Booster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adversarial rows have teeth: comparing with the float32 threshold itself fails."""
    frame = scoring_frame(dataset, parse_forest(champion, FEATURES))
    monkeypatch.setattr(trees, "float32_split_bound", lambda t: float(np.float32(t)))
    naive = duckdb_scores(scoring_sql(champion, FEATURES), frame)
    assert np.abs(naive - xgb_scores(champion, frame)).max() > 1e-4


# --- equality with XGBoost --------------------------------------------------------------------


@pytest.mark.parametrize("merge", [True, False], ids=["merged", "one-case-per-tree"])
def test_champion_sql_equals_booster_on_every_row(
    dataset: pd.DataFrame, champion: xgb.Booster, merge: bool
) -> None:
    forest = parse_forest(champion, FEATURES)
    assert len(forest.trees) == 300
    frame = scoring_frame(dataset, forest)
    got = duckdb_scores(scoring_sql(champion, FEATURES, merge=merge), frame)
    want = xgb_scores(champion, frame)
    assert not np.isnan(got).any()
    assert np.abs(got - want).max() < TOL
    np.testing.assert_allclose(got, champion.inplace_predict(frame[FEATURES]), atol=TOL, rtol=0)


def test_deep_sql_equals_booster_with_missing_both_ways(
    dataset: pd.DataFrame, deep: xgb.Booster
) -> None:
    forest = parse_forest(deep, FEATURES)
    defaults = {
        tree.default_left[i]
        for tree in forest.trees
        for i in range(len(tree.left))
        if not tree.is_leaf(i)
    }
    assert defaults == {True, False}
    assert max(len(t.left) for t in forest.trees) > 31  # deeper than 4 levels
    frame = scoring_frame(dataset, forest)
    assert frame[FEATURES].isna().sum().min() > 0
    got = duckdb_scores(scoring_sql(deep, FEATURES), frame)
    assert np.abs(got - xgb_scores(deep, frame)).max() < TOL


def test_margin_offset_is_logit_of_base_score(dataset: pd.DataFrame, champion: xgb.Booster) -> None:
    """Leaves reached (pred_leaf) plus logit(base_score) make XGBoost's own margin."""
    forest = parse_forest(champion, FEATURES)
    dm = xgb.DMatrix(dataset[FEATURES].head(500))
    leaves = champion.predict(dm, pred_leaf=True).astype(int)
    leaf_sum = np.array(
        [sum(t.value[n] for t, n in zip(forest.trees, row, strict=True)) for row in leaves]
    )
    margin = champion.predict(dm, output_margin=True)
    np.testing.assert_allclose(margin - leaf_sum, forest.base_margin, atol=1e-5, rtol=0)


def test_base_score_vector_string_is_read() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200)})
    model = xgb.XGBClassifier(n_estimators=3, max_depth=1, base_score=0.3, n_jobs=1).fit(
        x, x["a"] > 0
    )
    stored = json.loads(model.get_booster().save_config())["learner"]["learner_model_param"]
    assert str(stored["base_score"]).startswith("[")  # XGBoost 3 writes a vector
    p = float(np.float32(0.3))
    assert base_margin(model) == pytest.approx(math.log(p / (1 - p)), abs=1e-12)
    sql = scoring_sql(model, ["a"], key_columns=("customer_id",))
    frame = x.assign(customer_id=[f"row{i}" for i in range(len(x))])
    got = duckdb_scores(sql, frame)
    np.testing.assert_allclose(got, model.get_booster().inplace_predict(x), atol=TOL, rtol=0)


def test_classifier_compiles_its_best_iteration(dataset: pd.DataFrame) -> None:
    """An early-stopped XGBClassifier predicts with best_iteration + 1 rounds; so does its SQL."""
    train, valid, _ = split_by_time(dataset, "2011-09-01", 2)
    params = TrainParams(n_estimators=400, learning_rate=0.2, early_stopping_rounds=10, n_jobs=1)
    model = fit_xgb(train, valid, FEATURES, params)
    assert model.get_booster().num_boosted_rounds() > model.best_iteration + 1
    assert len(parse_forest(model, FEATURES).trees) == model.best_iteration + 1
    frame = dataset.assign(customer_id=[f"row{i}" for i in range(len(dataset))])
    got = duckdb_scores(scoring_sql(model, FEATURES), frame)
    np.testing.assert_allclose(got, model.predict_proba(frame[FEATURES])[:, 1], atol=TOL, rtol=0)


# --- grouping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rounds", "group_size", "groups"),
    [(1, 10, 1), (10, 10, 1), (11, 10, 2), (5, 1, 5), (0, 10, 0)],
    ids=["one-tree", "exactly-a-group", "a-group-plus-one", "one-per-group", "no-trees"],
)
@pytest.mark.parametrize("merge", [True, False], ids=["merged", "one-case-per-tree"])
def test_group_boundaries(
    dataset: pd.DataFrame,
    champion: xgb.Booster,
    rounds: int,
    group_size: int,
    groups: int,
    merge: bool,
) -> None:
    sql = scoring_sql(champion, FEATURES, group_size=group_size, merge=merge, rounds=rounds)
    assert len(set(re.findall(r'"__trees_\d+"', sql))) == groups
    frame = dataset.assign(customer_id=[f"row{i}" for i in range(len(dataset))])
    got = duckdb_scores(sql, frame)
    if rounds == 0:
        p = 1 / (1 + math.exp(-parse_forest(champion, FEATURES).base_margin))
        np.testing.assert_allclose(got, p, atol=1e-12, rtol=0)
    else:
        assert np.abs(got - xgb_scores(champion, frame, rounds)).max() < TOL


def test_groups_keep_a_long_model_under_the_depth_limit(dataset: pd.DataFrame) -> None:
    """DuckDB refuses expressions deeper than 1,000; 1,200 trees fit in groups of 100."""
    model = xgb.XGBClassifier(n_estimators=1200, max_depth=1, learning_rate=0.01, n_jobs=1)
    model.fit(dataset[FEATURES], dataset[LABEL])
    frame = dataset.assign(customer_id=[f"row{i}" for i in range(len(dataset))])
    got = duckdb_scores(scoring_sql(model, FEATURES, merge=False), frame)
    assert np.abs(got - model.get_booster().inplace_predict(frame[FEATURES])).max() < TOL
    with pytest.raises(duckdb.ParserException, match="expression depth"):
        duckdb_scores(scoring_sql(model, FEATURES, merge=False, group_size=1200), frame)
    # a group per tree: the sum of 1,200 group columns is nested as a balanced tree
    got = duckdb_scores(scoring_sql(model, FEATURES, group_size=1), frame)
    assert np.abs(got - model.get_booster().inplace_predict(frame[FEATURES])).max() < TOL


def test_merging_factors_shared_splits(champion: xgb.Booster) -> None:
    forest = parse_forest(champion, FEATURES)
    columns = [quote_identifier(f) for f in forest.features]
    one_per_tree = " + ".join(tree_sql(t, columns) for t in forest.trees)
    merged = forest_sql(forest.trees, columns)
    assert merged.count("CASE WHEN") < 0.8 * one_per_tree.count("CASE WHEN")


def test_output_columns_and_extra_select(dataset: pd.DataFrame, champion: xgb.Booster) -> None:
    sql = scoring_sql(
        champion,
        [*FEATURES, "unused"],
        extra_select={"model_version": 3, "model_name": "churn's", "ok": True},
    )
    con = duckdb.connect()
    con.register("customer_features", dataset.head(20))
    out = con.execute(sql).df()
    assert list(out.columns) == [
        "customer_id",
        "cutoff",
        "churn_probability",
        "model_version",
        "model_name",
        "ok",
    ]
    assert (out["model_version"] == 3).all()
    assert (out["model_name"] == "churn's").all()
    assert out["ok"].all()


# --- portability ------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", ["champion", "deep"])
def test_sql_transpiles_to_postgres_and_snowflake(
    request: pytest.FixtureRequest, dataset: pd.DataFrame, model_name: str
) -> None:
    """It parses as DuckDB and renders for both targets; read back, the renderings score alike."""
    booster = request.getfixturevalue(model_name)
    sql = scoring_sql(booster, FEATURES, extra_select={"model_version": 3})
    assert sqlglot.parse_one(sql, read="duckdb") is not None
    frame = dataset.assign(customer_id=[f"row{i}" for i in range(len(dataset))])
    want = xgb_scores(booster, frame)
    for dialect in ("postgres", "snowflake"):
        (out,) = sqlglot.transpile(
            sql, read="duckdb", write=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE
        )
        assert "EXP(" in out
        assert out.count("CASE WHEN") == sql.count("CASE WHEN")
        # the rendering, read back in its dialect and run here, still scores like XGBoost
        (back,) = sqlglot.transpile(out, read=dialect, write="duckdb")
        assert np.abs(duckdb_scores(back, frame) - want).max() < TOL


def test_postgres_scores_like_xgboost_on_every_row(
    postgres_url: str, dataset: pd.DataFrame, champion: xgb.Booster
) -> None:
    """On a real PostgreSQL: NUMERIC thresholds become the exact float8 bounds, NULL defaults."""
    import psycopg

    frame = scoring_frame(dataset, parse_forest(champion, FEATURES))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    sql = scoring_sql(
        champion, FEATURES, source=f"{schema}.customer_features", key_columns=("customer_id",)
    )
    (pg_sql,) = sqlglot.transpile(
        sql, read="duckdb", write="postgres", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    columns = ", ".join(f"{quote_identifier(f)} DOUBLE PRECISION" for f in FEATURES)
    cells = frame[FEATURES].astype(object).where(frame[FEATURES].notna(), None)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"CREATE TABLE {schema}.customer_features (customer_id TEXT, {columns})")
            with conn.cursor().copy(f"COPY {schema}.customer_features FROM STDIN") as copy:
                for key, row in zip(
                    frame["customer_id"], cells.itertuples(index=False), strict=True
                ):
                    copy.write_row((key, *row))
            # JIT-compiling an expression of thousands of CASEs takes minutes, not milliseconds
            conn.execute("SET jit = off")
            got = dict(conn.execute(pg_sql).fetchall())
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    scores = np.array([got[k] for k in frame["customer_id"]], dtype=np.float64)
    assert np.abs(scores - xgb_scores(champion, frame)).max() < TOL


# --- refusals ---------------------------------------------------------------------------------


def test_missing_feature_is_a_data_error(champion: xgb.Booster) -> None:
    with pytest.raises(DataError, match="not in the given columns: total_spent"):
        scoring_sql(champion, [f for f in FEATURES if f != "total_spent"])


def test_other_objective_is_a_data_error(dataset: pd.DataFrame) -> None:
    model = xgb.XGBRegressor(n_estimators=2, max_depth=1, n_jobs=1)
    model.fit(dataset[FEATURES], dataset["total_spent"])
    with pytest.raises(DataError, match=r"only binary:logistic .* reg:squarederror"):
        scoring_sql(model, FEATURES)


def test_unnamed_booster_needs_matching_feature_count(dataset: pd.DataFrame) -> None:
    model = xgb.XGBClassifier(n_estimators=2, max_depth=1, n_jobs=1)
    model.fit(dataset[FEATURES].to_numpy(), dataset[LABEL])
    assert model_features(model, FEATURES) == FEATURES
    with pytest.raises(DataError, match="21 features and no names; got 2"):
        scoring_sql(model, FEATURES[:2])
    with pytest.raises(DataError, match="no feature names"):
        scoring_sql(model)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"group_size": 0}, "group_size must be at least 1"), ({"rounds": 301}, "has 300")],
)
def test_bad_options_are_data_errors(champion: xgb.Booster, kwargs: dict, match: str) -> None:
    with pytest.raises(DataError, match=match):
        scoring_sql(champion, FEATURES, **kwargs)


def test_quote_identifier_escapes_quotes() -> None:
    assert quote_identifier('odd "name"') == '"odd ""name"""'
