"""Prophet per item, fitted in parallel over processes with a progress bar.

Each item is fitted on its open days only (closed days are absent, not zero), with weekly and
yearly seasonality and the country's public holidays. Backtest fits skip Prophet's interval
sampling (`uncertainty_samples=0`, the costly part of `predict`): intervals come from the
backtest residuals instead (see `retail_mlops.forecasting.intervals`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field

from retail_mlops.config import Params


@dataclass
class ProphetParams:
    """Prophet settings; None for a seasonality means Prophet's own default ('auto')."""

    weekly_seasonality: bool | None = True
    yearly_seasonality: bool | None = True
    country_holidays: str | None = "UK"
    seasonality_mode: str = "additive"
    changepoint_prior_scale: float = 0.05
    interval_width: float = 0.8
    uncertainty_samples: int = 0


class ProphetShardParams(Params):
    """What a pipeline may tune of Prophet per shard; the rest is `ProphetParams`' own."""

    changepoint_prior_scale: float = Field(
        default=ProphetParams().changepoint_prior_scale, gt=0, description="Trend flexibility"
    )
    interval_width: float = Field(
        default=ProphetParams().interval_width,
        gt=0,
        lt=1,
        description="Prophet's own interval width",
    )


@dataclass
class ProphetTask:
    """One item: its history and the fits to make.

    Attributes:
        key: Item code.
        ds: Open days of the history.
        y: Units on those days (no NaN).
        cuts: For each backtest origin, (number of leading history rows to fit on, target days).
        final: Target days of the final forecast (fit on all rows), or None.
    """

    key: str
    ds: np.ndarray
    y: np.ndarray
    cuts: list[tuple[int, np.ndarray]] = field(default_factory=list)
    final: np.ndarray | None = None


def _quiet() -> None:
    for name in ("prophet", "cmdstanpy"):
        logging.getLogger(name).setLevel(logging.ERROR)
        logging.getLogger(name).propagate = False


@functools.cache
def holidays_frame(country: str, first_year: int, last_year: int) -> pd.DataFrame:
    """A country's public holidays over a span of years, built once per process.

    `add_country_holidays` rebuilds this table from the `holidays` package in every fit and
    every predict; passing it as `holidays=` gives the same model for less work.
    """
    from prophet.make_holidays import make_holidays_df

    return make_holidays_df(year_list=list(range(first_year, last_year + 1)), country=country)


def _stan_arrays(init: dict[str, Any], data: dict[str, Any]) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """Prophet's `prepare_data`, keeping numpy arrays instead of converting them to lists.

    cmdstanpy writes the data with stanio, which walks a Python list element by element
    (the 600 x 40 regression matrix: ~7 ms a fit) but converts a numpy array in one call.
    The JSON cmdstan reads is the same either way; a test holds the fits equal.
    """
    scalars = ("T", "S", "K", "tau", "trend_indicator", "sigmas")
    stan_data = {k: data[k] for k in scalars}
    for k in ("y", "t", "cap", "t_change", "s_a", "s_m"):
        stan_data[k] = np.asarray(data[k])
    stan_data["X"] = np.asarray(data["X"], dtype=float)
    stan_init = {
        "k": init["k"],
        "m": init["m"],
        "delta": np.asarray(init["delta"]),
        "beta": np.asarray(init["beta"]),
        "sigma_obs": init["sigma_obs"],
    }
    return stan_init, stan_data


def make_prophet(params: ProphetParams, years: tuple[int, int] | None = None) -> Any:
    """A configured, unfitted Prophet model.

    With `years` (first and last year the model will see, history and forecast), the fast
    path: the country's holidays come from the per-process cache and the data reaches cmdstan
    as numpy arrays (`_stan_arrays`); without, Prophet does both its own way (the reference
    the fast path is tested against).
    """
    from prophet import Prophet

    kwargs: dict[str, Any] = {
        "seasonality_mode": params.seasonality_mode,
        "changepoint_prior_scale": params.changepoint_prior_scale,
        "interval_width": params.interval_width,
        "uncertainty_samples": params.uncertainty_samples,
        "daily_seasonality": False,
    }
    if params.weekly_seasonality is not None:
        kwargs["weekly_seasonality"] = params.weekly_seasonality
    if params.yearly_seasonality is not None:
        kwargs["yearly_seasonality"] = params.yearly_seasonality
    if params.country_holidays and years is not None:
        kwargs["holidays"] = holidays_frame(params.country_holidays, *years)
    model = Prophet(**kwargs)
    backend: Any = model.stan_backend
    if years is not None and hasattr(backend, "prepare_data"):
        backend.prepare_data = _stan_arrays
    if params.country_holidays and years is None:
        model.add_country_holidays(country_name=params.country_holidays)
    return model


