"""Pydantic schemas for each pipeline YAML: every key of every step is checked before a run.

A pipeline's `parameters:` have a model here; a step's `parameters:` are the step's own model in
the library (`STEP_PARAMS`), the one its signature takes its defaults from, so a default lives
in one place and a typo, a wrong type or an out-of-range value fails with one line naming the
file, the step and the key. A variant file (`churn_training.dev.yaml`) says only what differs:
`extends: churn_training.yaml` merges it over the base before it is checked or run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from retail_mlops.churn.metrics import PromotionParams
from retail_mlops.churn.model import SplitParams, TrainParams
from retail_mlops.churn.predictions import PredictionsParams
from retail_mlops.config import NoParams, load_yaml_file, schema_error
from retail_mlops.config import Strict as _Strict
from retail_mlops.deploy.deployer import DeployParams
from retail_mlops.errors import DataError
from retail_mlops.features.customer import ACTIVE_WINDOW_DAYS, ChurnEntityParams
from retail_mlops.features.feast_store import FeatureTableParams
from retail_mlops.forecasting.backtest import ChoiceParams, ForecastParams
from retail_mlops.forecasting.global_model import GlobalParams
from retail_mlops.forecasting.prophet import ProphetShardParams
from retail_mlops.ingest.sources import Source
from retail_mlops.inventory.policy import InventoryParams
from retail_mlops.monitoring.demand import DemandGateParams
from retail_mlops.monitoring.drift import DriftGateParams, DriftReportParams
from retail_mlops.monitoring.retention import RetentionParams
from retail_mlops.monitoring.window import WINDOW_DAYS, GatherWindowParams, WindowGateParams
from retail_mlops.paths import PROJECT_ROOT
from retail_mlops.pricing import PricingParams
from retail_mlops.serving.demand import DemandImportParams, DemandServing
from retail_mlops.serving.release import ChurnServing
from retail_mlops.warehouse.scoring import WarehouseScoringParams


class ChurnTrainingParams(_Strict):
    """`parameters:` of churn_training."""

    source: Source
    first_cutoff: dt.date
    last_train_cutoff: dt.date
    test_cutoff: dt.date
    active_window_days: int = Field(default=ACTIVE_WINDOW_DAYS, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ChurnTrainingParams:
        if not self.first_cutoff <= self.last_train_cutoff < self.test_cutoff:
            raise ValueError("need first_cutoff <= last_train_cutoff < test_cutoff")
        return self


class FeatureMaterializationParams(_Strict):
    """`parameters:` of feature_materialization."""

    source: Source
    first_snapshot: dt.date
    last_snapshot: dt.date
    materialize_end: dt.date
    active_window_days: int = Field(default=ACTIVE_WINDOW_DAYS, ge=1)


class ChurnBatchInferenceParams(_Strict):
    """`parameters:` of churn_batch_inference."""

    source: Source
    scoring_cutoff: dt.date
    active_window_days: int = Field(default=ACTIVE_WINDOW_DAYS, ge=1)


class DemandForecastingParams(_Strict):
    """`parameters:` of demand_forecasting."""

    source: Source
    origins: list[dt.date] = Field(min_length=1)
    horizon: int = Field(default=28, ge=1, le=366, description="Open days forecast ahead")
    n_shards: int = Field(default=2, ge=1, le=256, description="Parallel Prophet steps")
    min_prophet_days: int = Field(default=200, ge=2, description="Selling days for a Prophet")
    country: str = Field(default="UK", description="Public holidays")
    prophet_n_jobs: int = Field(default=2, ge=1, description="Processes per Prophet shard")
    until: dt.date | None = Field(default=None, description="Forecast as if it were this day")

    @model_validator(mode="after")
    def _increasing(self) -> DemandForecastingParams:
        if list(self.origins) != sorted(set(self.origins)):
            raise ValueError("origins must be distinct and increasing")
        if self.until is not None and self.origins[-1] + dt.timedelta(self.horizon) > self.until:
            raise ValueError("the last origin's backtest needs its horizon before until")
        return self


class DeploymentParams(_Strict):
    """`parameters:` of deployment."""

    services: list[Literal["churn", "demand"]] = Field(min_length=1)  # deploy.services.SERVICES
    churn: ChurnServing = ChurnServing()
    demand: DemandServing = DemandServing()

    @model_validator(mode="after")
    def _ports(self) -> DeploymentParams:
        if set(self.services) == {"churn", "demand"} and self.churn.port == self.demand.port:
            raise ValueError("churn and demand need different ports")
        return self


class ChurnMonitoringParams(_Strict):
    """`parameters:` of churn_monitoring."""

    source: Source
    as_of: dt.date | Literal["today"]  # today: the day the run starts (a scheduled run)
    window_days: int = Field(default=WINDOW_DAYS, ge=1)


class ScheduleConfig(_Strict):
    """`schedule:` of a run config: the keys of ZenML's `Schedule` (ZenML checks the values).

    Only a schedulable orchestrator takes it: ZenML 0.98's local orchestrator refuses any run
    with a schedule, so a schedule lives in a stack's own variant (`<pipeline>.kubeflow.yaml`).
    """

    name: str | None = None
    cron_expression: str | None = None
    start_time: dt.datetime | None = None
    end_time: dt.datetime | None = None
    interval_second: float | None = Field(default=None, gt=0)
    catchup: bool = False
    run_once_start_time: dt.datetime | None = None

    @model_validator(mode="after")
    def _when(self) -> ScheduleConfig:
        if not (
            self.cron_expression
            or (self.start_time and self.interval_second)
            or self.run_once_start_time
        ):
            raise ValueError(
                "needs cron_expression, start_time with interval_second, or run_once_start_time"
            )
        return self


class DemandMonitoringParams(_Strict):
    """`parameters:` of demand_monitoring."""

    source: Source
    as_of: dt.date | Literal["today"]  # today: the day the run starts (a scheduled run)
    forecast_run: str | None = Field(default=None, description="The forecasting run to judge")


PIPELINE_PARAMS: dict[str, type[BaseModel]] = {
    "churn_training": ChurnTrainingParams,
    "churn_batch_inference": ChurnBatchInferenceParams,
    # the same inputs as batch scoring: a source, a cutoff, the active window
    "churn_warehouse_scoring": ChurnBatchInferenceParams,
    "feature_materialization": FeatureMaterializationParams,
    "demand_forecasting": DemandForecastingParams,
    "deployment": DeploymentParams,
    "churn_monitoring": ChurnMonitoringParams,
    "demand_monitoring": DemandMonitoringParams,
}
# Every step of every pipeline, by function name: the model of its tunable parameters.
STEP_PARAMS: dict[str, type[BaseModel]] = {
    # ingest, validate
    "load_transactions": NoParams,
    "validate_transactions": NoParams,
    # features
    "build_churn_entities": ChurnEntityParams,
    "compute_customer_features": NoParams,
    "compute_item_features": NoParams,
    "write_feature_table": FeatureTableParams,
    "fetch_customer_features": NoParams,
    "materialize_online_store": NoParams,
    # churn
    "split_churn_dataset": SplitParams,
    "train_churn_model": TrainParams,
    "evaluate_churn_model": NoParams,
    "promote_churn_model": PromotionParams,
    "load_champion_model": NoParams,
    "predict_churn": NoParams,
    "write_predictions": PredictionsParams,
    "build_drift_report": DriftReportParams,
    "check_drift": DriftGateParams,
    # churn monitoring windows
    "gather_window": GatherWindowParams,
    "evaluate_window": DriftReportParams,
    "record_window": NoParams,
    "gate_window": WindowGateParams,
    "compact_predictions_log": RetentionParams,
    # demand monitoring windows
    "gather_served_forecast": NoParams,
    "evaluate_demand_window": NoParams,
    "record_demand_window": NoParams,
    "gate_demand_window": DemandGateParams,
    # in-warehouse scoring
    "load_warehouse": NoParams,
    "score_in_warehouse": WarehouseScoringParams,
    # forecasting, inventory, pricing
    "build_daily_demand": NoParams,
    "forecast_prophet_shard": ProphetShardParams,
    "combine_prophet_shards": NoParams,
    "backtest_global_models": GlobalParams,
    "evaluate_forecasts": ChoiceParams,
    "forecast_demand": ForecastParams,
    "recommend_inventory": InventoryParams,
    "analyze_pricing": PricingParams,
    # serving
    "resolve_churn_release": NoParams,
    "import_demand_tables": DemandImportParams,
    "build_bento": NoParams,
    "deploy_bento": DeployParams,
}
# Invocations a pipeline names with `id=`: the YAML key is the id, the model the step's.
STEP_INVOCATIONS: dict[str, str] = {
    "write_customer_features": "write_feature_table",
    "write_item_features": "write_feature_table",
    "build_churn_bento": "build_bento",
    "build_demand_bento": "build_bento",
    "deploy_churn_bento": "deploy_bento",
    "deploy_demand_bento": "deploy_bento",
}
_NUMBERED = re.compile(r"^(?P<step>[a-z_]+?)_\d+$")  # forecast_prophet_shard_0, _1, ...
TOP_KEYS = {
    "settings",
    "model",
    "parameters",
    "steps",
    "extra",
    "enable_cache",
    "run_name",
    "schedule",
}
STEP_KEYS = {
    "parameters",
    "settings",
    "experiment_tracker",
    "step_operator",
    "enable_cache",
    "enable_artifact_metadata",
    "enable_artifact_visualization",
    "enable_step_logs",
    "extra",
    "outputs",
    "model",
    "retry",
    "failure_hook_source",
    "success_hook_source",
}
CONFIGS_DIR = PROJECT_ROOT / "configs"


def pipeline_for(path: Path) -> str:
    """Pipeline name from a config file name: `churn_training.dev.yaml` -> `churn_training`."""
    return path.name.split(".")[0]


def step_model(key: str) -> type[BaseModel] | None:
    """The parameter model of the step a YAML `steps:` key names, or None if no step has it."""
    name = STEP_INVOCATIONS.get(key, key)
    if name not in STEP_PARAMS and (m := _NUMBERED.match(key)):
        name = m.group("step")
    return STEP_PARAMS.get(name)


def step_params(raw: dict[str, Any], key: str) -> Any:
    """The parameters a run of `raw` gives step `key`: the YAML's values over the model's defaults.

    Raises:
        DataError: If no step has that key.
    """
    model = step_model(key)
    if model is None:
        raise DataError(f"no step {key!r}")
    cfg = (raw.get("steps") or {}).get(key) or {}
    return model(**(cfg.get("parameters") or {}))


def validate_config(raw: dict[str, Any], pipeline: str, origin: str) -> None:
    """Validate a loaded pipeline YAML (already merged over its base).

    Raises:
        DataError: One line: the file, the dotted key and the problem.
    """
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise DataError(f"{origin}: {', '.join(sorted(unknown))}: unknown top-level key")
    try:
        PIPELINE_PARAMS[pipeline](**(raw.get("parameters") or {}))
    except ValidationError as exc:
        raise schema_error(origin, exc, prefix="parameters.") from exc
    if "schedule" in raw:
        if not isinstance(raw["schedule"], dict):
            raise DataError(f"{origin}: schedule: expected a mapping")
        try:
            ScheduleConfig(**raw["schedule"])
        except ValidationError as exc:
            where = "schedule." if exc.errors()[0]["loc"] else "schedule"
            raise schema_error(origin, exc, prefix=where) from exc
    for key, step_cfg in (raw.get("steps") or {}).items():
        model = step_model(key)
        if model is None:
            raise DataError(f"{origin}: steps.{key}: unknown step")
        cfg = step_cfg or {}
        if not isinstance(cfg, dict):
            raise DataError(f"{origin}: steps.{key}: expected a mapping")
        for extra in sorted(set(cfg) - STEP_KEYS):
            raise DataError(f"{origin}: steps.{key}.{extra}: unknown step setting")
        try:
            model(**(cfg.get("parameters") or {}))
        except ValidationError as exc:
            raise schema_error(origin, exc, prefix=f"steps.{key}.parameters.") from exc


def _merge(base: Any, over: Any) -> Any:
    """`over` on top of `base`: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


