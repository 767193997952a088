"""Churn training pipeline."""

from typing import Any

from zenml import pipeline

from retail_mlops.features.customer import monthly_cutoffs
from steps.evaluate import evaluate_churn_model
from steps.features import (
    build_churn_entities,
    compute_customer_features,
    fetch_customer_features,
    write_feature_table,
)
from steps.ingest import load_transactions
from steps.registry import promote_churn_model
from steps.train import split_churn_dataset, train_churn_model
from steps.validate import validate_transactions


@pipeline
def churn_training(
    source: dict[str, Any],
    first_cutoff: str,
    last_train_cutoff: str,
    test_cutoff: str,
    active_window_days: int = 3650,
) -> None:
    """Train a churn classifier on features from the feature store and promote it if it wins.

    1. load_transactions: read invoice lines from the configured source (lineage in metadata)
    2. validate_transactions: type them; quarantine bad rows with a reason
    3. build_churn_entities: customers active at each monthly cutoff, label = no order in 90 days
    4. compute_customer_features / write_feature_table: snapshots into Feast's offline store
    5. fetch_customer_features: Feast point-in-time join of entities and snapshots
    6. split_churn_dataset: train / validation / test by cutoff, never at random
    7. train_churn_model: XGBoost with early stopping, logged to MLflow in UBJSON
    8. evaluate_churn_model: model and recency baseline on the same test cutoff
    9. promote_churn_model: register as challenger; champion only if it beats the incumbent

    Args:
        source: Where the invoice lines come from (see `retail_mlops.ingest.sources`).
        first_cutoff: First monthly training cutoff.
        last_train_cutoff: Last monthly training cutoff.
        test_cutoff: The held-out cutoff.
        active_window_days: A customer counts at a cutoff if they ordered this many days before.
    """
    cutoffs = [d.strftime("%Y-%m-%d") for d in monthly_cutoffs(first_cutoff, last_train_cutoff)]
    cutoffs.append(test_cutoff)
    # --- Data stage ---
    raw = load_transactions(source=source)
    transactions, _quarantine = validate_transactions(raw)
    # --- Feature stage ---
    entities = build_churn_entities(
        transactions, cutoffs=cutoffs, active_window_days=active_window_days
    )
    features, source_hash = compute_customer_features(
        transactions, cutoffs=cutoffs, active_window_days=active_window_days
    )
    table = write_feature_table(features, source_hash, view="customer_features")
    dataset = fetch_customer_features(entities, table)
    train, valid, test = split_churn_dataset(dataset, test_cutoff=test_cutoff)
    # --- Training stage ---
    model, model_uri = train_churn_model(train, valid)
    metrics, _reference_predictions = evaluate_churn_model(model, train, test)
    # --- Registry stage ---
    promote_churn_model(model_uri, metrics, test)
