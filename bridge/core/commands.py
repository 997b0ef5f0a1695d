"""Commands arriving over MQTT: ``<base>/bridge/request/<cmd>`` and per-streamer topics.

Every request gets an answer on ``<base>/bridge/response/<cmd>`` —
``{"status": "ok"|"error", "data": {...}, "error": "...", "transaction": <echoed>}`` — and
no input can raise out of here: bad JSON, non-UTF-8, oversize, too deep, non-finite numbers,
unknown command or streamer all become error responses (z2m's request API). The fields of
each request are checked by their declaration in bridge.settings (a streamer/add exactly like
a `streamers:` entry), so an error names the field and what it accepts.

Retained command messages are ignored: a retained ``chat/send`` would otherwise speak to a
live audience again after every restart of the bridge.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from bridge.mqtt.topics import TopicError, Topics
from bridge.settings import commands as limits
from bridge.settings.declare import node_of, parse
from bridge.settings.names import normalise_user, user_problem
from bridge.settings.problems import Problem
from bridge.settings.schema import has_control
from bridge.settings.streamer import GoalSettings, StreamerSettings

log = logging.getLogger(__name__)

Data = dict[str, Any]


class CommandError(Exception):
    """A request that cannot be carried out; ``str(exc)`` is the response's ``error``."""


class _NotJson(CommandError):
    """The payload looked like JSON but is not (chat/send then takes it as text)."""


class CommandTarget(Protocol):
    """What the router drives (implemented by bridge.core.app.Bridge)."""

    def health(self) -> Data: ...

    def publish_health(self) -> None: ...

    async def add_streamer(self, data: Mapping[str, Any]) -> Data: ...

    async def remove_streamer(self, user: str) -> Data: ...

    def reconnect_streamer(self, user: str) -> Data: ...

    async def send_chat(self, user: str, text: str) -> Data: ...

    def simulate(self, user: str, event_type: str, fields: Any) -> Data: ...

    async def set_watch(self, user: str, on: bool) -> Data: ...

    def set_goals(self, user: str, targets: Mapping[str, int]) -> Data: ...

    def reset_goals(self, user: str, goal: str) -> Data: ...

    def reset_leaderboard(self, user: str) -> Data: ...


# Publishes one (non-retained) response: (topic, body).
Responder = Callable[[str, Data], None]


# ---------------------------------------------------------------- payloads


