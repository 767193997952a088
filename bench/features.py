"""Feature-store benchmark: feature build at 10,000 items x 730 days, PIT retrieval, online reads.

1. Feature build: the real Online Retail II item histories (items with 730 days of history),
   resampled as whole series to 10,000 items x 730 days; the full item feature set in DuckDB,
   and the plain pandas (groupby-shift/rolling) reference for the same features, same run.
2. Point-in-time retrieval of 1,000,000 entity rows (real customers, random timestamps) against
   the real monthly customer snapshots, through Feast's DuckDB offline store.
3. Online lookup of one entity, 10,000 calls, SQLite and (if redis-server exists) Redis.

Usage: uv run python -m bench.features [--items 10000] [--entities 1000000] [--calls 10000]
       [--repeats 3]
Prints medians; the last line is JSON with build_s, seed_pandas_s, pit_1m_s,
online_p99_ms_sqlite, online_p99_ms_redis. State goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="bench-features-"))
os.environ["RETAIL_MLOPS_HOME"] = str(_HOME)


def grow_items(daily: pd.DataFrame, n_items: int, n_days: int, seed: int = 0) -> pd.DataFrame:
    """Resample whole real item series (last `n_days` days) to `n_items` items."""
    end = daily["date"].max()
    start = end - pd.Timedelta(days=n_days - 1)
    window = daily[daily["date"] >= start]
    full = window.groupby("stock_code")["date"].min()
    eligible = full[full == start].index.to_numpy()
    picks = np.random.default_rng(seed).choice(eligible, size=n_items, replace=True)
    by_item = {k: g for k, g in window[window["stock_code"].isin(set(picks))].groupby("stock_code")}
    frames = [by_item[code].assign(stock_code=f"{code}#{i}") for i, code in enumerate(picks)]
    return pd.concat(frames, ignore_index=True)


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

    from retail_mlops.features import feast_store
    from retail_mlops.features.customer import (
        FEATURE_COLUMNS,
        customer_feature_snapshots,
        monthly_cutoffs,
    )
    from retail_mlops.features.item import daily_item_demand, item_daily_features
    from retail_mlops.ingest.sources import read_source
    from retail_mlops.validate.rules import split_quarantine
    from tests.reference.item_features import item_daily_features_pandas
    from tests.servers import redis_server

    raw, _ = read_source({"kind": "dataset"})
    lines, _ = split_quarantine(raw)

    # --- 1. feature build ---
    grown = grow_items(daily_item_demand(lines), args.items, args.days)
    print(
        f"feature build input: {grown['stock_code'].nunique()} items x {args.days} days = "
        f"{len(grown):,} rows",
        flush=True,
    )
    build_s, feats = timed(lambda: item_daily_features(grown), args.repeats)
    print(f"  DuckDB full feature set ({feats.shape[1] - 2} features): median {build_s:.2f} s")
    pandas_s, _ = timed(lambda: item_daily_features_pandas(grown), 1)
    print(
        f"  pandas reference (groupby shift/rolling), same features: {pandas_s:.2f} s "
        f"(one run) -> DuckDB x{pandas_s / build_s:.1f} faster",
        flush=True,
    )
    del feats

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
                "seed_pandas_s": round(pandas_s, 3),
                "pit_1m_s": round(pit_s, 3),
                "online_p99_ms_sqlite": round(sqlite["p99"], 3),
                "online_p99_ms_redis": round(redis["p99"], 3) if redis else None,
            }
        )
    )


if __name__ == "__main__":
    main()
