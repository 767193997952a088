"""Demand forecasts and inventory inputs as one BentoML model, and what the service serves.

The demand service never forecasts at request time: the demand_forecasting pipeline already
chose a model per item, forecast `horizon` open days ahead with intervals and worked out each
item's mean demand, error sigma and unit cost. Serving those tables, pinned as one BentoML
model per pipeline run, means an answer is exactly what the pipeline logged, the service image
needs neither Prophet nor XGBoost, and a request costs a dict lookup. The inventory answer is
recomputed per request for the caller's service level and lead time, with the `inventory.policy`
formulas the pipeline itself used.

The service, the import step, `run.py serve` and the tests share it; the look-up of the ZenML
run the tables come from is `steps.client.latest_demand_release`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retail_mlops.config import Params
from retail_mlops.deploy.services import SERVICES
from retail_mlops.errors import DataError
from retail_mlops.inventory.policy import (
    PolicyParams,
    eoq,
    order_quantity,
    reorder_point,
    safety_stock,
    z_value,
)
from retail_mlops.paths import use_bentoml_home

MODEL_NAME = "demand_forecast"
FORECAST_FILE = "forecast.parquet"
RECOMMENDATIONS_FILE = "recommendations.parquet"
FORECAST_COLUMNS = (
    "stock_code",
    "ds",
    "yhat",
    "yhat_lower",
    "yhat_upper",
    "model",
    "fallback",
    "reason",
)
RECOMMENDATION_COLUMNS = ("stock_code", "mean_demand", "sigma", "unit_cost")
_TAG_CHARS = re.compile(r"[^a-z0-9._-]+")


_POLICY = PolicyParams()
# Bounds shared by the release's defaults and the service's request fields, so a default can
# never be a value a request would be refused for (defaults skip request validation).
LeadTimeStd = Annotated[
    float, Field(ge=0, le=365, description="Standard deviation of the lead time (open days).")
]
OrderCost = Annotated[float, Field(ge=0, le=1e6, description="Cost of placing one order.")]
# Bounded away from 0: a vanishing holding cost sends the EOQ to infinity.
HoldingRate = Annotated[
    float, Field(ge=0.001, le=10, description="Yearly holding cost as a share of unit cost.")
]
OpenDays = Annotated[float, Field(ge=1, le=366, description="Open days in a year.")]


class PolicyDefaults(BaseModel):
    """Settings an /inventory request may leave out (`parameters.demand` of the deployment).

    Defaults are `PolicyParams`' own, the recommend_inventory step's defaults.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    lead_time_std_days: LeadTimeStd = _POLICY.lead_time_std_days
    order_cost: OrderCost = _POLICY.order_cost
    holding_rate: HoldingRate = _POLICY.holding_rate
    open_days_per_year: OpenDays = _POLICY.open_days_per_year


class DemandServing(PolicyDefaults):
    """`parameters.demand` of configs/deployment.yaml: the port and the policy defaults."""

    port: int = Field(default=SERVICES["demand"].port, ge=1, le=65535)


class DemandImportParams(Params):
    """Which demand_forecasting run the deployment serves."""

    run: str | None = Field(default=None, description="A run name or id; default: the newest")


class DemandRelease(BaseModel):
    """What the demand service serves: one BentoML model of one demand_forecasting run."""

    model_config = ConfigDict(extra="forbid")

    service: Literal["demand"] = "demand"
    model_tag: str
    source_run: str = Field(min_length=1)
    max_horizon: int = Field(ge=1, description="Open days forecast for every item")
    items: int = Field(ge=1)
    example_sku: str = Field(description="The item with the most forecast units (smoke checks)")
    policy: PolicyDefaults = PolicyDefaults()


def policy_defaults(params: Mapping[str, Any]) -> PolicyDefaults:
    """The policy defaults among `params` (other keys, such as `port`, are ignored).

    Raises:
        DataError: If a value is out of the range a request may use.
    """
    fields = PolicyDefaults.model_fields
    try:
        return PolicyDefaults.model_validate({k: v for k, v in params.items() if k in fields})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DataError(f"demand policy setting {where}: {first['msg']}") from exc


