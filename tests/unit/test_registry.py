"""Unit tests for retail_mlops/registry.py against a real MLflow registry (SQLite in tmp).

Every version registered here points at one real XGBoost booster logged once per module;
each test uses a registered model name of its own, so the tests share the store but no state.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from retail_mlops.errors import DataError
from retail_mlops.names import CHALLENGER, CHAMPION
from retail_mlops.registry import (
    HISTORY_TAG,
    alias_version,
    champion_history,
    promote,
    register,
    rollback,
)
from tests.conftest import MlflowStore, using_mlflow

X = np.arange(20.0).reshape(10, 2)


@pytest.fixture(scope="module")
def model_uri(mlflow_sqlite: MlflowStore) -> str:
    """The URI of a two-tree booster logged in its native format (no requirement inference)."""
    import mlflow

    booster = xgb.train({"max_depth": 1}, xgb.DMatrix(X, label=np.arange(10.0)), 2)
    with (
        using_mlflow(mlflow_sqlite.uri),
        mlflow.start_run(experiment_id=mlflow_sqlite.experiment_id),
    ):
        info = mlflow.xgboost.log_model(booster, name="model", pip_requirements=[])
    return str(info.model_uri)


@pytest.fixture
def name(mlflow_store: MlflowStore) -> str:
    """A registered model name no other test uses, with MLflow aimed at the store."""
    return f"churn-{uuid.uuid4().hex[:8]}"


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def _registered(model_uri: str, name: str, n: int) -> list[int]:
    return [register(model_uri, name) for _ in range(n)]


# --- register ---------------------------------------------------------------------------------


def test_register_makes_each_new_version_the_challenger(model_uri: str, name: str) -> None:
    assert register(model_uri, name, tags={"trained_on": "subset"}) == 1
    assert alias_version(name, CHALLENGER) == 1
    assert alias_version(name, CHAMPION) is None  # registering never promotes
    assert register(model_uri, name) == 2
    assert alias_version(name, CHALLENGER) == 2
    assert alias_version(name, CHAMPION) is None
    assert champion_history(name) == []
    assert _client().get_model_version(name, "1").tags == {"trained_on": "subset"}


def test_register_writes_the_descriptions_and_an_empty_one_keeps_the_text(
    model_uri: str, name: str
) -> None:
    register(model_uri, name, description="trained on 2010", model_description="churn model")
    register(model_uri, name)
    client = _client()
    assert client.get_model_version(name, "1").description == "trained on 2010"
    assert not client.get_model_version(name, "2").description
    assert client.get_registered_model(name).description == "churn model"


def test_the_challenger_loads_as_the_logged_booster(model_uri: str, name: str) -> None:
    import mlflow

    register(model_uri, name)
    loaded = mlflow.xgboost.load_model(f"models:/{name}@{CHALLENGER}")
    expected = xgb.train({"max_depth": 1}, xgb.DMatrix(X, label=np.arange(10.0)), 2)
    np.testing.assert_allclose(loaded.predict(xgb.DMatrix(X)), expected.predict(xgb.DMatrix(X)))


# --- promote ----------------------------------------------------------------------------------


def test_promote_moves_the_champion_and_records_the_history(model_uri: str, name: str) -> None:
    _registered(model_uri, name, 2)
    assert promote(name, 1) == 0  # no champion before
    assert alias_version(name, CHAMPION) == 1
    assert champion_history(name) == [1]
    assert promote(name, 2) == 1
    assert alias_version(name, CHAMPION) == 2
    assert alias_version(name, CHALLENGER) == 2  # promotion leaves the challenger alone
    assert champion_history(name) == [1, 2]
    assert _client().get_registered_model(name).tags[HISTORY_TAG] == "1,2"


def test_promoting_the_champion_again_keeps_the_history(model_uri: str, name: str) -> None:
    _registered(model_uri, name, 2)
    promote(name, 1)
    assert promote(name, 1) == 1  # the previous champion is itself
    assert champion_history(name) == [1]
    promote(name, 2)
    promote(name, 2)
    assert champion_history(name) == [1, 2]


def test_a_version_can_hold_the_champion_twice(model_uri: str, name: str) -> None:
    _registered(model_uri, name, 2)
    for version in (1, 2, 1):
        promote(name, version)
    assert champion_history(name) == [1, 2, 1]
    assert rollback(name) == 2


def test_promote_of_a_missing_version_is_a_data_error_and_changes_nothing(
    model_uri: str, name: str
) -> None:
    _registered(model_uri, name, 1)
    promote(name, 1)
    with pytest.raises(DataError, match=rf"^model '{name}' has no version 7$"):
        promote(name, 7)
    assert alias_version(name, CHAMPION) == 1
    assert champion_history(name) == [1]


def test_promote_in_a_model_that_does_not_exist_is_a_data_error(name: str) -> None:
    with pytest.raises(DataError, match=rf"model '{name}' has no version 1"):
        promote(name, 1)


# --- rollback ---------------------------------------------------------------------------------


def test_rollback_walks_the_history_back(model_uri: str, name: str) -> None:
    _registered(model_uri, name, 3)
    for version in (1, 2, 3):
        promote(name, version)
    assert rollback(name) == 2
    assert alias_version(name, CHAMPION) == 2
    assert champion_history(name) == [1, 2]
    assert rollback(name) == 1
    assert alias_version(name, CHAMPION) == 1
    assert champion_history(name) == [1]
    with pytest.raises(DataError, match=rf"^model '{name}' has no earlier champion to roll back"):
        rollback(name)
    assert alias_version(name, CHAMPION) == 1  # a refused rollback changes nothing
    assert champion_history(name) == [1]
    assert alias_version(name, CHALLENGER) == 3


def test_promote_after_rollback_continues_from_the_rolled_back_history(
    model_uri: str, name: str
) -> None:
    _registered(model_uri, name, 3)
    for version in (1, 2):
        promote(name, version)
    rollback(name)
    assert promote(name, 3) == 1
    assert champion_history(name) == [1, 3]
    assert rollback(name) == 1


def test_rollback_without_an_earlier_champion_is_a_data_error(model_uri: str, name: str) -> None:
    _registered(model_uri, name, 2)
    with pytest.raises(DataError, match=rf"model '{name}' has no earlier champion"):
        rollback(name)  # never promoted
    promote(name, 1)
    with pytest.raises(DataError, match=rf"model '{name}' has no earlier champion"):
        rollback(name)  # one champion only
    assert alias_version(name, CHAMPION) == 1


def test_rollback_of_a_model_never_registered_is_a_data_error(name: str) -> None:
    with pytest.raises(DataError, match=rf"model '{name}'"):
        rollback(name)


# --- alias_version ----------------------------------------------------------------------------


def test_alias_version_is_none_for_an_unset_alias_or_an_unknown_model(
    model_uri: str, name: str
) -> None:
    assert alias_version(name, CHAMPION) is None  # no such model yet
    register(model_uri, name)
    assert alias_version(name, CHAMPION) is None
    assert alias_version(name, "no-such-alias") is None


# --- the store fixture itself -----------------------------------------------------------------


def test_using_mlflow_puts_the_previous_uris_and_variables_back(mlflow_sqlite: MlflowStore) -> None:
    import os

    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    def state() -> tuple[object, ...]:
        return (
            tracking_utils._tracking_uri,
            registry_utils._registry_uri,
            os.environ.get("MLFLOW_TRACKING_URI"),
            os.environ.get("MLFLOW_REGISTRY_URI"),
        )

    before = state()
    with using_mlflow(mlflow_sqlite.uri):
        assert mlflow.get_tracking_uri() == mlflow.get_registry_uri() == mlflow_sqlite.uri
        assert os.environ["MLFLOW_TRACKING_URI"] == mlflow_sqlite.uri
        mlflow.start_run(experiment_id=mlflow_sqlite.experiment_id)  # left open on purpose
    assert mlflow.active_run() is None
    assert state() == before
