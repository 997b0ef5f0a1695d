"""Where the tests find their data: everything lives inside the repository."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def fixtures_dir() -> Path:
    """Real 2023 payloads and reference-client frames (provenance: tests/fixtures/README.md)."""
    return FIXTURES
