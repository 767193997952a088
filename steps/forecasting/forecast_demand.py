"""Step: the final forecast per item from its chosen model, with intervals and plots."""

from typing import Annotated

import pandas as pd
from zenml import step
from zenml.logger import get_logger
from zenml.types import HTMLString

from retail_mlops.forecasting.backtest import ForecastParams, final_forecast
from retail_mlops.forecasting.demand import Panel
from retail_mlops.forecasting.intervals import residual_quantiles
from retail_mlops.forecasting.plots import figures_html, forecast_figure
from retail_mlops.names import A

logger = get_logger(__name__)


DEFAULTS = ForecastParams()  # the step's defaults; bounds and types are the model's


@step
def forecast_demand(
    demand: pd.DataFrame,
    global_forecast: pd.DataFrame,
    prophet_forecast: pd.DataFrame,
    backtest_predictions: pd.DataFrame,
    model_choice: pd.DataFrame,
    interval_level: float = DEFAULTS.interval_level,
    min_history_days: int = DEFAULTS.min_history_days,
    top_n_plots: int = DEFAULTS.top_n_plots,
) -> tuple[Annotated[pd.DataFrame, A.DEMAND_FORECAST], Annotated[HTMLString, A.FORECAST_PLOTS]]:
    """Assemble each item's forecast and plot the top items by units sold.

    Args:
        demand: Daily demand (history for the plots and the fallback rule).
        global_forecast: Future forecasts of `naive` and `xgboost`.
        prophet_forecast: Future forecasts of Prophet.
        backtest_predictions: Backtest rows with actuals (for the residual intervals).
        model_choice: The per-item model choice.
        interval_level: Nominal coverage of the intervals.
        min_history_days: Items listed on fewer open days fall back to seasonal naive.
        top_n_plots: How many top items to plot.

    Returns:
        The forecast (stock_code, ds, yhat, yhat_lower, yhat_upper, model, fallback, reason)
        and an HTML page of plots (also logged to MLflow).
    """
    params = ForecastParams.of(locals())
    import mlflow

    panel = Panel.from_long(demand)
    future = pd.concat(
        [global_forecast, prophet_forecast[["stock_code", "ds", "yhat"]].assign(model="prophet")],
        ignore_index=True,
    )
    quantiles = residual_quantiles(backtest_predictions, params.interval_level)
    forecast = final_forecast(panel, future, model_choice, quantiles, params.min_history_days)
    counts = forecast.drop_duplicates("stock_code")["model"].value_counts().to_dict()
    logger.info("forecast for %d items; models %s", forecast["stock_code"].nunique(), counts)

    top = demand.groupby("stock_code")["y"].sum().nlargest(params.top_n_plots).index
    figures = []
    for code in top:
        fc = forecast[forecast["stock_code"] == code]
        title = f"{code} ({fc['model'].iloc[0]})"
        fig = forecast_figure(demand.loc[demand["stock_code"] == code, ["ds", "y"]], fc, title)
        mlflow.log_figure(fig, f"forecast_plots/{code}.png")
        figures.append((title, fig))
    mlflow.log_metrics({f"items_{k}": float(v) for k, v in counts.items()})
    return forecast, HTMLString(figures_html(figures, "Demand forecasts of the top items"))
