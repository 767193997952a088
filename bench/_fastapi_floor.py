"""Bare FastAPI + uvicorn churn scorer: the floor the HTTP stack allows, for bench/serving.py.

The churn service's fast path with everything but the model call taken away (no routing,
metrics, prediction log or API key), so the gap between the two is what those features and
BentoML cost. To stay a fair floor it keeps what any honest endpoint needs: the same request
body, each row validated by a pydantic model of the same shape, the same UBJ booster with one
thread and a float32 row, an async handler (no thread-pool hop), one uvicorn worker with
access logging off (as in the service), and a small JSON answer.

Usage: python bench/_fastapi_floor.py MODEL_FILE PORT
"""

# No `from __future__ import annotations`: FastAPI must see the handler's body model itself,
# and that model is built at run time from the booster's feature names.

import sys
from typing import Any

import numpy as np
import uvicorn
import xgboost as xgb
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from retail_mlops.churn.model import predicting_booster


def build_app(model_file: str) -> FastAPI:
    """An app with POST /predict ({"rows": [...]}) and GET /healthz around one booster."""
    # the trees the service and batch inference score with (early stopping's best round)
    booster = predicting_booster(xgb.Booster(model_file=model_file))
    booster.set_param({"nthread": 1})
    features = list(booster.feature_names or [])
    if not features:
        raise SystemExit(f"{model_file}: the booster has no feature names")

    row = create_model(  # type: ignore[call-overload]
        "FeatureRow",
        __config__=ConfigDict(extra="forbid", allow_inf_nan=False),
        customer_id=(str, Field(min_length=1, max_length=64)),
        **{name: (float | None, ...) for name in features},
    )
    predict_input = create_model(  # type: ignore[call-overload]
        "PredictInput",
        __config__=ConfigDict(extra="forbid"),
        rows=(list[row], Field(min_length=1, max_length=1000)),  # type: ignore[valid-type]
    )

    class Prediction(BaseModel):
        customer_id: str
        churn_probability: float

    class PredictResponse(BaseModel):
        predictions: list[Prediction]

    app = FastAPI()

    @app.post("/predict")
    async def predict(body: predict_input) -> PredictResponse:  # type: ignore[valid-type]
        rows: list[Any] = body.rows  # type: ignore[attr-defined]
        x = np.array(
            [[np.nan if (v := getattr(r, f)) is None else v for f in features] for r in rows],
            dtype=np.float32,
        )
        scores = booster.inplace_predict(x, validate_features=False).tolist()
        return PredictResponse(
            predictions=[
                Prediction(customer_id=r.customer_id, churn_probability=s)
                for r, s in zip(rows, scores, strict=True)
            ]
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Serve the app on loopback with one worker until terminated."""
    if len(sys.argv) != 3:
        raise SystemExit("usage: python bench/_fastapi_floor.py MODEL_FILE PORT")
    app = build_app(sys.argv[1])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[2]),
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
