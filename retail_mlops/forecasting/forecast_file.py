"""Forecast any CSV of daily series: read and check it, backtest, choose, forecast.

The file has a date column, a value column and optionally a series id column. Days absent
from the file are closed days (as in the retail data): weekdays that never trade get no
forecast. `auto` backtests every model on the last `origins` windows of `horizon` open days
and chooses per series as the demand pipeline does (`backtest.choose_models`: the pooled best
model unless another is clearly better on the series), then refits on everything.
Intervals: Prophet's own for `prophet`; otherwise the empirical quantiles of the hold-out
residuals (see `intervals`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from retail_mlops.calendar import OpenCalendar
from retail_mlops.config import Strict, load_yaml_file, schema_error
from retail_mlops.errors import DataError
from retail_mlops.forecasting.backtest import SWITCH_MARGIN, choose_models
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.global_model import GlobalParams, fit_global, predict_global
from retail_mlops.forecasting.intervals import apply_intervals, residual_quantiles
from retail_mlops.forecasting.naive import seasonal_naive
from retail_mlops.forecasting.prophet import ProphetParams, fit_predict

MODELS = ("auto", "prophet", "xgboost", "naive")
DEFAULT_ID = "series"
PROPHET_DEFAULTS = ProphetParams(
    weekly_seasonality=None,
    yearly_seasonality=None,
    country_holidays=None,
    uncertainty_samples=1000,
)


class ProphetSettings(Strict):
    """`prophet:` of a forecast-file config; unset keys keep Prophet's own defaults."""

    weekly_seasonality: bool | None = None
    yearly_seasonality: bool | None = None
    country_holidays: str | None = None
    seasonality_mode: Literal["additive", "multiplicative"] = "additive"
    changepoint_prior_scale: float = Field(default=0.05, gt=0)
    interval_width: float = Field(default=0.8, gt=0, lt=1)
    uncertainty_samples: int = Field(default=1000, ge=0)


class ChoiceSettings(Strict):
    """`choice:` of a forecast-file config: the backtest the `auto` choice is made on."""

    origins: int = Field(default=1, ge=1, le=12, description="Hold-out windows of `horizon` days")
    switch_margin: float = Field(default=SWITCH_MARGIN, ge=0, lt=1)


# A file's series are usually shorter than the shop's two years: fewer training origins.
FILE_GLOBAL = GlobalParams(train_origins=20)


class ForecastFileConfig(Strict):
    """A `run.py forecast-file --config` file."""

    prophet: ProphetSettings = ProphetSettings()
    choice: ChoiceSettings = ChoiceSettings()
    global_model: GlobalParams = FILE_GLOBAL


@dataclass(frozen=True)
class FileSettings:
    """What a forecast-file run uses: the models' settings and the choice's backtest."""

    prophet: ProphetParams = field(default_factory=lambda: PROPHET_DEFAULTS)
    global_model: GlobalParams = FILE_GLOBAL
    origins: int = 1
    switch_margin: float = SWITCH_MARGIN


def file_settings(path: Path | None) -> FileSettings:
    """Settings from a forecast-file config, else the defaults.

    Raises:
        DataError: If the file is missing, not YAML, or names an unknown or invalid setting.
    """
    if path is None:
        return FileSettings()
    from pydantic import ValidationError

    raw = load_yaml_file(path)
    try:
        cfg = ForecastFileConfig.model_validate(raw)
    except ValidationError as exc:
        raise schema_error(str(path), exc) from exc
    given = cfg.prophet.model_dump(exclude_unset=True)
    return FileSettings(
        prophet=ProphetParams(**{**PROPHET_DEFAULTS.__dict__, **given}),
        global_model=cfg.global_model,
        origins=cfg.choice.origins,
        switch_margin=cfg.choice.switch_margin,
    )


