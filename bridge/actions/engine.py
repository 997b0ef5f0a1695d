"""The action engine: events in, device publishes out, safely.

    engine = ActionEngine(settings, sink, base_topic="tiktok")
    engine.start()                         # kill-switch state + subscription
    engine.handle("alice", event, change, payload)  # each typed event the streamer publishes
    engine.handle("alice", StreamMark("stream_started", data))  # the bridge's start / end
    engine.on_message(topic, payload, retain)  # True when it was the kill switch
    await engine.close()                   # before sink.close(): pending "off" publishes go out

Order of checks for each rule an event fires: kill switch (`disabled`), cooldown, global cap
per minute (`cap`), payload size (`payload_too_large`), dry run (`dry_run`), then the device
queue (`queue_full`, `coalesced`, `busy`). Every firing is reported exactly once on
`<base>/bridge/event` as {"type": "action", ...}.

A firing runs as a plan of timed publishes on its device's worker task. A device is busy
from the moment a firing is handed to it until its worker finds nothing more to run; all
state changes (start, queue, stop) happen synchronously in the caller, so no firing the
checks accepted can fall between "handed over" and "picked up". A "then" publish is armed
as soon as its "on" went out; however the plan ends (kill switch, shutdown) every armed
"off" is still published: lights must not stay on.

Time comes from `clock` (cooldowns, the cap, plan offsets) and `sleep`: both injectable, so
tests can run plans on virtual time.

Events come typed (bridge.events) and are matched on their fields; like and viewer triggers
read the streamer's totals from the `Change` the publisher hands over (its one state), so
the engine counts nothing itself. The event's JSON object, which templates fill from, is
only made when a rule fires: a viewers message with its ranked users costs ~100 µs to
serialise, and the publisher does not publish it as an event at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridge.actions.match import (
    NO_CHANGE,
    Change,
    StreamMark,
    Subject,
    command_rejected,
    match,
    template_values,
    trigger_summary,
)
from bridge.actions.rules import Action, ActionsSettings, QueueSettings, Rule
from bridge.events.model import Event
from bridge.mqtt.payloads import PayloadLike
from bridge.mqtt.topics import Topics, check_topic

__all__ = ["ActionEngine", "Sink"]

log = logging.getLogger(__name__)

CAP_WINDOW_S = 60.0
_ON = ("on", "true", "1", "enable", "enabled")
_OFF = ("off", "false", "0", "disable", "disabled")


class Sink(Protocol):
    """What the engine needs of bridge.mqtt.sink.MqttSink (tests may pass a recorder)."""

    def set_state(self, topic: str, payload: PayloadLike | None, *, qos: int = 1) -> None: ...

    def publish_event(
        self,
        topic: str,
        payload: PayloadLike | None,
        *,
        qos: int | None = None,
        expires: bool = True,
    ) -> None: ...

    def subscribe(self, topic_filter: str, *, qos: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class _Step:
    at_s: float  # offset from the start of the plan
    topic: str
    payload: bytes
    qos: int
    retain: bool
    off_of: int | None  # a "then" publish: index of the step that turned it on


@dataclass(slots=True)
class _Job:
    rule: Rule
    streamer: str
    trigger: dict[str, Any]
    steps: list[_Step]
    start: float = 0.0  # clock() when it started; step offsets count from here
    sent: set[int] = field(default_factory=set)
    finished: bool = False  # every step sent, or stopped with its armed offs sent

    @property
    def done(self) -> bool:
        return len(self.sent) == len(self.steps)


@dataclass(slots=True)
class _Device:
    name: str
    queue: QueueSettings
    waiting: deque[_Job] = field(default_factory=deque)
    running: _Job | None = None  # set from the moment a job is handed over until it ends
    task: asyncio.Task[None] | None = None  # sends `running`'s later steps at their time

    @property
    def busy(self) -> bool:
        return self.running is not None


@dataclass(slots=True)
class _Stats:
    fired: int = 0  # firings that started (or were reported in dry run)
    published: int = 0  # MQTT messages handed to the sink
    forced_offs: int = 0  # "then" publishes sent early (kill switch, shutdown, coalesce)
    rejected_args: int = 0  # chat commands with an argument outside the allow-list
    skipped: Counter[str] = field(default_factory=Counter)


class ActionEngine:
    def __init__(
        self,
        settings: ActionsSettings,
        sink: Sink,
        *,
        base_topic: str,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.sink = sink
        topics = Topics(base_topic)
        self.bridge_event_topic = topics.bridge_event
        self.command_topic = check_topic(f"{base_topic}/actions/set")
        self.state_topic = check_topic(f"{base_topic}/actions/state")
        self.enabled = settings.enabled
        self._clock = clock
        self._sleep = sleep
        self._stats = _Stats()
        self._last_fired: dict[str, float] = {}
        self._cap_window: deque[float] = deque()
        # Per streamer: like thresholds reached in the current stream (fire once per stream).
        self._fired: dict[str, set[int]] = {}
        self._devices: dict[str, _Device] = {}
        self._workers: set[asyncio.Task[None]] = set()  # incl. stopped ones still unwinding
        self._closed = False

    # ---------------------------------------------------------------- life cycle

    def start(self) -> None:
        self.sink.subscribe(self.command_topic)
        self._publish_switch()

    async def close(self) -> None:
        """Stop every plan; armed "off" publishes go to the sink before it closes."""
        self._closed = True
        self._stop_all("shutdown")
        await asyncio.gather(*self._workers, return_exceptions=True)

    # ---------------------------------------------------------------- kill switch

    def on_message(self, topic: str, payload: bytes, retain: bool) -> bool:
        """Handle `<base>/actions/set`; False for any other topic (the core's commands)."""
        if topic != self.command_topic:
            return False
        if retain:
            # Like the core's commands: a retained switch would replay at every reconnect.
            log.warning("actions: ignoring retained message on %s", topic)
            return True
        word = payload.decode("utf-8", errors="replace").strip().lower()
        if word in _ON:
            self.set_enabled(True)
        elif word in _OFF:
            self.set_enabled(False)
        else:
            log.warning("actions: %s expects ON or OFF", topic)
        return True

    def set_enabled(self, on: bool) -> None:
        self.enabled = on
        self._publish_switch()
        log.warning("actions %s by kill switch", "enabled" if on else "DISABLED")
        if not on:
            self._stop_all("disabled")

    def _publish_switch(self) -> None:
        self.sink.set_state(self.state_topic, "ON" if self.enabled else "OFF")

    def _stop_all(self, reason: str) -> None:
        """Synchronously: waiting firings are reported skipped, running ones stopped with
        their armed offs sent, every device left idle (a firing right after is served)."""
        for device in self._devices.values():
            while device.waiting:  # never started: nothing to turn off
                self._report_skip(device.waiting.popleft(), reason)
            job, device.running = device.running, None
            if job is not None:
                self._finish(job)
            if device.task is not None:
                device.task.cancel()  # it only unwinds now; the device is free already
                device.task = None

    # ---------------------------------------------------------------- events

    def handle(
        self,
        streamer: str,
        event: Subject,
        change: Change = NO_CHANGE,
        payload: Mapping[str, Any] | None = None,
    ) -> None:
        """One event of `streamer`; checks every rule. Never raises into the core.

        `change`: the streamer's like total and viewer count before and after the event.
        `payload`: the event's published JSON object when the publisher made one (reused
        for templates); otherwise it is made from `event` only if a rule fires.
        """
        try:
            self._handle(streamer, event, change, payload)
        except Exception:
            log.exception("actions: %s event of %s failed", _kind(event), streamer)

    def _handle(
        self, streamer: str, event: Subject, change: Change, payload: Mapping[str, Any] | None
    ) -> None:
        if self._closed:
            return
        fired = self._fired.get(streamer)
        if fired is None or (isinstance(event, StreamMark) and event.kind == "stream_started"):
            fired = self._fired[streamer] = set()  # a new stream: thresholds count afresh
        for rule in self.settings.rules:
            if not rule.enabled or not rule.applies_to(streamer):
                continue
            extras = match(rule.trigger, event, change, fired)
            if extras is None:
                if command_rejected(rule.trigger, event):
                    self._stats.rejected_args += 1
                continue
            self._fire(rule, streamer, event, payload, extras)

    def _fire(
        self,
        rule: Rule,
        streamer: str,
        event: Subject,
        payload: Mapping[str, Any] | None,
        extras: dict[str, Any],
    ) -> None:
        job = _Job(rule, streamer, trigger_summary(event), [])
        now = self._clock()
        if not self.enabled:
            return self._report_skip(job, "disabled")
        last = self._last_fired.get(rule.name)
        if last is not None and now - last < rule.cooldown_s:
            return self._report_skip(job, "cooldown")
        while self._cap_window and now - self._cap_window[0] >= CAP_WINDOW_S:
            self._cap_window.popleft()
        if len(self._cap_window) >= self.settings.max_per_minute:
            return self._report_skip(job, "cap")
        # Only now, past the checks that skip without rendering, is the JSON object needed.
        values = template_values(streamer, event) if payload is None else payload
        context = {**values, "streamer": streamer, "rule": rule.name, "device": rule.device}
        job.steps = _plan(rule.actions, {**context, **extras})
        if any(len(s.payload) > self.settings.max_payload_bytes for s in job.steps):
            return self._report_skip(job, "payload_too_large")
        if self.settings.dry_run:
            self._accept(rule, now)
            self._stats.fired += 1
            log.info("actions (dry run): %s would publish %s", rule.name, _steps_json(job))
            return self._report(job, skipped="dry_run", would_publish=_steps_json(job))
        if self._enqueue(job):
            self._accept(rule, now)

    def _accept(self, rule: Rule, now: float) -> None:
        # Only firings that will run start a cooldown and use the cap; refused ones do not.
        self._last_fired[rule.name] = now
        self._cap_window.append(now)

    def _enqueue(self, job: _Job) -> bool:
        device = self._device(job.rule.device)
        mode, limit = device.queue.mode, device.queue.max
        if not device.busy:
            self._start(device, job)
            self._settle(device)
        elif mode == "drop":
            self._report_skip(job, "busy")
            return False
        elif len(device.waiting) < limit:
            device.waiting.append(job)
        elif mode == "coalesce" and device.waiting:
            # The newest replaces the last waiting one: a burst ends in its latest firing.
            self._report_skip(device.waiting.pop(), "coalesced")
            device.waiting.append(job)
        else:
            self._report_skip(job, "queue_full")
            return False
        return True

    def _device(self, name: str) -> _Device:
        device = self._devices.get(name)
        if device is None:
            device = self._devices[name] = _Device(name, self.settings.queue_of(name))
        return device

    # ---------------------------------------------------------------- running plans

    def _start(self, device: _Device, job: _Job) -> None:
        """Hand `job` to the device: reported, and its first publishes sent, right now."""
        device.running = job
        job.start = self._clock()
        self._stats.fired += 1
        self._report(job)
        for index, step in enumerate(job.steps):
            if step.at_s > 0:
                break
            self._send(step)
            job.sent.add(index)

    def _settle(self, device: _Device) -> None:
        """Hand over from finished jobs to waiting ones; a job with steps still ahead gets
        a worker task. Synchronous: a device is busy exactly while a plan is under way."""
        while (job := device.running) is not None and job.done:
            self._finish(job)
            device.running = None
            if device.waiting:
                self._start(device, device.waiting.popleft())
        if device.running is not None and device.task is None:
            task = asyncio.get_running_loop().create_task(
                self._worker(device, device.running), name=f"actions-{device.name}"
            )
            device.task = task
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def _worker(self, device: _Device, job: _Job) -> None:
        """Sends the rest of `job` at its times, then settles the device and ends."""
        try:
            await self._run(job)
        finally:
            self._finish(job)  # cancelled (kill switch, shutdown): armed offs go out
        device.task = None
        self._settle(device)

    async def _run(self, job: _Job) -> None:
        for index, step in enumerate(job.steps):
            if index in job.sent:
                continue
            delay = job.start + step.at_s - self._clock()
            if delay > 0:
                await self._sleep(delay)
            self._send(step)
            job.sent.add(index)

    def _finish(self, job: _Job) -> None:
        """Once per job: send every armed "off" that did not go out yet."""
        if job.finished:
            return
        job.finished = True
        pending: dict[str, _Step] = {}
        for index, step in enumerate(job.steps):
            if index in job.sent or step.off_of is None or step.off_of not in job.sent:
                continue
            pending[step.topic] = step  # the last "off" per topic is the one that counts
        for step in pending.values():
            self._send(step)
            self._stats.forced_offs += 1

    def _send(self, step: _Step) -> None:
        try:
            if step.retain:
                self.sink.set_state(step.topic, step.payload, qos=step.qos)
            else:
                # An "off" never expires in the broker-outage buffer: late beats never.
                self.sink.publish_event(
                    step.topic, step.payload, qos=step.qos, expires=step.off_of is None
                )
            self._stats.published += 1
        except Exception:  # never let one publish leave the device busy for good
            log.exception("actions: cannot publish to %s", step.topic)

    # ---------------------------------------------------------------- observability

    def _report_skip(self, job: _Job, reason: str) -> None:
        self._report(job, skipped=reason)

    def _report(
        self, job: _Job, *, skipped: str | None = None, would_publish: list[Any] | None = None
    ) -> None:
        if skipped is not None:
            self._stats.skipped[skipped] += 1
            log.debug("actions: %s skipped (%s)", job.rule.name, skipped)
        data: dict[str, Any] = {
            "rule": job.rule.name,
            "streamer": job.streamer,
            "device": job.rule.device,
            "trigger_event": job.trigger,
            "actions": {
                "taken": [] if skipped else _steps_json(job),
                "skipped": None if skipped is None else {"reason": skipped},
            },
        }
        if would_publish is not None:
            data["actions"]["would_publish"] = would_publish
        self.sink.publish_event(self.bridge_event_topic, {"type": "action", "data": data})

    def stats(self) -> dict[str, Any]:
        """Counters for bridge/health."""
        s = self._stats
        return {
            "enabled": self.enabled,
            "dry_run": self.settings.dry_run,
            "rules": len(self.settings.rules),
            "fired": s.fired,
            "published": s.published,
            "forced_offs": s.forced_offs,
            "rejected_args": s.rejected_args,
            "queued": sum(len(d.waiting) for d in self._devices.values()),
            "running": sum(1 for d in self._devices.values() if d.busy),
            "skipped": dict(s.skipped),
        }


# -------------------------------------------------------------------- plans


def _plan(actions: tuple[Action, ...], context: Mapping[str, Any]) -> list[_Step]:
    """Every publish of a firing with its time offset, in the order they go out."""
    steps: list[tuple[float, int, _Step]] = []
    order = 0
    for action in actions:
        on = action.payload.render(context)
        off = action.then.payload.render(context) if action.then else None
        times = action.repeat.times if action.repeat else 1
        interval = action.repeat.interval_s if action.repeat else 0.0
        for k in range(times):
            at = k * interval
            steps.append((at, order, _Step(at, action.topic, on, action.qos, action.retain, None)))
            on_order = order
            order += 1
            if off is not None and action.then is not None:
                at_off = at + action.then.after_s
                step = _Step(at_off, action.topic, off, action.qos, action.retain, on_order)
                steps.append((at_off, order, step))
                order += 1
    steps.sort(key=lambda item: (item[0], item[1]))
    # off_of referred to creation order; translate it to positions in the sorted plan.
    position = {created: pos for pos, (_, created, _) in enumerate(steps)}
    return [
        _Step(s.at_s, s.topic, s.payload, s.qos, s.retain, position[s.off_of])
        if s.off_of is not None
        else s
        for _, _, s in steps
    ]


def _steps_json(job: _Job) -> list[dict[str, Any]]:
    return [
        {
            "topic": s.topic,
            "payload": s.payload.decode("utf-8", errors="replace"),
            "at_s": round(s.at_s, 3),
            **({"retain": True} if s.retain else {}),
        }
        for s in job.steps
    ]


def _kind(event: Subject) -> str:
    return event.topic if isinstance(event, Event) else event.kind
