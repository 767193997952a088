"""Soak of the churn service: a long paced load at half its measured capacity.

Trains and registers the churn model as bench/serving.py does (same state in a temporary
folder), starts the churn service (`bentoml serve`, one worker, adaptive batching on, one
variant), measures its capacity with wrk flat out (single-row /predict, --connections), then
runs a paced wrk load at half that rate for --minutes, one wrk run per minute, so each minute
gets its own req/s, p50 and p99. Between minutes it reads the resident memory (RSS) of the
server's whole process tree. The baseline is the service's own first minute:

- memory: RSS after the last minute against RSS after the first (goal: growth <= 10%);
- latency: p99 of the last minute against the first (goal: within 20%).

Usage: uv run python -m bench.soak [--minutes 10] [--connections 32] [--rows N] [--full]
The last line is JSON: {"capacity_rps", "target_rps", "minutes", "rps_median", "rss_first_mb",
"rss_last_mb", "rss_growth", "p99_first_ms", "p99_last_ms", "p99_change", "goal_met"}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from typing import Any

from bench.serving import (  # one temporary state with bench.serving (set at its import)
    _HOME,
    HOST,
    SERVICE_TARGET,
    WARMUP_S,
    lua_script,
    request_rows,
    stop_leftovers,
    train_and_register,
    tree_rss_mb,
    wrk_run,
)

DELAY_MS = 50  # each paced connection waits this long before each request
MINUTE_S = 60


def main() -> None:
    """Capacity, then the paced minutes; prints each minute and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32, help="for the capacity run")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--full", action="store_true", help="train on the full UCI data set")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: install it (apt-get install wrk) and run again")

    from retail_mlops.deploy import process
    from retail_mlops.names import CHAMPION, MODEL_NAME
    from retail_mlops.paths import PROJECT_ROOT
    from retail_mlops.serving.bento_store import churn_release
    from retail_mlops.serving.release import ChurnServing, release_env, write_release

    version, data, features = train_and_register(args.full)
    rows = request_rows(data, features, args.rows, args.full)
    work = _HOME / "soak"
    work.mkdir(parents=True)
    spec = ChurnServing.model_validate(
        {"variants": [{"name": "champion", "alias": CHAMPION, "weight": 100}]}
    )
    release = churn_release(spec, str(PROJECT_ROOT / "feature_repo"), MODEL_NAME)
    path = write_release(release, work, "release.json")
    bodies = [json.dumps({"rows": [r]}, separators=(",", ":")) for r in rows]
    port = process.free_port()
    url = f"http://{HOST}:{port}/predict"
    dep = process.start(
        "churn-soak",
        SERVICE_TARGET,
        port,
        env={release_env("churn"): str(path)},
        log_path=work / "service.log",
    )
    minutes: list[dict[str, Any]] = []
    try:
        flat = lua_script(bodies, work, "flat")
        wrk_run(wrk, url, flat, WARMUP_S, args.connections, dep.pid)
        capacity = wrk_run(wrk, url, flat, 10, args.connections, dep.pid)["rps"]
        target = capacity / 2
        paced_connections = max(1, round(target * DELAY_MS / 1000))
        paced = lua_script(bodies, work, "paced", delay_ms=DELAY_MS)
        print(
            f"model v{version}; capacity {capacity:.0f} req/s (wrk -c{args.connections}, 10 s); "
            f"soak at ~{target:.0f} req/s: {paced_connections} connections, {DELAY_MS} ms "
            f"between requests each, {args.minutes} x {MINUTE_S} s",
            flush=True,
        )
        for i in range(args.minutes):
            res = wrk_run(wrk, url, paced, MINUTE_S, paced_connections, dep.pid)
            res["rss_mb"] = tree_rss_mb(dep.pid)
            minutes.append(res)
            print(
                f"  minute {i + 1:>2}: {res['rps']:>7.0f} req/s  p50 {res['p50_ms']:6.2f} ms  "
                f"p99 {res['p99_ms']:7.2f} ms  RSS {res['rss_mb']:7.1f} MB  "
                f"server CPU {res['server_cpu']:4.0%}",
                flush=True,
            )
    finally:
        process.stop(dep)
        stop_leftovers()

    first, last = minutes[0], minutes[-1]
    growth = last["rss_mb"] / first["rss_mb"] - 1
    change = last["p99_ms"] / first["p99_ms"] - 1
    met = growth <= 0.10 and abs(change) <= 0.20
    print(
        f"RSS {first['rss_mb']:.1f} -> {last['rss_mb']:.1f} MB ({growth:+.1%}, goal <= +10%); "
        f"p99 {first['p99_ms']:.2f} -> {last['p99_ms']:.2f} ms ({change:+.1%}, goal within 20%); "
        f"goal {'met' if met else 'NOT met'}"
    )
    out = {
        "capacity_rps": round(capacity, 1),
        "target_rps": round(target, 1),
        "minutes": len(minutes),
        "rps_median": round(statistics.median(m["rps"] for m in minutes), 1),
        "rss_first_mb": round(first["rss_mb"], 1),
        "rss_last_mb": round(last["rss_mb"], 1),
        "rss_growth": round(growth, 4),
        "p99_first_ms": round(first["p99_ms"], 3),
        "p99_last_ms": round(last["p99_ms"], 3),
        "p99_change": round(change, 4),
        "goal_met": met,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        print(f"state and server logs kept in {_HOME}", file=sys.stderr)
        raise
    shutil.rmtree(_HOME, ignore_errors=True)
