"""Demand service: per-item forecasts and stock policy from one demand_forecasting run.

What it serves is pinned by `release.json` beside this file (or the file named by
RETAIL_MLOPS_DEMAND_RELEASE): the BentoML model `demand_forecast:<run id>` that holds the
run's forecast and inventory inputs (see retail_mlops/serving/demand.py), the longest horizon every
item has, and the policy defaults the run recommended with.

Nothing is forecast or read from disk per request: at start-up the tables become dicts keyed
by item code, with the forecast points already built as response objects, so /forecast is a
dict lookup and a slice, and /inventory a lookup plus the `inventory.policy` formulas on scalars.
Requests are strict (no extra fields, no strings for numbers, no NaN/inf) so every bad body is
a 400 naming the field, never a 500.

The request counter is a plain `prometheus_client` Counter in its default registry, which
BentoML's /metrics serves; workers import this module with PROMETHEUS_MULTIPROC_DIR already
set, so it counts in multiprocess mode, as the deprecated `bentoml.metrics` wrapper did.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Annotated

import bentoml
import prometheus_client
from pydantic import BaseModel, ConfigDict, Field

from retail_mlops.paths import use_bentoml_home
from retail_mlops.serving.demand import (
    DemandRelease,
    HoldingRate,
    LeadTimeStd,
    OrderCost,
    item_policy,
    load_demand_tables,
)
from retail_mlops.serving.release import read_release
from retail_mlops.serving.runtime import harden, service_options

use_bentoml_home()  # the pinned models below are looked up in this store
HERE = Path(__file__).resolve().parent
RELEASE = read_release(DemandRelease, HERE, "demand")
DEFAULTS = RELEASE.policy

Sku = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="Item (stock) code, e.g. 85123A; matched as given, then upper-cased.",
    ),
]
Horizon = Annotated[
    int, Field(ge=1, le=RELEASE.max_horizon, description="Open days ahead, from the first.")
]
# Inclusive bounds only: BentoML publishes OpenAPI 3.0, whose exclusiveMinimum is a flag, and
# pydantic's numeric `gt` made the published schema invalid for clients (schemathesis).
ServiceLevel = Annotated[
    float, Field(ge=0.5, le=0.9999, description="Target cycle service level (0.5: no buffer).")
]
LeadTime = Annotated[float, Field(ge=0.01, le=365, description="Lead time in open days.")]


class _Strict(BaseModel):
    # strict: "7" is no horizon and "0.95" no service level; JSON numbers only, finite ones.
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ForecastInput(_Strict):
    """POST /forecast body."""

    sku: Sku
    horizon: Horizon


class InventoryInput(_Strict):
    """POST /inventory body; the settings left out are the release's defaults."""

    sku: Sku
    lead_time_days: LeadTime
    service_level: ServiceLevel
    lead_time_std_days: LeadTimeStd = DEFAULTS.lead_time_std_days
    order_cost: OrderCost = DEFAULTS.order_cost
    holding_rate: HoldingRate = DEFAULTS.holding_rate


class ForecastPoint(BaseModel):
    """Units forecast for one open day, with the interval (nominal 80%) around them."""

    ds: str
    yhat: float
    yhat_lower: float
    yhat_upper: float


class ForecastResponse(BaseModel):
    """An item's stored forecast and the model behind it."""

    sku: str
    horizon: int
    model: str = Field(description="prophet, xgboost, ensemble or naive")
    fallback: bool = Field(description="True when the item did not get its backtest choice")
    reason: str
    points: list[ForecastPoint]
    source_run: str
    model_tag: str


class InventoryResponse(BaseModel):
    """An item's (reorder point, order quantity) policy for the requested settings."""

    sku: str
    service_level: float
    lead_time_days: float
    lead_time_std_days: float
    order_cost: float
    holding_rate: float
    open_days_per_year: float
    mean_demand: float = Field(description="Units per open day")
    sigma: float = Field(description="Daily forecast error (RMSE of the backtest residuals)")
    unit_cost: float
    z: float
    safety_stock: float
    reorder_point: float
    annual_demand: float
    eoq: float = Field(description="sqrt(2 D S / H), unrounded")
    order_quantity: float = Field(description="EOQ rounded up, at least 1 with demand")
    source_run: str
    model_tag: str


