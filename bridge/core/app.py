"""The Bridge: wires the MQTT sink, the TikTok client and one supervisor per streamer.

It owns the processes' long-lived objects and the bridge-level topics (info, health, event,
logging); per-streamer topics belong to each StreamerPublisher. Everything TikTok-side keeps
running while the broker is away: the sink coalesces retained state and buffers events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import platform
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge import __version__
from bridge.actions.engine import ActionEngine
from bridge.actions.match import StreamMark
from bridge.clock import SYSTEM_CLOCK, Clock
from bridge.config.model import ROOT, Config
from bridge.core import simulate as sim
from bridge.core.chat import ChatGate, ChatRefused
from bridge.core.commands import CommandError, CommandRouter, Data, streamer_request
from bridge.core.goals import StreamGoals
from bridge.core.persist import RuntimeStore
from bridge.core.publish import StreamerPublisher
from bridge.core.state import iso_utc
from bridge.core.streamer import Lease, StreamerSupervisor
from bridge.mqtt.discovery import DiscoveryPublisher
from bridge.mqtt.sink import MqttSink
from bridge.mqtt.topics import Topics
from bridge.ratelimit import TokenBucket
from bridge.service.health import HealthFile, HealthStatus
from bridge.service.tasks import Supervisor
from bridge.settings import commands as limits
from bridge.settings.declare import restart_changes
from bridge.settings.streamer import GOALS, StreamerSettings
from bridge.tiktok.budget import CallBudget
from bridge.tiktok.client import TikTokClient
from bridge.tiktok.errors import TikTokError, describe
from bridge.tiktok.frames import protobuf_runtime

if TYPE_CHECKING:
    from bridge.core.cluster import ClusterGlue

log = logging.getLogger(__name__)

# Version of the public MQTT API (docs/mqtt-api.md); bumped on breaking changes only.
API_VERSION = 1


@dataclass(slots=True)
class _Watched:
    supervisor: StreamerSupervisor
    publisher: StreamerPublisher
    chat: ChatGate
    runtime: bool  # added over MQTT (persisted in the state dir), not from the config file


class Bridge:
    def __init__(
        self,
        config: Config,
        *,
        redact: Callable[[str], str] = lambda text: text,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.clock = clock  # supervision, back-off, the call budget (tests move it)
        cluster = config.cluster
        # In a cluster (bridge/core/cluster.py) the instance has topics and a client id of
        # its own; without `cluster:` everything is exactly as on a single instance.
        self.topics = Topics(config.mqtt.base_topic, instance=cluster.instance if cluster else None)
        self.budget = CallBudget(config.supervisor.calls_per_minute, clock=clock)
        self.cluster: ClusterGlue | None = None
        mqtt = config.mqtt
        if cluster is not None:
            # Imported here: it needs the `cluster` extra (redis), a single instance does not.
            try:
                from bridge.core.cluster import ClusterGlue, SignBudget
            except ImportError as exc:
                raise RuntimeError(
                    f"cluster: needs the Redis client ({exc}): pip install 'tiktok2mqtt[cluster]'"
                ) from None

            self.budget = SignBudget(config.supervisor.calls_per_minute, clock=clock)
            self.cluster = ClusterGlue(self, cluster, self.budget)
            mqtt = dataclasses.replace(mqtt, client_id=f"{mqtt.client_id}-{cluster.instance}")
        self.client = TikTokClient(config.tiktok, budget=self.budget)
        self.store = RuntimeStore(config.service.state_dir)
        self.router = CommandRouter(self.topics, self._respond, self)
        self.sink = MqttSink(
            mqtt,
            will_topic=self.topics.bridge_state,
            on_message=self._on_message,
            on_connected=self._on_connected,
            on_oversize=self.router.on_oversize,
            clock=clock,
        )
        # Home Assistant discovery (None when homeassistant.enabled is false).
        self.discovery: DiscoveryPublisher | None = None
        if config.homeassistant.enabled:
            self.discovery = DiscoveryPublisher(
                self.sink,
                self.topics,
                config.homeassistant,
                version=__version__,
                # In a cluster a device moves between instances: no instance may clear
                # another's configs as stale.
                scan_stale=cluster is None,
                republish=self.republish_states,
            )
        # Direct actions: rules → device publishes (docs/actions.md); None without rules.
        self.actions = _action_engine(config, self.sink, clock)
        # Keys that a reload changed but only a restart applies (declared per key), compared
        # with the configuration the process started with: reverting a change clears it.
        self._started_with = config
        self.restart_keys: list[str] = []
        self._adds = TokenBucket(limits.STREAMER_ADD_INTERVAL_S, limits.STREAMER_ADD_BURST)
        self._redact = redact
        self._started = time.monotonic()
        self._watched: dict[str, _Watched] = {}
        # Every long-running task is supervised: a crash is logged, reported and restarted
        # with back-off instead of ending silently (the streamers' restarts use their
        # back-off settings; the bridge's own loops the defaults).
        sup = config.supervisor
        self._streamers = Supervisor(
            clock=clock,
            backoff_initial_s=sup.backoff_initial_s,
            backoff_max_s=sup.backoff_max_s,
            healthy_after_s=sup.healthy_after_s,
        )
        self._services = Supervisor(clock=clock)

    # ---------------------------------------------------------------- life cycle

    async def run(self, shutdown: asyncio.Event) -> None:
        """Run until ``shutdown`` is set, then stop cleanly (offline published, sockets closed)."""
        if self.cluster is not None:
            self.sink.subscribe(self.cluster.request_filter(self.topics))
        else:
            self.sink.subscribe(self.topics.request_filter)
        if self.actions is not None:
            self.actions.start()  # kill-switch state + its subscription
        if self.discovery is not None:
            self.discovery.start()  # bridge device + HA birth subscription; streamers in _add
        if self.cluster is not None:
            await self.cluster.start()  # streamers start as their leases are acquired
        else:
            self._start_streamers()
        self._publish_info()
        self._services.start("mqtt-sink", self.sink.run)
        self._services.start("health", self._health_loop)
        if self.cluster is not None:
            self._services.start("cluster-view", self.cluster.run_view)
        health_file = self._health_file()
        if health_file is not None:
            self._services.start("health-file", health_file.run)
        try:
            await shutdown.wait()
        finally:
            await self._stop()

    async def _stop(self) -> None:
        if self.cluster is not None:
            await self._services.stop("cluster-view")
            await self.cluster.close()  # SIGTERM: every lease handed over at once
        watched = list(self._watched.values())
        await asyncio.gather(*(self._stop_one(w) for w in watched), return_exceptions=True)
        for w in watched:
            w.publisher.stopped()
        if self.actions is not None:
            await self.actions.close()  # pending "off" publishes reach the sink before it closes
        if self.discovery is not None:
            await self.discovery.close()
        await self.sink.close()
        await self._services.close()
        await self.client.aclose()
        with contextlib.suppress(Exception):
            health_file = self._health_file()
            if health_file is not None:
                health_file.mark_stopped()

    def _health_file(self) -> HealthFile | None:
        service = self.config.service
        if not service.health_file:
            return None
        return HealthFile(
            service.health_file, interval_s=service.health_interval_s, status=self._health_status
        )

    def _start_streamers(self) -> None:
        stagger = self.config.supervisor.cold_start_stagger_s
        for index, settings in enumerate(self._wanted_streamers()):
            runtime = self.config.streamer(settings.user) is None
            self._add(settings, runtime=runtime, start_delay_s=index * stagger)

    def _wanted_streamers(self) -> list[StreamerSettings]:
        wanted = list(self.config.streamers)
        configured = {s.user for s in wanted}
        limit = self.config.service.max_streamers
        for user, options in self.store.streamers.items():
            if user in configured:
                continue
            if len(wanted) >= limit:
                log.warning("not starting stored streamer %s: service.max_streamers is %d",
                            user, limit)  # fmt: skip
                continue
            try:
                settings, _ = streamer_request({**options, "user": user}, self.config.document)
            except CommandError as exc:  # checked like a request: the rules may have changed
                log.warning("ignoring stored runtime streamer %s: %s", user, exc)
                continue
            wanted.append(settings)
        return wanted

    # ---------------------------------------------------------------- streamers

    def _add(
        self,
        settings: StreamerSettings,
        *,
        runtime: bool,
        start_delay_s: float = 0,
        lease: Lease | None = None,
    ) -> None:
        user = settings.user
        topics = self.topics.streamer(user)
        targets = self.store.goal_targets(user, settings.goals.targets())
        publisher = StreamerPublisher(
            self.sink,
            topics,
            settings,
            bridge_event=self.bridge_event,
            on_event=self.actions.handle if self.actions is not None else None,
            goals=StreamGoals(targets, resume=self.store.goal_progress(user)),
            on_goals=lambda snapshot: self.store.set_goal_progress(user, snapshot),
            clock=self.clock.monotonic,  # the state JSON's throttle, on the ticks' clock
        )
        watching = self.store.watch(settings.user, settings.watch)
        supervisor = StreamerSupervisor(
            settings,
            self.config.supervisor,
            self.client,
            publisher,
            watching=watching,
            start_delay_s=start_delay_s,
            on_rate_limited=self.budget.block_until,
            clock=self.clock,
            lease=lease,
        )
        entry = _Watched(supervisor, publisher, ChatGate(settings.chat_send), runtime)
        self._watched[settings.user] = entry
        publisher.announce(watching=watching)
        if self.discovery is not None:
            self.discovery.announce_streamer(settings)
        for topic in topics.commands:
            self.sink.subscribe(topic)
        self._streamers.start(
            _task_name(user),
            supervisor.run,
            on_crash=lambda _name, exc, delay: self._streamer_crashed(user, exc, delay),
        )

    def _streamer_crashed(self, user: str, exc: BaseException, delay: float) -> None:
        """A streamer's supervisor raised (a bug): say so on its state and bridge/event; the
        task supervisor restarts it after ``delay``. The exception's text stays in the log
        (it may quote anything); the payloads carry its type only."""
        entry = self._watched.get(user)
        if entry is None:
            return
        reason = f"crashed, restarting: {describe(exc)}"
        self.bridge_event(
            "streamer_crashed",
            {"streamer": user, "reason": reason, "restart_in_s": round(delay, 1)},
        )
        entry.publisher.set_status("error", reason=reason, retry_in=delay)

    @property
    def alive(self) -> bool:
        """Every supervised task runs or waits for its restart: the systemd watchdog pings
        only while this holds. In a cluster, the node's own loops too (heartbeat, renewal)."""
        cluster = self.cluster is None or self.cluster.node.alive
        return self._streamers.alive and self._services.alive and cluster

    def crashes(self, user: str) -> int:
        """How often ``user``'s supervisor crashed and was restarted."""
        return self._streamers.crashes(_task_name(user))

    async def _remove(self, user: str) -> None:
        entry = self._watched.pop(user)
        for topic in entry.publisher.topics.commands:
            self.sink.unsubscribe(topic)
        await self._stop_one(entry)
        # Retained topics stay (a dashboard keeps the last values); availability says offline.
        entry.publisher.stopped()
        if self.discovery is not None:
            self.discovery.remove_streamer(user)  # its HA device goes away

    async def _stop_one(self, entry: _Watched) -> None:
        await self._streamers.stop(_task_name(entry.supervisor.user))

    def _entry(self, user: str) -> _Watched:
        entry = self._watched.get(user)
        if entry is None:
            owner = self.cluster.owner_of(user) if self.cluster is not None else None
            if owner is not None:  # a request reached an instance that does not watch it
                raise CommandError(
                    f"streamer {user!r} is watched by instance {owner!r}; "
                    f"use its own topics (<base_topic>/{user}/...)"
                )
            raise CommandError(f"unknown streamer {user!r}")
        return entry

    @property
    def streamers(self) -> list[str]:
        return list(self._watched)

    def supervisor(self, user: str) -> StreamerSupervisor:
        return self._entry(user).supervisor

    # ---------------------------------------------------------------- reload (SIGHUP)

    async def reload(self, new: Config) -> None:
        """Apply a new configuration: streamers added/removed/updated, others untouched.

        Keys declared as needing a restart are listed in bridge/info (restart_required).
        """
        self.config = new
        if self.cluster is not None:
            await self._reload_cluster(new)
            return
        self._note_restart_keys(new)
        wanted = {s.user: s for s in new.streamers}
        # Runtime-added streamers are not in the file and survive a reload.
        gone = [u for u, e in self._watched.items() if u not in wanted and not e.runtime]
        for user in gone:
            await self._remove(user)
            self.bridge_event("streamer_removed", {"streamer": user, "reason": "reload"})
        for user, settings in wanted.items():
            self._apply_streamer(user, settings)
        self._publish_info()
        log.info("configuration reloaded: %d streamer(s)", len(self._watched))

    def _note_restart_keys(self, new: Config) -> None:
        """Keys whose new values wait for a restart: kept for bridge/info, and logged."""
        self.restart_keys = list(restart_changes(ROOT, self._started_with, new))
        if self.restart_keys:
            keys = ", ".join(self.restart_keys)
            log.warning("reload: %s changed; applied after a restart", keys)

    def _apply_streamer(self, user: str, settings: StreamerSettings) -> None:
        entry = self._watched.get(user)
        if entry is None:
            self._add(settings, runtime=False)
            self.bridge_event("streamer_added", {"streamer": user, "reason": "reload"})
        elif entry.supervisor.settings != settings:
            # Same streamer, new options: applied in place, the connection is kept.
            entry.runtime = False
            entry.supervisor.update_settings(settings)
            entry.chat = ChatGate(settings.chat_send)
            entry.publisher.set_goals(self.store.goal_targets(user, settings.goals.targets()))
            entry.publisher.resize_leaderboard(settings.leaderboard_size)
            if self.discovery is not None:
                self.discovery.announce_streamer(settings)  # name, tiers, chat_send may differ

    # ---------------------------------------------------------------- cluster (Host)

    def start_streamer(self, settings: StreamerSettings, *, runtime: bool, lease: Lease) -> None:
        """This instance now holds the streamer's lease (bridge/core/cluster.py)."""
        if settings.user not in self._watched:
            self._add(settings, runtime=runtime, lease=lease)
            self._publish_info()

    async def stop_streamer(self, user: str, *, removed: bool) -> None:
        """The lease ended (moved, lost, shut down) or the streamer left the shared list."""
        entry = self._watched.pop(user, None)
        if entry is None:
            return
        for topic in entry.publisher.topics.commands:
            self.sink.unsubscribe(topic)
        await self._stop_one(entry)
        if removed:  # gone from the list: retained state says so, its HA device goes away
            entry.publisher.stopped()
            if self.discovery is not None:
                self.discovery.remove_streamer(user)
            self.bridge_event("streamer_removed", {"streamer": user, "reason": "request"})
        else:  # moved: the new owner publishes it now; never re-send ours after a reconnect
            for topic in entry.publisher.topics.retained:
                self.sink.forget(topic)
            if self.discovery is not None:
                self.discovery.forget_streamer(user)
        self._publish_info()

    async def stop_streamers(self) -> None:
        watched = list(self._watched.values())
        self._watched.clear()
        await asyncio.gather(*(self._stop_one(w) for w in watched), return_exceptions=True)

    def apply_watch(self, user: str, on: bool) -> None:
        entry = self._watched.get(user)
        if entry is not None and entry.supervisor.watching != on:
            entry.supervisor.set_watching(on)
            entry.publisher.set_watch(on)

    def publish_view(self, view: Mapping[str, Any]) -> None:
        self.sink.set_state(self.topics.cluster_view, dict(view))

    async def _cluster_add(self, data: Mapping[str, Any]) -> Data:
        assert self.cluster is not None
        wait = self._adds.take()
        if wait > 0:
            raise CommandError(f"too many streamer/add requests, retry in {wait:.1f} s")
        result = await self.cluster.add(data)
        self.bridge_event("streamer_added", {"streamer": result["user"], "reason": "request"})
        return result

    async def _reload_cluster(self, new: Config) -> None:
        assert self.cluster is not None
        self._note_restart_keys(new)
        try:
            await self.cluster.reload(new)
        except CommandError as exc:
            log.warning("reload: shared streamer list not updated: %s", exc)
        for user, settings in {s.user: s for s in new.streamers}.items():
            if user in self._watched:  # owned here: new options apply in place
                self._apply_streamer(user, settings)
        self._publish_info()
        log.info("configuration reloaded (cluster): %d streamer(s) here", len(self._watched))

    # ---------------------------------------------------------------- MQTT hooks (sink)

    def _on_message(self, topic: str, payload: bytes, retain: bool) -> Awaitable[None] | None:
        # Home Assistant's birth/will topic is not a command (and may be retained).
        if self.discovery is not None and self.discovery.handles(topic):
            self.discovery.on_ha_status(payload)
            return None
        if self.actions is not None and self.actions.on_message(topic, payload, retain):
            return None  # the actions kill switch
        return self.router.on_message(topic, payload, retain)

    def _on_connected(self) -> None:
        if self.discovery is not None:
            self.discovery.on_connected()

    def republish_states(self) -> None:
        """Send every current retained state again (after Home Assistant restarted)."""
        for entry in self._watched.values():
            entry.publisher.announce(watching=entry.supervisor.watching)
        self._publish_info()

    # ---------------------------------------------------------------- commands (router)

    async def add_streamer(self, data: Mapping[str, Any]) -> Data:
        if self.cluster is not None:
            return await self._cluster_add(data)
        settings, options = streamer_request(data, self.config.document)
        user = settings.user
        if user in self._watched:
            raise CommandError(f"streamer {user!r} is already watched")
        limit = self.config.service.max_streamers
        if len(self._watched) >= limit:
            raise CommandError(f"already watching {limit} streamers (service.max_streamers)")
        wait = self._adds.take()
        if wait > 0:
            raise CommandError(f"too many streamer/add requests, retry in {wait:.1f} s")
        self._add(settings, runtime=True)
        self.store.add_streamer(user, options)
        self.bridge_event("streamer_added", {"streamer": user, "reason": "request"})
        self._publish_info()
        return {"user": user, "persistent": self.store.path is not None, **options}

    async def remove_streamer(self, user: str) -> Data:
        if self.cluster is not None:
            return await self.cluster.remove(user)
        runtime = self._entry(user).runtime
        await self._remove(user)
        self.store.remove_streamer(user)
        self.bridge_event("streamer_removed", {"streamer": user, "reason": "request"})
        self._publish_info()
        # A configured streamer comes back with the next restart or reload of the file.
        return {"user": user, "until_restart": not runtime}

    def reconnect_streamer(self, user: str) -> Data:
        self._entry(user).supervisor.reconnect()
        return {"user": user}

    async def set_watch(self, user: str, on: bool) -> Data:
        if self.cluster is not None:
            return await self.cluster.set_watch(user, on)
        entry = self._entry(user)
        entry.supervisor.set_watching(on)
        entry.publisher.set_watch(on)
        self.store.set_watch(user, on)
        return {"user": user, "watch": "ON" if on else "OFF"}

    async def send_chat(self, user: str, text: str) -> Data:
        entry = self._entry(user)
        try:
            clean = entry.chat.prepare(text, entry.supervisor.live_room_id)
        except ChatRefused as exc:
            raise CommandError(str(exc)) from None
        room_id = entry.supervisor.live_room_id
        assert room_id is not None  # prepare() refuses when not live
        try:
            await self.client.send_chat(room_id, clean)
        except TikTokError as exc:
            raise CommandError(self._redact(f"{exc.status}: {exc}")) from None
        return {"user": user, "message": clean, "room_id": str(room_id)}

    def set_goals(self, user: str, targets: Mapping[str, int]) -> Data:
        entry = self._entry(user)
        configured = entry.supervisor.settings.goals.targets()
        self.store.set_goal_targets(user, dict(targets), configured)
        entry.publisher.set_goals(dict(targets))
        goals = entry.publisher.goals.targets
        return {"user": user, "goals": goals, "persistent": self.store.path is not None}

    def reset_goals(self, user: str, goal: str) -> Data:
        names = GOALS if goal == "all" else (goal,)
        self._entry(user).publisher.reset_goals(names)
        return {"user": user, "reset": list(names)}

    def reset_leaderboard(self, user: str) -> Data:
        self._entry(user).publisher.reset_leaderboard()
        return {"user": user}

    def simulate(self, user: str, event_type: str, fields: Any) -> Data:
        entry = self._entry(user)
        try:
            built = sim.build(fields)
        except sim.SimulateError as exc:
            raise CommandError(str(exc)) from None
        events = entry.supervisor.simulate(built)
        return {"user": user, "type": event_type, "events": [e.event_type for e in events]}

    # ---------------------------------------------------------------- bridge topics

    def _respond(self, topic: str, body: Data) -> None:
        # QoS 1: a caller waiting for its transaction should not lose the answer. The
        # response lane: a flood of commands never evicts a TikTok event.
        self.sink.publish_response(topic, body, qos=1)

    def bridge_event(self, kind: str, data: dict[str, Any]) -> None:
        self.sink.publish_event(self.topics.bridge_event, {"type": kind, "data": data})
        if self.actions is not None and kind in ("stream_started", "stream_ended"):
            self.actions.handle(str(data.get("streamer")), StreamMark(kind, data))

    def publish_log(self, payload: Mapping[str, str]) -> None:
        """Callback of the service's MqttLogHandler (already redacted and rate limited)."""
        qos = self.config.mqtt.event_qos
        self.sink.publish_response(self.topics.bridge_logging, dict(payload), qos=qos)

    def _publish_info(self) -> None:
        self.sink.set_state(self.topics.bridge_info, self.info())

    def info(self) -> Data:
        return {
            "version": __version__,
            "api_version": API_VERSION,
            "python": platform.python_version(),
            # Pure-Python protobuf decodes several times slower (docs/install-systemd.md).
            "protobuf": protobuf_runtime(),
            "streamers": self.streamers,
            "config": self.config.redacted_dict(),
            "restart_required": bool(self.restart_keys),
            "restart_required_keys": list(self.restart_keys),
        }

    def publish_health(self) -> None:
        self.sink.set_state(self.topics.bridge_health, self.health())

    async def _health_loop(self) -> None:
        while True:
            await self.clock.sleep(self.config.service.health_interval_s)
            try:
                self.publish_health()
            except Exception:
                log.exception("health publishing failed")

    def health(self) -> Data:
        data: Data = {
            "uptime_s": round(time.monotonic() - self._started),
            "rss_mb": _rss_mb(),
            # Leak watch for months-long runs (docs/reliability.md soak): a growing task
            # count means a supervisor or sink is not cleaning up after reconnects.
            "tasks": len(asyncio.all_tasks()),
            "mqtt": {"connected": self.sink.connected, **self.sink.stats.as_dict()},
            "tiktok": {
                "calls": dict(self.budget.calls),
                "blocked_until": iso_utc(self.budget.blocked_until),
            },
            "streamers": {user: self._streamer_health(e) for user, e in self._watched.items()},
        }
        if self.actions is not None:
            data["actions"] = self.actions.stats()
        if self.cluster is not None:
            data["cluster"] = self.cluster.health()
        return data

    def _streamer_health(self, entry: _Watched) -> Data:
        sup, pub = entry.supervisor, entry.publisher
        data: Data = {
            "status": pub.state.status,
            "live": pub.state.live,
            "watching": sup.watching,
            "reconnects": sup.stats.reconnects,
            "connects": sup.stats.connects,
            "silent_sockets": sup.stats.silent_sockets,
            "last_event": iso_utc(pub.state.last_event),
            "events": sup.stats.events,
            "published": pub.published,
            "filtered": pub.filtered,
            "decode_errors": sup.decode_errors,
            "duplicates": sup.duplicates,
        }
        if pub.state.retry_at is not None:
            data["retry_at"] = iso_utc(pub.state.retry_at)
        return data

    def _health_status(self) -> HealthStatus:
        streamers = {u: {"status": e.publisher.state.status, "live": e.publisher.state.live}
                     for u, e in self._watched.items()}  # fmt: skip
        return HealthStatus(mqtt_connected=self.sink.connected, streamers=streamers)

    def status_line(self) -> str:
        """One line for systemd's STATUS=: "2 streamers, 1 live, broker connected"."""
        live = sum(1 for e in self._watched.values() if e.publisher.state.live)
        count = len(self._watched)
        broker = "broker connected" if self.sink.connected else "waiting for broker"
        return f"{count} streamer{'s' if count != 1 else ''}, {live} live, {broker}"


def _task_name(user: str) -> str:
    return f"streamer-{user}"


def _rss_mb() -> float:
    """Current resident memory (Linux /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return round(pages * os.sysconf("SC_PAGE_SIZE") / 1_048_576, 1)
    except (OSError, ValueError, IndexError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _action_engine(config: Config, sink: MqttSink, clock: Clock) -> ActionEngine | None:
    if not config.actions.rules:
        return None
    return ActionEngine(
        config.actions,
        sink,
        base_topic=config.mqtt.base_topic,
        clock=clock.monotonic,  # cooldowns, the cap, off-after
        sleep=clock.sleep,
    )
