"""Champion/challenger bookkeeping in the MLflow registry (aliases and a champion history).

MLflow 3 uses aliases, not stages: the newest version is `challenger`, the serving version is
`champion`. ZenML's Model Control Plane keeps its own versions; `steps.client.promote_model`
moves both (this module is MLflow only, so it imports without ZenML).
"""

from __future__ import annotations

from typing import Any

from retail_mlops.errors import DataError
from retail_mlops.names import CHALLENGER, CHAMPION

HISTORY_TAG = "champion_history"  # comma-separated MLflow versions, oldest first
MLFLOW_VERSION_KEY = "mlflow_version"
HORIZON_TAG = "horizon_days"  # the churn label's horizon the version was trained on


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def register(
    model_uri: str,
    name: str,
    tags: dict[str, str] | None = None,
    description: str = "",
    model_description: str = "",
) -> int:
    """Register a logged model as a new version and make it the challenger.

    `description` goes on the new version and `model_description` on the registered model
    (replacing the previous one), so the MLflow UI says what the model is and what each
    version was trained on; an empty one leaves the current text as it is.
    `mlflow.register_model` takes no description, hence the updates after it.
    """
    import mlflow

    mv = mlflow.register_model(model_uri, name, tags=tags or {})
    version = int(mv.version)
    client = _client()
    if description:
        client.update_model_version(name, str(version), description=description)
    if model_description:
        client.update_registered_model(name, description=model_description)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return version


def alias_version(name: str, alias: str) -> int | None:
    """The version an alias points to, or None if unset (or no such model)."""
    from mlflow.exceptions import MlflowException

    try:
        return int(_client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_tag(name: str, alias: str, key: str) -> str | None:
    """Tag `key` of the version `name@alias` points to; None if the alias or tag is unset."""
    from mlflow.exceptions import MlflowException

    try:
        return _client().get_model_version_by_alias(name, alias).tags.get(key)
    except MlflowException:
        return None


def churn_horizon(name: str, alias: str = "champion") -> int:
    """The label horizon (days) of the version `name@alias` was trained on.

    Raises:
        DataError: If the alias is unset or the version records no horizon (registered
            before versions carried one): pass the horizon explicitly then.
    """
    value = version_tag(name, alias, HORIZON_TAG)
    if value is None:
        raise DataError(f"{name}@{alias} records no {HORIZON_TAG}: pass --horizon-days")
    return int(value)


def champion_history(name: str) -> list[int]:
    """Versions that have been champion, oldest first.

    Raises:
        DataError: If no model of that name is registered (nothing was trained yet).
    """
    from mlflow.exceptions import MlflowException

    try:
        raw = _client().get_registered_model(name).tags.get(HISTORY_TAG, "")
    except MlflowException as exc:
        raise DataError(f"model {name!r} is not registered: train it first") from exc
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


def promote(name: str, version: int) -> int:
    """Make `version` the champion in MLflow; return the previous one (0 if none).

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
