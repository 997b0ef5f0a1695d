"""`tiktok2mqtt addon`, the add-on's start command, for real: options.json → the
Supervisor stand-in (loopback HTTP, token checked) → config.yaml → exec of the daemon →
a real mosquitto with a password → connected to the TikTok simulator. And every way it
refuses to start: a clear message, a distinct exit code, nothing written, no secret shown.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from bridge.cli import main
from bridge.sim import TikTokSimulator
from bridge.sim import messages as m
from tests.addon import ha_schema
from tests.addon.support import TOKEN, SupervisorStub, mqtt_service
from tests.addon.test_manifest import CONFIG
from tests.helpers.mosquitto import Mosquitto, Subscribe, free_port
from tests.helpers.paths import REPO

# Distinctive, with "${" and "$": a value the bridge's ${VAR} expansion must leave alone.
MQTT_USER = "addons"
MQTT_PASSWORD = "mqtt-${HOME}-pw$9Tq"
SIGN_KEY = "sign-key-${USER}-Lm42"
EXIT_CONFIG, EXIT_UNAVAILABLE = 78, 69


def write_options(data: Path, options: dict[str, Any]) -> None:
    # Only options the Supervisor itself would accept and write.
    assert ha_schema.validate_options(CONFIG["schema"], options) == []
    data.mkdir(parents=True, exist_ok=True)
    (data / "options.json").write_text(json.dumps(options))


def options(**changes: Any) -> dict[str, Any]:
    return {**CONFIG["options"], **changes}


class AddonProcess:
    """`python -m bridge addon` as the container would run it; output in a file."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.log = tmp / "addon.log"
        self._out = self.log.open("wb")
        base = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "addon",
             "--data", str(tmp / "data"), "--config-dir", str(tmp / "addon_config")],
            cwd=REPO, env={**base, "PYTHONPATH": str(REPO), **env},
            stdout=self._out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def text(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._out.close()


@pytest.fixture
def addon_process(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], AddonProcess]]:
    started: list[AddonProcess] = []

    def start(env: dict[str, str]) -> AddonProcess:
        started.append(AddonProcess(tmp_path, env))
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.stop()


def fast_extra(sim: TikTokSimulator) -> str:
    """tiktok2mqtt.yaml of the add-on's config folder: the simulator and test timings."""
    ep = sim.endpoints
    return f"""\
mqtt:
  client_id: addon-under-test
tiktok:
  calls_per_minute: 600
  heartbeat_interval_s: 1
  stale_after_s: 10
  supervision:
    cold_start_stagger_s: 0
  endpoints:
    www: {ep.www}
    webcast: {ep.webcast}
    websocket: {ep.websocket}
    sign_server: {ep.sign_server}
streamers:
  - user: alice
    gift_tiers: {{tiny: 1, huge: 1000}}
"""


async def test_options_to_a_connected_bridge(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Mosquitto],
    subscriber: Subscribe,
    sim: TikTokSimulator,
    supervisor: SupervisorStub,
    addon_process: Callable[[dict[str, str]], AddonProcess],
) -> None:
    broker = mosquitto_factory(users={MQTT_USER: MQTT_PASSWORD}, allow_anonymous=False)
    supervisor.mqtt = mqtt_service("127.0.0.1", broker.port, MQTT_USER, MQTT_PASSWORD)
    room = sim.add_user("alice", live=True)
    data = tmp_path / "data"
    write_options(data, options(
        streamers=[{"user": "@Alice", "name": "Alice on air"}],
        sign_server_key=SIGN_KEY,  # auto + key: the (simulated) sign server is used
        log_level="debug",
    ))  # fmt: skip
    (tmp_path / "addon_config").mkdir()
    (tmp_path / "addon_config" / "tiktok2mqtt.yaml").write_text(fast_extra(sim))
    rec = await subscriber(broker, "#", username=MQTT_USER, password=MQTT_PASSWORD)

    addon = addon_process({"SUPERVISOR_TOKEN": TOKEN, "TIKTOK2MQTT_SUPERVISOR_URL": supervisor.url})
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "online", 30)
    await rec.wait_for("tiktok/alice/state", lambda x: x.json()["status"] == "connected", 30)
    discovery = await rec.wait_for("homeassistant/device/tiktok_alice/config", timeout=30)
    device = discovery.json()
    assert device["dev"]["name"] == "Alice on air"  # from the options
    assert device["cmps"]["gift"]["event_types"] == ["gift_tiny", "gift_huge"]  # from the file
    room.push(m.gift("fan", 5655, repeat_end=1))
    gift = await rec.wait_for("tiktok/alice/gift", timeout=30)
    assert gift.json()["event_type"] == "gift_tiny"

    # One question to the Supervisor, with the add-on's token.
    assert supervisor.requests == [("/services/mqtt", f"Bearer {TOKEN}")]
    # exec, not a child: the Supervisor's SIGTERM goes to the daemon itself.
    process = psutil.Process(addon.proc.pid)
    assert process.cmdline()[-3:] == ["run", "-c", str(data / "config.yaml")]
    assert process.children() == []
    config_file = data / "config.yaml"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    assert yaml.safe_load(config_file.read_text())["service"]["state_dir"] == str(data / "state")
    assert (data / "state").is_dir()

    addon.proc.send_signal(signal.SIGTERM)
    assert addon.proc.wait(30) == 0
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "offline", 10)
    log = addon.text()
    assert f"broker:     mqtt://127.0.0.1:{broker.port} (user 'addons', from the Supervisor" in log
    assert "streamers:  alice" in log
    for secret in (MQTT_PASSWORD, SIGN_KEY, TOKEN):
        assert secret not in log
        assert not [x.topic for x in rec.messages if secret.encode() in x.payload]


