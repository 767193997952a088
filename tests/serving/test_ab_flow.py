"""A/B end to end on the real subset: serve historical snapshots, then report on outcomes.

Time is simulated with the data: the service scores real customer features as of
2011-06-01 (sent with `as_of`), so the 90 days after it are already in the data and the
report can judge both variants on what the customers really did.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import run_cli

pytestmark = [pytest.mark.integration]

AS_OF = "2011-06-01"


def test_ab_report_joins_served_predictions_with_real_outcomes(
    churn_server: Any, subset_clean: pd.DataFrame
) -> None:
    from retail_mlops.deploy.process import http
    from retail_mlops.features.customer import (
        FEATURE_COLUMNS,
        churn_labels,
        customer_feature_snapshots,
    )
    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir

    snaps = customer_feature_snapshots(subset_clean, [AS_OF])
    rows = [
        {
            "customer_id": str(r["customer_id"]),
            "as_of": f"{AS_OF}T00:00:00",
            **{f: (None if pd.isna(r[f]) else float(r[f])) for f in FEATURE_COLUMNS},
        }
        for r in snaps.to_dict("records")
    ]
    request_ids = []
    for start in range(0, len(rows), 200):
        batch = {"rows": rows[start : start + 200]}
        status, body = http("POST", churn_server.url + "/predict", batch)
        assert status == 200, body
        request_ids.append(body["request_id"])

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        log = read_log(predictions_dir("churn"))
        if set(request_ids) <= set(log["request_id"]):
            break
        time.sleep(0.5)
    mine = log[log["request_id"].isin(request_ids)]
    assert len(mine) == len(rows)
    assert (pd.to_datetime(mine["as_of"]) == pd.Timestamp(AS_OF)).all()

    # the report's churn rate per variant is what those customers really did afterwards
    from retail_mlops.monitoring.ab import ab_report
    from retail_mlops.names import MODEL_NAME
    from retail_mlops.registry import churn_horizon
    from steps.client import configure_mlflow_from_stack

    configure_mlflow_from_stack()
    horizon = churn_horizon(MODEL_NAME)  # recorded with the version by promote_churn_model
    assert horizon == 90
    report = ab_report(mine, subset_clean, horizon)
    assert report.counts.mature == len(rows)
    labels = churn_labels(
        subset_clean, [r["customer_id"] for r in rows], pd.Timestamp(AS_OF), horizon
    )
    for variant, group in mine.groupby("variant"):
        row = report.table[report.table["variant"] == variant].iloc[0]
        assert row["n_mature"] == len(group)
        assert row["churn_rate"] == pytest.approx(labels.loc[list(group["entity_id"])].mean())

    dev = str(PROJECT_ROOT / "configs" / "churn_training.dev.yaml")
    result = run_cli("ab-report", "--config", dev)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "challenger" in result.stdout
    assert "independent" in result.stdout  # the two answering variants are compared
