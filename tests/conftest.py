"""Session-wide test setup: throw-away ZenML, MLflow and state folders, and the real data.

The environment is set at import time, before any test module imports zenml, so no test ever
reads or writes the user's ZenML config or MLflow database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pandas as pd

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="retail-mlops-tests-"))
os.environ["RETAIL_MLOPS_HOME"] = str(_SESSION_HOME / "state")
os.environ["ZENML_CONFIG_PATH"] = str(_SESSION_HOME / "zenml")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_LOGGING_COLORS_DISABLED"] = "true"
os.environ["GIT_PYTHON_REFRESH"] = "quiet"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("RETAIL_MLOPS_WAREHOUSE_URL", None)  # the embedded warehouse unless a test sets one

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUBSET = PROJECT_ROOT / "tests" / "data" / "online_retail_subset.csv.gz"
TOP_ITEMS = PROJECT_ROOT / "tests" / "data" / "online_retail_top_items.csv.gz"


# --- the committed real data, read once per session --------------------------------------------
# Each public fixture hands every module its own copy of a frame read once per session, so a
# module that edits its frame cannot change what another module sees.


@pytest.fixture(scope="session")
def _subset_clean_once() -> pd.DataFrame:
    from retail_mlops.ingest.sources import read_source
    from retail_mlops.validate.rules import split_quarantine

    raw, _ = read_source({"kind": "file", "path": str(SUBSET)})
    clean, _ = split_quarantine(raw)
    return clean


@pytest.fixture(scope="module")
def subset_clean(_subset_clean_once: pd.DataFrame) -> pd.DataFrame:
    """The committed subset's invoice lines that pass the validation rules (`split_quarantine`)."""
    return _subset_clean_once.copy()


@pytest.fixture(scope="session")
def _top_items_demand_once() -> pd.DataFrame:
    from retail_mlops.forecasting.demand import daily_demand, sales_lines
    from retail_mlops.ingest.sources import read_source

    raw, _ = read_source({"kind": "file", "path": str(TOP_ITEMS)})
    sales, _ = sales_lines(raw)
    return daily_demand(sales)


@pytest.fixture(scope="module")
def top_items_demand(_top_items_demand_once: pd.DataFrame) -> pd.DataFrame:
    """Daily demand (stock_code, ds, y, price) of the committed top-items file, on open days."""
    return _top_items_demand_once.copy()


# --- a real MLflow store ------------------------------------------------------------------------


@dataclass(frozen=True)
class MlflowStore:
    """A SQLite MLflow tracking and registry store under the session's tmp folder."""

    uri: str
    experiment_id: str


@contextmanager
def using_mlflow(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking and registry URIs at `uri`; put back what was there after.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI (and the registry one) for
    subprocesses, so the variables are restored too: no later test sees this store.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    before = tracking_utils._tracking_uri, registry_utils._registry_uri
    variables = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
        for key, value in variables.items():  # set_registry_uri(None) leaves its variable set
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def mlflow_sqlite(tmp_path_factory: pytest.TempPathFactory) -> MlflowStore:
    """The session's SQLite MLflow store and its experiment; MLflow's globals stay untouched.

    Created once, as building its schema takes seconds; tests keep apart by model name. Use
    `mlflow_store` (or `using_mlflow`) to aim MLflow's fluent API at it.
    """
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    experiment_id = MlflowClient(tracking_uri=uri, registry_uri=uri).create_experiment(
        "unit-tests", artifact_location=(root / "artifacts").as_uri()
    )
    return MlflowStore(uri, experiment_id)


@pytest.fixture
def mlflow_store(mlflow_sqlite: MlflowStore) -> Iterator[MlflowStore]:
    """MLflow aimed at a real SQLite store for one test, and aimed back after it."""
    with using_mlflow(mlflow_sqlite.uri):
        yield mlflow_sqlite


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster for the session (skip with the reason if none starts)."""
    from contextlib import ExitStack

    from tests.servers import postgres_server

    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_server())
        except RuntimeError as exc:
            pytest.skip(f"no PostgreSQL server: {exc}")
        yield url
