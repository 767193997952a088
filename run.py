"""Command line for the retail pipelines: run them, manage the registry, register stacks."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
# Project-local ZenML state unless the user points elsewhere; no telemetry from a CLI run.
os.environ.setdefault("ZENML_CONFIG_PATH", str(ROOT / ".state" / "zenml"))
os.environ.setdefault("ZENML_ANALYTICS_OPT_IN", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

import logging  # noqa: E402

import click  # noqa: E402

from retail_mlops.deploy.services import SERVICE_NAMES  # noqa: E402

PIPELINES = {
    "feature_materialization": "pipelines.feature_materialization",
    "churn_training": "pipelines.churn_training",
    "churn_batch_inference": "pipelines.churn_batch_inference",
    "churn_warehouse_scoring": "pipelines.churn_warehouse_scoring",
    "demand_forecasting": "pipelines.demand_forecasting",
    "deployment": "pipelines.deployment",
    "churn_monitoring": "pipelines.churn_monitoring",
    "demand_monitoring": "pipelines.demand_monitoring",
}
# A forecast made as if it were this day: its days have passed by the end of the data, so the
# main flow's demand_monitoring has a served forecast to judge on what really sold.
PAST_FORECAST_UNTIL = "2011-11-01"
MAIN_FLOW: list[tuple[str, dict[str, Any] | None]] = [
    ("feature_materialization", None),
    ("churn_training", None),
    ("churn_batch_inference", None),
    ("demand_forecasting", {"until": PAST_FORECAST_UNTIL}),  # first: deployment serves the newest
    ("demand_forecasting", None),
    ("deployment", None),
    ("churn_monitoring", None),  # the window holding the batch scores above
    ("demand_monitoring", None),  # the past forecast against the sales since
]

EXAMPLES = """
\b
Examples:
  python run.py main                                   # the whole flow on the full data
  python run.py churn_training --config configs/churn_training.dev.yaml --no-cache
  python run.py churn_batch_inference
  python run.py promote --version 3                    # make v3 the champion
  python run.py rollback                               # champion back to the previous one
  python run.py stack register local                   # (re)register a stack file
  python run.py deployment                             # build and run the Bentos locally
  python run.py deployments                            # what runs, where
  python run.py serve churn --port 3000                # one service in the foreground
  python run.py ab-report                              # A/B results once outcomes exist
  python run.py churn_warehouse_scoring                # score inside the warehouse (SQL)
  python run.py churn_monitoring --as-of 2011-12-02    # one monitoring window
  python run.py monitor --from 2011-01-01 --to 2011-09-01 --retrain auto
  python run.py warehouse export --dialect postgres --out sql/
"""


def _known_error(exc: BaseException) -> tuple[str, int] | None:
    """The one-line report and exit code of a known fault anywhere in the exception chain.

    A user's mistake (DataError, a missing file) prints as `error: ...` and exits 2; a fault of
    the environment (InfraError: a port in use, a missing stack component or variable) prints
    as `environment error: ...` and exits 3, so neither reads as the other.
    """
    from retail_mlops.errors import DataError, InfraError

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, InfraError):
            return f"environment error: {cur}", 3
        if isinstance(cur, DataError | FileNotFoundError):
            return f"error: {cur}", 2
        cur = cur.__cause__ or cur.__context__
    return None


USER_ERRORS = ("retail_mlops.errors.DataError", "FileNotFoundError")
INFRA_ERRORS = ("retail_mlops.errors.InfraError",)
GATE_PREFIX = "drift gate failed"


def _failed_step_message(pipeline_name: str) -> tuple[str, int] | None:
    """The report and exit code of the failed step in the pipeline's latest run, if known.

    ZenML raises a generic "Pipeline run has failed" from the orchestrator; the step's own
    exception is kept on the step run, which is where a user mistake's message lives.
    """
    from zenml.client import Client

    try:
        run = Client().get_pipeline(pipeline_name).last_run
    except (KeyError, RuntimeError):
        return None
    for step_name, step_run in run.steps.items():
        info = step_run.exception_info
        if info is None:
            continue
        source = info.source or ""
        message = info.message or info.traceback.strip().splitlines()[-1].split(": ", 1)[-1]
        if source.endswith(INFRA_ERRORS):
            return f"environment error: {step_name}: {message}", 3
        if source.endswith(USER_ERRORS) or message.startswith(GATE_PREFIX):
            return f"error: {step_name}: {message}", 2
    return None


class _HideUserErrorTracebacks(logging.Filter):
    """Drop the traceback from log records about a user mistake; the message stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if _known_error(exc) or str(exc).startswith(GATE_PREFIX):
                record.exc_info = None
                record.exc_text = None
        return True