def prophet_params(path: Path | None) -> ProphetParams:
    """Prophet settings from a forecast-file config (`prophet:` mapping), else the defaults.

    Raises:
        DataError: If the file is missing, not YAML, or names an unknown or invalid setting.
    """
    return file_settings(path).prophet


def min_rows(model: str, horizon: int, origins: int = 1) -> int:
    """Fewest rows a series needs (auto/xgboost: `origins` hold-outs of `horizon` + 4 weeks)."""
    return horizon * origins + 28 if model in ("auto", "xgboost") else 14


def read_series_file(
    path: Path, date_col: str = "ds", value_col: str = "y", id_col: str = "series_id"
) -> pd.DataFrame:
    """Read and check the file; return series_id, ds, y sorted.

    Raises:
        DataError: One line naming the problem: missing file, unreadable, missing column,
            unparsable dates, non-numeric values, duplicate days, no rows.
    """
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    for col, what in ((date_col, "date"), (value_col, "value")):
        if col not in raw.columns:
            cols = ", ".join(map(str, raw.columns[:10]))
            raise DataError(f"{path}: no {what} column {col!r} (columns: {cols}); see --{what}-col")
    if raw.empty:
        raise DataError(f"{path}: the file has no rows")
    ds = pd.to_datetime(raw[date_col], errors="coerce", format="mixed")
    if ds.isna().any():
        bad = raw.loc[ds.isna(), date_col]
        raise DataError(
            f"{path}: {len(bad)} value(s) in column {date_col!r} are not dates "
            f"(first: {bad.iloc[0]!r})"
        )
    y = pd.to_numeric(raw[value_col], errors="coerce")
    if y.isna().any() or not np.isfinite(y).all():
        bad = raw.loc[y.isna() | ~np.isfinite(y.fillna(0)), value_col]
        raise DataError(
            f"{path}: {len(bad)} value(s) in column {value_col!r} are not numbers "
            f"(first: {bad.iloc[0]!r})"
        )
    ids = (
        raw[id_col].astype(str) if id_col in raw.columns else pd.Series(DEFAULT_ID, index=raw.index)
    )
    out = pd.DataFrame(
        {"series_id": ids, "ds": ds.dt.tz_localize(None).dt.normalize(), "y": y.astype(float)}
    )
    dup = out.duplicated(["series_id", "ds"])
    if dup.any():
        first = out.loc[dup].iloc[0]
        raise DataError(
            f"{path}: {int(dup.sum())} duplicate day(s), e.g. series "
            f"{first['series_id']!r} on {first['ds'].date()}"
        )
    return out.sort_values(["series_id", "ds"]).reset_index(drop=True)


def _predict(
    model: str,
    panel: Panel,
    i: int,
    targets: pd.DatetimeIndex,
    horizon: int,
    settings: FileSettings,
) -> pd.DataFrame:
    """Forecasts of one model for every series from the history before column i."""
    y, dates = panel.y[:, :i], panel.dates[:i]
    lower = upper = None
    if model == "naive":
        yhat = seasonal_naive(y, dates, targets)
    elif model == "xgboost":
        fitted = fit_global(
            y, panel.price[:, :i], dates, i, horizon, settings.global_model, n_jobs=2
        )
        yhat = predict_global(fitted, y, panel.price[:, :i], dates, i, targets)
    else:
        yhat, lower, upper = (np.zeros((len(panel.skus), len(targets))) for _ in range(3))
        for r in range(len(panel.skus)):
            hist = panel.series(r, i)
            _, fc = fit_predict(hist["ds"], hist["y"], targets, settings.prophet)
            yhat[r], lower[r], upper[r] = fc["yhat"], fc["yhat_lower"], fc["yhat_upper"]
    frame = pd.DataFrame(
        {
            "stock_code": np.repeat(panel.skus, len(targets)),
            "ds": np.tile(np.asarray(targets), len(panel.skus)),
            "yhat": yhat.reshape(-1),
            "model": model,
        }
    )
    if lower is not None and upper is not None:
        frame["yhat_lower"], frame["yhat_upper"] = lower.reshape(-1), upper.reshape(-1)
    return frame


