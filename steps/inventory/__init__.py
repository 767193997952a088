"""Inventory and pricing steps."""

from steps.inventory.analyze_pricing import analyze_pricing
from steps.inventory.recommend_inventory import recommend_inventory

__all__ = ["analyze_pricing", "recommend_inventory"]
