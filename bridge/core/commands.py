"""Commands arriving over MQTT: ``<base>/bridge/request/<cmd>`` and per-streamer topics.

Every request gets an answer on ``<base>/bridge/response/<cmd>`` —
``{"status": "ok"|"error", "data": {...}, "error": "...", "transaction": <echoed>}`` — and
no input can raise out of here: bad JSON, non-UTF-8, oversize, unknown command or streamer
all become error responses (the request/response pattern of zigbee2mqtt's bridge API).

Retained command messages are ignored: a retained ``chat/send`` would otherwise speak to a
live audience again after every restart of the bridge.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from bridge.core.settings import ALL_EVENTS, StreamerSettings
from bridge.mqtt.topics import TopicError, Topics, check_name
from bridge.tiktok.users import normalise_unique_id

log = logging.getLogger(__name__)

Data = dict[str, Any]


class CommandError(Exception):
    """A request that cannot be carried out; ``str(exc)`` is the response's ``error``."""


class CommandTarget(Protocol):
    """What the router drives (implemented by bridge.core.app.Bridge)."""

    def health(self) -> Data: ...

    def publish_health(self) -> None: ...

    async def add_streamer(self, data: Mapping[str, Any]) -> Data: ...

    async def remove_streamer(self, user: str) -> Data: ...

    def reconnect_streamer(self, user: str) -> Data: ...

    async def send_chat(self, user: str, text: str) -> Data: ...

    def simulate(self, user: str, event_type: str, data: Mapping[str, Any]) -> Data: ...

    def set_watch(self, user: str, on: bool) -> Data: ...


# Publishes one (non-retained) response: (topic, body).
Responder = Callable[[str, Data], None]


