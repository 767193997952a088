"""Materializers that store artifacts in portable or native formats, never pickle."""

import pandas as pd
from zenml.materializers.materializer_registry import materializer_registry

from materializers.dataframe_materializer import DataFrameMaterializer
from materializers.prophet_materializer import ProphetModelsMaterializer
from materializers.sources import resolve_once
from materializers.xgb_materializer import XGBModelMaterializer

# A class registers itself for its ASSOCIATED_TYPES only if no other did first, and ZenML's
# pandas integration (gzip Parquet, describe() per artifact) may be activated before this
# package is imported: claim pd.DataFrame explicitly so every step output uses zstd Parquet.
materializer_registry.register_and_overwrite_type(pd.DataFrame, DataFrameMaterializer)
# The installed-package types these materializers store: resolved once per process.
resolve_once(*DataFrameMaterializer.ASSOCIATED_TYPES, *XGBModelMaterializer.ASSOCIATED_TYPES)

__all__ = ["DataFrameMaterializer", "ProphetModelsMaterializer", "XGBModelMaterializer"]
