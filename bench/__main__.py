"""``python -m bench [--quick] [--only decode,e2e,idle,cost] [--long]`` → bench/RESULTS.md.

Runs the selected benches one after the other (never two at once: the machine's cores are
part of what is measured), prints each figure as it comes and writes the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import corpus, decode, e2e, env, report, system

OUT = env.REPO / "bench" / "out"
SECTIONS = ("decode", "e2e", "idle", "cost")


@dataclass
class Plan:
    frames: int
    min_s: float
    peer_s: float
    e2e_rates: list[int]
    e2e_s: float
    loads: list[int]
    window_s: float
    growth_s: float
    startups: int
    cost_rate: int
    cost_s: float
    idle_default: list[int] = field(default_factory=list)  # streamers, at the 60 s default


def plan(args: argparse.Namespace) -> Plan:
    if args.quick:
        p = Plan(400, 0.5, 2.0, [100, 1000, 10000], 3.0, [1, 10], 4.0, 20.0, 2, 2000, 3.0)
    else:
        # 2,000-8,000: where the zero-loss ceiling lies between the three rates.
        rates = [100, 1000, 2000, 4000, 6000, 8000, 10000]
        p = Plan(3000, 3.0, 10.0, rates, 15.0, [1, 10, 50, 200], 20.0, 120.0, 5, 2000, 10.0, [50])
    if args.long:
        p.growth_s = 600.0
    if args.frames:
        p.frames = args.frames
    if args.growth_seconds:
        p.growth_s = args.growth_seconds
    if args.e2e_seconds:
        p.e2e_s = args.e2e_seconds
    return p


@dataclass
class Results:
    command: str
    machine: dict[str, str]
    plan: dict[str, Any]
    decode: dict[str, Any] = field(default_factory=dict)
    e2e: list[dict[str, Any]] = field(default_factory=list)
    loads: list[dict[str, Any]] = field(default_factory=list)
    idle_default: list[dict[str, Any]] = field(default_factory=list)
    growth: dict[str, Any] = field(default_factory=dict)
    startup_s: list[float] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def run_decode(args: argparse.Namespace, p: Plan, peer_python: Path | None) -> dict[str, Any]:
    if args.corpus:
        frame_list = corpus.read_container(Path(args.corpus))
        info = corpus.describe(frame_list)
        source = f"`{args.corpus}` ({len(frame_list)} frames)"
        container = Path(args.corpus)
    else:
        info = corpus.build(p.frames)
        container = Path(args.corpus_out)
        corpus.write_container(container, info.frames)
        source = f"generated, seed 2023, written to `{_rel(container)}`"
    frame_list = info.frames
    print(f"decode: {len(frame_list)} frames, {info.messages} messages, {info.bytes} bytes")
    if info.duplicate_ids:
        # Replays are dropped before parsing: such a corpus flatters the decoder (issue 16).
        print(f"  warning: {info.duplicate_ids} inner messages repeat an earlier msg_id")
    ours = decode.measure("ours", decode.ours_pass, frame_list, p.min_s)
    raw = decode.measure("raw protobuf", decode.raw_pass, frame_list, p.min_s)
    plain = decode.compressed(frame_list, gzip=False)
    codec_gz = decode.measure("codec gzip", decode.codec_pass, frame_list, p.min_s / 2)
    raw_gz = decode.measure("raw codec gzip", decode.raw_codec_pass, frame_list, p.min_s / 2)
    codec_pl = decode.measure("codec plain", decode.codec_pass, plain, p.min_s / 2)
    raw_pl = decode.measure("raw codec plain", decode.raw_codec_pass, plain, p.min_s / 2)
    out: dict[str, Any] = {
        "source": source,
        "frames": len(frame_list),
        "messages": info.messages,
        "duplicate_msg_ids": info.duplicate_ids,
        "bytes": info.bytes,
        "mix": info.by_method,
        "ours": asdict(ours),
        "raw": asdict(raw),
        "codec": {
            k: asdict(v)
            for k, v in {
                "gzip": codec_gz,
                "raw_gzip": raw_gz,
                "plain": codec_pl,
                "raw_plain": raw_pl,
            }.items()
        },
    }
    print(
        f"  ours {ours.msgs_per_s:,.0f} msg/s ({ours.frames_per_s:,.0f} frames/s); "
        f"raw parse {raw.msgs_per_s:,.0f} msg/s; ours/raw time {ours.seconds / raw.seconds:.2f}x"
    )
    if args.no_peer:
        peer = decode.PeerResult(None, 0, "-", "skipped (--no-peer)")
    else:
        peer = decode.run_peer(peer_python, container, p.peer_s)
    out["peer_version"] = peer.version
    out["peer_error"] = peer.error
    if peer.rate is not None and peer.frames_used:
        same = frame_list[: peer.frames_used]
        ours_same = decode.measure("ours (peer's frames)", decode.ours_pass, same, p.min_s / 2)
        raw_same = decode.measure("raw (peer's frames)", decode.raw_pass, same, p.min_s / 2)
        out["peer"] = asdict(peer.rate)
        out["ours_same"] = asdict(ours_same)
        out["raw_same"] = asdict(raw_same)
        out["peer_frames"] = peer.frames_used
        print(
            f"  tiktoklive {peer.rate.msgs_per_s:,.0f} msg/s on {peer.frames_used} frames; "
            f"ours {ours_same.msgs_per_s:,.0f} msg/s on the same: "
            f"{ours_same.msgs_per_s / peer.rate.msgs_per_s:,.0f}x"
        )
    else:
        print(f"  tiktoklive: {peer.error}")
    return out


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(env.REPO))
    except ValueError:
        return str(path)


async def run_system(sections: set[str], p: Plan, results: Results) -> None:
    if "e2e" in sections:
        print(f"e2e: rates {p.e2e_rates} for {p.e2e_s:g} s each")
        rows, _ready = await e2e.run(p.e2e_rates, p.e2e_s)
        results.e2e = [asdict(r) for r in rows]
        print(e2e.summary(rows))
    if "idle" in sections:
        for n in p.loads:
            res = await system.load(n, p.window_s)
            results.loads.append(asdict(res))
            print(
                f"idle/connected {n:>3}: idle {res.idle_cpu_pct:.2f}% CPU "
                f"{res.idle_rss_mb:.1f} MB; "
                f"connected {res.connected}/{n} {res.conn_cpu_pct:.1f}% CPU "
                f"{res.conn_rss_mb:.1f} MB; ready {res.ready_s:.2f} s"
            )
        for n in p.idle_default:
            idle = await system.idle(n)
            results.idle_default.append(asdict(idle))
            print(
                f"idle {n:>3} at the {idle.poll_s:g} s default poll: {idle.cpu_pct:.2f}% CPU "
                f"{idle.rss_mb:.1f} MB ({idle.checks} live-check HTTP requests in the window)"
            )
        results.startup_s = await system.startup(p.startups)
        print(f"start-up to READY=1: {[round(t, 3) for t in results.startup_s]}")
        g = await system.growth(1000, p.growth_s)
        results.growth = {
            "rate": g.rate,
            "seconds": g.seconds,
            "samples": g.samples,
            "start_mb": g.start_mb,
            "end_mb": g.end_mb,
            "peak_mb": g.peak_mb,
            "mb_per_min": g.mb_per_min,
        }
        print(
            f"growth at 1000/s for {g.seconds:g} s: {g.start_mb:.1f} → {g.end_mb:.1f} MB "
            f"(peak {g.peak_mb:.1f}, {g.mb_per_min:+.2f} MB/min in the second half)"
        )
    if "cost" in sections:
        from bench import cost

        prof = OUT / "daemon.prof"
        OUT.mkdir(parents=True, exist_ok=True)
        rows, _ = await e2e.run([p.cost_rate], p.cost_s, profile=prof)
        plain, _ = await e2e.run([p.cost_rate], p.cost_s)
        br = cost.analyse(prof)
        results.cost = {
            "rate": p.cost_rate,
            "seconds": p.cost_s,
            "events": rows[0].received,
            "us_per_event": plain[0].cpu_us_per_event,
            "daemon_cpu_pct": plain[0].daemon_cpu_pct,
            "busy_s": br.busy_s,
            "buckets": br.buckets,
            "shares": br.shares(),
            "top": br.top,
            "profile": _rel(prof),
        }
        print(f"cost at {p.cost_rate}/s: {plain[0].cpu_us_per_event:.0f} µs CPU per event")
        for name, share in br.shares().items():
            print(f"  {name:48s} {100 * share:5.1f}%")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (about 3 minutes)")
    parser.add_argument("--only", default=",".join(SECTIONS), help="decode,e2e,idle,cost")
    parser.add_argument("--long", action="store_true", help="RSS growth over 10 minutes")
    parser.add_argument(
        "--corpus", help="decode this capture container instead (u32 LE length + frame)"
    )
    parser.add_argument(
        "--corpus-out", default=str(OUT / "corpus.bin"), help="where the generated corpus goes"
    )
    parser.add_argument("--frames", type=int, help="frames in the generated corpus")
    parser.add_argument("--e2e-seconds", type=float, help="duration of each e2e rate")
    parser.add_argument("--growth-seconds", type=float, help="duration of the RSS growth run")
    parser.add_argument(
        "--peer-venv", default=str(env.DEFAULT_PEER_VENV), help="venv for tiktoklive"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the tiktoklive column")
    parser.add_argument("--output", default=str(env.REPO / "bench" / "RESULTS.md"))
    parser.add_argument("--json", default=str(OUT / "results.json"), help="raw figures")
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    p = plan(args)
    started = time.monotonic()
    peer_python = None
    if "decode" in sections and not args.no_peer:
        peer_python = env.ensure_peer_venv(Path(args.peer_venv))
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join(["python -m bench", *(shlex.quote(a) for a in given)])
    results = Results(command, env.machine(peer_python), asdict(p))
    if "decode" in sections:
        results.decode = run_decode(args, p, peer_python)
    if sections & {"e2e", "idle", "cost"}:
        asyncio.run(run_system(sections, p, results))
    results.seconds = time.monotonic() - started
    raw = Path(args.json)
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(asdict(results), indent=1, default=str))
    Path(args.output).write_text(report.render(asdict(results)))
    print(f"wrote {args.output} ({results.seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
