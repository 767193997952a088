"""churn."""
