"""demand_forecasting on the committed subset, and forecast-file on good and bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.global_model import predict_global
from tests.conftest import PROJECT_ROOT
from tests.integration.conftest import run_cli, write_config

DEV = "demand_forecasting.dev.yaml"
SUBSET = PROJECT_ROOT / "tests" / "data" / "online_retail_top_items.csv.gz"


@pytest.fixture(scope="module")
def forecast_run(local_stack: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    from run import run_pipeline

    tmp = tmp_path_factory.mktemp("demand")
    out = tmp / "inventory"
    cfg = write_config(tmp, DEV, **{"steps.recommend_inventory.parameters.output_dir": str(out)})
    return run_pipeline("demand_forecasting", str(cfg), True), out


@pytest.mark.integration
@pytest.mark.slow
def test_pipeline_backtests_forecasts_and_recommends(
    forecast_run: tuple[Any, Path], mlflow_client: Any
) -> None:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    run_response, out = forecast_run
    run = Client().get_pipeline_run(run_response.id)
    assert run.status == ExecutionStatus.COMPLETED
    assert {
        "forecast_prophet_shard_0",
        "forecast_prophet_shard_1",
        "combine_prophet_shards",
    } <= set(run.steps)

    quarantine = run.steps["build_daily_demand"].outputs["demand_quarantine"][0].load()
    assert {"cancelled_invoice", "non_product_code"} <= set(quarantine["reason"])

    summary = run.steps["evaluate_forecasts"].outputs["backtest_summary"][0].load()
    all_items = summary["all_items"]
    assert all_items["choice"]["wape"] < all_items["naive"]["wape"]  # beats the baseline
    assert set(summary["prophet_items"]) >= {"prophet", "xgboost", "naive", "ensemble", "choice"}

    forecast = run.steps["forecast_demand"].outputs["demand_forecast"][0].load()
    demand = run.steps["build_daily_demand"].outputs["daily_demand"][0].load()
    assert forecast["stock_code"].nunique() == demand["stock_code"].nunique()
    assert (forecast.groupby("stock_code").size() == 14).all()
    assert (forecast["yhat_lower"] <= forecast["yhat"] + 1e-9).all()
    assert (forecast["yhat"] <= forecast["yhat_upper"] + 1e-9).all()
    assert (forecast["ds"].dt.dayofweek != 5).all()  # no forecast on closed Saturdays
    plots = run.steps["forecast_demand"].outputs["forecast_plots"][0].load()
    assert "data:image/png;base64" in str(plots)

    # the global model is kept (UBJSON) and reproduces the step's own future forecast
    glob = run.steps["backtest_global_models"]
    model = glob.outputs["global_demand_model"][0].load()
    assert isinstance(model, xgb.XGBRegressor)
    future = glob.outputs["global_forecast"][0].load()
    future = future[future["model"] == "xgboost"]
    panel = Panel.from_long(demand)
    targets = pd.DatetimeIndex(sorted(future["ds"].unique()))
    again = predict_global(model, panel.y, panel.price, panel.dates, len(panel.dates), targets)
    stored = future.pivot(index="stock_code", columns="ds", values="yhat").loc[panel.skus]
    np.testing.assert_allclose(stored.to_numpy(), again, rtol=1e-6)

    models = run.steps["combine_prophet_shards"].outputs["prophet_models"][0].load()
    assert len(models) == 20
    assert models.model(next(iter(models))).params  # loads from Prophet JSON

    recs = pd.read_parquet(out / "recommendations.parquet")
    assert (out / "recommendations.csv").exists()
    assert {
        "safety_stock",
        "reorder_point",
        "order_quantity",
        "fill_rate",
        "stockout_days",
        "avg_on_hand",
        "missed_target",
    } <= set(recs.columns)
    assert (recs["reorder_point"] >= recs["safety_stock"]).all()
    assert recs["fill_rate"].between(0, 1).all()

    elasticity = run.steps["analyze_pricing"].outputs["price_elasticity"][0].load()
    assert (elasticity["ci_low"] <= elasticity["ci_high"]).all()

    exp = mlflow_client.get_experiment_by_name("demand_forecasting")
    runs = mlflow_client.search_runs([exp.experiment_id])
    metrics = {k for r in runs for k in r.data.metrics}
    assert {"all_items_choice_wape", "all_items_naive_mase", "choice_vs_naive_wape_gain"} <= metrics


def _series_csv(path: Path, n: int = 80, ids: int = 2) -> Path:
    days = pd.date_range("2011-01-03", periods=n)
    days = days[days.dayofweek != 5]
    rows = [
        pd.DataFrame({"series_id": f"s{k}", "ds": days, "y": 5 + k + (days.dayofweek == 0) * 3})
        for k in range(ids)
    ]
    pd.concat(rows).to_csv(path, index=False)
    return path


@pytest.mark.integration
def test_forecast_file_writes_forecasts(tmp_path: Path) -> None:
    src = _series_csv(tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    result = run_cli(
        "forecast-file", str(src), "--horizon", "7", "--model", "naive", "--output", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    fc = pd.read_csv(out, parse_dates=["ds"])
    assert list(fc.columns) == ["series_id", "ds", "yhat", "yhat_lower", "yhat_upper", "model"]
    assert fc.groupby("series_id").size().tolist() == [7, 7]
    assert (fc["ds"].dt.dayofweek != 5).all()  # Saturdays never trade in the file
    assert set(fc["model"]) == {"naive"}


@pytest.mark.integration
def test_forecast_file_auto_chooses_like_the_pipeline(tmp_path: Path) -> None:
    """Auto over two origins: the pipeline's choice (pooled best unless clearly beaten)."""
    from retail_mlops.errors import DataError
    from retail_mlops.forecasting.forecast_file import FileSettings, forecast_series

    days = pd.date_range("2011-01-03", periods=120)
    days = days[days.dayofweek != 5]
    weekly = 5 + 20 * (days.dayofweek == 0)  # a strong Monday peak: naive's own season
    series = pd.concat(
        [
            pd.DataFrame({"series_id": "peaky", "ds": days, "y": weekly}),
            pd.DataFrame({"series_id": "flat", "ds": days, "y": 7.0}),
        ]
    )
    settings = FileSettings(origins=2)
    out = forecast_series(series, 7, "auto", settings=settings)
    assert out.groupby("series_id").size().tolist() == [7, 7]
    # Both series repeat every week, so seasonal naive is exact at both origins: it is the
    # pooled best, and no model can be 30% better than an error of zero on either series.
    assert set(out["model"]) == {"naive"}
    with pytest.raises(DataError, match="2 origin"):
        forecast_series(series.groupby("series_id").head(30), 7, "auto", settings=settings)
    result = run_cli(
        "forecast-file", str(_series_csv(tmp_path / "in.csv")), "--horizon", "7", "--origins", "2"
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _assert_one_line_error(result: Any, *needles: str) -> None:
    stderr = result.stderr.strip()
    assert result.returncode == 2, stderr[-2000:]
    assert "Traceback" not in stderr + result.stdout
    last = stderr.splitlines()[-1]
    assert last.startswith("error: ")
    for needle in needles:
        assert needle in last


@pytest.mark.integration
@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("date,y\n2011-01-03,1\n", ("no date column 'ds'",)),
        ("ds,y\nnot-a-date,1\n2011-01-04,2\n", ("not dates", "not-a-date")),
        ("ds,y\n2011-01-03,abc\n2011-01-04,2\n", ("not numbers", "abc")),
        ("ds,y\n2011-01-03,1\n2011-01-04,2\n", ("has 2 rows", "needs at least")),
        ("ds,y\n", ("no rows",)),
    ],
    ids=["no-date-column", "bad-dates", "non-numeric-y", "too-few-rows", "empty"],
)
def test_forecast_file_bad_files(tmp_path: Path, content: str, needles: tuple[str, ...]) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(content)
    _assert_one_line_error(run_cli("forecast-file", str(src), "--horizon", "7"), *needles)


