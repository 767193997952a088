"""Deploy churn scoring to a real Snowflake account (by hand; not run by CI, which has none).

    RETAIL_MLOPS_WAREHOUSE_URL='snowflake://USER:PASSWORD@ACCOUNT/DB/SCHEMA?warehouse=WH' \
        uv run python -m scripts.deploy_snowflake [--cutoff 2011-12-01] [--registry]

What it does, in the account the URL names (the password only ever from the environment):
1. loads the validated lines of the full data into `invoice_lines` (quarantine beside it) and
   the cutoff into `feature_cutoffs`, creates the `customer_features` view: the same SQL the
   tests run through fakesnow;
2. installs the champion compiled to SQL as the view `churn_scores`, and prints its top rows;
3. with `--registry`, also logs the champion to Snowflake's model registry (the alternative
   to compiled SQL: Snowflake runs the booster in a Python UDF it manages). That needs
   `snowflake-ml-python`, which is not in this project's lock: run it from an environment that
   has both, and it tells you so if it is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("ZENML_CONFIG_PATH", str(ROOT / ".state" / "zenml"))
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")


def _champion() -> tuple[object, int]:
    import mlflow

    from retail_mlops.errors import DataError
    from retail_mlops.names import CHAMPION, MODEL_NAME
    from retail_mlops.registry import alias_version
    from steps.client import configure_mlflow_from_stack

    configure_mlflow_from_stack()
    version = alias_version(MODEL_NAME, CHAMPION)
    if version is None:
        raise DataError(f"model {MODEL_NAME!r} has no champion yet: run churn_training first")
    return mlflow.xgboost.load_model(f"models:/{MODEL_NAME}@{CHAMPION}"), version


def _log_to_registry(warehouse_url: str, model: object, version: int, sample: object) -> None:
    """Log the champion to Snowflake's model registry (snowflake-ml-python)."""
    try:
        from snowflake.ml.registry import Registry  # type: ignore[import-not-found]
        from snowflake.snowpark import Session  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("error: --registry needs snowflake-ml-python (not in this project's lock)")
    from retail_mlops.names import MODEL_NAME
    from retail_mlops.warehouse.database import snowflake_params

    session = Session.builder.configs(snowflake_params(warehouse_url)).create()
    registry = Registry(session=session)
    registry.log_model(
        model,
        model_name=MODEL_NAME,
        version_name=f"v{version}",
        sample_input_data=sample,
        comment="churn_classifier from retail-mlops (MLflow registry version above)",
    )
    print(f"logged {MODEL_NAME} v{version} to the Snowflake model registry")


def main() -> int:
    """Load, create the views, install the model; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cutoff", default="2011-12-01", help="the as-of date to score")
    parser.add_argument("--registry", action="store_true", help="also log to the registry")
    args = parser.parse_args()

    from retail_mlops.errors import DataError, InfraError
    from retail_mlops.features.customer import FEATURE_COLUMNS
    from retail_mlops.ingest.sources import read_source
    from retail_mlops.validate.rules import split_quarantine
    from retail_mlops.warehouse.database import WAREHOUSE_URL_ENV, Warehouse
    from retail_mlops.warehouse.scoring import SCORES_VIEW, check_cutoff, install_model

    url = os.environ.get(WAREHOUSE_URL_ENV, "")
    if not url.startswith("snowflake://"):
        print(f"error: set {WAREHOUSE_URL_ENV} to a snowflake:// URL", file=sys.stderr)
        return 2
    try:
        model, version = _champion()
        raw, _origin = read_source({"kind": "dataset"})
        clean, quarantine = split_quarantine(raw)
        check_cutoff(clean, args.cutoff)
        with Warehouse.connect(url) as warehouse:
            warehouse.load_lines(clean, quarantine)
            warehouse.set_cutoffs([args.cutoff])
            warehouse.create_feature_view()
            compiled = install_model(warehouse, model, version)
            top = warehouse.query(
                f"SELECT * FROM {SCORES_VIEW} ORDER BY churn_probability DESC LIMIT 10"
            )
            sample = warehouse.query("SELECT * FROM customer_features LIMIT 100")[
                list(FEATURE_COLUMNS)
            ]
        print(f"installed v{version} as {SCORES_VIEW} (sha256 {compiled.sha256})")
        print(top.to_string(index=False))
        if args.registry:
            _log_to_registry(url, model, version, sample)
    except (DataError, InfraError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, DataError) else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
