"""Several bridge instances sharing one streamer list, coordinated through Redis.

A side layer: it depends only on ``redis`` (the ``cluster`` extra) and the standard
library, and nothing here imports the rest of the bridge. The core drives it through
``ClusterNode`` and an ``OwnershipListener`` (see docs/cluster.md).
"""

from bridge.cluster.budget import SharedBudget
from bridge.cluster.clock import SYSTEM_CLOCK, Clock, SystemClock
from bridge.cluster.coordinator import Handover, OwnershipListener, StopReason
from bridge.cluster.dedupe import DedupeStore
from bridge.cluster.node import ClusterNode
from bridge.cluster.settings import ClusterSettings, ClusterSettingsError
from bridge.cluster.streamers import StoreSnapshot, StreamerEntry, StreamerStore
from bridge.cluster.view import ClusterView, MemberView

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "ClusterNode",
    "ClusterSettings",
    "ClusterSettingsError",
    "ClusterView",
    "DedupeStore",
    "Handover",
    "MemberView",
    "OwnershipListener",
    "SharedBudget",
    "StopReason",
    "StoreSnapshot",
    "StreamerEntry",
    "StreamerStore",
    "SystemClock",
]
