"""No secret value may appear in bridge/info, repr, or any problem message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import ConfigInvalid, load_config
from tests.config.conftest import Load

SECRETS = {
    "mqtt_password": "S3CRET-mqtt-Zq81",
    "sign_key": "S3CRET-sign-Kx77",
    "session": "S3CRET-session-Pw42",
    "proxy_pw": "S3CRET-proxy-Jj09",
    "user": "S3CRET-user-Hh12",
}

CONFIG = f"""
mqtt: {{user: !secret mqtt_user, password: !secret mqtt_password}}
tiktok:
  sign_server: {{api_key: !secret sign_key}}
  session: {{session_id: !credential session}}
  proxy: "socks5://bob:{SECRETS["proxy_pw"]}@proxy.lan:1080"
streamers: [alice]
"""


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    (tmp_path / "secrets.yaml").write_text(
        f"mqtt_password: {SECRETS['mqtt_password']}\nsign_key: {SECRETS['sign_key']}\n"
        f"mqtt_user: {SECRETS['user']}\n"
    )
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "session").write_text(SECRETS["session"])
    return creds


def assert_clean(text: str) -> None:
    for value in SECRETS.values():
        assert value not in text


def test_redacted_dict_and_repr_hold_no_secret(load: Load, secret_dir: Path) -> None:
    config = load(CONFIG, env={"CREDENTIALS_DIRECTORY": str(secret_dir)})
    assert config.mqtt.password == SECRETS["mqtt_password"]  # the real value is available
    info = config.redacted_dict()
    assert info["mqtt"]["password"] == "***"
    assert info["mqtt"]["user"] == "***"  # loaded with !secret, so redacted too
    assert info["tiktok"]["sign_server"]["api_key"] == "***"
    assert info["tiktok"]["session"]["session_id"] == "***"
    assert info["tiktok"]["proxy"] == "socks5://***@proxy.lan:1080"
    assert_clean(json.dumps(info))
    assert_clean(repr(config))


def test_problem_messages_hold_no_secret(
    problems: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    (tmp_path / "secrets.yaml").write_text(f"bad: {SECRETS['mqtt_password']}\n")
    found = problems(
        f"""
mqtt:
  password: {{nested: {SECRETS["mqtt_password"]}}}
  user: !secret bad
  client_id: !secret bad
  server: "mqtt://u:{SECRETS["user"]}@broker"
tiktok:
  connection: !secret bad
  proxy: "ftp://bob:{SECRETS["proxy_pw"]}@proxy.lan"
  session: {{session_id: [{SECRETS["session"]}]}}
  sign_server: {{api_key: {{k: {SECRETS["sign_key"]}}}}}
streamers: [alice]
"""
    )
    assert {"mqtt.password", "tiktok.connection", "tiktok.proxy", "mqtt.server"} <= found.keys()
    assert_clean(json.dumps(found))


def test_yaml_error_in_secrets_file_does_not_leak(
    problems: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    (tmp_path / "secrets.yaml").write_text(f"a: {SECRETS['sign_key']}: b\n")
    found = problems("mqtt: {user: u, password: !secret a}\nstreamers: [a]\n")
    assert_clean(json.dumps(found))


def test_invalid_exception_text_is_clean(write: Callable[[str, str], Path]) -> None:
    path = write(
        f"mqtt: {{password: {SECRETS['mqtt_password']}, user: 5, keepalive: x}}\n", "config.yaml"
    )
    with pytest.raises(ConfigInvalid) as info:
        load_config(path, env={})
    assert_clean(str(info.value) + "\n".join(map(str, info.value.problems)))