def _refuse_constant(name: str) -> Any:
    raise CommandError(f"invalid JSON: {name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise CommandError(f"invalid JSON: the number {text[:20]} is out of range")
    return value


def _loads(text: str) -> Any:
    """json.loads with bounded cost: numbers finite, nesting at most MAX_JSON_DEPTH."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise _NotJson(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise CommandError(_too_deep()) from None
    except ValueError:  # an integer beyond Python's digit limit
        raise CommandError("invalid JSON: a number is too long") from None
    if _deeper_than(value, limits.MAX_JSON_DEPTH):
        raise CommandError(_too_deep())
    return value


def _too_deep() -> str:
    return f"invalid JSON: nested too deeply (at most {limits.MAX_JSON_DEPTH} levels)"


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


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
        value = _loads(stripped)
        if not isinstance(value, dict):
            raise CommandError("the JSON payload must be an object")
        return value
    try:
        return {"value": _loads(stripped)}  # "alice", 3, true
    except CommandError:
        return {"value": stripped}  # bare text (also "NaN" or "1e400": text, not numbers)


def response(status: str, data: Data | None, transaction: Any, error: str | None = None) -> Data:
    out: Data = {"status": status, "data": data or {}}
    if error is not None:
        out["error"] = error
    if transaction is not None:
        out["transaction"] = transaction
    return out


def problems_text(problems: Iterable[Problem], limit: int = 10) -> str:
    """Problems of a request as one error sentence (the first `limit` of them)."""
    items = list(problems)
    text = "; ".join(str(p) for p in items[:limit])
    return text + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def _transaction(data: Data) -> Any:
    """The request's `transaction`, echoed in the response: text or a number."""
    value = data.pop("transaction", None)
    if value is None or isinstance(value, bool | int | float):
        return value  # numbers are finite: _loads refused the others
    short = isinstance(value, str) and len(value) <= limits.MAX_TRANSACTION_CHARS
    if short and not has_control(value):
        return value
    raise CommandError(
        f"'transaction' must be text (at most {limits.MAX_TRANSACTION_CHARS} characters, "
        "no control characters) or a number"
    )


def _user_of(data: Mapping[str, Any]) -> str:
    user = data.get("user", data.get("value"))
    if not isinstance(user, str) or not user:
        raise CommandError("'user' is required")
    return user


def _checked_user(data: Mapping[str, Any]) -> str:
    user = normalise_user(_user_of(data))
    problem = user_problem(user)
    if problem is not None:
        raise CommandError(f"user: {problem}")
    return user


def _on_off(data: Mapping[str, Any]) -> bool:
    value = data.get("watch", data.get("value"))
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().upper() in ("ON", "OFF"):
        return value.strip().upper() == "ON"
    raise CommandError("expected ON or OFF")


# ---------------------------------------------------------------- router


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
            "goals/set": self._goals_set,
            "goals/reset": self._goals_reset,
            "leaderboard/reset": self._leaderboard_reset,
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
        try:
            data = parse_payload(payload)
        except CommandError as exc:
            self._refuse(command, str(exc), None)
            return
        await self._dispatch(command, data)

    async def _dispatch(self, command: str, data: Data) -> None:
        handler = self._requests.get(command)
        transaction: Any = None
        try:
            transaction = _transaction(data)
            if handler is None:
                raise CommandError(f"unknown command {command!r}")
            result = await handler(data)
        except CommandError as exc:
            self._refuse(command, str(exc), transaction)
            return
        except Exception as exc:  # a bug must still produce an answer, never kill the reader
            log.exception("request %s failed", command)
            self._respond(command, response("error", None, transaction, f"internal error: {exc}"))
            return
        self._respond(command, response("ok", result, transaction))

    def _refuse(self, command: str, error: str, transaction: Any) -> None:
        self.rejected += 1
        self._respond(command, response("error", None, transaction, error))

    def _respond(self, command: str, body: Data) -> None:
        try:
            topic = self.topics.response(command)
        except TopicError:
            # The request topic had levels we never build from (e.g. upper case): answer on
            # a fixed topic rather than echo them.
            topic = self.topics.response("invalid")
        self._publish(topic, body)

    async def _streamer_command(self, user: str, rest: str, payload: bytes) -> None:
        """``<user>/chat/send``, ``<user>/watch/set``, ``<user>/reconnect``,
        ``<user>/goals/set``, ``<user>/goals/reset``, ``<user>/leaderboard/reset``; answered
        like the equivalent request (chat/send, streamer/watch, streamer/reconnect, …)."""
        command = {"chat/send": "chat/send", "watch/set": "streamer/watch",
                   "reconnect": "streamer/reconnect", "goals/set": "goals/set",
                   "goals/reset": "goals/reset",
                   "leaderboard/reset": "leaderboard/reset"}.get(rest)  # fmt: skip
        if command is None:
            return  # our own published topics (state, live…) are not commands
        if command == "chat/send":
            data = self._chat_payload(payload)
        elif command == "streamer/watch":
            data = {"watch": payload.decode("utf-8", "replace")}
        elif command in ("goals/set", "goals/reset"):
            data = self._object_payload(command, payload)
        else:
            data = {}
        if data is not None:
            await self._dispatch(command, {**data, "user": user})

    def _object_payload(self, command: str, payload: bytes) -> Data | None:
        """A JSON object; a bare value is the request's one main field (goals/reset: goal)."""
        try:
            data = parse_payload(payload)
        except CommandError as exc:
            self._refuse(command, str(exc), None)
            return None
        if "value" in data and command == "goals/reset":
            data.setdefault("goal", data.pop("value"))
        data.pop("user", None)  # the topic names the streamer
        return data

    def _chat_payload(self, payload: bytes) -> Data | None:
        """Text, or ``{"message", "transaction"?}``; JSON that is not an object is refused."""
        try:
            data = parse_payload(payload)
        except _NotJson:
            return {"message": payload.decode("utf-8").strip()}  # "[laughs] hi" is text
        except CommandError as exc:
            self._refuse("chat/send", str(exc), None)
            return None
        if "value" in data and "message" not in data:
            data["message"] = data.pop("value")
        return data

    # ---------------------------------------------------------------- handlers

    async def _health_check(self, data: Data) -> Data:
        self.target.publish_health()
        return {"healthy": True, **self.target.health()}

    async def _streamer_remove(self, data: Data) -> Data:
        return await self.target.remove_streamer(_checked_user(data))

    async def _streamer_reconnect(self, data: Data) -> Data:
        return self.target.reconnect_streamer(_checked_user(data))

    async def _streamer_watch(self, data: Data) -> Data:
        return await self.target.set_watch(_checked_user(data), _on_off(data))

    async def _chat_send(self, data: Data) -> Data:
        if "user" not in data and "value" in data:
            data["user"] = data.pop("value")
        request, problems = parse(node_of(limits.ChatSendRequest), data)
        if problems:
            raise CommandError(problems_text(problems))
        return await self.target.send_chat(request.user, request.message)

    async def _goals_set(self, data: Data) -> Data:
        user = _checked_user(data)
        fields = {k: v for k, v in data.items() if k != "user"}
        if not fields or "value" in fields:  # a bare value names no goal
            raise CommandError(
                'expected the goals to set, e.g. {"likes": 10000, "diamonds": 500} (0 = none)'
            )
        goals, problems = parse(node_of(GoalSettings), fields)  # as the `goals:` key
        if problems:
            raise CommandError(problems_text(problems))
        return self.target.set_goals(user, {name: getattr(goals, name) for name in fields})

    async def _goals_reset(self, data: Data) -> Data:
        if "user" not in data and "value" in data:
            data["user"] = data.pop("value")
        request, problems = parse(node_of(limits.GoalsResetRequest), data)
        if problems:
            raise CommandError(problems_text(problems))
        return self.target.reset_goals(request.user, request.goal)

    async def _leaderboard_reset(self, data: Data) -> Data:
        return self.target.reset_leaderboard(_checked_user(data))

    async def _simulate(self, data: Data) -> Data:
        event_type = data.pop("type", None)
        user = _checked_user(data)
        data.pop("user", None)
        data.pop("value", None)
        cls = limits.SIMULATE_TYPES.get(event_type) if isinstance(event_type, str) else None
        if cls is None:
            kinds = ", ".join(limits.SIMULATE_TYPES)
            raise CommandError(f"type: must be one of {kinds}, got {event_type!r:.40}")
        fields, problems = parse(node_of(cls), data)
        if problems:
            raise CommandError(problems_text(problems))
        return self.target.simulate(user, event_type, fields)


# ---------------------------------------------------------------- streamer/add


def streamer_request(
    data: Mapping[str, Any], root: Mapping[str, Any]
) -> tuple[StreamerSettings, Data]:
    """Check a streamer/add request exactly like a `streamers:` entry of the file.

    root: the running configuration's document (the rules across keys read `tiktok:`).
    Returns the settings and the options to persist and echo (JSON-able, ids as text).
    """
    entry = dict(data)
    if "user" not in entry and "value" in entry:
        entry["user"] = entry.pop("value")
    _like_window_seconds(entry)
    settings, problems = parse(node_of(StreamerSettings), entry, root=root)
    if problems:
        raise CommandError(problems_text(problems))
    assert isinstance(settings, StreamerSettings)
    options = {k: v for k, v in entry.items() if k != "user"}
    if settings.room_id is not None:
        options["room_id"] = str(settings.room_id)  # 64-bit ids are text in JSON
    return settings, options


def _like_window_seconds(entry: Data) -> None:
    """`like_window_s` (seconds, the request's older spelling) is `like_window_ms`."""
    seconds = entry.get("like_window_s")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return  # not a number: the check reports it, with a hint
    if "like_window_ms" not in entry and abs(seconds) <= 10**6:
        entry["like_window_ms"] = round(seconds * 1000)
        del entry["like_window_s"]
