from __future__ import annotations

from pathlib import Path

from bridge.config import EXIT_CONFIG, load_config
from bridge.settings.mqtt import HomeAssistantSettings, MqttSettings
from bridge.settings.streamer import (
    DEFAULT_EVENTS,
    ChatSendSettings,
    GiftTier,
    StreamerSettings,
)
from bridge.settings.tiktok import Session, SupervisorSettings, TikTokSettings
from tests.config.conftest import Load

REPO = Path(__file__).resolve().parents[2]


def test_example_is_valid_and_complete() -> None:
    config = load_config(REPO / "config.yaml.example", env={})
    assert [s.user for s in config.streamers] == ["alice.live", "bob_games"]
    assert config.mqtt.server == "mqtts://broker.lan:8883" and config.mqtt.tls
    assert config.streamers[0].name == "Alice"
    assert config.source == (REPO / "config.yaml.example").absolute()


def test_minimal_config_gets_the_dataclass_defaults(load: Load, tmp_path: Path) -> None:
    config = load("streamers: [alice]\n")
    assert config.mqtt == MqttSettings()
    assert config.tiktok == TikTokSettings()
    assert config.supervisor == SupervisorSettings()
    assert config.homeassistant == HomeAssistantSettings()
    assert config.streamers == (StreamerSettings(user="alice"),)
    assert config.service.state_dir == tmp_path / "state"
    assert config.service.health_file == tmp_path / "state" / "health"


def test_streamer_user_is_normalised_and_keys_converted(load: Load) -> None:
    config = load(
        """
streamers:
  - user: "@Alice.Live"
    gift_tiers: {large: 500, tiny: 1, mid: 50}
    like_window_ms: 250
    room_id: 7330000000000000000
    events: [gift, chat, gift]
    watch: false
"""
    )
    s = config.streamers[0]
    assert s.user == "alice.live"
    assert s.gift_tiers == (
        GiftTier("gift_tiny", 1),
        GiftTier("gift_mid", 50),
        GiftTier("gift_large", 500),
    )
    assert s.like_window_s == 0.25
    assert s.room_id == 7330000000000000000
    assert s.events == ("gift", "chat")
    assert s.watch is False


def test_empty_streamer_list_is_allowed_when_explicit(load: Load) -> None:
    assert load("streamers: []\n").streamers == ()


def test_tiktok_section_builds_session_and_sign_server(load: Load) -> None:
    config = load(
        """
streamers: [alice]
tiktok:
  sign_server: {url: "https://sign.example/", api_key: k-123, send_session: true}
  session: {session_id: s-456, tt_target_idc: eu-ttp2}
  proxy: socks5://u:p@proxy.lan:1080
  live_poll_interval_s: 30
  calls_per_minute: 12
  region: de
  endpoints: {websocket: "ws://127.0.0.1:9"}
"""
    )
    t = config.tiktok
    assert t.login == Session("s-456", "eu-ttp2")
    assert t.sign_api_key == "k-123" and t.uses_sign_server and t.session_to_sign_server
    assert t.sign_server_url == "https://sign.example"  # sign_server.url wins over endpoints
    assert t.endpoints.websocket == "ws://127.0.0.1:9"
    assert t.region == "DE"
    assert config.supervisor.live_poll_interval_s == 30.0
    assert config.supervisor.calls_per_minute == 12


def test_chat_send_allowed_with_session_key_and_opt_in(load: Load) -> None:
    config = load(
        """
tiktok: {session: {session_id: abc}, sign_server: {api_key: xyz, send_session: true}}
streamers: [{user: alice, chat_send: {enabled: true, burst: 3}}]
"""
    )
    assert config.streamers[0].chat_send == ChatSendSettings(enabled=True, burst=3)


def test_tls_files_are_resolved_relative_to_the_config(load: Load, tmp_path: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("x")
    config = load(
        "mqtt: {server: mqtts://b, ca: ca.pem, cert: client.pem, key: client.key}\nstreamers: [a]\n"
    )
    assert config.mqtt.ca == tmp_path / "ca.pem"
    assert config.mqtt.key == tmp_path / "client.key"
    assert config.mqtt.port == 8883


def test_state_directory_from_systemd(load: Load) -> None:
    config = load("streamers: [a]\n", env={"STATE_DIRECTORY": "/var/lib/tiktok2mqtt:/other"})
    assert config.service.state_dir == Path("/var/lib/tiktok2mqtt")


def test_exit_code_constant() -> None:
    assert EXIT_CONFIG == 78


def test_default_events_exclude_noisy_ones(load: Load) -> None:
    assert load("streamers: [a]\n").streamers[0].events == DEFAULT_EVENTS


def test_room_id_may_be_text_of_ascii_digits(load: Load) -> None:
    config = load('streamers: [{user: a, room_id: "7330000000000000001"}]\n')
    assert config.streamers[0].room_id == 7330000000000000001


def test_profile_url_is_a_user_name(load: Load) -> None:
    config = load("streamers: ['https://www.tiktok.com/@Alice.Live/live']\n")
    assert config.streamers[0].user == "alice.live"


def test_names_that_differ_only_in_dot_and_underscore_are_two_streamers(load: Load) -> None:
    # Home Assistant discovery gives them different ids (bridge.mqtt.discovery._slug).
    config = load("streamers: [a.b, a_b]\n")
    assert [s.user for s in config.streamers] == ["a.b", "a_b"]
