"""Materializers that store artifacts in portable or native formats, never pickle."""

from materializers.prophet_materializer import ProphetModelsMaterializer
from materializers.xgb_materializer import XGBModelMaterializer

__all__ = ["ProphetModelsMaterializer", "XGBModelMaterializer"]
