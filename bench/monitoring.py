"""Monitoring benchmark: the drift check at 100,000 rows x 50 columns, and one full window.

Goals: the drift check <= 30 s; one full churn_monitoring window on the full data <= 60 s wall.

1. Drift check. The frames are built from real churn features: `customer_feature_snapshots`
   (retail_mlops/features/customer.py, its 21 features) on the full UCI Online Retail II lines,
   read and validated as churn_training does (`churn_training_inputs`). Reference rows are the
   snapshots at churn_training's training cutoffs (monthly 2010-03-01 .. 2011-05-01), current
   rows those at the later month starts 2011-06-01 .. 2011-12-01; each side is resampled with
   replacement (seeded) to --rows rows. The 50 columns are the 21 features as they are, the
   21 again as signed log1p (`sign(x) * log1p(|x|)`: the same ranks, another shape), and 8
   jittered copies of the most continuous ones (x + N(0, (5% of the reference std)^2), seeded;
   the same noise law on both sides, so a jittered copy drifts when its source does). Timed on
   the same two DataFrames, alternating per repeat, median of --repeats, after one untimed
   warm-up of each on 1,000 rows (imports, Evidently's first use):
   - the project's configuration: `retail_mlops.monitoring.drift.run_drift_report` with
     `DriftReportParams`' defaults (Wasserstein, threshold 0.1, reference sampled to 20,000
     rows), exactly as `evaluate_window` calls it (retail_mlops/monitoring/window.py), its
     summary included;
   - Evidently 0.7's defaults: `Report([DataDriftPreset()]).run(current, reference)` on the
     whole frames (its method per column from the data: Wasserstein for numeric columns
     of more than 1,000 rows, a categorical test for low-cardinality ones).
   When one default run takes more than a minute it is timed once, and the output says so.
2. One full window: `uv run --frozen python run.py churn_monitoring --no-cache` (the config's
   window, default configs/churn_monitoring.yaml: as of 2011-12-02, the full data) as a
   subprocess, wall time from start to exit, median of --window-repeats. `--no-cache` so every
   step runs (load_champion_model never caches anyway). The window needs a champion and batch
   scores in it, in the state it runs on:
   - without --prepare, the state is the checkout's, the one `run.py` uses (RETAIL_MLOPS_HOME,
     else .state/, and ZENML_CONFIG_PATH, else .state/zenml), or --state DIR. If it holds no
     batch predictions for the window, the bench says so in one line and exits with status 2;
     it never trains a model unasked. The window run records into that state (its rows and
     snapshots replace those of the same window, as any re-run of a window does);
   - with --prepare, `run.py churn_training` and `run.py churn_batch_inference` (full configs)
     run first, untimed, into --state DIR, or into a fresh temporary folder when no --state is
     given (never your state unless you name it), with the checkout's cached data set copied
     in when it has one. This takes a few minutes.

Usage: uv run python -m bench.monitoring [--repeats 3] [--rows 100000] [--window-repeats 1]
       [--prepare] [--state DIR] [--config PATH] [--skip-window]
--skip-window times the drift check only (window_full_s is then null).
Prints a table; the last line is JSON: {"drift_100k_s", "drift_100k_default_s", "window_full_s"}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
N_COLUMNS = 50
CURRENT_CUTOFFS = ("2011-06-01", "2011-12-01")  # month starts after churn_training's last one
# the most continuous features (many distinct values): their jittered copies fill up to 50
JITTERED = (
    "total_spent",
    "avg_order_value",
    "prev_order_amount",
    "tenure_days",
    "mean_days_between_orders",
    "spend_90d",
    "order_value_std",
    "spend_per_tenure_day",
)
JITTER = 0.05  # noise std as a share of the reference std
SLOW_S = 60.0  # a default Evidently run slower than this is timed once


def drift_frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Reference and current frames of `rows` rows x 50 columns from real features.

    Returns:
        The reference and current frames, and the seconds spent building the features.
    """
    from bench._churn import churn_training_config, churn_training_inputs
    from retail_mlops.features.customer import (
        FEATURE_COLUMNS,
        customer_feature_snapshots,
        monthly_cutoffs,
    )

    t0 = time.perf_counter()
    lines, cutoffs, _horizon, window = churn_training_inputs(churn_training_config(dev=False))
    train_cutoffs = cutoffs[:-1]  # the last one is the test cutoff
    later = monthly_cutoffs(*CURRENT_CUTOFFS)
    snaps = customer_feature_snapshots(lines, [*train_cutoffs, *later], window)
    build_s = time.perf_counter() - t0
    features = list(FEATURE_COLUMNS)
    rng = np.random.default_rng(0)

    def side(picked: pd.DataFrame) -> pd.DataFrame:
        base = picked.iloc[rng.integers(0, len(picked), size=rows)][features]
        return base.reset_index(drop=True)

    ref = side(snaps[snaps["cutoff"].isin(train_cutoffs)])
    cur = side(snaps[snaps["cutoff"].isin(later)])
    std = ref[list(JITTERED)].std()
    frames = []
    for frame in (ref, cur):
        out = {c: frame[c] for c in features}
        out |= {f"log_{c}": np.sign(frame[c]) * np.log1p(frame[c].abs()) for c in features}
        out |= {
            f"jitter_{c}": frame[c] + rng.normal(0.0, JITTER * float(std[c]), size=rows)
            for c in JITTERED
        }
        frames.append(pd.DataFrame(out))
    assert frames[0].shape[1] == N_COLUMNS, frames[0].shape
    return frames[0], frames[1], build_s


