"""Rolling-origin backtest, per-item model choice, and the final forecast with intervals.

Origins are days; each backtest window is the `horizon` open days from the origin. Every
model forecasts every item listed before the origin from the history strictly before it.
The per-item choice is made on all origins but the last and scored on the last one, so the
"choice" figure is out of sample; the final forecast uses the choice made on all origins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from retail_mlops.config import Params
from retail_mlops.errors import DataError
from retail_mlops.features import feast_store
from retail_mlops.features.item import ItemHistory, by_origin, entity_rows
from retail_mlops.forecasting.demand import Panel, selling_days
from retail_mlops.forecasting.global_model import (
    GlobalParams,
    feature_origins,
    fit_global,
    predict_global,
)
from retail_mlops.forecasting.metrics import metric_table, naive_scale
from retail_mlops.forecasting.naive import seasonal_naive
from retail_mlops.forecasting.prophet import ProphetParams, ProphetTask, run_tasks

BASE_MODELS = ("naive", "xgboost", "prophet")
ENSEMBLE = "ensemble"  # mean of xgboost and prophet where both exist
MODEL_ORDER = {"naive": 0, "xgboost": 1, ENSEMBLE: 2, "prophet": 3}  # tie-break: simpler first


@dataclass
class BacktestSpec:
    """Where the backtest windows start and how long they are.

    Attributes:
        origins: Origin days (the first forecast day of each window), increasing.
        horizon: Open days forecast from each origin.
    """

    origins: list[pd.Timestamp]
    horizon: int

    def columns(self, panel: Panel) -> list[int]:
        """Column index of each origin in the panel.

        Raises:
            DataError: If an origin leaves too little history or too short a window.
        """
        cols = []
        for o in self.origins:
            i = panel.index_of(o)
            if i < 56 or i + self.horizon > len(panel.dates):
                raise DataError(
                    f"backtest origin {pd.Timestamp(o).date()} needs 56 open days before it and "
                    f"{self.horizon} after it (data covers {panel.dates[0].date()} .. "
                    f"{panel.dates[-1].date()})"
                )
            cols.append(i)
        return cols


def _long(panel: Panel, rows: np.ndarray, yhat: np.ndarray, targets, **cols) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    s, h = yhat.shape
    frame = pd.DataFrame(
        {
            "stock_code": np.repeat(panel.skus[rows], h),
            "ds": np.tile(np.asarray(targets), s),
            "yhat": yhat.reshape(-1),
        }
    )
    for k, v in cols.items():
        frame[k] = v
    return frame


def listed_before(panel: Panel, i: int) -> np.ndarray:
    """Rows of items with at least one listed open day before column i."""
    return np.flatnonzero((~np.isnan(panel.y[:, :i])).any(axis=1))


def global_backtest(
    panel: Panel,
    spec: BacktestSpec,
    params: GlobalParams,
    n_jobs: int = -1,
    day_features: Mapping[int, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Seasonal-naive and global XGBoost forecasts at every origin (long frame).

    `day_features`: item-day features per origin column (rows aligned to `panel.skus`), as the
    pipeline fetches them from the feature store; computed from the panel when None.
    """
    frames = []
    for i in spec.columns(panel):
        rows = listed_before(panel, i)
        targets = panel.dates[i : i + spec.horizon]
        hist_y, hist_p = panel.y[rows, :i], panel.price[rows, :i]
        origin = panel.dates[i]
        naive = seasonal_naive(hist_y, panel.dates[:i], targets)
        frames.append(_long(panel, rows, naive, targets, model="naive", origin=origin))
        model = fit_global(
            panel.y[:, :i],
            panel.price[:, :i],
            panel.dates[:i],
            i,
            spec.horizon,
            params,
            n_jobs,
            day_features,
        )
        at_origin = None if day_features is None else day_features[i][rows]
        xgb_pred = predict_global(model, hist_y, hist_p, panel.dates[:i], i, targets, at_origin)
        frames.append(_long(panel, rows, xgb_pred, targets, model="xgboost", origin=origin))
    return pd.concat(frames, ignore_index=True)


