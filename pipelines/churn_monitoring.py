"""Churn monitoring pipeline: one window of scores, as of a date."""

from typing import Any

from zenml import pipeline

from retail_mlops.monitoring.window import WINDOW_DAYS
from steps.inference import load_champion_model
from steps.ingest import load_transactions
from steps.monitor_window import (
    compact_predictions_log,
    evaluate_window,
    gate_window,
    gather_window,
    record_window,
)
from steps.validate import validate_transactions


@pipeline
def churn_monitoring(source: dict[str, Any], as_of: str, window_days: int = WINDOW_DAYS) -> None:
    """Monitor the churn scores of the window ending at `as_of`: drift, performance, a gate.

    1. gather_window: the window [previous window's end or as_of - window_days, as_of), its
       batch scores (`churn_predictions` rows whose cutoff is in it) and served scores (the
       service's predictions log), and the champion's churn horizon; no score is an error
    2. load_champion_model: the champion's training features and scores (the reference)
    3. load_transactions / validate_transactions: the invoice lines (features and outcomes)
    4. evaluate_window: per source, variant and model version: prediction KS, feature drift
       (batch features recomputed, served ones as the log recorded them) and, once the
       horizon has passed, performance
    5. record_window: rows into `monitoring_metrics`, snapshots into the Evidently project
       `churn_monitoring` at the window's end, figures as run metadata, the report as HTML
    6. gate_window: ok / warn / retrain with reasons; new, worse or cleared breaches alert
    7. compact_predictions_log: the service's log merged into a file per day, the days more
       than keep_days before the window's end deleted, every row counted

    Args:
        source: Where the invoice lines come from.
        as_of: The window's exclusive end.
        window_days: The window's length when no earlier window is recorded.
    """
    # --- Window stage: first, so an empty window fails before anything is loaded ---
    window, batch, served = gather_window(as_of=as_of, window_days=window_days)
    # --- Reference and data stage ---
    _model, _version, reference, reference_predictions = load_champion_model(after="gather_window")
    raw = load_transactions(source=source, after="gather_window")
    transactions, _quarantine = validate_transactions(raw)
    # --- Monitoring stage ---
    figures, snapshots = evaluate_window(
        window, batch, served, transactions, reference, reference_predictions
    )
    record_window(figures, snapshots)
    gate_window(figures, after="record_window")
    compact_predictions_log(window, after="record_window")