def time_drift(
    ref: pd.DataFrame, cur: pd.DataFrame, repeats: int
) -> tuple[list[float], list[float], dict[str, Any], dict[str, Any]]:
    """Both drift checks, alternating per repeat; the default one once only if it is slow.

    Returns:
        The project's and the default's wall times, and the summary (drift share) of each.
    """
    from evidently import Report
    from evidently.presets import DataDriftPreset

    from retail_mlops.monitoring.drift import (
        DriftReportParams,
        run_drift_report,
        summarize_snapshot,
    )

    columns = list(ref.columns)
    p = DriftReportParams()
    project: list[float] = []
    default: list[float] = []
    summaries: dict[str, Any] = {}
    snapshot: Any = None
    # warm both once on a slice, untimed (imports, Evidently's first-use set-up)
    run_drift_report(ref.head(1000), cur.head(1000), columns, p.method, p.threshold, 1000)
    Report([DataDriftPreset()]).run(current_data=cur.head(1000), reference_data=ref.head(1000))
    for i in range(repeats):
        t0 = time.perf_counter()
        _snap, summaries["project"] = run_drift_report(
            ref, cur, columns, p.method, p.threshold, p.max_reference_rows
        )
        project.append(time.perf_counter() - t0)
        if not default or default[0] <= SLOW_S:
            t0 = time.perf_counter()
            snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
            default.append(time.perf_counter() - t0)
        extra = f", default {default[-1]:.2f} s" if len(default) == i + 1 else ""
        print(f"  repeat {i + 1}: project {project[-1]:.2f} s{extra}", flush=True)
    summaries["default"] = summarize_snapshot(snapshot.dict(), columns)
    return project, default, summaries["project"], summaries["default"]


def state_env(state: Path | None) -> tuple[dict[str, str], Path]:
    """The environment of the run.py subprocesses and the state folder they use.

    With `state`, RETAIL_MLOPS_HOME = state and ZENML_CONFIG_PATH = state/zenml; without, the
    caller's environment with run.py's own defaults (.state/ and .state/zenml).
    """
    env = dict(os.environ)
    env.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
    if state is not None:
        env["RETAIL_MLOPS_HOME"] = str(state)
        env["ZENML_CONFIG_PATH"] = str(state / "zenml")
    else:
        env.setdefault("ZENML_CONFIG_PATH", str(ROOT / ".state" / "zenml"))
    return env, Path(env.get("RETAIL_MLOPS_HOME", ROOT / ".state"))


def window_scores(state: Path, config: Path) -> tuple[str, int]:
    """The config's as_of and the number of batch scores the window holds in `state`."""
    from configs.schema import load_config
    from retail_mlops.monitoring.window import (
        WINDOW_DAYS,
        previous_window_end,
        read_batch_predictions,
        window_bounds,
    )

    params = load_config(config)["parameters"]
    as_of = str(params["as_of"])
    metrics_db = state / "monitoring.duckdb"
    previous = previous_window_end(as_of, metrics_db) if metrics_db.exists() else None
    start, end = window_bounds(as_of, int(params.get("window_days", WINDOW_DAYS)), previous)
    rows, _account = read_batch_predictions(
        state / "predictions" / "predictions.duckdb", start, end
    )
    return as_of, len(rows)


