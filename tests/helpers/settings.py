"""TikTokSettings from the flat keyword arguments tests find convenient."""

from __future__ import annotations

from typing import Any

from bridge.settings.tiktok import Session, SessionSettings, SignServerSettings, TikTokSettings


def tiktok_settings(
    *,
    session: Session | None = None,
    sign_api_key: str | None = None,
    session_to_sign_server: bool = False,
    **overrides: Any,
) -> TikTokSettings:
    """`session`, `sign_api_key` and `session_to_sign_server` go where the file has them."""
    return TikTokSettings(
        session=SessionSettings(session.session_id, session.tt_target_idc)
        if session is not None
        else SessionSettings(),
        sign_server=SignServerSettings(api_key=sign_api_key, send_session=session_to_sign_server),
        **overrides,
    )
