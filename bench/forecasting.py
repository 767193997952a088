"""Forecasting at scale: the Prophet stage, the global XGBoost, and accuracy on the real data.

Grows the real item histories to --series series (default 10,000) of ~730 calendar days by
resampling whole real series (items sold on 100+ days) and measures, in one run on this
machine:

- the Prophet stage as the pipeline runs it (fit + 28-day forecast per series, no interval
  sampling, over a process pool of --jobs) against a plain sequential loop of default Prophet
  (fit + predict with its default intervals) over a 200-series sample, extrapolated;
- the global XGBoost model: train + predict for all series;
- backtest accuracy on the 200 items with the most selling days, 28 open days from 2011-09-01:
  WAPE/MASE of seasonal naive, Prophet, XGBoost and the per-item choice (made on the origins
  2011-06-01, 07-01, 08-01, scored on 09-01).

Timings are medians over --repeats for the cheap parts (the Prophet stage runs once: it is the
long one). The machine has 2 cores and may be shared: figures are wall time under whatever
else runs. Last line JSON: {"prophet_10k_min", "speedup_vs_sequential", "xgb_10k_min",
"wape_naive_top200", "wape_prophet_top200", "wape_choice_top200"}.

Usage: uv run python -m bench.forecasting [--series 10000] [--jobs 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from retail_mlops.forecasting.backtest import (
    BacktestSpec,
    evaluate,
    global_backtest,
    prophet_shard,
)
from retail_mlops.forecasting.demand import Panel, daily_demand, sales_lines, selling_days
from retail_mlops.forecasting.global_model import GlobalParams, fit_global, predict_global
from retail_mlops.forecasting.prophet import (
    ProphetParams,
    ProphetTask,
    _quiet,
    fit_predict,
    run_tasks,
)
from retail_mlops.ingest.sources import read_source

ROOT = Path(__file__).resolve().parent.parent

HORIZON = 28
ORIGINS = ["2011-06-01", "2011-07-01", "2011-08-01", "2011-09-01"]


def real_panel() -> Panel:
    """Daily demand per item of the full data set, on open days."""
    raw, _ = read_source({"kind": "dataset"})
    sales, _ = sales_lines(raw)
    return Panel.from_long(daily_demand(sales))


def grown(panel: Panel, n: int, seed: int = 0) -> Panel:
    """N series resampled (whole series, with replacement) from items sold on 100+ days."""
    pool = np.flatnonzero(selling_days(panel, len(panel.dates)) >= 100)
    rows = np.random.default_rng(seed).choice(pool, size=n, replace=True)
    out = panel.subset(rows)
    out.skus = np.array([f"{s}#{k}" for k, s in enumerate(out.skus)], dtype=object)
    return out


def prophet_stage(panel: Panel, targets: pd.DatetimeIndex, jobs: int) -> float:
    """Wall seconds of the pipeline's Prophet stage: fit + forecast per series, in a pool."""
    tasks = []
    for r in range(len(panel.skus)):
        s = panel.series(r)
        tasks.append(
            ProphetTask(str(panel.skus[r]), s["ds"].to_numpy(), s["y"].to_numpy(), [], None)
        )
    params = ProphetParams(uncertainty_samples=0)
    for t in tasks:
        t.cuts = [(len(t.ds), targets.to_numpy())]
    start = time.perf_counter()
    run_tasks(tasks, params, n_jobs=jobs)
    return time.perf_counter() - start


def sequential_default(panel: Panel, n: int) -> float:
    """Seconds per series of the plain loop a Prophet user writes, one series after another.

    Default Prophet plus UK holidays, `fit`, then `predict(make_future_dataframe(HORIZON))`:
    the history and the next HORIZON days, with the default 1,000-sample intervals. This is
    the baseline the goal is stated against (one fit ~0.11 s, one such predict ~0.17 s).
    """
    from prophet import Prophet

    _quiet()
    start = time.perf_counter()
    for r in range(n):
        s = panel.series(r)
        model = Prophet()
        model.add_country_holidays(country_name="UK")
        model.fit(pd.DataFrame({"ds": s["ds"], "y": s["y"]}))
        model.predict(model.make_future_dataframe(periods=HORIZON))
    return (time.perf_counter() - start) / n


