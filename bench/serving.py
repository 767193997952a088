"""Churn serving load test: the BentoML service vs `mlflow models serve` vs a bare FastAPI floor.

Trains the churn model on the real data (the committed subset, or --full), logs and registers
it in MLflow as the direct path of bench/pipeline_overhead.py does, makes it champion and
serves that one model version four ways, one worker each, all on loopback:

- the churn service (`bentoml serve`), adaptive batching on, then off (one variant at weight
  100, so routing is constant);
- `mlflow models serve` of the same registry version, as shipped (/invocations,
  dataframe_split; its uvicorn keeps the access log on);
- a bare FastAPI + uvicorn app around the same UBJ booster (bench/_fastapi_floor.py): the
  floor the HTTP stack allows;
- the feature-lookup path: `/predict_customer` (ids in, features from Feast's online store) of
  the batching service on its SQLite store, and of a second one on a Redis store (a throw-away
  `redis-server` on loopback; left out, with a note, where redis-server is not installed).
  Both stores hold every customer's latest features from the training data (Feast's offline
  write and materialize, as feature_materialization does).

Every server gets the same load: single-row POSTs cycling through --rows real feature rows,
from wrk with one thread and --connections connections for --duration seconds, after a short
warm-up. Configurations are interleaved across --repeats rounds (machines are noisy) and the
medians are reported, with wrk's own CPU use (it shares the machine with the server) and the
server's. The goals: /predict >= 10x mlflow serve and >= 60% of the floor with p99 <= 100 ms;
/predict_customer >= 70% of /predict's req/s with p99 <= 100 ms on each store.

Usage: uv run python -m bench.serving [--duration 10] [--connections 32] [--repeats 3]
       [--rows N] [--full]
The last line is JSON with rps_service, rps_mlflow, rps_fastapi, p99_ms_service,
rps_customer_sqlite, rps_customer_redis, p99_ms_customer_sqlite, p99_ms_customer_redis and the
other figures. State (MLflow store, BentoML store, logs) goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="bench-serving-"))
os.environ["RETAIL_MLOPS_HOME"] = str(_HOME / "state")
os.environ["ZENML_CONFIG_PATH"] = str(_HOME / "zenml")
os.environ["ZENML_ANALYTICS_OPT_IN"] = "false"
os.environ["GIT_PYTHON_REFRESH"] = "quiet"
# the servers are children: they inherit the throw-away registry and model store
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{_HOME / 'mlflow.db'}"
os.environ["BENTOML_HOME"] = str(_HOME / "state" / "bentoml")
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"

from retail_mlops.deploy.services import SERVICES  # noqa: E402  (after the state folder is set)

HOST = "127.0.0.1"
WORKERS = 1
FULL_DATA_ROWS = 10_000  # request pool cap on the full data: the wrk script holds every body
SERVICE_TARGET = SERVICES["churn"].target
WARMUP_S = 3
IDLE_PROBE_S = 3


@dataclass(frozen=True)
class Target:
    """One server under load: how to reach it and which body format it takes."""

    key: str  # JSON suffix
    label: str
    url: str  # full URL of the scoring endpoint
    bodies: list[str]


def train_and_register(full: bool) -> tuple[int, Any, list[str]]:
    """Train the churn model on the real data, log it, register it and make it champion.

    Returns:
        The registry version, the feature table (customer_id, features, ...) and the features.
    """
    import mlflow
    from mlflow import MlflowClient

    from bench._churn import churn_recipe
    from retail_mlops.churn.tracking import log_churn_model
    from retail_mlops.names import CHAMPION, MODEL_NAME
    from retail_mlops.registry import register

    recipe = churn_recipe(dev=not full)
    train, valid, features = recipe.train, recipe.valid, recipe.features
    # an explicit artifact root: the default one is relative to the working directory
    mlflow.create_experiment("bench_serving", artifact_location=(_HOME / "mlartifacts").as_uri())
    mlflow.set_experiment("bench_serving")
    with mlflow.start_run():
        model_uri = log_churn_model(recipe.model, train, valid, recipe.params, features)
    version = register(model_uri, MODEL_NAME)
    MlflowClient().set_registered_model_alias(MODEL_NAME, CHAMPION, str(version))
    return version, recipe.data, features


def request_rows(data: Any, features: list[str], n: int | None, full: bool) -> list[dict[str, Any]]:
    """Single-row request payloads from real feature rows (shuffled, null = missing)."""
    limit = n if n is not None else (FULL_DATA_ROWS if full else len(data))
    sample = data.sample(frac=1.0, random_state=0).head(limit)
    rows = []
    for rec in sample[["customer_id", *features]].itertuples(index=False):
        values = [None if v != v else float(v) for v in rec[1:]]  # NaN -> null
        rows.append({"customer_id": str(rec[0]), **dict(zip(features, values, strict=True))})
    return rows


VIEW = "customer_features"


def load_online_stores(data: Any, features: list[str], repos: list[Path]) -> Any:
    """Every customer's features into each repo's online store; returns the latest per customer.

    Offline first (all snapshots, as feature_materialization writes them), then Feast's
    materialize into the repo's online store, so each store holds the newest snapshot.
    """
    import pandas as pd

    from retail_mlops.features import feast_store

    snaps = data[["customer_id", "cutoff", *features]].rename(columns={"cutoff": "event_timestamp"})
    feast_store.write_offline(snaps, VIEW, feast_store.quality_summary(snaps, features))
    end = pd.Timestamp(snaps["event_timestamp"].max()) + pd.Timedelta(days=1)
    for repo in repos:
        store = feast_store.feature_store(str(repo))
        feast_store.apply_definitions(store)
        feast_store.materialize(store, [VIEW], end.to_pydatetime())
    latest = snaps.sort_values("event_timestamp").groupby("customer_id").last()
    latest.index = latest.index.astype(str)
    return latest


# --- servers ---------------------------------------------------------------------------------


def spawn(name: str, cmd: list[str], port: int, probe: str, log: Path) -> Any:
    """Start a non-BentoML server with the services' launcher; wait until `probe` answers 200.

    Returns a `process.Deployment`, so `process.stop` ends it the same way as the services.
    """
    from retail_mlops.deploy.process import launch, own_bin_first

    env = own_bin_first(os.environ)  # `mlflow models serve` runs `uvicorn` by name
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    return launch(name, cmd, port, host=HOST, probe=probe, env=env, log_path=log)


def _tree(pid: int) -> list[Any]:
    """The psutil processes of a server's whole tree (empty once it is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _tree_sum(pid: int, measure: Any) -> float:
    import psutil

    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += measure(p)
    return total


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a server's whole process tree so far."""
    return _tree_sum(pid, lambda p: sum(p.cpu_times()[:2]))


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a server's whole process tree, in MB."""
    return _tree_sum(pid, lambda p: p.memory_info().rss / 2**20)