async def test_a_broker_from_the_options_needs_no_supervisor(
    tmp_path: Path,
    mosquitto_factory: Callable[..., Mosquitto],
    subscriber: Subscribe,
    addon_process: Callable[[dict[str, str]], AddonProcess],
) -> None:
    broker = mosquitto_factory(users={"me": MQTT_PASSWORD}, allow_anonymous=False)
    write_options(tmp_path / "data", options(
        mqtt={"server": broker.url, "user": "me", "password": MQTT_PASSWORD},
    ))  # fmt: skip
    rec = await subscriber(broker, "tiktok/bridge/#", username="me", password=MQTT_PASSWORD)
    addon = addon_process(
        {"SUPERVISOR_TOKEN": "", "TIKTOK2MQTT_SUPERVISOR_URL": "http://0.0.0.0:9"}
    )
    await rec.wait_for("tiktok/bridge/state", lambda x: x.text == "online", 30)
    addon.proc.send_signal(signal.SIGTERM)
    assert addon.proc.wait(30) == 0
    assert "(user 'me', from the options)" in addon.text()
    assert MQTT_PASSWORD not in addon.text()


# ---------------------------------------------------------------- refusals (in-process)


@pytest.fixture
def start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """Run the command in this process; reaching the exec would be a test failure."""

    def no_exec(*args: Any) -> None:
        raise AssertionError(f"the daemon was started: {args}")

    monkeypatch.setattr(os, "execv", no_exec)

    def run(*, token: str | None = TOKEN, supervisor: str | None = None) -> tuple[int, str]:
        monkeypatch.delenv("HASSIO_TOKEN", raising=False)
        if token is None:
            monkeypatch.delenv("SUPERVISOR_TOKEN", raising=False)
        else:
            monkeypatch.setenv("SUPERVISOR_TOKEN", token)
        args = ["addon", "--data", str(tmp_path / "data"),
                "--config-dir", str(tmp_path / "addon_config")]  # fmt: skip
        code = main([*args, "--supervisor", supervisor] if supervisor else args)
        return code, capsys.readouterr().err

    return run


def nothing_written(tmp_path: Path) -> bool:
    return not (tmp_path / "data" / "config.yaml").exists()


def test_no_broker_add_on(tmp_path: Path, supervisor: SupervisorStub, start: Any) -> None:
    write_options(tmp_path / "data", options(streamers=[{"user": "alice"}]))
    code, err = start(supervisor=supervisor.url)
    assert code == EXIT_UNAVAILABLE
    assert "Home Assistant has no MQTT broker for add-ons (HTTP 400, Supervisor: Service " \
           "not enabled)" in err  # fmt: skip
    assert "Mosquitto broker add-on" in err and "mqtt.server" in err
    assert supervisor.requests == [("/services/mqtt", f"Bearer {TOKEN}")]
    assert nothing_written(tmp_path)


def test_no_mqtt_service_endpoint(tmp_path: Path, supervisor: SupervisorStub, start: Any) -> None:
    write_options(tmp_path / "data", options())
    code, err = start(supervisor=supervisor.url + "/old")  # answers 404
    assert code == EXIT_UNAVAILABLE
    assert "(HTTP 404, Supervisor: Not Found)" in err
    assert nothing_written(tmp_path)


def test_no_token(tmp_path: Path, supervisor: SupervisorStub, start: Any) -> None:
    write_options(tmp_path / "data", options())
    code, err = start(token=None, supervisor=supervisor.url)
    assert code == EXIT_UNAVAILABLE
    assert "SUPERVISOR_TOKEN is not set" in err and "mqtt.server" in err
    assert supervisor.requests == []
    assert nothing_written(tmp_path)


