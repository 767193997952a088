"""Materializers that store artifacts in portable or native formats, never pickle."""

import pandas as pd
from zenml.materializers.materializer_registry import materializer_registry

from materializers.dataframe_materializer import DataFrameMaterializer
from materializers.prophet_materializer import ProphetModelsMaterializer
from materializers.xgb_materializer import XGBModelMaterializer

# A class registers itself for its ASSOCIATED_TYPES only if no other did first, and ZenML's
# pandas integration (gzip Parquet, describe() per artifact) may be activated before this
# package is imported: claim pd.DataFrame explicitly so every step output uses zstd Parquet.
materializer_registry.register_and_overwrite_type(pd.DataFrame, DataFrameMaterializer)

__all__ = ["DataFrameMaterializer", "ProphetModelsMaterializer", "XGBModelMaterializer"]
