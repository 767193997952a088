"""Registry -> BentoML model store: the models a release pins, in their native formats.

The BentoML store lives in the project's state folder (`paths.use_bentoml_home`), so tests
and users never share one by accident.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retail_mlops.errors import DataError
from retail_mlops.paths import use_bentoml_home

BOOSTER_FILE = "model.ubj"


@dataclass(frozen=True)
class ImportedModel:
    """A registry version as it sits in the BentoML store."""

    alias: str
    model_version: int
    tag: str
    features: list[str]


def bento_tag_for(name: str, version: int, run_id: str) -> str:
    """BentoML tag of an MLflow version; the run id keeps two registries' v1s apart."""
    return f"{name}:v{version}-{run_id[:8].lower()}"


def _booster_file(local: Path) -> Path:
    found = sorted(local.rglob("*.ubj")) + sorted(local.rglob("model.json"))
    if not found:
        raise DataError(f"the MLflow model at {local.name} has no XGBoost UBJ/JSON file")
    return found[0]


def import_alias(name: str, alias: str) -> ImportedModel | None:
    """Copy the booster behind `name@alias` into the BentoML store (once per version).

    The MLflow model is the native UBJ file logged by training; it is copied as is and loaded
    with `xgb.Booster(model_file=...)`, never unpickled.

    Returns:
        The imported model, or None when the alias is not set.
    """
    import bentoml

    use_bentoml_home()
    import xgboost as xgb
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from retail_mlops.registry import alias_version

    version = alias_version(name, alias)
    if version is None:
        return None
    mv = MlflowClient().get_model_version(name, str(version))
    tag = bento_tag_for(name, version, str(mv.run_id or "norun"))
    try:
        existing = bentoml.models.get(tag)
        features = [str(f) for f in existing.info.metadata["features"]]  # type: ignore[union-attr]
        return ImportedModel(alias, version, tag, features)
    except bentoml.exceptions.NotFound:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp))
        source = _booster_file(local)
        booster = xgb.Booster(model_file=str(source))
        features = list(booster.feature_names or [])
        if not features:
            raise DataError(f"{name} v{version} has no feature names; it cannot check requests")
        with bentoml.models.create(
            tag,
            labels={"source": "mlflow", "registered_model": name},
            metadata={
                "mlflow_version": version,
                "mlflow_run_id": mv.run_id,
                "features": features,
                "format": source.suffix.lstrip("."),
            },
        ) as model:
            shutil.copyfile(source, model.path_of(BOOSTER_FILE))
    return ImportedModel(alias, version, tag, features)


def load_booster(tag: str) -> Any:
    """The native booster of a BentoML model saved by `import_alias`."""
    import bentoml

    use_bentoml_home()
    import xgboost as xgb

    from retail_mlops.churn.model import predicting_booster

    model = bentoml.models.get(tag)
    booster = predicting_booster(xgb.Booster(model_file=model.path_of(BOOSTER_FILE)))
    booster.set_param({"nthread": 1})
    return booster


def churn_release(spec: Any, feature_repo: str, name: str = "churn_classifier") -> Any:
    """Resolve a ChurnServing spec against the registry into a ChurnRelease.

    Each variant's alias is imported into the BentoML store; a variant whose alias is unset is
    left out (a challenger may not exist yet), but the first, answering, variant must exist.

    Raises:
        DataError: If the first variant's alias is unset, or variants disagree on features.
    """
    from retail_mlops.serving.release import ChurnRelease, Variant

    variants: list[Variant] = []
    features: list[str] | None = None
    for i, v in enumerate(spec.variants):
        imported = import_alias(name, v.alias)
        if imported is None:
            if i == 0:
                raise DataError(
                    f"model {name!r} has no {v.alias!r} alias yet: run churn_training first"
                )
            continue
        if features is None:
            features = imported.features
        elif imported.features != features:
            raise DataError(
                f"{name}@{v.alias} (v{imported.model_version}) expects other features than "
                f"{spec.variants[0].alias}: variants must share one request schema"
            )
        variants.append(
            Variant(
                name=v.name,
                model_tag=imported.tag,
                model_version=imported.model_version,
                weight=v.weight,
            )
        )
    return ChurnRelease(
        variants=variants,
        sticky=spec.sticky,
        shadow=spec.shadow,
        max_batch_rows=spec.max_batch_rows,
        batching=spec.batching,
        features=features or [],
        feature_repo=_portable(feature_repo),
    )


def _portable(path: str) -> str:
    """A repo path inside the project, made relative: a Bento resolves it in its own sources."""
    from retail_mlops.paths import PROJECT_ROOT

    p = Path(path).resolve()
    return str(p.relative_to(PROJECT_ROOT)) if p.is_relative_to(PROJECT_ROOT) else str(p)
