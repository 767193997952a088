"""ZenML overhead on churn_training: the pipeline vs the same work called directly.

Runs churn_training through ZenML (local orchestrator, MLflow tracker) and, in the same
process, the same framework-free functions in the same order with the same MLflow logging and
registration, on the same data. Prints the median wall times over --repeats and the ratio; the
last line is JSON: {"zenml_wall_s": ..., "direct_wall_s": ..., "overhead_ratio": ...}.

Usage: uv run python -m bench.pipeline_overhead [--dev] [--repeats 3] [--breakdown]
       [--profile PATH]
--breakdown times ZenML's own phases (step bodies, artifact saves and loads, visualizations,
metadata, source resolution, tracker setup, log storage, database writes) inside the timed
runs with plain perf_counter wrappers, prints their medians and adds `zenml_breakdown_s` to
the JSON. --profile runs the pipeline once more under cProfile after the timed runs (not
counted) and writes the stats to PATH (read them with pstats).
State goes to a temporary folder, never the user's ZenML config or MLflow store.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench._churn import churn_training_inputs

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
os.environ["RETAIL_MLOPS_HOME"] = str(_HOME / "state")
os.environ["ZENML_CONFIG_PATH"] = str(_HOME / "zenml")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["GIT_PYTHON_REFRESH"] = "quiet"


def direct_run(config: dict, tracking_uri: str) -> float:
    """The churn_training work without ZenML; returns its wall time in seconds."""
    import mlflow

    from configs.schema import step_params
    from retail_mlops.churn.metrics import classification_metrics
    from retail_mlops.churn.model import LABEL, RecencyBaseline, TrainParams, fit_xgb, predict_churn
    from retail_mlops.churn.tracking import log_churn_model
    from retail_mlops.features import feast_store
    from retail_mlops.features.customer import (
        FEATURE_COLUMNS,
        churn_entities,
        customer_feature_snapshots,
    )
    from retail_mlops.names import MODEL_NAME
    from retail_mlops.registry import register

    start = time.perf_counter()
    params = config["parameters"]
    clean, cutoffs, horizon, window = churn_training_inputs(config)
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
        data, params["test_cutoff"], step_params(config, "split_churn_dataset").n_valid_cutoffs
    )
    features = list(FEATURE_COLUMNS)
    xp = TrainParams(**step_params(config, "train_churn_model").model_dump())
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


class PhaseTimers:
    """Wall seconds spent in ZenML's phases of a pipeline run, by perf_counter wrappers.

    LAYOUT lists each phase under the one it is part of (by indent), so parts never add up to
    more than their parent; materializer methods are wrapped on every materializer class.
    """

    _Z = "zenml."
    # (indent, label, "module:Class" or "module", attribute); None = materializer method
    LAYOUT: tuple[tuple[int, str, str | None, str], ...] = (
        (0, "pipeline_call", "pipelines.pipeline_definition:Pipeline", "__call__"),
        (1, "compile_and_snapshot", "pipelines.pipeline_definition:Pipeline", "_create_snapshot"),
        (1, "step_launches", "orchestrators.step_launcher:StepLauncher", "launch"),
        (2, "step_runner", "orchestrators.step_runner:StepRunner", "run"),
        (3, "step_bodies", "steps.base_step:BaseStep", "call_entrypoint"),
        (3, "input_loads", "orchestrators.step_runner:StepRunner", "_parse_inputs"),
        (4, "materializer_load", None, "load"),
        (3, "output_stores", "orchestrators.step_runner:StepRunner", "_store_output_artifacts"),
        (4, "materializer_save", None, "save"),
        (4, "visualizations", None, "save_visualizations"),
        (4, "artifact_metadata", None, "extract_full_metadata"),
        (4, "source_package_lookup", "utils.source_utils", "_get_package_for_module"),
        (4, "artifact_db_writes", "zen_stores.sql_zen_store:SqlZenStore",
         "batch_create_artifact_versions"),
        (3, "tracker_prepare", "stack.stack:Stack", "prepare_step_run"),
        (3, "tracker_cleanup", "stack.stack:Stack", "cleanup_step_run"),
        (3, "step_run_metadata", "stack.stack:Stack", "get_step_run_metadata"),
        (3, "publish_step_run", "orchestrators.step_runner", "publish_successful_step_run"),
        # log storage contexts of the run, each step's preparation and each step
        (1, "log_contexts_enter", "utils.logging_utils:LoggingContext", "__enter__"),
        (1, "log_contexts_exit", "utils.logging_utils:LoggingContext", "__exit__"),
    )  # fmt: skip

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._active: set[str] = set()

    def _wrap(self, owner: Any, attr: str, label: str) -> None:
        fn = owner.__dict__.get(attr)
        if not callable(fn) or getattr(fn, "_bench_timed", False):
            return

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if label in self._active:  # re-entry (a subclass calling super): count once
                return fn(*args, **kwargs)
            self._active.add(label)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self._active.discard(label)

        timed._bench_timed = True  # type: ignore[attr-defined]
        setattr(owner, attr, timed)

    def install(self) -> None:
        """Wrap the targets; call after a warm run so every materializer class is imported."""
        import importlib

        from zenml.materializers.base_materializer import BaseMaterializer

        materializers, pending = set(), [BaseMaterializer]
        while pending:
            klass = pending.pop()
            if klass not in materializers:
                materializers.add(klass)
                pending.extend(klass.__subclasses__())
        for _, label, target, attr in self.LAYOUT:
            if target is None:
                for klass in materializers:
                    self._wrap(klass, attr, label)
                continue
            module, _, cls = target.partition(":")
            owner = importlib.import_module(self._Z + module)
            self._wrap(getattr(owner, cls) if cls else owner, attr, label)

    def take(self) -> dict[str, float]:
        """The seconds since the last take, by label in LAYOUT order, and reset."""
        out = {label: self.seconds.get(label, 0.0) for _, label, _, _ in self.LAYOUT}
        self.seconds.clear()
        return out


def main() -> None:
    """Run both paths --repeats times, alternating, and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", action="store_true", help="use the committed subset")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--breakdown", action="store_true", help="time ZenML's phases in the timed runs"
    )
    parser.add_argument("--profile", metavar="PATH", help="cProfile one extra ZenML run into PATH")
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

    timers = PhaseTimers() if args.breakdown else None
    if timers is not None:
        timers.install()
    zen, direct = [], []
    phases: list[dict[str, float]] = []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        run_pipeline("churn_training", str(cfg_path), no_cache=True)
        zen.append(time.perf_counter() - t0)
        if timers is not None:
            phases.append(timers.take())
            phases[-1]["outside_step_bodies"] = zen[-1] - phases[-1]["step_bodies"]
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
    result: dict[str, Any] = {
        "zenml_wall_s": round(z, 3),
        "direct_wall_s": round(d, 3),
        "overhead_ratio": round(z / d, 3),
    }
    if phases:
        medians = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
        depth = {label: n for n, label, _, _ in PhaseTimers.LAYOUT}
        print("zenml phases (median seconds per run; indented = part of the line above):")
        for label, secs in medians.items():
            print(f"  {'  ' * depth.get(label, 0) + label:<36} {secs:7.2f}")
        result["zenml_breakdown_s"] = {k: round(v, 3) for k, v in medians.items()}
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        run_pipeline("churn_training", str(cfg_path), no_cache=True)
        profiler.disable()
        profiler.dump_stats(args.profile)
        print(f"cProfile of one more ZenML run (times inflated by the profiler): {args.profile}")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"zenml|materializers", 30)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
