"""The decode bench runs on a tiny corpus and reports both columns (no timing asserts:
benchmarks are not tests; the figures live in bench/RESULTS.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import corpus, decode
from bench.__main__ import main


def test_container_round_trip(tmp_path: Path) -> None:
    built = corpus.build(5, seed=1)
    path = tmp_path / "corpus.bin"
    corpus.write_container(path, built.frames)
    assert corpus.read_container(path) == built.frames
    assert corpus.describe(built.frames).messages == built.messages


def test_generated_corpus_has_no_repeated_msg_ids_and_a_replay_is_counted() -> None:
    # Issue 16: the decode figures are for a corpus where every inner message has its own
    # msg_id; a capture given with --corpus that replays messages is flagged.
    built = corpus.build(6, seed=3)
    assert corpus.describe(built.frames).duplicate_ids == 0
    replayed = built.frames + built.frames[:2]
    first_two = sum(len(frames_of(f)) for f in built.frames[:2])
    assert corpus.describe(replayed).duplicate_ids == first_two > 0


def frames_of(frame: bytes) -> list[object]:
    from bridge.tiktok import frames

    return list(frames.decode_msg_frame(frames.decode_frame(frame)).messages)


def test_decoders_agree_on_counts() -> None:
    built = corpus.build(8, seed=2)
    ours = decode.ours_pass(built.frames)
    raw = decode.raw_pass(built.frames)
    assert ours[:2] == raw[:2] == (8, built.messages)
    assert ours[2] > 0  # typed events came out


def test_decode_bench_prints_both_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RESULTS.md"
    args = ["--only", "decode", "--quick", "--frames", "10", "--no-peer"]
    args += ["--corpus-out", str(tmp_path / "c.bin"), "--output", str(out)]
    args += ["--json", str(tmp_path / "results.json")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "ours" in printed and "raw parse" in printed
    report = out.read_text()
    assert "tiktok2mqtt (frames → typed events)" in report
    assert "raw protobuf parse" in report
