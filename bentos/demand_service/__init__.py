"""Demand forecasts and stock policy over HTTP: /forecast and /inventory per item."""
