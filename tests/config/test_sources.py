"""`!secret`, `!credential` and `${ENV}` values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.config.load import substitute_env
from bridge.settings.schema import SecretValue, Unresolved
from tests.config.conftest import Load

Problems = Callable[..., dict[str, str]]


def test_secret_from_secrets_yaml(load: Load, tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("mqtt_password: pw-from-file\nnumeric: 1234\n")
    config = load(
        "mqtt: {user: u, password: !secret mqtt_password}\n"
        "tiktok: {sign_server: {api_key: !secret numeric}}\n"
        "streamers: [a]\n"
    )
    assert config.mqtt.password == "pw-from-file"
    assert isinstance(config.mqtt.password, SecretValue)
    assert config.tiktok.sign_api_key == "1234"


def test_secret_falls_back_to_systemd_credentials(load: Load, tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text("pw-from-systemd\n")
    config = load(
        "mqtt: {user: u, password: !secret mqtt_password}\nstreamers: [a]\n",
        env={"CREDENTIALS_DIRECTORY": str(creds)},
    )
    assert config.mqtt.password == "pw-from-systemd"  # trailing newline dropped


def test_credential_from_docker_secrets(write: Callable[[str, str], Path], tmp_path: Path) -> None:
    docker = tmp_path / "run-secrets"
    docker.mkdir()
    (docker / "tiktok_session").write_text("sess-from-docker")
    path = write(
        "tiktok: {session: {session_id: !credential tiktok_session}}\nstreamers: [a]\n",
        "config.yaml",
    )
    config = load_config(path, env={}, docker_secrets_dir=docker)
    assert config.tiktok.session is not None
    assert config.tiktok.session.session_id == "sess-from-docker"


def test_missing_secrets_are_reported_at_their_key(problems: Problems, tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("other: x\n")
    found = problems(
        """
mqtt: {user: u, password: !secret mqtt_password}
tiktok: {session: {session_id: !credential nope}}
streamers: [{user: a, name: !secret "../etc/passwd"}]
"""
    )
    assert "!secret mqtt_password was not found in" in found["mqtt.password"]
    assert str(tmp_path / "secrets.yaml") in found["mqtt.password"]
    assert "!credential nope" in found["tiktok.session.session_id"]
    assert "names may contain" in found["streamers[0].name"]


def test_broken_secrets_file_is_a_problem(problems: Problems, tmp_path: Path) -> None:
    (tmp_path / "secrets.yaml").write_text("a: [unclosed\n")
    found = problems("mqtt: {user: u, password: !secret a}\nstreamers: [a]\n")
    assert "is not valid YAML (line" in found["mqtt.password"]


def test_env_substitution_with_types_and_defaults(load: Load) -> None:
    config = load(
        """
mqtt:
  server: mqtt://${BROKER}:${PORT:-1884}
  keepalive: ${KEEPALIVE:-30}
  client_id: "${CLIENT:-bridge}"
  retain: ${RETAIN}
streamers: ["${STREAMER}"]
""",
        env={"BROKER": "broker.lan", "RETAIN": "false", "STREAMER": "carol"},
    )
    assert config.mqtt.server == "mqtt://broker.lan:1884"
    assert config.mqtt.keepalive == 30  # plain scalar: re-read as YAML, an int
    assert config.mqtt.client_id == "bridge"
    assert config.mqtt.retain is False
    assert config.streamers[0].user == "carol"


def test_quoted_env_value_stays_text(problems: Problems) -> None:
    found = problems('mqtt: {keepalive: "${K}"}\nstreamers: [a]\n', env={"K": "60"})
    assert "whole number" in found["mqtt.keepalive"]


def test_unset_env_var_is_reported(problems: Problems) -> None:
    found = problems("mqtt:\n  user: ${MQTT_USER}\nstreamers: [a]\n")
    assert "environment variable MQTT_USER is not set" in found["mqtt.user"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${A}", "1"),
        ("x${A}y${B:-2}", "x1y2"),
        ("${E:-fallback}", "fallback"),  # empty counts as unset when a default is given
        ("$${A}", "${A}"),
        ("cost $5", "cost $5"),
    ],
)
def test_substitute_env(text: str, expected: str) -> None:
    assert substitute_env(text, {"A": "1", "E": ""}) == expected


def test_malformed_reference() -> None:
    result = substitute_env("${A", {"A": "1"})
    assert isinstance(result, Unresolved) and "malformed" in result.reason
