"""What the steps and the CLI ask of ZenML's client: the active stack, model stages, past runs.

The library (retail_mlops) never imports ZenML; everything that needs the client lives here,
beside the steps, and hands plain values to the library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from retail_mlops.errors import DataError, InfraError
from retail_mlops.features.feast_store import DEFAULT_REPO, feature_store
from retail_mlops.names import MODEL_NAME, A
from retail_mlops.paths import resolve
from retail_mlops.registry import MLFLOW_VERSION_KEY, promote, rollback

if TYPE_CHECKING:
    from zenml.models import PipelineRunResponse

    from retail_mlops.monitoring.gate import Alert
    from retail_mlops.serving.demand import DemandRelease
    from retail_mlops.serving.release import ChurnRelease

DEMAND_PIPELINE = "demand_forecasting"


# --- the active stack --------------------------------------------------------------------------


def stack_feature_repo() -> str:
    """The Feast repo folder of the active stack's Feast component (default feature_repo/).

    A relative folder is taken from the project root, so a remote stack can name
    feature_repo/remote once and each pod finds it wherever its code was unpacked.
    """
    from zenml.client import Client

    component = Client().active_stack.feature_store
    repo = getattr(getattr(component, "config", None), "feast_repo", None) if component else None
    return str(resolve(repo)) if repo else str(DEFAULT_REPO)


def stack_feature_store() -> Any:
    """FeatureStore for the active stack's Feast component (feature_repo/ if it has none)."""
    return feature_store(stack_feature_repo())


def configure_mlflow_from_stack() -> str:
    """Point the MLflow client at the active stack's tracker; return the tracking URI.

    ZenML resets MLflow's URI after each step, so code that talks to the registry outside a
    step (the CLI, tests) calls this first.

    Raises:
        InfraError: If the active stack has no MLflow experiment tracker.
    """
    from zenml.client import Client

    tracker = Client().active_stack.experiment_tracker
    if tracker is None or tracker.flavor != "mlflow":
        raise InfraError("the active ZenML stack has no MLflow experiment tracker")
    tracker.configure_mlflow()  # type: ignore[attr-defined]
    import mlflow

    return str(mlflow.get_tracking_uri())


# --- model stages: MLflow aliases mirrored in ZenML's Model Control Plane ----------------------


def zenml_version_for(name: str, mlflow_version: int) -> Any | None:
    """The ZenML model version whose metadata links it to `mlflow_version`, or None."""
    from zenml.client import Client

    try:
        versions = Client().list_model_versions(model=name, size=1000)
    except KeyError:
        return None
    for mv in versions.items:
        if str((mv.run_metadata or {}).get(MLFLOW_VERSION_KEY)) == str(mlflow_version):
            return mv
    return None


def sync_zenml_stage(name: str, mlflow_version: int) -> str | None:
    """Give the ZenML model version linked to `mlflow_version` the production stage.

    Returns:
        The ZenML model version name that was promoted, or None if none is linked (a model
        registered outside the pipelines).
    """
    from zenml.client import Client
    from zenml.enums import ModelStages

    mv = zenml_version_for(name, mlflow_version)
    if mv is None:
        return None
    if mv.stage != ModelStages.PRODUCTION.value:
        Client().update_model_version(name, mv.id, stage=ModelStages.PRODUCTION, force=True)
    return str(mv.name)


def promote_model(name: str, version: int) -> int:
    """Make `version` the champion in MLflow and production in ZenML; return the previous one.

    The one function that moves both registries, so they never disagree for long.

    Raises:
        DataError: If the version does not exist.
    """
    previous = promote(name, version)
    sync_zenml_stage(name, version)
    return previous


def rollback_model(name: str) -> int:
    """Move `champion` back to the previous champion in MLflow and ZenML; return that version.

    Raises:
        DataError: If there is no earlier champion to go back to.
    """
    version = rollback(name)
    sync_zenml_stage(name, version)
    return version


# --- releases the deployment resolves on the active stack --------------------------------------


