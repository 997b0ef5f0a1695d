"""The Home Assistant Supervisor's MQTT service: which broker an add-on should use.

``GET http://supervisor/services/mqtt`` with ``Authorization: Bearer $SUPERVISOR_TOKEN``
answers ``{"result": "ok", "data": {"host", "port", "ssl", "username", "password", …}}``
when a broker add-on (Mosquitto) provides the service, and ``{"result": "error",
"message": "Service not enabled"}`` (HTTP 400) when none does. Every failure becomes one
clear sentence for the add-on log; the password never appears in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx

from bridge.service.addon import Broker

__all__ = ["DEFAULT_URL", "SupervisorError", "mqtt_broker", "server_url"]

DEFAULT_URL = "http://supervisor"
TIMEOUT_S = 10.0
_MAX_MESSAGE = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

NO_BROKER_HINT = (
    "install and start the Mosquitto broker add-on (Settings → Apps, or Add-ons before "
    "Home Assistant 2026.2 → store → Mosquitto broker) and the MQTT integration, or set "
    "mqtt.server (with user and password) in this add-on's options to use another broker"
)


class SupervisorError(RuntimeError):
    """No broker could be had from the Supervisor; the message says why and what to do."""


def server_url(host: str, port: int, tls: bool) -> str:
    """``mqtt://core-mosquitto:1883``; IPv6 hosts in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{'mqtts' if tls else 'mqtt'}://{host}:{port}"


def mqtt_broker(base_url: str, token: str | None, *, timeout: float = TIMEOUT_S) -> Broker:
    """Ask the Supervisor for the MQTT service; raise SupervisorError with a clear message."""
    if not token:
        raise SupervisorError(
            "SUPERVISOR_TOKEN is not set, so the Supervisor's MQTT service cannot be asked "
            "(this command runs inside the Home Assistant add-on); "
            "set mqtt.server in the add-on options to name a broker instead"
        )
    url = base_url.rstrip("/") + "/services/mqtt"
    try:
        # trust_env=False: an HTTP(S)_PROXY meant for TikTok must not see the token.
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            answer = client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise SupervisorError(
            f"cannot reach the Supervisor at {base_url}: {type(exc).__name__}"
        ) from None
    body = _json(answer)
    if answer.status_code in (401, 403):
        raise SupervisorError(
            f"the Supervisor refused the add-on's token (HTTP {answer.status_code}"
            f"{_said(body)}); restart the add-on, and check that its config.yaml lists "
            "services: [mqtt:need]"
        )
    if answer.status_code != 200 or body.get("result") != "ok":
        raise SupervisorError(
            f"Home Assistant has no MQTT broker for add-ons (HTTP {answer.status_code}"
            f"{_said(body)}): {NO_BROKER_HINT}"
        )
    return _broker(body.get("data"))


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _said(body: Mapping[str, Any]) -> str:
    """The Supervisor's own words, short and on one line (it is text from another program)."""
    message = body.get("message")
    if not isinstance(message, str) or not message.strip():
        return ""
    return ", Supervisor: " + _CONTROL.sub(" ", message).strip()[:_MAX_MESSAGE]


def _broker(data: Any) -> Broker:
    if not isinstance(data, Mapping):
        raise SupervisorError("the Supervisor's MQTT service answer has no data")
    host, port = data.get("host"), data.get("port")
    if not isinstance(host, str) or not host or _CONTROL.search(host) or "/" in host:
        raise SupervisorError("the Supervisor's MQTT service answer has no usable host")
    if isinstance(port, bool) or not isinstance(port, int | str) or not str(port).isdigit():
        raise SupervisorError("the Supervisor's MQTT service answer has no usable port")
    if not 0 < int(port) < 65536:
        raise SupervisorError(f"the Supervisor's MQTT service port {port} is out of range")
    user, password = data.get("username"), data.get("password")
    return Broker(
        server=server_url(host, int(port), data.get("ssl") is True),
        user=user if isinstance(user, str) and user else None,
        password=password if isinstance(password, str) and password else None,
        source="the Supervisor's MQTT service",
    )
