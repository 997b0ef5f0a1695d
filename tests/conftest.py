"""Shared fixtures live in tests/helpers/* modules, loaded here as plugins."""

pytest_plugins = [
    "tests.helpers.mosquitto",  # real mosquitto on a free port (kill / restart)
    "tests.helpers.simulator",  # the TikTok simulator on loopback
    "tests.helpers.redis_server",  # real redis-server on a free port (kill / restart), TCP proxy
]
