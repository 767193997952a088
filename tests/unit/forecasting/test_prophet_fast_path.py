"""Prophet's fast path gives exactly what Prophet's own path gives, on a real item.

The fast path: holidays from a per-process cache, the point forecast without the
per-component tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from retail_mlops.forecasting.prophet import ProphetParams, fit_predict, make_prophet, mean_forecast


@pytest.fixture(scope="module")
def history(top_items_demand: pd.DataFrame) -> pd.DataFrame:
    """Daily units of the best-selling item in the committed real subset, on open days."""
    from retail_mlops.forecasting.demand import Panel

    panel = Panel.from_long(top_items_demand)
    best = int(np.nansum(panel.y, axis=1).argmax())
    return panel.series(best)[["ds", "y"]].reset_index(drop=True)


def _targets(history: pd.DataFrame) -> pd.Series:
    return pd.Series(pd.bdate_range(history["ds"].iloc[-1] + pd.Timedelta(days=1), periods=28))


@pytest.mark.parametrize("mode", ["additive", "multiplicative"])
def test_mean_forecast_equals_prophet_predict(history: pd.DataFrame, mode: str) -> None:
    # the target days span Christmas and New Year: holiday columns are exercised too
    model = make_prophet(ProphetParams(seasonality_mode=mode), (2009, 2012))
    model.fit(history)
    days = _targets(history)
    own = model.predict(pd.DataFrame({"ds": days}))["yhat"].to_numpy()
    np.testing.assert_allclose(mean_forecast(model, days), own, rtol=1e-10, atol=1e-10)


def test_cached_holidays_give_the_same_model_as_add_country_holidays(
    history: pd.DataFrame,
) -> None:
    days = _targets(history)
    _, fast = fit_predict(history["ds"], history["y"], days, ProphetParams())
    stock = make_prophet(ProphetParams())  # no years: Prophet's add_country_holidays
    stock.fit(history)
    expected = stock.predict(pd.DataFrame({"ds": days}))["yhat"].clip(lower=0).to_numpy()
    np.testing.assert_allclose(fast["yhat"].to_numpy(), expected, rtol=1e-6, atol=1e-6)
    assert (fast["yhat_lower"] == fast["yhat"]).all()  # no sampling: bounds come later