def stop_leftovers() -> None:
    """Stop any server this process started but does not hold yet (Ctrl-C while starting).

    The servers run in their own sessions, so Ctrl-C never reaches them; they are still this
    process's children, which is how they are found.
    """
    import psutil

    from retail_mlops.deploy.process import Deployment, stop

    for child in psutil.Process().children():
        try:
            tree = [child.pid, *(c.pid for c in child.children(recursive=True))]
        except psutil.NoSuchProcess:
            continue
        stop(Deployment("leftover", "", HOST, 0, child.pid, tree), grace_s=10)


# --- load ------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def lua_script(bodies: list[str], folder: Path, name: str, delay_ms: int | None = None) -> Path:
    """A wrk script that POSTs the bodies round-robin, each request pre-formatted once.

    With `delay_ms` (whole milliseconds: wrk truncates), each connection waits that long
    before each request (wrk's `delay` hook): a paced load of about connections x 1000 /
    (delay_ms + latency) requests/s, not flat out.
    """
    for b in bodies:
        if "]==]" in b:
            raise ValueError("a body contains the Lua long-string terminator")
    table = ",\n".join(f"[==[{b}]==]" for b in bodies)
    path = folder / f"{name}.lua"
    path.write_text(
        f"local bodies = {{\n{table}\n}}\n"
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        "local reqs, i = {}, 0\n"
        "function init(args)\n"
        "  for k, b in ipairs(bodies) do reqs[k] = wrk.format(nil, nil, nil, b) end\n"
        "end\n"
        "function request()\n"
        "  i = i % #reqs + 1\n"
        "  return reqs[i]\n"
        "end\n" + ("" if delay_ms is None else f"function delay()\n  return {delay_ms:d}\nend\n")
    )
    return path