def seed_dataset(state: Path) -> None:
    """Copy the checkout's cached data set into `state`, so preparing it downloads nothing.

    The dataset source verifies the file's checksum before use, wherever it came from.
    """
    from retail_mlops.ingest.dataset import CACHE_NAME

    cached = ROOT / ".state" / "data" / CACHE_NAME
    target = state / "data" / CACHE_NAME
    if cached.exists() and not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(cached, target)


def run_py(env: dict[str, str], *args: str) -> float:
    """`uv run --frozen python run.py *args` from the project root; its wall seconds.

    Raises:
        SystemExit: With the command's status if it fails (its output is shown).
    """
    uv = shutil.which("uv")
    cmd = [uv, "run", "--frozen", "python"] if uv else [sys.executable]
    cmd += ["run.py", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
        print(f"error: {' '.join(cmd[-3:])} failed (exit {proc.returncode})", file=sys.stderr)
        raise SystemExit(proc.returncode)
    return wall


def main() -> None:  # noqa: D103
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="drift check repeats")
    parser.add_argument("--rows", type=int, default=100_000, help="rows per side")
    parser.add_argument("--window-repeats", type=int, default=1)
    parser.add_argument(
        "--prepare", action="store_true", help="run churn_training and batch inference first"
    )
    parser.add_argument("--state", type=Path, default=None, help="state folder of the window")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "churn_monitoring.yaml")
    parser.add_argument("--skip-window", action="store_true", help="time the drift check only")
    args = parser.parse_args()

    state = args.state
    if args.prepare and state is None:
        state = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    env, state_dir = state_env(state)
    if not args.skip_window and not args.prepare:
        as_of, n = window_scores(state_dir, args.config)
        if n == 0:
            print(
                f"no batch predictions in the window ending {as_of} in {state_dir}: run with "
                "--prepare (trains a champion and scores in a temporary state) or run "
                "churn_training and churn_batch_inference first",
                file=sys.stderr,
            )
            raise SystemExit(2)

    print(f"drift check: {args.rows:,} rows x {N_COLUMNS} columns per side", flush=True)
    ref, cur, build_s = drift_frames(args.rows)
    print(f"  features built from the full data in {build_s:.1f} s (not timed)", flush=True)
    project, default, p_sum, d_sum = time_drift(ref, cur, args.repeats)
    drift_s, default_s = statistics.median(project), statistics.median(default)

    window_s = None
    window_runs: list[float] = []
    prepare_s = None
    if not args.skip_window:
        if args.prepare:
            print(f"preparing {state_dir}: churn_training, churn_batch_inference", flush=True)
            seed_dataset(state_dir)
            prepare_s = run_py(env, "churn_training") + run_py(env, "churn_batch_inference")
        as_of, n = window_scores(state_dir, args.config)
        print(f"window ending {as_of}: {n:,} batch scores in {state_dir}", flush=True)
        for i in range(args.window_repeats):
            window_runs.append(
                run_py(env, "churn_monitoring", "--config", str(args.config), "--no-cache")
            )
            print(f"  window run {i + 1}: {window_runs[-1]:.1f} s", flush=True)
        window_s = statistics.median(window_runs)

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    once = " (timed once: over a minute)" if len(default) < len(project) else ""
    print()
    print(f"{'measure':<46} {'median s':>9}  {'goal':>6}  runs / notes")
    print(
        f"{'drift, project config (run_drift_report)':<46} {drift_s:9.2f}  {'30':>6}  "
        f"{runs(project)}; drift share {p_sum['drift_share']:.0%}"
    )
    print(
        f"{'drift, Evidently defaults (DataDriftPreset())':<46} {default_s:9.2f}  {'-':>6}  "
        f"{runs(default)}{once}; drift share {d_sum['drift_share']:.0%}"
    )
    if window_s is not None:
        print(
            f"{'churn_monitoring window, full data (wall)':<46} {window_s:9.2f}  {'60':>6}  "
            f"{runs(window_runs)}"
            + (f"; preparation {prepare_s:.0f} s, not timed" if prepare_s else "")
        )
    print(
        json.dumps(
            {
                "drift_100k_s": round(drift_s, 3),
                "drift_100k_default_s": round(default_s, 3),
                "window_full_s": None if window_s is None else round(window_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
