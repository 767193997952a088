"""A ZenML alerter flavor `webhook`: alerts as a JSON POST to one URL (Slack, Teams, any receiver).

The URL is a credential (Slack and Teams put the token in it), so it never sits in a stack file
or in the component's stored configuration: it is read when an alert is sent, from the ZenML
secret `secret_name` (key `secret_key`) if one is named, else from the environment variable
`url_env`. Logs name the receiver as scheme://host only.

Register the flavor with `zenml alerter flavor register
configs.stacks.webhook_alerter.WebhookAlerterFlavor`; `register_stack` does it when a stack file
names it as a component's `flavor_source`.
"""

from __future__ import annotations

import os
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import Field
from zenml.alerter.base_alerter import (
    BaseAlerter,
    BaseAlerterConfig,
    BaseAlerterFlavor,
    BaseAlerterStepParameters,
)
from zenml.logger import get_logger

logger = get_logger(__name__)

FLAVOR_NAME = "webhook"
URL_ENV = "RETAIL_MLOPS_ALERT_WEBHOOK_URL"


class WebhookAlerterConfig(BaseAlerterConfig):
    """Where the webhook URL comes from and how alerts are sent.

    Attributes:
        url_env: Environment variable holding the URL (used when no secret is named).
        secret_name: ZenML secret holding the URL; takes precedence over `url_env`.
        secret_key: Key of the URL in that secret.
        timeout_s: Seconds to wait for the receiver before giving up.
        payload: `generic` sends text, source and run context; `text` sends only the text.
    """

    url_env: str = URL_ENV
    secret_name: str | None = None
    secret_key: str = "url"
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    payload: Literal["generic", "text"] = "generic"


class WebhookAlerterParameters(BaseAlerterStepParameters):
    """Per-message extras: `fields` are added to a generic payload (JSON values)."""

    fields: dict[str, Any] = Field(default_factory=dict)


def _where(url: str) -> str:
    """scheme://host[:port] of a URL: what logs may show (no path, query or credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def _run_context() -> dict[str, str]:
    """Pipeline, run and step names when called inside a step; empty elsewhere."""
    try:
        from zenml import get_step_context

        context = get_step_context()
        return {
            "pipeline": context.pipeline.name,
            "run": context.pipeline_run.name,
            "step": context.step_run.name,
        }
    except Exception:  # outside a step (or a context without a run): no context to add
        return {}


class WebhookAlerter(BaseAlerter):
    """Posts alerts as JSON to a webhook; a failed delivery is logged and returns False."""

    @property
    def config(self) -> WebhookAlerterConfig:
        """The webhook configuration."""
        return cast(WebhookAlerterConfig, self._config)

    def _url(self) -> str | None:
        """The URL from the named secret, else the environment; None (warned) if there is none."""
        config = self.config
        if config.secret_name:
            from zenml.client import Client

            try:
                values = Client().get_secret(config.secret_name).secret_values
            except KeyError:
                logger.warning("webhook alerter: no ZenML secret %r", config.secret_name)
                return None
            url = values.get(config.secret_key)
            if not url:
                logger.warning(
                    "webhook alerter: ZenML secret %r has no key %r",
                    config.secret_name,
                    config.secret_key,
                )
            return url or None
        url = os.environ.get(config.url_env)
        if not url:
            logger.warning("webhook alerter: %s is not set, alert not sent", config.url_env)
        return url or None

    def _payload(self, message: str, params: BaseAlerterStepParameters | None) -> dict[str, Any]:
        if self.config.payload == "text":
            return {"text": message}
        body: dict[str, Any] = {"text": message, "source": "retail-mlops", **_run_context()}
        if isinstance(params, WebhookAlerterParameters):
            body.update(params.fields)
        return body

    def post(self, message: str, params: BaseAlerterStepParameters | None = None) -> bool:
        """POST the message as JSON.

        Args:
            message: The alert text (the payload's `text`, which Slack and Teams show).
            params: `WebhookAlerterParameters` to add fields to a generic payload.

        Returns:
            True if the receiver answered 2xx; False (with a warning, never an exception) if
            there is no URL, the receiver is unreachable, too slow or answers otherwise.
        """
        import requests

        url = self._url()
        if url is None:
            return False
        where = _where(url)
        if urlsplit(url).scheme not in ("http", "https"):
            logger.warning("webhook alerter: not an http(s) URL (%s), alert not sent", where)
            return False
        try:
            response = requests.post(
                url, json=self._payload(message, params), timeout=self.config.timeout_s
            )
        except requests.RequestException as exc:
            # the exception's text quotes the URL: name its type only
            logger.warning("webhook alerter: %s failed (%s)", where, type(exc).__name__)
            return False
        if not 200 <= response.status_code < 300:
            logger.warning("webhook alerter: %s answered HTTP %d", where, response.status_code)
            return False
        return True

    def ask(self, question: str, params: BaseAlerterStepParameters | None = None) -> bool:
        """Not supported: a webhook cannot wait for an answer, so nothing is ever approved.

        Returns:
            False, always (nothing is posted).
        """
        logger.warning("webhook alerter: ask() is not supported, treated as not approved")
        return False


class WebhookAlerterFlavor(BaseAlerterFlavor):
    """The `webhook` alerter flavor."""

    @property
    def name(self) -> str:
        """The flavor's name."""
        return FLAVOR_NAME

    @property
    def config_class(self) -> type[WebhookAlerterConfig]:
        """The config class."""
        return WebhookAlerterConfig

    @property
    def implementation_class(self) -> type[WebhookAlerter]:
        """The implementation class."""
        return WebhookAlerter
