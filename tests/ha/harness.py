"""A real Home Assistant, started headless, for end-to-end tests against the bridge.

The project's own harness (no file outside the repository is used). It installs a pinned
Home Assistant into a venv of its own, starts it on a loopback port with a config directory
it writes, onboards it through HA's onboarding API, connects HA's MQTT integration to a
broker through the config-flow API, and then offers typed helpers over HA's REST and
WebSocket APIs: states, registries, services, automations, blueprints and YAML packages.

    venv = await asyncio.to_thread(ensure_installed)          # idempotent; minutes when fresh
    async with HomeAssistant(tmp_path / "ha", MqttBroker("127.0.0.1", port), venv=venv) as ha:
        entry = await ha.find_entity("tiktok_someone_live")   # by unique_id, waits
        await ha.wait_state(entry["entity_id"], "on")
        await ha.call_service("button.press", {"entity_id": "button.x"})
        await ha.add_automation({"id": "a1", "alias": "A1", "triggers": [...], ...})

Lifecycle: :meth:`HomeAssistant.start` is idempotent on a directory it made before (HA
restarts keep the registries, the owner's token and the MQTT entry); :meth:`stop` sends
SIGTERM to the one process it started, SIGKILL after a timeout. HA runs with the loopback
network adapter only (no mDNS on the real NIC) and never reaches the internet: onboarding's
"core config" step, which would add internet-backed integrations, is marked done up front.

Why HA is its own interpreter: Home Assistant 2025.4 needs Python 3.13 and pins hundreds of
packages; it lives in ``~/.cache/tiktok2mqtt/ha-venv`` (``TIKTOK2MQTT_HA_VENV``), outside the
clone, so CI and every checkout on one machine share the install. The base interpreter is
``TIKTOK2MQTT_HA_PYTHON``, else any Python 3.13 found (PATH, pyenv); without one the harness
raises :class:`HarnessUnavailable`.

Timing facts that shape the API (HA 2025.4): a start takes ~9 s, most of it HA's MQTT
discovery cool-down before its birth message; :meth:`start` returns after that birth, so
discovery is live. Non-retained state messages sent before an entity exists are lost; event
entities ignore retained messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import glob
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt
import httpx
import yaml
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = [
    "DEFAULT_VENV",
    "HA_VERSION",
    "HarnessError",
    "HarnessUnavailable",
    "HomeAssistant",
    "MqttBroker",
    "ensure_installed",
    "find_python",
]

HA_VERSION = "2025.4.4"
HA_PYTHON = (3, 13)
DEFAULT_VENV = Path(
    os.environ.get("TIKTOK2MQTT_HA_VENV") or Path.home() / ".cache" / "tiktok2mqtt" / "ha-venv"
)
# Written into every config directory the harness makes; it never touches one without it.
MARKER = ".tiktok2mqtt-ha-harness"
STATE_FILE = "harness.json"
OWNER = {"name": "Harness", "username": "harness", "password": "harness-password"}
# Integrations a test may load besides HA's always-on ones; their requirements are
# installed by ensure_installed so that HA never installs packages while a test waits.
EXTRA_INTEGRATIONS = (
    "http", "api", "auth", "onboarding", "config", "mqtt", "automation", "script",
    "blueprint", "template", "input_boolean", "input_number", "input_text", "input_select",
    "input_button", "counter", "timer", "light", "switch", "notify", "event",
    # the blueprints' end-to-end test: scenes, and TTS through an offline engine entity
    # (google_translate only reaches the internet when audio is fetched) to a universal
    # media player whose play_media is a script
    "scene", "tts", "media_player", "universal", "google_translate", "persistent_notification",
)  # fmt: skip
POLL_S = 0.25  # waiting on HA's state is polling its REST API, gently

Log = Callable[[str], None]


class HarnessError(RuntimeError):
    """Home Assistant could not be installed, started or asked; the message says why."""


class HarnessUnavailable(HarnessError):
    """Home Assistant cannot run on this machine at all (no Python 3.13)."""


def _stderr(message: str) -> None:
    print(f"[ha-harness {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- install


def _python_version(candidate: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [candidate, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None  # e.g. a pyenv shim for a version that is not selected
    major, minor = (int(x) for x in out.split())
    return major, minor


def find_python() -> str:
    """A Python 3.13 interpreter to build HA's venv from (HarnessUnavailable if none)."""
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = [
        os.environ.get("TIKTOK2MQTT_HA_PYTHON") or "",
        shutil.which("python3.13") or "",
        *sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"), reverse=True),
        "/usr/bin/python3.13",
        "/usr/local/bin/python3.13",
    ]
    for candidate in dict.fromkeys(c for c in candidates if c):
        if _python_version(candidate) == HA_PYTHON:
            return candidate
    raise HarnessUnavailable(
        "Home Assistant needs Python 3.13 and none was found; set TIKTOK2MQTT_HA_PYTHON"
    )


