"""Champion/challenger bookkeeping in the MLflow registry, mirrored as ZenML model stages.

MLflow 3 uses aliases, not stages: the newest version is `challenger`, the serving version is
`champion`. ZenML's Model Control Plane keeps its own versions; the ZenML version whose metadata
names the MLflow version gets stage `production` whenever that MLflow version becomes champion.
One function moves both, so the two registries never disagree for long.
"""

from __future__ import annotations

from typing import Any

from steps.errors import DataError
from steps.names import CHALLENGER, CHAMPION

HISTORY_TAG = "champion_history"  # comma-separated MLflow versions, oldest first
MLFLOW_VERSION_KEY = "mlflow_version"


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def configure_mlflow_from_stack() -> str:
    """Point the MLflow client at the active stack's tracker; return the tracking URI.

    ZenML resets MLflow's URI after each step, so code that talks to the registry outside a
    step (the CLI, tests) calls this first.

    Raises:
        DataError: If the active stack has no MLflow experiment tracker.
    """
    from zenml.client import Client

    tracker = Client().active_stack.experiment_tracker
    if tracker is None or tracker.flavor != "mlflow":
        raise DataError("the active ZenML stack has no MLflow experiment tracker")
    tracker.configure_mlflow()  # type: ignore[attr-defined]
    import mlflow

    return str(mlflow.get_tracking_uri())


def register(model_uri: str, name: str, tags: dict[str, str] | None = None) -> int:
    """Register a logged model as a new version and make it the challenger."""
    import mlflow

    mv = mlflow.register_model(model_uri, name, tags=tags or {})
    version = int(mv.version)
    _client().set_registered_model_alias(name, CHALLENGER, str(version))
    return version


def alias_version(name: str, alias: str) -> int | None:
    """The version an alias points to, or None if unset (or no such model)."""
    from mlflow.exceptions import MlflowException

    try:
        return int(_client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def champion_history(name: str) -> list[int]:
    """Versions that have been champion, oldest first."""
    raw = _client().get_registered_model(name).tags.get(HISTORY_TAG, "")
    return [int(v) for v in raw.split(",") if v]


def _check_version(name: str, version: int) -> None:
    from mlflow.exceptions import MlflowException

    try:
        _client().get_model_version(name, str(version))
    except MlflowException as exc:
        raise DataError(f"model {name!r} has no version {version}") from exc


def _set_champion(name: str, version: int, history: list[int]) -> None:
    client = _client()
    client.set_registered_model_alias(name, CHAMPION, str(version))
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(str(v) for v in history))
    sync_zenml_stage(name, version)


def promote(name: str, version: int) -> int:
    """Make `version` the champion in MLflow and production in ZenML; return the previous one.

    Raises:
        DataError: If the version does not exist.
    """
    _check_version(name, version)
    previous = alias_version(name, CHAMPION)
    history = champion_history(name)
    if not history or history[-1] != version:
        history.append(version)
    _set_champion(name, version, history)
    return previous or 0


def rollback(name: str) -> int:
    """Move `champion` back to the version that held it before; return that version.

    Raises:
        DataError: If there is no earlier champion to go back to.
    """
    history = champion_history(name)
    if len(history) < 2:
        raise DataError(f"model {name!r} has no earlier champion to roll back to")
    history.pop()
    _set_champion(name, history[-1], history)
    return history[-1]


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
