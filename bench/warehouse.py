"""Warehouse scoring benchmark: the churn model over 1,000,000 customer rows, three ways.

The model is champion-like: churn_training's own recipe (its YAML's cutoffs, split and
TrainParams: depth 2, early stopping) fitted on the real Online Retail II features, compiled
with the rounds the classifier predicts with (best_iteration + 1). The rows are its real
feature rows resampled with replacement to --rows. In the same run, interleaved per repeat:

1. compiled SQL in DuckDB: `CREATE TABLE scores AS <retail_mlops.warehouse.trees.scoring_sql>`
   over the rows in a DuckDB table;
2. the DuckDB Arrow UDF (`retail_mlops.warehouse.udf`), `CREATE TABLE ... AS SELECT
   predict_churn(...)`, nthread 1 per call (DuckDB calls it from each of its threads);
3. the floor: `Booster.inplace_predict` on the same rows as a float32 matrix already in memory,
   with nthread = --threads and with 1 (the faster median is the floor: on a busy machine the
   OpenMP threads of XGBoost can lose to one).

It checks that the three agree (largest absolute difference) and prints medians, rows/s and each
DuckDB form's time over the floor's. duckdb_total_s is the compiled path end to end from a
booster: writing the SQL plus its median scoring time.

PostgreSQL: the rows are copied (untimed) into the database of --pg-url or RETAIL_MLOPS_PG_URL,
else into a throw-away server on loopback (tests/servers.py, Debian's postgresql), and the
SQL, transpiled by sqlglot, is timed there too (JIT off); with no server to start,
postgres_sql_rows_s is null and the reason is printed.

--forms also times other shapes of the compiled SQL (one CASE per tree, other group sizes,
DuckDB on one thread), for the record of what was tried.

Usage: uv run python -m bench.warehouse [--dev] [--rows 1000000] [--repeats 3] [--threads 2]
       [--forms] [--pg-url URL]
--dev trains on the committed subset instead of the full data set.
The last line is JSON: rows, duckdb_sql_rows_s, duckdb_udf_rows_s, postgres_sql_rows_s,
booster_rows_s, duckdb_sql_vs_floor, duckdb_udf_vs_floor, duckdb_total_s, sql_max_abs_diff,
udf_max_abs_diff, trees.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
PG_URL_ENV = "RETAIL_MLOPS_PG_URL"
PG_SCHEMA = "retail_mlops_bench"


def champion_like(dev: bool) -> tuple[Any, pd.DataFrame, list[str]]:
    """churn_training's recipe without ZenML: the model, its feature rows, the feature names.

    Returns the booster cut to the rounds the classifier predicts with, so all three scorers
    score the same trees.
    """
    from bench._churn import churn_recipe

    recipe = churn_recipe(dev)
    booster = recipe.model.get_booster()[: recipe.model.best_iteration + 1]
    return booster, recipe.data, recipe.features


def resampled(data: pd.DataFrame, features: list[str], rows: int) -> pd.DataFrame:
    """`rows` real feature rows drawn with replacement, keyed by a row id."""
    rng = np.random.default_rng(0)
    picked = data.iloc[rng.integers(0, len(data), size=rows)].reset_index(drop=True)
    out = picked[["customer_id", "cutoff", *features]].copy()
    out.insert(0, "row_id", np.arange(rows, dtype=np.int64))
    return out


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each function, run in turn once per repeat, so drift hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def _scores(con: Any, table: str) -> np.ndarray:
    return con.execute(f'SELECT churn_probability FROM "{table}" ORDER BY row_id').fetchnumpy()[
        "churn_probability"
    ]


def postgres_sql_rows_s(
    url: str, rows: pd.DataFrame, sql: str, repeats: int, want: np.ndarray
) -> tuple[float, float]:
    """HOOK (PostgreSQL): median rows/s of the transpiled scoring SQL, and its max abs diff.

    The rows are copied into `retail_mlops_bench.customer_features` first (not timed); the
    schema is dropped afterwards. `sql` must read that table. JIT is off for the session, as
    `scoring_sql` advises.
    """
    import psycopg
    import sqlglot

    (pg_sql,) = sqlglot.transpile(
        sql, read="duckdb", write="postgres", unsupported_level=sqlglot.ErrorLevel.RAISE
    )
    types = {"row_id": "BIGINT", "customer_id": "TEXT", "cutoff": "TIMESTAMP"}
    columns = ", ".join(f'"{c}" {types.get(c, "DOUBLE PRECISION")}' for c in rows.columns)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")
        try:
            conn.execute(f"CREATE TABLE {PG_SCHEMA}.customer_features ({columns})")
            with conn.cursor().copy(
                f"COPY {PG_SCHEMA}.customer_features FROM STDIN WITH (FORMAT csv)"
            ) as copy:
                for start in range(0, len(rows), 100_000):
                    buf = io.StringIO()
                    rows.iloc[start : start + 100_000].to_csv(
                        buf, header=False, index=False, float_format="%.17g"
                    )
                    copy.write(buf.getvalue())
            conn.execute(f"ANALYZE {PG_SCHEMA}.customer_features")
            conn.execute("SET jit = off")  # JIT of a huge CASE expression costs minutes
            times = []
            for _ in range(repeats):
                conn.execute(f"DROP TABLE IF EXISTS {PG_SCHEMA}.scores")
                t0 = time.perf_counter()
                conn.execute(f"CREATE TABLE {PG_SCHEMA}.scores AS {pg_sql}")
                times.append(time.perf_counter() - t0)
            got = np.array(
                [
                    r[0]
                    for r in conn.execute(
                        f"SELECT churn_probability FROM {PG_SCHEMA}.scores ORDER BY row_id"
                    )
                ],
                dtype=np.float64,
            )
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
    return len(rows) / statistics.median(times), float(np.abs(got - want).max())


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", action="store_true", help="train on the committed subset")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB and XGBoost threads")
    parser.add_argument("--forms", action="store_true", help="also time other SQL forms")
    parser.add_argument("--pg-url", default=os.environ.get(PG_URL_ENV), help="PostgreSQL URL")
    args = parser.parse_args()

    import duckdb

    from retail_mlops.warehouse.trees import scoring_sql
    from retail_mlops.warehouse.udf import register_churn_udf, udf_scoring_sql

    t0 = time.perf_counter()
    booster, data, features = champion_like(args.dev)
    n_trees = booster.num_boosted_rounds()
    rows = resampled(data, features, args.rows)
    print(
        f"model: {n_trees} trees of depth 2 on {len(data):,} real feature rows "
        f"({time.perf_counter() - t0:.0f} s to load and train); scoring {len(rows):,} rows "
        f"resampled from them, {args.threads} threads, {args.repeats} repeats",
        flush=True,
    )

    t0 = time.perf_counter()
    keys = ("row_id", "customer_id", "cutoff")
    sql = scoring_sql(booster, features, key_columns=keys)
    write_s = time.perf_counter() - t0
    print(f"compiled SQL: {len(sql) / 1e3:,.0f} kB, written in {write_s:.2f} s", flush=True)

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.register("rows_frame", rows)
    con.execute("CREATE TABLE customer_features AS SELECT * FROM rows_frame")
    con.unregister("rows_frame")
    names = register_churn_udf(con, booster, features, nthread=1)
    udf_sql = udf_scoring_sql(names, key_columns=keys)

    x = rows[features].to_numpy(dtype=np.float32)
    many = booster.copy()
    many.set_param({"nthread": args.threads})
    one = booster.copy()
    one.set_param({"nthread": 1})
    out: dict[str, np.ndarray] = {}

    def floor(b: Any, key: str) -> Callable[[], object]:
        def run() -> None:
            out[key] = np.asarray(b.inplace_predict(x), dtype=np.float64)

        return run

    fns: dict[str, Callable[[], object]] = {
        f"booster_{args.threads}t": floor(many, "booster"),
        "booster_1t": floor(one, "booster_1t"),
        "duckdb_sql": lambda: con.execute(f"CREATE OR REPLACE TABLE scores AS {sql}"),
        "duckdb_udf": lambda: con.execute(f"CREATE OR REPLACE TABLE udf_scores AS {udf_sql}"),
    }
    times = interleaved(fns, args.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    floor_s = min(med[f"booster_{args.threads}t"], med["booster_1t"])
    for name, values in times.items():
        print(
            f"  {name:<12} median {med[name]:6.2f} s  {len(rows) / med[name]:>12,.0f} rows/s  "
            f"x{med[name] / floor_s:.2f} of the floor  (runs: "
            f"{', '.join(f'{v:.2f}' for v in values)})",
            flush=True,
        )
    want = out["booster"]
    sql_diff = float(np.abs(_scores(con, "scores") - want).max())
    udf_diff = float(np.abs(_scores(con, "udf_scores") - want).max())
    print(f"agreement with inplace_predict: SQL {sql_diff:.1e}, UDF {udf_diff:.1e}", flush=True)

    if args.forms:
        forms = {
            "one CASE per tree, groups of 100": scoring_sql(
                booster, features, key_columns=keys, merge=False
            ),
            "merged, groups of 25": scoring_sql(booster, features, key_columns=keys, group_size=25),
            "merged, groups of 400": scoring_sql(
                booster, features, key_columns=keys, group_size=400
            ),
            "merged, one group": scoring_sql(
                booster, features, key_columns=keys, group_size=max(n_trees, 1)
            ),
        }
        form_fns: dict[str, Callable[[], object]] = {
            name: (lambda s=s: con.execute(f"CREATE OR REPLACE TABLE f AS {s}"))
            for name, s in forms.items()
        }
        for name, t in interleaved(form_fns, args.repeats).items():
            m = statistics.median(t)
            print(f"  form: {name:<34} median {m:6.2f} s  x{m / floor_s:.2f}", flush=True)
        con.execute("SET threads = 1")
        t = interleaved({"one": fns["duckdb_sql"]}, args.repeats)["one"]
        m = statistics.median(t)
        print(f"  form: {'default, DuckDB on 1 thread':<34} median {m:6.2f} s", flush=True)
        con.execute(f"SET threads = {args.threads}")

    pg_rows_s = None
    with contextlib.ExitStack() as stack:
        pg_url = args.pg_url
        if not pg_url:  # a throw-away server on loopback, as the tests start one
            from tests.servers import postgres_server

            try:
                pg_url = stack.enter_context(postgres_server())
            except RuntimeError as exc:
                print(f"PostgreSQL: skipped ({exc}; or set {PG_URL_ENV} / --pg-url)")
        if pg_url:
            pg_sql = scoring_sql(
                booster, features, key_columns=keys, source=f"{PG_SCHEMA}.customer_features"
            )
            pg_rows_s, pg_diff = postgres_sql_rows_s(pg_url, rows, pg_sql, args.repeats, want)
            print(
                f"PostgreSQL: {pg_rows_s:,.0f} rows/s, agreement {pg_diff:.1e}, "
                f"x{len(rows) / pg_rows_s / floor_s:.2f} of the floor",
                flush=True,
            )

    sql_s, udf_s = med["duckdb_sql"], med["duckdb_udf"]
    print(
        json.dumps(
            {
                "rows": len(rows),
                "duckdb_sql_rows_s": round(len(rows) / sql_s),
                "duckdb_udf_rows_s": round(len(rows) / udf_s),
                "postgres_sql_rows_s": round(pg_rows_s) if pg_rows_s is not None else None,
                "booster_rows_s": round(len(rows) / floor_s),
                "duckdb_sql_vs_floor": round(sql_s / floor_s, 3),
                "duckdb_udf_vs_floor": round(udf_s / floor_s, 3),
                "duckdb_total_s": round(write_s + sql_s, 3),
                "sql_max_abs_diff": sql_diff,
                "udf_max_abs_diff": udf_diff,
                "trees": n_trees,
            }
        )
    )


if __name__ == "__main__":
    main()
