"""Feature-store benchmark: feature build at 10,000 items x 730 days, PIT retrieval, online reads.

1. Feature build: the real Online Retail II item histories (items sold on 100+ days), resampled
   as whole series to 10,000 items x every open day; the whole `item_daily_features` table by
   the engine (`ItemHistory.table`: running sums, a rolling median), against the plain loop a
   first version writes (per origin: nanmean, nanmedian and forward fill over the history
   slice), same run, with the largest difference between the two.
2. Point-in-time retrieval of 1,000,000 entity rows (real customers, random timestamps) against
   the real monthly customer snapshots, through Feast's DuckDB offline store.
3. Online lookup of one entity, 10,000 calls, SQLite and (if redis-server exists) Redis.

Usage: uv run python -m bench.features [--items 10000] [--entities 1000000] [--calls 10000]
       [--repeats 3]
Prints medians; the last line is JSON with build_s, loop_s, pit_1m_s, online_p99_ms_sqlite,
online_p99_ms_redis. State goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from retail_mlops.features.item import (
    COLUMN,
    HISTORY_CAP,
    ITEM_FEATURE_COLUMNS,
    LAGS,
    MEAN_WINDOWS,
    PRICE_WINDOW,
    SHARE_WINDOWS,
    ItemHistory,
)

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="bench-features-"))
os.environ["RETAIL_MLOPS_HOME"] = str(_HOME)


def per_origin_loop(history: ItemHistory, origins: list[int]) -> np.ndarray:
    """The feature rows computed one origin at a time from the history slice, plain numpy.

    The baseline: what a first version does (and what the global model did per origin).
    """
    y, price, dates = history.y, history.price, history.dates
    blocks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for i in origins:
            out = np.full((y.shape[0], len(ITEM_FEATURE_COLUMNS)), np.nan)
            for w in MEAN_WINDOWS:
                out[:, COLUMN[f"units_mean_{w}"]] = np.nanmean(y[:, max(0, i - w) : i], axis=1)
            for w in SHARE_WINDOWS:
                part = y[:, max(0, i - w) : i]
                out[:, COLUMN[f"sale_share_{w}"]] = np.nanmean(
                    np.where(np.isnan(part), np.nan, part > 0), axis=1
                )
            for k in LAGS:
                if i - k >= 0:
                    out[:, COLUMN[f"units_lag_{k}"]] = y[:, i - k]
            sold = np.nan_to_num(y[:, max(0, i - HISTORY_CAP) : i]) > 0
            back = np.argmax(sold[:, ::-1], axis=1)
            out[:, COLUMN["days_since_sale"]] = np.where(sold.any(axis=1), back + 1, HISTORY_CAP)
            out[:, COLUMN["listed_days"]] = np.minimum(
                (~np.isnan(y[:, :i])).sum(axis=1), HISTORY_CAP
            )
            recent = price[:, max(0, i - PRICE_WINDOW) : i]
            out[:, COLUMN["price_last"]] = pd.DataFrame(recent).ffill(axis=1).iloc[:, -1]
            out[:, COLUMN[f"price_median_{PRICE_WINDOW}"]] = np.nanmedian(recent, axis=1)
            day = history.origin_day(i)
            lo = dates.searchsorted(day - pd.Timedelta(days=392))
            hi = dates.searchsorted(day - pd.Timedelta(days=364))
            out[:, COLUMN["units_mean_last_year_28"]] = np.nanmean(y[:, lo:hi], axis=1)
            blocks.append(out[history.listed(i)])
    return np.vstack(blocks)


def timed(fn, repeats: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    """Median wall time of `fn()` over `repeats` runs, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def online_latency(store, ids: list[str], calls: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """p50/p99 in ms of single-entity online reads through one FeatureStore."""
    from retail_mlops.features.feast_store import online_records

    rng = np.random.default_rng(1)
    online_records(store, "customer_features", ids[:1])  # warm the registry cache
    lat = []
    for i in rng.integers(0, len(ids), size=calls):
        t0 = time.perf_counter()
        online_records(store, "customer_features", [ids[i]])
        lat.append((time.perf_counter() - t0) * 1000)
    return {"p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99))}


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from bench.forecasting import grown, real_panel
    from retail_mlops.features import feast_store
    from retail_mlops.features.customer import (
        FEATURE_COLUMNS,
        customer_feature_snapshots,
        monthly_cutoffs,
    )
    from retail_mlops.ingest.sources import read_source
    from retail_mlops.validate.rules import split_quarantine
    from tests.servers import redis_server

    raw, _ = read_source({"kind": "dataset"})
    lines, _ = split_quarantine(raw)

    # --- 1. feature build ---
    panel = grown(real_panel(), args.items)
    history = ItemHistory(panel.y, panel.price, panel.dates)
    origins = list(range(1, len(panel.dates) + 1))
    build_s, feats = timed(lambda: history.table(panel.skus), args.repeats)
    print(
        f"feature build: {len(panel.skus):,} items x {len(origins)} origins = {len(feats):,} "
        f"rows, {len(ITEM_FEATURE_COLUMNS)} features: engine median {build_s:.2f} s",
        flush=True,
    )
    loop_s, loop = timed(lambda: per_origin_loop(history, origins), 1)
    table = feats[ITEM_FEATURE_COLUMNS].to_numpy()
    diff = float(np.nanmax(np.abs(table - loop) / np.maximum(1.0, np.abs(loop))))
    same_nan = bool((np.isnan(table) == np.isnan(loop)).all())
    print(
        f"  per-origin numpy loop, same rows: {loop_s:.2f} s (one run) -> engine "
        f"x{loop_s / build_s:.1f} faster; largest relative difference {diff:.1e}, "
        f"same missing values: {same_nan}",
        flush=True,
    )
    del feats, loop, table

    # --- 2. point-in-time retrieval ---
    snaps = customer_feature_snapshots(lines, monthly_cutoffs("2010-01-01", "2011-12-01"))
    snaps = snaps.rename(columns={"cutoff": "event_timestamp"})
    store = feast_store.feature_store()
    feast_store.apply_definitions(store)
    feast_store.write_offline(
        snaps, "customer_features", feast_store.quality_summary(snaps, list(FEATURE_COLUMNS))
    )
    rng = np.random.default_rng(0)
    ids = snaps["customer_id"].unique()
    lo, hi = snaps["event_timestamp"].min().value, snaps["event_timestamp"].max().value
    entities = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, size=args.entities),
            "event_timestamp": pd.to_datetime(rng.integers(lo, hi, size=args.entities)).floor("s"),
        }
    )
    pit_s, pit = timed(
        lambda: feast_store.historical_features(store, entities, "customer_features"), args.repeats
    )
    print(
        f"point-in-time join: {len(entities):,} entity rows x {len(snaps):,} feature rows: "
        f"median {pit_s:.2f} s ({pit['total_spent'].notna().mean():.0%} found a snapshot "
        "within the 45-day TTL)",
        flush=True,
    )

    # --- 3. online lookup ---
    end = (snaps["event_timestamp"].max() + pd.Timedelta(days=1)).to_pydatetime()
    feast_store.materialize(store, ["customer_features"], end)
    id_list = [str(i) for i in ids]
    sqlite = online_latency(store, id_list, args.calls)
    print(
        f"online lookup, SQLite, {args.calls} single-entity calls: p50 {sqlite['p50']:.2f} ms, "
        f"p99 {sqlite['p99']:.2f} ms",
        flush=True,
    )
    redis = None
    if shutil.which("redis-server"):
        with redis_server() as port:
            os.environ["FEAST_REDIS_CONNECTION"] = f"127.0.0.1:{port}"
            rstore = feast_store.feature_store(str(ROOT / "feature_repo" / "redis"))
            feast_store.apply_definitions(rstore)
            feast_store.materialize(rstore, ["customer_features"], end)
            redis = online_latency(rstore, id_list, args.calls)
            print(
                f"online lookup, Redis, {args.calls} single-entity calls: "
                f"p50 {redis['p50']:.2f} ms, p99 {redis['p99']:.2f} ms",
                flush=True,
            )
    else:
        print("online lookup, Redis: skipped (no redis-server on PATH)")
    print(
        json.dumps(
            {
                "build_s": round(build_s, 3),
                "loop_s": round(loop_s, 3),
                "pit_1m_s": round(pit_s, 3),
                "online_p99_ms_sqlite": round(sqlite["p99"], 3),
                "online_p99_ms_redis": round(redis["p99"], 3) if redis else None,
            }
        )
    )


if __name__ == "__main__":
    main()
