"""Round trip of the XGBoost materializer through a real local artifact store, no pickle."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification


@pytest.fixture(scope="module")
def model() -> xgb.XGBClassifier:
    x, y = make_classification(n_samples=300, n_features=5, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(5)])
    return xgb.XGBClassifier(n_estimators=20, max_depth=2).fit(frame, y)


def test_roundtrip_predicts_identically(model: xgb.XGBClassifier, tmp_path: Path) -> None:
    from zenml.client import Client

    from materializers import XGBModelMaterializer

    root = Client().active_stack.artifact_store.path
    uri = os.path.join(root, "materializer-test", tmp_path.name)
    m = XGBModelMaterializer(uri=uri)
    m.save(model)
    files = os.listdir(uri)
    assert files == ["model.ubj"]  # native UBJSON, nothing pickled beside it
    loaded = m.load(xgb.XGBClassifier)
    frame = pd.DataFrame(
        np.random.default_rng(0).normal(size=(50, 5)), columns=[f"f{i}" for i in range(5)]
    )
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    assert loaded.get_booster().feature_names == model.get_booster().feature_names
    meta = m.extract_metadata(model)
    assert meta["n_trees"] == 20
    assert meta["n_features"] == 5


def test_regressor_roundtrip_keeps_its_type_and_predictions(tmp_path: Path) -> None:
    # the global demand model is an XGBRegressor trained on absolute error
    from zenml.client import Client

    from materializers import XGBModelMaterializer

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4))
    y = x[:, 0] * 2 + rng.normal(size=200)
    model = xgb.XGBRegressor(n_estimators=15, max_depth=3, objective="reg:absoluteerror")
    model.fit(x, y)
    root = Client().active_stack.artifact_store.path
    m = XGBModelMaterializer(uri=os.path.join(root, "materializer-test", tmp_path.name))
    m.save(model)
    loaded = m.load(xgb.XGBRegressor)
    assert isinstance(loaded, xgb.XGBRegressor)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    assert m.extract_metadata(model)["n_trees"] == 15
