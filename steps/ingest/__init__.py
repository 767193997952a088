"""Ingestion steps."""

from steps.ingest.load_transactions import load_transactions

__all__ = ["load_transactions"]
