"""One cluster member in its own process, for kill -9 tests.

    python -m tests.cluster.member_proc NAME URL PREFIX STREAMERS

Prints one JSON line per decision ({"t": monotonic, "kind", "user", "token"/"reason"}) and
{"kind": "ready"} once it has joined; runs until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bridge.cluster import ClusterNode, StopReason
from tests.cluster.conftest import entries, settings


class PrintingListener:
    async def start_watching(self, user: str, token: int) -> None:
        _emit({"kind": "start", "user": user, "token": token})

    async def stop_watching(self, user: str, reason: StopReason) -> None:
        _emit({"kind": "stop", "user": user, "reason": str(reason)})


def _emit(data: dict[str, object]) -> None:
    sys.stdout.write(json.dumps({"t": time.monotonic(), **data}) + "\n")
    sys.stdout.flush()


async def main(name: str, url: str, prefix: str, streamers: int) -> None:
    node = ClusterNode(settings(name, url, prefix), PrintingListener())
    await node.start(entries(streamers))
    _emit({"kind": "ready"})
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
