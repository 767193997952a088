"""Artifact, model and pipeline names shared between pipelines (the contract between them)."""

from enum import StrEnum


class A(StrEnum):
    """Artifact names."""

    RAW_TRANSACTIONS = "raw_transactions"
    TRANSACTIONS = "transactions"
    QUARANTINE = "quarantine"
    VALID_SET = "valid_set"
    TEST_SET = "test_set"
    MODEL = "model"
    MODEL_URI = "mlflow_model_uri"
    METRICS = "metrics"
    REFERENCE_FEATURES = "reference_features"
    REFERENCE_PREDICTIONS = "reference_predictions"
    PROMOTION = "promotion"
    PREDICTIONS = "predictions"
    DRIFT_REPORT = "drift_report"
    DRIFT_SUMMARY = "drift_summary"
    GATE_RESULT = "gate_result"
    CUSTOMER_FEATURES = "customer_features"
    ITEM_FEATURES = "item_daily_features"
    SOURCE_HASH = "source_data_hash"
    ITEM_SOURCE_HASH = "item_source_data_hash"
    CHURN_ENTITIES = "churn_entities"
    CUSTOMER_DATASET = "customer_dataset"
    OFFLINE_TABLE = "offline_table"
    MATERIALIZATION = "materialization"
    MODEL_VERSION = "model_version"
    PREDICTIONS_PATH = "predictions_path"
    # demand_forecasting
    DAILY_DEMAND = "daily_demand"
    DEMAND_QUARANTINE = "demand_quarantine"
    PROPHET_BACKTEST = "prophet_backtest"
    PROPHET_FORECAST = "prophet_forecast"
    PROPHET_MODELS = "prophet_models"
    GLOBAL_BACKTEST = "global_backtest"
    GLOBAL_FORECAST = "global_forecast"
    GLOBAL_MODEL = "global_demand_model"
    BACKTEST_PREDICTIONS = "backtest_predictions"
    BACKTEST_METRICS = "backtest_metrics"
    BACKTEST_SUMMARY = "backtest_summary"
    MODEL_CHOICE = "model_choice"
    DEMAND_FORECAST = "demand_forecast"
    FORECAST_PLOTS = "forecast_plots"
    INVENTORY_RECOMMENDATIONS = "inventory_recommendations"
    INVENTORY_CHART = "inventory_chart"
    PRICE_ELASTICITY = "price_elasticity"
    PROMOTION_UPLIFT = "promotion_uplift"
    # churn_monitoring
    MONITORING_WINDOW = "monitoring_window"
    WINDOW_BATCH_PREDICTIONS = "window_batch_predictions"
    WINDOW_SERVED_PREDICTIONS = "window_served_predictions"
    WINDOW_FIGURES = "window_figures"
    WINDOW_SNAPSHOTS = "window_snapshots"
    WINDOW_REPORT = "window_report"
    MONITORING_DECISION = "monitoring_decision"
    # churn_warehouse_scoring
    WAREHOUSE_LOAD = "warehouse_load"
    WAREHOUSE_SCORES = "warehouse_scores"
    # deployment
    CHURN_RELEASE = "churn_release"
    DEMAND_RELEASE = "demand_release"
    BENTO_TAG = "bento_tag"
    DEPLOYMENT = "deployment"


MODEL_NAME = "churn_classifier"  # ZenML Model, MLflow registered model and Bento model share it
CHAMPION = "champion"
CHALLENGER = "challenger"
EXPERIMENT_TRACKER = "mlflow_tracker"  # stack component name the YAML configs bind steps to
