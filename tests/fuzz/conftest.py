"""Re-use the reliability fixtures: `sim` (simulator with matching heartbeat timing) and
`daemon_factory` (the daemon as a real process)."""

from tests.reliability.conftest import daemon_factory, sim

__all__ = ["daemon_factory", "sim"]
