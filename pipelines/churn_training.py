"""Churn training pipeline."""

from typing import Any

from zenml import pipeline

from steps.evaluate import evaluate_churn_model
from steps.features import build_churn_dataset
from steps.ingest import load_transactions
from steps.registry import promote_churn_model
from steps.train import split_churn_dataset, train_churn_model
from steps.validate import validate_transactions


@pipeline
def churn_training(source: dict[str, Any], test_cutoff: str) -> None:
    """Train a churn classifier and promote it if it wins.

    1. load_transactions: read invoice lines from the configured source (lineage in metadata)
    2. validate_transactions: type them; quarantine bad rows with a reason
    3. build_churn_dataset: features as of monthly cutoffs, label = no order in the next 90 days
    4. split_churn_dataset: train / validation / test by cutoff, never at random
    5. train_churn_model: XGBoost with early stopping, logged to MLflow in UBJSON
    6. evaluate_churn_model: model and recency baseline on the same test cutoff
    7. promote_churn_model: register as challenger; champion only if it beats the incumbent

    Args:
        source: Where the invoice lines come from (see `steps.ingest._sources`).
        test_cutoff: The held-out cutoff, shared by feature building and the split.
    """
    # --- Data stage ---
    raw = load_transactions(source=source)
    transactions, _quarantine = validate_transactions(raw)
    # --- Feature stage ---
    dataset = build_churn_dataset(transactions, test_cutoff=test_cutoff)
    train, valid, test = split_churn_dataset(dataset, test_cutoff=test_cutoff)
    # --- Training stage ---
    model, model_uri = train_churn_model(train, valid)
    metrics, _reference_predictions = evaluate_churn_model(model, train, test)
    # --- Registry stage ---
    promote_churn_model(model_uri, metrics, test)