@pytest.mark.integration
def test_forecast_file_missing_file(tmp_path: Path) -> None:
    _assert_one_line_error(
        run_cli("forecast-file", str(tmp_path / "nope.csv"), "--horizon", "7"),
        "input file not found",
    )


def test_the_run_deploys_as_the_demand_service(forecast_run: tuple[Any, Path]) -> None:
    """The deployment's demand half on this run: import its tables, build the Bento, serve, ask."""
    from retail_mlops.deploy import deployer, process
    from steps.client import latest_demand_release

    run, _ = forecast_run
    release = latest_demand_release(run=str(run.id)).model_dump(mode="json")
    tag = deployer.build_bento("demand", release)
    dep = deployer.deploy("demand", tag, process.free_port(), release)
    try:
        sku = release["example_sku"]
        status, body = process.http("POST", dep.url + "/forecast", {"sku": sku, "horizon": 3})
        assert status == 200, body
        forecast = run.steps["forecast_demand"].outputs["demand_forecast"][0].load()
        expected = forecast[forecast["stock_code"] == sku].sort_values("ds").head(3)
        assert [p["yhat"] for p in body["points"]] == pytest.approx(expected["yhat"].tolist())
        status, body = process.http(
            "POST",
            dep.url + "/inventory",
            {"sku": sku, "lead_time_days": 7, "service_level": 0.95},
        )
        assert status == 200, body
        assert body["reorder_point"] >= body["safety_stock"] >= 0
        status, spec = process.http("GET", dep.url + "/docs.json")
        assert status == 200
        own = (PROJECT_ROOT / "bentos" / "demand_service" / "README.md").read_text()
        assert spec["info"]["description"].strip() == own.strip()  # not the project README
    finally:
        process.stop_service("demand")


@pytest.mark.integration
def test_forecast_file_prophet_follows_the_config(tmp_path: Path) -> None:
    from retail_mlops.forecasting.forecast_file import (
        PROPHET_DEFAULTS,
        FileSettings,
        forecast_series,
        prophet_params,
    )

    src = _series_csv(tmp_path / "in.csv", ids=1)
    wide = tmp_path / "wide.yaml"
    wide.write_text("prophet:\n  interval_width: 0.95\n  weekly_seasonality: true\n")
    params = prophet_params(wide)
    assert params.interval_width == 0.95
    assert params.weekly_seasonality is True
    assert params.yearly_seasonality is PROPHET_DEFAULTS.yearly_seasonality  # unset: default
    series = pd.read_csv(src, parse_dates=["ds"])
    narrow = forecast_series(series, 7, "prophet")
    broad = forecast_series(series, 7, "prophet", settings=FileSettings(prophet=params))
    width_80 = (narrow["yhat_upper"] - narrow["yhat_lower"]).mean()
    width_95 = (broad["yhat_upper"] - broad["yhat_lower"]).mean()
    assert width_95 > width_80 * 1.2  # z 1.96 vs 1.28

    shipped = prophet_params(PROJECT_ROOT / "configs" / "forecast_file" / "prophet.yaml")
    assert shipped.country_holidays == "UK"

    typo = tmp_path / "typo.yaml"
    typo.write_text("prophet:\n  interval_widht: 0.9\n")
    _assert_one_line_error(
        run_cli(
            "forecast-file", str(src), "--horizon", "7", "--model", "prophet", "--config", str(typo)
        ),
        "prophet.interval_widht",
    )
