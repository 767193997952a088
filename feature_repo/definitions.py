"""Feast definitions for the `feast` CLI: the library's objects, for this shell's environment.

The pipelines apply the same objects with the Python SDK (`retail_mlops.features.definitions`);
this file only lets `feast apply` and `feast ui` see them. Run the CLI from the project root so
the library is importable: `PYTHONPATH=. uv run feast -c feature_repo apply`.
"""

from retail_mlops.features.definitions import feast_objects

customer, item, customer_features, item_daily_features = feast_objects()
