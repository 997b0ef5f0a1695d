"""The live view of `demo` and `replay`: subscribe to ``<base>/#`` and print each message.

One line per message: local time, topic, a short human summary of the payload. Colour only
on a terminal (or when asked): escape codes in a log file or a pipe are noise.
Summaries read the published JSON (docs/mqtt-api.md), so the view shows exactly what Home
Assistant or Node-RED receive, not the bridge's internal objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import aiomqtt

from bridge.mqtt.sink import tls_context
from bridge.settings.mqtt import MqttSettings

_RESET = "\033[0m"
# Colour by what a reader scans for: money (gifts) and words (chat) stand out.
_COLORS = {
    "gift": "\033[1;35m", "chat": "\033[32m", "like": "\033[31m", "follow": "\033[36m",
    "share": "\033[36m", "subscribe": "\033[1;33m", "battle": "\033[33m", "stream": "\033[1;34m",
    "live": "\033[1;34m", "bridge": "\033[2m", "state": "\033[2m", "note": "\033[2;3m",
}  # fmt: skip
_MAX_TEXT = 70


@dataclass(frozen=True, slots=True)
class Seen:
    topic: str
    payload: bytes
    retained: bool


def broker_hint(server: str, exc: BaseException) -> str:
    """What to tell a newcomer whose broker does not answer."""
    return (
        f"No MQTT broker answers at {server} ({exc or type(exc).__name__}).\n"
        "Start one, then run this again:\n"
        "  sudo apt install mosquitto            # Debian / Ubuntu / Raspberry Pi OS\n"
        "  docker run -d -p 1883:1883 eclipse-mosquitto:2 mosquitto -c "
        "/mosquitto-no-auth.conf\n"
        "or point at yours with --mqtt mqtt://user:password@host:1883"
    )


async def connect_view(
    mqtt: MqttSettings,
    topic_filter: str,
    *,
    color: bool,
    quiet: bool = False,
    timeout_s: float = 5.0,
    out: TextIO | None = None,
) -> LiveView:
    """A started view; raises ConnectionError when the broker does not answer in time."""
    client = aiomqtt.Client(
        mqtt.host,
        mqtt.port,
        username=mqtt.user,
        password=mqtt.password,
        # Unique: sharing the bridge's client id would make the broker kick one of them.
        identifier=f"{mqtt.client_id}-view-{os.getpid()}",
        tls_context=tls_context(mqtt),
        timeout=timeout_s,
    )
    try:
        async with asyncio.timeout(timeout_s):
            await client.__aenter__()
            await client.subscribe(topic_filter, qos=1)
    except (aiomqtt.MqttError, TimeoutError) as exc:
        raise ConnectionError(str(exc) or "timed out") from None
    view = LiveView(client, base=mqtt.base_topic, color=color, quiet=quiet, out=out)
    view.start()
    return view


class LiveView:
    def __init__(
        self,
        client: aiomqtt.Client,
        *,
        base: str,
        color: bool,
        quiet: bool = False,
        out: TextIO | None = None,
    ) -> None:
        self.client = client
        self.base = base
        self.color = color
        self.quiet = quiet
        self.out = out if out is not None else sys.stdout
        self.seen: list[Seen] = []
        self._mark = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name="live-view")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in self.client.messages:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                seen = Seen(str(message.topic), payload, bool(message.retain))
                async with self._changed:
                    self.seen.append(seen)
                    self._changed.notify_all()
                if not self.quiet:
                    self._print(render(seen, self.base), _category(seen.topic, self.base))

    # -------------------------------------------------------------------- waiting

    def mark(self) -> None:
        """`wait_for` looks only at messages after this point."""
        self._mark = len(self.seen)

    def latest(self, topic: str) -> bytes | None:
        """The last payload seen on ``topic`` (None: nothing yet)."""
        return next((s.payload for s in reversed(self.seen) if s.topic == topic), None)

    async def wait_for(self, topic: str, payload: bytes, *, timeout_s: float) -> bool:
        """Whether ``payload`` arrived on ``topic`` (after the mark) within the time."""

        def found() -> bool:
            return any(s.topic == topic and s.payload == payload for s in self.seen[self._mark :])

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(found)
            return True
        return False

    # -------------------------------------------------------------------- output

    def note(self, text: str, *, always: bool = False) -> None:
        """A line of the program's own; ``always``: even with --quiet (where things went)."""
        if always or not self.quiet:
            self._print(f"{_clock()}  -- {text}", "note")

    def _print(self, line: str, category: str) -> None:
        if self.color and category in _COLORS:
            line = f"{_COLORS[category]}{line}{_RESET}"
        print(line, file=self.out, flush=True)

    def print_summary(
        self, topic_filter: str, mqtt: MqttSettings, *, private: str | None = None
    ) -> None:
        """Counts of what this run published; ``private``: the name of the private broker
        the run used (it is gone now, so there is nothing to watch afterwards)."""
        # Retained messages the broker kept from an earlier run arrive flagged at subscribe
        # time (live deliveries never are): shown in the view, not counted as this run's.
        fresh = [s for s in self.seen if not s.retained]
        counts = Counter(_category(s.topic, self.base) for s in fresh)
        parts = ", ".join(f"{n} {name}" for name, n in counts.most_common())
        old = len(self.seen) - len(fresh)
        earlier = f"; {old} retained from an earlier run not counted" if old else ""
        print(f"\n{len(fresh)} messages received ({parts or 'none'}){earlier}.", file=self.out)
        if private:
            print(
                f"The private {private} stopped with the demo. To watch with mosquitto_sub or "
                "Home Assistant, run a broker they can reach and pass --mqtt mqtt://host:1883.",
                file=self.out,
            )
            return
        host = f" -h {mqtt.host} -p {mqtt.port}" if mqtt.host != "localhost" else ""
        print(f"Watch them yourself: mosquitto_sub{host} -t '{topic_filter}' -v", file=self.out)


