"""Validation steps."""

from steps.validate.validate_transactions import validate_transactions

__all__ = ["validate_transactions"]
