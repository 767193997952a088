"""Unit tests for retail_mlops/churn/tracking.py: what one training run leaves in MLflow.

A real classifier (early stopping on a validation slice) is logged once per module into a real
SQLite MLflow store in tmp; the tests read the run and the logged model back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml
from sklearn.datasets import make_classification

from retail_mlops.churn.model import LABEL, TrainParams, fit_xgb
from retail_mlops.churn.tracking import importance_figure, log_churn_model
from tests.conftest import MlflowStore, using_mlflow

PARAMS = TrainParams(n_estimators=200, learning_rate=0.1, early_stopping_rounds=10, n_jobs=1)


@dataclass(frozen=True)
class Logged:
    model: xgb.XGBClassifier
    train: pd.DataFrame
    valid: pd.DataFrame
    features: list[str]
    run_id: str
    model_uri: str


def _frames(n_features: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    x, y = make_classification(
        n_samples=600, n_features=n_features, n_informative=3, n_redundant=0, random_state=0
    )
    features = [f"f{i:02d}" for i in range(n_features)]
    frame = pd.DataFrame(x, columns=features).assign(**{LABEL: y})
    return (
        frame.iloc[:400].reset_index(drop=True),
        frame.iloc[400:].reset_index(drop=True),
        features,
    )


@pytest.fixture(scope="module")
def logged(mlflow_sqlite: MlflowStore) -> Logged:
    import mlflow

    train, valid, features = _frames(6)
    model = fit_xgb(train, valid, features, PARAMS)
    with using_mlflow(mlflow_sqlite.uri):
        with mlflow.start_run(experiment_id=mlflow_sqlite.experiment_id) as run:
            uri = log_churn_model(model, train, valid, PARAMS, features)
        # the figure is closed by nobody else: keep pyplot's registry from growing
        import matplotlib.pyplot as plt

        plt.close("all")
    return Logged(model, train, valid, features, run.info.run_id, uri)


def _client(store: MlflowStore) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=store.uri, registry_uri=store.uri)


# --- the run ----------------------------------------------------------------------------------


def test_params_are_the_hyper_parameters_and_the_data_sizes(
    logged: Logged, mlflow_sqlite: MlflowStore
) -> None:
    params = _client(mlflow_sqlite).get_run(logged.run_id).data.params
    expected = {k: str(v) for k, v in PARAMS.model_dump().items()}
    expected |= {
        "n_features": "6",
        "train_rows": "400",
        "valid_rows": "200",
        "best_iteration": str(logged.model.best_iteration),
    }
    assert params == expected
    assert 0 < logged.model.best_iteration < PARAMS.n_estimators - 1  # early stopping acted


def test_no_metrics_are_logged_here(logged: Logged, mlflow_sqlite: MlflowStore) -> None:
    # Scores belong to the evaluation step (`test_roc_auc`, ...), on the held-out cutoff.
    assert _client(mlflow_sqlite).get_run(logged.run_id).data.metrics == {}


def test_the_importance_figure_is_a_run_artifact(
    logged: Logged, mlflow_sqlite: MlflowStore
) -> None:
    client = _client(mlflow_sqlite)
    assert "feature_importance.png" in {a.path for a in client.list_artifacts(logged.run_id)}
    png = Path(client.download_artifacts(logged.run_id, "feature_importance.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the model --------------------------------------------------------------------------------


def test_the_model_is_logged_natively_as_ubjson_from_this_run(
    logged: Logged, mlflow_store: MlflowStore
) -> None:
    import mlflow

    info = mlflow.models.get_model_info(logged.model_uri)
    assert logged.model_uri.startswith("models:/")
    assert info.run_id == logged.run_id
    local = Path(mlflow.artifacts.download_artifacts(logged.model_uri))
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["xgboost"]
    assert flavor["model_format"] == "ubj"
    assert flavor["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert (local / flavor["data"]).suffix == ".ubj"
    requirements = (local / "requirements.txt").read_text().split()
    assert f"xgboost=={xgb.__version__}" in requirements
    assert f"pandas=={pd.__version__}" in requirements


def test_the_loaded_model_predicts_like_the_fitted_one(
    logged: Logged, mlflow_store: MlflowStore
) -> None:
    import mlflow

    loaded = mlflow.xgboost.load_model(logged.model_uri)
    assert isinstance(loaded, xgb.XGBClassifier)
    x = logged.valid[logged.features]
    np.testing.assert_allclose(loaded.predict_proba(x), logged.model.predict_proba(x), rtol=1e-6)


def test_signature_is_the_feature_columns_in_and_one_probability_out(
    logged: Logged, mlflow_store: MlflowStore
) -> None:
    import mlflow

    info = mlflow.models.get_model_info(logged.model_uri)
    inputs = info.signature.inputs
    assert inputs.input_names() == logged.features
    assert {c.type.name for c in inputs.inputs} == {"double"}
    assert all(c.required for c in inputs.inputs)
    (output,) = info.signature.outputs.inputs  # the churn probability, one per row
    assert (output.type, output.shape) == (np.dtype("float32"), (-1,))
    example = pd.read_json(
        Path(mlflow.artifacts.download_artifacts(logged.model_uri)) / "input_example.json",
        orient="split",
    )
    assert list(example.columns) == logged.features
    assert len(example) == 5


# --- importance_figure ------------------------------------------------------------------------


def test_importance_figure_keeps_the_top_twenty_by_gain_largest_on_top() -> None:
    import matplotlib.pyplot as plt

    train, valid, features = _frames(25)
    model = fit_xgb(train, valid, features, PARAMS)
    gains = model.get_booster().get_score(importance_type="gain")
    fig = importance_figure(model, features)
    try:
        (ax,) = fig.axes
        labels = [t.get_text() for t in ax.get_yticklabels()]
        widths = [p.get_width() for p in ax.patches]
    finally:
        plt.close(fig)
    assert len(labels) == len(widths) == 20
    assert widths == sorted(widths)  # barh draws bottom-up: the largest gain is the top bar
    assert labels[-1] == max(gains, key=gains.get)
    for label, width in zip(labels, widths, strict=True):
        assert width == pytest.approx(gains.get(label, 0.0))
    dropped = set(features) - set(labels)
    assert len(dropped) == 5
    assert max(gains.get(f, 0.0) for f in dropped) <= min(widths)
    assert ax.get_xlabel() == "total gain"
    assert ax.get_title() == "Churn model feature importance"


def test_importance_figure_shows_an_unused_feature_at_zero() -> None:
    import matplotlib.pyplot as plt

    train, valid, features = _frames(6)
    train = train.assign(constant=1.0)  # no split can use it
    valid = valid.assign(constant=1.0)
    model = fit_xgb(train, valid, [*features, "constant"], PARAMS)
    fig = importance_figure(model, [*features, "constant"])
    try:
        (ax,) = fig.axes
        bars = {
            t.get_text(): p.get_width()
            for t, p in zip(ax.get_yticklabels(), ax.patches, strict=True)
        }
    finally:
        plt.close(fig)
    assert bars["constant"] == 0.0
    assert len(bars) == 7