def _install_log_filter() -> None:
    for name in ("", "zenml"):
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_HideUserErrorTracebacks())


# Top-level packages of this project: warnings raised from their code stay visible.
OWN_PACKAGES = ("retail_mlops", "steps", "pipelines", "materializers", "bentos", "configs")
QUIET_WARNINGS = (DeprecationWarning, FutureWarning, UserWarning)


def _is_own_file(filename: str) -> bool:
    try:
        rel = Path(filename).resolve().relative_to(ROOT)
    except (OSError, ValueError):
        return False
    return rel.parts[0] in OWN_PACKAGES or rel == Path("run.py")


def _install_warning_filters() -> None:
    """Hide deprecation, future and user warnings raised in third-party code; keep our own.

    Libraries warn about each other (pydantic, pathspec, bentoml, ...) in pages that a user of
    this CLI cannot act on. Three layers, because libraries change the filters themselves:

    - filters on the warning's module: everything outside this project's packages;
    - a guard in front of the display, for the libraries that insert broader filters when
      imported (feast: `simplefilter("once", DeprecationWarning)`), which shadow the ones
      above. Logging's capture of warnings, which ZenML turns on at import, starts first, so
      ZenML's call finds it on and leaves the guard in place;
    - PYTHONWARNINGS for the processes started from here (`bentoml serve`), unless already
      set: it can only name exact modules, so there these categories are ignored wholesale.

    Only the CLI entry point calls this: tests keep seeing every warning.
    """
    import warnings

    own = "|".join((*OWN_PACKAGES, "run", "__main__"))
    for category in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=rf"(?!(?:{own})(?:\.|$))")
    os.environ.setdefault(
        "PYTHONWARNINGS", ",".join(f"ignore::{c.__name__}" for c in QUIET_WARNINGS)
    )
    logging.captureWarnings(True)
    show = warnings.showwarning

    def guard(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if not (issubclass(category, QUIET_WARNINGS) and not _is_own_file(filename)):
            show(message, category, filename, lineno, file, line)

    warnings.showwarning = guard


def _fail(exc: BaseException, pipeline_name: str | None = None) -> None:
    known = _known_error(exc)
    if known is None and pipeline_name and str(exc).startswith("Pipeline run has failed"):
        known = _failed_step_message(pipeline_name)
    if known is None:
        raise exc
    click.echo(known[0], err=True)
    sys.exit(known[1])


def _ensure_stack() -> None:
    """Register the local stack file if no 'local' stack exists yet; keep MLflow ready."""
    from zenml.client import Client

    from configs.stacks import register_stack

    client = Client()
    try:
        client.get_stack("local", allow_name_prefix_match=False)
        if client.active_stack_model.name == "local":
            register_stack("local")  # idempotent; re-creates MLflow experiments if wiped
    except KeyError:
        # Activate it only over ZenML's default stack: a user who chose another stack
        # (`zenml stack set kubeflow`) keeps it; the same command then runs there.
        register_stack("local", activate=client.active_stack_model.name == "default")


def run_pipeline(
    name: str, config: str | None, no_cache: bool, parameters: dict[str, Any] | None = None
) -> Any:
    """Run one pipeline with its YAML config (`parameters` over its own); returns the run."""
    import importlib

    from configs.schema import run_config, validate_config_file
    from retail_mlops import runlock
    from retail_mlops.ingest.sources import preflight
    from steps.client import LAUNCHER_KEY, fail_orphaned_runs

    config_path = Path(config) if config else ROOT / "configs" / f"{name}.yaml"
    raw = validate_config_file(config_path, name, parameters)
    if "source" in raw["parameters"]:
        preflight(raw["parameters"]["source"])  # a missing file or column fails before ZenML
    _ensure_stack()
    _install_log_filter()
    module = importlib.import_module(PIPELINES[name])
    pipe = getattr(module, name)
    with runlock.running() as launcher, run_config(config_path, name, parameters) as path:
        for orphan in fail_orphaned_runs():
            click.echo(f"marked run {orphan} failed: its process ended before it finished")
        # the process behind the run, so that a later run can tell when it was killed
        options: dict[str, Any] = {"config_path": str(path), "extra": {LAUNCHER_KEY: launcher}}
        if no_cache:
            options["enable_cache"] = False
        return pipe.with_options(**options)()


@click.group(
    help="Retail MLOps pipelines on ZenML, MLflow, Evidently, BentoML and Feast.\n" + EXAMPLES,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def cli() -> None:
    """Entry point."""


# Options a pipeline's command takes beside --config and --no-cache: (flag, parameter, help);
# the flags in DATE_OPTIONS take a date.
PIPELINE_OPTIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "demand_forecasting": (
        ("--until", "until", "Forecast as if it were this day (later sales left out)."),
    ),
    "churn_monitoring": (
        ("--as-of", "as_of", "The window's end (exclusive), e.g. 2011-06-01; default: config's."),
    ),
    "demand_monitoring": (
        ("--as-of", "as_of", "Actual sales known before this day; default: the config's."),
        ("--forecast-run", "forecast_run", "The forecasting run to judge (name or id)."),
    ),
}
DATE_OPTIONS = {"--as-of", "--until"}


def _pipeline_command(name: str) -> None:
    options = PIPELINE_OPTIONS.get(name, ())

    def command(config: str | None, no_cache: bool, **values: Any) -> None:
        parameters = {}
        for flag, parameter, _ in options:
            value = values.get(parameter)
            if value is not None:
                parameters[parameter] = value.date().isoformat() if flag in DATE_OPTIONS else value
        try:
            run_pipeline(name, config, no_cache, parameters or None)
        except Exception as exc:
            _fail(exc, name)

    for flag, parameter, text in reversed(options):
        kind = click.DateTime(formats=["%Y-%m-%d"]) if flag in DATE_OPTIONS else str
        command = click.option(flag, parameter, type=kind, default=None, help=text)(command)
    command = click.option("--no-cache", is_flag=True, help="Re-run every step.")(command)
    command = click.option(
        "--config",
        type=click.Path(dir_okay=False),
        default=None,
        help="Pipeline YAML (e.g. the .dev variant).",
    )(command)
    cli.command(name=name, help=f"Run the {name} pipeline (default config configs/{name}.yaml).")(
        command
    )


for _name in PIPELINES:
    if _name != "deployment":  # its own command below
        _pipeline_command(_name)


@cli.command(
    help="The main flow on the full data: features, churn training and scoring, demand "
    "forecasting, then the churn and demand services on 127.0.0.1."
)
@click.option("--dev", is_flag=True, help="Use the .dev configs (the committed subset).")
@click.option("--no-cache", is_flag=True)
def main(dev: bool, no_cache: bool) -> None:
    """Run every pipeline of the main flow and say where to look."""
    for name, parameters in MAIN_FLOW:
        cfg = ROOT / "configs" / f"{name}{'.dev' if dev else ''}.yaml"
        try:
            run_pipeline(name, str(cfg), no_cache, parameters)
        except Exception as exc:
            _fail(exc, name)
    click.echo(where_to_look())


def where_to_look() -> str:
    """A short guide to the outputs of the main flow."""
    from retail_mlops.names import CHAMPION, MODEL_NAME
    from retail_mlops.paths import state_dir
    from retail_mlops.registry import alias_version
    from steps.client import configure_mlflow_from_stack

    uri = configure_mlflow_from_stack()
    state = state_dir()
    return "\n".join(
        [
            "",
            "Done. Where to look:",
            f"  ZenML runs:       ZENML_CONFIG_PATH={os.environ['ZENML_CONFIG_PATH']} "
            "uv run zenml pipeline runs list",
            f"  MLflow UI:        uv run mlflow ui --backend-store-uri {uri}",
            f"  Registered model: {MODEL_NAME}, champion = v{alias_version(MODEL_NAME, CHAMPION)}",
            f"  Predictions:      {state / 'predictions' / 'churn_predictions.parquet'} "
            f"(+ DuckDB {state / 'predictions' / 'predictions.duckdb'})",
            "  Drift report:     uv run python run.py drift-report (writes the HTML), or the "
            "build_drift_report step in the ZenML dashboard (uv run zenml login --local)",
            f"  Feature store:    {state / 'feast'} (offline Parquet, SQLite online store)",
            f"  Inventory:        {state / 'inventory' / 'recommendations.csv'} (+ .parquet); "
            "forecasts, backtest metrics and plots in the demand_forecasting run and MLflow",
            "  Services:         uv run python run.py deployments (URLs; Swagger UI at /); "
            "stop them with: uv run python run.py undeploy",
            f"  Monitoring:       uv run evidently ui --workspace {state / 'evidently'}; "
            f"table monitoring_metrics in {state / 'monitoring.duckdb'}",
        ]
    )


@cli.command(help="Make MLflow version N the champion (and its ZenML model version production).")
@click.option("--version", "version", type=click.IntRange(min=1), required=True)
def promote(version: int) -> None:
    """Promote a version by hand."""
    from retail_mlops.names import MODEL_NAME
    from steps import client

    try:
        _ensure_stack()
        client.configure_mlflow_from_stack()
        previous = client.promote_model(MODEL_NAME, version)
        click.echo(f"{MODEL_NAME}: champion v{previous or '-'} -> v{version}")
    except Exception as exc:
        _fail(exc)


@cli.command(help="Move the champion back to the version that held it before.")
def rollback() -> None:
    """Roll back the champion alias (and the ZenML production stage)."""
    from retail_mlops.names import MODEL_NAME
    from steps import client

    try:
        _ensure_stack()
        client.configure_mlflow_from_stack()
        version = client.rollback_model(MODEL_NAME)
        click.echo(f"{MODEL_NAME}: champion rolled back to v{version}")
    except Exception as exc:
        _fail(exc)


@cli.command(name="drift-report", help="Write the latest drift report HTML to a file.")
@click.option("--output", type=click.Path(dir_okay=False), default=None)
def drift_report(output: str | None) -> None:
    """Export the latest `drift_report` artifact so it opens in a browser."""
    from zenml.client import Client

    from retail_mlops.names import A
    from retail_mlops.paths import state_dir

    try:
        html = Client().get_artifact_version(A.DRIFT_REPORT).load()
    except KeyError:
        click.echo("error: no drift report yet: run churn_batch_inference first", err=True)
        sys.exit(2)
    path = Path(output) if output else state_dir() / "reports" / "drift_report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(html))
    click.echo(str(path))


@cli.command(name="forecast-file", help="Forecast the daily series in a CSV (ds, y[, series_id]).")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--horizon", type=click.IntRange(min=1, max=366), required=True, help="Days ahead.")
@click.option(
    "--model",
    type=click.Choice(["auto", "prophet", "xgboost", "naive"]),
    default="auto",
    show_default=True,
    help="auto: per series, the pipeline's choice over the last ORIGINS windows of HORIZON days.",
)
@click.option(
    "--origins",
    type=click.IntRange(1, 12),
    default=None,
    help="Backtest windows of HORIZON days the auto choice is made on (default: config, 1).",
)
@click.option(
    "--output", type=click.Path(dir_okay=False), default=None, help="CSV (default stdout)."
)
@click.option("--date-col", default="ds", show_default=True)
@click.option("--value-col", default="y", show_default=True)
@click.option("--id-col", default="series_id", show_default=True)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML with `prophet:`, `global_model:` and `choice:` settings (e.g. "
    "configs/forecast_file/prophet.yaml); default: the models' own defaults.",
)
def forecast_file(
    path: str,
    horizon: int,
    model: str,
    origins: int | None,
    output: str | None,
    date_col: str,
    value_col: str,
    id_col: str,
    config: str | None,
) -> None:
    """Write series_id, ds, yhat, yhat_lower, yhat_upper, model for each series."""
    import dataclasses

    from retail_mlops.forecasting.forecast_file import (
        file_settings,
        forecast_series,
        read_series_file,
    )
    from retail_mlops.io import write_csv_atomic

    try:
        settings = file_settings(Path(config) if config else None)
        if origins is not None:
            settings = dataclasses.replace(settings, origins=origins)
        series = read_series_file(Path(path), date_col, value_col, id_col)
        result = forecast_series(series, horizon, model, settings=settings)
    except Exception as exc:
        _fail(exc)
        return
    if output:
        click.echo(str(write_csv_atomic(result, Path(output))))
    else:
        click.echo(result.to_csv(index=False), nl=False)


def _month_starts(start: Any, end: Any) -> list[Any]:
    import pandas as pd

    return list(pd.date_range(start, end, freq="MS"))


def _retrain_cutoffs(raw: dict[str, Any], as_of: Any, horizon_days: int) -> dict[str, str]:
    """churn_training's cutoffs for a retrain as of `as_of`, keeping the config's train-test gap.

    The test cutoff is the latest month start whose outcomes (`horizon_days` later) are known
    by `as_of`; the last training cutoff sits as far before it as in the config, so no label
    of the training set overlaps the test period.

    Raises:
        DataError: If that leaves no training cutoff after the config's first one.
    """
    import pandas as pd

    from retail_mlops.errors import DataError

    params = raw["parameters"]
    gap = pd.Timestamp(params["test_cutoff"]) - pd.Timestamp(params["last_train_cutoff"])
    test = (pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days)).to_period("M").start_time
    last = (test - gap).to_period("M").start_time
    if last < pd.Timestamp(params["first_cutoff"]):
        raise DataError(
            f"too early to retrain as of {pd.Timestamp(as_of).date()}: no training cutoff"
        )
    return {"last_train_cutoff": str(last.date()), "test_cutoff": str(test.date())}


