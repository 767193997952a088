"""Feature materialization pipeline."""

from typing import Any

from zenml import pipeline

from retail_mlops.features.customer import monthly_cutoffs
from steps.features import (
    compute_customer_features,
    compute_item_features,
    materialize_online_store,
    write_feature_table,
)
from steps.forecasting import build_daily_demand
from steps.ingest import load_transactions
from steps.validate import validate_transactions


@pipeline
def feature_materialization(
    source: dict[str, Any],
    first_snapshot: str,
    last_snapshot: str,
    materialize_end: str,
    active_window_days: int = 3650,
) -> None:
    """Compute feature tables, write Feast's offline store, and load the online store.

    1. load_transactions / validate_transactions: the shared ingestion contract
    2. compute_customer_features: monthly customer snapshots (DuckDB)
    3. build_daily_demand / compute_item_features: item-day levels, lags and price from the
       daily demand (guest sales included), the demand job's own inputs
    4. write_customer_features / write_item_features: schema check, null-rate gate, offline
       Parquet upsert, `feast apply`, lineage and quality metadata
    5. materialize_online_store: backfill once, then incremental, into SQLite or Redis

    Args:
        source: Where the invoice lines come from.
        first_snapshot: First monthly customer snapshot.
        last_snapshot: Last monthly customer snapshot.
        materialize_end: Online store gets rows stamped before this date.
        active_window_days: Customers with an order this many days before a snapshot.
    """
    cutoffs = [d.strftime("%Y-%m-%d") for d in monthly_cutoffs(first_snapshot, last_snapshot)]
    # --- Data stage ---
    raw = load_transactions(source=source)
    transactions, _quarantine = validate_transactions(raw)
    # --- Feature stage ---
    customers, customer_hash = compute_customer_features(
        transactions, cutoffs=cutoffs, active_window_days=active_window_days
    )
    customer_table = write_feature_table(
        customers, customer_hash, view="customer_features", id="write_customer_features"
    )
    demand, _demand_quarantine = build_daily_demand(raw, until=None)
    items, item_hash = compute_item_features(demand)
    item_table = write_feature_table(
        items, item_hash, view="item_daily_features", id="write_item_features"
    )
    # --- Online stage ---
    materialize_online_store(customer_table, item_table, end=materialize_end)
