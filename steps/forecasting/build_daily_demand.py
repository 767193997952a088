"""Step: daily units per item on open days, with bad sales lines quarantined."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.errors import DataError
from retail_mlops.forecasting.demand import daily_demand, sales_lines
from retail_mlops.names import A

logger = get_logger(__name__)


@step
def build_daily_demand(
    raw: pd.DataFrame,
    until: str | None,
) -> tuple[Annotated[pd.DataFrame, A.DAILY_DEMAND], Annotated[pd.DataFrame, A.DEMAND_QUARANTINE]]:
    """Type the raw lines, quarantine bad ones, and aggregate units per item and open day.

    Args:
        raw: Raw invoice lines from `load_transactions`.
        until: Forecast as if it were this day: sales on or after it are left out (they stay
            in the raw artifact; their count goes into the metadata), so that the forecast's
            days can later be judged on what really sold (demand_monitoring).

    Returns:
        The daily demand (stock_code, ds, y, price; open days only) and the quarantined lines.

    Raises:
        DataError: On a structurally wrong frame or when no sale survives.
    """
    sales, quarantine = sales_lines(raw)
    after = 0
    if until:
        later = sales["invoice_date"] >= pd.Timestamp(until)
        after = int(later.sum())
        sales = sales[~later]
        if sales.empty:
            raise DataError(f"no sale before {until}: nothing to forecast from")
        logger.info("%d sales lines on or after %s left out (until)", after, until)
    demand = daily_demand(sales)
    counts = {str(k): int(v) for k, v in quarantine["reason"].value_counts().items()}
    logger.info(
        "%d sales lines -> %d items x %d open days; %d lines quarantined %s",
        len(sales),
        demand["stock_code"].nunique(),
        demand["ds"].nunique(),
        len(quarantine),
        counts,
    )
    log_metadata(
        metadata={"quarantined_rows": len(quarantine), "reasons": counts},
        artifact_name=A.DEMAND_QUARANTINE,
        infer_artifact=True,
    )
    log_metadata(
        metadata={
            "items": int(demand["stock_code"].nunique()),
            "open_days": int(demand["ds"].nunique()),
            "first_day": str(demand["ds"].min().date()),
            "last_day": str(demand["ds"].max().date()),
            "until": until or "",
            "lines_after_until": after,
        },
        artifact_name=A.DAILY_DEMAND,
        infer_artifact=True,
    )
    return demand, quarantine
