"""Churn model quality on the full data: churn_training's XGBoost against the sceptic's baselines.

Runs churn_training's recipe without ZenML, with its rules unchanged: the clean lines, monthly
cutoffs, 90-day horizon and active window of configs/churn_training.yaml (through
bench._churn.churn_recipe), the same features (`build_churn_dataset`, the
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
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("roc_auc", "pr_auc", "brier", "log_loss")


def quality(dev: bool) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Test-cutoff metrics of the model and the baselines, and facts about the run.

    Returns:
        `{model name: classification_metrics}` in table order, and the row counts, cutoffs,
        test churn rate and the model's best iteration.
    """
    from bench._churn import churn_recipe
    from retail_mlops.churn.metrics import classification_metrics
    from retail_mlops.churn.model import LABEL, RecencyBaseline, predict_churn

    recipe = churn_recipe(dev)
    train, valid, test, model = recipe.train, recipe.valid, recipe.test, recipe.model
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
        "test_cutoff": pd.Timestamp(recipe.config["parameters"]["test_cutoff"]).date(),
        "horizon": recipe.horizon,
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