def load_config(path: Path) -> dict[str, Any]:
    """A pipeline YAML with its `extends:` chain merged in (the base first).

    The base is named relative to the file's own folder, else to configs/.

    Raises:
        DataError: If a file is missing, not YAML, not a mapping, or extends itself.
    """
    chain: list[Path] = []
    raw: dict[str, Any] = {}
    current: Path | None = path
    while current is not None:
        if current.resolve() in chain:
            raise DataError(f"{path}: extends itself through {current.name}")
        chain.append(current.resolve())
        doc = load_yaml_file(current)
        if not isinstance(doc, dict):
            raise DataError(f"{current}: expected a mapping at the top")
        base = doc.pop("extends", None)
        raw = _merge(doc, raw)
        if base is None:
            current = None
        else:
            local = current.parent / str(base)
            current = local if local.exists() else CONFIGS_DIR / str(base)
    return raw


def validate_config_file(
    path: Path, pipeline: str | None = None, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Load (with its base), validate and return a pipeline YAML.

    Args:
        path: The pipeline YAML.
        pipeline: Its pipeline name (default: from the file name).
        parameters: Pipeline parameters set on the command line, over the file's.

    Raises:
        DataError: If the file is missing, not YAML, or does not match the schema.
    """
    raw = load_config(path)
    if parameters:
        raw["parameters"] = {**(raw.get("parameters") or {}), **parameters}
    name = pipeline or pipeline_for(path)
    if name not in PIPELINE_PARAMS:
        raise DataError(f"{path}: no pipeline named {name!r}")
    validate_config(raw, name, str(path))
    return raw


@contextlib.contextmanager
def run_config(
    path: Path, pipeline: str | None = None, parameters: dict[str, Any] | None = None
) -> Iterator[Path]:
    """The validated, merged config as a file ZenML can read (`with_options(config_path=)`).

    A variant that extends a base, or a run with command-line `parameters`, is written whole
    to a temporary file, removed afterwards; any other file is passed as it is.
    """
    raw = validate_config_file(path, pipeline, parameters)
    if not parameters and "extends" not in (load_yaml_file(path) or {}):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="retail-mlops-config-") as tmp:
        merged = Path(tmp) / path.name
        merged.write_text(yaml.safe_dump(raw, sort_keys=False))
        yield merged