def global_forecast(
    panel: Panel,
    targets: pd.DatetimeIndex,
    horizon: int,
    params: GlobalParams,
    n_jobs: int = -1,
    day_features: Mapping[int, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, Any]:
    """Seasonal-naive and XGBoost forecasts of the future days from all the history."""
    rows = np.arange(len(panel.skus))
    t = len(panel.dates)
    naive = seasonal_naive(panel.y, panel.dates, targets)
    model = fit_global(panel.y, panel.price, panel.dates, t, horizon, params, n_jobs, day_features)
    at_origin = None if day_features is None else day_features[t]
    xgb_pred = predict_global(model, panel.y, panel.price, panel.dates, t, targets, at_origin)
    frame = pd.concat(
        [
            _long(panel, rows, naive, targets, model="naive"),
            _long(panel, rows, xgb_pred, targets, model="xgboost"),
        ],
        ignore_index=True,
    )
    return frame, model


def global_feature_origins(panel: Panel, spec: BacktestSpec, params: GlobalParams) -> list[int]:
    """Origin columns whose item-day features `global_backtest` and `global_forecast` read."""
    ends = [*spec.columns(panel), len(panel.dates)]
    return feature_origins(ends, spec.horizon, params)


def prophet_rows(
    panel: Panel, min_selling_days: int, shard: int = 0, n_shards: int = 1
) -> np.ndarray:
    """Rows Prophet fits in this shard: items with enough selling days, every n_shards-th."""
    rows = np.flatnonzero(selling_days(panel, len(panel.dates)) >= min_selling_days)
    return rows[shard::n_shards]


def prophet_shard(
    panel: Panel,
    spec: BacktestSpec,
    targets: pd.DatetimeIndex,
    params: ProphetParams,
    min_selling_days: int,
    shard: int = 0,
    n_shards: int = 1,
    n_jobs: int = 2,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Prophet backtest and final forecast for one shard of items.

    An item is fitted at an origin only if it had `min_selling_days` days with sales before it.

    Returns:
        (backtest frame: model, stock_code, origin, ds, yhat; final forecast frame: stock_code,
        ds, yhat, yhat_lower, yhat_upper; {stock_code: Prophet JSON} of the final models).
    """
    cols = spec.columns(panel)
    tasks = []
    for row in prophet_rows(panel, min_selling_days, shard, n_shards):
        hist = panel.series(row)
        cuts = []
        for i in cols:
            n_rows = int(np.searchsorted(hist["ds"].to_numpy(), panel.dates[i].to_datetime64()))
            if (hist["y"].to_numpy()[:n_rows] > 0).sum() >= min_selling_days:
                cuts.append((n_rows, panel.dates[i : i + spec.horizon].to_numpy()))
        tasks.append(
            ProphetTask(
                str(panel.skus[row]),
                hist["ds"].to_numpy(),
                hist["y"].to_numpy(),
                cuts,
                targets.to_numpy(),
            )
        )
    results = run_tasks(tasks, params, n_jobs=n_jobs, progress=progress)
    backtest, final, models = [], [], {}
    for task, res in zip(tasks, results, strict=True):
        for (_, tgt), yhat in zip(task.cuts, res["backtest"], strict=True):
            origin = pd.Timestamp(tgt[0])
            backtest.append(
                pd.DataFrame(
                    {
                        "model": "prophet",
                        "stock_code": task.key,
                        "origin": origin,
                        "ds": tgt,
                        "yhat": yhat,
                    }
                )
            )
        if res["final"] is not None:
            final.append(res["final"].assign(stock_code=task.key))
            models[task.key] = res["model_json"]
    bt_cols = ["model", "stock_code", "origin", "ds", "yhat"]
    fc_cols = ["stock_code", "ds", "yhat", "yhat_lower", "yhat_upper"]
    bt = pd.concat(backtest, ignore_index=True) if backtest else pd.DataFrame(columns=bt_cols)
    fc = pd.concat(final, ignore_index=True)[fc_cols] if final else pd.DataFrame(columns=fc_cols)
    return bt[bt_cols], fc, models


def with_ensemble(pred: pd.DataFrame) -> pd.DataFrame:
    """Add the mean of xgboost and prophet where both forecast the same item, origin, day."""
    keys = [c for c in ("stock_code", "origin", "ds") if c in pred.columns]
    both = pred[pred["model"].isin(["xgboost", "prophet"])]
    if both.empty:
        return pred
    wide = both.pivot_table(index=keys, columns="model", values="yhat")
    if not {"xgboost", "prophet"} <= set(wide.columns):
        return pred
    ens = wide[["xgboost", "prophet"]].dropna().mean(axis=1).rename("yhat").reset_index()
    return pd.concat([pred, ens.assign(model=ENSEMBLE)], ignore_index=True)


def attach_actuals(pred: pd.DataFrame, panel: Panel) -> pd.DataFrame:
    """Add the actual units `y` and the MASE `scale` of each item at each origin."""
    row = pd.Series(np.arange(len(panel.skus)), index=panel.skus)
    r = row.reindex(pred["stock_code"]).to_numpy()
    c = panel.dates.get_indexer(pd.to_datetime(pred["ds"]))
    out = pred.assign(y=panel.y[r, c])
    scales = []
    for origin in sorted(out["origin"].unique()):
        i = panel.index_of(origin)
        scales.append(
            pd.DataFrame(
                {
                    "stock_code": panel.skus,
                    "origin": pd.Timestamp(origin),
                    "scale": naive_scale(panel.y[:, :i], panel.dates[:i]),
                }
            )
        )
    out = out.merge(pd.concat(scales), on=["stock_code", "origin"], how="left")
    return out


SWITCH_MARGIN = 0.3  # picked on a held-out earlier origin (2011-06/07 chosen, 08 scored)
INTERVAL_LEVEL = 0.8


class ChoiceParams(Params):
    """How the per-item choice is made and scored."""

    interval_level: float = Field(
        default=INTERVAL_LEVEL, gt=0, lt=1, description="Nominal coverage"
    )
    switch_margin: float = Field(
        default=SWITCH_MARGIN,
        ge=0,
        lt=1,
        description="An item leaves the pooled best model only for one this much better",
    )


class ForecastParams(Params):
    """How the final forecast is assembled."""

    interval_level: float = Field(
        default=INTERVAL_LEVEL, gt=0, lt=1, description="Nominal coverage"
    )
    min_history_days: int = Field(
        default=56, ge=1, description="Items listed on fewer open days fall back to seasonal naive"
    )
    top_n_plots: int = Field(default=6, ge=0, description="Top items plotted")


def choose_models(
    bt: pd.DataFrame, origins: list[pd.Timestamp], switch_margin: float = SWITCH_MARGIN
) -> pd.DataFrame:
    """Per item, the pooled best model unless another one is clearly better on that item.

    The pooled best is the model with the smallest absolute error summed over the items that
    offer the same models (items with a Prophet fit, items without); an item leaves it only
    for a model whose own error there is at least `switch_margin` (a share) smaller. A few
    28-day windows of intermittent demand are noisy: picking each item's raw winner (margin
    0) chose losers often enough to score worse than the pooled best alone (all items, chosen
    on 2011-06/07, scored on 2011-08: WAPE 1.018 at margin 0, 0.946 at 0.1, 0.940 at 0.3).
    Only models that forecast the item at every one of those origins compete; ties go to
    the simpler model.
    Returns stock_code, model.
    """
    sel = bt[bt["origin"].isin(pd.DatetimeIndex(origins))]
    per = sel.assign(abs_err=(sel["yhat"] - sel["y"]).abs()).groupby(["stock_code", "model"])
    table = per.agg(abs_err=("abs_err", "sum"), n_origins=("origin", "nunique")).reset_index()
    table = table[table["n_origins"] == table.groupby("stock_code")["n_origins"].transform("max")]
    table["order"] = table["model"].map(MODEL_ORDER)
    best = table.sort_values(["stock_code", "abs_err", "order"]).groupby("stock_code").head(1)
    if table.empty or switch_margin <= 0:
        return best[["stock_code", "model"]].reset_index(drop=True)
    # Pool over items that offer the same models: a model fitted on fewer items (Prophet)
    # would otherwise win the pooled sum by covering less.
    offer = table.groupby("stock_code")["model"].agg(lambda m: ",".join(sorted(m)))
    table["offer"] = table["stock_code"].map(offer)
    sums = table.groupby(["offer", "model"])["abs_err"].sum().reset_index()
    sums["order"] = sums["model"].map(MODEL_ORDER)  # a tie goes to the simpler model
    pooled = sums.sort_values(["abs_err", "order"]).groupby("offer")["model"].first()
    pooled_model = table["offer"].map(pooled)
    pooled_err = table.loc[table["model"] == pooled_model].set_index("stock_code")
    best = best.set_index("stock_code")
    ref = pooled_err["abs_err"].reindex(best.index)
    stay = ref.notna() & ~(best["abs_err"] < (1 - switch_margin) * ref)
    best.loc[stay, "model"] = pooled_err["model"].reindex(best.index)[stay]
    return best.reset_index()[["stock_code", "model"]]


def choice_rows(bt: pd.DataFrame, choice: pd.DataFrame) -> pd.DataFrame:
    """The backtest rows of each item's chosen model, relabelled `choice`."""
    picked = bt.merge(choice, on=["stock_code", "model"], how="inner")
    return picked.assign(chosen=picked["model"], model="choice")


@dataclass
class BacktestResult:
    """Everything the backtest produces.

    Attributes:
        predictions: All backtest rows: model, stock_code, origin, ds, yhat, y, scale.
        per_sku: Metrics per model and item over all origins, plus the held-out choice.
        aggregate: Metrics per model over all items at the held-out (last) origin.
        choice: The final per-item choice (on all origins): stock_code, model.
    """

    predictions: pd.DataFrame
    per_sku: pd.DataFrame
    aggregate: pd.DataFrame
    choice: pd.DataFrame


def evaluate(
    pred: pd.DataFrame, panel: Panel, switch_margin: float = SWITCH_MARGIN
) -> BacktestResult:
    """Score every model, choose per item, and score the choice on the held-out origin."""
    bt = attach_actuals(with_ensemble(pred), panel)
    origins = sorted(pd.DatetimeIndex(bt["origin"].unique()))
    last = origins[-1]
    held_choice = choose_models(bt, origins[:-1] if len(origins) > 1 else origins, switch_margin)
    items = pd.DataFrame({"stock_code": bt.loc[bt["origin"] == last, "stock_code"].unique()})
    held_choice = items.merge(held_choice, how="left").fillna({"model": "naive"})
    held = choice_rows(bt[bt["origin"] == last], held_choice)
    last_rows = pd.concat([bt[bt["origin"] == last], held.drop(columns="chosen")])
    # Compare models on the same items: all items (models that cover all), and the items
    # Prophet covers (every model).
    prophet_items = set(last_rows.loc[last_rows["model"] == "prophet", "stock_code"])
    scopes = [
        metric_table(last_rows[~last_rows["model"].isin(["prophet", ENSEMBLE])], ["model"]).assign(
            scope="all_items"
        ),
        metric_table(last_rows[last_rows["stock_code"].isin(prophet_items)], ["model"]).assign(
            scope="prophet_items"
        ),
    ]
    aggregate = pd.concat(scopes, ignore_index=True)
    per_sku = metric_table(pd.concat([bt, held.drop(columns="chosen")]), ["model", "stock_code"])
    final_choice = choose_models(bt, origins, switch_margin)
    return BacktestResult(bt, per_sku, aggregate, final_choice)


def final_forecast(
    panel: Panel,
    future: pd.DataFrame,
    choice: pd.DataFrame,
    quantiles: pd.DataFrame,
    min_history_days: int,
) -> pd.DataFrame:
    """Each item's forecast from its chosen model, with intervals and the reason for the model.

    Items listed on fewer than `min_history_days` open days fall back to the seasonal-naive
    model (`fallback` True, reason `short_history`), as do items the backtest never saw.

    Args:
        panel: The full history.
        future: Future forecasts of every model: model, stock_code, ds, yhat.
        choice: stock_code, model from `choose_models` on all origins.
        quantiles: Residual quantiles from `residual_quantiles`.
        min_history_days: Fewest listed open days for a model choice.

    Returns:
        stock_code, ds, yhat, yhat_lower, yhat_upper, model, fallback, reason.
    """
    from retail_mlops.forecasting.intervals import apply_intervals

    future = with_ensemble(future)
    listed = pd.Series((~np.isnan(panel.y)).sum(axis=1), index=panel.skus, name="listed")
    plan = listed.rename_axis("stock_code").reset_index().merge(choice, how="left")
    plan["reason"] = np.where(plan["model"].isna(), "no_backtest", "backtest_choice")
    short = plan["listed"] < min_history_days
    plan.loc[short, "reason"] = "short_history"
    plan.loc[short | plan["model"].isna(), "model"] = "naive"
    available = set(zip(future["stock_code"], future["model"], strict=True))
    missing = [
        (s, m) not in available for s, m in zip(plan["stock_code"], plan["model"], strict=True)
    ]
    plan.loc[missing, ["model", "reason"]] = ["xgboost", "chosen_model_failed"]
    plan["fallback"] = plan["reason"] != "backtest_choice"
    out = future.merge(
        plan[["stock_code", "model", "fallback", "reason"]], on=["stock_code", "model"]
    )
    out = apply_intervals(out, quantiles)
    cols = ["stock_code", "ds", "yhat", "yhat_lower", "yhat_upper", "model", "fallback", "reason"]
    return out[cols].sort_values(["stock_code", "ds"]).reset_index(drop=True)


def fetch_day_features(
    store: Any, panel: Panel, spec: BacktestSpec, params: GlobalParams
) -> dict[int, np.ndarray]:
    """The global model's item-day features from the feature store, point in time.

    One Feast `get_historical_features` call for every (listed item, origin) the backtest and
    the future forecast read; each row is the latest `item_daily_features` row at or before the
    origin, so nothing after it can enter.

    Raises:
        DataError: If an origin finds no rows (the table was not written for this data).
    """
    history = ItemHistory(panel.y, panel.price, panel.dates)
    origins = global_feature_origins(panel, spec, params)
    entities = entity_rows(history, panel.skus, origins)
    frame = feast_store.historical_features(store, entities, "item_daily_features")
    return by_origin(frame, history, panel.skus, origins)
