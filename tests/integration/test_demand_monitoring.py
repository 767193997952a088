"""demand_monitoring on the committed top-items subset: a past forecast judged on the sales since.

demand_forecasting runs as if it were 2011-11-01 (`until`): its 14 forecast days lie in
November, whose sales the subset holds. demand_monitoring, as of the day after the data ends,
finds that run (not a forecast made on all the data, whose days have not come), lines its
forecast up with what sold, and records the window in `monitoring_metrics` and the Evidently
project `demand_monitoring`. The figures are recomputed here from the runs' own artifacts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.integration.conftest import run_cli, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEV_FORECAST = "demand_forecasting.dev.yaml"
DEV_MONITOR = "demand_monitoring.dev.yaml"
UNTIL = "2011-11-01"
AS_OF = "2011-12-10"


@pytest.fixture(scope="module")
def past_forecast(local_stack: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from zenml.client import Client

    from run import run_pipeline

    tmp = tmp_path_factory.mktemp("past_forecast")
    cfg = write_config(
        tmp, DEV_FORECAST, **{"steps.recommend_inventory.parameters.output_dir": str(tmp)}
    )
    run = run_pipeline("demand_forecasting", str(cfg), False, {"until": UNTIL})
    return Client().get_pipeline_run(run.id)


def _monitor(config: Path | str, **parameters: Any) -> Any:
    from zenml.client import Client

    from run import run_pipeline

    run = run_pipeline("demand_monitoring", str(config), False, {"as_of": AS_OF, **parameters})
    return Client().get_pipeline_run(run.id)


def _output(run: Any, step: str, name: str) -> Any:
    return run.steps[step].outputs[name][0].load()


def test_the_past_forecast_is_judged_on_the_sales_since(past_forecast: Any) -> None:
    from retail_mlops.monitoring.demand import JOB, PROJECT_NAME
    from retail_mlops.monitoring.history import (
        get_or_create_project,
        list_windows,
        open_workspace,
        read_metrics,
    )
    from tests.conftest import PROJECT_ROOT

    demand_meta = past_forecast.steps["build_daily_demand"].outputs["daily_demand"][0]
    assert demand_meta.run_metadata["last_day"] < UNTIL  # the run saw nothing from UNTIL on
    watch = _monitor(PROJECT_ROOT / "configs" / DEV_MONITOR)
    served = _output(watch, "gather_served_forecast", "served_forecast_run")
    assert served["run_id"] == str(past_forecast.id)

    # WAPE of the whole window, by hand from the two runs' artifacts
    forecast = _output(past_forecast, "forecast_demand", "demand_forecast")
    actual = _output(watch, "build_daily_demand", "daily_demand")
    traded = set(actual.loc[actual["ds"] >= pd.Timestamp(UNTIL), "ds"])
    judged = forecast[forecast["ds"].isin(traded)].merge(
        actual[["stock_code", "ds", "y"]], on=["stock_code", "ds"], how="left"
    )
    judged["y"] = judged["y"].fillna(0.0)
    wape = np.abs(judged["yhat"] - judged["y"]).sum() / judged["y"].sum()

    figures = _output(watch, "evaluate_demand_window", "demand_window_figures")
    overall = figures["segments"]["all"]
    assert overall["wape"] == pytest.approx(wape)
    assert overall["rows"] == len(judged)
    assert {"horizon 1-7", "horizon 8-14", "abc A"} <= set(figures["segments"])
    assert 0 < overall["fill_rate"] <= 1

    table = read_metrics(job=JOB)
    mine = table[table["run_id"] == str(past_forecast.id)]
    assert set(mine["variant"]) == set(figures["segments"])
    wape_row = mine[(mine["variant"] == "all") & (mine["metric"] == "wape")]
    assert wape_row["value"].tolist() == pytest.approx([wape])

    ws = open_workspace()
    windows = list_windows(ws, get_or_create_project(ws, PROJECT_NAME).id)
    assert (windows["run_id"] == str(past_forecast.id)).sum() == 1

    decision = _output(watch, "gate_demand_window", "demand_decision")
    ratio = overall["wape"] / overall["naive_wape"]
    assert decision["action"] == ("retrain" if ratio > 1.0 else "ok")
    assert decision["figures"]["wape_ratio"] == pytest.approx(ratio)

    # the same window again replaces its rows and its snapshot
    _monitor(PROJECT_ROOT / "configs" / DEV_MONITOR)
    again = read_metrics(job=JOB)
    assert len(again[again["run_id"] == str(past_forecast.id)]) == len(mine)
    windows = list_windows(ws, get_or_create_project(ws, PROJECT_NAME).id)
    assert (windows["run_id"] == str(past_forecast.id)).sum() == 1


def test_a_breach_retrains_and_alerts_once(past_forecast: Any, tmp_path: Path) -> None:
    forced = write_config(
        tmp_path, DEV_MONITOR, **{"steps.gate_demand_window.parameters.max_wape_ratio": 0.01}
    )
    first = _output(_monitor(forced), "gate_demand_window", "demand_decision")
    second = _output(_monitor(forced), "gate_demand_window", "demand_decision")
    assert first["action"] == "retrain"
    assert "naive forecast" in first["reasons"][0]
    assert second["action"] == "retrain"
    assert second["alerts"] == []  # a standing breach alerts once
    relaxed = write_config(
        tmp_path, DEV_MONITOR, **{"steps.gate_demand_window.parameters.max_wape_ratio": 10.0}
    )
    cleared = _output(_monitor(relaxed), "gate_demand_window", "demand_decision")
    assert cleared["action"] == "ok"
    assert any("back within its limit" in a for a in cleared["alerts"])


def test_no_forecast_old_enough_is_one_error_line(past_forecast: Any) -> None:
    result = run_cli(
        "demand_monitoring",
        *("--config", "configs/demand_monitoring.dev.yaml", "--as-of", "2011-10-01"),
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in result.stderr
    assert "no completed demand_forecasting run on data before 2011-10-01" in lines[-1]
