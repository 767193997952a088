"""Both churn pipelines on the committed real subset, checked the way a user would check them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEV_TRAINING = PROJECT_ROOT / "configs" / "churn_training.dev.yaml"
DEV_INFERENCE = PROJECT_ROOT / "configs" / "churn_batch_inference.dev.yaml"


def _run(name: str, config: Path, no_cache: bool = True) -> Any:
    from run import run_pipeline

    return run_pipeline(name, str(config), no_cache)


def _zenml_production_mlflow_version() -> int:
    from zenml.client import Client
    from zenml.enums import ModelStages

    from retail_mlops.names import MODEL_NAME
    from retail_mlops.registry import MLFLOW_VERSION_KEY

    mv = Client().get_model_version(MODEL_NAME, ModelStages.PRODUCTION)
    return int(mv.run_metadata[MLFLOW_VERSION_KEY])


@pytest.fixture(scope="module")
def first_training(local_stack: str) -> Any:
    """The first training run in this session: registers v1."""
    return _run("churn_training", DEV_TRAINING)


def test_training_run_completes_and_registers_champion(
    first_training: Any, mlflow_client: Any
) -> None:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    run = Client().get_pipeline_run(first_training.id)
    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) >= {
        "load_transactions",
        "validate_transactions",
        "train_churn_model",
        "evaluate_churn_model",
        "promote_churn_model",
    }
    # v1 must beat the recency baseline to become champion; on the subset it does.
    promotion = run.steps["promote_churn_model"].outputs["promotion"][0].load()
    assert promotion["version"] == 1
    assert promotion["against"] == "baseline"
    assert promotion["promoted"] is True
    assert mlflow_client.get_model_version_by_alias("churn_classifier", "champion").version == 1
    assert mlflow_client.get_model_version_by_alias("churn_classifier", "challenger").version == 1
    assert _zenml_production_mlflow_version() == 1
    # the MLflow UI explains the version: its label definition, among the rest
    description = mlflow_client.get_model_version("churn_classifier", "1").description
    assert "`churned`: 1 if the customer has no invoice line in [cutoff" in description


def test_training_logs_metrics_model_and_quarantine(
    first_training: Any, mlflow_client: Any
) -> None:
    from zenml.client import Client

    run = Client().get_pipeline_run(first_training.id)
    metrics = run.steps["evaluate_churn_model"].outputs["metrics"][0].load()
    for side in ("model", "baseline"):
        assert set(metrics[side]) == {"roc_auc", "pr_auc", "f1", "log_loss", "brier"}
    assert metrics["model"]["roc_auc"] > 0.7

    mv = mlflow_client.get_model_version("churn_classifier", "1")
    mlflow_run = mlflow_client.get_run(mv.run_id)
    assert mlflow_run.data.metrics["test_roc_auc"] == pytest.approx(metrics["model"]["roc_auc"])
    assert "baseline_test_roc_auc" in mlflow_run.data.metrics
    artifacts = {a.path for a in mlflow_client.list_artifacts(mv.run_id)}
    assert "feature_importance.png" in artifacts

    import mlflow

    from steps.client import configure_mlflow_from_stack

    configure_mlflow_from_stack()  # ZenML clears MLflow's URI after each step
    loaded = mlflow.xgboost.load_model("models:/churn_classifier/1")
    assert len(loaded.get_booster().feature_names) > 10

    quarantine_art = run.steps["validate_transactions"].outputs["quarantine"][0]
    quarantine = quarantine_art.load()
    assert {"cancelled_invoice", "missing_customer_id"} <= set(quarantine["reason"])
    assert quarantine_art.run_metadata["quarantined_rows"] == len(quarantine)
    raw_art = run.steps["load_transactions"].outputs["raw_transactions"][0]
    lineage = raw_art.run_metadata["lineage"]
    assert lineage["row_count"] == len(raw_art.load())
    assert len(lineage["content_hash"]) == 64
    clean = run.steps["validate_transactions"].outputs["transactions"][0].load()
    assert len(clean) + len(quarantine) == lineage["row_count"]


def test_training_set_from_feast_equals_direct_computation(first_training: Any) -> None:
    """No skew: Feast's point-in-time path returns exactly the directly computed table."""
    import numpy as np
    from zenml.client import Client

    from configs.schema import ChurnTrainingParams, load_config
    from retail_mlops.features.customer import (
        FEATURE_COLUMNS,
        HORIZON_DAYS,
        build_churn_dataset,
        monthly_cutoffs,
    )

    run = Client().get_pipeline_run(first_training.id)
    via_feast = run.steps["fetch_customer_features"].outputs["customer_dataset"][0].load()
    clean = run.steps["validate_transactions"].outputs["transactions"][0].load()
    params = ChurnTrainingParams(**load_config(DEV_TRAINING)["parameters"])  # defaults filled
    cutoffs = [
        *monthly_cutoffs(str(params.first_cutoff), str(params.last_train_cutoff)),
        str(params.test_cutoff),
    ]
    direct = build_churn_dataset(clean, cutoffs, HORIZON_DAYS, params.active_window_days)
    keys = ["cutoff", "customer_id"]
    via_feast = via_feast.sort_values(keys, ignore_index=True)
    via_feast["cutoff"] = via_feast["cutoff"].astype("datetime64[ns]")
    pd.testing.assert_frame_equal(via_feast[keys], direct[keys], check_dtype=False)
    assert (via_feast["churned"].to_numpy() == direct["churned"].to_numpy()).all()
    np.testing.assert_allclose(
        via_feast[FEATURE_COLUMNS].to_numpy(float),
        direct[FEATURE_COLUMNS].to_numpy(float),
        rtol=1e-9,
    )


