"""The `webhook` alerter flavor (configs/stacks/webhook_alerter.py) against a receiver on loopback.

A real ZenML custom flavor: registered by `register_stack` from a stack file's `alerter:`
component, in stacks of their own (the session's `local` stack and active stack stay as
they were). The URL comes from the environment or a ZenML secret and is never logged.
"""

from __future__ import annotations

import importlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from configs.stacks import STACKS_DIR
from configs.stacks.webhook_alerter import (
    URL_ENV,
    WebhookAlerter,
    WebhookAlerterConfig,
    WebhookAlerterParameters,
)
from retail_mlops.monitoring.window import BATCH, Segment, WindowResult

pytestmark = pytest.mark.integration

TOKEN = "sekrit-token-123"  # stands for the credential a Slack or Teams URL carries


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST's path and JSON body."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append((self.path, json.loads(body)))
                if self.path.startswith("/slow"):
                    time.sleep(1.0)
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str = "/hooks") -> str:
        return f"{self.base}{path}/{TOKEN}?token={TOKEN}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def _alerter(**config: Any) -> WebhookAlerter:
    """The flavor's implementation class on its own, as ZenML builds it from a component."""
    from zenml.enums import StackComponentType

    now = datetime.now()
    return WebhookAlerter(
        name="webhook_probe",
        id=uuid.uuid4(),
        config=WebhookAlerterConfig(**config),
        flavor="webhook",
        type=StackComponentType.ALERTER,
        user=None,
        created=now,
        updated=now,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the alerter object -------------------------------------------------------------------------


def test_post_delivers_the_json(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(URL_ENV, receiver.url())
    alerter = _alerter()
    assert alerter.post("drift!", WebhookAlerterParameters(fields={"level": "warn"})) is True
    assert alerter.post("plain") is True
    path, body = receiver.posts[0]
    assert path == f"/hooks/{TOKEN}?token={TOKEN}"
    assert body == {"text": "drift!", "source": "retail-mlops", "level": "warn"}
    assert receiver.posts[1][1] == {"text": "plain", "source": "retail-mlops"}
    assert _alerter(payload="text").post("only text") is True
    assert receiver.posts[2][1] == {"text": "only text"}


def test_failures_return_false_and_never_log_the_token(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    port = _free_port()  # nothing listens there any more
    cases = {
        f"http://127.0.0.1:{port}/hooks/{TOKEN}?token={TOKEN}": f"http://127.0.0.1:{port}",
        receiver.url("/fail"): receiver.base,
        receiver.url("/slow"): receiver.base,
    }
    caplog.set_level("WARNING")
    for url, where in cases.items():
        monkeypatch.setenv(URL_ENV, url)
        caplog.clear()
        assert _alerter(timeout_s=0.3).post("breach") is False
        assert where in caplog.text, caplog.text
        assert TOKEN not in caplog.text
    monkeypatch.delenv(URL_ENV)
    caplog.clear()
    assert _alerter().post("breach") is False
    assert URL_ENV in caplog.text
    assert _alerter().ask("deploy?") is False


def test_url_from_a_zenml_secret(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    from zenml.client import Client

    monkeypatch.delenv(URL_ENV, raising=False)
    name = f"webhook_test_{uuid.uuid4().hex[:8]}"
    client = Client()
    client.create_secret(name, values={"url": receiver.url("/from-secret")})
    try:
        assert _alerter(secret_name=name).post("via secret") is True
        assert receiver.posts[-1][0].startswith("/from-secret/")
        assert _alerter(secret_name=name, secret_key="other").post("x") is False
    finally:
        client.delete_secret(name)
    assert _alerter(secret_name=name).post("gone") is False


# --- the flavor and the stack file --------------------------------------------------------------


def _stack_files(folder: Path) -> Path:
    """Two stack files with local.yaml's orchestrator, artifact store and alerter."""
    local = yaml.safe_load((STACKS_DIR / "local.yaml").read_text())["components"]
    for name in ("webhook-on", "webhook-off"):
        spec = {
            "name": name,
            "components": {t: local[t] for t in ("orchestrator", "artifact_store", "alerter")},
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    return folder


@pytest.fixture(scope="module")
def webhook_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`webhook-on` registered with the variable set, made active; the active stack put back."""
    from zenml.client import Client

    import configs.stacks

    client = Client()
    before = client.active_stack_model.name
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(configs.stacks, "STACKS_DIR", _stack_files(tmp_path_factory.mktemp("stacks")))
        mp.setenv(URL_ENV, "http://127.0.0.1:9/unused")
        configs.stacks.register_stack("webhook-on", activate=False)
        configs.stacks.register_stack("webhook-on", activate=True)  # idempotent
        try:
            yield "webhook-on"
        finally:
            client.activate_stack(before)
    assert Client().active_stack_model.name == before


def test_register_stack_adds_the_alerter_only_when_configured(
    webhook_stack: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    from zenml.client import Client
    from zenml.enums import StackComponentType
    from zenml.stack import StackComponent

    import configs.stacks

    client = Client()
    flavor = client.get_flavor_by_name_and_type("webhook", StackComponentType.ALERTER)
    assert flavor.is_custom
    assert flavor.source.endswith("webhook_alerter.WebhookAlerterFlavor")
    assert client.list_flavors(name="webhook", type=StackComponentType.ALERTER).total == 1
    on = client.get_stack(webhook_stack).components[StackComponentType.ALERTER]
    assert [(c.name, c.flavor_name) for c in on] == [("webhook_alerter", "webhook")]
    assert "127.0.0.1" not in json.dumps(on[0].configuration), "the URL is never stored"

    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.setattr(configs.stacks, "STACKS_DIR", _stack_files(tmp_path))
    configs.stacks.register_stack("webhook-off", activate=False)
    off = client.get_stack("webhook-off").components
    assert StackComponentType.ALERTER not in off
    assert StackComponentType.ORCHESTRATOR in off

    # ZenML builds the component from the stored flavor: the URL is read when posting
    alerter = StackComponent.from_model(on[0])
    assert isinstance(alerter, WebhookAlerter)
    monkeypatch.setenv(URL_ENV, receiver.url())
    assert alerter.post("registered") is True
    assert receiver.posts[-1][1]["text"] == "registered"


def test_a_standing_breach_posts_once(
    webhook_stack: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """gate_window's own code over two windows with the same prediction drift: one POST."""
    import pandas as pd
    from zenml.client import Client

    import steps.client
    from steps.monitor_window import gate_window

    module = importlib.import_module("steps.monitor_window.gate_window")
    metadata: list[dict[str, Any]] = []
    monkeypatch.setattr(module, "alert_state_path", lambda: tmp_path / "alerts.json")
    monkeypatch.setattr(module, "log_metadata", lambda **kw: metadata.append(kw["metadata"]))
    monkeypatch.setattr(steps.client, "zenml_version_for", lambda *a: None)
    monkeypatch.setenv(URL_ENV, receiver.url())
    assert Client().active_stack.alerter is not None

    def window(end: str) -> dict[str, Any]:
        segment = Segment(
            source=BATCH,
            variant="",
            model_version="1",
            run_id="r",
            n_rows=500,
            prediction={
                "ks_statistic": 0.9,
                "ks_pvalue": 0.0,
                "current_mean": 0.6,
                "reference_mean": 0.2,
            },
        )
        return WindowResult(
            window_start=pd.Timestamp(end) - pd.Timedelta(days=7),
            window_end=pd.Timestamp(end),
            horizon_days=90,
            data_end=pd.Timestamp(end),
            matured=False,
            segments=[segment],
        ).to_dict()

    first = gate_window.entrypoint(figures=window("2011-09-01"))
    second = gate_window.entrypoint(figures=window("2011-09-08"))
    assert first["action"] == second["action"] == "warn"
    assert [a["event"] for a in first["alerts"]] == ["new"]
    assert second["alerts"] == []
    assert len(receiver.posts) == 1
    assert "prediction drift" in receiver.posts[0][1]["text"]
    assert [m["alerts"] for m in metadata] == [1, 0]