def model_version(source_run: str) -> str:
    """The BentoML version of a run's tables: the run id, as a valid tag version.

    One run gives one version, which is what makes the import idempotent.

    Raises:
        DataError: If nothing of the run id is usable in a tag.
    """
    version = _TAG_CHARS.sub("-", source_run.strip().lower()).strip("-._")[:63].rstrip("-._")
    if not version:
        raise DataError(f"run id {source_run!r} gives no valid BentoML version")
    return version


def _require(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} has no column {', '.join(repr(c) for c in missing)} "
            f"(has {', '.join(map(str, frame.columns))})"
        )
    if frame.empty:
        raise DataError(f"{what} has no rows")


def _finite(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64")
        bad = ~np.isfinite(values)
        if bad.any():
            sku = frame["stock_code"].iloc[int(np.argmax(bad))]
            raise DataError(f"{what} column {col!r} is not a finite number for item {sku!r}")


def validate_tables(forecast: pd.DataFrame, recommendations: pd.DataFrame) -> None:
    """Check the two tables before they are stored: a bad table fails the import, not a request.

    Raises:
        DataError: Naming the missing column, or the first value a request could not serve
            (non-finite forecast or mean demand, duplicate rows, dates that are no dates).
    """
    _require(forecast, FORECAST_COLUMNS, "demand_forecast")
    _require(recommendations, RECOMMENDATION_COLUMNS, "inventory_recommendations")
    _finite(forecast, ["yhat", "yhat_lower", "yhat_upper"], "demand_forecast")
    _finite(recommendations, ["mean_demand"], "inventory_recommendations")
    if pd.to_datetime(forecast["ds"], errors="coerce").isna().any():
        raise DataError("demand_forecast column 'ds' has values that are not dates")
    dup = forecast.duplicated(["stock_code", "ds"])
    if dup.any():
        row = forecast[dup].iloc[0]
        raise DataError(f"demand_forecast has item {row['stock_code']!r} twice on {row['ds']}")
    dup = recommendations.duplicated("stock_code")
    if dup.any():
        sku = recommendations.loc[dup, "stock_code"].iloc[0]
        raise DataError(f"inventory_recommendations has item {sku!r} twice")


def import_demand_tables(
    forecast: pd.DataFrame,
    recommendations: pd.DataFrame,
    source_run: str,
    policy: PolicyDefaults | None = None,
) -> DemandRelease:
    """Store a run's forecast and recommendations as BentoML model `demand_forecast:<run>`.

    Importing the same run again reuses the stored model (a model version never changes
    under a Bento that pinned it).

    Args:
        forecast: The `demand_forecast` artifact (stock_code, ds, yhat, yhat_lower,
            yhat_upper, model, fallback, reason).
        recommendations: The `inventory_recommendations` artifact (at least stock_code,
            mean_demand, sigma, unit_cost).
        source_run: The demand_forecasting run id the tables come from.
        policy: The run's policy settings, the defaults of /inventory requests.

    Returns:
        The release that pins the model.

    Raises:
        DataError: On a missing column or a table the service could not serve.
    """
    import bentoml

    use_bentoml_home()

    validate_tables(forecast, recommendations)
    tag = f"{MODEL_NAME}:{model_version(source_run)}"
    try:
        model = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        counts = forecast.groupby("stock_code")["ds"].size()
        units = forecast.groupby("stock_code")["yhat"].sum()
        top = units.reset_index().sort_values(["yhat", "stock_code"], ascending=[False, True])
        forecast_models = forecast.drop_duplicates("stock_code")["model"].value_counts()
        days = pd.to_datetime(forecast["ds"])
        with bentoml.models.create(
            tag,
            labels={"source": "zenml", "pipeline": "demand_forecasting"},
            metadata={
                "source_run": source_run,
                "max_horizon": int(counts.min()),
                "items": len(counts),
                "example_sku": str(top["stock_code"].iloc[0]),
                "first_day": str(days.min().date()),
                "last_day": str(days.max().date()),
                "models": {str(k): int(v) for k, v in forecast_models.items()},
            },
        ) as model:
            forecast.to_parquet(model.path_of(FORECAST_FILE), index=False)
            recommendations.to_parquet(model.path_of(RECOMMENDATIONS_FILE), index=False)
    meta: dict[str, Any] = dict(model.info.metadata)
    return DemandRelease(
        model_tag=str(model.tag),
        source_run=str(meta["source_run"]),
        max_horizon=int(meta["max_horizon"]),
        items=int(meta["items"]),
        example_sku=str(meta["example_sku"]),
        policy=policy or PolicyDefaults(),
    )


# --- what the service holds in memory ----------------------------------------------------------


@dataclass(frozen=True)
class ItemForecast:
    """One item's stored forecast, as plain lists: a request only slices them."""

    model: str
    fallback: bool
    reason: str
    ds: list[str]
    yhat: list[float]
    yhat_lower: list[float]
    yhat_upper: list[float]


@dataclass(frozen=True)
class ItemInputs:
    """One item's policy inputs; a missing sigma or unit cost counts 0, as in `recommend`."""

    mean_demand: float
    sigma: float
    unit_cost: float


@dataclass(frozen=True)
class DemandTables:
    """Forecasts and policy inputs by item code, built once at start-up."""

    forecasts: dict[str, ItemForecast]
    items: dict[str, ItemInputs]


def tables_from_frames(forecast: pd.DataFrame, recommendations: pd.DataFrame) -> DemandTables:
    """Index the two tables by item; every forecast sorted by day."""
    fc = forecast.assign(ds=pd.to_datetime(forecast["ds"])).sort_values(["stock_code", "ds"])
    forecasts: dict[str, ItemForecast] = {}
    for sku, g in fc.groupby("stock_code", sort=False):
        first = g.iloc[0]
        forecasts[str(sku)] = ItemForecast(
            model=str(first["model"]),
            fallback=bool(first["fallback"]),
            reason=str(first["reason"]),
            ds=[d.date().isoformat() for d in g["ds"]],
            yhat=g["yhat"].astype("float64").tolist(),
            yhat_lower=g["yhat_lower"].astype("float64").tolist(),
            yhat_upper=g["yhat_upper"].astype("float64").tolist(),
        )
    recs = recommendations.assign(
        sigma=pd.to_numeric(recommendations["sigma"], errors="coerce").fillna(0.0),
        unit_cost=pd.to_numeric(recommendations["unit_cost"], errors="coerce").fillna(0.0),
    )
    items = {
        str(sku): ItemInputs(float(mean), float(sigma), float(cost))
        for sku, mean, sigma, cost in zip(
            recs["stock_code"], recs["mean_demand"], recs["sigma"], recs["unit_cost"], strict=True
        )
    }
    return DemandTables(forecasts, items)


def load_demand_tables(tag: str) -> DemandTables:
    """The tables of BentoML model `tag` (saved by `import_demand_tables`), indexed by item."""
    import bentoml

    use_bentoml_home()

    model = bentoml.models.get(tag)
    return tables_from_frames(
        pd.read_parquet(model.path_of(FORECAST_FILE), columns=list(FORECAST_COLUMNS)),
        pd.read_parquet(model.path_of(RECOMMENDATIONS_FILE), columns=list(RECOMMENDATION_COLUMNS)),
    )


# --- the inventory answer ----------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """An item's policy for one service level and lead time (units; z dimensionless)."""

    z: float
    safety_stock: float
    reorder_point: float
    annual_demand: float
    eoq: float
    order_quantity: float


_z = functools.lru_cache(maxsize=4096)(z_value)  # scipy's ppf costs more than the rest


def item_policy(
    item: ItemInputs,
    service_level: float,
    lead_time_days: float,
    lead_time_std_days: float,
    order_cost: float,
    holding_rate: float,
    open_days_per_year: float,
) -> Policy:
    """Safety stock, reorder point and EOQ of one item, with the `inventory.policy` formulas.

    The order quantity is `_policy.order_quantity`, the rule `recommend` applies to the
    pipeline's table.
    """
    z = _z(service_level)
    ss = float(safety_stock(item.sigma, lead_time_days, z, item.mean_demand, lead_time_std_days))
    rop = float(reorder_point(item.mean_demand, lead_time_days, ss))
    annual = item.mean_demand * open_days_per_year
    q = float(eoq(annual, order_cost, holding_rate * item.unit_cost))
    quantity = float(order_quantity(annual, q))
    return Policy(z, ss, rop, annual, q, quantity)
