"""Materializers that store artifacts in portable or native formats, never pickle."""

from materializers.prophet_materializer import ProphetModelsMaterializer
from materializers.xgb_classifier_materializer import XGBClassifierMaterializer

__all__ = ["ProphetModelsMaterializer", "XGBClassifierMaterializer"]
