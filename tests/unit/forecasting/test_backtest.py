"""Unit tests for `evaluate` and `choose_models` in retail_mlops/forecasting/backtest.py.

The forecasts are hand-made, so every WAPE, MASE, bias and per-item choice below is worked out
by hand in the comments next to its assertion.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_mlops.forecasting.backtest import ENSEMBLE, choose_models, evaluate
from retail_mlops.forecasting.demand import Panel

DATES = pd.date_range("2011-01-03", periods=28, freq="D")  # four weeks from a Monday, all open
O1, O2 = DATES[14], DATES[21]  # the third and fourth Monday


def _panel() -> Panel:
    """A alternates 2 a day and 4 a day week by week (seasonal-naive error 2); B sells 5 a day.

    Actuals: A is 2 in the week of O1 and 4 in the week of O2; B is 5 every day, so its
    seasonal-naive scale is 0 and its MASE undefined.
    """
    a = np.repeat([2.0, 4.0, 2.0, 4.0], 7)
    b = np.full(28, 5.0)
    return Panel(
        np.array(["A", "B"], dtype=object), DATES, np.vstack([a, b]), np.full((2, 28), 1.0)
    )


def _rows(model: str, item: str, origin: pd.Timestamp, yhat: list[float]) -> pd.DataFrame:
    """Forecasts of the first len(yhat) days from `origin`."""
    i = DATES.get_loc(origin)
    return pd.DataFrame(
        {
            "model": model,
            "stock_code": item,
            "origin": origin,
            "ds": DATES[i : i + len(yhat)],
            "yhat": yhat,
        }
    )


def _pred() -> pd.DataFrame:
    """Two days forecast at each origin; |error| per day in the comments (actual A 2|4, B 5).

    origin  item  naive        xgboost
    O1      A     4,4  (2,2)   2,3  (0,1)
    O1      B     5,5  (0,0)   6,8  (1,3)
    O2      A     2,2  (2,2)   4,5  (0,1)
    O2      B     5,5  (0,0)   5,2  (0,3)
    """
    return pd.concat(
        [
            _rows("naive", "A", O1, [4, 4]),
            _rows("xgboost", "A", O1, [2, 3]),
            _rows("naive", "B", O1, [5, 5]),
            _rows("xgboost", "B", O1, [6, 8]),
            _rows("naive", "A", O2, [2, 2]),
            _rows("xgboost", "A", O2, [4, 5]),
            _rows("naive", "B", O2, [5, 5]),
            _rows("xgboost", "B", O2, [5, 2]),
        ],
        ignore_index=True,
    )


def _metrics(table: pd.DataFrame, **keys: str) -> pd.Series:
    mask = np.logical_and.reduce([table[k] == v for k, v in keys.items()])
    (row,) = table[mask].to_dict("records")
    return pd.Series(row)


# --- evaluate ---------------------------------------------------------------------------------


def test_evaluate_attaches_actuals_and_the_scale_known_at_each_origin() -> None:
    bt = evaluate(_pred(), _panel()).predictions
    a_o2 = bt[(bt["stock_code"] == "A") & (bt["origin"] == O2) & (bt["model"] == "naive")]
    assert a_o2["y"].tolist() == [4.0, 4.0]
    assert set(bt.loc[bt["stock_code"] == "A", "scale"]) == {2.0}  # every week-apart pair: 2
    assert set(bt.loc[bt["stock_code"] == "B", "scale"]) == {0.0}
    assert len(bt) == len(_pred())  # no prophet, so no ensemble rows


def test_evaluate_scores_each_model_and_the_held_out_choice_on_the_last_origin() -> None:
    agg = evaluate(_pred(), _panel()).aggregate
    all_items = agg[agg["scope"] == "all_items"]
    assert sorted(all_items["model"]) == ["choice", "naive", "xgboost"]
    assert agg[agg["scope"] == "prophet_items"].empty  # no item has a Prophet fit

    # At O2 the four actuals sum to 4 + 4 + 5 + 5 = 18.
    naive = _metrics(all_items, model="naive")  # errors -2, -2 (A), 0, 0 (B)
    assert naive["wape"] == pytest.approx(4 / 18)
    assert naive["bias"] == pytest.approx(-4 / 18)
    assert naive["mase"] == pytest.approx(1.0)  # A: 2/2 twice; B's scale is 0, so B is left out
    assert (naive["units"], naive["days"]) == (18, 4)

    xgb = _metrics(all_items, model="xgboost")  # errors 0, +1 (A), 0, -3 (B)
    assert xgb["wape"] == pytest.approx(4 / 18)
    assert xgb["bias"] == pytest.approx(-2 / 18)
    assert xgb["mase"] == pytest.approx(0.25)  # A: 0/2, 1/2
    assert xgb["smape"] == pytest.approx((0 + 2 / 9 + 0 + 2 * 3 / 7) / 4)

    # Chosen on O1 alone: pooled naive 4 < xgboost 5; A leaves it (xgboost 1 < 0.7 x 4), B
    # stays (naive 0). Scored on O2: A by xgboost (0, +1), B by naive (0, 0).
    choice = _metrics(all_items, model="choice")
    assert choice["wape"] == pytest.approx(1 / 18)
    assert choice["bias"] == pytest.approx(1 / 18)
    assert choice["mase"] == pytest.approx(0.25)
    assert choice["wape"] < min(naive["wape"], xgb["wape"])


def test_evaluate_per_item_metrics_cover_all_origins_and_the_choice_only_the_last() -> None:
    per = evaluate(_pred(), _panel()).per_sku
    naive_a = _metrics(per, model="naive", stock_code="A")  # +2, +2 at O1, -2, -2 at O2
    assert naive_a["wape"] == pytest.approx(8 / 12)
    assert naive_a["bias"] == pytest.approx(0.0)
    assert naive_a["days"] == 4
    naive_b = _metrics(per, model="naive", stock_code="B")
    assert naive_b["wape"] == 0.0
    assert np.isnan(naive_b["mase"])  # a flat history has no seasonal-naive error
    choice_a = _metrics(per, model="choice", stock_code="A")  # xgboost at O2: 0, +1 on 4, 4
    assert choice_a["wape"] == pytest.approx(1 / 8)
    assert choice_a["days"] == 2


def test_evaluate_final_choice_uses_every_origin() -> None:
    # Over O1 and O2: A naive 8, xgboost 2; B naive 0, xgboost 7. Pooled naive 8 < xgboost 9.
    result = evaluate(_pred(), _panel())
    assert dict(zip(result.choice["stock_code"], result.choice["model"], strict=True)) == {
        "A": "xgboost",  # 2 < 0.7 x 8
        "B": "naive",
    }


def test_held_out_choice_is_made_without_the_last_origin() -> None:
    # A's xgboost is good at O1 (1) but off by 4 a day at O2: chosen on O1 alone it is A's
    # model at O2, where the choice then scores (+4, +4 on A, 0, 0 on B) 8 / 18.
    pred = _pred()
    pred.loc[
        (pred["model"] == "xgboost") & (pred["stock_code"] == "A") & (pred["origin"] == O2), "yhat"
    ] = 8.0
    result = evaluate(pred, _panel())
    choice = _metrics(result.aggregate, model="choice", scope="all_items")
    assert choice["wape"] == pytest.approx(8 / 18)
    assert choice["bias"] == pytest.approx(8 / 18)
    # On both origins A's xgboost sums 1 + 8 = 9 > naive 8: the final choice is naive for all.
    assert set(result.choice["model"]) == {"naive"}


def test_evaluate_scale_is_the_seasonal_naive_error_known_before_each_origin() -> None:
    # C alternates 1 and 3 week by week (error 2) until a spike of 50 on O2 itself.
    y = np.repeat([1.0, 3.0, 1.0, 3.0], 7)
    y[21] = 50.0
    panel = Panel(np.array(["C"], dtype=object), DATES, y[None, :], np.full((1, 28), 1.0))
    pred = pd.concat(
        [_rows("naive", "C", O1, [3, 3]), _rows("naive", "C", O2, [1, 1])], ignore_index=True
    )
    bt = evaluate(pred, panel).predictions
    assert set(bt["scale"]) == {2.0}  # the spike on O2 is not history at O2
    per = _metrics(evaluate(pred, panel).per_sku, model="naive", stock_code="C")
    # |errors| 2, 2 at O1 (actual 1, 1) and 49, 2 at O2 (actual 50, 3), each over the scale 2
    assert per["mase"] == pytest.approx((2 + 2 + 49 + 2) / 4 / 2)


def test_evaluate_passes_the_switch_margin_on() -> None:
    # A needs xgboost under 10% of naive's 8 to leave the pooled naive: 2 is not.
    result = evaluate(_pred(), _panel(), switch_margin=0.9)
    assert set(result.choice["model"]) == {"naive"}
    assert _metrics(result.aggregate, model="choice", scope="all_items")["wape"] == pytest.approx(
        4 / 18
    )


def test_evaluate_adds_the_ensemble_and_scores_prophet_only_on_its_items() -> None:
    # A has a Prophet fit at both origins, B none.
    pred = pd.concat(
        [
            _pred(),
            _rows("prophet", "A", O1, [2, 1]),  # errors 0, -1
            _rows("prophet", "A", O2, [4, 3]),  # errors 0, -1
        ],
        ignore_index=True,
    )
    result = evaluate(pred, _panel())
    bt = result.predictions
    ens = bt[(bt["model"] == ENSEMBLE) & (bt["origin"] == O2)]
    assert ens["stock_code"].tolist() == ["A", "A"]
    assert ens["yhat"].tolist() == [4.0, 4.0]  # means of xgboost 4, 5 and prophet 4, 3
    agg = result.aggregate
    assert sorted(agg.loc[agg["scope"] == "all_items", "model"]) == ["choice", "naive", "xgboost"]
    on_a = agg[agg["scope"] == "prophet_items"]
    assert sorted(on_a["model"]) == ["choice", ENSEMBLE, "naive", "prophet", "xgboost"]
    assert set(on_a["units"]) == {8.0}  # item A's two days at O2 only
    assert _metrics(on_a, model=ENSEMBLE)["wape"] == 0.0
    # At O1 A offers all four models: naive 4, xgboost 1, prophet 1, ensemble 0 (2, 2 on 2, 2);
    # A is the only item offering them, so the pooled and the item's best are the ensemble.
    held = _metrics(on_a, model="choice")
    assert held["wape"] == 0.0


# --- choose_models ----------------------------------------------------------------------------


def _errors(rows: list[tuple[str, str, float]], origin: pd.Timestamp = O1) -> pd.DataFrame:
    """One backtest day per (item, model) with actual 10 and the given absolute error."""
    return pd.DataFrame(
        {
            "stock_code": [s for s, _, _ in rows],
            "model": [m for _, m, _ in rows],
            "origin": origin,
            "ds": origin,
            "yhat": [10.0 + e for _, _, e in rows],
            "y": 10.0,
        }
    )


def _choice(bt: pd.DataFrame, origins: list[pd.Timestamp], margin: float = 0.3) -> dict:
    out = choose_models(bt, origins, margin)
    return dict(zip(out["stock_code"], out["model"], strict=True))


def test_pooled_best_is_taken_over_the_items_that_offer_the_same_models() -> None:
    four = ["naive", "xgboost", "prophet", ENSEMBLE]
    rows = [
        # A, B have Prophet fits: pooled naive 7.2, xgboost 10, prophet 6.5, ensemble 8.25
        *[("A", m, e) for m, e in zip(four, [5, 4, 3.5, 3.75], strict=True)],
        *[("B", m, e) for m, e in zip(four, [2.2, 6, 3, 4.5], strict=True)],
        # C1, C2 have none: pooled naive 4 < xgboost 6.5
        ("C1", "naive", 3),
        ("C1", "xgboost", 2.5),
        ("C2", "naive", 1),
        ("C2", "xgboost", 4),
    ]
    assert _choice(_errors(rows), [O1]) == {
        "A": "prophet",  # its own best, and the pooled one
        "B": "prophet",  # naive 2.2 is not under 0.7 x 3 = 2.1
        # Pooled with A and B, Prophet (fitted on fewer items) would win the sum (6.5 < 11.2
        # for naive) and C1, which has no Prophet fit, would keep its raw best xgboost.
        "C1": "naive",  # xgboost 2.5 is not under 0.7 x 3 = 2.1
        "C2": "naive",
    }


@pytest.mark.parametrize(
    ("alt_error", "margin", "chosen"),
    [
        (7.0, 0.3, "naive"),  # exactly 30% smaller is not enough
        (6.9, 0.3, "xgboost"),
        (6.0, 0.5, "naive"),
        (4.9, 0.5, "xgboost"),
        (9.0, 0.0, "xgboost"),  # margin 0: each item's raw winner
        (10.0, 0.0, "naive"),  # a tie goes to the simpler model
    ],
)
def test_an_item_leaves_the_pooled_model_only_by_the_switch_margin(
    alt_error: float, margin: float, chosen: str
) -> None:
    # P anchors the pool: naive 0 + 10 < xgboost 20 + alt_error, so naive is the pooled best.
    rows = [
        ("P", "naive", 0),
        ("P", "xgboost", 20),
        ("Q", "naive", 10),
        ("Q", "xgboost", alt_error),
    ]
    assert _choice(_errors(rows), [O1], margin) == {"P": "naive", "Q": chosen}


def test_only_models_that_forecast_an_item_at_every_origin_compete() -> None:
    # Prophet is much better on A but forecast it at O1 only.
    bt = pd.concat(
        [
            _errors([("A", "naive", 4), ("A", "xgboost", 3), ("A", "prophet", 0)], O1),
            _errors([("A", "naive", 4), ("A", "xgboost", 3)], O2),
        ],
        ignore_index=True,
    )
    # Over both origins naive 8, xgboost 6; Prophet's 0 does not count.
    assert _choice(bt, [O1, O2], margin=0.0) == {"A": "xgboost"}
    assert _choice(bt, [O1, O2]) == {"A": "xgboost"}
    assert _choice(bt, [O1]) == {"A": "prophet"}  # at O1 alone Prophet forecast every origin


def test_choice_ignores_origins_it_is_not_given() -> None:
    bt = pd.concat(
        [
            _errors([("A", "naive", 0), ("A", "xgboost", 9)], O1),
            _errors([("A", "naive", 9), ("A", "xgboost", 0)], O2),
        ],
        ignore_index=True,
    )
    assert _choice(bt, [O1]) == {"A": "naive"}
    assert _choice(bt, [O2]) == {"A": "xgboost"}


@pytest.mark.parametrize(
    ("simple", "complex_"), [("xgboost", "prophet"), ("naive", ENSEMBLE), ("xgboost", ENSEMBLE)]
)
def test_a_tie_of_the_pooled_sums_goes_to_the_simpler_model(simple: str, complex_: str) -> None:
    bt = _errors([("A", simple, 2), ("A", complex_, -2)])
    assert _choice(bt, [O1], margin=0.0) == {"A": simple}
    assert _choice(bt, [O1]) == {"A": simple}
