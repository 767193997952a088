"""churn_monitoring on the committed subset: batch scores of one cutoff, monitored in two windows.

The champion is trained once if the session has none (and the registry is left as this module
found it, since test_churn_pipelines counts versions from 1); churn_batch_inference scores the
2011-08-15 cutoff; churn_monitoring then watches a window ending 2011-12-01 (too recent: the
subset ends 2011-12-09, so no outcome is known 90 days on) and one ending 2011-09-01 (matured).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import run_cli, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEV_TRAINING = PROJECT_ROOT / "configs" / "churn_training.dev.yaml"
SCORING_CUTOFF = "2011-08-15"
PERFORMANCE = {"roc_auc", "pr_auc", "log_loss", "brier", "precision_top_decile"}


def _run(name: str, config: Path) -> Any:
    from zenml.client import Client

    from run import run_pipeline

    return Client().get_pipeline_run(run_pipeline(name, str(config), True).id)


@pytest.fixture(scope="module")
def champion(local_stack: str) -> Iterator[int]:
    """The session's champion; trained here (once) if there is none yet."""
    from mlflow import MlflowClient
    from zenml.client import Client

    from retail_mlops.names import CHAMPION, MODEL_NAME
    from retail_mlops.registry import alias_version
    from steps.client import configure_mlflow_from_stack

    configure_mlflow_from_stack()
    version = alias_version(MODEL_NAME, CHAMPION)
    fresh = not MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")
    if version is None:
        _run("churn_training", DEV_TRAINING)
        configure_mlflow_from_stack()  # ZenML clears MLflow's URI after each step
        version = alias_version(MODEL_NAME, CHAMPION)
    assert version is not None
    yield version
    if fresh:  # leave no model behind: later modules train their own v1
        configure_mlflow_from_stack()
        MlflowClient().delete_registered_model(MODEL_NAME)
        Client().delete_model(MODEL_NAME)