# ------------------------------------------------------------------------ rendering


def render(seen: Seen, base: str) -> str:
    rest = seen.topic.removeprefix(f"{base}/")
    stored = "  (retained, from before)" if seen.retained else ""
    return f"{_clock()}  {seen.topic:<34} {summarize(rest, seen.payload)}{stored}"


def _clock() -> str:
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


def _category(topic: str, base: str) -> str:
    levels = topic.removeprefix(f"{base}/").split("/")
    if levels[0] == "bridge":
        return "bridge"
    return levels[1] if len(levels) > 1 else levels[0]


def summarize(rest: str, payload: bytes) -> str:
    """A short human line for a topic below the base (``bridge/state``, ``alice/gift``)."""
    text = payload.decode("utf-8", errors="replace")
    if not payload:
        return "(cleared)"
    try:
        data = json.loads(text)
    except ValueError:
        return _short(text)
    if not isinstance(data, dict):
        return _short(text)
    area, _, leaf = rest.partition("/")
    if area == "bridge":
        return _bridge_summary(leaf, data)
    summarizer = _EVENTS.get(str(data.get("type", "")))
    if leaf == "state":
        return _state_summary(data)
    return summarizer(data) if summarizer else _short(str(data.get("event_type", text)))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _who(data: dict[str, Any]) -> str:
    user = data.get("user")
    if isinstance(user, dict) and user.get("unique_id"):
        return f"@{user['unique_id']}"
    return "someone"


def _bridge_summary(leaf: str, data: dict[str, Any]) -> str:
    if leaf == "info":
        return f"version {data.get('version')}, streamers {data.get('streamers')}"
    if leaf == "event":
        detail: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else {}
        extra = ", ".join(f"{k}={v}" for k, v in detail.items() if k in ("streamer", "reason"))
        return f"{data.get('type')} ({extra})" if extra else str(data.get("type"))
    if leaf == "health":
        return f"health: mqtt {data.get('mqtt', {}).get('published', '?')} published"
    return _short(json.dumps(data, ensure_ascii=False))


def _state_summary(data: dict[str, Any]) -> str:
    keys = ("status", "live", "viewers", "likes", "diamonds")
    return ", ".join(f"{k}={data[k]}" for k in keys if k in data)


def _gift(d: dict[str, Any]) -> str:
    gift: dict[str, Any] = d["gift"] if isinstance(d.get("gift"), dict) else {}
    name = gift.get("name") or f"gift {gift.get('id')}"
    return (
        f"{_who(d)} sent {d.get('count')}× {name} ({d.get('diamonds')} 💎) → {d.get('event_type')}"
    )


def _like(d: dict[str, Any]) -> str:
    who = _who(d) if d.get("users", 1) == 1 else f"{d.get('users')} fans"
    return f"{who} +{d.get('count')} likes (total {d.get('total')})"


def _battle(d: dict[str, Any]) -> str:
    teams = [t for t in d.get("teams", []) if isinstance(t, dict)]
    sides = [f"{t.get('unique_id') or t.get('nickname') or ''} {t.get('score') or ''}"
             for t in teams]  # fmt: skip
    score = " vs ".join(side.strip() for side in sides if side.strip())
    return f"{d.get('event_type')}: {score}" if score else str(d.get("event_type"))


def _stream(d: dict[str, Any]) -> str:
    reason = f" ({d['reason']})" if d.get("reason") else ""
    return f"stream {d.get('event_type')}{reason}"


_EVENTS: dict[str, Callable[[dict[str, Any]], str]] = {
    "chat": lambda d: _short(f"{_who(d)}: {d.get('text') or '(emotes)'}"),
    "gift": _gift,
    "like": _like,
    "follow": lambda d: f"{_who(d)} followed",
    "share": lambda d: f"{_who(d)} shared the stream",
    "member": lambda d: f"{_who(d)} joined",
    "subscribe": lambda d: f"{_who(d)} subscribed ({d.get('months')} months)",
    "question": lambda d: _short(f"{_who(d)} asks: {d.get('text')}"),
    "intro": lambda d: _short(f"intro: {d.get('text')}"),
    "envelope": lambda d: f"{_who(d)} dropped a treasure box ({d.get('diamonds')} 💎)",
    "battle": _battle,
    "stream": _stream,
}
