"""Churn model performance on a window of predictions, once the window's outcomes are known.

A churn score made at `as_of` predicts "no order in [as_of, as_of + horizon)", so the outcome of
a window of predictions is observable only when the invoice lines reach the window's end plus
the horizon; before that the window is *not matured* and has drift figures only. Outcomes come
from `churn_labels`, the very rule the model was trained on, never a copy of it.

Plain functions, so a monitoring step, a notebook and the tests share them.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from retail_mlops.churn.metrics import classification_metrics
from retail_mlops.errors import DataError
from retail_mlops.features.customer import HORIZON_DAYS, churn_labels
from retail_mlops.io import atomic_write_bytes

# The ranking figure a retention campaign cares about: of the tenth it would contact, how many
# really leave. Computed on ceil(n / 10) rows, so a small window still has a top decile.
TOP_SHARE = 0.1
RELIABILITY_COLUMNS = ["bin", "lower", "upper", "mean_predicted", "observed_rate", "count"]


def window_matured(
    window_end: pd.Timestamp | str,
    data_end: pd.Timestamp | str,
    horizon_days: int = HORIZON_DAYS,
) -> bool:
    """True when every prediction of the window [start, window_end) has an observable outcome.

    A prediction made just before `window_end` is judged on the lines up to `window_end +
    horizon_days`; the lines must reach that far. The same rule as the A/B report's mature rows
    (`as_of + horizon <= data_end`), so the two never disagree on which rows can be judged.

    Args:
        window_end: The window's exclusive end (its last prediction is earlier).
        data_end: The latest invoice line's time (`lines["invoice_date"].max()`).
        horizon_days: The churn label's horizon.
    """
    if horizon_days <= 0:
        raise DataError(f"horizon_days must be positive, got {horizon_days}")
    return pd.Timestamp(window_end) + pd.Timedelta(days=horizon_days) <= pd.Timestamp(data_end)


def window_outcomes(
    predictions: pd.DataFrame,
    lines: pd.DataFrame,
    horizon_days: int = HORIZON_DAYS,
    id_column: str = "customer_id",
    as_of_column: str = "cutoff",
) -> pd.Series:
    """The churn outcome (0/1) of each prediction row, aligned with `predictions`' index.

    Args:
        predictions: One row per score, with the customer and the time its features were
            taken (batch predictions: `customer_id`, `cutoff`; the service log: `entity_id`,
            `as_of`).
        lines: Clean invoice lines (`customer_id`, `invoice_date`).
        horizon_days: The churn label's horizon.
        id_column: The customer column of `predictions`.
        as_of_column: The as-of column of `predictions`.

    Returns:
        A Series named `churned`.

    Raises:
        DataError: If a column is missing, or some prediction's outcome is not observable yet
            (an immature row would count as churn, as nobody has ordered *yet*).
    """
    for name, frame, cols in (
        ("predictions", predictions, (id_column, as_of_column)),
        ("invoice lines", lines, ("customer_id", "invoice_date")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(f"{name} lack column(s): {', '.join(missing)}")
    as_of = pd.to_datetime(predictions[as_of_column])
    data_end = pd.to_datetime(lines["invoice_date"]).max()
    latest = as_of.max()
    if pd.isna(latest) or not window_matured(latest, data_end, horizon_days):
        raise DataError(
            f"outcomes are not observable yet: the latest prediction ({latest}) + "
            f"{horizon_days} days is past the lines' end ({data_end})"
        )
    ids = predictions[id_column].astype(str)
    lines = lines.assign(customer_id=lines["customer_id"].astype(str))
    out = pd.Series(0, index=predictions.index, name="churned", dtype="int64")
    for when, group in ids.groupby(as_of):
        labels = churn_labels(lines, group.unique(), pd.Timestamp(when), horizon_days)
        out.loc[group.index] = group.map(labels).to_numpy()
    return out


def precision_at_top(y_true: np.ndarray, y_prob: np.ndarray, share: float = TOP_SHARE) -> float:
    """Churn rate among the `share` of rows with the highest scores (at least one row)."""
    y = np.asarray(y_true).astype(int)
    p = np.asarray(y_prob, dtype=float)
    k = max(1, math.ceil(share * len(y)))
    top = np.argsort(-p, kind="stable")[:k]  # stable: ties keep input order, so it is repeatable
    return float(y[top].mean())


def performance_metrics(y_true: np.ndarray, y_prob: np.ndarray) -> dict[str, float]:
    """The window's ranking and calibration figures, with the training run's metric keys.

    ROC AUC, PR AUC (average precision), log loss and Brier come from `classification_metrics`,
    so a live window compares with the champion's test figures key for key; F1 at 0.5 comes
    along. Added: precision and lift at the top decile, the base rate and the row count.

    Raises:
        DataError: If the window is empty or has only one outcome (AUCs are undefined).
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(y_prob, dtype=float)
    if len(y) != len(p):
        raise DataError(f"{len(y)} outcomes but {len(p)} scores")
    if len(y) == 0 or len(np.unique(y)) < 2:
        raise DataError(
            f"performance needs both outcomes in the window; got {len(y)} rows, "
            f"{int(y.sum()) if len(y) else 0} churned"
        )
    figures = classification_metrics(y, p)
    base_rate = float(y.mean())
    top = precision_at_top(y, p)
    figures.update(
        precision_top_decile=top,
        lift_top_decile=top / base_rate,
        base_rate=base_rate,
        n=float(len(y)),
    )
    return figures