@cli.command(
    help="Monitor churn month by month: batch scoring and a monitoring window as of each "
    "month start, and (--retrain auto) churn_training when the gate says retrain."
)
@click.option("--from", "start", type=click.DateTime(formats=["%Y-%m-%d"]), required=True)
@click.option("--to", "end", type=click.DateTime(formats=["%Y-%m-%d"]), required=True)
@click.option("--every", type=click.Choice(["month"]), default="month", show_default=True)
@click.option("--retrain", type=click.Choice(["auto", "off"]), default="off", show_default=True)
@click.option("--dev", is_flag=True, help="Use the .dev configs (the committed subset).")
@click.option(
    "--replay/--no-replay",
    "replay_traffic",
    default=True,
    show_default=True,
    help="Replay each month's real customers through the running churn service (needs its "
    "API key); without a running service nothing is replayed.",
)
@click.option(
    "--monitoring-config",
    type=click.Path(dir_okay=False),
    default=None,
    help="churn_monitoring YAML (its gate limits decide); default configs/churn_monitoring.yaml.",
)
def monitor(
    start: Any,
    end: Any,
    every: str,
    retrain: str,
    dev: bool,
    replay_traffic: bool,
    monitoring_config: str | None,
) -> None:
    """Score, monitor and maybe retrain for each month start from --from to --to."""
    import pandas as pd
    from zenml import log_metadata

    from configs.schema import load_config
    from retail_mlops.errors import DataError
    from retail_mlops.names import MODEL_NAME, A
    from retail_mlops.registry import churn_horizon

    suffix = ".dev" if dev else ""
    configs = {n: str(ROOT / "configs" / f"{n}{suffix}.yaml") for n in PIPELINES}
    if monitoring_config:
        configs["churn_monitoring"] = monitoring_config
    rows = []
    try:
        months = _month_starts(start, end)
        if not months:
            raise DataError(f"no month start between {start.date()} and {end.date()}")
        for month in months:
            day = str(month.date())
            scoring = run_pipeline(
                "churn_batch_inference",
                configs["churn_batch_inference"],
                True,
                {"scoring_cutoff": day},
            )
            replayed = _replay_month(scoring, month) if replay_traffic else None
            as_of = str((month + pd.Timedelta(days=1)).date())  # the window holds `month`
            watch = run_pipeline(
                "churn_monitoring", configs["churn_monitoring"], True, {"as_of": as_of}
            )
            decision = _output(watch, "gate_window", A.MONITORING_DECISION)
            row = {"as_of": day, "action": decision["action"], "retrained": ""}
            row["served"] = replayed.summary() if replayed else "no churn service: not replayed"
            row |= _window_figures(_output(watch, "evaluate_window", A.WINDOW_FIGURES))
            if decision["action"] == "retrain" and retrain == "auto":
                raw = load_config(Path(configs["churn_training"]))
                cutoffs = _retrain_cutoffs(raw, month, churn_horizon(MODEL_NAME))
                trained = run_pipeline("churn_training", configs["churn_training"], True, cutoffs)
                promotion = _output(trained, "promote_churn_model", A.PROMOTION)
                reasons = list(decision.get("reasons", []))
                log_metadata(
                    metadata={
                        "triggered_by": {"monitoring_run": str(watch.id), "reasons": reasons}
                    },
                    run_id_name_or_prefix=str(trained.id),
                )
                log_metadata(
                    metadata={"triggered": {"training_run": str(trained.id), **cutoffs}},
                    run_id_name_or_prefix=str(watch.id),
                )
                row["retrained"] = f"{cutoffs['test_cutoff']}: {_promotion_word(promotion)}"
                if isinstance(promotion, dict) and promotion.get("promoted"):
                    row["retrained"] += _redeploy_churn(configs["deployment"], trained)
            rows.append(row)
            click.echo(_monitor_line(row))
    except Exception as exc:
        _fail(exc)
    click.echo(pd.DataFrame(rows).to_string(index=False))