def churn_release_from_stack(churn: dict[str, Any]) -> ChurnRelease:
    """The churn release for `parameters.churn` of a deployment config, on the active stack.

    What the deployment pipeline and `run.py serve` both resolve: MLflow from the stack's
    tracker, the online features from the stack's Feast component.
    """
    from retail_mlops.serving.bento_store import churn_release
    from retail_mlops.serving.release import ChurnServing

    configure_mlflow_from_stack()
    spec = ChurnServing.model_validate(churn)
    return churn_release(spec, stack_feature_repo(), name=MODEL_NAME)  # type: ignore[no-any-return]


def _source_run(pipeline: str, run: str | None) -> PipelineRunResponse:
    """The named run, else the pipeline's newest completed run.

    Raises:
        DataError: If there is no such run, or the named one did not complete.
    """
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    client = Client()
    if run:
        try:
            found = client.get_pipeline_run(run)
        except KeyError as exc:
            raise DataError(f"no pipeline run {run!r}") from exc
        if found.status != ExecutionStatus.COMPLETED:
            raise DataError(f"run {found.name} is {found.status.value}, not completed")
        return found
    try:
        page = client.list_pipeline_runs(
            pipeline=pipeline,
            status=ExecutionStatus.COMPLETED.value,
            sort_by="desc:created",
            size=1,
            hydrate=True,
        )
    except KeyError:
        page = None
    if page is None or not page.items:
        raise DataError(f"no completed {pipeline} run: run `run.py {pipeline}` first")
    return page.items[0]


