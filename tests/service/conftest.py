"""Fixtures for the process-edge tests (bridge.service)."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture
def restore_root_logger() -> Iterator[logging.Logger]:
    """setup_logging() changes the root logger; put handlers and level back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture
def notify_socket() -> Iterator[socket.socket]:
    """A real AF_UNIX datagram socket, like systemd's; its path is sock.getsockname()."""
    # A short directory: AF_UNIX paths are limited to 107 bytes, pytest's tmp_path may not be.
    directory = tempfile.mkdtemp(prefix="t2m-")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5.0)
    yield sock
    sock.close()
    os.unlink(path)
    os.rmdir(directory)
