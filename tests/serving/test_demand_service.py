"""The demand service end to end: real tables in the BentoML store, a real `bentoml serve`.

The forecast and recommendation tables are built from the committed top-items file with the
project's own functions (daily demand, a seasonal-naive backtest at the dev config's origins,
`final_forecast`, `policy_inputs` and `recommend`), so every expected number below comes from
the same code the pipeline runs. One server runs for the module, with an API key set, which
covers both the authenticated answers and the 401s.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retail_mlops.calendar import OpenCalendar
from retail_mlops.deploy import process
from retail_mlops.errors import DataError
from retail_mlops.forecasting.backtest import (
    BacktestSpec,
    attach_actuals,
    choose_models,
    final_forecast,
)
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.intervals import residual_quantiles
from retail_mlops.forecasting.naive import seasonal_naive
from retail_mlops.inventory.policy import (
    PolicyParams,
    eoq,
    policy_inputs,
    recommend,
    reorder_point,
    safety_stock,
    unit_costs,
    z_value,
)
from retail_mlops.serving.demand import (
    MODEL_NAME,
    DemandRelease,
    ItemInputs,
    PolicyDefaults,
    import_demand_tables,
    item_policy,
    load_demand_tables,
    model_version,
    policy_defaults,
)
from retail_mlops.serving.release import release_env, write_release
from tests.conftest import PROJECT_ROOT
from tests.serving.conftest import feature_row, read_json

ORIGINS = [pd.Timestamp("2011-08-01"), pd.Timestamp("2011-09-01")]  # the dev config's
HORIZON = 14
N_ITEMS = 5
# recommend_inventory's settings in configs/demand_forecasting.dev.yaml
PARAMS = PolicyParams(
    service_level=0.95,
    lead_time_days=7,
    lead_time_std_days=2,
    order_cost=50.0,
    holding_rate=0.25,
    open_days_per_year=305,
)
API_KEY = "test-demand-key"
TARGET = "bentos.demand_service.service:DemandService"
EXAMPLES = PROJECT_ROOT / "bentos" / "demand_service" / "examples"


# --- real tables -------------------------------------------------------------------------------


def _long(panel: Panel, yhat: np.ndarray, targets: pd.DatetimeIndex, **cols: Any) -> pd.DataFrame:
    s, h = yhat.shape
    return pd.DataFrame(
        {
            "stock_code": np.repeat(panel.skus, h),
            "ds": np.tile(np.asarray(targets), s),
            "yhat": yhat.reshape(-1),
            **cols,
        }
    )


@pytest.fixture(scope="module")
def tables(top_items_demand: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(demand_forecast, inventory_recommendations) of the top items, as the pipeline makes them."""
    demand = top_items_demand
    top = demand.groupby("stock_code")["y"].sum().nlargest(N_ITEMS).index
    demand = demand[demand["stock_code"].isin(top)]
    panel = Panel.from_long(demand)
    spec = BacktestSpec(ORIGINS, HORIZON)
    frames = []
    for i in spec.columns(panel):
        targets = panel.dates[i : i + HORIZON]
        naive = seasonal_naive(panel.y[:, :i], panel.dates[:i], targets)
        frames.append(_long(panel, naive, targets, model="naive", origin=panel.dates[i]))
    backtest = attach_actuals(pd.concat(frames, ignore_index=True), panel)
    quantiles = residual_quantiles(backtest)
    calendar = OpenCalendar(panel.dates, country="UK")
    future_days = calendar.next_open_days(panel.dates[-1] + pd.Timedelta(days=1), HORIZON)
    future = _long(
        panel, seasonal_naive(panel.y, panel.dates, future_days), future_days, model="naive"
    )
    forecast = final_forecast(
        panel, future, choose_models(backtest, ORIGINS), quantiles, min_history_days=56
    )
    recs = recommend(policy_inputs(forecast, quantiles, unit_costs(demand)), PARAMS)
    return forecast, recs


def _defaults() -> PolicyDefaults:
    return PolicyDefaults(
        lead_time_std_days=PARAMS.lead_time_std_days,
        order_cost=PARAMS.order_cost,
        holding_rate=PARAMS.holding_rate,
        open_days_per_year=PARAMS.open_days_per_year,
    )


@pytest.fixture(scope="module")
def release(tables: tuple[pd.DataFrame, pd.DataFrame]) -> DemandRelease:
    forecast, recs = tables
    return import_demand_tables(forecast, recs, str(uuid.uuid4()), policy=_defaults())


