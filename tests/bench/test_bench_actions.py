"""bench.actions runs (one tiny round) and keeps the rest of RESULTS.md when it writes its
section (no timing asserts: benchmarks are not tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import actions


def test_viewers_bench_writes_its_own_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text("# Results\n\nwritten by python -m bench\n")
    args = ["--rounds", "1", "--messages", "20", "--write", "--output", str(out)]
    assert actions.main(args) == 0
    assert actions.main(args) == 0  # again: the section is replaced, not appended twice
    text = out.read_text()
    assert text.startswith("# Results\n\nwritten by python -m bench\n")
    assert text.count(actions.BEGIN) == text.count(actions.END) == 1
    for setup in actions.RULES:
        assert f"| after (working tree) | {setup} |" in text
    assert "one gift rule" in capsys.readouterr().out
