"""Confine a process to a fraction of one CPU core: a stand-in for a slower machine.

A Raspberry Pi 3 / Zero 2 W core (Cortex-A53, 1-1.4 GHz) runs Python several times slower
than one core of the bench machine; giving the daemon that fraction of one core shows how
it behaves when decoding and publishing have that little CPU. It is a stand-in, not a Pi:
memory bandwidth, caches and the network stack are the bench machine's.

How, in order of preference (``Confinement.method`` says which one was used):

* a cgroup CPU quota (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``) in a child cgroup made for
  the process (needs write access to the cgroup tree, e.g. root in a container), plus
  ``sched_setaffinity`` to one core, so the quota is a share of *one* core;
* otherwise ``sched_setaffinity`` to one core plus a duty cycle: the process gets SIGCONT
  for ``fraction`` of every 10 ms and SIGSTOP for the rest (coarser: a stopped process
  cannot even read its socket, so latency percentiles get a 10 ms granularity).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path
from types import TracebackType

CGROUP = Path("/sys/fs/cgroup")
PERIOD_US = 100_000  # cgroup period
DUTY_PERIOD_S = 0.010


class Confinement:
    """``with Confinement(pid, 0.2):`` — the process gets at most 20 % of one core."""

    def __init__(self, pid: int, fraction: float, *, core: int | None = None) -> None:
        if not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        self.pid = pid
        self.fraction = fraction
        self.core = core if core is not None else min(os.sched_getaffinity(0))
        self.method = ""
        self._group: Path | None = None
        self._parent_procs: Path | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Confinement:
        os.sched_setaffinity(self.pid, {self.core})
        if self._try_cgroup():
            return self
        self.method = (
            f"taskset to core {self.core} + SIGSTOP/SIGCONT duty cycle "
            f"({self.fraction:.0%} of every {DUTY_PERIOD_S * 1000:g} ms)"
        )
        self._thread = threading.Thread(target=self._duty_cycle, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Undo the cap (the process keeps running, unconfined)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGCONT)
        if self._group is not None:
            if self._parent_procs is not None:
                with contextlib.suppress(OSError):
                    self._parent_procs.write_text(str(self.pid))
            with contextlib.suppress(OSError):
                self._group.rmdir()
            self._group = None

    # -------------------------------------------------------------------- internals

    def _try_cgroup(self) -> bool:
        quota = int(PERIOD_US * self.fraction)
        v2 = CGROUP / "cgroup.controllers"
        try:
            if v2.exists() and "cpu" in v2.read_text().split():
                group = CGROUP / f"tiktok2mqtt-bench-{self.pid}"
                group.mkdir()
                self._group, self._parent_procs = group, CGROUP / "cgroup.procs"
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
                kind = "cgroup v2 cpu.max"
            elif (CGROUP / "cpu" / "cpu.cfs_quota_us").exists():
                group = CGROUP / "cpu" / f"tiktok2mqtt-bench-{self.pid}"
                group.mkdir()
                self._group, self._parent_procs = group, CGROUP / "cpu" / "cgroup.procs"
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(quota))
                kind = "cgroup v1 cpu.cfs_quota_us"
            else:
                return False
            (group / "cgroup.procs").write_text(str(self.pid))
        except OSError:
            self.release()
            return False
        self.method = (
            f"{kind} {quota} µs per {PERIOD_US} µs ({self.fraction:.0%} of a core) "
            f"+ taskset to core {self.core}"
        )
        return True

    def _duty_cycle(self) -> None:
        run_s = DUTY_PERIOD_S * self.fraction
        while not self._stop.is_set():
            try:
                os.kill(self.pid, signal.SIGCONT)
                time.sleep(run_s)
                if self.fraction < 1:
                    os.kill(self.pid, signal.SIGSTOP)
                    time.sleep(DUTY_PERIOD_S - run_s)
            except ProcessLookupError:
                return
