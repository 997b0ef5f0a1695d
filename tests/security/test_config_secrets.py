"""A configuration error never quotes the value of a secret-bearing key (issue 11, point 6):
not in check-config, not when `run` refuses to start, not in the SIGHUP "reload refused"
error the daemon logs and publishes on <base>/bridge/logging. The proxy URL is the hard case:
a password holding "/" or "@" defeats a naive user:password@ mask."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.sim import TikTokSimulator
from tests.core.support import config_yaml, status_is
from tests.helpers.mosquitto import Mosquitto, Subscribe
from tests.helpers.paths import REPO
from tests.reliability.support import Daemon

PASSWORD_PARTS = ("Pr0xy", "Pw-9z")  # the halves around the "/" in the password
BAD_PROXIES = [
    "socks5://bob:Pr0xy/Pw-9z@proxy.lan:1080",  # "/" ends the authority: not a URL
    "socks5://bob:Pr0xy%2FPw-9z@proxy.lan:99999",  # percent-encoded, bad port
    "ftp://bob:Pr0xy@Pw-9z@proxy.lan",  # wrong scheme, "@" in the password
]


def _leaks(text: str) -> list[str]:
    return [part for part in PASSWORD_PARTS if part in text]


def _cli(command: str, cfg: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "bridge", command, "-c", str(cfg)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("proxy", BAD_PROXIES)
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_cli_never_quotes_a_broken_proxy_url(tmp_path: Path, proxy: str, command: str) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f'tiktok:\n  proxy: "{proxy}"\nstreamers: [alice]\n')
    proc = _cli(command, cfg)
    assert proc.returncode == 78
    assert "tiktok.proxy" in proc.stderr
    assert _leaks(proc.stdout + proc.stderr) == []


def test_broken_broker_url_is_masked(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text('mqtt:\n  server: "mqtt://u:Pr0xy/Pw-9z@broker.lan"\nstreamers: [a]\n')
    proc = _cli("check-config", cfg)
    assert proc.returncode == 78 and "mqtt.server" in proc.stderr
    assert _leaks(proc.stderr) == []


def test_every_form_of_the_proxy_password_is_a_registered_secret(tmp_path: Path) -> None:
    from bridge.commands.run import secrets_of

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        'tiktok:\n  proxy: "socks5://bob:p%40ss%3Aw%2Frd@proxy.lan:1080"\nstreamers: [a]\n'
    )
    found = set(secrets_of(load_config(cfg, env={})))
    assert {"p%40ss%3Aw%2Frd", "p@ss:w/rd"} <= found


async def test_reload_refused_error_does_not_quote_the_proxy(
    mosquitto: Mosquitto,
    sim: TikTokSimulator,
    subscriber: Subscribe,
    daemon_factory: Callable[[Path], Daemon],
    tmp_path: Path,
) -> None:
    sim.add_user("alice", live=True)
    rec = await subscriber(mosquitto, "tiktok/#")
    cfg = tmp_path / "cfg.yaml"
    good = config_yaml(mosquitto, sim, tmp_path / "state", "- alice\n")
    cfg.write_text(good)
    daemon = daemon_factory(cfg)
    await rec.wait_for("tiktok/alice/state", status_is("connected"), 30)
    cfg.write_text(
        good.replace(
            "  connection: direct\n", f'  connection: direct\n  proxy: "{BAD_PROXIES[0]}"\n'
        )
    )
    daemon.signal(signal.SIGHUP)
    refused = await rec.wait_for(
        "tiktok/bridge/logging", lambda x: "reload refused" in x.json()["message"], 20
    )
    assert "tiktok.proxy" in refused.json()["message"]
    await asyncio.sleep(0.3)
    daemon.signal(signal.SIGTERM)
    assert await daemon.wait() == 0
    assert _leaks(daemon.text()) == []
    for message in rec.messages:
        assert _leaks(message.payload.decode("utf-8", "replace")) == [], message.topic
