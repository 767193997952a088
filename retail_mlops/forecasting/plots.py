"""Forecast and inventory charts as matplotlib figures, and an HTML page of them."""

from __future__ import annotations

import base64
import io
from typing import Any

import pandas as pd


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def forecast_figure(
    history: pd.DataFrame, forecast: pd.DataFrame, title: str, days: int = 120
) -> Any:
    """The last `days` of history (ds, y) and the forecast with its interval."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    h = history.tail(days)
    ax.plot(h["ds"], h["y"], color="0.3", lw=0.8, label="units sold (open days)")
    ax.plot(forecast["ds"], forecast["yhat"], color="C0", lw=1.4, label="forecast")
    ax.fill_between(
        forecast["ds"],
        forecast["yhat_lower"],
        forecast["yhat_upper"],
        color="C0",
        alpha=0.2,
        label="interval",
    )
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def inventory_figure(recs: pd.DataFrame) -> Any:
    """Reorder point, safety stock and order quantity of the given items."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(recs) + 1.5))
    y = range(len(recs))
    ax.barh(y, recs["reorder_point"], color="C0", label="reorder point")
    ax.barh(y, recs["safety_stock"], color="C3", label="of which safety stock")
    ax.scatter(
        recs["order_quantity"], list(y), color="k", marker="|", s=200, label="order quantity (EOQ)"
    )
    ax.set_yticks(list(y), recs["stock_code"])
    ax.invert_yaxis()
    ax.set_xlabel("units")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def figures_html(figures: list[tuple[str, Any]], title: str) -> str:
    """One self-contained HTML page with the figures as inline PNGs (closes the figures)."""
    plt = _plt()
    parts = [
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><h2>{title}</h2>"
    ]
    for name, fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode()
        parts.append(f"<h4>{name}</h4><img src='data:image/png;base64,{data}'/>")
    parts.append("</body></html>")
    return "".join(parts)