def _run_output(run: PipelineRunResponse, name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Artifact `name` of `run`, with the parameters of the step that wrote it.

    Looked up by artifact name, not step name, so renaming or re-id'ing a step keeps working.

    Raises:
        DataError: If no step of the run produced it.
    """
    for step_run in run.steps.values():
        versions = step_run.outputs.get(name)
        if versions:
            return versions[0].load(), dict(step_run.config.parameters)
    raise DataError(f"run {run.name} has no {name!r} artifact: is it a {DEMAND_PIPELINE} run?")


def latest_demand_release(
    demand: Mapping[str, Any] | None = None,
    run: str | None = None,
    pipeline: str = DEMAND_PIPELINE,
) -> DemandRelease:
    """Import the newest completed demand_forecasting run (or `run`) and return its release.

    Args:
        demand: `parameters.demand` of the deployment config; its policy settings become the
            /inventory defaults, and any it leaves out are those the run recommended with.
        run: A run name or id instead of the newest completed run.
        pipeline: The forecasting pipeline's name.

    Raises:
        DataError: If there is no completed run, or its tables are not servable.
    """
    from retail_mlops.serving.demand import import_demand_tables, policy_defaults

    source = _source_run(pipeline, run)
    forecast, _ = _run_output(source, A.DEMAND_FORECAST)
    recommendations, params = _run_output(source, A.INVENTORY_RECOMMENDATIONS)
    policy = policy_defaults({**params, **(demand or {})})
    return import_demand_tables(forecast, recommendations, str(source.id), policy=policy)


def served_demand_forecast(
    as_of: str, run: str | None = None, pipeline: str = DEMAND_PIPELINE
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The forecast and inventory policy of the newest forecasting run made before `as_of`.

    "Made before": the run's daily demand ends before `as_of` (its `last_day` metadata), so
    at least its first forecast day may have actual sales by then. A run on the data up to
    today forecasts days with no actuals yet and is passed over.

    Returns:
        The run's `demand_forecast`, its `inventory_recommendations`, and what the monitoring
        needs of the run: id, name, model version, last day, lead time.

    Raises:
        DataError: If there is no such completed run (or `run` is not one).
    """
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    from retail_mlops.inventory.policy import PolicyParams

    cut = pd.Timestamp(as_of)
    if run:
        candidates = [_source_run(pipeline, run)]
    else:
        try:
            candidates = list(
                Client()
                .list_pipeline_runs(
                    pipeline=pipeline,
                    status=ExecutionStatus.COMPLETED.value,
                    sort_by="desc:created",
                    size=100,
                    hydrate=True,
                )
                .items
            )
        except KeyError:
            candidates = []
    for source in candidates:
        last_day = _last_demand_day(source)
        if last_day is None or last_day >= cut:
            continue
        forecast, _ = _run_output(source, A.DEMAND_FORECAST)
        recommendations, params = _run_output(source, A.INVENTORY_RECOMMENDATIONS)
        version = source.model_version.number if source.model_version is not None else None
        info = {
            "run_id": str(source.id),
            "run_name": source.name,
            "model_version": str(version) if version is not None else str(source.id)[:8],
            "last_day": str(last_day.date()),
            "lead_time_days": float(params.get("lead_time_days", PolicyParams().lead_time_days)),
        }
        return forecast, recommendations, info
    if run:
        raise DataError(
            f"run {run} forecasts from data up to {as_of} or later: nothing to judge yet"
        )
    raise DataError(
        f"no completed {pipeline} run on data before {cut.date()}: run "
        f"`run.py {pipeline} --until <day>` for a forecast whose days have passed"
    )


def _last_demand_day(run: PipelineRunResponse) -> pd.Timestamp | None:
    """The last day of a forecasting run's daily demand (its artifact's metadata)."""
    for step_run in run.steps.values():
        versions = step_run.outputs.get(A.DAILY_DEMAND)
        if versions:
            day = versions[0].run_metadata.get("last_day")
            return pd.Timestamp(str(day)) if day else None
    return None


# --- alerts ------------------------------------------------------------------------------------


def send_alerts(pipeline: str, alerts: Sequence[Alert]) -> None:
    """Log every alert, and post it through the active stack's alerter when it has one.

    The caller saves its alert state afterwards, so an alert that failed to go out stays new.
    """
    from zenml.client import Client
    from zenml.logger import get_logger

    logger = get_logger(__name__)
    alerter = Client().active_stack.alerter
    for alert in alerts:
        logger.warning("MONITORING ALERT (%s, %s): %s", alert.event, alert.level, alert.message)
        if alerter is not None:
            alerter.post(f"{pipeline}: {alert.message}")


# --- runs a killed process left behind ---------------------------------------------------------

ORPHAN_REASON = (
    "the process running it ended before the run finished (killed or crashed); "
    "marked failed by the next run"
)
LAUNCHER_KEY = "retail_mlops_launcher"  # in a run's `extra`: the process that runs it


def fail_orphaned_runs() -> list[str]:
    """Mark unfinished local runs whose launching process is gone as failed, with the reason.

    The local orchestrator runs a pipeline inside the CLI's process, so a killed process leaves
    its run (and the step it was in) "running" for ever. `run.py` records its process with
    every run (`LAUNCHER_KEY`, see `retail_mlops.runlock`); a run without that record (started
    some other way) or on another orchestrator (Kubeflow keeps its own lifecycle) is left alone.

    Returns:
        The names of the runs marked failed.
    """
    from datetime import UTC, datetime

    from zenml.client import Client
    from zenml.enums import ExecutionStatus, StackComponentType
    from zenml.models import PipelineRunUpdate, StepRunUpdate

    from retail_mlops import runlock

    client = Client()
    marked = []
    for status in (ExecutionStatus.RUNNING, ExecutionStatus.INITIALIZING):
        for run in client.list_pipeline_runs(status=status, size=100, hydrate=True):
            launcher = (run.config.extra or {}).get(LAUNCHER_KEY)
            components = run.stack.components if run.stack else {}
            orchestrators = components.get(StackComponentType.ORCHESTRATOR, [])
            local = all(o.flavor_name == "local" for o in orchestrators)
            if not isinstance(launcher, dict) or not local or runlock.alive(launcher):
                continue
            for step in run.steps.values():
                if not step.status.is_finished:
                    client.zen_store.update_run_step(
                        step.id,
                        StepRunUpdate(status=ExecutionStatus.FAILED, end_time=datetime.now(UTC)),
                    )
            update = PipelineRunUpdate(status=ExecutionStatus.FAILED, status_reason=ORPHAN_REASON)
            client.zen_store.update_run(run.id, update)
            marked.append(run.name)
    return marked
