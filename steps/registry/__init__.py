"""Registry steps."""

from steps.registry.promote_churn_model import promote_churn_model

__all__ = ["promote_churn_model"]
