"""The actions path: what one configured action rule costs.

``python -m bench.actions [--baseline REV] [--e2e] [--write]``

**viewers** (issue 13 point 4) — µs of CPU (process time) per viewer-count message through
the streamer pipeline, in process: ``StreamProcessor.feed_message`` (a real 2023
RoomUserSeqMessage with its 16 ranked viewers, each message with its own msg_id and count)
→ ``StreamerPublisher.publish_events`` → ``ActionEngine.handle``, wired as the bridge wires
them, into a sink that keeps nothing. Three set-ups: no rule, one gift rule (never fires on
viewer counts: the cost of having any rule), one viewers rule (checked on every message,
never crossed). With ``--baseline REV`` the same workers also run on that revision's code
(``git archive`` into a temporary directory): before and after side by side, alternated
round by round so that background load falls on both alike. Each figure is the median of
the rounds.

**e2e** (issue 16's row) — the published-event cost of ``bench/e2e.py`` at 2,000 chats/s,
once without rules and once with one chat-command rule (``!lamp``, checked on every chat,
never matching), alternated; daemon CPU µs per published event, loss and latency.

``--write`` puts the figures into their own section of bench/RESULTS.md (between the
``bench.actions`` markers, below the marker ``python -m bench`` keeps from), leaving the rest of
the file as it is. ``python -m bench`` runs the e2e row itself too (its ``actions`` section).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.trees import source_tree

# No `bridge` import at module level: a worker imports it from the tree it measures (the
# working tree or the baseline revision's), so it must not be loaded before the path is set.
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "RESULTS.md"
BEGIN, END = "<!-- bench.actions: begin -->", "<!-- bench.actions: end -->"
STREAMER = "bench_streamer"

# One rule each; the rule never fires during the bench (its cost is the check alone).
RULES: dict[str, str | None] = {
    "no rule": None,
    "one gift rule": """
rules:
  - name: rose-blink
    trigger: {type: gift, gift: Rose}
    device: lamp
    actions:
      - topic: cmnd/lamp/POWER
        payload: "ON"
        then: {after_s: 0.3, payload: "OFF"}
""",
    "one viewers rule": """
rules:
  - name: crowd
    trigger: {type: viewers, threshold: 1000000}
    actions: [{topic: home/crowd, payload: "{{ current }}"}]
""",
}
E2E_RULE = """\
actions:
  rules:
    - name: lamp-colour
      trigger: {type: command, command: lamp, args: {red: "#ff0000", blue: "#0000ff"}}
      device: lamp
      actions:
        - topic: zigbee2mqtt/lamp/set
          payload: {state: "ON", color: {hex: "{{ arg }}"}}
