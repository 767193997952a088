"""Store fitted Prophet models in Prophet's own JSON format (no pickle), one JSON line each."""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

from retail_mlops.forecasting.prophet import ProphetModels

FILENAME = "prophet_models.jsonl"


class ProphetModelsMaterializer(BaseMaterializer):
    """Save/load `ProphetModels`: lines of {"key": item, "model": model_to_json output}."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (ProphetModels,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> ProphetModels:
        """Read the JSON lines back; each value is what `prophet.serialize.model_to_json` wrote."""
        models = ProphetModels()
        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "r") as fh:
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    models[rec["key"]] = rec["model"]
        return models

    def save(self, data: ProphetModels) -> None:
        """Write one JSON line per model through the artifact store."""
        if not self.artifact_store.exists(self.uri):
            self.artifact_store.makedirs(self.uri)
        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "w") as fh:
            for key in sorted(data):
                fh.write(json.dumps({"key": key, "model": data[key]}) + "\n")

    def extract_metadata(self, data: ProphetModels) -> dict[str, MetadataType]:
        """How many models the artifact holds."""
        return {"n_models": len(data)}
