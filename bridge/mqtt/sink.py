"""The MQTT sink: one broker connection kept alive forever, fed by non-blocking calls.

Callers (TikTok readers, the core) never wait for the broker: `set_state`,
`clear_state` and `publish_event` only record what should be sent and wake the writer
task. A slow, paused or absent broker therefore costs bounded memory, never a stalled
TikTok session:

* retained state is coalesced per topic (latest wins) and re-published after every
  (re)connect, so it always converges, even when the broker lost its retained store;
* two bounded lanes of transient messages: events (TikTok events, bridge events, action
  publishes) and, second, responses to commands and log lines. Events always go first
  (responses get a turn at least every `_RESPONSE_TURN` events), and a flood of commands
  can only overflow the response lane, never cost an event;
* incoming messages are rate limited per topic (bridge.mqtt.limits) before anything else
  is done with them; the ones over the limit are dropped and counted;
* events wait in a bounded deque (overflow drops the oldest) and are dropped when older
  than `max_event_age_s` at the moment the broker came back: a gift that flashes the
  lights two minutes late is worse than a lost one, but one that was fresh when the
  broker returned is sent, however long the backlog takes to drain.

aiomqtt does not reconnect by itself; `run()` is the documented pattern (a fresh client
per attempt inside a loop) with exponential back-off and full jitter. While the broker's
port refuses connections the wait is cut short by a cheap TCP probe every
`PROBE_INTERVAL_S`: the bridge is back within about a second of the broker accepting
connections again, whatever the back-off had grown to, without hammering a broker that
is up but refuses or drops us (bad credentials, ACL, a stolen client id).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import inspect
import logging
import random
import socket
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from bridge.clock import SYSTEM_CLOCK, Clock
from bridge.mqtt import fastpath
from bridge.mqtt.limits import TopicRateLimiter
from bridge.mqtt.payloads import PayloadLike, to_bytes
from bridge.mqtt.topics import check_filter, check_topic
from bridge.service.tasks import first_completed, full_jitter
from bridge.settings.mqtt import MqttSettings

__all__ = ["MqttSink", "OnConnected", "OnMessage", "OnOversize", "SinkStats"]

log = logging.getLogger(__name__)

OnMessage = Callable[[str, bytes, bool], Awaitable[None] | None]
OnConnected = Callable[[], Awaitable[None] | None]
OnOversize = Callable[[str, int, bool], None]

_ONLINE = b"online"
# QoS 0 events handed to paho per writer turn, and the pause when paho could not send
# the previous run yet (a slow broker).
_QOS0_RUN = 64
_QOS0_BACKOFF_S = 0.005
# Incoming messages waiting for the reader; beyond this they are refused (and counted), so
# a flood of commands cannot grow memory without bound.
_MAX_INCOMING = 1000
# The response lane (command responses, log lines): bounded on its own, and served at
# least once every this many events while events are waiting.
_RESPONSE_BUFFER = 200
_RESPONSE_TURN = 64
_LOG_EVERY_S = 60.0  # rate-limit warnings
# While the broker's port refuses connections: how often to look whether it accepts again.
PROBE_INTERVAL_S = 0.5
_PROBE_TIMEOUT_S = 1.0


class _Failure(enum.Enum):
    """How a connection attempt or session ended; decides how soon to try again."""

    UNREACHABLE = "unreachable"  # nothing accepts on the port (broker down, no route)
    TIMEOUT = "timeout"  # TCP up, no CONNACK in time (a hung broker)
    REFUSED = "refused"  # the broker or TLS said no (credentials, ACL, certificate)
    LOST = "lost"  # a session that was up ended (broker gone, network, kicked off)
    STOPPED = "stopped"  # close() asked for it


@dataclass(slots=True)
class SinkStats:
    """Counters for bridge/health. `queued` is a gauge: events waiting to be sent now."""

    published: int = 0
    received: int = 0  # incoming messages, refused ones included
    queued: int = 0  # events
    dropped_stale: int = 0  # events
    dropped_overflow: int = 0  # events
    dropped_oversize: int = 0  # incoming messages over max_command_bytes
    # Incoming messages dropped unanswered: over the rate limit, or while the bridge had
    # _MAX_INCOMING of them still waiting to be handled.
    commands_refused: int = 0
    responses_queued: int = 0
    responses_dropped: int = 0  # the response lane overflowed, or a response went stale
    reconnects: int = 0
    connect_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class _Retained:
    payload: bytes
    qos: int


@dataclass(frozen=True, slots=True)
class _Event:
    topic: str
    payload: bytes
    qos: int
    enqueued: float  # the sink's clock (monotonic): immune to wall-clock jumps
    # False for messages whose loss is worse than their lateness (a light's "off").
    expires: bool = True


@dataclass(slots=True)
class _Collector:
    """An open collect_retained(): its filters and what it found."""

    filters: list[str]
    found: dict[str, bytes] = dataclasses.field(default_factory=dict)

    def wants(self, topic: str) -> bool:
        return any(mqtt.topic_matches_sub(f, topic) for f in self.filters)


class _Stop(Exception):
    """close() asked the session to end."""


def tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    """The TLS context for mqtts:// (None for mqtt://); files are read on every attempt."""
    if not settings.tls:
        return None
    context = ssl.create_default_context(cafile=settings.ca)  # ca None → system store
    if settings.cert:
        context.load_cert_chain(settings.cert, settings.key)
    if not settings.reject_unauthorized:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class MqttSink:
    """One MQTT connection with LWT, buffering, coalesced retained state and commands in.

    Use: create it, run `run()` as a task, call the sync methods from anywhere in the
    loop, and `await close()` on shutdown.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        will_topic: str,
        on_message: OnMessage | None = None,
        on_connected: OnConnected | None = None,
        on_oversize: OnOversize | None = None,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 60.0,
        healthy_after_s: float = 30.0,
        timeout_s: float = 10.0,
        rng: random.Random | None = None,
        limiter: TopicRateLimiter | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        # The buffer's ageing (enqueue stamps, when the broker was last unreachable, the
        # max_event_age_s check) runs on this clock; socket timeouts and the reconnect
        # back-off are I/O and stay on real time.
        self._clock = clock
        self.will_topic = check_topic(will_topic)
        self.stats = SinkStats()
        self.connected_event = asyncio.Event()
        self._on_message = on_message
        self._on_connected = on_connected
        self._on_oversize = on_oversize
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        # The back-off resets only after a connection stayed up this long: a broker that
        # accepts and then drops us (ACL, duplicate client id) must not cause a storm.
        self._healthy_after_s = healthy_after_s
        self._timeout_s = timeout_s
        self._rng = rng or random.Random()
        self._states: dict[str, _Retained] = {}
        # Ordered set of topics whose broker copy may be stale; a topic here but not in
        # _states is a pending clear (empty retained payload).
        self._dirty: dict[str, None] = {}
        self._events: deque[_Event] = deque()
        self._responses: deque[_Event] = deque()
        self._event_streak = 0  # events published since the last response
        self._limiter = limiter or TopicRateLimiter()
        self._refusal_logged = -_LOG_EVERY_S
        self._inbox_type = _inbox_for(self)
        self._collectors: list[_Collector] = []
        self._filters: dict[str, int] = {}
        self._sub_changes: dict[str, bool] = {}  # filter → subscribe (True) / unsubscribe
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = asyncio.Event()
        self._closing = False  # close() began: new publishes are ignored
        self._offline_acked = False  # close() published offline: a clean DISCONNECT is safe
        self._client: aiomqtt.Client | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._ever_connected = False
        # Events queued before the current session are judged by their age at `_back_at`:
        # the last moment the broker was seen unreachable before it came back.
        self._session_started = 0.0
        self._back_at = 0.0
        self._unreachable_at: float | None = None

    # -- public, non-blocking --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connected_event.is_set()

    async def wait_connected(self) -> None:
        await self.connected_event.wait()

    async def wait_idle(self) -> None:
        """Until everything queued so far was acknowledged by the broker (needs a connection)."""
        await self._idle.wait()

    def set_state(self, topic: str, payload: PayloadLike | None, *, qos: int = 1) -> None:
        """Retained state: latest per topic wins; re-sent after every reconnect."""
        if self._closing:
            return
        self._states[check_topic(topic)] = _Retained(to_bytes(payload), qos)
        self._mark_dirty(topic)

    def clear_state(self, topic: str) -> None:
        """Remove a retained topic from the broker (empty retained payload) and forget it."""
        if self._closing:
            return
        self._states.pop(check_topic(topic), None)
        if self.settings.retain:  # nothing is stored on the broker otherwise
            self._mark_dirty(topic)
        else:
            self._dirty.pop(topic, None)

    def forget(self, topic: str) -> None:
        """Stop keeping a retained topic, without publishing anything: the broker keeps its
        last value, and it is not re-sent after a reconnect (another instance now owns it,
        docs/cluster.md)."""
        self._states.pop(topic, None)
        self._dirty.pop(topic, None)

    def publish_event(
        self,
        topic: str,
        payload: PayloadLike | None,
        *,
        qos: int | None = None,
        expires: bool = True,
    ) -> None:
        """A transient, never retained message; buffered (bounded) while disconnected.

        ``expires=False`` exempts it from the max_event_age_s rule and from overflow while
        expiring messages remain (used for actions' "off" publishes: a late off is fine,
        a lost one leaves a light on).
        """
        if self._closing:
            return
        event = _Event(
            check_topic(topic),
            to_bytes(payload),
            self.settings.event_qos if qos is None else qos,
            self._clock.monotonic(),
            expires,
        )
        if len(self._events) >= max(self.settings.buffer_size, 1):
            self._drop_oldest_event()
        self._events.append(event)
        self._kick()

    def publish_response(self, topic: str, payload: PayloadLike | None, *, qos: int = 1) -> None:
        """A command response or log line: second lane, never at the cost of an event.

        Bounded (`_RESPONSE_BUFFER`, the oldest go first) and dropped when older than
        max_event_age_s; both counted in `responses_dropped`.
        """
        if self._closing:
            return
        if len(self._responses) >= _RESPONSE_BUFFER:
            self._responses.popleft()
            self.stats.responses_dropped += 1
        self._responses.append(
            _Event(check_topic(topic), to_bytes(payload), qos, self._clock.monotonic())
        )
        self._kick()

    def _drop_oldest_event(self) -> None:
        """Overflow: drop the oldest message that may expire (the least useful one)."""
        for index, queued in enumerate(self._events):
            if queued.expires:
                del self._events[index]
                break
        else:
            self._events.popleft()
        self.stats.dropped_overflow += 1

    def subscribe(self, topic_filter: str, *, qos: int = 1) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        if self._closing:
            return
        self._filters[check_filter(topic_filter)] = qos
        self._sub_changes[topic_filter] = True
        self._kick()

    def unsubscribe(self, topic_filter: str) -> None:
        if self._filters.pop(topic_filter, None) is not None:
            self._sub_changes[topic_filter] = False
            self._kick()

    async def collect_retained(self, filters: Iterable[str], duration_s: float) -> dict[str, bytes]:
        """Retained messages under `filters` (topic → payload), read for `duration_s` on
        this connection; messages on those filters are never commands meanwhile.

        On this connection, not a second one: a broker that binds client ids to users
        (mosquitto's use_username_as_clientid, docs/security.md) would have a second
        connection under our user kick this one off.
        """
        collector = _Collector([check_filter(f) for f in filters])
        self._collectors.append(collector)
        try:
            for topic_filter in collector.filters:
                self.subscribe(topic_filter)
            await asyncio.sleep(duration_s)
        finally:
            self._collectors.remove(collector)
            for topic_filter in collector.filters:
                if not any(topic_filter in c.filters for c in self._collectors):
                    self.unsubscribe(topic_filter)
        return collector.found

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and stay connected until close(); never raises for broker trouble."""
        if self._run_task is not None:
            raise RuntimeError("MqttSink.run() is already running")
        self._run_task = asyncio.current_task()
        try:
            await self._stay_connected()
        finally:
            self._run_task = None  # a supervisor may run it again after a crash

    async def _stay_connected(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            failure = await self._connect_once()
            if failure is _Failure.STOPPED or self._stopping.is_set():
                break
            self._unreachable_at = self._clock.monotonic()
            if time.monotonic() - started >= self._healthy_after_s:
                attempt = 0
            delay = full_jitter(
                attempt, base=self._reconnect_min_s, cap=self._reconnect_max_s, rng=self._rng
            )
            if failure is _Failure.TIMEOUT:
                # The attempt itself waited timeout_s; a hung broker that wakes up between
                # two attempts must not wait out a long back-off on top.
                delay = min(delay, self._reconnect_min_s)
            attempt += 1
            log.info("MQTT: reconnecting to %s in %.1f s", self.settings.server, delay)
            await self._pause(delay, failure)

    async def _pause(self, delay: float, failure: _Failure) -> None:
        """Wait `delay` or until close(); end early once a refusing port accepts again.

        Probing goes on only while the port refuses: a broker that is up but drops us
        (credentials, ACL, a stolen client id) gets the full back-off, not a probe storm.
        """
        deadline = time.monotonic() + delay
        closed = failure is _Failure.UNREACHABLE
        probing = failure in (_Failure.UNREACHABLE, _Failure.LOST)
        while (remaining := deadline - time.monotonic()) > 0:
            step = min(remaining, PROBE_INTERVAL_S) if probing else remaining
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), step)
                return
            if not probing:
                continue
            if not await self._port_accepts():
                closed = True
                self._unreachable_at = self._clock.monotonic()
            elif closed:
                log.info("MQTT: %s accepts connections again", self.settings.server)
                return
            else:
                probing = False  # it never stopped accepting: nothing to watch for

    async def _port_accepts(self) -> bool:
        """A bare TCP connect to the broker's port, closed at once (no MQTT, no TLS)."""
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT_S):
                _, writer = await asyncio.open_connection(self.settings.host, self.settings.port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def close(self, *, offline_payload: bytes = b"offline", timeout_s: float = 5.0) -> None:
        """Publish offline (retained, QoS 1), flush pending publishes, disconnect. Idempotent.

        `offline` goes first and its PUBACK is awaited (at most half of `timeout_s`), so
        however busy the queue is, a consumer never keeps seeing "online". If it is not
        acknowledged in time the connection is dropped without DISCONNECT: the broker then
        publishes the Will ("offline"). The queue gets the rest of `timeout_s` to drain.
        """
        if self._close_task is None:
            self._close_task = asyncio.create_task(self._close(offline_payload, timeout_s))
        await asyncio.shield(self._close_task)

    # -- internals: connection ------------------------------------------------------------

    def _new_client(self) -> aiomqtt.Client:
        s = self.settings
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.user,
            password=s.password,
            identifier=s.client_id,
            # A clean session: a persistent one would replay QoS 1 commands (chat/send!)
            # queued while the bridge was down; we re-subscribe on every connect anyway.
            clean_session=True,
            keepalive=s.keepalive,
            timeout=self._timeout_s,
            will=aiomqtt.Will(self.will_topic, b"offline", qos=1, retain=s.retain),
            tls_context=tls_context(s),
            max_queued_incoming_messages=_MAX_INCOMING,
            queue_type=self._inbox_type,
            logger=logging.getLogger("bridge.mqtt.paho"),
        )

    async def _connect_once(self) -> _Failure:
        """One connection attempt and, if it works, the whole session. Never raises."""
        try:
            client = self._new_client()
        except (OSError, ValueError) as exc:  # unreadable CA/cert/key: retry, files may appear
            self.stats.connect_failures += 1
            log.error("MQTT: TLS setup failed: %s", exc)
            return _Failure.REFUSED
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            failure = _failure_of(exc, tcp_up=client._client.socket() is not None)
            # A CONNACK timeout leaves paho's socket open and registered with the loop: a
            # hung broker would pile up descriptors and, once it wakes, late sessions
            # under our client id that kick out the real one.
            _drop_socket(client)
            self.stats.connect_failures += 1
            log.warning("MQTT: cannot connect to %s: %s", self.settings.server, exc)
            return failure
        if self._stopping.is_set():  # close() ran while we were connecting: never go online
            await self._leave(client)
            return _Failure.STOPPED
        try:
            await self._session(client)
        except aiomqtt.MqttError as exc:
            log.warning("MQTT: connection to %s lost: %s", self.settings.server, exc)
        except asyncio.CancelledError:
            # run() cancelled without close(): vanish without DISCONNECT so the broker
            # publishes the Will; a clean goodbye would leave "online" retained forever.
            self._set_disconnected()
            _drop_socket(client)
            raise
        self._set_disconnected()
        await self._leave(client)
        return _Failure.STOPPED if self._stopping.is_set() else _Failure.LOST

    async def _leave(self, client: aiomqtt.Client) -> None:
        """A clean DISCONNECT only once "offline" is retained; otherwise vanish, so the
        broker publishes the Will and nobody goes on believing we are online."""
        if self._stopping.is_set() and not self._offline_acked:
            _drop_socket(client)
        else:
            await self._disconnect(client)

    async def _disconnect(self, client: aiomqtt.Client) -> None:
        """Leave cleanly (no Will) when possible; otherwise drop the socket ourselves."""
        try:
            await client.__aexit__(None, None, None)
        except aiomqtt.MqttError:
            # A hung broker never acknowledges; aiomqtt keeps the socket registered with
            # the loop, so close it or every failed session would leak a descriptor.
            _drop_socket(client)

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.publish(self.will_topic, _ONLINE, qos=1, retain=self.settings.retain)
        for topic_filter, qos in list(self._filters.items()):
            await client.subscribe(topic_filter, qos=qos)
        self._sub_changes.clear()
        self._dirty.update(dict.fromkeys(self._states))
        self._set_connected(client)
        self._run_callback(self._on_connected, "on_connected")
        with contextlib.suppress(_Stop):  # close() asked for the end
            await first_completed(self._reader(client), self._writer(client), self._stop_waiter())

    async def _stop_waiter(self) -> None:
        await self._stopping.wait()
        raise _Stop

    def _set_connected(self, client: aiomqtt.Client) -> None:
        _set_nodelay(client)
        now = self._clock.monotonic()
        self._session_started = now
        self._back_at = now if self._unreachable_at is None else self._unreachable_at
        if self._ever_connected:
            self.stats.reconnects += 1
        self._ever_connected = True
        self._client = client
        self.connected_event.set()
        self._kick()
        log.info("MQTT: connected to %s", self.settings.server)

    def _set_disconnected(self) -> None:
        self._client = None
        self.connected_event.clear()

    # -- internals: writing ---------------------------------------------------------------

    def _mark_dirty(self, topic: str) -> None:
        self._dirty[topic] = None
        self._kick()

    def _kick(self) -> None:
        self._count_queued()
        self._idle.clear()
        self._wake.set()

    def _count_queued(self) -> None:
        self.stats.queued = len(self._events)
        self.stats.responses_queued = len(self._responses)

    def _has_work(self) -> bool:
        return bool(self._sub_changes or self._dirty or self._events or self._responses)

    async def _writer(self, client: aiomqtt.Client) -> None:
        """Subscriptions first, then retained state (must converge), then events, then
        responses (one at least every `_RESPONSE_TURN` events, so they never starve)."""
        while True:
            if not self._has_work():
                self._count_queued()
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._sub_changes:
                await self._apply_subscription(client)
            elif self._dirty:
                await self._publish_state(client, next(iter(self._dirty)))
            elif self._responses and (not self._events or self._event_streak >= _RESPONSE_TURN):
                await self._publish_next_response(client)
            else:
                await self._publish_next_event(client)

    async def _apply_subscription(self, client: aiomqtt.Client) -> None:
        topic_filter, add = next(iter(self._sub_changes.items()))
        if add:
            await client.subscribe(topic_filter, qos=self._filters.get(topic_filter, 1))
        else:
            await client.unsubscribe(topic_filter)
        # Only forget the change if nobody flipped it while we awaited the broker.
        if self._sub_changes.get(topic_filter) is add:
            del self._sub_changes[topic_filter]

    async def _publish_state(self, client: aiomqtt.Client, topic: str) -> None:
        entry = self._states.get(topic)
        retain = self.settings.retain
        if entry is None:  # a pending clear
            await client.publish(topic, b"", qos=1, retain=retain)
        else:
            await client.publish(topic, entry.payload, qos=entry.qos, retain=retain)
            self.stats.published += 1
        # A newer value that arrived while we awaited stays dirty and goes out next.
        if self._states.get(topic) is entry:
            self._dirty.pop(topic, None)

    def _stale(self, event: _Event, now: float) -> bool:
        """Older than max_event_age_s when it could be sent: for an event queued before
        this session, when the broker came back; otherwise now."""
        if not event.expires:
            return False
        at = now if event.enqueued >= self._session_started else self._back_at
        return at - event.enqueued > self.settings.max_event_age_s

    async def _publish_next_response(self, client: aiomqtt.Client) -> None:
        self._event_streak = 0
        response = self._responses[0]
        if not self._stale(response, self._clock.monotonic()):
            # Like a QoS 1 event: leave it queued until the broker took it.
            await client.publish(response.topic, response.payload, qos=response.qos)
            self.stats.published += 1
        else:
            self.stats.responses_dropped += 1
        if self._responses and self._responses[0] is response:
            self._responses.popleft()
        self._count_queued()

    async def _publish_next_event(self, client: aiomqtt.Client) -> None:
        event = self._events[0]
        if self._stale(event, self._clock.monotonic()):
            self._events.popleft()
            self.stats.dropped_stale += 1
            self.stats.queued = len(self._events)
            return
        if event.qos == 0:
            if client._client.want_write():
                # paho has not written the previous run yet: the broker is slow or hung.
                # Wait, and let the bounded queue above (overflow, staleness, counted)
                # take the pressure instead of paho's unbounded one.
                await asyncio.sleep(_QOS0_BACKOFF_S)
                return
            self._publish_qos0_run(client)
            # Yield so paho's socket writer, the reader and the TikTok sockets run.
            await asyncio.sleep(0)
            return
        # Leave it queued until the broker took it: a broken connection retries it.
        await client.publish(event.topic, event.payload, qos=event.qos, retain=False)
        self.stats.published += 1
        self._event_streak += 1
        if self._events and self._events[0] is event:  # not pushed out by overflow meanwhile
            self._events.popleft()
        self.stats.queued = len(self._events)

    def _publish_qos0_run(self, client: aiomqtt.Client) -> None:
        """Write up to ``_QOS0_RUN`` QoS 0 events with one socket write (bridge.mqtt.fastpath).

        QoS 0 has no acknowledgement to wait for, yet aiomqtt's ``publish`` awaits paho's
        "written" callback, and paho itself sends each packet on its own and builds MQTT 5
        reason-code and property objects for that callback: together most of the bridge's
        CPU per event (bench/RESULTS.md, cost). The run goes into paho's outgoing queue
        behind what is already there, so ordering with QoS 1 publishes is kept. Events
        leave the queue only once paho took the bytes; with no connection they stay
        queued for the next session.
        """
        paho = client._client
        now = self._clock.monotonic()
        events = self._events
        run: list[tuple[bytes, bytes]] = []
        taken = stale = 0
        for event in events:
            if taken == _QOS0_RUN or event.qos != 0:
                break
            taken += 1
            if self._stale(event, now):
                stale += 1
            else:
                run.append((event.topic.encode(), event.payload))
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        if run:
            rc = fastpath.write(paho, fastpath.pack_qos0(run, mqtt5=fastpath.is_mqtt5(paho)))
            if rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
                raise aiomqtt.MqttCodeError(rc, "Could not publish message")
        for _ in range(taken):
            events.popleft()
        self.stats.dropped_stale += stale
        self.stats.published += len(run)
        self._event_streak += len(run)
        self.stats.queued = len(events)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            # Handed to paho, then the socket broke (QoS 0: at most once, as before).
            raise aiomqtt.MqttCodeError(rc, "Connection lost while publishing")

    # -- internals: reading ---------------------------------------------------------------

    def _admit(self, message: aiomqtt.Message, inbox_full: bool) -> bool:
        """Called by paho's callback for every incoming message, before it is queued."""
        self.stats.received += 1
        topic = str(message.topic)
        if self._closing:
            return False  # shutting down: nothing could be answered any more
        collectors = [c for c in self._collectors if c.wants(topic)]
        if collectors:
            if message.retain:
                for collector in collectors:
                    collector.found[topic] = _payload_bytes(message.payload)
            return False
        if not self._limiter.allow(topic):
            self._refuse(topic, "over the rate limit")
            return False
        if inbox_full:
            self._refuse(topic, f"{_MAX_INCOMING} waiting already")
            return False
        return True

    async def _reader(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._dispatch(str(message.topic), _payload_bytes(message.payload), message.retain)

    def _dispatch(self, topic: str, payload: bytes, retain: bool) -> None:
        if self._closing:
            return
        if len(payload) > self.settings.max_command_bytes:
            self.stats.dropped_oversize += 1
            limit = self.settings.max_command_bytes
            log.warning(
                "MQTT: dropped %d-byte message on %s (limit %d)", len(payload), topic, limit
            )
            if self._on_oversize is not None:
                self._guard(self._on_oversize, "on_oversize", topic, len(payload), retain)
            return
        if self._on_message is not None:
            self._run_callback(self._on_message, "on_message", topic, payload, retain)

    def _refuse(self, topic: str, why: str) -> None:
        self.stats.commands_refused += 1
        now = time.monotonic()
        if now - self._refusal_logged >= _LOG_EVERY_S:  # a flood must not flood the log
            self._refusal_logged = now
            log.warning(
                "MQTT: too many commands: one on %r dropped unanswered (%s); %d so far "
                "(bridge/health mqtt.commands_refused)",
                topic,
                why,
                self.stats.commands_refused,
            )

    def _guard(self, callback: Callable[..., Any], name: str, *args: Any) -> Any:
        """Call a user callback; its bugs are logged, never allowed to kill the connection."""
        try:
            return callback(*args)
        except Exception:
            log.exception("MQTT: %s callback failed", name)
            return None

    def _run_callback(self, callback: Callable[..., Any] | None, name: str, *args: Any) -> None:
        """Sync callbacks run inline; coroutines run as tasks so reading never waits."""
        if callback is None:
            return
        result = self._guard(callback, name, *args)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._await_callback(result, name))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)

    async def _await_callback(self, awaitable: Awaitable[Any], name: str) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("MQTT: %s callback failed", name)

    # -- internals: shutdown --------------------------------------------------------------

    async def _close(self, offline_payload: bytes, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        self._closing = True
        client = self._client
        if client is not None and self.connected:
            try:
                async with asyncio.timeout(timeout_s / 2):
                    await client.publish(
                        self.will_topic, offline_payload, qos=1, retain=self.settings.retain
                    )
                self._offline_acked = True
            except (TimeoutError, aiomqtt.MqttError) as exc:
                log.warning(
                    "MQTT: offline not acknowledged on close (%s): leaving without DISCONNECT, "
                    "the broker publishes the Will",
                    exc or "timeout",
                )
        if self._offline_acked:
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                    await self._idle.wait()  # the core's last states (availability offline…)
            except TimeoutError:
                log.warning(
                    "MQTT: closing with %d event(s) and %d response(s) unsent",
                    len(self._events),
                    len(self._responses),
                )
        self._stopping.set()
        await self._finish_run_task(max(deadline - time.monotonic(), 0.5))
        await self._cancel_callbacks()

    async def _finish_run_task(self, timeout_s: float) -> None:
        task = self._run_task
        if task is None or task.done() or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _cancel_callbacks(self) -> None:
        for task in list(self._callback_tasks):
            task.cancel()
        if self._callback_tasks:
            await asyncio.gather(*self._callback_tasks, return_exceptions=True)


def _set_nodelay(client: aiomqtt.Client) -> None:
    """Turn off Nagle's algorithm: every event is a small packet, and Nagle holds each one
    until the previous is acknowledged (tens of ms with delayed ACKs; bench/RESULTS.md)."""
    with contextlib.suppress(Exception):  # TLS/odd sockets: latency only, never fatal
        sock = client._client.socket()
        if isinstance(sock, socket.socket):  # ssl.SSLSocket is one too
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _inbox_for(sink: MqttSink) -> type[asyncio.Queue[aiomqtt.Message]]:
    """aiomqtt's incoming queue class (its `queue_type`), with the sink's admission: the
    rate limit applies before a message takes memory, and a full queue is counted instead
    of logged once per discarded message."""

    class Inbox(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            if sink._admit(item, self.full()):
                super().put_nowait(item)

    return Inbox


def _failure_of(exc: aiomqtt.MqttError, *, tcp_up: bool) -> _Failure:
    """Classify a failed connect (aiomqtt keeps the OSError of paho's connect as context)."""
    if isinstance(exc, aiomqtt.MqttCodeError):
        return _Failure.REFUSED  # a CONNACK with an error code
    if isinstance(exc.__cause__ or exc.__context__, ssl.SSLError | ssl.CertificateError):
        return _Failure.REFUSED  # the port answers; its certificate (or ours) is the problem
    # No socket: the TCP connect itself failed (refused, no route, DNS, timeout).
    return _Failure.TIMEOUT if tcp_up else _Failure.UNREACHABLE


def _drop_socket(client: aiomqtt.Client) -> None:
    """Close the socket without an MQTT DISCONNECT (the broker then sends the Will)."""
    with contextlib.suppress(Exception):
        client._client._sock_close()


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode("utf-8")