def test_retrain_registers_challenger_then_promote_and_rollback(
    first_training: Any, mlflow_client: Any
) -> None:
    from retail_mlops.names import MODEL_NAME
    from steps import client

    _run("churn_training", DEV_TRAINING)  # same data, same seed: no strict gain
    assert mlflow_client.get_model_version_by_alias(MODEL_NAME, "challenger").version == 2
    assert mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version == 1

    client.configure_mlflow_from_stack()
    client.promote_model(MODEL_NAME, 2)
    assert mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version == 2
    assert _zenml_production_mlflow_version() == 2
    assert client.rollback_model(MODEL_NAME) == 1
    assert mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion").version == 1
    assert _zenml_production_mlflow_version() == 1


def test_batch_inference_writes_predictions_and_drift_report(
    first_training: Any, tmp_path: Path
) -> None:
    import duckdb
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    out = tmp_path / "preds"
    cfg = write_config(
        tmp_path,
        "churn_batch_inference.dev.yaml",
        **{"steps.write_predictions.parameters.output_dir": str(out)},
    )
    run = Client().get_pipeline_run(_run("churn_batch_inference", cfg).id)
    assert run.status == ExecutionStatus.COMPLETED

    preds = pd.read_parquet(out / "churn_predictions.parquet")
    features = run.steps["fetch_customer_features"].outputs["customer_dataset"][0].load()
    assert len(preds) == len(features) == preds["customer_id"].nunique()
    assert preds["churn_probability"].between(0, 1).all()
    assert set(preds["model_version"]) == {1}
    assert set(preds["run_id"]) == {str(run.id)}
    with duckdb.connect(str(out / "predictions.duckdb"), read_only=True) as con:
        count = con.execute(
            "SELECT count(*) FROM churn_predictions WHERE run_id = ?", [str(run.id)]
        ).fetchone()
    assert count == (len(preds),)

    report = run.steps["build_drift_report"].outputs["drift_report"][0]
    html = report.load()
    assert "Drift" in html
    assert "total_spent" in html  # one section per feature column
    summary = run.steps["build_drift_report"].outputs["drift_summary"][0].load()
    assert 0.0 <= summary["drift_share"] <= 1.0
    assert summary["n_columns"] == len(summary["columns"])
    gate = run.steps["check_drift"].outputs["gate_result"][0].load()
    assert {"ks_statistic", "ks_pvalue", "drift_share", "failed"} <= set(gate)


def test_drift_gate_fails_the_run_with_numbers(first_training: Any, tmp_path: Path) -> None:
    from zenml.client import Client

    cfg = write_config(
        tmp_path,
        "churn_batch_inference.dev.yaml",
        **{
            "steps.write_predictions.parameters.output_dir": str(tmp_path / "p"),
            "steps.check_drift.parameters.max_prediction_ks": 0.0,
            "steps.check_drift.parameters.fail_on_prediction_drift": True,
        },
    )
    with pytest.raises(RuntimeError, match="failed"):
        _run("churn_batch_inference", cfg)
    last = Client().get_pipeline("churn_batch_inference").last_run
    info = last.steps["check_drift"].exception_info
    assert info is not None
    assert "prediction drift: KS statistic" in (info.message or info.traceback)