def _replay_month(scoring: Any, month: Any) -> Any:
    """The month's real customers through the running churn service (None: none is running).

    Their rows are the scoring run's features of the month start, sent to the service's
    replay endpoint so the log records them on that day (`retail_mlops.monitoring.replay`).
    """
    from retail_mlops.deploy.process import current, http
    from retail_mlops.errors import InfraError
    from retail_mlops.monitoring.replay import replay, replay_rows, wait_logged
    from retail_mlops.monitoring.window import churn_log_dir
    from retail_mlops.names import A
    from retail_mlops.serving.runtime import auth_headers

    dep = current("churn")
    if dep is None:
        return None
    headers = auth_headers()
    status, schema = http("GET", f"{dep.url}/docs.json", headers=headers)
    if status != 200 or not isinstance(schema, dict):
        raise InfraError(f"the churn service at {dep.url} answered {status} for its schema")
    fields = schema["components"]["schemas"]["FeatureRow"]["properties"]
    names = [f for f in fields if f not in ("customer_id", "as_of")]
    features = _output(scoring, "fetch_customer_features", A.CUSTOMER_DATASET)
    rows = replay_rows(features, names, month)

    def post(path: str, body: Any) -> tuple[int, Any]:
        return http("POST", f"{dep.url}{path}", body, headers=headers, timeout=60)

    replayed = replay(post, rows, month)
    wait_logged(churn_log_dir(), replayed.request_ids)  # before the window reads the log
    return replayed