def future_days(dates: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The next `horizon` days: open days for daily data, else the file's own step."""
    step = pd.Series(dates).diff().dt.days.median() if len(dates) > 1 else 1
    if step and step > 1.5:
        return pd.DatetimeIndex(
            [dates[-1] + pd.Timedelta(days=int(step) * k) for k in range(1, horizon + 1)]
        )
    return OpenCalendar(dates, country=None).next_open_days(
        dates[-1] + pd.Timedelta(days=1), horizon
    )


def forecast_series(
    series: pd.DataFrame,
    horizon: int,
    model: str = "auto",
    level: float = 0.8,
    settings: FileSettings | None = None,
) -> pd.DataFrame:
    """Forecast every series of a checked file.

    `settings` are the models' settings and the choice's backtest (defaults unless a
    `--config` file says otherwise, see `file_settings`).

    Returns:
        series_id, ds, yhat, yhat_lower, yhat_upper, model.

    Raises:
        DataError: If a series is too short for the model.
    """
    settings = settings or FileSettings()
    need = min_rows(model, horizon, settings.origins)
    counts = series.groupby("series_id").size()
    short = counts[counts < need]
    if len(short):
        raise DataError(
            f"series {short.index[0]!r} has {int(short.iloc[0])} rows; --model {model} with "
            f"--horizon {horizon} and {settings.origins} origin(s) needs at least {need}"
        )
    panel = Panel.from_long(series.rename(columns={"series_id": "stock_code"}))
    candidates = ["naive", "xgboost", "prophet"] if model == "auto" else [model]
    targets = future_days(panel.dates, horizon)
    # Backtest windows of `horizon` days at the end: residuals for intervals, and the choice.
    starts = [len(panel.dates) - horizon * k for k in range(settings.origins, 0, -1)]
    frames = [
        _predict(m, panel, i, panel.dates[i : i + horizon], horizon, settings).assign(
            origin=panel.dates[i]
        )
        for i in starts
        for m in candidates
        if m != "prophet" or model == "auto"
    ]
    holdout = pd.concat(
        frames or [pd.DataFrame(columns=["stock_code", "ds", "yhat", "model", "origin"])],
        ignore_index=True,
    )
    holdout["y"] = panel.y[
        pd.Index(panel.skus).get_indexer(holdout["stock_code"]),
        panel.dates.get_indexer(holdout["ds"]),
    ]
    holdout = holdout.dropna(subset=["y"])
    if model == "auto":
        origins = [panel.dates[i] for i in starts]
        chosen = choose_models(holdout, origins, settings.switch_margin)
    else:
        chosen = pd.DataFrame({"stock_code": panel.skus, "model": model})
    t = len(panel.dates)
    future = pd.concat(
        [_predict(m, panel, t, targets, horizon, settings) for m in sorted(set(chosen["model"]))],
        ignore_index=True,
    )
    future = future.merge(chosen[["stock_code", "model"]], on=["stock_code", "model"])
    if "yhat_lower" not in future or future["yhat_lower"].isna().any():
        own = future.get("yhat_lower")
        with_res = apply_intervals(
            future.drop(columns=["yhat_lower", "yhat_upper"], errors="ignore"),
            residual_quantiles(holdout, level),
        )
        if own is not None:
            keep = own.notna()
            with_res.loc[keep, "yhat_lower"] = future.loc[keep, "yhat_lower"]
            with_res.loc[keep, "yhat_upper"] = future.loc[keep, "yhat_upper"]
        future = with_res
    out = future.rename(columns={"stock_code": "series_id"})
    return (
        out[["series_id", "ds", "yhat", "yhat_lower", "yhat_upper", "model"]]
        .sort_values(["series_id", "ds"])
        .reset_index(drop=True)
    )
