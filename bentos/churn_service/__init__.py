"""Churn scoring over HTTP: /predict (feature rows), /predict_customer (online features)."""
