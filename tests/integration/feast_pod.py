"""A second "pod" for tests/integration/test_feast_remote.py: read features in a fresh process.

    python -m tests.integration.feast_pod ENTITIES.parquet OUT_DIR

It shares nothing with the writer but what the environment names (the S3 bucket, Redis): its
own RETAIL_MLOPS_HOME, no in-process registry cache, no FeatureStore built before. It writes
historical.parquet (the point-in-time join of ENTITIES), online.parquet (the online store's
rows for ENTITIES' ids and one unknown id) and summary.json (the quality summary of the last
offline write, which the next run's null-rate gate reads) to OUT_DIR. Not imported by pytest:
it must not load tests/conftest.py, which points RETAIL_MLOPS_HOME at the session's folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REMOTE_REPO = PROJECT_ROOT / "feature_repo" / "remote"
VIEW = "customer_features"
UNKNOWN = "no-such-customer"


def main(entities_path: str, out_dir: str) -> None:
    """Read historical and online features through the remote layout into OUT_DIR."""
    from retail_mlops.features import feast_store

    store = feast_store.feature_store(str(REMOTE_REPO))
    entities = pd.read_parquet(entities_path)
    out = Path(out_dir)
    feast_store.historical_features(store, entities, VIEW).to_parquet(out / "historical.parquet")
    ids = [*entities["customer_id"].drop_duplicates(), UNKNOWN]
    feast_store.online_features(store, VIEW, ids).to_parquet(out / "online.parquet")
    (out / "summary.json").write_text(json.dumps(feast_store.previous_summary(VIEW)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