@pytest.fixture(scope="module")
def batch_scores(first_training: Any, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """churn_batch_inference's predictions for the dev cutoff, with the current champion."""
    tmp = tmp_path_factory.mktemp("batch")
    cfg = write_config(
        tmp,
        "churn_batch_inference.dev.yaml",
        **{"steps.write_predictions.parameters.output_dir": str(tmp / "preds")},
    )
    _run("churn_batch_inference", cfg)
    return pd.read_parquet(tmp / "preds" / "churn_predictions.parquet")


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_warehouse_scoring_equals_batch_inference(
    engine: str,
    batch_scores: pd.DataFrame,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compiled model over the SQL feature view scores as the batch path does, in-database."""
    from zenml.client import Client

    from retail_mlops.warehouse.database import Warehouse
    from retail_mlops.warehouse.scoring import read_scores

    if engine == "postgres":
        # trust auth ignores the password: it is planted, to prove no store ever holds it
        url = request.getfixturevalue("postgres_url").replace("postgres@", f"postgres:{SECRET}@")
    else:
        url = f"duckdb://{tmp_path / 'retail.duckdb'}"
    monkeypatch.setenv("RETAIL_MLOPS_WAREHOUSE_URL", url)
    monkeypatch.setenv("RETAIL_MLOPS_API_KEY", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    run = Client().get_pipeline_run(
        _run(
            "churn_warehouse_scoring", PROJECT_ROOT / "configs" / "churn_warehouse_scoring.dev.yaml"
        ).id
    )
    with Warehouse.connect() as warehouse:
        scores = read_scores(warehouse)
        lines = warehouse.query("SELECT count(*) AS n FROM invoice_lines")["n"].iloc[0]
    merged = batch_scores.merge(scores, on="customer_id", suffixes=("_batch", "_sql"))
    assert len(merged) == len(batch_scores) == len(scores)
    diff = (merged["churn_probability_batch"] - merged["churn_probability_sql"]).abs()
    assert diff.max() <= 1e-6
    assert (merged["model_version_batch"] == merged["model_version_sql"]).all()
    assert set(scores["run_id"]) == {str(run.id)}

    meta = run.steps["score_in_warehouse"].run_metadata
    assert meta["rows"] == len(scores)
    assert meta["dialect"] == engine
    assert len(str(meta["sql_sha256"])) == 64
    loaded = run.steps["load_warehouse"].outputs["warehouse_load"][0].load()
    assert loaded["lines"] == lines
    assert loaded["quarantined"] > 0  # the subset has bad rows; they sit beside the lines
    assert not _files_holding(SECRET.encode()), "a secret from the environment was stored"


SECRET = "planted-s3cret-0d9f"


def _files_holding(needle: bytes) -> list[Path]:
    """Files of the session's ZenML store, MLflow store, state and logs that contain `needle`."""
    import os

    roots = [Path(os.environ["RETAIL_MLOPS_HOME"]), Path(os.environ["ZENML_CONFIG_PATH"])]
    found = []
    for root in roots:
        for path in root.rglob("*"):
            small = path.is_file() and path.stat().st_size < 200_000_000
            if small and needle in path.read_bytes():
                found.append(path)
    return found


def test_warehouse_export_writes_sql_that_scores(
    first_training: Any, subset_clean: pd.DataFrame, tmp_path: Path
) -> None:
    """The exported files carry their header and, run as they are, score every customer."""
    from retail_mlops.warehouse.database import Warehouse
    from tests.integration.conftest import run_cli

    out = tmp_path / "duckdb"  # each dialect's files: tests/unit/warehouse/test_scoring.py
    result = run_cli("warehouse", "export", "--dialect", "duckdb", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    model_sql = (out / "churn_model.sql").read_text()
    assert model_sql.startswith("-- churn_scores: churn_classifier v")
    assert "CREATE OR REPLACE VIEW churn_scores" in model_sql

    with Warehouse.duckdb(tmp_path / "w.duckdb") as warehouse:
        warehouse.load_lines(subset_clean)
        warehouse.set_cutoffs(["2011-06-01"])
        for name in ("customer_features.sql", "churn_model.sql"):
            for statement in (tmp_path / "duckdb" / name).read_text().split(";\n"):
                body = "\n".join(x for x in statement.splitlines() if not x.startswith("--"))
                if body.strip():
                    warehouse.replace_view(body)  # any DDL, in one transaction
        scores = warehouse.query("SELECT * FROM churn_scores")
    assert len(scores) > 100
    assert scores["churn_probability"].between(0, 1).all()


def test_warehouse_bad_input_is_one_line(
    first_training: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cutoff outside the data, an unknown dialect, an unreachable server: one line each."""
    from tests.integration.conftest import run_cli
    from tests.servers import free_port

    cfg = write_config(
        tmp_path, "churn_warehouse_scoring.dev.yaml", **{"parameters.scoring_cutoff": "2001-01-01"}
    )
    monkeypatch.setenv("RETAIL_MLOPS_WAREHOUSE_URL", f"duckdb://{tmp_path / 'w.duckdb'}")
    result = run_cli("churn_warehouse_scoring", "--config", str(cfg))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "scoring cutoff 2001-01-01 is outside the data" in result.stderr.splitlines()[-1]

    result = run_cli("warehouse", "export", "--dialect", "oracle", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "Invalid value for '--dialect'" in result.stderr
    assert not (tmp_path / "x").exists()

    secret = "s3cret-pw"
    url = f"postgresql://scorer:{secret}@127.0.0.1:{free_port()}/retail"
    monkeypatch.setenv("RETAIL_MLOPS_WAREHOUSE_URL", url)
    result = run_cli(
        "churn_warehouse_scoring",
        "--config",
        str(PROJECT_ROOT / "configs" / "churn_warehouse_scoring.dev.yaml"),
    )
    assert result.returncode == 3, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "environment error: load_warehouse: cannot reach PostgreSQL at 127.0.0.1"
    )
    assert secret not in result.stderr + result.stdout
