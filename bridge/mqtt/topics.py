"""Every MQTT topic the bridge uses, built in one place, plus the last guard before publishing.

Topic levels come from configuration only (base topic, streamer names, the fixed topic of an
event class) and never from live data: a nickname such as ``a/+/#`` must not be able to
publish into another subtree or dodge a broker ACL (docs/security.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bridge.settings.names import BRIDGE_LEVEL, is_user, user_problem

__all__ = [
    "BRIDGE_LEVEL",
    "StreamerTopics",
    "TopicError",
    "Topics",
    "check_filter",
    "check_name",
    "check_topic",
]

# MQTT caps topic names at 65535 bytes of UTF-8 (spec §1.5.3).
MAX_TOPIC_BYTES = 65535
# Conservative identifier for topic levels we build (event topics, commands).
_NAME = re.compile(r"[a-z0-9._-]{1,64}")


class TopicError(ValueError):
    """A topic, filter or topic level that must not be used."""


def _check_common(text: str, what: str) -> list[str]:
    if not text:
        raise TopicError(f"empty {what}")
    if "\0" in text:
        raise TopicError(f"{what} contains NUL: {text!r}")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates cannot go on the wire
        raise TopicError(f"{what} is not valid UTF-8: {text!r}") from exc
    if size > MAX_TOPIC_BYTES:
        raise TopicError(f"{what} longer than {MAX_TOPIC_BYTES} bytes")
    levels = text.split("/")
    if "" in levels:
        # Covers leading/trailing slashes and "a//b": legal MQTT, but never what we mean.
        raise TopicError(f"{what} has an empty level: {text!r}")
    return levels


def check_topic(topic: str) -> str:
    """Return `topic` if it is safe to publish to, else raise TopicError.

    Refuses wildcards, NUL, empty levels (and so leading/trailing slashes), a leading `$`
    (broker-reserved, e.g. `$SYS`) and topics over 65535 bytes.
    """
    _check_common(topic, "topic")
    if "+" in topic or "#" in topic:
        raise TopicError(f"wildcard in topic: {topic!r}")
    if topic.startswith("$"):
        raise TopicError(f"topic starts with '$' (reserved for the broker): {topic!r}")
    return topic


def check_filter(topic_filter: str) -> str:
    """Return `topic_filter` if it is a valid subscription filter, else raise TopicError."""
    levels = _check_common(topic_filter, "topic filter")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise TopicError(f"'#' must be a whole, last level: {topic_filter!r}")
        if "+" in level and level != "+":
            raise TopicError(f"'+' must be a whole level: {topic_filter!r}")
    return topic_filter


def check_name(name: str, what: str = "name") -> str:
    """Return `name` if it is a safe single topic level ([a-z0-9._-]{1,64}), else raise.

    Only dots is refused too: "." and ".." look like path traversal to file-based tools.
    """
    if not _NAME.fullmatch(name) or not name.strip("."):
        raise TopicError(f"invalid {what} {name!r}: expected [a-z0-9._-]{{1,64}}")
    return name


def _check_path(path: str, what: str) -> str:
    """A relative topic path of one or more validated levels (e.g. ``streamer/add``)."""
    for level in path.split("/"):
        check_name(level, what)
    return path


@dataclass(frozen=True, slots=True)
class StreamerTopics:
    """Topics of one watched streamer: ``<base>/<user>/...``."""

    root: str  # "<base>/<user>"
    user: str
    # Event topic → full topic, checked once: event() runs for every published event.
    _events: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _sub(self, path: str) -> str:
        return f"{self.root}/{path}"

    # -- published by the bridge -----------------------------------------------------------
    @property
    def availability(self) -> str:  # retained online|offline: can the bridge watch it
        return self._sub("availability")

    @property
    def live(self) -> str:  # retained ON|OFF
        return self._sub("live")

    @property
    def viewers(self) -> str:
        return self._sub("viewers")

    @property
    def state(self) -> str:  # retained JSON snapshot
        return self._sub("state")

    @property
    def watch_state(self) -> str:
        return self._sub("watch/state")

    @property
    def gift_progress(self) -> str:
        return self.event("gift/progress")

    @property
    def goals(self) -> str:  # retained JSON: progress of the stream goals
        return self._sub("goals")

    @property
    def goal_event(self) -> str:  # a goal was reached (not retained)
        return self.event("goal")

    @property
    def leaderboard(self) -> str:  # retained JSON: top gifters of the stream
        return self._sub("leaderboard")

    def event(self, event_topic: str) -> str:
        """``<base>/<user>/<event-topic>``; `event_topic` is an Event class's fixed topic."""
        topic = self._events.get(event_topic)
        if topic is None:
            topic = self._sub(_check_path(event_topic, "event topic"))
            self._events[event_topic] = topic
        return topic

    @property
    def retained(self) -> tuple[str, ...]:
        """Every retained topic the bridge publishes for this streamer."""
        return (
            self.availability,
            self.live,
            self.viewers,
            self.state,
            self.watch_state,
            self.goals,
            self.leaderboard,
        )

    # -- commands the bridge subscribes to -------------------------------------------------
    @property
    def watch_set(self) -> str:
        return self._sub("watch/set")

    @property
    def chat_send(self) -> str:
        return self._sub("chat/send")

    @property
    def reconnect(self) -> str:
        return self._sub("reconnect")

    @property
    def goals_set(self) -> str:
        return self._sub("goals/set")

    @property
    def goals_reset(self) -> str:
        return self._sub("goals/reset")

    @property
    def leaderboard_reset(self) -> str:
        return self._sub("leaderboard/reset")

    @property
    def commands(self) -> tuple[str, ...]:
        return (
            self.watch_set,
            self.chat_send,
            self.reconnect,
            self.goals_set,
            self.goals_reset,
            self.leaderboard_reset,
        )


