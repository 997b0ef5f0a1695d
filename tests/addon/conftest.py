"""Fixtures of the add-on tests: the Supervisor stand-in, the simulator of the daemon tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.addon.support import SupervisorStub
from tests.reliability.conftest import sim

__all__ = ["sim", "supervisor"]


@pytest.fixture
def supervisor() -> Iterator[SupervisorStub]:
    stub = SupervisorStub().start()
    try:
        yield stub
    finally:
        stub.stop()
