"""Churn model quality on the full data: churn_training's XGBoost against the sceptic's baselines.

Runs churn_training's recipe without ZenML, with its rules unchanged: the clean lines, monthly
cutoffs, 90-day horizon and active window of configs/churn_training.yaml (through
bench.pipeline_overhead.churn_training_inputs), the same features (`build_churn_dataset`, the
direct path the tests hold equal to the Feast join), the time split of `split_churn_dataset`
(the test cutoff alone is the test set, the last training cutoffs the early-stopping slice) and
the step's TrainParams. On the test cutoff's customers it scores:

1. the XGBoost model (`fit_xgb`, scored by `predict_churn` at its best iteration);
2. the recency baseline (`RecencyBaseline`: logistic regression on log days since the last
   order, fitted on the training rows, as `evaluate_churn_model` fits it);
3. the base rate: every customer gets the training rows' churn rate.

It prints ROC AUC, PR AUC (churn is the positive class), Brier and log loss for each, from
`retail_mlops.churn.metrics.classification_metrics`, and the wall time.

Goal: ROC AUC >= 0.82 at the test cutoff 2011-09-01, with PR AUC and Brier better than today's.
At the time of writing: XGBoost ROC AUC 0.801, PR AUC 0.826, Brier 0.180; recency-only 0.761.

Usage: uv run python -m bench.churn_quality [--dev]
--dev uses the committed subset (configs/churn_training.dev.yaml) instead of the full data set.
The last line is JSON: roc_auc, pr_auc, brier (the XGBoost model's) and baseline_roc_auc (the
recency baseline's).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# bench.pipeline_overhead points these at a fresh temporary folder when it is imported (its
# own isolation); this benchmark writes no state and reads the project's cached data set.
_ISOLATED_ENV = ("RETAIL_MLOPS_HOME", "ZENML_CONFIG_PATH")
COLUMNS = ("roc_auc", "pr_auc", "brier", "log_loss")


def training_inputs(config: dict) -> tuple[pd.DataFrame, list[pd.Timestamp], int, int]:
    """`churn_training_inputs` of bench.pipeline_overhead, reading the user's data cache.

    Without restoring the environment its import changes, every run would download the data
    set again into a temporary folder.
    """
    saved = {name: os.environ.get(name) for name in _ISOLATED_ENV}
    from bench.pipeline_overhead import churn_training_inputs

    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return churn_training_inputs(config)


def quality(dev: bool) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Test-cutoff metrics of the model and the baselines, and facts about the run.

    Returns:
        `{model name: classification_metrics}` in table order, and the row counts, cutoffs,
        test churn rate and the model's best iteration.
    """
    from configs.schema import load_config, step_params
    from retail_mlops.churn.metrics import classification_metrics
    from retail_mlops.churn.model import (
        LABEL,
        RecencyBaseline,
        TrainParams,
        fit_xgb,
        predict_churn,
        split_by_time,
    )
    from retail_mlops.features.customer import FEATURE_COLUMNS, build_churn_dataset

    config = load_config(ROOT / "configs" / f"churn_training{'.dev' if dev else ''}.yaml")
    params = config["parameters"]
    lines, cutoffs, horizon, window = training_inputs(config)
    data = build_churn_dataset(lines, cutoffs, horizon, window)
    train, valid, test = split_by_time(
        data, params["test_cutoff"], step_params(config, "split_churn_dataset").n_valid_cutoffs
    )
    features = list(FEATURE_COLUMNS)
    model = fit_xgb(
        train, valid, features, TrainParams(**step_params(config, "train_churn_model").model_dump())
    )
    y = test[LABEL].to_numpy()
    scores = {
        "xgboost": predict_churn(model, test),
        "recency-only logistic": RecencyBaseline().fit(train).predict_proba(test),
        "base rate": np.full(len(test), float(train[LABEL].mean())),
    }
    metrics = {name: classification_metrics(y, p) for name, p in scores.items()}
    facts = {
        "rows": (len(train), len(valid), len(test)),
        "train_cutoffs": (train["cutoff"].min().date(), train["cutoff"].max().date()),
        "valid_cutoffs": (valid["cutoff"].min().date(), valid["cutoff"].max().date()),
        "test_cutoff": pd.Timestamp(params["test_cutoff"]).date(),
        "horizon": horizon,
        "test_churn_rate": float(y.mean()),
        "best_iteration": int(model.best_iteration),
    }
    return metrics, facts


def main() -> None:
    """Fit and score once, print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", action="store_true", help="use the committed subset")
    args = parser.parse_args()

    t0 = time.perf_counter()
    metrics, facts = quality(args.dev)
    wall = time.perf_counter() - t0
    n_train, n_valid, n_test = facts["rows"]
    print(
        f"data: {'committed subset' if args.dev else 'full UCI Online Retail II'}; "
        f"train {n_train:,} rows ({facts['train_cutoffs'][0]} to {facts['train_cutoffs'][1]}), "
        f"early-stopping {n_valid:,} ({facts['valid_cutoffs'][0]} to "
        f"{facts['valid_cutoffs'][1]}), test {n_test:,} customers at {facts['test_cutoff']} "
        f"(churn rate {facts['test_churn_rate']:.3f}, {facts['horizon']}-day horizon)"
    )
    print(f"xgboost best iteration {facts['best_iteration']}; wall time {wall:.1f} s")
    print(f"{'model':<24}" + "".join(f"{c:>10}" for c in COLUMNS))
    for name, row in metrics.items():
        print(f"{name:<24}" + "".join(f"{row[c]:>10.4f}" for c in COLUMNS))
    model, baseline = metrics["xgboost"], metrics["recency-only logistic"]
    print(
        json.dumps(
            {
                "roc_auc": round(model["roc_auc"], 4),
                "pr_auc": round(model["pr_auc"], 4),
                "brier": round(model["brier"], 4),
                "baseline_roc_auc": round(baseline["roc_auc"], 4),
            }
        )
    )


if __name__ == "__main__":
    main()