"""


# ------------------------------------------------------------------ worker (own process)


class _NullSink:
    """Keeps nothing: the bench measures the pipeline, not MQTT."""

    def set_state(self, topic: str, payload: Any, *, qos: int = 1) -> None:
        pass

    def publish_event(
        self, topic: str, payload: Any, *, qos: int | None = None, expires: bool = True
    ) -> None:
        pass

    def subscribe(self, topic_filter: str, *, qos: int = 1) -> None:
        pass


def _viewer_payloads(count: int) -> list[bytes]:
    """The real RoomUserSeqMessage with the most ranked viewers, count times with its own
    msg_id and a changing viewer count (the retained viewers topic is re-sent each time)."""
    from bench.corpus import load_payloads
    from bridge.tiktok.pb import webcast_pb2 as pb

    candidates = load_payloads()["WebcastRoomUserSeqMessage"]
    best = max(candidates, key=lambda p: len(pb.RoomUserSeqMessage.FromString(p).ranks))
    out = []
    for i in range(count):
        msg = pb.RoomUserSeqMessage.FromString(best)
        msg.common.msg_id = 2**60 + i
        msg.total = 4000 + i % 500
        out.append(msg.SerializeToString())
    return out


def worker(tree: str, setup: str, messages: int, repeats: int) -> dict[str, Any]:
    """µs of CPU per viewers message with the code of `tree` (imported from there)."""
    sys.path.insert(0, tree)
    import bridge

    if not Path(bridge.__file__).resolve().is_relative_to(Path(tree).resolve()):
        raise RuntimeError(f"bridge imported from {bridge.__file__}, not {tree}")
    from bridge.actions.engine import ActionEngine
    from bridge.actions.rules import parse_actions
    from bridge.core.publish import StreamerPublisher
    from bridge.events import StreamProcessor
    from bridge.mqtt.topics import Topics
    from bridge.settings.streamer import StreamerSettings

    payloads = _viewer_payloads(messages)
    samples = []
    for _ in range(repeats):
        sink = _NullSink()
        engine = None
        rules = RULES[setup]
        if rules is not None:
            import yaml

            settings, problems = parse_actions(yaml.safe_load(rules))
            assert settings is not None, problems
            engine = ActionEngine(settings, sink, base_topic="bench")
            engine.start()
        publisher = StreamerPublisher(
            sink,
            Topics("bench").streamer(STREAMER),
            StreamerSettings(user=STREAMER),
            bridge_event=lambda kind, data: None,
            on_event=engine.handle if engine is not None else None,
        )
        publisher.stream_started(7301234567890123456, "bench")
        processor = StreamProcessor(7301234567890123456)
        method = "WebcastRoomUserSeqMessage"
        start = time.process_time()
        for i, payload in enumerate(payloads):
            publisher.publish_events(processor.feed_message(method, payload, 0.0, 2**60 + i))
        samples.append(1e6 * (time.process_time() - start) / len(payloads))
    return {"us_per_message": statistics.median(samples), "samples": samples}


# ------------------------------------------------------------------ viewers bench


@dataclass(frozen=True, slots=True)
class ViewersRow:
    code: str  # "before (REV)" or "after (working tree)"
    setup: str
    us_per_message: float
    rounds: list[float]


def _run_worker(tree: Path, setup: str, messages: int, repeats: int) -> float:
    spec = json.dumps({"tree": str(tree), "setup": setup, "messages": messages,
                       "repeats": repeats})  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "bench.actions", "--worker", spec],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    value: float = json.loads(out.strip().splitlines()[-1])["us_per_message"]
    return value


def viewers(baseline: str | None, rounds: int, messages: int) -> list[ViewersRow]:
    with contextlib.ExitStack() as stack:
        trees: list[tuple[str, Path]] = []
        if baseline is not None:
            trees.append((f"before ({baseline})", stack.enter_context(source_tree(baseline))))
        trees.append(("after (working tree)", REPO))
        got: dict[tuple[str, str], list[float]] = {}
        for r in range(rounds):
            for code, tree in trees if r % 2 == 0 else trees[::-1]:
                for setup in RULES:
                    us = _run_worker(tree, setup, messages, repeats=3)
                    got.setdefault((code, setup), []).append(us)
                    print(f"  round {r + 1}: {code:28s} {setup:18s} {us:7.1f} µs/message")
    return [
        ViewersRow(code, setup, statistics.median(values), values)
        for (code, setup), values in got.items()
    ]


# ------------------------------------------------------------------ e2e row (issue 16)


async def e2e_rows(rate: int, seconds: float, rounds: int) -> list[dict[str, Any]]:
    """The e2e published-event cost without rules and with one command rule, alternated."""
    rows = []
    for r in range(rounds):
        for label, extra in [("no rule", ""), ("one command rule", E2E_RULE)][:: 1 - 2 * (r % 2)]:
            res = await _e2e_once(rate, seconds, extra)
            row = {"setup": label, "round": r + 1, **asdict(res)}
            rows.append(row)
            print(
                f"  e2e {label:18s} {res.cpu_us_per_event:6.1f} µs/event, "
                f"lost {res.lost}/{res.sent}, p99 {res.p99_ms:.1f} ms"
            )
    return rows


async def _e2e_once(rate: int, seconds: float, extra: str) -> Any:
    from bench import e2e, procs
    from bridge.sim import SimConfig, TikTokSimulator

    with (
        tempfile.TemporaryDirectory(prefix="bench-actions-e2e-") as tmp,
        procs.mosquitto(Path(tmp)) as port,
    ):
        sim = TikTokSimulator(config=SimConfig(heartbeat_timeout_s=120, viewer_updates_s=10.0))
        await sim.start()
        try:
            room = sim.add_user(e2e.STREAMER, live=True)
            cfg = Path(tmp) / "config.yaml"
            text = procs.config_text(port, sim.endpoints, [e2e.STREAMER], Path(tmp))
            cfg.write_text(text + extra)
            daemon = await asyncio.to_thread(procs.start_daemon, cfg)
            try:
                await room.wait_entered(1, 30)
                await asyncio.sleep(0.5)
                return await e2e.one_rate(room, daemon, port, rate, seconds, 1)
            finally:
                await asyncio.to_thread(procs.stop_daemon, daemon)
        finally:
            await sim.stop()


# ------------------------------------------------------------------ report


def render(
    viewer_rows: list[ViewersRow], e2e: list[dict[str, Any]], command: str, rate: int
) -> str:
    lines = [
        BEGIN,
        "## Actions: one rule configured",
        "",
        f"`{command}` (bench/actions.py). CPU time (process time), before and after side by "
        "side in one run, alternated round by round; medians of the rounds. The machine is "
        "shared (2 cores, other jobs running): compare within a table, not across runs.",
        "",
    ]
    if viewer_rows:
        lines += [
            "µs of CPU per viewer-count message through the streamer pipeline (decode → "
            "publisher → action engine; a real RoomUserSeqMessage with 16 ranked viewers):",
            "",
            "| Code | Set-up | µs per message | Rounds |",
            "| --- | --- | ---: | --- |",
        ]
        for row in viewer_rows:
            rounds = ", ".join(f"{v:.1f}" for v in row.rounds)
            lines.append(f"| {row.code} | {row.setup} | {row.us_per_message:.1f} | {rounds} |")
        lines.append("")
    if e2e:
        spread = max(_spread([r["cpu_us_per_event"] for r in e2e if r["setup"] == setup])
                     for setup in {r["setup"] for r in e2e})  # fmt: skip
        lines += [
            f"Published-event cost, end to end at {rate:,} chats/s (as bench/e2e.py), without "
            "rules and with one chat-command rule checked on every chat (each round a fresh "
            f"daemon; rounds of one set-up differ by up to {100 * spread:.0f} % here):",
            "",
            "| Set-up | Round | Daemon µs CPU per event | Lost | p99 ms |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in e2e:
            lines.append(
                f"| {r['setup']} | {r['round']} | {r['cpu_us_per_event']:.1f} | "
                f"{r['lost']}/{r['sent']} | {r['p99_ms']:.1f} |"
            )
        lines.append("")
    lines.append(END)
    return "\n".join(lines) + "\n"


def _spread(values: list[float]) -> float:
    return max(values) / min(values) - 1 if values and min(values) > 0 else 0.0


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this bench's section of RESULTS.md, or append it; the rest stays as it is."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        current = head + text + tail
    else:
        # Appended below the marker that `python -m bench` keeps from, so its next run does
        # not wipe this section (bench/report.py KEEP).
        from bench.report import KEEP

        keep = "" if KEEP in current else KEEP + "\n\n"
        current = current.rstrip("\n") + "\n\n" + keep + text
    path.write_text(current, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.actions", description=__doc__)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", help="also measure this git revision (before → after)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--no-viewers", action="store_true", help="skip the viewers bench")
    parser.add_argument("--e2e", action="store_true", help="add issue 16's e2e row")
    parser.add_argument("--e2e-rate", type=int, default=2000)
    parser.add_argument("--e2e-seconds", type=float, default=10.0)
    parser.add_argument("--e2e-rounds", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    parser.add_argument("--output", default=str(RESULTS), help="the file --write updates")
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        print(json.dumps(worker(spec["tree"], spec["setup"], spec["messages"], spec["repeats"])))
        return 0
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join(["python -m bench.actions", *given])
    rows = [] if args.no_viewers else viewers(args.baseline, args.rounds, args.messages)
    e2e = []
    if args.e2e:
        e2e = asyncio.run(e2e_rows(args.e2e_rate, args.e2e_seconds, args.e2e_rounds))
    text = render(rows, e2e, command, args.e2e_rate)
    print(text)
    if args.write:
        write_section(text, Path(args.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
