"""Pydantic schemas for each pipeline YAML; a typo fails with the file path, before a run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from retail_mlops.config import Strict as _Strict
from retail_mlops.config import load_yaml_file, schema_error
from retail_mlops.errors import DataError
from retail_mlops.ingest.sources import Source
from retail_mlops.serving.demand import DemandServing
from retail_mlops.serving.release import ChurnServing


class ChurnTrainingParams(_Strict):
    """`parameters:` of churn_training."""

    source: Source
    first_cutoff: dt.date
    last_train_cutoff: dt.date
    test_cutoff: dt.date
    active_window_days: int = Field(3650, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ChurnTrainingParams:
        if not self.first_cutoff <= self.last_train_cutoff < self.test_cutoff:
            raise ValueError("need first_cutoff <= last_train_cutoff < test_cutoff")
        return self


class BuildChurnEntitiesParams(_Strict):
    """`steps.build_churn_entities.parameters`."""

    horizon_days: int = Field(90, ge=1, le=365)


class WriteFeatureTableParams(_Strict):
    """`steps.write_feature_table.parameters` (and its named invocations)."""

    max_null_rate: float = Field(0.6, ge=0, le=1)
    max_null_rate_increase: float = Field(0.2, ge=0, le=1)


class FeatureMaterializationParams(_Strict):
    """`parameters:` of feature_materialization."""

    source: Source
    first_snapshot: dt.date
    last_snapshot: dt.date
    materialize_end: dt.date
    active_window_days: int = Field(3650, ge=1)


class ItemFeatureParams(_Strict):
    """`steps.compute_item_features.parameters`."""

    lags: list[int] = Field(default_factory=lambda: [1, 7, 14, 28])
    windows: list[int] = Field(default_factory=lambda: [7, 28, 91])


class TrainParams(_Strict):
    """`steps.train_churn_model.parameters`."""

    n_estimators: int = Field(3000, ge=1)
    learning_rate: float = Field(0.02, gt=0, le=1)
    max_depth: int = Field(2, ge=1, le=16)
    min_child_weight: float = Field(5.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    early_stopping_rounds: int = Field(100, ge=1)


class ChurnBatchInferenceParams(_Strict):
    """`parameters:` of churn_batch_inference."""

    source: Source
    scoring_cutoff: dt.date
    active_window_days: int = Field(3650, ge=1)


class DriftReportParams(_Strict):
    """`steps.build_drift_report.parameters`."""

    method: str = "wasserstein"
    threshold: float = Field(0.1, gt=0)
    max_reference_rows: int = Field(20_000, ge=100)


class CheckDriftParams(_Strict):
    """`steps.check_drift.parameters`."""

    max_drift_share: float = Field(0.5, ge=0, le=1)
    max_prediction_ks: float = Field(0.2, ge=0, le=1)
    fail_on_feature_drift: bool = False
    fail_on_prediction_drift: bool = True


class DemandForecastingParams(_Strict):
    """`parameters:` of demand_forecasting."""

    source: Source
    origins: list[dt.date] = Field(min_length=1)
    horizon: int = Field(28, ge=1, le=366)
    n_shards: int = Field(2, ge=1, le=256)
    min_prophet_days: int = Field(200, ge=2)
    country: str = "UK"
    prophet_n_jobs: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _increasing(self) -> DemandForecastingParams:
        if list(self.origins) != sorted(set(self.origins)):
            raise ValueError("origins must be distinct and increasing")
        return self


class BacktestGlobalModelsParams(_Strict):
    """`steps.backtest_global_models.parameters`."""

    n_estimators: int = Field(300, ge=1)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(4, ge=1, le=16)
    train_origins: int = Field(30, ge=1)
    max_train_rows: int = Field(1_000_000, ge=100)


class EvaluateForecastsParams(_Strict):
    """`steps.evaluate_forecasts.parameters`."""

    interval_level: float = Field(0.8, gt=0, lt=1)
    switch_margin: float = Field(default=0.3, ge=0, lt=1)


class ForecastDemandParams(_Strict):
    """`steps.forecast_demand.parameters`."""

    interval_level: float = Field(0.8, gt=0, lt=1)
    min_history_days: int = Field(56, ge=1)
    top_n_plots: int = Field(6, ge=0)


class RecommendInventoryParams(_Strict):
    """`steps.recommend_inventory.parameters`."""

    service_level: float = Field(0.95, gt=0, lt=1)
    lead_time_days: float = Field(7.0, ge=0)
    lead_time_std_days: float = Field(0.0, ge=0)
    order_cost: float = Field(50.0, ge=0)
    holding_rate: float = Field(0.25, gt=0)
    open_days_per_year: float = Field(305.0, gt=0, le=366)
    fill_rate_tolerance: float = Field(0.05, ge=0, le=1)
    top_n_chart: int = Field(15, ge=1)
    output_dir: str | None = None


class AnalyzePricingParams(_Strict):
    """`steps.analyze_pricing.parameters`."""

    min_days: int = Field(30, ge=5)
    min_log_price_std: float = Field(0.05, ge=0)
    promo_threshold: float = Field(0.1, gt=0, lt=1)


class DeploymentParams(_Strict):
    """`parameters:` of deployment."""

    services: list[Literal["churn", "demand"]] = Field(min_length=1)
    churn: ChurnServing = ChurnServing()
    demand: DemandServing = DemandServing()

    @model_validator(mode="after")
    def _ports(self) -> DeploymentParams:
        if set(self.services) == {"churn", "demand"} and self.churn.port == self.demand.port:
            raise ValueError("churn and demand need different ports")
        return self


PIPELINE_PARAMS: dict[str, type[BaseModel]] = {
    "churn_training": ChurnTrainingParams,
    "churn_batch_inference": ChurnBatchInferenceParams,
    "feature_materialization": FeatureMaterializationParams,
    "demand_forecasting": DemandForecastingParams,
    "deployment": DeploymentParams,
}
STEP_PARAMS: dict[str, type[BaseModel]] = {
    "backtest_global_models": BacktestGlobalModelsParams,
    "evaluate_forecasts": EvaluateForecastsParams,
    "forecast_demand": ForecastDemandParams,
    "recommend_inventory": RecommendInventoryParams,
    "analyze_pricing": AnalyzePricingParams,
    "build_churn_entities": BuildChurnEntitiesParams,
    "write_feature_table": WriteFeatureTableParams,
    "write_customer_features": WriteFeatureTableParams,
    "write_item_features": WriteFeatureTableParams,
    "compute_item_features": ItemFeatureParams,
    "train_churn_model": TrainParams,
    "build_drift_report": DriftReportParams,
    "check_drift": CheckDriftParams,
}
TOP_KEYS = {"settings", "model", "parameters", "steps", "extra", "enable_cache", "run_name"}


def pipeline_for(path: Path) -> str:
    """Pipeline name from a config file name: `churn_training.dev.yaml` -> `churn_training`."""
    return path.name.split(".")[0]


def validate_config(raw: dict[str, Any], pipeline: str, origin: str) -> None:
    """Validate a loaded pipeline YAML.

    Raises:
        DataError: With the file and the first problem.
    """
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise DataError(f"{origin}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    try:
        PIPELINE_PARAMS[pipeline](**(raw.get("parameters") or {}))
        for step_name, step_cfg in (raw.get("steps") or {}).items():
            model = STEP_PARAMS.get(step_name)
            if model is not None:
                model(**((step_cfg or {}).get("parameters") or {}))
    except ValidationError as exc:
        raise schema_error(origin, exc) from exc


def validate_config_file(path: Path, pipeline: str | None = None) -> dict[str, Any]:
    """Load and validate a pipeline YAML; return it.

    Raises:
        DataError: If the file is missing, not YAML, or does not match the schema.
    """
    raw = load_yaml_file(path)
    name = pipeline or pipeline_for(path)
    if name not in PIPELINE_PARAMS:
        raise DataError(f"{path}: no pipeline named {name!r}")
    validate_config(raw, name, str(path))
    return dict(raw)