def sequential_targets_only(panel: Panel, targets: pd.DatetimeIndex, n: int) -> float:
    """Seconds per series of a leaner loop: predict only the HORIZON target days (intervals on).

    A harder baseline than the plain loop (no prediction over the history), reported beside it.
    """
    params = ProphetParams(uncertainty_samples=1000)
    start = time.perf_counter()
    for r in range(n):
        s = panel.series(r)
        fit_predict(s["ds"], s["y"], targets, params)
    return (time.perf_counter() - start) / n


def xgb_stage(panel: Panel, targets: pd.DatetimeIndex) -> float:
    """Wall seconds to train the global model and forecast every series."""
    start = time.perf_counter()
    t = len(panel.dates)
    model = fit_global(
        panel.y, panel.price, panel.dates, t, HORIZON, GlobalParams(max_train_rows=600_000)
    )
    predict_global(model, panel.y, panel.price, panel.dates, t, targets)
    return time.perf_counter() - start


def accuracy_top200(panel: Panel, jobs: int) -> pd.DataFrame:
    """Backtest metrics per model on the 200 items with the most selling days."""
    top = np.argsort(-selling_days(panel, len(panel.dates)), kind="stable")[:200]
    sub = panel.subset(top)
    spec = BacktestSpec([pd.Timestamp(o) for o in ORIGINS], HORIZON)
    glob = global_backtest(sub, spec, GlobalParams())
    future = pd.date_range(sub.dates[-1] + pd.Timedelta(days=1), periods=1)
    prop, _, _ = prophet_shard(sub, spec, future, ProphetParams(), 0, n_jobs=jobs, progress=False)
    result = evaluate(pd.concat([glob, prop], ignore_index=True), sub)
    return result.aggregate[result.aggregate["scope"] == "prophet_items"].set_index("model")


def main() -> None:
    """Run the benchmark and print medians, ratios and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample", type=int, default=200, help="series in the sequential loop")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    panel = real_panel()
    big = grown(panel, args.series)
    days = (big.dates[-1] - big.dates[0]).days + 1
    print(f"{args.series} series x {len(big.dates)} open days ({days} calendar days)")
    targets = pd.date_range(big.dates[-1] + pd.Timedelta(days=1), periods=HORIZON)

    sample = min(args.sample, args.series)
    per_series = sequential_default(big, sample)
    seq_total = per_series * args.series
    print(f"plain sequential Prophet loop: {per_series:.3f} s/series -> {seq_total / 60:.1f} min")
    lean = sequential_targets_only(big, targets, sample)
    print(f"lean loop (targets only, intervals on): {lean:.3f} s/series")
    prophet_s = prophet_stage(big, targets, args.jobs)
    scale = 10_000 / args.series
    print(f"Prophet stage, {args.jobs} processes: {prophet_s / 60:.2f} min for {args.series}")

    xgb_s = statistics.median(xgb_stage(big, targets) for _ in range(args.repeats))
    print(f"global XGBoost train + predict (median of {args.repeats}): {xgb_s / 60:.2f} min")

    acc = accuracy_top200(panel, args.jobs)
    print("top-200 backtest at 2011-09-01 (choice made on the earlier origins):")
    print(acc[["wape", "mase", "smape", "bias"]].round(3).to_string())

    out = {
        "prophet_10k_min": round(prophet_s * scale / 60, 2),
        "speedup_vs_sequential": round(seq_total / prophet_s, 2),
        "xgb_10k_min": round(xgb_s * scale / 60, 2),
        "wape_naive_top200": round(float(acc.loc["naive", "wape"]), 3),
        "wape_prophet_top200": round(float(acc.loc["prophet", "wape"]), 3),
        "wape_choice_top200": round(float(acc.loc["choice", "wape"]), 3),
        "speedup_vs_lean_loop": round(lean * args.series / prophet_s, 2),
        "wape_xgboost_top200": round(float(acc.loc["xgboost", "wape"]), 3),
    }
    if args.series != 10_000:
        print(f"(times for {args.series} series, scaled linearly to 10,000)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
