"""Step: price elasticity and promotion uplift per item."""

from typing import Annotated

import pandas as pd
from zenml import log_metadata, step
from zenml.logger import get_logger

from retail_mlops.names import A
from retail_mlops.pricing import PricingParams, elasticity, promotion_uplift

logger = get_logger(__name__)


DEFAULTS = PricingParams()  # the step's defaults; bounds and types are the model's


@step
def analyze_pricing(
    demand: pd.DataFrame,
    min_days: int = DEFAULTS.min_days,
    min_log_price_std: float = DEFAULTS.min_log_price_std,
    promo_threshold: float = DEFAULTS.promo_threshold,
) -> tuple[
    Annotated[pd.DataFrame, A.PRICE_ELASTICITY], Annotated[pd.DataFrame, A.PROMOTION_UPLIFT]
]:
    """Log-log elasticity with weekday, month and trend controls, and promotion uplift.

    Args:
        demand: Daily demand with prices.
        min_days: Fewest selling days for an elasticity estimate.
        min_log_price_std: Fewest price variation (std of log price) for one.
        promo_threshold: A day at least this share below the regular price is a promotion.

    Returns:
        Elasticity per item (with a 95% interval) and uplift per item.
    """
    params = PricingParams.of(locals())
    el = elasticity(demand, min_days=params.min_days, min_log_price_std=params.min_log_price_std)
    up = promotion_uplift(demand, promo_threshold=params.promo_threshold)
    significant = el[el["ci_high"] < 0]
    summary = {
        "items_with_elasticity": len(el),
        "median_elasticity": float(el["elasticity"].median()) if len(el) else None,
        "items_significantly_negative": len(significant),
        "items_with_uplift": len(up),
        "median_uplift": float(up["uplift"].median()) if len(up) else None,
    }
    logger.info("pricing: %s", summary)
    log_metadata(
        metadata={"pricing": summary}, artifact_name=A.PRICE_ELASTICITY, infer_artifact=True
    )
    return el, up
