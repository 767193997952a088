"""Feature steps: the DuckDB feature library and the Feast feature store.

The steps are re-exported lazily: a Bento imports `steps.features._store` for online lookups
and must not pay for importing ZenML (about 2 s and 150 MB per server worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from steps._lazy import lazy_steps

if TYPE_CHECKING:
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


__getattr__ = lazy_steps(__name__, __all__, globals())
