"""Demand monitoring on real items: served forecasts lined up with what sold, cut by segment.

The forecast is built here as a forecasting run would make it on the data before 2011-09-01:
each item's seasonal-naive forecast scaled by 1.2 on the next 28 open days. So the figures
have known relations to check: the served forecast is the naive one times 1.2 (its bias is
naive's plus 0.2 of actual units... exactly 1.2 x (1 + naive bias) - 1), and FVA follows from
the two WAPEs; each segment's figures equal the same formulas on its own rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retail_mlops.errors import DataError
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.metrics import bias, wape
from retail_mlops.forecasting.naive import seasonal_naive
from retail_mlops.inventory.policy import abc_classes, replay
from retail_mlops.monitoring.demand import (
    ALL,
    JOB,
    PANELS,
    PROJECT_NAME,
    DemandWindow,
    demand_report,
    evaluate_demand_window,
    horizon_bucket,
    record_demand_window,
    window_rows,
)
from retail_mlops.monitoring.history import open_workspace

ORIGIN = pd.Timestamp("2011-09-01")
AS_OF = "2011-10-20"  # some of the 28 forecast days are known, the rest are not


@pytest.fixture(scope="module")
def served(top_items_demand: pd.DataFrame) -> pd.DataFrame:
    """1.2 x seasonal naive on the 28 open days from the origin, as the run would have made."""
    history = top_items_demand[top_items_demand["ds"] < ORIGIN]
    panel = Panel.from_long(history)
    days = pd.DatetimeIndex(
        sorted(top_items_demand.loc[top_items_demand["ds"] >= ORIGIN, "ds"].unique())
    )[:28]
    yhat = 1.2 * seasonal_naive(panel.y, panel.dates, days)
    return pd.DataFrame(
        {
            "stock_code": np.repeat(panel.skus, len(days)),
            "ds": np.tile(days, len(panel.skus)),
            "yhat": yhat.reshape(-1),
            "model": "naive",
        }
    )


@pytest.fixture(scope="module")
def recommendations(served: pd.DataFrame) -> pd.DataFrame:
    mean = served.groupby("stock_code")["yhat"].mean()
    return pd.DataFrame(
        {
            "stock_code": mean.index,
            "reorder_point": 7 * mean.values,
            "order_quantity": 14 * mean.values + 1,
        }
    )


@pytest.fixture(scope="module")
def evaluated(
    served: pd.DataFrame, top_items_demand: pd.DataFrame, recommendations: pd.DataFrame
) -> tuple[DemandWindow, pd.DataFrame, pd.DataFrame]:
    """The window, its rows and its item replay, as evaluate_demand_window returns them."""
    return evaluate_demand_window(
        served,
        recommendations,
        top_items_demand,
        AS_OF,
        run_id="r1",
        model_version="1",
        lead_time_days=7,
    )


def test_rows_hold_known_days_only_with_actuals_and_naive(
    served: pd.DataFrame, top_items_demand: pd.DataFrame
) -> None:
    framed = window_rows(served, top_items_demand, AS_OF)
    rows = framed.rows
    assert rows["ds"].max() < pd.Timestamp(AS_OF)
    assert rows["ds"].min() == ORIGIN
    assert framed.pending_days == int((served["ds"].drop_duplicates() >= pd.Timestamp(AS_OF)).sum())
    assert framed.window_end == rows["ds"].max() + pd.Timedelta(days=1)
    actual = top_items_demand.set_index(["stock_code", "ds"])["y"]
    got = actual.reindex(pd.MultiIndex.from_frame(rows[["stock_code", "ds"]])).fillna(0.0)
    np.testing.assert_array_equal(rows["y"].to_numpy(), got.to_numpy())
    np.testing.assert_allclose(rows["yhat"], 1.2 * rows["naive"])  # naive from the same history
    assert set(rows["horizon"]) == {"1-7", "8-14", "15-28"} & set(horizon_bucket(rows["step"]))
    classes = abc_classes(top_items_demand[top_items_demand["ds"] < ORIGIN])
    assert (rows["abc_class"].to_numpy() == classes.reindex(rows["stock_code"]).to_numpy()).all()


def test_figures_per_segment_follow_from_their_rows(
    evaluated: tuple[DemandWindow, pd.DataFrame, pd.DataFrame], recommendations: pd.DataFrame
) -> None:
    window, rows, replayed = evaluated
    assert ALL in window.segments
    assert "horizon 1-7" in window.segments
    assert "abc A" in window.segments
    for segment, figures in window.segments.items():
        kind, _, value = segment.partition(" ")
        part = (
            rows
            if segment == ALL
            else rows[rows[{"horizon": "horizon", "abc": "abc_class"}[kind]] == value]
        )
        y, yhat, naive = (part[c].to_numpy() for c in ("y", "yhat", "naive"))
        assert figures["wape"] == pytest.approx(wape(y, yhat))
        assert figures["naive_wape"] == pytest.approx(wape(y, naive))
        assert figures["bias"] == pytest.approx(1.2 * (1 + bias(y, naive)) - 1)
        assert figures["fva"] == pytest.approx(1 - figures["wape"] / figures["naive_wape"])
        assert figures["rows"] == len(part)
    # the replay is the policy's own replay on each item's actual days
    item = replayed.iloc[0]
    rec = recommendations.set_index("stock_code").loc[item["stock_code"]]
    days = rows[rows["stock_code"] == item["stock_code"]].sort_values("ds")["y"].to_numpy()
    expected = replay(days, rec["reorder_point"], rec["order_quantity"], 7)
    assert item["fill_rate"] == pytest.approx(expected["fill_rate"])
    assert item["stockout_days"] == expected["stockout_days"]
    demanded = replayed["demanded"].sum()
    assert window.segments[ALL]["fill_rate"] == pytest.approx(replayed["served"].sum() / demanded)
    assert "fill_rate" not in window.segments["horizon 1-7"]  # a horizon cuts days, not items
    # one table row per segment and figure, NaN left out
    rows_out = window.metric_rows()
    assert {r.job for r in rows_out} == {JOB}
    assert {r.run_id for r in rows_out} == {"r1"}
    assert len(rows_out) == sum(sum(v == v for v in f.values()) for f in window.segments.values())
    again = type(window).from_dict(json.loads(json.dumps(window.to_dict())))
    assert again.segments == window.segments
    assert again.window_end == window.window_end


def test_a_forecast_with_no_known_day_is_one_error(
    served: pd.DataFrame, top_items_demand: pd.DataFrame
) -> None:
    with pytest.raises(DataError, match="too recent to judge"):
        window_rows(served, top_items_demand, str(ORIGIN.date()))
    with pytest.raises(DataError, match="lacks column"):
        window_rows(served.drop(columns="yhat"), top_items_demand, AS_OF)


def test_a_closed_forecast_day_is_counted_not_scored(
    served: pd.DataFrame, top_items_demand: pd.DataFrame
) -> None:
    first = served["ds"].min()
    closed = top_items_demand[top_items_demand["ds"] != first]  # nothing sold: the shop was shut
    framed = window_rows(served, closed, AS_OF)
    assert framed.closed_days == 1
    assert first not in set(framed.rows["ds"])


def test_abc_classes_split_revenue_80_15_5() -> None:
    demand = pd.DataFrame(
        {
            "stock_code": list("abcdef"),
            "y": [50.0, 30, 10, 5, 5, 0],
            "price": 1.0,
            "ds": pd.Timestamp("2011-01-03"),
        }
    )
    got = abc_classes(demand).to_dict()
    assert got == {"a": "A", "b": "A", "c": "B", "d": "B", "e": "C", "f": "C"}


def test_the_report_holds_evidently_computed_figures_and_panels_find_them(
    evaluated: tuple[DemandWindow, pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    from retail_mlops.monitoring.history import get_or_create_project, list_windows, read_metrics

    window, rows, replayed = evaluated
    snapshot = demand_report(rows, replayed, list(window.segments))
    values = {}
    for result in json.loads(snapshot.dumps())["metric_results"].values():
        params = result.get("metric_value_location", {}).get("metric", {}).get("params", {})
        if params.get("figure"):
            values[(params["segment"], params["figure"])] = result["value"]
    for segment, figures in window.segments.items():
        for figure, value in figures.items():
            if value == value:
                assert values[(segment, figure)] == pytest.approx(value), (segment, figure)
    recorded = record_demand_window(
        window, snapshot, metrics_db=tmp_path / "m.duckdb", workspace_dir=tmp_path / "evidently"
    )
    assert recorded.rows == len(read_metrics(tmp_path / "m.duckdb", job=JOB))
    ws = open_workspace(tmp_path / "evidently")
    project = get_or_create_project(ws, PROJECT_NAME)
    assert len(list_windows(ws, project.id)) == 1
    dashboard = ws.get_dashboard(project.id)
    assert {p.title for p in dashboard.panels} == {title for _, title, _, _ in PANELS}