class Topics:
    """Builds every topic from the configured base topic; the only place topics are joined."""

    def __init__(self, base_topic: str, *, instance: str | None = None) -> None:
        for level in check_topic(base_topic).split("/"):
            # Levels of the base topic are free-form config, but must not be wildcards/NUL
            # (check_topic) nor look like path tricks.
            if not level.strip("."):
                raise TopicError(f"invalid base topic {base_topic!r}")
        self.base = base_topic
        # In a cluster (docs/cluster.md) each instance has its own state (and Will), info
        # and health under <base>/bridge/<instance>/; requests, events and logs stay shared.
        self.instance = check_name(instance, "instance") if instance is not None else None

    def _bridge(self, path: str) -> str:
        return f"{self.base}/{BRIDGE_LEVEL}/{path}"

    def _own(self, path: str) -> str:
        return self._bridge(f"{self.instance}/{path}" if self.instance else path)

    # -- bridge area -----------------------------------------------------------------------
    @property
    def bridge_state(self) -> str:  # retained online|offline, also the MQTT Will
        return self._own("state")

    @property
    def cluster_view(self) -> str:  # retained: members, streamers per member, last handover
        return self._bridge("cluster")

    @property
    def bridge_info(self) -> str:
        return self._own("info")

    @property
    def bridge_health(self) -> str:
        return self._own("health")

    @property
    def bridge_event(self) -> str:
        return self._bridge("event")

    @property
    def bridge_logging(self) -> str:
        return self._bridge("logging")

    def request(self, command: str) -> str:
        return self._bridge(f"request/{_check_path(command, 'command')}")

    def response(self, command: str) -> str:
        return self._bridge(f"response/{_check_path(command, 'command')}")

    @property
    def request_filter(self) -> str:
        return self._bridge("request/#")

    def command_of_request(self, topic: str) -> str | None:
        """``<base>/bridge/request/streamer/add`` → ``streamer/add``; None if not a request."""
        prefix = self._bridge("request/")
        if not topic.startswith(prefix) or len(topic) == len(prefix):
            return None
        return topic[len(prefix) :]

    # -- streamers -------------------------------------------------------------------------
    def streamer(self, user: str) -> StreamerTopics:
        problem = user_problem(user)  # the rules of bridge.settings.names, reserved names too
        if problem is not None:
            raise TopicError(f"streamer name {user!r:.80} {problem}")
        return StreamerTopics(root=f"{self.base}/{user}", user=user)

    def streamer_of(self, topic: str) -> tuple[str, str] | None:
        """Split ``<base>/<user>/<rest>`` into (user, rest); None for other topics."""
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        user, _, rest = topic[len(prefix) :].partition("/")
        if not rest or not is_user(user):
            return None
        return user, rest
