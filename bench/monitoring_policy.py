"""Does the retraining policy pay? `run.py monitor` month by month, with --retrain off and auto.

Each policy runs in a fresh state of its own (ZenML store, MLflow registry, predictions,
monitoring table, Evidently workspace) from the same starting champion: churn_training as it
would have run on --start-champion (default 2010-12-01: the test cutoff is the latest month
start whose 90-day outcomes are known by then, the last training cutoff as far before it as in
the config, `run.py`'s `_retrain_cutoffs`). Then, as a user would type it,

    uv run python run.py monitor --from 2011-01-01 --to 2011-09-01 --retrain off|auto

scores each month start, monitors the window holding it and (auto) retrains when the gate says
so. The figures are each state's `monitoring_metrics`: ROC AUC and Brier of the batch scores
of each month, from the model version that scored them, once their outcomes are in the data.
Printed side by side per month with the gate's action and the version; the last line is JSON:
{"months", "auc_off_mean", "auc_auto_mean", "brier_off_mean", "brier_auto_mean",
"retrains_auto", "promotions_auto", "wall_s_off", "wall_s_auto"}.

Usage: uv run python -m bench.monitoring_policy [--dev] [--from 2011-01-01] [--to 2011-09-01]
       [--start-champion 2010-12-01] [--keep]
--dev runs the committed subset's configs (quick, for a check of the bench itself).
The full data takes about 20 minutes a policy on 2 cores; the two run one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ("off", "auto")
MONTH_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}: ")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RETAIL_MLOPS_HOME=str(home / "state"),
        ZENML_CONFIG_PATH=str(home / "zenml"),
        ZENML_ANALYTICS_OPT_IN="false",
        GIT_PYTHON_REFRESH="quiet",
    )
    return env


def _share_data_cache(home: Path) -> None:
    """The downloaded data set, shared read-only with the user's state when it is there."""
    cache = ROOT / ".state" / "data"
    (home / "state").mkdir(parents=True, exist_ok=True)
    if cache.is_dir():
        (home / "state" / "data").symlink_to(cache, target_is_directory=True)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=ROOT,
        env=_env(home),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"run.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def starting_champion(home: Path, dev: bool, as_of: str) -> dict[str, str]:
    """Train the champion as of `as_of` in `home`; return its cutoffs."""
    from configs.schema import load_config
    from run import _retrain_cutoffs

    base = ROOT / "configs" / f"churn_training{'.dev' if dev else ''}.yaml"
    raw = load_config(base)
    cutoffs = _retrain_cutoffs(raw, pd.Timestamp(as_of), 90)
    raw["parameters"].update(cutoffs)
    cfg = home / "churn_training.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    _cli(home, "churn_training", "--config", str(cfg))
    return cutoffs


def monthly_figures(home: Path) -> pd.DataFrame:
    """ROC AUC, Brier, drift share and KS of each month's batch scores, by window end."""
    import duckdb

    db = home / "state" / "monitoring.duckdb"
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT window_end, metric, value, model_version FROM monitoring_metrics "
            "WHERE job = 'churn_batch' AND metric IN ('roc_auc', 'brier', 'drift_share', "
            "'prediction_ks')"
        ).df()
    wide = rows.pivot_table(index=["window_end", "model_version"], columns="metric", values="value")
    return wide.reset_index().sort_values("window_end", ignore_index=True)


def run_policy(policy: str, args: argparse.Namespace) -> dict[str, Any]:
    """One policy from a fresh state: the starting champion, then `run.py monitor`."""
    home = Path(tempfile.mkdtemp(prefix=f"bench-policy-{policy}-"))
    _share_data_cache(home)
    cutoffs = starting_champion(home, args.dev, args.start_champion)
    started = time.perf_counter()
    monitor = ["monitor", "--from", args.start, "--to", args.end, "--retrain", policy]
    result = _cli(home, *monitor, *(["--dev"] if args.dev else []))
    wall = time.perf_counter() - started
    # the month lines ("2011-02-01: retrain (...)"), not the table printed after them
    lines = [line for line in result.stdout.splitlines() if MONTH_LINE.match(line)]
    figures = monthly_figures(home)
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "policy": policy,
        "home": str(home),
        "champion_cutoffs": cutoffs,
        "lines": lines,
        "figures": figures,
        "wall_s": wall,
        "retrains": sum("retrained (test" in line for line in lines),
        "promotions": sum(": promoted" in line for line in lines),
    }


def main() -> None:
    """Both policies, one after the other; the side-by-side table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true")
    parser.add_argument("--from", dest="start", default="2011-01-01")
    parser.add_argument("--to", dest="end", default="2011-09-01")
    parser.add_argument("--start-champion", default="2010-12-01")
    parser.add_argument("--keep", action="store_true", help="Keep each policy's state folder.")
    args = parser.parse_args()

    results = {p: run_policy(p, args) for p in POLICIES}
    for p in POLICIES:
        r = results[p]
        print(f"--retrain {p}: {r['wall_s'] / 60:.1f} min, champion from {r['champion_cutoffs']}")
        for line in r["lines"]:
            print(f"  {line}")
    keyed = {p: results[p]["figures"].set_index("window_end").add_suffix(f"_{p}") for p in POLICIES}
    side = keyed["off"].join(keyed["auto"], how="outer")
    cols = [f"{m}_{p}" for p in POLICIES for m in ("model_version", "roc_auc", "brier")]
    print("\nbatch scores of each month, by the model that scored them (outcomes known):")
    print(side[[c for c in cols if c in side]].round(4).to_string())
    matured = side.dropna(subset=[c for c in ("roc_auc_off", "roc_auc_auto") if c in side])
    out = {
        "months": len(side),
        "auc_off_mean": round(float(matured["roc_auc_off"].mean()), 4) if len(matured) else None,
        "auc_auto_mean": round(float(matured["roc_auc_auto"].mean()), 4) if len(matured) else None,
        "brier_off_mean": round(float(matured["brier_off"].mean()), 4) if len(matured) else None,
        "brier_auto_mean": round(float(matured["brier_auto"].mean()), 4) if len(matured) else None,
        "retrains_auto": results["auto"]["retrains"],
        "promotions_auto": results["auto"]["promotions"],
        "wall_s_off": round(results["off"]["wall_s"], 1),
        "wall_s_auto": round(results["auto"]["wall_s"], 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