def parse_wrk(text: str) -> dict[str, float]:
    """Requests/s, p50/p99 in ms, request and error counts from `wrk --latency` output.

    Raises:
        RuntimeError: If the output lacks the figures (wrk failed).
    """
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    lat = {
        m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
        for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
    }
    if not (rps and total and "50" in lat and "99" in lat):
        raise RuntimeError(f"unexpected wrk output:\n{text}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(rps.group(1)),
        "p50_ms": lat["50"],
        "p99_ms": lat["99"],
        "requests": float(total.group(1)),
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": float(sum(int(g) for g in sock.groups())) if sock else 0.0,
    }


def wrk_run(
    wrk: str, url: str, script: Path, duration: int, connections: int, server_pid: int
) -> dict[str, float]:
    """One wrk run (one thread); adds wrk's and the server's CPU time as shares of wall time.

    Raises:
        RuntimeError: If wrk fails, or any response is not 2xx or any socket errored.
    """
    out = script.with_suffix(".out")
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    cpu0 = tree_cpu_s(server_pid)
    t0 = time.perf_counter()
    with open(out, "wb") as fh:
        proc = subprocess.Popen([*cmd, "-s", str(script), url], stdout=fh, stderr=subprocess.STDOUT)
    # wait4 hands back this child's own rusage: wrk's CPU time, nothing else's
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    server_cpu = tree_cpu_s(server_pid) - cpu0
    text = out.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited with {proc.returncode}:\n{text}")
    res = parse_wrk(text)
    if res["non2xx"] or res["socket_errors"]:
        raise RuntimeError(
            f"{url}: {res['non2xx']:.0f} non-2xx responses and {res['socket_errors']:.0f} socket "
            f"errors in {res['requests']:.0f} requests:\n{text}"
        )
    res["wrk_cpu"] = (usage.ru_utime + usage.ru_stime) / wall
    res["server_cpu"] = server_cpu / wall
    return res


def check_answers(targets: dict[str, Target], booster: Any, latest: Any) -> None:
    """One request per server before the load: 200, and the floor and services score alike.

    The feature-lookup path must score the store's latest snapshot of the customer.

    Raises:
        RuntimeError: If a server refuses the body or the scores disagree with the booster.
    """
    import numpy as np

    from retail_mlops.deploy.process import http

    for key, t in targets.items():
        body = json.loads(t.bodies[0])
        status, answer = http("POST", t.url, body, timeout=30)
        if status != 200:
            raise RuntimeError(f"{t.label} answered {status}: {answer}")
        if key == "mlflow":
            continue  # the sklearn-flavour pyfunc answers class labels; only the status counts
        if key.startswith("customer_"):
            [result] = answer["results"]
            if result["status"] != 200:
                raise RuntimeError(f"{t.label} found no features: {result}")
            row = latest.loc[body["customer_ids"][0]].to_dict()
            got = float(result["churn_probability"])
        else:
            row = body["rows"][0]
            got = float(answer["predictions"][0]["churn_probability"])
        feats = [f for f in row if f not in ("customer_id", "event_timestamp")]
        x = np.array([[np.nan if row[f] is None else row[f] for f in feats]], dtype=np.float32)
        want = float(booster.inplace_predict(x, validate_features=False)[0])
        if abs(got - want) > 1e-5:
            raise RuntimeError(f"{t.label} scored {got}, the booster {want}")


