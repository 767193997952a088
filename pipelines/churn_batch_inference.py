"""Churn batch inference pipeline."""

from typing import Any

from zenml import pipeline

from steps.features import compute_customer_features, fetch_customer_features, write_feature_table
from steps.inference import load_champion_model, predict_churn, write_predictions
from steps.ingest import load_transactions
from steps.monitoring import build_drift_report, check_drift
from steps.validate import validate_transactions


@pipeline
def churn_batch_inference(
    source: dict[str, Any], scoring_cutoff: str, active_window_days: int = 3650
) -> None:
    """Score customers with the champion, write predictions, and check drift.

    1. load_champion_model: `churn_classifier@champion` plus its training reference data
    2. load_transactions / validate_transactions: the same ingestion contract as training
    3. compute_customer_features / write_feature_table: the scoring snapshot into Feast
    4. fetch_customer_features: the same point-in-time path as training (no skew)
    5. predict_churn / write_predictions: Parquet + DuckDB, with model version and run id
    6. build_drift_report: Evidently data drift against the training features (HTML view)
    7. check_drift: KS test on predictions and the drift share against thresholds

    Args:
        source: Where the invoice lines come from.
        scoring_cutoff: The as-of date to score.
        active_window_days: Customers with an order this many days before the cutoff are scored.
    """
    # --- Model stage ---
    model, model_version, reference, reference_predictions = load_champion_model()
    # --- Data stage ---
    raw = load_transactions(source=source)
    transactions, _quarantine = validate_transactions(raw)
    snapshot, source_hash = compute_customer_features(
        transactions, cutoffs=[scoring_cutoff], active_window_days=active_window_days
    )
    table = write_feature_table(snapshot, source_hash, view="customer_features")
    features = fetch_customer_features(snapshot, table)
    # --- Inference stage ---
    predictions = predict_churn(model, features, model_version)
    write_predictions(predictions)
    # --- Monitoring stage ---
    _report, summary = build_drift_report(reference, features)
    check_drift(summary, reference_predictions, predictions)
