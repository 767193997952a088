"""ZenML overhead on churn_training: the pipeline vs the same work called directly.

Runs churn_training through ZenML (local orchestrator, MLflow tracker) and, in the same
process, the same framework-free functions in the same order with the same MLflow logging and
registration, on the same data. Prints the median wall times over --repeats and the ratio; the
last line is JSON: {"zenml_wall_s": ..., "direct_wall_s": ..., "overhead_ratio": ...}.

Usage: uv run python -m bench.pipeline_overhead [--dev] [--repeats 3]
State goes to a temporary folder, never the user's ZenML config or MLflow store.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
os.environ["RETAIL_MLOPS_HOME"] = str(_HOME / "state")
os.environ["ZENML_CONFIG_PATH"] = str(_HOME / "zenml")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["GIT_PYTHON_REFRESH"] = "quiet"


def direct_run(config: dict, tracking_uri: str) -> float:
    """The churn_training work without ZenML; returns its wall time in seconds."""
    import mlflow
    import pandas as pd

    from retail_mlops.churn.metrics import classification_metrics
    from retail_mlops.churn.model import LABEL, RecencyBaseline, TrainParams, fit_xgb, predict_churn
    from retail_mlops.churn.tracking import log_churn_model
    from retail_mlops.features import feast_store
    from retail_mlops.features.customer import (
        FEATURE_COLUMNS,
        churn_entities,
        customer_feature_snapshots,
        monthly_cutoffs,
    )
    from retail_mlops.ingest.sources import read_source
    from retail_mlops.names import MODEL_NAME
    from retail_mlops.registry import register
    from retail_mlops.validate.rules import split_quarantine

    start = time.perf_counter()
    params, steps = config["parameters"], config["steps"]
    raw, _lineage = read_source(params["source"])
    clean, _quarantine = split_quarantine(raw)
    cutoffs = [
        *monthly_cutoffs(params["first_cutoff"], params["last_train_cutoff"]),
        pd.Timestamp(params["test_cutoff"]),
    ]
    window = params["active_window_days"]
    horizon = steps["build_churn_entities"]["parameters"]["horizon_days"]
    # the same feature-store round trip the pipeline makes: write snapshots, PIT-join entities
    entities = churn_entities(clean, cutoffs, horizon, window)
    snaps = customer_feature_snapshots(clean, cutoffs, window).rename(
        columns={"cutoff": "event_timestamp"}
    )
    summary = feast_store.quality_summary(snaps, list(FEATURE_COLUMNS))
    store = feast_store.feature_store()
    feast_store.apply_definitions(store)
    feast_store.write_offline(snaps, "customer_features", summary)
    data = feast_store.historical_features(store, entities, "customer_features").rename(
        columns={"event_timestamp": "cutoff"}
    )
    from retail_mlops.churn.model import split_by_time

    train, valid, test = split_by_time(
        data, params["test_cutoff"], steps["split_churn_dataset"]["parameters"]["n_valid_cutoffs"]
    )
    features = list(FEATURE_COLUMNS)
    xp = TrainParams(**steps["train_churn_model"]["parameters"])
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("churn_training")
    with mlflow.start_run():
        model = fit_xgb(train, valid, features, xp)
        model_uri = log_churn_model(model, train, valid, xp, features)
        m = classification_metrics(test[LABEL], predict_churn(model, test))
        b = classification_metrics(test[LABEL], RecencyBaseline().fit(train).predict_proba(test))
        mlflow.log_metrics(
            {f"test_{k}": v for k, v in m.items()} | {f"baseline_test_{k}": v for k, v in b.items()}
        )
        predict_churn(model, train)  # the reference predictions the pipeline also computes
        register(model_uri, f"{MODEL_NAME}_direct")
    return time.perf_counter() - start


def main() -> None:
    """Run both paths --repeats times, alternating, and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", action="store_true", help="use the committed subset")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from configs.schema import load_config
    from configs.stacks import register_stack
    from run import run_pipeline
    from steps.client import configure_mlflow_from_stack

    register_stack("local")
    cfg_path = ROOT / "configs" / f"churn_training{'.dev' if args.dev else ''}.yaml"
    config = load_config(cfg_path)
    tracking_uri = configure_mlflow_from_stack()
    # warm both paths once (imports, data cache, MLflow tables) before timing
    run_pipeline("churn_training", str(cfg_path), no_cache=True)
    direct_run(config, tracking_uri)

    zen, direct = [], []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        run_pipeline("churn_training", str(cfg_path), no_cache=True)
        zen.append(time.perf_counter() - t0)
        direct.append(direct_run(config, configure_mlflow_from_stack()))
        print(f"repeat {i + 1}: zenml {zen[-1]:.2f} s, direct {direct[-1]:.2f} s", flush=True)
    z, d = statistics.median(zen), statistics.median(direct)
    print(
        f"data: {'committed subset' if args.dev else 'full UCI Online Retail II'}; "
        f"medians over {args.repeats} runs"
    )
    print(
        f"zenml pipeline: {z:.2f} s   direct calls: {d:.2f} s   overhead x{z / d:.2f} "
        f"(+{z - d:.2f} s)"
    )
    print(
        json.dumps(
            {
                "zenml_wall_s": round(z, 3),
                "direct_wall_s": round(d, 3),
                "overhead_ratio": round(z / d, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