def reliability_table(
    y_true: np.ndarray, y_prob: np.ndarray, bins: int = 10, strategy: str = "quantile"
) -> pd.DataFrame:
    """Mean predicted probability against the observed churn rate, per bin of the scores.

    Quantile bins are the default: churn scores crowd into part of [0, 1], so uniform bins
    leave some bins nearly empty (their observed rate is noise) and lump most rows in a few;
    quantile bins give each point about n / bins rows, so every point is equally trustworthy.
    Tied scores can merge quantile edges, so there may be fewer bins than asked. `uniform`
    (equal-width bins, sklearn's `calibration_curve` default) is there for comparison; its
    empty bins are left out.

    Returns:
        One row per non-empty bin: `bin`, `lower`, `upper`, `mean_predicted`,
        `observed_rate`, `count`.

    Raises:
        DataError: On an empty window, bins < 1 or an unknown strategy.
    """
    y = np.asarray(y_true).astype(float)
    p = np.asarray(y_prob, dtype=float)
    if len(p) == 0 or len(y) != len(p):
        raise DataError(f"reliability needs scores and outcomes alike; got {len(p)} and {len(y)}")
    if bins < 1:
        raise DataError(f"bins must be at least 1, got {bins}")
    if strategy == "quantile":
        edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    else:
        raise DataError(f"unknown bin strategy {strategy!r}: use 'quantile' or 'uniform'")
    # inner edges only: the lowest and highest scores fall into the first and last bins
    index = np.searchsorted(edges[1:-1], p, side="right")
    frame = pd.DataFrame({"bin": index, "p": p, "y": y})
    table = (
        frame.groupby("bin")
        .agg(mean_predicted=("p", "mean"), observed_rate=("y", "mean"), count=("y", "size"))
        .reset_index()
    )
    table["lower"] = edges[table["bin"]]
    table["upper"] = edges[np.minimum(table["bin"] + 1, len(edges) - 1)]
    return table[RELIABILITY_COLUMNS]


def reliability_plot(
    table: pd.DataFrame, path: Path | None = None, title: str = "Reliability"
) -> bytes:
    """A reliability diagram of `reliability_table`'s output as PNG bytes (also written to `path`).

    Drawn on a bare `Figure` (the Agg canvas, no pyplot), so no global backend is switched and
    no figure outlives the call in a long-running worker.
    """
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="perfectly calibrated")
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", color="C0", label="model")
    for x, y, n in zip(
        table["mean_predicted"], table["observed_rate"], table["count"], strict=True
    ):
        ax.annotate(str(int(n)), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted churn", ylabel="observed churn rate")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    data = buffer.getvalue()
    if path is not None:
        atomic_write_bytes(path, data)
    return data
