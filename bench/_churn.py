"""churn_training's recipe without ZenML, for the benchmarks that need its rows or its model.

One home for what churn_training starts from (clean lines, cutoffs, horizon, window, read from
its YAML) and for its fit (the features, the time split and the step's TrainParams), so the
benchmarks measure the model the pipeline trains. Nothing happens at import: a benchmark that
isolates ZenML's state does so itself, and one that reads the project's data cache keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def churn_training_config(dev: bool) -> dict[str, Any]:
    """configs/churn_training.yaml (or its .dev variant), merged over what it extends."""
    from configs.schema import load_config

    return load_config(ROOT / "configs" / f"churn_training{'.dev' if dev else ''}.yaml")


def churn_training_inputs(config: dict) -> tuple[pd.DataFrame, list[pd.Timestamp], int, int]:
    """What churn_training starts from, read from its config: clean lines, cutoffs, horizon, window.

    The lines are read and validated as the pipeline's first two steps do.
    """
    from configs.schema import PIPELINE_PARAMS, step_params
    from retail_mlops.features.customer import monthly_cutoffs
    from retail_mlops.ingest.sources import read_source
    from retail_mlops.validate.rules import split_quarantine

    params = config["parameters"]
    window = PIPELINE_PARAMS["churn_training"](**params).active_window_days
    raw, _lineage = read_source(params["source"])
    clean, _quarantine = split_quarantine(raw)
    cutoffs = [
        *monthly_cutoffs(params["first_cutoff"], params["last_train_cutoff"]),
        pd.Timestamp(params["test_cutoff"]),
    ]
    horizon = step_params(config, "build_churn_entities").horizon_days
    return clean, cutoffs, horizon, window


@dataclass(frozen=True)
class ChurnRecipe:
    """churn_training's dataset, split and fitted classifier."""

    config: dict[str, Any]
    horizon: int
    data: pd.DataFrame
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    features: list[str]
    params: Any  # the step's TrainParams
    model: Any  # xgboost.XGBClassifier, early-stopped on `valid`


def churn_recipe(dev: bool) -> ChurnRecipe:
    """Fit churn_training's model as the pipeline does: same features, split and parameters."""
    from configs.schema import step_params
    from retail_mlops.churn.model import TrainParams, fit_xgb, split_by_time
    from retail_mlops.features.customer import FEATURE_COLUMNS, build_churn_dataset

    config = churn_training_config(dev)
    lines, cutoffs, horizon, window = churn_training_inputs(config)
    data = build_churn_dataset(lines, cutoffs, horizon, window)
    train, valid, test = split_by_time(
        data,
        config["parameters"]["test_cutoff"],
        step_params(config, "split_churn_dataset").n_valid_cutoffs,
    )
    features = list(FEATURE_COLUMNS)
    params = TrainParams(**step_params(config, "train_churn_model").model_dump())
    model = fit_xgb(train, valid, features, params)
    return ChurnRecipe(config, horizon, data, train, valid, test, features, params, model)
