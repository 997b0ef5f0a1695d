"""A short run of the soak (tests/reliability/soak.py) in the slow suite; the documented
30-minute run is `scripts/soak --minutes 30` (figures in docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.soak import Soak


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_short_soak_with_faults(tmp_path: Path) -> None:
    soak = Soak(tmp_path, minutes=6, streamers=3, rate=150, fault_every_s=20)
    result = await soak.run()
    assert sum(result.faults.values()) >= 10
    assert result.sent > 10_000
    problems = result.check(rss_bound_mb=25, fd_bound=8, task_bound=10)
    assert not problems, problems
