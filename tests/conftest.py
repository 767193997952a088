"""Session-wide test setup: throw-away ZenML, MLflow and state folders, and the real data.

The environment is set at import time, before any test module imports zenml, so no test ever
reads or writes the user's ZenML config or MLflow database.
"""

from __future__ import annotations

import os
import tempfile
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
