"""The churn model inside the warehouse: a `churn_scores` view, and the SQL files a DBA reviews.

The champion's trees are compiled to one SQL query over the `customer_features` view
(`trees.scoring_sql`), rendered for the engine (`sql.transpile`) and installed as the view
`churn_scores`, so a warehouse scores every customer where the lines live and returns only
what is asked of it. The view carries the model version and the run that installed it, so a
score can always be traced to its model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd
from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.errors import DataError
from retail_mlops.features.customer import ACTIVE_WINDOW_DAYS, FEATURE_COLUMNS
from retail_mlops.io import atomic_write_text
from retail_mlops.warehouse.database import FEATURE_VIEW, Warehouse
from retail_mlops.warehouse.sql import DIALECTS, transpile
from retail_mlops.warehouse.trees import DEFAULT_GROUP_SIZE, model_features, scoring_sql

SCORES_VIEW: Final = "churn_scores"
FEATURES_FILE: Final = "customer_features.sql"
MODEL_FILE: Final = "churn_model.sql"


class WarehouseScoringParams(Params):
    """How the model is compiled into the warehouse."""

    group_size: int = Field(
        default=DEFAULT_GROUP_SIZE,
        ge=1,
        le=1000,
        description="Most trees in one SQL expression (engines limit expression depth)",
    )


@dataclass(frozen=True)
class ModelSql:
    """The compiled model for one engine: the statement, its hash and the model it holds."""

    statement: str
    dialect: str
    model_version: int
    features: tuple[str, ...]

    @property
    def sha256(self) -> str:
        """The statement's hash: what ran in the warehouse, recorded beside the run."""
        return hashlib.sha256(self.statement.encode()).hexdigest()


def check_cutoff(lines: pd.DataFrame, cutoff: str | pd.Timestamp) -> pd.Timestamp:
    """The cutoff, if the lines can say something as of it.

    A cutoff at or before the first line scores nobody; one more than a day after the last
    line scores from data that ends before it, which is a typo more often than a wish.

    Raises:
        DataError: If the cutoff is outside (first line, last line + 1 day].
    """
    stamp = pd.Timestamp(cutoff)
    if lines.empty:
        raise DataError("no clean invoice lines to load into the warehouse")
    first, last = (
        pd.Timestamp(lines["invoice_date"].min()),
        pd.Timestamp(lines["invoice_date"].max()),
    )
    if not first < stamp <= last.normalize() + pd.Timedelta(days=1):
        raise DataError(
            f"scoring cutoff {stamp.date()} is outside the data "
            f"({first.date()} to {last.date()}): choose a date after the first line"
        )
    return stamp


def model_view_sql(
    model: Any,
    model_version: int,
    dialect: str,
    *,
    run_id: str = "",
    group_size: int = DEFAULT_GROUP_SIZE,
    features: Sequence[str] = FEATURE_COLUMNS,
) -> ModelSql:
    """`CREATE OR REPLACE VIEW churn_scores AS <the compiled model>` for one engine.

    Raises:
        DataError: If the model needs a feature the view lacks, or the dialect is unknown.
    """
    names = model_features(model, features)
    query = scoring_sql(
        model,
        features,
        source=FEATURE_VIEW,
        extra_select={"model_version": int(model_version), "run_id": run_id},
        group_size=group_size,
    )
    statement = transpile(f"CREATE OR REPLACE VIEW {SCORES_VIEW} AS {query}", dialect)
    return ModelSql(statement, dialect, int(model_version), tuple(names))


def install_model(
    warehouse: Warehouse,
    model: Any,
    model_version: int,
    *,
    run_id: str = "",
    group_size: int = DEFAULT_GROUP_SIZE,
) -> ModelSql:
    """Install the compiled model as `churn_scores`, atomically (on failure the old one stays)."""
    compiled = model_view_sql(
        model, model_version, warehouse.dialect, run_id=run_id, group_size=group_size
    )
    warehouse.replace_view(compiled.statement)
    return compiled


def read_scores(warehouse: Warehouse) -> pd.DataFrame:
    """Every row of `churn_scores`, by cutoff and customer, typed like the batch predictions."""
    out = warehouse.query(f"SELECT * FROM {SCORES_VIEW} ORDER BY cutoff, customer_id")
    out["customer_id"] = out["customer_id"].astype(str)
    out["cutoff"] = pd.to_datetime(out["cutoff"]).astype("datetime64[ns]")
    out["churn_probability"] = out["churn_probability"].astype("float64")
    out["model_version"] = out["model_version"].astype("int64")
    return out


def _header(what: str, dialect: str, lines: Sequence[str]) -> str:
    return "\n".join([f"-- {what}", f"-- dialect: {dialect}", *(f"-- {x}" for x in lines), ""])


def export_sql(
    model: Any,
    model_name: str,
    model_version: int,
    dialect: str,
    out_dir: Path,
    *,
    group_size: int = DEFAULT_GROUP_SIZE,
    active_window_days: int = ACTIVE_WINDOW_DAYS,
) -> list[Path]:
    """Write the two files a DBA reviews: the feature view and the compiled model.

    `customer_features.sql` creates the tables it reads (if missing) and the view;
    `churn_model.sql` creates `churn_scores` over it. Each starts with a header naming the
    model version and the features in the model's order, and is written atomically.

    Raises:
        DataError: On an unknown dialect or a model needing features the view lacks.
    """
    if dialect not in DIALECTS:
        transpile("SELECT 1", dialect)  # raises the one-line unknown-dialect error
    compiled = model_view_sql(model, model_version, dialect, group_size=group_size)
    view = Warehouse.feature_view_statements(dialect, active_window_days)
    feature_list = ", ".join(compiled.features)
    files = {
        FEATURES_FILE: _header(
            f"{FEATURE_VIEW}: the churn features per (customer, cutoff) from {len(FEATURE_COLUMNS)}"
            " columns of SQL over invoice_lines and feature_cutoffs",
            dialect,
            [f"active window: {active_window_days} days", f"features: {feature_list}"],
        )
        + ";\n\n".join(view)
        + ";\n",
        MODEL_FILE: _header(
            f"{SCORES_VIEW}: {model_name} v{model_version} compiled to SQL "
            f"({len(compiled.statement)} characters, sha256 {compiled.sha256})",
            dialect,
            [f"features (model order): {feature_list}", f"reads: {FEATURE_VIEW}"],
        )
        + compiled.statement
        + ";\n",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    return [Path(atomic_write_text(out_dir / name, text)) for name, text in files.items()]
