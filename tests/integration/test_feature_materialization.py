"""feature_materialization on the committed subset: offline tables, lineage, online store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEV = PROJECT_ROOT / "configs" / "feature_materialization.dev.yaml"


@pytest.fixture(scope="module")
def materialization(local_stack: str) -> Any:
    from zenml.client import Client

    from run import run_pipeline

    return Client().get_pipeline_run(run_pipeline("feature_materialization", str(DEV), True).id)


def test_run_completes_with_lineage_and_quality(materialization: Any) -> None:
    from zenml.enums import ExecutionStatus

    from retail_mlops.features.definitions import definition_version

    assert materialization.status == ExecutionStatus.COMPLETED
    for step_name in ("write_customer_features", "write_item_features"):
        table = materialization.steps[step_name].outputs["offline_table"][0]
        assert Path(table.load()).exists()
        meta = table.run_metadata
        assert meta["lineage"]["producing_run"] == materialization.name
        assert meta["lineage"]["definition_version"] == definition_version()
        assert len(meta["lineage"]["source_data_hash"]) == 64
        assert meta["quality"]["row_count"] > 0
        assert set(meta["quality"]["null_rate"]) == set(meta["quality"]["min"])
    done = materialization.steps["materialize_online_store"].outputs["materialization"][0].load()
    assert set(done) == {"customer_features", "item_daily_features"}


def test_online_store_serves_latest_features(materialization: Any) -> None:
    import pandas as pd

    from retail_mlops.features import feast_store
    from steps.client import stack_feature_store

    offline = pd.read_parquet(feast_store.offline_path("customer_features"))
    latest = offline.sort_values("event_timestamp").groupby("customer_id").tail(1)
    known = latest.iloc[0]
    got = feast_store.online_features(
        stack_feature_store(),
        "customer_features",
        [known["customer_id"], "no-such-customer"],
        ["total_spent", "days_since_last_order"],
    )
    assert got["found"].tolist() == [True, False]
    assert got.loc[0, "total_spent"] == pytest.approx(known["total_spent"])
    assert got.loc[1, ["total_spent", "days_since_last_order"]].isna().all()
    items = feast_store.online_features(stack_feature_store(), "item_daily_features", ["22423"])
    assert items["found"].tolist() == [True]


def test_null_rate_gate_fails_with_numbers(materialization: Any, tmp_path: Path) -> None:
    from zenml.client import Client

    from run import run_pipeline

    cfg = write_config(
        tmp_path,
        "feature_materialization.dev.yaml",
        **{"steps.write_customer_features.parameters.max_null_rate": 0.01},
    )
    with pytest.raises(RuntimeError, match="failed"):
        run_pipeline("feature_materialization", str(cfg), False)
    last = Client().get_pipeline("feature_materialization").last_run
    info = last.steps["write_customer_features"].exception_info
    assert info is not None
    assert "mean_days_between_orders null rate" in (info.message or info.traceback)
