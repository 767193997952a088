"""In-warehouse steps: load the lines and the feature view, install and run the compiled model."""

from steps.warehouse.load_warehouse import load_warehouse
from steps.warehouse.score_in_warehouse import score_in_warehouse

__all__ = ["load_warehouse", "score_in_warehouse"]
