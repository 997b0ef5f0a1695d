"""Query parameters, headers and URL building of the TikTok client (pure functions)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from bridge.settings.names import normalise_unique_id
from bridge.settings.tiktok import DEFAULT_USER_AGENT, Endpoints, Session, TikTokSettings
from bridge.tiktok import params
from bridge.tiktok.params import BrowserIdentity
from tests.helpers.settings import tiktok_settings

UA = DEFAULT_USER_AGENT
IDENTITY = BrowserIdentity(
    user_agent=UA, device_id="7300000000000000001", history_len=7, last_rtt="123.456"
)


def ws_url(route: dict[str, str] | None = None, settings: TikTokSettings | None = None) -> str:
    settings = settings or TikTokSettings()
    base = params.ws_params(settings, IDENTITY, 7300000000000000001, heartbeat_ms=10000)
    return params.build_ws_url("wss://push.example/webcast/im/push/v2/", route or {}, base)


def query_pairs(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_user_agent_splits_at_first_slash() -> None:
    name, version = params.split_user_agent(UA)
    assert name == "Mozilla"
    assert version.startswith("5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36")
    assert params.split_user_agent("curl") == ("curl", "")


def test_socket_url_has_both_version_codes_last_one_appended() -> None:
    pairs = query_pairs(ws_url())
    codes = [v for k, v in pairs if k == "version_code"]
    assert codes == ["180800", "270000"]
    assert pairs[-1] == ("version_code", "270000")


def test_socket_params_are_web_platform_and_carry_room_and_compression() -> None:
    query = dict(query_pairs(ws_url()))
    assert query["device_platform"] == "web"
    assert query["aid"] == "1988"
    assert query["app_name"] == "tiktok_web"
    assert query["room_id"] == "7300000000000000001"
    assert query["compress"] == "gzip"
    assert query["history_comment_count"] == "6"
    assert query["heartbeat_duration"] == "10000"
    assert query["browser_name"] == "Mozilla"
    assert query["browser_version"] == params.split_user_agent(UA)[1]
    assert query["identity"] == "audience"
    assert query["live_id"] == "12"


def test_browser_version_is_percent_encoded_exactly_once() -> None:
    raw_query = urlsplit(ws_url()).query
    assert "browser_version=5.0%20%28Windows%20NT%2010.0%3B%20Win64%3B%20x64%29" in raw_query
    assert "%25" not in raw_query  # no double encoding anywhere


def test_route_params_encoded_empty_dropped_and_overridden_by_base() -> None:
    route = {"wrss": "a b&c=d/é", "empty": "", "room_id": "1", "aid": "999"}
    url = ws_url(route)
    raw = urlsplit(url).query
    assert raw.startswith("wrss=a%20b%26c%3Dd%2F%C3%A9&")
    pairs = query_pairs(url)
    assert ("wrss", "a b&c=d/é") in pairs
    assert all(k != "empty" for k, _ in pairs)
    assert [v for k, v in pairs if k == "room_id"] == ["7300000000000000001"]
    assert [v for k, v in pairs if k == "aid"] == ["1988"]


def test_push_server_with_query_is_extended_with_ampersand() -> None:
    url = params.build_ws_url("wss://h/p/?x=1", {}, [("a", "b")])
    assert url == "wss://h/p/?x=1&a=b&version_code=270000"


def test_compression_off_sends_empty_compress() -> None:
    base = params.ws_params(TikTokSettings(), IDENTITY, 1, heartbeat_ms=5000, compress=False)
    assert ("compress", "") in base


def test_http_params_are_web_pc_with_locale_and_device() -> None:
    settings = TikTokSettings(language="de", region="DE")
    query = params.http_params(settings, IDENTITY)
    assert query["device_platform"] == "web_pc"
    assert query["aid"] == "1988"
    assert query["device_id"] == "7300000000000000001"
    assert query["browser_language"] == "de-DE"
    assert query["app_language"] == "de"
    assert query["region"] == "DE"
    assert query["tz_name"] == "Europe/Berlin"
    assert query["browser_platform"] == "Win32"
    assert query["os"] == "windows"
    assert query["user_is_login"] == "false"
    assert query["referer"] == "https://www.tiktok.com/"
    with_session = tiktok_settings(session=Session("secret"))
    assert params.http_params(with_session, IDENTITY)["user_is_login"] == "true"


def test_origin_has_no_trailing_slash_and_headers_use_identity_ua() -> None:
    settings = TikTokSettings(endpoints=Endpoints(www="http://127.0.0.1:9/"))
    headers = params.http_headers(settings, IDENTITY)
    assert headers["Origin"] == "http://127.0.0.1:9"
    assert headers["Referer"] == "http://127.0.0.1:9/"
    assert headers["User-Agent"] == UA
    assert headers["Accept-Language"] == "en-US,en;q=0.9"
    ws = dict(params.ws_headers(settings, {"ttwid": "t"}))
    assert ws["Origin"] == "http://127.0.0.1:9"
    assert ws["Cookie"] == "ttwid=t"


def test_device_id_is_19_random_digits() -> None:
    ids = {params.random_device_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 19 and i.isdigit() and i[0] != "0" for i in ids)


def test_identity_is_fresh_per_attempt_with_same_user_agent() -> None:
    a, b = BrowserIdentity.new(UA), BrowserIdentity.new(UA)
    assert a.user_agent == b.user_agent == UA
    assert a.device_id != b.device_id
    assert 100 <= float(a.last_rtt) <= 200
    assert 4 <= a.history_len <= 14


def test_platform_from_user_agent() -> None:
    mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15"
    linux = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"
    assert (params.browser_platform(mac), params.os_name(mac)) == ("MacIntel", "mac")
    assert (params.browser_platform(linux), params.os_name(linux)) == ("Linux x86_64", "linux")


def test_session_cookies_and_default_idc() -> None:
    assert params.session_cookies(None) == {"tt-target-idc": "useast1a"}
    cookies = params.session_cookies(Session("sid", tt_target_idc="eu-ttp2"))
    assert cookies == {
        "sessionid": "sid",
        "sessionid_ss": "sid",
        "sid_tt": "sid",
        "tt-target-idc": "eu-ttp2",
    }
    assert params.cookie_header({"a": "1", "b": "2"}) == "a=1; b=2"


def test_cookie_list_parsing() -> None:
    text = 'ttwid=1%7Cabc; tt_chain_token="x=y"; Path=/; Domain=.tiktok.com; odd; =v; msToken=z'
    assert params.parse_cookie_list(text) == {
        "ttwid": "1%7Cabc",
        "tt_chain_token": "x=y",
        "msToken": "z",
    }
    assert params.parse_cookie_list("") == {}
    assert params.parse_cookie_list("ping-interval=5; x=y") == {"ping-interval": "5", "x": "y"}


@pytest.mark.parametrize(
    "text",
    [
        "alice.live",
        "@alice.live",
        " @Alice.Live ",
        "https://www.tiktok.com/@alice.live",
        "https://www.tiktok.com/@alice.live/live",
        "https://www.tiktok.com/@alice.live/live?lang=en#x",
        "www.tiktok.com/@alice.live/live",
        "tiktok.com/@alice.live/",
        "http://m.tiktok.com/@alice.live",
    ],
)
def test_username_normalising(text: str) -> None:
    assert normalise_unique_id(text) == "alice.live"


@pytest.mark.parametrize(
    "text", ["", "@", "a b", "https://www.tiktok.com/live", "al/ice", "x" * 65, "a+b", "a#b"]
)
def test_username_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        normalise_unique_id(text)
