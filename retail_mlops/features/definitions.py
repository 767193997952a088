"""Feast objects of the project: entities, the Parquet sources the pipelines write, feature views.

Built by a function, from the environment of the moment: ZenML sets a step's FEAST_* variables
only around the step, and a test points RETAIL_MLOPS_HOME elsewhere, so the sources must follow
the environment rather than whatever it was when a module was first imported. The embedded
default keeps the tables in the state folder; in the remote layout (feature_repo/remote/: pods
that share no disk) FEAST_OFFLINE_URI names the s3:// folder and FEAST_S3_ENDPOINT_URL the S3
service. `feature_repo/definitions.py` exposes the same objects to the `feast` CLI.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from retail_mlops.features.customer import FEATURE_COLUMNS as CUSTOMER_FEATURES
from retail_mlops.features.item import ITEM_FEATURE_COLUMNS as ITEM_FEATURES
from retail_mlops.paths import state_dir

# The views' lifetimes: customer snapshots are monthly (a cutoff picks the latest one at or
# before it, within 45 days); item rows are daily.
CUSTOMER_TTL = timedelta(days=45)
ITEM_TTL = timedelta(days=7)
VIEW_FEATURES: dict[str, list[str]] = {
    "customer_features": list(CUSTOMER_FEATURES),
    "item_daily_features": list(ITEM_FEATURES),
}


@dataclass(frozen=True)
class OfflineLayout:
    """Where the offline Parquet tables live: a local folder, or an s3:// URI and endpoint."""

    uri: str
    s3_endpoint: str | None = None

    @property
    def local(self) -> bool:
        """True for the embedded default (a folder on this machine)."""
        return "://" not in self.uri

    def table(self, view: str) -> Path | str:
        """The Parquet file of a view: a local Path, or an s3:// URI in the remote layout."""
        return Path(self.uri) / f"{view}.parquet" if self.local else f"{self.uri}/{view}.parquet"


def offline_layout() -> OfflineLayout:
    """The offline layout this process's environment asks for."""
    uri = os.environ.get("FEAST_OFFLINE_URI", "").strip().rstrip("/")
    if uri:
        return OfflineLayout(uri, os.environ.get("FEAST_S3_ENDPOINT_URL") or None)
    return OfflineLayout(str(state_dir() / "feast" / "data"))


def feast_objects(layout: OfflineLayout | None = None) -> list[Any]:
    """Entities and feature views (with their sources) for `layout` (default: the environment's).

    The feature lists are the feature library's own, so a view can never drift from the code.
    """
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    layout = layout or offline_layout()
    customer = Entity(
        name="customer",
        join_keys=["customer_id"],
        value_type=ValueType.STRING,
        description="A shop customer (UCI Online Retail II Customer ID).",
    )
    item = Entity(
        name="item",
        join_keys=["stock_code"],
        value_type=ValueType.STRING,
        description="A stock item (SKU), by StockCode.",
    )

    def source(view: str, description: str) -> Any:
        return FileSource(
            name=f"{view}_source",
            path=str(layout.table(view)),
            timestamp_field="event_timestamp",
            s3_endpoint_override=layout.s3_endpoint,
            description=description,
        )

    customer_source = source(
        "customer_features",
        "Customer feature snapshots written by the pipelines; a row at t uses only invoice "
        "lines before t.",
    )
    item_source = source(
        "item_daily_features", "Item-day features; a row for day d uses only demand before d."
    )

    def view(name: str, entity: Any, ttl: timedelta, source: Any, description: str) -> Any:
        return FeatureView(
            name=name,
            entities=[entity],
            ttl=ttl,
            schema=[Field(name=f, dtype=Float64) for f in VIEW_FEATURES[name]],
            source=source,
            online=True,
            description=description,
            tags={"owner": "retail-mlops", "job": "churn" if entity is customer else "demand"},
        )

    customer_features = view(
        "customer_features",
        customer,
        CUSTOMER_TTL,
        customer_source,
        "RFM-style customer features as of a snapshot time (churn model inputs).",
    )
    item_daily_features = view(
        "item_daily_features",
        item,
        ITEM_TTL,
        item_source,
        "Calendar, lag and past-only rolling demand and price features per item-day.",
    )
    return [customer, item, customer_features, item_daily_features]


def definition_version() -> str:
    """A short hash of the feature definitions, recorded with every feature table."""
    text = repr((CUSTOMER_FEATURES, ITEM_FEATURES, CUSTOMER_TTL, ITEM_TTL))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