@pytest.fixture(scope="module")
def scored(champion: int, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One batch scoring run at SCORING_CUTOFF, written to a folder of its own."""
    from zenml.enums import ExecutionStatus

    tmp = tmp_path_factory.mktemp("scored")
    cfg = write_config(
        tmp,
        "churn_batch_inference.dev.yaml",
        **{
            "parameters.scoring_cutoff": SCORING_CUTOFF,
            "steps.write_predictions.parameters.output_dir": str(tmp / "predictions"),
        },
    )
    run = _run("churn_batch_inference", cfg)
    assert run.status == ExecutionStatus.COMPLETED
    (tmp / "log").mkdir()  # no served traffic: the log is empty
    return {"run": run, "tmp": tmp, "version": champion}


def _monitoring_config(scored: dict[str, Any], as_of: str, window_days: int) -> Path:
    folder = scored["tmp"] / f"cfg-{as_of}"
    folder.mkdir(exist_ok=True)
    return write_config(
        folder,
        "churn_monitoring.dev.yaml",
        **{
            "parameters.as_of": as_of,
            "parameters.window_days": window_days,
            "steps.gather_window.parameters.predictions_dir": str(scored["tmp"] / "predictions"),
            "steps.gather_window.parameters.log_dir": str(scored["tmp"] / "log"),
        },
    )


def _monitor(scored: dict[str, Any], as_of: str, window_days: int) -> Any:
    from zenml.enums import ExecutionStatus

    run = _run("churn_monitoring", _monitoring_config(scored, as_of, window_days))
    assert run.status == ExecutionStatus.COMPLETED
    return run


def _rows(window_end: str) -> pd.DataFrame:
    from retail_mlops.monitoring.history import read_metrics

    table = read_metrics(job="churn_batch")
    return table[table["window_end"] == pd.Timestamp(window_end)]


def _snapshots(window_end: str) -> pd.DataFrame:
    from retail_mlops.monitoring.history import get_or_create_project, list_windows, open_workspace

    workspace = open_workspace()
    listed = list_windows(workspace, get_or_create_project(workspace).id)
    return listed[listed["timestamp"] == pd.Timestamp(window_end)]


def _check_recorded(run: Any, scored: dict[str, Any], window_end: str) -> dict[str, Any]:
    """What every window records; returns its figures."""
    key = f"churn_batch/v{scored['version']}"
    figures = run.steps["evaluate_window"].outputs["window_figures"][0].load()
    [segment] = figures["segments"]
    assert (segment["source"], segment["model_version"]) == ("batch", str(scored["version"]))
    assert segment["run_id"] == str(scored["run"].id)  # the scoring run being monitored
    assert segment["feature_drift_status"] == "measured"
    batch_preds = scored["run"].steps["predict_churn"].outputs["predictions"][0].load()
    assert segment["n_rows"] == len(batch_preds)
    assert figures["skipped"] == {"served": "no served predictions in the window"}

    rows = _rows(window_end)
    assert {"n_predictions", "prediction_ks", "drift_share"} <= set(rows["metric"])
    assert set(rows["run_id"]) == {str(scored["run"].id)}
    snapshot = _snapshots(window_end)
    assert len(snapshot) == 1
    assert snapshot.iloc[0]["model_version"] == str(scored["version"])

    metadata = run.run_metadata
    assert metadata["window"]["end"] == pd.Timestamp(window_end).isoformat()
    assert metadata[key]["prediction_ks"] == pytest.approx(segment["prediction"]["ks_statistic"])
    assert metadata[key]["n_predictions"] == len(batch_preds)

    decision = run.steps["gate_window"].outputs["monitoring_decision"][0].load()
    assert decision["action"] in {"ok", "warn", "retrain"}
    assert set(decision["segments"]) == {key}
    assert len(decision["reasons"]) == len(decision["segments"][key]["reasons"])
    assert "window_report" in run.steps["record_window"].outputs
    return {"segment": segment, "rows": rows, "metadata": metadata[key], "decision": decision}


def test_a_window_too_recent_is_not_mature(scored: dict[str, Any]) -> None:
    run = _monitor(scored, "2011-12-01", window_days=120)  # [2011-08-03, 2011-12-01)
    found = _check_recorded(run, scored, "2011-12-01")
    segment = found["segment"]
    assert segment["performance_status"] == "not_mature"
    assert segment["performance"] is None
    assert not PERFORMANCE & set(found["rows"]["metric"])
    assert not PERFORMANCE & set(found["metadata"])
    assert found["metadata"]["performance"] == "not_mature"
    [decided] = found["decision"]["segments"].values()
    assert decided["checked"] == ["drift_share", "prediction_ks"]  # performance: not yet


def test_an_old_enough_window_has_performance(scored: dict[str, Any]) -> None:
    # the recorded window ends later, so this one starts window_days before its end
    run = _monitor(scored, "2011-09-01", window_days=30)  # [2011-08-02, 2011-09-01)
    assert run.run_metadata["window"]["start"] == "2011-08-02T00:00:00"
    found = _check_recorded(run, scored, "2011-09-01")
    segment = found["segment"]
    assert segment["performance_status"] == "measured"
    assert set(segment["performance"]) >= PERFORMANCE
    assert 0.5 < segment["performance"]["roc_auc"] <= 1.0
    assert set(found["rows"]["metric"]) >= PERFORMANCE
    assert found["metadata"]["roc_auc"] == pytest.approx(segment["performance"]["roc_auc"])
    checked = found["decision"]["segments"][f"churn_batch/v{scored['version']}"]["checked"]
    assert {"auc_drop", "brier_rise"} <= set(checked)  # judged against the champion's test


def test_a_window_without_predictions_is_one_error_line(scored: dict[str, Any]) -> None:
    cfg = _monitoring_config(scored, "2010-06-01", window_days=30)
    result = run_cli("churn_monitoring", "--config", str(cfg), timeout=600)
    stderr = result.stderr.strip()
    assert result.returncode == 2, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "Traceback" not in result.stdout
    last = stderr.splitlines()[-1]
    assert last.startswith(
        "error: gather_window: no predictions in the window [2010-05-02, 2010-06-01)"
    ), last
    assert f"cutoffs {SCORING_CUTOFF}..{SCORING_CUTOFF}" in last


API_KEY = "monitor-test-key"


@pytest.fixture
def weak_champion_served(
    champion: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """A one-stump champion, served by a churn service with an API key on a free port.

    Any retrain on the usual recipe beats one stump on the same test rows, so the usual
    promotion rule promotes it; the module's champion is restored afterwards.
    """
    from retail_mlops.deploy import process
    from retail_mlops.names import CHALLENGER, CHAMPION, MODEL_NAME
    from retail_mlops.registry import alias_version
    from steps.client import configure_mlflow_from_stack, promote_model

    monkeypatch.setenv("RETAIL_MLOPS_API_KEY", API_KEY)
    stump = write_config(
        tmp_path,
        "churn_training.dev.yaml",
        **{
            "steps.train_churn_model.parameters.n_estimators": 1,
            "steps.train_churn_model.parameters.max_depth": 1,
        },
    )
    _run("churn_training", stump)
    configure_mlflow_from_stack()
    weak = alias_version(MODEL_NAME, CHALLENGER)  # every new version is the challenger
    assert weak is not None
    assert weak != champion
    promote_model(MODEL_NAME, weak)  # champion and challenger: the stump
    port = process.free_port()
    deploy = write_config(tmp_path, "deployment.dev.yaml", **{"parameters.churn.port": port})
    deployed = run_cli("deployment", "--config", str(deploy), "--service", "churn", timeout=600)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    try:
        yield {"version": weak, "port": port}
    finally:
        run_cli("undeploy", "churn")
        configure_mlflow_from_stack()
        promote_model(MODEL_NAME, champion)
        configure_mlflow_from_stack()
        assert alias_version(MODEL_NAME, CHAMPION) == champion


MONTHS = ("2011-08-01", "2011-09-01", "2011-10-01")
# the latest month start whose 90-day outcomes are known by each month (run.py's retrain)
RETRAIN_TEST_CUTOFFS = ("2011-05-01", "2011-06-01", "2011-07-01")


def test_monitor_backfills_replays_traffic_retrains_and_the_service_serves_the_new_champion(
    weak_champion_served: dict[str, Any], tmp_path: Path
) -> None:
    """`run.py monitor --retrain auto` over three months, a running service, forced breaches.

    Each month's real customers are replayed through the service (logged on the month start,
    monitored as the served series); three windows land in the table and the workspace, the
    last too young for performance; the first retrain beats the stump, is promoted and the
    service is redeployed on its port; at the end it answers with the registry's champion.
    """
    from zenml.client import Client

    from retail_mlops.deploy import process
    from retail_mlops.monitoring.history import read_metrics
    from retail_mlops.names import CHAMPION, MODEL_NAME
    from retail_mlops.registry import alias_version
    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir
    from steps.client import configure_mlflow_from_stack

    weak = weak_champion_served["version"]
    # any prediction drift asks for retraining: the gate fires on every window
    forced = write_config(
        tmp_path,
        "churn_monitoring.dev.yaml",
        **{
            "steps.gate_window.parameters.max_prediction_ks": 0.0,
            "steps.gate_window.parameters.retrain_on_drift": True,
        },
    )
    result = run_cli(
        "monitor",
        *("--from", MONTHS[0], "--to", MONTHS[-1], "--dev", "--retrain", "auto"),
        *("--monitoring-config", str(forced)),
        timeout=2400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # the month lines ("2011-08-01: retrain (...)"), not the table printed after them
    lines = {
        line[:10]: line
        for line in result.stdout.splitlines()
        if line[:10] in MONTHS and line[10:12] == ": "
    }
    assert set(lines) == set(MONTHS), result.stdout
    for month, test_cutoff in zip(MONTHS, RETRAIN_TEST_CUTOFFS, strict=True):
        assert lines[month].startswith(f"{month}: retrain"), lines[month]
        assert f"retrained (test {test_cutoff}: " in lines[month]
        assert "customers replayed in" in lines[month]
    assert "promoted; churn service redeployed" in lines[MONTHS[0]]  # one stump loses
    assert f"(v{weak}: " in lines[MONTHS[0]]  # and answered the first month's replay
    assert f"v{weak}" not in lines[MONTHS[1]]  # the redeployed service answered the next

    # three windows of rows and snapshots; the last too young for its 90-day outcomes
    batch = read_metrics(job="churn_batch")
    log = read_log(predictions_dir("churn"))
    for month in MONTHS:
        end = pd.Timestamp(month) + pd.Timedelta(days=1)
        metrics = set(batch.loc[batch["window_end"] == end, "metric"])
        assert {"n_predictions", "prediction_ks", "drift_share"} <= metrics
        assert ("roc_auc" in metrics) == (month != MONTHS[-1]), month
        assert {"churn_batch", "churn_served_champion"} <= set(_snapshots(str(end.date()))["job"])
        # the replay is in the log on its own day, and monitored as the served series
        day = log[(log["endpoint"] == "replay") & (log["timestamp"].dt.normalize() == month)]
        assert len(day) > 0
        assert day["timestamp"].between(month, pd.Timestamp(month) + pd.Timedelta(hours=8)).all()
        for variant, rows in day.groupby("variant"):  # the deployment's 90/10 split
            served = read_metrics(job=f"churn_served_{variant}")
            window = served[served["window_end"] == end]
            counted = window.loc[window["metric"] == "n_predictions", "value"]
            assert int(counted.iloc[0]) == len(rows)
    first_day = log[(log["endpoint"] == "replay") & (log["timestamp"].dt.normalize() == MONTHS[0])]
    assert set(first_day["model_version"]) == {weak}

    client = Client()
    training = client.get_pipeline("churn_training").last_run
    watch = client.get_pipeline("churn_monitoring").last_run
    assert training.run_metadata["triggered_by"]["monitoring_run"] == str(watch.id)
    assert training.run_metadata["triggered_by"]["reasons"]
    assert watch.run_metadata["triggered"]["training_run"] == str(training.id)
    assert watch.run_metadata["triggered"]["test_cutoff"] == RETRAIN_TEST_CUTOFFS[-1]
    compaction = watch.steps["compact_predictions_log"].outputs["log_compaction"][0].load()
    assert compaction["rows_kept"] + compaction["rows_expired"] == compaction["rows_before"]
    assert compaction["rows_expired"] == 0  # nothing is older than keep_days before 2011-10-02
    assert MONTHS[-1] in compaction["days_written"]
    for month in MONTHS:  # each window compacted its day
        assert (predictions_dir("churn") / f"part-day-{month.replace('-', '')}.parquet").exists()

    # the running service answers with the registry's champion, on the port it had
    configure_mlflow_from_stack()
    champion = alias_version(MODEL_NAME, CHAMPION)
    assert champion is not None
    assert champion != weak
    dep = process.current("churn")
    assert dep is not None
    assert dep.port == weak_champion_served["port"]
    names = _features(dep)
    body = {"rows": [{"customer_id": str(i), **dict.fromkeys(names)} for i in range(40)]}
    status, answer = process.http(
        "POST", f"{dep.url}/predict", body, headers={"x-api-key": API_KEY}
    )
    assert status == 200, answer
    assert {p["model_version"] for p in answer["predictions"]} == {champion}  # both aliases


def _features(dep: Any) -> list[str]:
    from retail_mlops.deploy import process

    _, schema = process.http("GET", f"{dep.url}/docs.json", headers={"x-api-key": API_KEY})
    fields = schema["components"]["schemas"]["FeatureRow"]["properties"]
    return [f for f in fields if f not in ("customer_id", "as_of")]