def _redeploy_churn(config: str, trained: Any) -> str:
    """Serve a newly promoted champion: the churn deployment again, if the service is running.

    The running service's release names its models, so a new champion needs a new Bento; the
    deployment pipeline builds it and replaces the service only once the new one answers. No
    running service: nothing to do (the next `run.py deployment` serves the new champion).
    The new server takes the running one's port, whatever the config says, so clients of the
    running service keep their URL.
    """
    from zenml import log_metadata

    from retail_mlops.deploy.process import current

    running = current("churn")
    if running is None:  # none recorded, or its server is gone
        return ""
    churn = {**_deployment_params(config)["churn"], "port": running.port}
    deployed = run_pipeline("deployment", config, True, {"services": ["churn"], "churn": churn})
    log_metadata(
        metadata={"redeployed": {"deployment_run": str(deployed.id), "service": "churn"}},
        run_id_name_or_prefix=str(trained.id),
    )
    return "; churn service redeployed"


def _output(run: Any, step: str, name: str) -> Any:
    from zenml.client import Client

    return Client().get_pipeline_run(run.id).steps[step].outputs[name][0].load()


def _window_figures(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a window's batch series and first served one, for its line."""
    out: dict[str, Any] = {}
    for segment in figures.get("segments", []):
        source = segment.get("source")
        prefix = "" if source == "batch" else "served_"
        if source not in ("batch", "served") or f"{prefix}ks" in out:
            continue
        out[f"{prefix}ks"] = (segment.get("prediction") or {}).get("ks_statistic")
        out[f"{prefix}drift_share"] = (segment.get("feature_drift") or {}).get("drift_share")
        performance = segment.get("performance") or {}
        out[f"{prefix}roc_auc"] = performance.get("roc_auc")
        out[f"{prefix}brier"] = performance.get("brier")
    return out


def _promotion_word(promotion: Any) -> str:
    if isinstance(promotion, dict):
        return "promoted" if promotion.get("promoted") else "champion kept"
    return str(promotion)


def _monitor_line(row: dict[str, Any]) -> str:
    figures = ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float) and v == v)
    retrained = f"; retrained (test {row['retrained']})" if row["retrained"] else ""
    retrained += f"; served: {row['served']}"
    return f"{row['as_of']}: {row['action']}" + (f" ({figures})" if figures else "") + retrained