# Run by the venv's interpreter: the requirements (from the installed HA's own manifests)
# of every integration HA will load, with their dependencies, that are not installed yet.
_MISSING_REQUIREMENTS = r"""
import json, os, sys
import homeassistant
from homeassistant import bootstrap
from homeassistant.util.package import is_installed
components = os.path.join(os.path.dirname(homeassistant.__file__), "components")
roots = set(sys.argv[1:])
for name in ("CORE_INTEGRATIONS", "DEFAULT_INTEGRATIONS", "LOGGING_AND_HTTP_DEPS_INTEGRATIONS",
             "FRONTEND_INTEGRATIONS"):
    roots |= set(getattr(bootstrap, name, ()))
try:
    from homeassistant.components.mqtt.const import SUPPORTED_COMPONENTS
    roots |= set(SUPPORTED_COMPONENTS)
except ImportError:
    pass
roots -= {"isal", "sentry", "debugpy"}  # loaded only when configured
seen, todo, requirements = set(), list(roots), set()
while todo:
    domain = todo.pop()
    if domain in seen:
        continue
    seen.add(domain)
    path = os.path.join(components, domain, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            manifest = json.load(f)
        requirements.update(manifest.get("requirements", []))
        todo += manifest.get("dependencies", []) + manifest.get("after_dependencies", [])
print(json.dumps({
    "missing": sorted(r for r in requirements if not is_installed(r)),
    "constraints": os.path.join(os.path.dirname(homeassistant.__file__),
                                "package_constraints.txt"),
}))
"""


def _run(cmd: Sequence[str], log: Log) -> None:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise HarnessError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def _pip_install(python: str, packages: Sequence[str], log: Log, constraints: str = "") -> None:
    """uv when it can be had (a fresh HA install in ~1 min instead of ~3), else pip."""
    extra = ["-c", constraints] if constraints else []
    try:
        _run([python, "-m", "pip", "install", "-q", "uv"], log)
        _run([python, "-m", "uv", "pip", "install", "-q", "--python", python, *extra,
              *packages], log)  # fmt: skip
    except HarnessError as exc:
        log(f"uv failed, using pip: {str(exc).splitlines()[0]}")
        _run([python, "-m", "pip", "install", "-q", *extra, *packages], log)


