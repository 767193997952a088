"""Step: score every model on the backtest, choose per item, log to MLflow."""

from typing import Annotated, Any

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.forecasting.backtest import ChoiceParams, evaluate
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.intervals import apply_intervals, coverage, residual_quantiles
from retail_mlops.names import A

logger = get_logger(__name__)


DEFAULTS = ChoiceParams()  # the step's defaults; bounds and types are the model's


@step
def evaluate_forecasts(
    demand: pd.DataFrame,
    global_backtest: pd.DataFrame,
    prophet_backtest: pd.DataFrame,
    interval_level: float = DEFAULTS.interval_level,
    switch_margin: float = DEFAULTS.switch_margin,
) -> tuple[
    Annotated[pd.DataFrame, A.BACKTEST_PREDICTIONS],
    Annotated[pd.DataFrame, A.BACKTEST_METRICS],
    Annotated[dict[str, Any], A.BACKTEST_SUMMARY],
    Annotated[pd.DataFrame, A.MODEL_CHOICE],
]:
    """WAPE, MASE, sMAPE and bias per model and item; the per-item choice and its score.

    The choice is made on all origins but the last and scored on the last (out of sample);
    the interval coverage is checked the same way.

    Args:
        demand: Daily demand (for the actuals and MASE scales).
        global_backtest: Naive and XGBoost backtest forecasts.
        prophet_backtest: Prophet backtest forecasts.
        interval_level: Nominal coverage of the intervals.
        switch_margin: An item leaves the pooled best model only for one at least this much
            (a share of its error) better on it; 0 picks each item's raw winner.

    Returns:
        All backtest rows with actuals, per-item metrics, the aggregate summary, and the final
        per-item model choice.
    """
    params = ChoiceParams.of(locals())
    import mlflow

    panel = Panel.from_long(demand)
    result = evaluate(
        pd.concat([global_backtest, prophet_backtest], ignore_index=True),
        panel,
        params.switch_margin,
    )
    bt = result.predictions
    origins = sorted(bt["origin"].unique())
    early, last = bt[bt["origin"] != origins[-1]], bt[bt["origin"] == origins[-1]]
    held = apply_intervals(last, residual_quantiles(early, params.interval_level))
    cover = coverage(held[held["model"] == "xgboost"]) if len(origins) > 1 else float("nan")

    summary: dict[str, Any] = {"origins": [str(pd.Timestamp(o).date()) for o in origins]}
    metrics: dict[str, float] = {"interval_coverage_xgboost": cover}
    for rec in result.aggregate.to_dict("records"):
        summary.setdefault(rec["scope"], {})[rec["model"]] = {
            k: float(rec[k]) for k in ("wape", "mase", "smape", "bias")
        }
        for k in ("wape", "mase", "smape", "bias"):
            metrics[f"{rec['scope']}_{rec['model']}_{k}"] = float(rec[k])
    naive = summary["all_items"]["naive"]["wape"]
    chosen = summary["all_items"]["choice"]["wape"]
    summary["choice_vs_naive_wape_gain"] = 1 - chosen / naive
    summary["interval_coverage_xgboost"] = cover
    summary["choice_counts"] = {
        str(k): int(v) for k, v in result.choice["model"].value_counts().items()
    }
    metrics["choice_vs_naive_wape_gain"] = summary["choice_vs_naive_wape_gain"]
    logger.info("backtest summary: %s", summary)

    mlflow.log_metrics({k: v for k, v in metrics.items() if pd.notna(v)})
    mlflow.log_params(
        {"origins": ",".join(summary["origins"]), "interval_level": params.interval_level}
    )
    mlflow.log_table(result.per_sku, artifact_file="backtest_metrics_per_sku.json")
    log_metadata(metadata={"backtest": summary}, infer_model=False)
    return bt, result.per_sku, summary, result.choice