@cli.group(help="In-warehouse ML: the feature view and the compiled churn model as SQL.")
def warehouse() -> None:
    """Warehouse commands."""


@warehouse.command(
    name="export",
    help="Write the SQL a DBA reviews: customer_features.sql (the view) and churn_model.sql "
    "(the champion compiled to SQL), for one dialect.",
)
@click.option(
    "--dialect",
    type=click.Choice(["duckdb", "postgres", "snowflake"]),
    default="duckdb",
    show_default=True,
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
@click.option("--version", type=int, default=None, help="MLflow version (default: the champion).")
def warehouse_export(dialect: str, out_dir: str, version: int | None) -> None:
    """Compile the champion (or `--version`) to the dialect's SQL files."""
    try:
        import mlflow

        from retail_mlops.errors import DataError
        from retail_mlops.names import CHAMPION, MODEL_NAME
        from retail_mlops.registry import alias_version
        from retail_mlops.warehouse.scoring import export_sql
        from steps.client import configure_mlflow_from_stack

        _ensure_stack()
        configure_mlflow_from_stack()
        if version is None:
            version = alias_version(MODEL_NAME, CHAMPION)
            if version is None:
                raise DataError(f"model {MODEL_NAME!r} has no champion yet: run churn_training")
        try:
            model = mlflow.xgboost.load_model(f"models:/{MODEL_NAME}/{version}")
        except mlflow.exceptions.MlflowException as exc:
            raise DataError(f"{MODEL_NAME} v{version}: {str(exc).splitlines()[0]}") from exc
        paths = export_sql(model, MODEL_NAME, version, dialect, Path(out_dir))
    except Exception as exc:
        _fail(exc)
        return
    for path in paths:
        click.echo(str(path))


@cli.group(help="Stacks are files under configs/stacks/.")
def stack() -> None:
    """Stack commands."""


@stack.command(name="register", help="Register configs/stacks/NAME.yaml (idempotent).")
@click.argument("name")
@click.option("--no-activate", is_flag=True)
def stack_register(name: str, no_activate: bool) -> None:
    """Register a stack file."""
    from configs.stacks import register_stack

    try:
        click.echo(f"stack {register_stack(name, activate=not no_activate)!r} registered")
    except Exception as exc:
        _fail(exc)


def _deployment_params(config: str | None) -> dict[str, Any]:
    from configs.schema import DeploymentParams, validate_config_file

    path = Path(config) if config else ROOT / "configs" / "deployment.yaml"
    raw = validate_config_file(path, "deployment")["parameters"]
    return DeploymentParams(**raw).model_dump(mode="json")  # with every default filled in


@cli.command(help="Build the Bentos for the current models and (re)start the local services.")
@click.option("--config", type=click.Path(dir_okay=False), default=None)
@click.option("--rollback", "do_rollback", is_flag=True, help="Serve the previous Bento again.")
@click.option("--service", type=click.Choice(SERVICE_NAMES), default=None)
def deployment(config: str | None, do_rollback: bool, service: str | None) -> None:
    """Run the deployment pipeline, or roll a service back to its previous Bento."""
    try:
        params = _deployment_params(config)
        services = [service] if service else list(params["services"])
        if do_rollback:
            from retail_mlops.deploy import deployer

            for name in services:
                dep = deployer.rollback(name)
                click.echo(f"{name}: rolled back to {dep.target} at {dep.url}")
            return
        if service:
            run_pipeline("deployment", config, True, {"services": services})
        else:
            run_pipeline("deployment", config, no_cache=True)
    except Exception as exc:
        _fail(exc, "deployment")
    _print_deployments()


def _print_deployments() -> None:
    from retail_mlops.deploy.process import statuses

    rows = statuses()
    if not rows:
        click.echo("no services deployed (run: python run.py deployment)")
        return
    for r in rows:
        models = ", ".join(
            f"{k}={v.get('version', v.get('tag', v)) if isinstance(v, dict) else v}"
            for k, v in r["models"].items()
        )
        click.echo(
            f"{r['service']:<7} {r['state']:<8} {r['url']:<24} pid {r['pid']:<7} "
            f"{r['target']}  [{models}]  since {r['started_at']}"
        )


@cli.command(help="List the local services: Bento, URL, PID, state, models.")
def deployments() -> None:
    """What `zenml model-deployer models list` would show for these services."""
    _print_deployments()


@cli.command(help="Stop a local service (or all); the record stays for rollback.")
@click.argument("service", required=False, type=click.Choice(SERVICE_NAMES))
def undeploy(service: str | None) -> None:
    """Stop services started by `deployment`."""
    from retail_mlops.deploy.process import stop_service

    for name in [service] if service else ["churn", "demand"]:
        dep = stop_service(name)
        click.echo(f"{name}: {'stopped ' + dep.target if dep else 'not running'}")


@cli.command(help="Serve churn or demand in the foreground from the current registry aliases.")
@click.argument("service", type=click.Choice(SERVICE_NAMES))
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: config.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--config", type=click.Path(dir_okay=False), default=None)
def serve(service: str, port: int | None, host: str, config: str | None) -> None:
    """Resolve the release like the deployment pipeline, then exec `bentoml serve`."""
    from retail_mlops.deploy import process
    from retail_mlops.deploy.services import SERVICES
    from retail_mlops.paths import state_dir
    from retail_mlops.serving.release import release_env, write_release

    try:
        params = _deployment_params(config)
        _ensure_stack()
        release = _resolve_release(service, params)
        path = write_release(release, state_dir() / "serving" / "releases", f"{service}.json")
    except Exception as exc:
        _fail(exc)
        return
    port = port or int(params[service]["port"])
    cmd = process.serve_command(SERVICES[service].target, host, port)
    env = process.service_env({release_env(service): str(path)})
    click.echo(f"serving {service} ({path}) at http://{host}:{port}; Ctrl-C stops it", err=True)
    os.chdir(ROOT)
    os.execve(cmd[0], cmd, env)


@cli.command(name="ab-report", help="Per-variant churn results once outcomes are known.")
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where the outcomes come from: the source of this churn_training config "
    "(default configs/churn_training.yaml).",
)
@click.option("--log-dir", type=click.Path(file_okay=False), default=None)
@click.option(
    "--horizon-days",
    type=click.IntRange(1, 365),
    default=None,
    help="Churn horizon of the outcomes (default: the one the champion was trained on).",
)
@click.option("--min-rows", type=click.IntRange(2), default=30, show_default=True)
def ab_report_command(
    config: str | None, log_dir: str | None, horizon_days: int | None, min_rows: int
) -> None:
    """Join the predictions log with what customers did afterwards."""
    from configs.schema import validate_config_file
    from retail_mlops.ingest.sources import read_source
    from retail_mlops.monitoring.ab import ab_report, render
    from retail_mlops.serving.predlog import read_log
    from retail_mlops.serving.runtime import predictions_dir
    from retail_mlops.validate.rules import split_quarantine

    try:
        path = Path(config) if config else ROOT / "configs" / "churn_training.yaml"
        source = validate_config_file(path, "churn_training")["parameters"]["source"]
        log = read_log(Path(log_dir) if log_dir else predictions_dir("churn"))
        raw, _lineage = read_source(source)
        clean, _quarantine = split_quarantine(raw)
        if horizon_days is None:
            from retail_mlops.names import MODEL_NAME
            from retail_mlops.registry import churn_horizon
            from steps.client import configure_mlflow_from_stack

            _ensure_stack()
            configure_mlflow_from_stack()
            horizon_days = churn_horizon(MODEL_NAME)
        report = ab_report(log, clean, horizon_days=horizon_days, min_rows=min_rows)
    except Exception as exc:
        _fail(exc)
        return
    click.echo(render(report))


def _resolve_release(service: str, params: dict[str, Any]) -> Any:
    if service == "churn":
        from steps.client import churn_release_from_stack

        return churn_release_from_stack(params["churn"])
    from steps.client import latest_demand_release

    return latest_demand_release(params["demand"])


if __name__ == "__main__":
    _install_warning_filters()
    cli()