def _missing_requirements(python: str) -> tuple[list[str], str]:
    proc = subprocess.run(
        [python, "-c", _MISSING_REQUIREMENTS, *EXTRA_INTEGRATIONS],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise HarnessError(f"cannot inspect the installed Home Assistant:\n{proc.stderr[-2000:]}")
    info = json.loads(proc.stdout)
    return list(info["missing"]), str(info["constraints"])


def _installed_version(python: str) -> str | None:
    proc = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('homeassistant'))"],
        capture_output=True, text=True,
    )  # fmt: skip
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_installed(venv: Path = DEFAULT_VENV, *, log: Log = _stderr) -> Path:
    """Make ``venv`` hold Home Assistant ``HA_VERSION`` and every requirement of the
    integrations the harness loads; returns the venv. Blocking (run it in a thread).

    Idempotent and cheap when done (a stamp file records the completed install); safe
    against two test runs at once (a lock file beside the venv).
    """
    venv = venv.absolute()
    python = str(venv / "bin" / "python")
    stamp = venv / ".tiktok2mqtt-ha-installed"
    expected = hashlib.sha256(f"{HA_VERSION} {EXTRA_INTEGRATIONS}".encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == expected and os.path.exists(python):
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be installing right now
        if not os.path.exists(python):
            _run([find_python(), "-m", "venv", str(venv)], log)
        if _installed_version(python) != HA_VERSION:
            log(f"installing homeassistant=={HA_VERSION} into {venv} (a few minutes)")
            _pip_install(python, [f"homeassistant=={HA_VERSION}"], log)
        missing, constraints = _missing_requirements(python)
        if missing:
            log(f"installing integration requirements: {' '.join(missing)}")
            _pip_install(python, missing, log, constraints)
            still, _ = _missing_requirements(python)
            if still:
                raise HarnessError(f"requirements still missing after install: {still}")
        stamp.write_text(expected + "\n")
    log(f"Home Assistant {HA_VERSION} ready in {venv} ({time.monotonic() - started:.0f} s)")
    return venv


# ---------------------------------------------------------------------------- process


@dataclass(frozen=True, slots=True)
class MqttBroker:
    """The broker HA's MQTT integration connects to."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As aiohttp binds: a port in TIME_WAIT from a previous run is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, so an interrupted
    run never leaves Home Assistant behind (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


CONFIGURATION_YAML = """\
# Written by tests/ha/harness.py: a headless Home Assistant for end-to-end tests.
# No default_config: only what tests need (HA still loads its always-on integrations).
homeassistant:
  name: tiktok2mqtt e2e
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL
  internal_url: "http://127.0.0.1:{port}"
  packages: !include_dir_named packages
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
automation: !include automations.yaml
script: !include scripts.yaml
logger:
  default: {log_level}
  logs:
    homeassistant.components.mqtt: info
"""

# Seeded before the first start. onboarding: "core_config" done, because completing it
# through the API starts config flows for internet-backed integrations (weather, TTS,
# radio). core.network: only the loopback adapter, so zeroconf sends no multicast.
_STORAGE_SEEDS = {
    "onboarding": {"version": 4, "minor_version": 1, "key": "onboarding",
                   "data": {"done": ["core_config"]}},
    "core.network": {"version": 1, "minor_version": 1, "key": "core.network",
                     "data": {"configured_adapters": ["lo"]}},
}  # fmt: skip


class HomeAssistant:
    """One headless Home Assistant on ``127.0.0.1:port`` with its config in ``config_dir``.

    An async context manager (start … stop). All helpers raise :class:`HarnessError` on
    failure; the ``wait_*``/``find_*`` helpers wait up to ``timeout_s`` seconds (upper bounds
    against hangs, never claims about speed).
    """

    def __init__(
        self,
        config_dir: Path,
        broker: MqttBroker,
        *,
        venv: Path = DEFAULT_VENV,
        port: int | None = None,
        discovery_prefix: str = "homeassistant",
        log_level: str = "warning",
        log: Log = _stderr,
    ) -> None:
        self.config_dir = config_dir.absolute()
        self.broker = broker
        self.venv = venv.absolute()
        self.port = port or _free_port()
        self.discovery_prefix = discovery_prefix
        self.log_level = log_level
        self.url = f"http://127.0.0.1:{self.port}"
        self.timings: dict[str, float] = {}  # seconds per phase of the last start
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None
        self._http: httpx.AsyncClient | None = None
        self._ws: ClientConnection | None = None
        self._ws_id = 0
        self._ws_lock = asyncio.Lock()

    # ------------------------------------------------------------------ lifecycle

    @property
    def birth_topic(self) -> str:
        return f"{self.discovery_prefix}/status"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def token(self) -> str:
        """The owner's long-lived access token (``Authorization: Bearer …``)."""
        if self._token is None:
            raise HarnessError("Home Assistant was never started (no token)")
        return self._token

    async def __aenter__(self) -> HomeAssistant:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, timeout_s: float = 170.0) -> None:
        """Start HA and return once its MQTT integration is connected and discovery live.

        First start in a directory: onboarding + MQTT config flow. Later starts reuse the
        stored token, registries and MQTT entry (pointed at ``broker`` again).
        """
        if self.running:
            raise HarnessError(f"Home Assistant already runs for {self.config_dir}")
        started = time.monotonic()
        self.timings = {}
        self._prepare_dir()
        await self._check_broker()
        async with asyncio.timeout(timeout_s), _BirthWatch(self.broker, self.birth_topic) as birth:
            self._launch()
            try:
                await self._bring_up(birth, started)
            except BaseException:
                self._log(f"start failed; see {self.config_dir / 'home-assistant.log'}")
                await self.stop()
                raise
        self.timings["ready"] = time.monotonic() - started
        self._log(f"Home Assistant ready in {self.timings['ready']:.1f} s on {self.url}")

    async def _bring_up(self, birth: _BirthWatch, started: float) -> None:
        fresh = self._token is None
        await self._wait_http(fresh)
        self.timings["api"] = time.monotonic() - started
        if fresh:
            await self._onboard()
            self._save_state()
        await self._wait_running()
        self.timings["running"] = time.monotonic() - started
        if not await self.mqtt_entries():
            entry_id = await self._add_mqtt_entry()
            if self.discovery_prefix != "homeassistant":
                # The default prefix's birth first: then the options flow reconnects HA.
                await birth.wait("homeassistant/status")
                await self._set_mqtt_options(entry_id)
        await birth.wait(self.birth_topic)
        self.timings["mqtt"] = time.monotonic() - started

    async def stop(self, timeout_s: float = 60.0) -> None:
        """SIGTERM to the HA process this object started; SIGKILL after ``timeout_s``."""
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
            self._ws = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, timeout_s)
        except subprocess.TimeoutExpired:
            self._log(f"Home Assistant (pid {proc.pid}) ignored SIGTERM; killing it")
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)

    def log_text(self) -> str:
        """HA's own log of this config directory (all starts)."""
        path = self.config_dir / "home-assistant.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _prepare_dir(self) -> None:
        d = self.config_dir
        d.mkdir(parents=True, exist_ok=True)
        if not (d / MARKER).exists():
            if any(p.name not in _PRESEEDABLE for p in d.iterdir()):
                raise HarnessError(f"{d} holds files the harness did not make; refusing")
            (d / MARKER).write_text("made by tests/ha/harness.py\n")
        if not _port_free(self.port):
            raise HarnessError(f"port {self.port} is in use")
        (d / "configuration.yaml").write_text(
            CONFIGURATION_YAML.format(port=self.port, log_level=self.log_level)
        )
        for name, default in (("automations.yaml", "[]\n"), ("scripts.yaml", "{}\n")):
            if not (d / name).exists():
                (d / name).write_text(default)
        (d / "packages").mkdir(exist_ok=True)
        storage = d / ".storage"
        storage.mkdir(exist_ok=True)
        for name, doc in _STORAGE_SEEDS.items():
            if not (storage / name).exists():
                (storage / name).write_text(json.dumps(doc))
        saved = self._load_state()
        if self._token is None and (storage / "auth").exists():
            self._token = saved.get("token")
            if not self._token:
                raise HarnessError(f"{d} was onboarded but its token is lost; use a new dir")
        self._retarget_mqtt_entry()

    def _load_state(self) -> dict[str, Any]:
        path = self.config_dir / STATE_FILE
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def _save_state(self) -> None:
        state = {"url": self.url, "token": self._token, "owner": OWNER["username"]}
        (self.config_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _retarget_mqtt_entry(self) -> None:
        """Before a restart: the stored MQTT entry points at ``broker`` (it may have moved)."""
        path = self.config_dir / ".storage" / "core.config_entries"
        if not path.exists():
            return
        doc = json.loads(path.read_text())
        for entry in doc.get("data", {}).get("entries", []):
            if entry.get("domain") == "mqtt":
                data = entry["data"]
                data.update(broker=self.broker.host, port=self.broker.port)
                for key in ("username", "password"):
                    data.pop(key, None)
                    if getattr(self.broker, key):
                        data[key] = getattr(self.broker, key)
        path.write_text(json.dumps(doc, indent=2))

    async def _check_broker(self) -> None:
        """Fail in a second, not after HA started, when the broker is not there."""
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.broker.host, self.broker.port), 5.0
            )
        except (OSError, TimeoutError) as exc:
            raise HarnessError(
                f"MQTT broker {self.broker.host}:{self.broker.port} unreachable: {exc}"
            ) from None
        writer.close()

    def _launch(self) -> None:
        python = self.venv / "bin" / "python"
        if not python.exists():
            raise HarnessError(f"{python} missing: run ensure_installed({str(self.venv)!r})")
        cmd = [str(python), "-m", "homeassistant", "--config", str(self.config_dir),
               "--log-no-color"]  # fmt: skip
        self._log("$ " + " ".join(cmd))
        with (self.config_dir / "console.log").open("ab") as console:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                cwd=self.config_dir, preexec_fn=_die_with_parent,
            )  # fmt: skip

    def _check_alive(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            code = None if self._proc is None else self._proc.returncode
            raise HarnessError(f"Home Assistant exited early (code {code}); see its log")

    async def _wait_http(self, fresh: bool) -> None:
        # /api/onboarding exists only until onboarding is complete.
        path = "/api/onboarding" if fresh else "/api/"
        while True:
            self._check_alive()
            with contextlib.suppress(httpx.TransportError):
                response = await self._client().get(path)
                if response.status_code == 200:
                    return
                if response.status_code == 401 and not fresh:
                    raise HarnessError("HA refused the stored token; use a new config dir")
            await asyncio.sleep(POLL_S)

    async def _onboard(self) -> str:
        """Owner, analytics and integration steps; returns a long-lived token (ten years:
        the access token of /auth/token expires after 30 minutes)."""
        client_id = f"{self.url}/"
        http = self._client()
        created = await self._ok(http.post("/api/onboarding/users", json={
            **OWNER, "client_id": client_id, "language": "en"}))  # fmt: skip
        tokens = await self._ok(http.post("/auth/token", data={
            "grant_type": "authorization_code", "code": created["auth_code"],
            "client_id": client_id}))  # fmt: skip
        self._set_token(str(tokens["access_token"]))
        await self._ok(http.post("/api/onboarding/analytics", json={}))
        await self._ok(http.post("/api/onboarding/integration", json={
            "client_id": client_id, "redirect_uri": f"{client_id}?auth_callback=1"}))  # fmt: skip
        token = str(await self.ws({
            "type": "auth/long_lived_access_token", "client_name": "tiktok2mqtt e2e",
            "lifespan": 3650}))  # fmt: skip
        await self._close_ws()  # authenticated with the short-lived token
        self._set_token(token)
        return token

    def _set_token(self, token: str) -> None:
        self._token = token
        if self._http is not None:
            self._http.headers["Authorization"] = f"Bearer {token}"

    async def _wait_running(self) -> None:
        state = None
        while state != "RUNNING":
            self._check_alive()
            with contextlib.suppress(httpx.TransportError):
                response = await self._client().get("/api/config")
                if response.status_code == 200:
                    state = response.json().get("state")
                    continue
            await asyncio.sleep(POLL_S)

    async def mqtt_entries(self) -> list[dict[str, Any]]:
        """HA's MQTT config entries (at most one)."""
        entries = await self.rest("GET", "/api/config/config_entries/entry?domain=mqtt")
        return list(entries)

    async def _add_mqtt_entry(self) -> str:
        """The MQTT integration through its config flow: step ``broker``, then an entry
        (defaults: discovery on, prefix homeassistant, birth/will on homeassistant/status)."""
        flow = await self.rest("POST", "/api/config/config_entries/flow",
                               {"handler": "mqtt", "show_advanced_options": False})  # fmt: skip
        if flow.get("step_id") != "broker":
            raise HarnessError(f"unexpected MQTT config flow: {flow}")
        data: dict[str, Any] = {"broker": self.broker.host, "port": self.broker.port}
        if self.broker.username:
            data["username"] = self.broker.username
        if self.broker.password:
            data["password"] = self.broker.password
        result = await self.rest("POST", f"/api/config/config_entries/flow/{flow['flow_id']}",
                                 data)  # fmt: skip
        if result.get("type") != "create_entry":
            raise HarnessError(f"MQTT config flow made no entry: {result}")
        entry_id = (result.get("result") or {}).get("entry_id")
        return str(entry_id or (await self.mqtt_entries())[0]["entry_id"])

    async def _set_mqtt_options(self, entry_id: str) -> None:
        flow = await self.rest("POST", "/api/config/config_entries/options/flow",
                               {"handler": entry_id})  # fmt: skip
        options = {
            "discovery": True, "discovery_prefix": self.discovery_prefix,
            "birth_enable": True, "birth_topic": self.birth_topic, "birth_payload": "online",
            "birth_qos": 0, "birth_retain": False,
            "will_enable": True, "will_topic": self.birth_topic, "will_payload": "offline",
            "will_qos": 0, "will_retain": False,
        }  # fmt: skip
        result = await self.rest(
            "POST", f"/api/config/config_entries/options/flow/{flow['flow_id']}", options
        )
        if result.get("type") != "create_entry":
            raise HarnessError(f"MQTT options flow failed: {result}")

    # ------------------------------------------------------------------ REST

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            # trust_env=False: loopback calls never go through a proxy from the environment.
            self._http = httpx.AsyncClient(
                base_url=self.url, headers=headers, timeout=30.0, trust_env=False
            )
        return self._http

    @staticmethod
    async def _ok(request: Awaitable[httpx.Response]) -> Any:
        return _json(await request)

    async def rest(self, method: str, path: str, body: Any = None) -> Any:
        """One call of HA's REST API (``/api/…``); the JSON answer (or text)."""
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        return await self._ok(self._client().request(method, path, **kwargs))

    async def states(self) -> list[dict[str, Any]]:
        return list(await self.rest("GET", "/api/states"))

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """The entity's state object (state, attributes, last_changed…), None if unknown."""
        response = await self._client().get(f"/api/states/{entity_id}")
        if response.status_code == 404:
            return None
        return dict(_json(response))

    async def wait_state(
        self,
        entity_id: str,
        state: str | None = None,
        *,
        not_state: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Until the entity exists with ``state`` (if given), a state other than
        ``not_state`` (if given) and these attribute values (equal, or equal as text)."""
        want = dict(attributes or {})
        current: dict[str, Any] | None = None

        def matches(s: dict[str, Any] | None) -> bool:
            if s is None or (state is not None and s.get("state") != state):
                return False
            if not_state is not None and s.get("state") == not_state:
                return False
            have = s.get("attributes", {})
            return all(have.get(k) == v or str(have.get(k)) == str(v) for k, v in want.items())

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                # HA's REST API has no change signal to wait on: poll gently.
                while not matches(current := await self.state(entity_id)):  # noqa: ASYNC110
                    await asyncio.sleep(POLL_S)
                assert current is not None
                return current
        raise HarnessError(
            f"{entity_id}: wanted state={state!r} not_state={not_state!r} {want}, have {current}"
        )

    async def call_service(
        self, service: str, data: Mapping[str, Any] | None = None, *, response: bool = False
    ) -> Any:
        """``domain.service`` with ``data``; with ``response`` HA's service response."""
        domain, _, name = service.partition(".")
        if not name:
            raise HarnessError(f"service must be DOMAIN.SERVICE, not {service!r}")
        path = f"/api/services/{domain}/{name}" + ("?return_response" if response else "")
        return await self.rest("POST", path, dict(data or {}))

    # ------------------------------------------------------------------ WebSocket

    async def ws(self, command: Mapping[str, Any], timeout_s: float = 30.0) -> Any:
        """One WebSocket API command (``{"type": …}``); its ``result``."""
        async with self._ws_lock:
            for attempt in (1, 2):
                try:
                    return await asyncio.wait_for(self._ws_command(command), timeout_s)
                except ConnectionClosed:
                    self._ws = None  # HA restarted under us: reconnect once
                    if attempt == 2:
                        raise HarnessError("Home Assistant closed the WebSocket") from None
        raise AssertionError("unreachable")

    async def _ws_command(self, command: Mapping[str, Any]) -> Any:
        ws = self._ws or await self._ws_connect()
        self._ws_id += 1
        await ws.send(json.dumps({**command, "id": self._ws_id}))
        while True:
            message = json.loads(await ws.recv())
            if message.get("id") == self._ws_id and message.get("type") == "result":
                if not message.get("success"):
                    raise HarnessError(f"{command.get('type')}: {message.get('error')}")
                return message.get("result")

    async def _ws_connect(self) -> ClientConnection:
        ws = await connect(self.url.replace("http", "ws", 1) + "/api/websocket", max_size=None)
        greeting = json.loads(await ws.recv())
        if greeting.get("type") != "auth_required":
            raise HarnessError(f"WebSocket: unexpected greeting {greeting}")
        await ws.send(json.dumps({"type": "auth", "access_token": self.token}))
        answer = json.loads(await ws.recv())
        if answer.get("type") != "auth_ok":
            raise HarnessError(f"WebSocket auth failed: {answer}")
        self._ws = ws
        return ws

    async def _close_ws(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def add_config_entry(self, handler: str, user_input: Mapping[str, Any]) -> str:
        """An integration set up through its config flow (one form step); its entry id."""
        flow = await self.rest("POST", "/api/config/config_entries/flow", {"handler": handler})
        if flow.get("type") == "form":
            flow = await self.rest(
                "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", dict(user_input)
            )
        if flow.get("type") != "create_entry":
            raise HarnessError(f"{handler} config flow made no entry: {flow}")
        return str(flow["result"]["entry_id"])

    async def notifications(self) -> list[dict[str, Any]]:
        """The persistent notifications HA shows now."""
        return list(await self.ws({"type": "persistent_notification/get"}))

    async def entity_registry(self) -> list[dict[str, Any]]:
        return list(await self.ws({"type": "config/entity_registry/list"}))

    async def device_registry(self) -> list[dict[str, Any]]:
        return list(await self.ws({"type": "config/device_registry/list"}))

    async def registry(self) -> dict[str, list[dict[str, Any]]]:
        """``{"entities": […], "devices": […]}``: both registries, as HA holds them now."""
        return {"entities": await self.entity_registry(), "devices": await self.device_registry()}

    async def find_entity(
        self, unique_id: str, platform: str = "mqtt", timeout_s: float = 60.0
    ) -> dict[str, Any]:
        """The entity-registry entry of (platform, unique_id), once HA has made it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while True:
                    for entry in await self.entity_registry():
                        if entry.get("unique_id") == unique_id and entry.get("platform") in (
                            platform, None,
                        ):  # fmt: skip
                            return entry
                    await asyncio.sleep(POLL_S)
        raise HarnessError(f"no {platform} entity with unique_id {unique_id!r}")

    # ------------------------------------------------------------------ configuration

    async def add_automation(self, config: Mapping[str, Any], timeout_s: float = 60.0) -> str:
        """Store an automation through HA's automation editor API (it lands in
        automations.yaml, HA reloads); returns its entity id once it exists. ``config``
        needs an ``id``; it may ``use_blueprint`` (see :meth:`save_blueprint`)."""
        automation_id = str(config["id"])
        await self.rest("POST", f"/api/config/automation/config/{automation_id}", dict(config))
        async with asyncio.timeout(timeout_s):
            while True:
                for s in await self.states():
                    if s["entity_id"].startswith("automation.") and (
                        s["attributes"].get("id") == automation_id
                    ):
                        return str(s["entity_id"])
                await asyncio.sleep(POLL_S)

    def write_automations(self, automations: Sequence[Mapping[str, Any]]) -> None:
        """Before :meth:`start` (or followed by :meth:`reload`\\ ("automation")): replace
        automations.yaml."""
        self.config_dir.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump([dict(a) for a in automations], sort_keys=False, allow_unicode=True)
        (self.config_dir / "automations.yaml").write_text(text)

    async def automations(self) -> dict[str, dict[str, Any]]:
        """Every automation's state object by its alias (friendly name)."""
        return {
            s["attributes"].get("friendly_name", ""): s
            for s in await self.states()
            if s["entity_id"].startswith("automation.")
        }

    async def save_blueprint(self, domain: str, path: str, text: str) -> None:
        """Store a blueprint (YAML text) as ``blueprints/<domain>/<path>`` through HA's
        blueprint API, which validates it; an automation can then ``use_blueprint`` it."""
        await self.ws({"type": "blueprint/save", "domain": domain, "path": path, "yaml": text,
                       "allow_override": True})  # fmt: skip

    async def blueprints(self, domain: str = "automation") -> dict[str, Any]:
        """HA's view of the stored blueprints: path → metadata (or an error)."""
        return dict(await self.ws({"type": "blueprint/list", "domain": domain}))

    def write_package(self, name: str, config: Mapping[str, Any]) -> None:
        """A YAML package ``packages/<name>.yaml`` (e.g. ``{"input_number": {…},
        "template": […]}``) for goal entities and helpers. Read at start; integrations that
        were already loaded pick changes up with :meth:`reload`."""
        (self.config_dir / "packages").mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)
        (self.config_dir / "packages" / f"{name}.yaml").write_text(text)

    async def reload(self, domain: str) -> None:
        """Re-read YAML of one integration (``automation``, ``template``, ``input_number``…)."""
        await self.call_service(f"{domain}.reload")


# Files a caller may put in a new config directory before the first start.
_PRESEEDABLE = frozenset({"automations.yaml", "scripts.yaml", "packages", "blueprints"})


def _json(response: httpx.Response) -> Any:
    """The JSON (or text) of a successful answer; HarnessError for any other."""
    if response.status_code >= 300:
        raise HarnessError(
            f"{response.request.method} {response.request.url.path} → HTTP "
            f"{response.status_code}: {response.text[:500]}"
        )
    try:
        return response.json()
    except ValueError:
        return response.text


class _BirthWatch:
    """Subscribed before HA starts, so its (non-retained) birth message cannot be missed."""

    def __init__(self, broker: MqttBroker, topic: str) -> None:
        self._broker = broker
        self._topics = {topic, "homeassistant/status"}
        self._seen: dict[str, asyncio.Event] = {t: asyncio.Event() for t in self._topics}
        self._stack = contextlib.AsyncExitStack()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _BirthWatch:
        client = aiomqtt.Client(
            self._broker.host, self._broker.port, username=self._broker.username,
            password=self._broker.password, identifier=f"ha-harness-{secrets.token_hex(4)}",
        )  # fmt: skip
        await self._stack.enter_async_context(client)
        for topic in self._topics:
            await client.subscribe(topic)
        self._task = asyncio.create_task(self._listen(client))
        return self

    async def _listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if not message.retain and message.payload == b"online":
                self._seen[str(message.topic)].set()

    async def wait(self, topic: str) -> None:
        await self._seen[topic].wait()
        self._seen[topic].clear()

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        with contextlib.suppress(aiomqtt.MqttError):
            await self._stack.aclose()