# --- main ------------------------------------------------------------------------------------

CONFIGS = [
    ("service", "churn service, batching on"),
    ("service_nobatch", "churn service, batching off"),
    ("mlflow", "mlflow models serve"),
    ("fastapi", "bare FastAPI floor"),
    ("customer_sqlite", "/predict_customer, SQLite"),
    ("customer_redis", "/predict_customer, Redis"),
]


def main() -> None:
    """Train, start the four servers, load each in interleaved rounds, print medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help=f"distinct request rows cycled through (default: all; {FULL_DATA_ROWS} with --full)",
    )
    parser.add_argument("--full", action="store_true", help="train on the full UCI data set")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        shutil.rmtree(_HOME, ignore_errors=True)
        raise SystemExit("wrk not found: install it (apt-get install wrk) and run again")
    configs = CONFIGS
    if shutil.which("redis-server") is None:
        print("redis-server not installed: /predict_customer on Redis is left out", flush=True)
        configs = [c for c in CONFIGS if c[0] != "customer_redis"]
    keys = [key for key, _ in configs]
    # the feature-lookup path on SQLite is the batching service's own /predict_customer
    server_of = {key: "service" if key == "customer_sqlite" else key for key in keys}
    with contextlib.ExitStack() as servers:
        if "customer_redis" in keys:
            from retail_mlops.deploy.servers import redis_server

            redis_port = servers.enter_context(redis_server())
            os.environ["FEAST_REDIS_CONNECTION"] = f"{HOST}:{redis_port}"
        _measure(args, wrk, configs, server_of)


def _measure(
    args: argparse.Namespace, wrk: str, configs: list[tuple[str, str]], server_of: dict[str, str]
) -> None:
    """Train, load the stores, start the servers, load each in interleaved rounds, print."""
    keys = [key for key, _ in configs]

    from retail_mlops.deploy import process
    from retail_mlops.names import CHAMPION, MODEL_NAME
    from retail_mlops.serving.bento_store import BOOSTER_FILE, churn_release, load_booster
    from retail_mlops.serving.release import ChurnServing, release_env, write_release

    t0 = time.perf_counter()
    version, data, features = train_and_register(args.full)
    rows = request_rows(data, features, args.rows, args.full)
    repos = [ROOT / "feature_repo"] + (
        [ROOT / "feature_repo" / "redis"] if "customer_redis" in keys else []
    )
    latest = load_online_stores(data, features, repos)
    print(
        f"model: {MODEL_NAME} v{version} trained on the "
        f"{'full UCI Online Retail II data' if args.full else 'committed real subset'} "
        f"({time.perf_counter() - t0:.1f} s); {len(rows)} distinct request rows",
        flush=True,
    )

    import bentoml

    from retail_mlops.serving.runtime import API_KEY_ENV

    os.environ.pop(API_KEY_ENV, None)  # unauthenticated, like the floor: wrk sends no key
    work = _HOME / "bench"
    logs = _HOME / "logs"
    work.mkdir()
    logs.mkdir()
    releases = {}
    services = {  # batching, online store
        "service": (True, ROOT / "feature_repo"),
        "service_nobatch": (False, ROOT / "feature_repo"),
        "customer_redis": (True, ROOT / "feature_repo" / "redis"),
    }
    services = {key: v for key, v in services.items() if key in keys}
    for key, (enabled, repo) in services.items():
        # one variant at weight 100: every row takes the same route, only batching differs
        spec = ChurnServing.model_validate(
            {
                "variants": [{"name": "champion", "alias": CHAMPION, "weight": 100}],
                "batching": {"enabled": enabled},
            }
        )
        release = churn_release(spec, str(repo), MODEL_NAME)
        releases[key] = write_release(release, work, f"release_{key}.json")
    tag = release.variants[0].model_tag
    model_file = bentoml.models.get(tag).path_of(BOOSTER_FILE)
    booster = load_booster(tag)

    bodies_service = [json.dumps({"rows": [r]}, separators=(",", ":")) for r in rows]
    bodies_mlflow = [
        json.dumps(
            {"dataframe_split": {"columns": features, "data": [[r[f] for f in features]]}},
            separators=(",", ":"),
        )
        for r in rows
    ]
    bodies_customer = [json.dumps({"customer_ids": [r["customer_id"]]}) for r in rows]
    ports = {key: process.free_port() for key in set(server_of.values())}
    paths = {
        "mlflow": "/invocations",
        "customer_sqlite": "/predict_customer",
        "customer_redis": "/predict_customer",
    }
    bodies = {
        "mlflow": bodies_mlflow,
        "customer_sqlite": bodies_customer,
        "customer_redis": bodies_customer,
    }
    targets = {
        key: Target(
            key,
            label,
            f"http://{HOST}:{ports[server_of[key]]}{paths.get(key, '/predict')}",
            bodies.get(key, bodies_service),
        )
        for key, label in configs
    }
    scripts = {key: lua_script(t.bodies, work, key) for key, t in targets.items()}

    deps: dict[str, Any] = {}
    try:
        for key in services:
            deps[key] = process.start(
                f"churn-{key}",
                SERVICE_TARGET,
                ports[key],
                env={release_env("churn"): str(releases[key])},
                log_path=logs / f"{key}.log",
            )
        mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
        deps["mlflow"] = spawn(
            "mlflow",
            [
                *(mlflow_bin, "models", "serve", "-m", f"models:/{MODEL_NAME}/{version}"),
                *("--env-manager", "local", "--host", HOST, "--port", str(ports["mlflow"])),
                *("--workers", str(WORKERS)),
            ],
            ports["mlflow"],
            "/ping",
            logs / "mlflow.log",
        )
        deps["fastapi"] = spawn(
            "fastapi",
            [
                sys.executable,
                str(ROOT / "bench" / "_fastapi_floor.py"),
                model_file,
                str(ports["fastapi"]),
            ],
            ports["fastapi"],
            "/healthz",
            logs / "fastapi.log",
        )
        check_answers(targets, booster, latest)
        for key, t in targets.items():
            pid = deps[server_of[key]].pid
            wrk_run(wrk, t.url, scripts[key], WARMUP_S, args.connections, pid)
        # all four stay up while one is loaded: what the idle ones burn is taken from it
        idle0 = {key: tree_cpu_s(dep.pid) for key, dep in deps.items()}
        time.sleep(IDLE_PROBE_S)
        idle = {key: (tree_cpu_s(dep.pid) - idle0[key]) / IDLE_PROBE_S for key, dep in deps.items()}
        print(
            "idle CPU of each server: " + ", ".join(f"{k} {v:.1%}" for k, v in idle.items()),
            flush=True,
        )
        print(
            f"load: wrk -t1 -c{args.connections} -d{args.duration}s, single-row POSTs, "
            f"{WORKERS} server worker, loopback; {args.repeats} interleaved rounds",
            flush=True,
        )
        runs: dict[str, list[dict[str, float]]] = {key: [] for key in keys}
        for i in range(args.repeats):
            for key in keys[i % len(keys) :] + keys[: i % len(keys)]:  # rotate the order
                res = wrk_run(
                    wrk,
                    targets[key].url,
                    scripts[key],
                    args.duration,
                    args.connections,
                    deps[server_of[key]].pid,
                )
                runs[key].append(res)
                print(
                    f"  round {i + 1} {targets[key].label:<28} {res['rps']:>8.0f} req/s  "
                    f"p50 {res['p50_ms']:6.2f} ms  p99 {res['p99_ms']:7.2f} ms  "
                    f"wrk CPU {res['wrk_cpu']:4.0%}  server CPU {res['server_cpu']:4.0%}",
                    flush=True,
                )
    finally:
        # a second Ctrl-C (or the one `uv run` forwards) must not cut the clean-up short
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for dep in deps.values():
                process.stop(dep)
            stop_leftovers()
        finally:
            signal.signal(signal.SIGINT, previous)

    med = {key: {m: statistics.median(r[m] for r in rs) for m in rs[0]} for key, rs in runs.items()}
    print(f"\nmedians over {args.repeats} runs of {args.duration} s:")
    print(f"{'server':<30}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'wrk CPU':>9}{'srv CPU':>9}")
    for key, label in configs:
        m = med[key]
        print(
            f"{label:<30}{m['rps']:>9.0f}{m['p50_ms']:>9.2f}{m['p99_ms']:>9.2f}"
            f"{m['wrk_cpu']:>9.0%}{m['server_cpu']:>9.0%}"
        )
    s, n, ml, fa = med["service"], med["service_nobatch"], med["mlflow"], med["fastapi"]
    vs_mlflow, vs_fastapi = s["rps"] / ml["rps"], s["rps"] / fa["rps"]
    print(
        f"service / mlflow serve: x{vs_mlflow:.1f} (goal >= 10)   "
        f"service / FastAPI floor: {vs_fastapi:.0%} (goal >= 60%)   "
        f"service p99: {s['p99_ms']:.1f} ms (goal <= 100)"
    )
    print(
        f"batching on / off: x{s['rps'] / n['rps']:.2f} req/s; "
        f"batching off / FastAPI floor: {n['rps'] / fa['rps']:.0%}"
    )
    met = vs_mlflow >= 10 and vs_fastapi >= 0.6 and s["p99_ms"] <= 100
    customer: dict[str, Any] = {}
    for store in ("sqlite", "redis"):
        c = med.get(f"customer_{store}")
        share = None if c is None else c["rps"] / s["rps"]
        customer[store] = (c, share)
        if c is None or share is None:
            print(f"/predict_customer on {store}: not measured")
            continue
        ok = share >= 0.7 and c["p99_ms"] <= 100
        met = met and ok
        print(
            f"/predict_customer on {store} / /predict: {share:.0%} (goal >= 70%), "
            f"p99 {c['p99_ms']:.1f} ms (goal <= 100): {'met' if ok else 'NOT met'}"
        )
    print(f"goal {'met' if met else 'NOT met'}")
    out: dict[str, Any] = {
        "rps_service": round(s["rps"], 1),
        "rps_mlflow": round(ml["rps"], 1),
        "rps_fastapi": round(fa["rps"], 1),
        "p99_ms_service": round(s["p99_ms"], 3),
        "rps_service_nobatch": round(n["rps"], 1),
        "ratio_service_mlflow": round(vs_mlflow, 3),
        "ratio_service_fastapi": round(vs_fastapi, 3),
        "ratio_nobatch_fastapi": round(n["rps"] / fa["rps"], 3),
    }
    for store, (c, share) in customer.items():
        out[f"rps_customer_{store}"] = None if c is None else round(c["rps"], 1)
        out[f"p99_ms_customer_{store}"] = None if c is None else round(c["p99_ms"], 3)
        out[f"ratio_customer_{store}_predict"] = None if share is None else round(share, 3)
    for key in keys:
        out[f"p50_ms_{key}"] = round(med[key]["p50_ms"], 3)
        if key != "service":
            out[f"p99_ms_{key}"] = round(med[key]["p99_ms"], 3)
    for key in keys:
        out[f"wrk_cpu_share_{key}"] = round(med[key]["wrk_cpu"], 3)
        out[f"server_cpu_share_{key}"] = round(med[key]["server_cpu"], 3)
    out["idle_cpu_share_servers"] = round(sum(idle.values()), 4)
    out |= {"goal_met": met, "connections": args.connections, "duration_s": args.duration}
    out |= {"repeats": args.repeats, "workers": WORKERS, "request_rows": len(rows)}
    print(json.dumps(out))


def _terminate(signum: int, _frame: Any) -> None:
    """SIGTERM ends the run like Ctrl-C does: through the `finally` that stops the servers."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except BaseException:
        if _HOME.exists():
            print(f"state and server logs kept in {_HOME}", file=sys.stderr)
        raise
    shutil.rmtree(_HOME, ignore_errors=True)
