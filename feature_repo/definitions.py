"""Feast definitions: entities, Parquet sources written by the pipelines, and feature views.

The pipelines apply these objects with the Python SDK (one FeatureStore per process);
`feast apply` from this folder works too, with RETAIL_MLOPS_HOME exported. For the remote layout
(feature_repo/remote/: pods that share no disk), FEAST_OFFLINE_URI names the s3:// folder of the
Parquet tables and FEAST_S3_ENDPOINT_URL the S3 service; without it the tables stay in the local
state folder, exactly as before.
"""

from __future__ import annotations

import hashlib
import os
import sys
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64


def offline_layout() -> tuple[str, str | None]:
    """Folder of the offline Parquet tables and the S3 endpoint, from this process's environment.

    A function as well as the constants below, so a process can tell whether the environment
    changed since this module was imported (a step's runtime environment, a test).
    """
    uri = os.environ.get("FEAST_OFFLINE_URI", "").strip().rstrip("/")
    if uri:
        return uri, os.environ.get("FEAST_S3_ENDPOINT_URL") or None
    home = os.environ.get("RETAIL_MLOPS_HOME", Path(__file__).resolve().parent.parent / ".state")
    return str(Path(home) / "feast" / "data"), None


OFFLINE_URI, S3_ENDPOINT = offline_layout()
# A local Path for the embedded default (what the local stack and its tests use), else the URI;
# Feast's file offline store reads s3:// sources through S3_ENDPOINT (None: AWS itself).
OFFLINE_DIR: Path | str = OFFLINE_URI if "://" in OFFLINE_URI else Path(OFFLINE_URI)


def table_location(view: str) -> Path | str:
    """The Parquet file of a view: a local Path, or an s3:// URI in the remote layout."""
    if isinstance(OFFLINE_DIR, Path):
        return OFFLINE_DIR / f"{view}.parquet"
    return f"{OFFLINE_DIR}/{view}.parquet"


# The feature lists are the feature library's own, so a view can never drift from the code.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from steps.features._customer import FEATURE_COLUMNS as CUSTOMER_FEATURES  # noqa: E402
from steps.features._item import ITEM_FEATURE_COLUMNS as ITEM_FEATURES  # noqa: E402

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

customer_source = FileSource(
    name="customer_features_source",
    path=str(table_location("customer_features")),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
    description="Customer feature snapshots written by the pipelines; a row at t uses only "
    "invoice lines before t.",
)
item_source = FileSource(
    name="item_daily_features_source",
    path=str(table_location("item_daily_features")),
    timestamp_field="event_timestamp",
    s3_endpoint_override=S3_ENDPOINT,
    description="Item-day features; a row for day d uses only demand before d.",
)

customer_features = FeatureView(
    name="customer_features",
    entities=[customer],
    # Snapshots are monthly: a cutoff picks the latest snapshot at or before it, within 45 days.
    ttl=timedelta(days=45),
    schema=[Field(name=f, dtype=Float64) for f in CUSTOMER_FEATURES],
    source=customer_source,
    online=True,
    description="RFM-style customer features as of a snapshot time (churn model inputs).",
    tags={"owner": "retail-mlops", "job": "churn"},
)
item_daily_features = FeatureView(
    name="item_daily_features",
    entities=[item],
    ttl=timedelta(days=7),
    schema=[Field(name=f, dtype=Float64) for f in ITEM_FEATURES],
    source=item_source,
    online=True,
    description="Calendar, lag and past-only rolling demand and price features per item-day.",
    tags={"owner": "retail-mlops", "job": "demand"},
)

OBJECTS = [customer, item, customer_features, item_daily_features]


def definition_version() -> str:
    """A short hash of the feature definitions, recorded with every feature table."""
    text = repr((CUSTOMER_FEATURES, ITEM_FEATURES, customer_features.ttl, item_daily_features.ttl))
    return hashlib.sha256(text.encode()).hexdigest()[:12]
