"""Checked document (plain dicts, defaults filled in) -> the settings objects of each layer."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bridge.config.model import Config
from bridge.config.registry import sections
from bridge.core.settings import ChatSendSettings, GiftTier, StreamerSettings, SupervisorSettings
from bridge.mqtt.settings import HomeAssistantSettings, MqttSettings
from bridge.service.settings import LoggingSettings, ServiceSettings
from bridge.tiktok.settings import Endpoints, Session, TikTokSettings

Doc = Mapping[str, Any]


def build_config(
    doc: Doc, *, source: Path | None, base_dir: Path, env: Mapping[str, str] | None = None
) -> Config:
    env = os.environ if env is None else env
    return Config(
        mqtt=build_mqtt(doc["mqtt"]),
        tiktok=build_tiktok(doc["tiktok"]),
        supervisor=build_supervisor(doc["tiktok"]),
        streamers=tuple(build_streamer(s) for s in doc["streamers"]),
        homeassistant=HomeAssistantSettings(**doc["homeassistant"]),
        logging=LoggingSettings(**doc["logging"]),
        service=build_service(doc["service"], base_dir=base_dir, env=env),
        source=source,
        sections=MappingProxyType(_build_registered(doc)),
        redacted=MappingProxyType(redact(doc)),
    )


def redact(doc: Doc) -> dict[str, Any]:
    return {spec.name: spec.node.redact(doc.get(spec.name)) for spec in sections()}


def _build_registered(doc: Doc) -> dict[str, Any]:
    return {
        spec.name: spec.build(doc[spec.name], doc) for spec in sections() if spec.build is not None
    }


def build_mqtt(m: Doc) -> MqttSettings:
    return MqttSettings(
        **{k: v for k, v in m.items() if k not in ("ca", "cert", "key")},
        ca=_opt_str(m["ca"]),
        cert=_opt_str(m["cert"]),
        key=_opt_str(m["key"]),
    )


def build_tiktok(t: Doc) -> TikTokSettings:
    sign, session, ep = t["sign_server"], t["session"], t["endpoints"]
    endpoints = Endpoints(
        www=ep["www"],
        webcast=ep["webcast"],
        websocket=ep["websocket"],
        sign_server=sign["url"] or ep["sign_server"],
    )
    return TikTokSettings(
        connection=t["connection"],
        endpoints=endpoints,
        sign_server_enabled=sign["url"] is not None,
        sign_api_key=sign["api_key"],
        session=Session(session["session_id"], session["tt_target_idc"])
        if session["session_id"] is not None
        else None,
        session_to_sign_server=sign["send_session"],
        proxy=t["proxy"],
        language=t["language"],
        region=t["region"],
        user_agent=t["user_agent"],
        http_timeout_s=t["http_timeout_s"],
        connect_timeout_s=t["connect_timeout_s"],
        heartbeat_interval_s=t["heartbeat_interval_s"],
        stale_after_s=t["stale_after_s"],
    )


def build_supervisor(t: Doc) -> SupervisorSettings:
    # tiktok.supervision's keys are named like the SupervisorSettings fields.
    return SupervisorSettings(
        live_poll_interval_s=t["live_poll_interval_s"],
        calls_per_minute=t["calls_per_minute"],
        **t["supervision"],
    )


def build_streamer(s: Doc) -> StreamerSettings:
    tiers = sorted(s["gift_tiers"].items(), key=lambda item: item[1])
    return StreamerSettings(
        user=str(s["user"]),
        name=s["name"],
        events=s["events"],
        gift_tiers=tuple(GiftTier(f"gift_{name}", minimum) for name, minimum in tiers),
        gift_progress=s["gift_progress"],
        gift_streak_timeout_s=s["gift_streak_timeout_s"],
        like_window_s=s["like_window_ms"] / 1000.0,
        chat_send=ChatSendSettings(**s["chat_send"]),
        room_id=s["room_id"],
        watch=s["watch"],
    )


def build_service(s: Doc, *, base_dir: Path, env: Mapping[str, str]) -> ServiceSettings:
    state_dir: Path = s["state_dir"] or _default_state_dir(base_dir, env)
    return ServiceSettings(
        state_dir=state_dir,
        health_file=s["health_file"] or state_dir / "health",
        health_interval_s=s["health_interval_s"],
    )


def _default_state_dir(base_dir: Path, env: Mapping[str, str]) -> Path:
    # systemd's StateDirectory= may list several folders separated by ':'; the first is ours.
    state_directory = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state_directory) if state_directory else (base_dir / "state").absolute()


def _opt_str(value: Path | None) -> str | None:
    return None if value is None else str(value)
