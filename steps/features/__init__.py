"""Feature steps: customer and item features, the Feast offline table and online store."""

from steps.features.build_churn_entities import build_churn_entities
from steps.features.compute_customer_features import compute_customer_features
from steps.features.compute_item_features import compute_item_features
from steps.features.fetch_customer_features import fetch_customer_features
from steps.features.materialize_online_store import materialize_online_store
from steps.features.write_feature_table import write_feature_table

__all__ = [
    "build_churn_entities",
    "compute_customer_features",
    "compute_item_features",
    "fetch_customer_features",
    "materialize_online_store",
    "write_feature_table",
]