# --- _demand.py without a server ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("forecast", "yhat_upper"),
        ("forecast", "fallback"),
        ("recs", "sigma"),
        ("recs", "unit_cost"),
    ],
)
def test_missing_column_is_named(
    tables: tuple[pd.DataFrame, pd.DataFrame], table: str, column: str
) -> None:
    forecast, recs = tables
    if table == "forecast":
        forecast = forecast.drop(columns=column)
    else:
        recs = recs.drop(columns=column)
    with pytest.raises(DataError, match=f"no column '{column}'"):
        import_demand_tables(forecast, recs, str(uuid.uuid4()))


def test_unservable_tables_are_refused(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    forecast, recs = tables
    nan = forecast.copy()
    nan.loc[3, "yhat"] = np.nan
    with pytest.raises(DataError, match="'yhat' is not a finite number"):
        import_demand_tables(nan, recs, str(uuid.uuid4()))
    with pytest.raises(DataError, match="twice"):
        import_demand_tables(pd.concat([forecast, forecast.head(1)]), recs, str(uuid.uuid4()))
    with pytest.raises(DataError, match="no rows"):
        import_demand_tables(forecast.head(0), recs, str(uuid.uuid4()))


def test_import_is_idempotent(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    import bentoml

    forecast, recs = tables
    run_id = str(uuid.uuid4())
    first = import_demand_tables(forecast, recs, run_id)
    created = bentoml.models.get(first.model_tag).info.creation_time
    count = len(bentoml.models.list(MODEL_NAME))
    again = import_demand_tables(forecast, recs, run_id)
    assert again == first
    assert first.model_tag == f"{MODEL_NAME}:{run_id}"
    assert bentoml.models.get(first.model_tag).info.creation_time == created
    assert len(bentoml.models.list(MODEL_NAME)) == count
    assert first.max_horizon == HORIZON
    assert first.items == N_ITEMS
    top = forecast.groupby("stock_code")["yhat"].sum().idxmax()
    assert first.example_sku == top


def test_model_version_from_run_id() -> None:
    assert model_version("0C5F-aa/b") == "0c5f-aa-b"
    with pytest.raises(DataError, match="no valid BentoML version"):
        model_version("///")


def test_policy_defaults_from_settings() -> None:
    got = policy_defaults({"port": 3001, "order_cost": 80.0, "service_level": 0.9})
    assert got.order_cost == 80.0
    assert got.holding_rate == PolicyParams().holding_rate  # left out: the step default
    with pytest.raises(DataError, match="holding_rate"):
        policy_defaults({"holding_rate": 0.0})  # no EOQ without a holding cost


def test_loaded_tables_equal_the_frames(
    release: DemandRelease, tables: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    forecast, recs = tables
    loaded = load_demand_tables(release.model_tag)
    assert set(loaded.forecasts) == set(forecast["stock_code"])
    for sku, g in forecast.groupby("stock_code"):
        item = loaded.forecasts[str(sku)]
        assert item.ds == [d.date().isoformat() for d in g["ds"]]
        assert item.yhat == g["yhat"].tolist()
        assert item.yhat_upper == g["yhat_upper"].tolist()
        assert item.model == g["model"].iloc[0]
    for row in recs.itertuples():
        assert loaded.items[row.stock_code] == ItemInputs(row.mean_demand, row.sigma, row.unit_cost)


def test_item_policy_equals_recommend(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """The per-request policy and the pipeline's table agree item by item."""
    _, recs = tables
    for row in recs.itertuples():
        p = item_policy(
            ItemInputs(row.mean_demand, row.sigma, row.unit_cost),
            PARAMS.service_level,
            PARAMS.lead_time_days,
            PARAMS.lead_time_std_days,
            PARAMS.order_cost,
            PARAMS.holding_rate,
            PARAMS.open_days_per_year,
        )
        assert p.z == pytest.approx(row.z)
        assert p.safety_stock == pytest.approx(row.safety_stock)
        assert p.reorder_point == pytest.approx(row.reorder_point)
        assert p.annual_demand == pytest.approx(row.annual_demand)
        assert p.order_quantity == row.order_quantity


@pytest.mark.integration
def test_without_a_forecasting_run_the_error_says_what_to_run() -> None:
    from steps.client import latest_demand_release
    from steps.serving.import_demand_tables import import_demand_tables as step

    # A pipeline name no test runs: this session may hold real demand_forecasting runs.
    with pytest.raises(DataError, match=r"no completed never_run run: run `run.py never_run`"):
        latest_demand_release({}, pipeline="never_run")
    with pytest.raises(DataError, match="no pipeline run 'no-such-run'"):
        step.entrypoint({}, run="no-such-run")


# --- the server ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(release: DemandRelease, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`bentoml serve` of the service on the module's release, with an API key set."""
    path = write_release(release, tmp_path_factory.mktemp("demand"), "demand_release.json")
    env = {release_env("demand"): str(path), "RETAIL_MLOPS_API_KEY": API_KEY}
    dep = process.start("demand", TARGET, process.free_port(), env=env)
    try:
        yield dep.url
    finally:
        process.stop(dep)


KEY = {"x-api-key": API_KEY}
JSON = "application/json"


def _post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    return process.http("POST", url, body, headers=KEY if headers is None else headers)


def _post_raw(url: str, data: bytes, content_type: str = JSON) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("content-type", content_type)
    req.add_header("x-api-key", API_KEY)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _error(body: Any) -> str:
    return json.dumps(body)


@pytest.mark.integration
def test_forecast_equals_the_table(
    server: str, release: DemandRelease, tables: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    forecast, _ = tables
    for sku, g in forecast.groupby("stock_code"):
        status, body = _post(f"{server}/forecast", {"sku": sku, "horizon": release.max_horizon})
        assert status == 200, body
        assert body["sku"] == sku
        assert body["model"] == g["model"].iloc[0]
        assert body["fallback"] == bool(g["fallback"].iloc[0])
        assert body["reason"] == g["reason"].iloc[0]
        assert body["source_run"] == release.source_run
        assert body["model_tag"] == release.model_tag
        points = pd.DataFrame(body["points"])
        assert points["ds"].tolist() == [d.date().isoformat() for d in g["ds"]]
        for col in ("yhat", "yhat_lower", "yhat_upper"):
            assert points[col].tolist() == g[col].tolist()


@pytest.mark.integration
def test_forecast_horizon_is_the_first_days(
    server: str, release: DemandRelease, tables: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    forecast, _ = tables
    sku = release.example_sku
    expected = forecast[forecast["stock_code"] == sku].head(3)
    status, body = _post(f"{server}/forecast", {"sku": sku, "horizon": 3})
    assert status == 200, body
    assert body["horizon"] == 3
    assert [p["yhat"] for p in body["points"]] == expected["yhat"].tolist()
    status, body = _post(f"{server}/forecast", {"sku": sku.lower(), "horizon": 1})
    assert status == 200, body  # item codes are upper case in the pipeline
    assert body["sku"] == sku


@pytest.mark.integration
@pytest.mark.parametrize("horizon", [0, -1, HORIZON + 1, 10_000])
def test_forecast_horizon_out_of_range_is_400(
    server: str, release: DemandRelease, horizon: int
) -> None:
    status, body = _post(f"{server}/forecast", {"sku": release.example_sku, "horizon": horizon})
    assert status == 400, body
    assert "horizon" in _error(body)


@pytest.mark.integration
@pytest.mark.parametrize("endpoint", ["forecast", "inventory"])
def test_unknown_sku_is_404_naming_it(server: str, endpoint: str) -> None:
    body = (
        {"sku": "NO-SUCH-ITEM", "horizon": 1}
        if endpoint == "forecast"
        else {"sku": "NO-SUCH-ITEM", "lead_time_days": 7, "service_level": 0.95}
    )
    status, answer = _post(f"{server}/{endpoint}", body)
    assert status == 404, answer
    assert "NO-SUCH-ITEM" in _error(answer)


def _expected_policy(
    row: Any, service_level: float, lead: float, lead_std: float, order_cost: float, rate: float
) -> dict[str, float]:
    z = z_value(service_level)
    ss = float(safety_stock(row.sigma, lead, z, row.mean_demand, lead_std))
    annual = row.mean_demand * PARAMS.open_days_per_year
    q = float(eoq(annual, order_cost, rate * row.unit_cost))
    return {
        "z": z,
        "safety_stock": ss,
        "reorder_point": float(reorder_point(row.mean_demand, lead, ss)),
        "annual_demand": annual,
        "eoq": q,
        "order_quantity": float(max(math.ceil(q), 1)) if annual > 0 else 0.0,
    }


@pytest.mark.integration
@pytest.mark.parametrize(
    ("service_level", "lead", "lead_std", "order_cost", "rate"),
    [(0.95, 7.0, 2.0, 50.0, 0.25), (0.99, 3.5, 0.0, 120.0, 0.1), (0.9999, 365.0, 10.0, 0.0, 10.0)],
)
def test_inventory_equals_the_policy_formulas(
    server: str,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    service_level: float,
    lead: float,
    lead_std: float,
    order_cost: float,
    rate: float,
) -> None:
    _, recs = tables
    for row in recs.itertuples():
        request = {
            "sku": row.stock_code,
            "lead_time_days": lead,
            "service_level": service_level,
            "lead_time_std_days": lead_std,
            "order_cost": order_cost,
            "holding_rate": rate,
        }
        status, body = _post(f"{server}/inventory", request)
        assert status == 200, body
        assert body["mean_demand"] == row.mean_demand
        assert body["sigma"] == row.sigma
        for key, value in _expected_policy(
            row, service_level, lead, lead_std, order_cost, rate
        ).items():
            assert body[key] == pytest.approx(value, rel=1e-12), key


@pytest.mark.integration
def test_inventory_defaults_reproduce_the_pipeline_table(
    server: str, tables: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Left-out settings are the run's: the answer is the run's own recommendation."""
    _, recs = tables
    for row in recs.itertuples():
        request = {
            "sku": row.stock_code,
            "lead_time_days": PARAMS.lead_time_days,
            "service_level": PARAMS.service_level,
        }
        status, body = _post(f"{server}/inventory", request)
        assert status == 200, body
        assert body["lead_time_std_days"] == PARAMS.lead_time_std_days
        assert body["safety_stock"] == pytest.approx(row.safety_stock)
        assert body["reorder_point"] == pytest.approx(row.reorder_point)
        assert body["order_quantity"] == row.order_quantity


GOOD_INVENTORY = {"sku": "85123A", "lead_time_days": 7, "service_level": 0.95}


@pytest.mark.integration
@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("forecast", {"sku": "85123A"}, "horizon"),
        ("forecast", {"horizon": 3}, "sku"),
        ("forecast", {"sku": "85123A", "horizon": 3, "extra": 1}, "extra"),
        ("forecast", {"sku": "85123A", "horizon": "3"}, "horizon"),
        ("forecast", {"sku": "85123A", "horizon": 3.5}, "horizon"),
        ("forecast", {"sku": "85123A", "horizon": True}, "horizon"),
        ("forecast", {"sku": "85123A", "horizon": None}, "horizon"),
        ("forecast", {"sku": 85123, "horizon": 3}, "sku"),
        ("forecast", {"sku": "", "horizon": 3}, "sku"),
        ("forecast", {"sku": "x" * 65, "horizon": 3}, "sku"),
        ("forecast", [{"sku": "85123A", "horizon": 3}], ""),
        ("inventory", {**GOOD_INVENTORY, "service_level": 0.49}, "service_level"),
        ("inventory", {**GOOD_INVENTORY, "service_level": 1.0}, "service_level"),
        ("inventory", {**GOOD_INVENTORY, "service_level": "0.95"}, "service_level"),
        ("inventory", {**GOOD_INVENTORY, "lead_time_days": 0}, "lead_time_days"),
        ("inventory", {**GOOD_INVENTORY, "lead_time_days": 366}, "lead_time_days"),
        ("inventory", {**GOOD_INVENTORY, "lead_time_std_days": -1}, "lead_time_std_days"),
        ("inventory", {**GOOD_INVENTORY, "order_cost": -5}, "order_cost"),
        ("inventory", {**GOOD_INVENTORY, "holding_rate": 0}, "holding_rate"),
        ("inventory", {**GOOD_INVENTORY, "holding_rate": 1e-300}, "holding_rate"),
        ("inventory", {"sku": "85123A", "service_level": 0.95}, "lead_time_days"),
        ("inventory", {**GOOD_INVENTORY, "z": 2.0}, "z"),
    ],
)
def test_bad_bodies_are_400_naming_the_field(
    server: str, endpoint: str, body: Any, field: str
) -> None:
    status, answer = _post(f"{server}/{endpoint}", body)
    assert status == 400, answer
    assert field in _error(answer)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("endpoint", "data"),
    [
        ("forecast", b'{"sku": "85123A", "horizon": '),
        ("forecast", b"not json"),
        ("forecast", b""),
        ("forecast", b"\xff\xfe{"),
        ("forecast", b'{"sku": "85123A", "horizon": NaN}'),
        ("inventory", b'{"sku": "A", "lead_time_days": 7, "service_level": NaN}'),
        ("inventory", b'{"sku": "A", "lead_time_days": Infinity, "service_level": 0.9}'),
        ("inventory", b'{"sku": "A", "lead_time_days": 1e999, "service_level": 0.9}'),
    ],
)
def test_malformed_json_is_400(server: str, endpoint: str, data: bytes) -> None:
    status, answer = _post_raw(f"{server}/{endpoint}", data)
    assert status == 400, answer


@pytest.mark.integration
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b'{"sku": "85123A", "horizon": 3}', "text/plain"),
        (b"sku=85123A&horizon=3", "application/x-www-form-urlencoded"),
        (b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x"),  # BentoML itself: 500
        (b"\x80\x04N.", "application/vnd.bentoml+pickle"),
        (b"\x80\x04N.", "application/octet-stream"),
    ],
)
def test_bodies_other_than_json_are_415(server: str, data: bytes, content_type: str) -> None:
    status, answer = _post_raw(f"{server}/forecast", data, content_type)
    assert status == 415, answer


@pytest.mark.integration
def test_json_with_a_charset_is_json(server: str, release: DemandRelease) -> None:
    data = json.dumps({"sku": release.example_sku, "horizon": 2}).encode()
    status, answer = _post_raw(f"{server}/forecast", data, "application/json; charset=utf-8")
    assert status == 200, answer
    assert len(json.loads(answer)["points"]) == 2


@pytest.mark.integration
def test_probes_and_metrics(server: str, release: DemandRelease) -> None:
    for probe in ("/healthz", "/readyz", "/livez"):
        assert process.http("GET", server + probe)[0] == 200  # open without the key
    _post(f"{server}/forecast", {"sku": release.example_sku, "horizon": 1})
    status, text = process.http("GET", f"{server}/metrics", headers=KEY)
    assert status == 200
    assert 'demand_requests_total{endpoint="forecast",outcome="ok"}' in str(text)


@pytest.mark.integration
def test_each_service_serves_only_its_own_metrics(
    server: str, release: DemandRelease, churn_server: Any, release_dir: Path
) -> None:
    # Both started from this process, one after the other, as `make run` deploys them: under
    # one BentoML home the second start emptied the shared metrics folder, and each /metrics
    # then showed the other service's series.
    rows = [feature_row("12001", read_json(release_dir / "open.json"))]
    status, body = process.http("POST", churn_server.url + "/predict", {"rows": rows})
    assert status == 200, body
    _post(f"{server}/forecast", {"sku": release.example_sku, "horizon": 1})
    _, demand = process.http("GET", f"{server}/metrics", headers=KEY)
    _, churn = process.http("GET", churn_server.url + "/metrics")
    assert "demand_requests_total" in str(demand)
    assert "churn_variant_" not in str(demand)
    assert "churn_variant_requests_total" in str(churn)
    assert "demand_requests_total" not in str(churn)


@pytest.mark.integration
@pytest.mark.parametrize(
    "headers",
    [{}, {"x-api-key": "wrong"}, {"authorization": f"Basic {API_KEY}"}],
    ids=["none", "wrong", "not-bearer"],
)
def test_requests_without_the_key_are_401(
    server: str, release: DemandRelease, headers: dict[str, str]
) -> None:
    body = {"sku": release.example_sku, "horizon": 1}
    assert _post(f"{server}/forecast", body, headers)[0] == 401
    assert _post(f"{server}/inventory", {**GOOD_INVENTORY}, headers)[0] == 401
    assert process.http("GET", f"{server}/metrics", headers=headers)[0] == 401
    assert process.http("GET", f"{server}/healthz", headers=headers)[0] == 200


@pytest.mark.integration
def test_bearer_key_is_accepted(server: str, release: DemandRelease) -> None:
    body = {"sku": release.example_sku, "horizon": 1}
    status, _ = _post(f"{server}/forecast", body, {"authorization": f"Bearer {API_KEY}"})
    assert status == 200


@pytest.mark.integration
def test_schemathesis_finds_no_server_error_or_schema_violation(server: str) -> None:
    from tests.serving.test_schemathesis import fuzz

    exercised = fuzz(server, headers=KEY)
    assert {"POST /forecast", "POST /inventory"} <= set(exercised)


@pytest.mark.integration
@pytest.mark.parametrize("endpoint", ["forecast", "inventory"])
def test_the_example_requests_work_as_they_are(server: str, endpoint: str) -> None:
    # what the README tells a user: curl -d @bentos/demand_service/examples/<endpoint>.json
    body = json.loads((EXAMPLES / f"{endpoint}.json").read_text())
    status, answer = _post(f"{server}/{endpoint}", body)
    assert status == 200, answer
