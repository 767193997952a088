"""Round trip of the Prophet materializer: Prophet's own JSON lines, no pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture(scope="module")
def models() -> object:
    from prophet.serialize import model_to_json

    from retail_mlops.forecasting.prophet import ProphetModels, ProphetParams, fit_predict

    ds = pd.date_range("2011-01-01", periods=120)
    y = 10 + 3 * (ds.dayofweek == 0) + np.random.default_rng(0).normal(0, 1, len(ds))
    model, _ = fit_predict(
        ds, y, ds[-7:], ProphetParams(yearly_seasonality=False, country_holidays=None)
    )
    return ProphetModels({"85123A": model_to_json(model)})


def test_roundtrip_predicts_identically(models: object, tmp_path: Path) -> None:
    from zenml.client import Client

    from materializers import ProphetModelsMaterializer
    from retail_mlops.forecasting.prophet import ProphetModels

    root = Client().active_stack.artifact_store.path
    uri = os.path.join(root, "prophet-materializer-test", tmp_path.name)
    m = ProphetModelsMaterializer(uri=uri)
    m.save(models)  # type: ignore[arg-type]
    assert os.listdir(uri) == ["prophet_models.jsonl"]
    with open(os.path.join(uri, "prophet_models.jsonl")) as fh:
        record = json.loads(fh.readline())
    assert record["key"] == "85123A"
    json.loads(record["model"])  # Prophet's own JSON, nothing pickled
    loaded = m.load(ProphetModels)
    future = pd.DataFrame({"ds": pd.date_range("2011-05-01", periods=7)})
    before = models.model("85123A").predict(future)["yhat"]  # type: ignore[attr-defined]
    after = loaded.model("85123A").predict(future)["yhat"]
    np.testing.assert_allclose(after, before)
    assert m.extract_metadata(loaded) == {"n_models": 1}
