"""Store XGBoost scikit-learn models (the churn classifier, the global demand regressor) in UBJSON.

XGBoost's own format, never pickle: loadable by any XGBoost version that reads UBJSON.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, ClassVar

import xgboost as xgb
from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

FILENAME = "model.ubj"


class XGBModelMaterializer(BaseMaterializer):
    """Save/load `XGBClassifier` and `XGBRegressor` with `save_model`/`load_model` (UBJSON)."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (xgb.XGBClassifier, xgb.XGBRegressor)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> xgb.XGBModel:
        """Read the model file from the artifact store into a fresh model of the saved type."""
        model = data_type()
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, FILENAME)
            with (
                self.artifact_store.open(os.path.join(self.uri, FILENAME), "rb") as src,
                open(local, "wb") as dst,
            ):
                dst.write(src.read())
            model.load_model(local)
        return model

    def save(self, data: xgb.XGBModel) -> None:
        """Write the model in UBJSON through the artifact store."""
        if not self.artifact_store.exists(self.uri):
            self.artifact_store.makedirs(self.uri)
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, FILENAME)
            data.save_model(local)
            with (
                open(local, "rb") as src,
                self.artifact_store.open(os.path.join(self.uri, FILENAME), "wb") as dst,
            ):
                dst.write(src.read())

    def extract_metadata(self, data: xgb.XGBModel) -> dict[str, MetadataType]:
        """Number of trees, features, and the early-stopping iteration."""
        booster = data.get_booster()
        return {
            "n_trees": int(booster.num_boosted_rounds()),
            "n_features": len(booster.feature_names or []),
            "best_iteration": int(getattr(data, "best_iteration", -1) or -1),
        }