def parse_payload(payload: bytes) -> Data:
    """JSON object → dict; a bare value (``alice``, ``"alice"``, ``ON``) → ``{"value": …}``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError("payload is not valid UTF-8") from None
    stripped = text.strip()
    if not stripped:
        return {}
    if stripped[0] in "{[":
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise CommandError(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
        if not isinstance(value, dict):
            raise CommandError("the JSON payload must be an object")
        return value
    try:
        return {"value": json.loads(stripped)}  # "alice", 3, true
    except ValueError:
        return {"value": stripped}  # bare text


def response(status: str, data: Data | None, transaction: Any, error: str | None = None) -> Data:
    out: Data = {"status": status, "data": data or {}}
    if error is not None:
        out["error"] = error
    if transaction is not None:
        out["transaction"] = transaction
    return out


def _user_of(data: Mapping[str, Any]) -> str:
    user = data.get("user", data.get("value"))
    if not isinstance(user, str) or not user:
        raise CommandError("'user' is required")
    return user


def _on_off(data: Mapping[str, Any]) -> bool:
    value = data.get("watch", data.get("value"))
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().upper() in ("ON", "OFF"):
        return value.strip().upper() == "ON"
    raise CommandError("expected ON or OFF")


class CommandRouter:
    def __init__(self, topics: Topics, respond: Responder, target: CommandTarget) -> None:
        self.topics = topics
        self._publish = respond
        self.target = target
        self.rejected = 0  # requests answered with an error, and retained commands ignored
        self._retained_seen: set[str] = set()
        self._requests: dict[str, Callable[[Data], Awaitable[Data]]] = {
            "health_check": self._health_check,
            "streamer/add": self.target.add_streamer,
            "streamer/remove": self._streamer_remove,
            "streamer/reconnect": self._streamer_reconnect,
            "streamer/watch": self._streamer_watch,
            "chat/send": self._chat_send,
            "simulate": self._simulate,
        }

    @property
    def commands(self) -> tuple[str, ...]:
        return tuple(self._requests)

    # ---------------------------------------------------------------- entry points (sink)

    async def on_message(self, topic: str, payload: bytes, retain: bool) -> None:
        if retain:
            self._ignore_retained(topic)
            return
        command = self.topics.command_of_request(topic)
        if command is not None:
            await self._request(command, payload)
            return
        split = self.topics.streamer_of(topic)
        if split is not None:
            await self._streamer_command(split[0], split[1], payload)

    def on_oversize(self, topic: str, size: int, retain: bool) -> None:
        command = self.topics.command_of_request(topic)
        if command is not None and not retain:
            self._respond(
                command, response("error", None, None, f"payload too large ({size} bytes)")
            )

    # ---------------------------------------------------------------- dispatch

    def _ignore_retained(self, topic: str) -> None:
        self.rejected += 1
        if topic not in self._retained_seen:  # once per topic: a retained flood stays quiet
            self._retained_seen.add(topic)
            log.warning(
                "ignoring retained command on %s (clear it with an empty retained message)", topic
            )

    async def _request(self, command: str, payload: bytes) -> None:
        handler = self._requests.get(command)
        transaction: Any = None
        try:
            data = parse_payload(payload)
            transaction = data.pop("transaction", None)
            if handler is None:
                raise CommandError(f"unknown command {command!r}")
            result = await handler(data)
        except CommandError as exc:
            self.rejected += 1
            self._respond(command, response("error", None, transaction, str(exc)))
            return
        except Exception as exc:  # a bug must still produce an answer, never kill the reader
            log.exception("request %s failed", command)
            self._respond(command, response("error", None, transaction, f"internal error: {exc}"))
            return
        self._respond(command, response("ok", result, transaction))

    def _respond(self, command: str, body: Data) -> None:
        try:
            topic = self.topics.response(command)
        except TopicError:
            # The request topic had levels we never build from (e.g. upper case): answer on
            # a fixed topic rather than echo them.
            topic = self.topics.response("invalid")
        self._publish(topic, body)

    async def _streamer_command(self, user: str, rest: str, payload: bytes) -> None:
        """``<user>/chat/send``, ``<user>/watch/set``, ``<user>/reconnect``; answered like the
        equivalent request (chat/send, streamer/watch, streamer/reconnect)."""
        command = {"chat/send": "chat/send", "watch/set": "streamer/watch",
                   "reconnect": "streamer/reconnect"}.get(rest)  # fmt: skip
        if command is None:
            return  # our own published topics (state, live…) are not commands
        if command == "chat/send":
            try:
                data = parse_payload(payload)
            except CommandError:
                data = {"value": payload.decode("utf-8", "replace")}
            transaction = data.pop("transaction", None)
            message = data.get("message", data.get("value", ""))
            body = {"user": user, "message": message if isinstance(message, str) else str(message)}
            if transaction is not None:
                body["transaction"] = transaction
            payload = json.dumps(body).encode()
        elif command == "streamer/watch":
            payload = json.dumps(
                {"user": user, "watch": payload.decode("utf-8", "replace")}
            ).encode()
        else:
            payload = json.dumps({"user": user}).encode()
        await self._request(command, payload)

    # ---------------------------------------------------------------- handlers

    async def _health_check(self, data: Data) -> Data:
        self.target.publish_health()
        return {"healthy": True, **self.target.health()}

    async def _streamer_remove(self, data: Data) -> Data:
        return await self.target.remove_streamer(_checked_user(data))

    async def _streamer_reconnect(self, data: Data) -> Data:
        return self.target.reconnect_streamer(_checked_user(data))

    async def _streamer_watch(self, data: Data) -> Data:
        return self.target.set_watch(_checked_user(data), _on_off(data))

    async def _chat_send(self, data: Data) -> Data:
        message = data.get("message")
        if not isinstance(message, str):
            raise CommandError("'message' is required")
        return await self.target.send_chat(_checked_user(data), message)

    async def _simulate(self, data: Data) -> Data:
        event_type = data.pop("type", None)
        if not isinstance(event_type, str):
            raise CommandError("'type' is required")
        return self.target.simulate(_checked_user(data), event_type, data)


def _checked_user(data: Mapping[str, Any]) -> str:
    user = _user_of(data).strip().removeprefix("@").lower()
    try:
        return check_name(user, "streamer")
    except TopicError as exc:
        raise CommandError(str(exc)) from None


# Options a runtime ``streamer/add`` accepts (the rest keeps the defaults of StreamerSettings).
ADD_OPTIONS = ("name", "events", "gift_progress", "like_window_s", "room_id")


def streamer_options(data: Mapping[str, Any]) -> tuple[str, Data]:
    """Validate a ``streamer/add`` request → (user, JSON-able options for persistence)."""
    try:
        user = check_name(normalise_unique_id(_user_of(data)), "streamer")
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    unknown = sorted(set(data) - {"user", "value", *ADD_OPTIONS})
    if unknown:
        raise CommandError(f"unknown option(s): {', '.join(unknown)}")
    options: Data = {}
    if (name := data.get("name")) is not None:
        if not isinstance(name, str):
            raise CommandError("'name' must be a string")
        options["name"] = name
    if (events := data.get("events")) is not None:
        if not isinstance(events, list) or not all(e in ALL_EVENTS for e in events):
            raise CommandError(f"'events' must be a list of: {', '.join(ALL_EVENTS)}")
        options["events"] = list(dict.fromkeys(events))
    if (progress := data.get("gift_progress")) is not None:
        if not isinstance(progress, bool):
            raise CommandError("'gift_progress' must be true or false")
        options["gift_progress"] = progress
    if (window := data.get("like_window_s")) is not None:
        if isinstance(window, bool) or not isinstance(window, int | float) or not 0 <= window <= 60:
            raise CommandError("'like_window_s' must be a number from 0 to 60")
        options["like_window_s"] = float(window)
    if (room_id := data.get("room_id")) is not None:
        if isinstance(room_id, bool) or not str(room_id).isdigit():
            raise CommandError("'room_id' must be a number (or a string of digits)")
        options["room_id"] = str(room_id)
    return user, options


def settings_from_options(user: str, options: Mapping[str, Any]) -> StreamerSettings:
    """StreamerSettings of a runtime streamer (options as validated by streamer_options)."""
    kwargs: Data = {k: v for k, v in options.items() if k in ADD_OPTIONS}
    if "events" in kwargs:
        kwargs["events"] = tuple(kwargs["events"])
    if "room_id" in kwargs:
        kwargs["room_id"] = int(kwargs["room_id"])
    return StreamerSettings(user=user, **kwargs)
