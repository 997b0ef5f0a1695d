from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import ConfigInvalid, load_config
from tests.config.conftest import Load

Problems = Callable[..., dict[str, str]]

BAD = """
mqtt:
  server: http://broker.lan
  base_topic: homeassistant
  event_qos: 3
  cert: client.pem
  keepalive: soon
  pasword: x
tiktok:
  connection: sign
  live_poll_interval_s: 5
  proxy: ftp://proxy.lan
streamers:
  - user: "Alice Live"
    events: [chat, gifts]
    gift_tiers: {small: 1, Medium: 100, large: -5}
    chat_send: {enabled: true}
  - user: bob
  - user: "@BOB"
  - 42
logging: {level: verbose}
servise: {}
"""


def test_every_problem_is_reported_at_once_with_its_path(problems: Problems) -> None:
    found = problems(BAD)
    expected = {
        "mqtt.server": "not a URL starting with `mqtt://` or `mqtts://`",
        "mqtt.event_qos": "must be 0 to 2",
        "mqtt.cert": "does not exist",
        "mqtt.keepalive": "must be a whole number",
        "mqtt.pasword": "did you mean 'password'?",
        "tiktok.connection": "did you mean 'sign_server'?",
        "tiktok.live_poll_interval_s": "must be 15 to 86400, got 5",
        "tiktok.proxy": "socks5",
        "streamers[0].user": "a-z 0-9",
        "streamers[0].events[1]": "did you mean 'gift'?",
        "streamers[0].gift_tiers.Medium": "not a valid name",
        "streamers[0].gift_tiers.large": "must be 0 to",
        "streamers[2].user": "already listed as streamers[1]",
        "streamers[3]": "must be a mapping",
        "logging.level": "not allowed",
        "servise": "did you mean 'service'?",
        "mqtt.base_topic": "must differ from homeassistant.discovery_topic",
    }
    for path, words in expected.items():
        assert path in found, f"{path} not reported; got {sorted(found)}"
        assert words in found[path], f"{path}: {found[path]!r}"


def test_cross_key_rules(problems: Problems, tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    found = problems(
        """
mqtt: {server: "mqtt://b", cert: c.pem, password: pw}
tiktok: {sign_server: {send_session: true}, stale_after_s: 12, heartbeat_interval_s: 10}
streamers:
  - {user: alice, chat_send: {enabled: true}, gift_tiers: {a: 5, b: 5}}
"""
    )
    assert "set both cert and key" in found["mqtt.key"]
    assert "only used with TLS" in found["mqtt.cert"]
    assert "mqtt.password is set" in found["mqtt.user"]
    assert "no session" in found["tiktok.sign_server.send_session"]
    assert "twice tiktok.heartbeat_interval_s" in found["tiktok.stale_after_s"]
    chat = found["streamers[0].chat_send.enabled"]
    assert "tiktok.session.session_id" in chat and "tiktok.sign_server.api_key" in chat
    assert "same threshold" in found["streamers[0].gift_tiers.b"]


def test_chat_send_also_rejects_direct_connection(problems: Problems) -> None:
    found = problems(
        """
tiktok: {connection: direct, session: {session_id: s}, sign_server: {api_key: k}}
streamers: [{user: a, chat_send: {enabled: true}}]
"""
    )
    assert "other than direct" in found["streamers[0].chat_send.enabled"]


def test_nested_base_topic_and_reserved_user(problems: Problems) -> None:
    found = problems("mqtt: {base_topic: homeassistant/tiktok}\nstreamers: [bridge, actions]\n")
    assert "nested" in found["mqtt.base_topic"]
    assert "reserved" in found["streamers[0].user"]
    assert "reserved" in found["streamers[1].user"]  # the actions kill switch's topics


@pytest.mark.parametrize(
    ("room_id", "words"),
    [
        ('"²"', "must be an id"),
        ('"١٢٣"', "must be an id"),
        ("0", "must be 1 to 9223372036854775807"),
        ("12345678901234567890123456", "must be 1 to"),
        ('"12345678901234567890123456"', "must be an id"),
        ("1.5", "must be an id"),
        ("true", "must be an id"),
    ],
)
def test_room_id_is_a_positive_int64_of_ascii_digits(
    problems: Problems, room_id: str, words: str
) -> None:
    found = problems(f"streamers: [{{user: a, room_id: {room_id}}}]\n")
    assert words in found["streamers[0].room_id"]


def test_user_name_limits(problems: Problems) -> None:
    found = problems("streamers: [{user: '" + "a" * 65 + "'}, {user: 'a\\nb'}, {user: '...'}]\n")
    assert "too long (at most 64 characters)" in found["streamers[0].user"]
    assert "streamers[1].user" in found
    assert "letter or digit" in found["streamers[2].user"]


def test_streamer_count_is_limited(problems: Problems) -> None:
    found = problems("service: {max_streamers: 2}\nstreamers: [a, b, c]\n")
    assert "more than service.max_streamers (2)" in found["streamers"]


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("a/+/b", "wildcards"),
        ("a/#", "wildcards"),
        ("a//b", "empty level"),
        ("/a", "empty level"),
        ("$SYS", "reserved"),
    ],
)
def test_base_topic_validation(problems: Problems, topic: str, words: str) -> None:
    found = problems(f"mqtt: {{base_topic: '{topic}'}}\nstreamers: [a]\n")
    assert words in found["mqtt.base_topic"]


