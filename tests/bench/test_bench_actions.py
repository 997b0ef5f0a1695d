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


def test_python_m_bench_keeps_the_hand_written_sections(tmp_path: Path) -> None:
    """`python -m bench` replaces what is above the marker and keeps the rest, including the
    bench.actions section; bench.actions can still replace its section afterwards."""
    from bench import report

    hand = "## 5. Hand-written\n\nkept as it is\n"
    section = actions.render([], [], "python -m bench.actions", 2000)
    out = tmp_path / "RESULTS.md"
    out.write_text(f"# Old render\n\nold figures\n\n{report.KEEP}\n\n{hand}\n{section}")
    new = report.compose("# New render\n\nnew figures\n", out.read_text())
    out.write_text(new)
    assert new.startswith("# New render\n\nnew figures\n\n" + report.KEEP)
    assert "old figures" not in new
    assert new.endswith(f"{hand}\n{section}")
    actions.write_section(section.replace("python -m bench.actions", "again"), out)
    text = out.read_text()
    assert text.count(actions.BEGIN) == 1 and "`again`" in text and "kept as it is" in text


def test_a_file_without_the_marker_is_replaced_and_an_appended_section_is_kept(
    tmp_path: Path,
) -> None:
    from bench import report

    assert report.compose("# New\n", "# Old, no marker\n") == "# New\n"
    out = tmp_path / "RESULTS.md"
    out.write_text("# Generated\n")
    actions.write_section(actions.render([], [], "cmd", 2000), out)
    kept = report.compose("# Regenerated\n", out.read_text())
    assert kept.startswith("# Regenerated\n") and actions.BEGIN in kept and actions.END in kept
