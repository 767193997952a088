"""Pipelines: composition only; the steps hold the work."""
