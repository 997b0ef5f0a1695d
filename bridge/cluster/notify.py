"""Nudges between instances over Redis pub/sub: "joined", "left", "released", "streamers".

Pub/sub loses messages while a connection is down, so a nudge only makes an instance act
sooner; every decision is also taken on the periodic round (versions are polled).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from bridge.cluster.backend import BACKEND_ERRORS, Client
from bridge.cluster.clock import Clock

log = logging.getLogger(__name__)

Handler = Callable[[str], None]


class Notifier:
    def __init__(
        self, client: Client, channel: str, instance: str, clock: Clock, idle_s: float
    ) -> None:
        self._client = client
        self._channel = channel
        self._instance = instance
        self._clock = clock
        self._idle_s = idle_s  # ping after this much silence; reconnect after twice as much

    async def publish(self, kind: str) -> None:
        message = json.dumps({"kind": kind, "from": self._instance})
        try:
            await self._client.publish(self._channel, message)
        except BACKEND_ERRORS as exc:
            log.debug("could not publish %s: %s", kind, exc)

    async def run(self, handler: Handler) -> None:
        """Forever: subscribe, hand every other instance's nudge to ``handler``; after a
        (re)subscription ``handler("resubscribed")`` (messages may have been missed)."""
        backoff = 0.1
        while True:
            try:
                await self._listen(handler)
            except BACKEND_ERRORS as exc:
                log.debug("pub/sub connection lost: %s", exc)
            await self._clock.sleep(backoff)
            backoff = min(backoff * 2, self._idle_s)

    async def _listen(self, handler: Handler) -> None:
        pubsub: Any = self._client.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            handler("resubscribed")
            last = self._clock.monotonic()
            pinged = False
            while True:
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=self._idle_s / 2
                )
                now = self._clock.monotonic()
                if message is not None:
                    last, pinged = now, False
                    kind = self._kind(message)
                    if kind is not None:
                        handler(kind)
                elif now - last > 2 * self._idle_s:
                    raise TimeoutError("pub/sub connection silent")
                elif now - last > self._idle_s and not pinged:
                    await pubsub.ping()
                    pinged = True
        finally:
            await pubsub.aclose()

    def _kind(self, message: dict[str, Any]) -> str | None:
        if message.get("type") != "message":
            return None
        try:
            data = json.loads(message["data"])
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("from") == self._instance:
            return None
        kind = data.get("kind")
        return kind if isinstance(kind, str) else None
