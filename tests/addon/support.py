"""A stand-in for the Home Assistant Supervisor API on loopback, and paths of the add-on.

``SupervisorStub`` answers ``GET /services/mqtt`` the way the Supervisor does
(supervisor/api/services.py, api/middleware/security.py): 401 without a token, 403 with a
wrong one, ``{"result": "ok", "data": {...}}`` when a broker add-on provides the service,
HTTP 400 ``{"result": "error", "message": "Service not enabled"}`` when none does, 404 for
other paths. It records every request (path and Authorization header).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers.paths import REPO

ADDON_DIR = REPO / "homeassistant-addon" / "tiktok2mqtt"
TOKEN = "supervisor-token-Qw31Zx"


@dataclass
class SupervisorStub:
    token: str = TOKEN
    mqtt: dict[str, Any] | None = None  # None: no broker add-on provides the service
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SupervisorStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server API names it so
                auth = self.headers.get("Authorization")
                stub.requests.append((self.path, auth))
                if auth is None:
                    self._answer(401, None, text="401: Unauthorized")
                elif auth != f"Bearer {stub.token}":
                    self._answer(403, None, text="403: Forbidden")
                elif self.path != "/services/mqtt":
                    self._answer(404, {"result": "error", "message": "Not Found"})
                elif stub.mqtt is None:
                    self._answer(400, {"result": "error", "message": "Service not enabled"})
                else:
                    self._answer(200, {"result": "ok", "data": stub.mqtt})

            def _answer(self, status: int, body: Any, text: str = "") -> None:
                raw = json.dumps(body).encode() if body is not None else text.encode()
                self.send_response(status)
                kind = "application/json" if body is not None else "text/plain"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def mqtt_service(host: str, port: int, user: str, password: str) -> dict[str, Any]:
    """The data of the Supervisor's MQTT service as the Mosquitto add-on registers it."""
    return {
        "addon": "core_mosquitto",
        "host": host,
        "port": port,
        "ssl": False,
        "protocol": "3.1.1",
        "username": user,
        "password": password,
    }