class DemandService:
    """Serves the pinned run's forecast and inventory policy per item."""

    tables = bentoml.models.BentoModel(RELEASE.model_tag)  # pinned into the Bento at build

    requests_total = prometheus_client.Counter(
        name="demand_requests_total",
        documentation="Requests per endpoint and outcome (ok, unknown_sku).",
        labelnames=["endpoint", "outcome"],
    )

    def __init__(self) -> None:
        loaded = load_demand_tables(RELEASE.model_tag)
        self.forecasts = loaded.forecasts
        self.items = loaded.items
        self.points = {
            sku: tuple(
                ForecastPoint(ds=d, yhat=y, yhat_lower=lo, yhat_upper=hi)
                for d, y, lo, hi in zip(f.ds, f.yhat, f.yhat_lower, f.yhat_upper, strict=True)
            )
            for sku, f in self.forecasts.items()
        }
        gc.collect()
        gc.freeze()  # start-up objects never need collecting; shorter GC pauses under load

    def _unknown(self, endpoint: str, sku: str) -> bentoml.exceptions.NotFound:
        self.requests_total.labels(endpoint, "unknown_sku").inc()
        return bentoml.exceptions.NotFound(
            f"unknown sku {sku!r}: run {RELEASE.source_run} has no {endpoint} for it"
        )

    @bentoml.api(route="/forecast", input_spec=ForecastInput)
    async def forecast(self, sku: Sku, horizon: Horizon) -> ForecastResponse:
        """The stored forecast of an item for its first `horizon` open days.

        Unknown item: 404 naming it.
        """
        key = sku if sku in self.forecasts else sku.upper()
        item = self.forecasts.get(key)
        if item is None:
            raise self._unknown("forecast", sku)
        self.requests_total.labels("forecast", "ok").inc()
        return ForecastResponse(
            sku=key,
            horizon=horizon,
            model=item.model,
            fallback=item.fallback,
            reason=item.reason,
            points=list(self.points[key][:horizon]),
            source_run=RELEASE.source_run,
            model_tag=RELEASE.model_tag,
        )

    @bentoml.api(route="/inventory", input_spec=InventoryInput)
    async def inventory(
        self,
        sku: Sku,
        lead_time_days: LeadTime,
        service_level: ServiceLevel,
        lead_time_std_days: LeadTimeStd,
        order_cost: OrderCost,
        holding_rate: HoldingRate,
    ) -> InventoryResponse:
        """Safety stock, reorder point and EOQ of an item for a service level and lead time.

        The item's mean daily demand, error sigma and unit cost come from the run; the
        settings left out default to the ones the run recommended with. Unknown item: 404.
        """
        key = sku if sku in self.items else sku.upper()
        item = self.items.get(key)
        if item is None:
            raise self._unknown("inventory", sku)
        p = item_policy(
            item,
            service_level,
            lead_time_days,
            lead_time_std_days,
            order_cost,
            holding_rate,
            DEFAULTS.open_days_per_year,
        )
        self.requests_total.labels("inventory", "ok").inc()
        return InventoryResponse(
            sku=key,
            service_level=service_level,
            lead_time_days=lead_time_days,
            lead_time_std_days=lead_time_std_days,
            order_cost=order_cost,
            holding_rate=holding_rate,
            open_days_per_year=DEFAULTS.open_days_per_year,
            mean_demand=item.mean_demand,
            sigma=item.sigma,
            unit_cost=item.unit_cost,
            z=p.z,
            safety_stock=p.safety_stock,
            reorder_point=p.reorder_point,
            annual_demand=p.annual_demand,
            eoq=p.eoq,
            order_quantity=p.order_quantity,
            source_run=RELEASE.source_run,
            model_tag=RELEASE.model_tag,
        )


DemandService = harden(  # type: ignore[misc]
    bentoml.service(**service_options("demand_service", ["/forecast", "/inventory"]))(DemandService)
)