def _regression_features(model: Any, df: pd.DataFrame) -> pd.DataFrame:
    """The regression matrix Prophet builds for `df`, in its training column order.

    `make_all_seasonality_features` also rebuilds the component-to-column table with pandas
    crosstabs, half its cost; a fitted model already keeps that table (`train_component_cols`).
    """
    parts = []
    for name, props in model.seasonalities.items():
        features = model.make_seasonality_features(
            df["ds"], props["period"], props["fourier_order"], name
        )
        if props["condition_name"] is not None:
            features[~df[props["condition_name"]]] = 0
        parts.append(features)
    holidays = model.construct_holiday_dataframe(df["ds"])
    if len(holidays) > 0:
        parts.append(model.make_holiday_features(df["ds"], holidays)[0])
    parts.extend(pd.DataFrame(df[name]) for name in model.extra_regressors)
    if not parts:
        parts.append(pd.DataFrame({"zeros": np.zeros(len(df))}))
    return pd.concat(parts, axis=1)


def mean_forecast(model: Any, ds: pd.Series) -> np.ndarray:
    """Prophet's point forecast (MAP parameters), without its per-component tables.

    `Prophet.predict` also builds a table per seasonality component (a pivot each), which is
    a quarter of a fit's cost and unused here. This is its own formula: yhat = trend *
    (1 + multiplicative terms) + additive terms, from the same features and the fitted
    model's component table; a test holds it equal to `predict`.
    """
    df = model.setup_dataframe(pd.DataFrame({"ds": ds}))
    trend = np.asarray(model.predict_trend(df), float)
    x = _regression_features(model, df).to_numpy(dtype=float)
    components = model.train_component_cols
    beta = np.nanmean(model.params["beta"], axis=0)
    additive = x @ (components["additive_terms"].to_numpy() * beta) * model.y_scale
    multiplicative = x @ (components["multiplicative_terms"].to_numpy() * beta)
    return np.asarray(trend * (1 + multiplicative) + additive, float)


def fit_predict(
    ds: Sequence[Any] | np.ndarray | pd.Series,
    y: Sequence[float] | np.ndarray | pd.Series,
    targets: Iterable[Any],
    params: ProphetParams,
) -> tuple[Any, pd.DataFrame]:
    """Fit one Prophet model and predict the target days (yhat clipped at 0).

    Returns:
        The fitted model and a frame ds, yhat, yhat_lower, yhat_upper.
    """
    _quiet()
    history = pd.DataFrame({"ds": pd.to_datetime(np.asarray(ds)), "y": np.asarray(y, float)})
    days = pd.Series(pd.to_datetime(np.asarray(list(targets))))
    years = (int(history["ds"].min().year), int(max(history["ds"].max(), days.max()).year) + 1)
    model = make_prophet(params, years)
    model.fit(history)
    out = pd.DataFrame({"ds": days})
    if params.uncertainty_samples == 0:
        # no interval sampling: the bounds equal the point forecast (intervals come later)
        out["yhat"] = mean_forecast(model, days)
        out["yhat_lower"] = out["yhat_upper"] = out["yhat"]
    else:
        fc = model.predict(out[["ds"]])
        for c in ("yhat", "yhat_lower", "yhat_upper"):
            out[c] = fc[c].to_numpy()
    for c in ("yhat", "yhat_lower", "yhat_upper"):
        out[c] = out[c].clip(lower=0)
    return model, out


def run_task(task: ProphetTask, params: ProphetParams) -> dict[str, Any]:
    """All fits of one item: backtest forecasts per cut and the final model as JSON.

    A series Prophet cannot fit (constant, too short) gets NaN forecasts and no model.
    """
    from prophet.serialize import model_to_json

    result: dict[str, Any] = {"key": task.key, "backtest": [], "final": None, "model_json": None}
    backtest_params = ProphetParams(**{**asdict(params), "uncertainty_samples": 0})
    for n_rows, targets in task.cuts:
        try:
            _, fc = fit_predict(task.ds[:n_rows], task.y[:n_rows], targets, backtest_params)
            result["backtest"].append(fc["yhat"].to_numpy())
        except (ValueError, RuntimeError):
            result["backtest"].append(np.full(len(targets), np.nan))
    if task.final is not None:
        try:
            model, fc = fit_predict(task.ds, task.y, task.final, params)
            result["final"] = fc
            result["model_json"] = model_to_json(model)
        except (ValueError, RuntimeError):
            result["final"] = None
    return result


def _run_star(args: tuple[ProphetTask, ProphetParams]) -> dict[str, Any]:
    return run_task(*args)


def run_tasks(
    tasks: list[ProphetTask], params: ProphetParams, n_jobs: int = 2, progress: bool = True
) -> list[dict[str, Any]]:
    """Run tasks over a process pool (sequentially when n_jobs <= 1), with a tqdm bar."""
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="prophet", unit="series", disable=not progress)
    results: list[dict[str, Any]] = []
    if n_jobs <= 1 or len(tasks) <= 1:
        for t in tasks:
            results.append(run_task(t, params))
            bar.update()
    else:
        chunk = max(1, min(16, len(tasks) // (n_jobs * 8)))
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=get_context("spawn")) as pool:
            for r in pool.map(_run_star, [(t, params) for t in tasks], chunksize=chunk):
                results.append(r)
                bar.update()
    bar.close()
    return results


class ProphetModels(dict[str, str]):
    """Fitted Prophet models by item, each kept as Prophet's own JSON (never pickled)."""

    def model(self, key: str) -> Any:
        """The fitted Prophet model of one item."""
        from prophet.serialize import model_from_json

        return model_from_json(self[key])
