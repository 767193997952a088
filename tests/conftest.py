"""Test-wide isolation: a throw-away ZenML config, MLflow store and state folder per session.

The environment is set at import time, before any test module imports zenml, so no test ever
reads or writes the user's ZenML config or MLflow database.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="retail-mlops-tests-"))
os.environ["RETAIL_MLOPS_HOME"] = str(_SESSION_HOME / "state")
os.environ["ZENML_CONFIG_PATH"] = str(_SESSION_HOME / "zenml")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["ZENML_LOGGING_COLORS_DISABLED"] = "true"
os.environ["GIT_PYTHON_REFRESH"] = "quiet"
os.environ.pop("MLFLOW_TRACKING_URI", None)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUBSET = PROJECT_ROOT / "tests" / "data" / "online_retail_subset.csv.gz"