def test_base_topic_clash_ignored_when_discovery_off(load: Load) -> None:
    config = load(
        "mqtt: {base_topic: homeassistant}\nhomeassistant: {enabled: false}\nstreamers: [a]\n"
    )
    assert config.mqtt.base_topic == "homeassistant"


def test_missing_streamers_explains_the_empty_list(problems: Problems) -> None:
    found = problems("mqtt: {}\n")
    assert "streamers: []" in found["streamers"]


def test_empty_file_reports_missing_streamers(problems: Problems) -> None:
    assert list(problems("")) == ["streamers"]


def test_not_a_mapping(problems: Problems) -> None:
    assert "must be a mapping of sections" in problems("- a\n- b\n")[""]


def test_known_hints_for_guessed_keys(problems: Problems) -> None:
    found = problems("advanced: {log_level: debug}\ntiktok: {sign_api_key: k}\nstreamers: [a]\n")
    assert "service" in found["advanced"]
    assert "tiktok.sign_server.api_key" in found["tiktok.sign_api_key"]


def test_unknown_key_without_close_match_lists_the_keys(problems: Problems) -> None:
    found = problems("logging: {zzz: 1}\nstreamers: [a]\n")
    assert "expected one of: level, mqtt_level" in found["logging.zzz"]


def test_null_for_key_with_default_is_a_problem(problems: Problems) -> None:
    assert "remove the key" in problems("mqtt: {keepalive: }\nstreamers: [a]\n")["mqtt.keepalive"]


def test_nan_and_booleans_are_not_numbers(problems: Problems) -> None:
    found = problems("mqtt: {keepalive: true, max_event_age_s: .nan}\nstreamers: [a]\n")
    assert "whole number" in found["mqtt.keepalive"]
    assert "finite" in found["mqtt.max_event_age_s"]


def test_yaml_syntax_error_has_line_and_column(write: Callable[[str, str], Path]) -> None:
    path = write("mqtt:\n  server: mqtt://b\n  password: hunter2-SECRET: x\n", "config.yaml")
    with pytest.raises(ConfigInvalid) as info:
        load_config(path, env={})
    (problem,) = info.value.problems
    assert problem.path == str(path)
    assert "YAML syntax error at line 3, column" in problem.message
    assert "hunter2" not in problem.message  # PyYAML's snippet of the line is never shown


def test_unknown_tag_is_a_clear_problem(problems: Problems) -> None:
    (message,) = problems("mqtt: {password: !!python/object:os.system x}\n").values()
    assert "constructor" in message


def test_duplicate_keys_are_reported(problems: Problems) -> None:
    found = problems("streamers: [a]\nmqtt: {}\nmqtt: {user: x}\n")
    (message,) = (m for p, m in found.items() if p.endswith("config.yaml"))
    assert "line 3: key 'mqtt' is set twice" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid) as info:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in info.value.problems[0].message
