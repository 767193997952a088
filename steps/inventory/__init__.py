"""Inventory and pricing steps, one per module (import them from their modules)."""
