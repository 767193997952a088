"""Materializers that store artifacts in portable or native formats, never pickle."""

from materializers.xgb_classifier_materializer import XGBClassifierMaterializer

__all__ = ["XGBClassifierMaterializer"]
