"""Churn scoring inside the warehouse: the feature view and the compiled model, no rows moved."""

from typing import Any

from zenml import pipeline

from steps.inference import load_champion_model
from steps.ingest import load_transactions
from steps.validate import validate_transactions
from steps.warehouse import load_warehouse, score_in_warehouse


@pipeline
def churn_warehouse_scoring(
    source: dict[str, Any], scoring_cutoff: str, active_window_days: int = 3650
) -> None:
    """Score every customer inside the warehouse with the champion compiled to SQL.

    1. load_champion_model: `churn_classifier@champion` from the MLflow registry
    2. load_transactions / validate_transactions: the same ingestion contract as training
    3. load_warehouse: `invoice_lines` (quarantine beside it) and the `customer_features` view,
       the same SQL as the offline feature table
    4. score_in_warehouse: the trees as the view `churn_scores`; metadata: version, run, rows,
       the SQL's hash

    Args:
        source: Where the invoice lines come from.
        scoring_cutoff: The as-of date to score.
        active_window_days: Customers with an order this many days before the cutoff are scored.
    """
    model, model_version, _reference, _reference_predictions = load_champion_model()
    raw = load_transactions(source=source)
    transactions, quarantine = validate_transactions(raw)
    loaded = load_warehouse(transactions, quarantine, scoring_cutoff, active_window_days)
    score_in_warehouse(model, model_version, loaded)