def test_refused_token(tmp_path: Path, supervisor: SupervisorStub, start: Any) -> None:
    write_options(tmp_path / "data", options())
    code, err = start(token="stolen", supervisor=supervisor.url)
    assert code == EXIT_UNAVAILABLE
    assert "the Supervisor refused the add-on's token (HTTP 403" in err
    assert "stolen" not in err


def test_supervisor_unreachable(tmp_path: Path, start: Any) -> None:
    write_options(tmp_path / "data", options())
    code, err = start(supervisor=f"http://127.0.0.1:{free_port()}")
    assert code == EXIT_UNAVAILABLE
    assert "cannot reach the Supervisor at http://127.0.0.1:" in err


def test_bad_options_are_all_listed(tmp_path: Path, supervisor: SupervisorStub, start: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "options.json").write_text(json.dumps({
        "streamers": [{"user": "no spaces"}, {"user": "ok"}, {"user": "OK"}],
        "connection": "turbo", "discovery": "yes", "sign_server_key": SIGN_KEY, "extra": 1,
    }))  # fmt: skip
    code, err = start(supervisor=supervisor.url)
    assert code == EXIT_CONFIG
    assert "cannot start, 5 problems in the options:" in err
    for text in ("streamers[0].user: 'no spaces' is not a TikTok user name",
                 "streamers[2].user: 'OK' is listed twice", "connection: must be one of",
                 "discovery: must be true or false", "extra: unknown option"):  # fmt: skip
        assert f"  {text}" in err
    assert SIGN_KEY not in err
    assert supervisor.requests == []  # options first: no question to the Supervisor
    assert nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "options.json: not found (the Supervisor writes it)"),
        (b'{"sign_server_key": "' + SIGN_KEY.encode() + b'",', "options.json: not valid JSON"),
        (b"\xff\xfe", "options.json: cannot be read (UnicodeDecodeError)"),
    ],
)
def test_unreadable_options(
    tmp_path: Path, start: Any, content: bytes | None, expected: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    if content is not None:
        (data / "options.json").write_bytes(content)
    code, err = start()
    assert code == EXIT_CONFIG
    assert expected in err
    assert SIGN_KEY not in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt:\n  password: hunter2-Xy\n  user: [unclosed\n",
         "tiktok2mqtt.yaml: not valid YAML at line 4"),
        ("tiktok:\n  session:\n    session_id: !secret tiktok_session\n",
         "tags such as !secret do not work in this file"),
        ("- just\n- a list\n", "tiktok2mqtt.yaml: must be a mapping of configuration sections"),
        ("streamers: alice\n", "tiktok2mqtt.yaml: streamers must be a list"),
    ],
)  # fmt: skip
def test_bad_extra_file(
    tmp_path: Path, supervisor: SupervisorStub, start: Any, text: str, expected: str
) -> None:
    supervisor.mqtt = mqtt_service("127.0.0.1", 1883, "addons", "x")
    write_options(tmp_path / "data", options())
    (tmp_path / "addon_config").mkdir()
    (tmp_path / "addon_config" / "tiktok2mqtt.yaml").write_text(text)
    code, err = start(supervisor=supervisor.url)
    assert code == EXIT_CONFIG
    assert expected in err
    assert "hunter2" not in err  # PyYAML's message would quote the line
    assert nothing_written(tmp_path)


def test_config_is_written_privately_and_then_the_daemon_runs(
    tmp_path: Path, supervisor: SupervisorStub, start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    supervisor.mqtt = mqtt_service("core-mosquitto", 1883, MQTT_USER, MQTT_PASSWORD)
    write_options(tmp_path / "data", options(streamers=[{"user": "alice"}]))
    config = tmp_path / "data" / "config.yaml"
    config.write_text("old, world-readable")
    config.chmod(0o644)
    (tmp_path / "data" / "config.yaml.tmp").write_text("stale")
    (tmp_path / "data" / "config.yaml.tmp").chmod(0o666)
    execs: list[tuple[str, list[str]]] = []

    def fake_exec(path: str, argv: list[str]) -> None:
        execs.append((path, argv))
        raise SystemExit(0)

    monkeypatch.setattr(os, "execv", fake_exec)
    with pytest.raises(SystemExit):
        start(supervisor=supervisor.url)
    assert execs == [(sys.executable, [sys.executable, "-m", "bridge", "run", "-c", str(config)])]
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert not (tmp_path / "data" / "config.yaml.tmp").exists()
    written = yaml.safe_load(config.read_text())
    assert written["mqtt"] == {"server": "mqtt://core-mosquitto:1883", "user": MQTT_USER,
                               "password": MQTT_PASSWORD.replace("${", "$${")}  # fmt: skip
    assert config.read_text().startswith("# Written by `tiktok2mqtt addon`")
