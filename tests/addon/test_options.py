"""Options → configuration, pure: every problem by option name, the merge rules of
tiktok2mqtt.yaml, values from Home Assistant kept literal; and the result is a valid
configuration for the bridge (`tiktok2mqtt check-config`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.service.addon import (
    AddonOptions,
    Broker,
    OptionsInvalid,
    Streamer,
    build_config,
    parse_options,
)
from bridge.service.supervisor import server_url
from tests.addon import ha_schema
from tests.addon.test_manifest import CONFIG
from tests.helpers.paths import REPO

BROKER = Broker("mqtt://core-mosquitto:1883", "addons", "pw", "the Supervisor's MQTT service")


def problems(raw: Any) -> list[str]:
    with pytest.raises(OptionsInvalid) as info:
        parse_options(raw)
    return info.value.problems


def test_defaults_of_the_manifest_parse_to_the_documented_defaults() -> None:
    assert parse_options(CONFIG["options"]) == AddonOptions()
    assert parse_options({}) == AddonOptions()  # an old options.json without new keys


def test_full_options() -> None:
    raw = {
        "streamers": [{"user": "@Alice.Live", "name": "Alice"}, {"user": "bob_games"}],
        "connection": "sign_server",
        "sign_server_key": "k",
        "sign_server_url": "https://sign.example",
        "discovery": False,
        "actions": False,
        "log_level": "debug",
        "mqtt": {"server": "mqtts://broker.lan:8883", "user": "u", "password": "p"},
    }
    assert ha_schema.validate_options(CONFIG["schema"], raw) == []  # HA would write this
    options = parse_options(raw)
    assert options.streamers == (Streamer("alice.live", "Alice"), Streamer("bob_games"))
    assert (options.connection, options.discovery, options.actions) == ("sign_server", False, False)
    assert (options.mqtt_server, options.mqtt_user, options.mqtt_password) == (
        "mqtts://broker.lan:8883", "u", "p",
    )  # fmt: skip


def test_every_problem_is_listed_with_its_option_name() -> None:
    found = problems(
        {
            "streamers": [{"user": "bad name"}, {"name": "x"}, {"user": "a"}, {"user": "A"},
                          {"user": "bridge"}, "carol", {"user": "d", "tiers": 1}],
            "connection": "fast",
            "discovery": "yes",
            "log_level": 3,
            "sign_server_url": "ftp://x",
            "mqtt": {"server": "mqtt://u:secret@host", "port": 1883},
            "colour": "red",
        }
    )  # fmt: skip
    expected = [
        "colour: unknown option",
        "streamers[0].user: 'bad name' is not a TikTok user name",
        "streamers[1].user: is required",
        "streamers[3].user: 'A' is listed twice",
        "streamers[4].user: 'bridge' collides",
        "streamers[5]: must be an entry",
        "streamers[6].tiers: unknown option",
        "mqtt.port: unknown option",
        "connection: must be one of auto, sign_server, direct, not 'fast'",
        "discovery: must be true or false",
        "log_level: must be one of",
        "sign_server_url: must be a http:// or https:// URL",
        "mqtt.server: must be a mqtt:// or mqtts:// URL",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in found), (text, found)
    assert len(found) == len(expected)
    assert problems([1, 2]) == ["options: must be a JSON object"]
    assert problems({"mqtt": {"password": "p"}}) == [
        "mqtt.server: is required when mqtt.user or mqtt.password is set"
    ]


def test_config_from_options_only() -> None:
    options = parse_options({"streamers": [{"user": "@Alice", "name": "Alice"}],
                             "sign_server_key": "key", "log_level": "warning"})  # fmt: skip
    config = build_config(options, BROKER, "/data/state")
    assert config == {
        "mqtt": {"server": "mqtt://core-mosquitto:1883", "user": "addons", "password": "pw"},
        "homeassistant": {"enabled": True},
        "tiktok": {"connection": "auto", "sign_server": {"api_key": "key"}},
        "logging": {"level": "warning"},
        "service": {"state_dir": "/data/state"},
        "actions": {"enabled": True},
        "streamers": [{"user": "alice", "name": "Alice"}],
    }


def test_the_extra_file_fills_in_and_the_options_win() -> None:
    extra: dict[str, Any] = {
        "mqtt": {"server": "mqtt://elsewhere", "user": "old", "password": "old",
                 "client_id": "tt-home", "base_topic": "tt"},
        "homeassistant": {"enabled": True, "chat_event_enabled_by_default": True},
        "tiktok": {"connection": "direct", "proxy": "socks5://p:1080",
                   "sign_server": {"send_session": True}},
        "streamers": ["bob", {"user": "@ALICE", "gift_tiers": {"big": 500}, "name": "file"},
                      {"user": "carol", "watch": False}],
        "actions": {"enabled": False, "rules": [{"name": "r"}]},
        "logging": None,
    }  # fmt: skip
    options = parse_options({"streamers": [{"user": "alice", "name": "Alice"}, {"user": "dave"}],
                             "discovery": False, "sign_server_key": "k"})  # fmt: skip
    anonymous = Broker("mqtt://core-mosquitto:1883", None, None, "the Supervisor")
    config = build_config(options, anonymous, "/data/state", extra)
    assert config["mqtt"] == {"server": "mqtt://core-mosquitto:1883", "client_id": "tt-home",
                              "base_topic": "tt"}  # fmt: skip
    assert config["homeassistant"] == {"enabled": False, "chat_event_enabled_by_default": True}
    assert config["tiktok"] == {"connection": "auto", "proxy": "socks5://p:1080",
                                "sign_server": {"send_session": True, "api_key": "k"}}  # fmt: skip
    assert config["actions"] == {"enabled": True, "rules": [{"name": "r"}]}
    assert config["logging"] == {"level": "info"}
    assert config["streamers"] == [
        {"user": "alice", "gift_tiers": {"big": 500}, "name": "Alice"},  # merged by user
        {"user": "dave"},
        {"user": "bob"},  # only in the file: watched too
        {"user": "carol", "watch": False},
    ]
    assert extra["streamers"][1]["name"] == "file"  # the caller's data is not modified


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([1, 2], "tiktok2mqtt.yaml: must be a mapping of configuration sections"),
        ({"mqtt": "x"}, "tiktok2mqtt.yaml: mqtt must be a mapping"),
        ({"tiktok": {"sign_server": 3}}, "tiktok2mqtt.yaml: tiktok.sign_server must be a mapping"),
        ({"streamers": "alice"}, "tiktok2mqtt.yaml: streamers must be a list"),
        ({"streamers": [{"name": "x"}]}, "tiktok2mqtt.yaml: streamers[0] needs a user"),
        ({"streamers": ["a", "A"]}, "tiktok2mqtt.yaml: streamers[1].user 'A' is listed twice"),
    ],
)
def test_a_broken_extra_file_is_refused(extra: Any, expected: str) -> None:
    options = parse_options({"sign_server_key": "k"})
    with pytest.raises(OptionsInvalid) as info:
        build_config(options, BROKER, "/s", extra)
    assert info.value.problems == [expected]


def test_values_from_home_assistant_stay_literal() -> None:
    """The bridge expands ${VAR} in its file; a password with "${" must not be expanded."""
    options = parse_options({"streamers": [{"user": "a", "name": "${HOME} $x"}],
                             "sign_server_key": "k${HOME}"})  # fmt: skip
    broker = Broker("mqtt://h:1", "u${USER}", "p${HOME}$${x}", "the options")
    config = build_config(options, broker, "/s")
    assert config["mqtt"]["password"] == "p$${HOME}$$${x}"
    assert config["mqtt"]["user"] == "u$${USER}"
    assert config["tiktok"]["sign_server"]["api_key"] == "k$${HOME}"
    assert config["streamers"][0]["name"] == "$${HOME} $x"


def test_broker_url_from_the_supervisor_service() -> None:
    assert server_url("core-mosquitto", 1883, False) == "mqtt://core-mosquitto:1883"
    assert server_url("core-mosquitto", 8883, True) == "mqtts://core-mosquitto:8883"
    assert server_url("fd00::5", 1883, False) == "mqtt://[fd00::5]:1883"


def check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "check-config", "-c", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_generated_configurations_pass_check_config(tmp_path: Path) -> None:
    """Through the bridge's own validation, not a copy of its rules."""
    cases = {
        "defaults": (parse_options(CONFIG["options"]), None),
        "everything": (
            parse_options({
                "streamers": [{"user": "@Alice", "name": "Alice ${x}"}, {"user": "b.o-b_1"}],
                "connection": "sign_server", "sign_server_key": "k${HOME}",
                "sign_server_url": "https://sign.example", "discovery": False,
                "actions": False, "log_level": "critical",
            }),
            {"streamers": [{"user": "alice", "gift_tiers": {"big": 500}}],
             "actions": {"rules": [{"name": "blink", "trigger": {"type": "follow"},
                                    "actions": [{"topic": "cmnd/lamp/POWER", "payload": "ON"}]}]},
             "mqtt": {"client_id": "addon-test"}},
        ),
    }  # fmt: skip
    broker = Broker("mqtt://core-mosquitto:1883", "addons", "p${HOME}w", "the Supervisor")
    for name, (options, extra) in cases.items():
        path = tmp_path / f"{name}.yaml"
        config = build_config(options, broker, str(tmp_path / "state"), extra)
        path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        result = check_config(path)
        assert result.returncode == 0, (name, result.stdout + result.stderr)
        assert "Configuration is valid" in result.stdout


def test_check_config_refuses_what_the_extra_file_gets_wrong(tmp_path: Path) -> None:
    """The options are checked by the add-on; keys of the file by the bridge (exit 78)."""
    broker = Broker("mqtt://core-mosquitto:1883", "addons", "Secret-Pw-77", "the Supervisor")
    config = build_config(parse_options({}), broker, str(tmp_path), {"tiktok": {"live_poll": 5}})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = check_config(path)
    assert result.returncode == 78
    assert "tiktok.live_poll" in result.stderr
    assert "Secret-Pw-77" not in result.stdout + result.stderr
