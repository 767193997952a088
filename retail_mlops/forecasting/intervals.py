"""Prediction intervals from backtest residuals, for every model alike.

Item demand here is intermittent (most items sell on few days, in lumps), so residuals are
skewed and far from Gaussian: a symmetric normal interval would go below zero and be too
narrow on the upside. The interval of a forecast is instead the forecast plus the empirical
quantiles of that item's own backtest residuals (actual - forecast) for its model, clipped at
zero. The lower bound is therefore often 0: on many days selling nothing is plausible.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def residual_quantiles(bt: pd.DataFrame, level: float = 0.8) -> pd.DataFrame:
    """Quantiles (1-level)/2 and (1+level)/2 of y - yhat per item and model.

    Returns:
        stock_code, model, q_lo, q_hi, sigma (RMSE of the residuals), mean_error (mean
        residual: how far the forecast sits below the average day), n_residuals.
    """
    lo, hi = (1 - level) / 2, (1 + level) / 2
    d = bt.assign(resid=bt["y"] - bt["yhat"]).dropna(subset=["resid"])
    g = d.groupby(["stock_code", "model"])["resid"]
    out = pd.DataFrame(
        {
            "q_lo": g.quantile(lo),
            "q_hi": g.quantile(hi),
            "sigma": g.apply(lambda r: float(np.sqrt(np.mean(np.square(r))))),
            "mean_error": g.mean(),
            "n_residuals": g.size(),
        }
    )
    return out.reset_index()


def apply_intervals(forecast: pd.DataFrame, quantiles: pd.DataFrame) -> pd.DataFrame:
    """Add yhat_lower / yhat_upper; an item without residuals gets a zero-width interval."""
    out = forecast.merge(
        quantiles[["stock_code", "model", "q_lo", "q_hi"]], on=["stock_code", "model"], how="left"
    )
    q_lo = pd.to_numeric(out["q_lo"], errors="coerce").fillna(0.0)
    q_hi = pd.to_numeric(out["q_hi"], errors="coerce").fillna(0.0)
    out["yhat_lower"] = (out["yhat"] + q_lo).clip(lower=0)
    out["yhat_upper"] = np.maximum(out["yhat"] + q_hi, out["yhat"])
    return out.drop(columns=["q_lo", "q_hi"])


def coverage(rows: pd.DataFrame) -> float:
    """Share of actuals inside [yhat_lower, yhat_upper]."""
    inside = (rows["y"] >= rows["yhat_lower"] - 1e-9) & (rows["y"] <= rows["yhat_upper"] + 1e-9)
    return float(inside.mean()) if len(rows) else float("nan")
