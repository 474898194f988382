"""One 20 ms media clock for every call in the process.

A timer per call (asyncio.sleep in a task each 20 ms) costs a timer handle, a future and a task
step per packet, and hundreds of timers due at nearly the same instants wake the loop late for all
of them. Here one task drives every call: the 20 ms period is cut into slots (2 ms each by
default), each call is placed in the least busy slot when it starts, and when a slot comes due the
clock ticks its calls one after another. Packets of different calls are spread across the period,
and each call keeps its own exact 20 ms grid.

A member is anything with ``tick(due: float)`` (``due``: the loop time its frame was due).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from time import thread_time
from typing import Protocol

try:  # the loop over a slot's members in C (media/_native/ticker.pxi)
    from ._native.native import LatenessCounter, tick_slot
except ImportError:  # pragma: no cover - a source tree without the build
    LatenessCounter = tick_slot = None

log = logging.getLogger("frontdesk.media")
PERIOD_S = 0.020
STALL_S = 0.020  # a slot this late: its calls' packets leave 40 ms after their last
# upper bounds (s) of the tick lateness histogram (how late each call's frame was handled)
LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.010, 0.015, 0.020, 0.030, 0.050, 0.100)


class Ticking(Protocol):
    def tick(self, due: float) -> None: ...


class MediaClock:
    def __init__(self, slots: int = 10):
        self.slots = slots
        self._members: list[list[Ticking]] = [[] for _ in range(slots)]
        self._slot_of: dict[int, int] = {}
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self.resyncs = 0
        self._counter = LatenessCounter(LATENESS_BUCKETS) if LatenessCounter is not None else None
        self.lateness_counts = [0] * (len(LATENESS_BUCKETS) + 1)  # the last: above every bound
        self.lateness_sum = 0.0
        # Times the clock fell over STALL_S behind (each call's next packet then leaves 40 ms or
        # more after its last), by cause, judged by this thread's share of the CPU since the clock
        # last slept: busy (more work than time on the event loop) or off_cpu (the process was
        # not running: other processes, or the host, had the CPU).
        self.stalls_busy = 0
        self.stalls_off_cpu = 0
        self._stall_logged = -1e9

    def lateness(self) -> tuple[list[tuple[float, int]], float]:
        """Cumulative (upper bound, count) pairs, the last with bound inf, and the sum (s)."""
        counts, total_s = self.lateness_counts, self.lateness_sum
        if self._counter is not None:
            counts = [a + b for a, b in zip(counts, self._counter.counts)]
            total_s += self._counter.total
        out, total = [], 0
        for edge, n in zip((*LATENESS_BUCKETS, float("inf")), counts):
            total += n
            out.append((edge, total))
        return out, total_s

    def __len__(self) -> int:
        return len(self._slot_of)

    def add(self, member: Ticking) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._t0 = loop.time()
            self._task = loop.create_task(self._run())
        slot = min(range(self.slots), key=lambda i: len(self._members[i]))
        self._members[slot].append(member)
        self._slot_of[id(member)] = slot

    def remove(self, member: Ticking) -> None:
        slot = self._slot_of.pop(id(member), None)
        if slot is not None:
            try:
                self._members[slot].remove(member)
            except ValueError:
                pass

    def _fell_behind(self, late: float, wall: float, cpu: float, now: float, ticks: float = 0.0) -> None:
        busy = cpu > wall / 2
        if busy:
            self.stalls_busy += 1
        else:
            self.stalls_off_cpu += 1
        if now - self._stall_logged >= 1.0:
            self._stall_logged = now
            share = (f"{100 * cpu / wall:.0f}% of the CPU, {100 * ticks / wall:.0f}% in the calls' media ticks"
                     if wall > 0 else "no time")
            log.warning("media clock %.0f ms behind with %d calls: %s in the last %.0f ms", late * 1000,
                        len(self._slot_of), f"the event loop was busy ({share}): more work than time" if busy else
                        f"the process got {share}: other processes or the host had it", wall * 1000)

    def _tick_slot(self, members: list[Ticking], due: float, loop: asyncio.AbstractEventLoop) -> None:
        """What media/_native's tick_slot does, in Python."""
        counts, edges = self.lateness_counts, LATENESS_BUCKETS
        for member in tuple(members):
            late = loop.time() - due
            counts[bisect.bisect_left(edges, late)] += 1
            self.lateness_sum += late
            try:
                member.tick(due)
            except Exception:  # one broken call must not stop the others' media
                log.exception("media tick failed; the call is dropped from the clock")
                self.remove(member)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        step = PERIOD_S / self.slots
        k = 0  # slot ticks since t0
        # Since the clock last had nothing to do (the due time it slept to): the wall time it
        # wanted the CPU, this thread's CPU time and the members' ticks' time in it (all told:
        # `ticking`), for judging a stall's cause.
        want_from, cpu_from, ticks_from, behind = loop.time(), thread_time(), 0.0, False
        ticking = 0.0
        while self._slot_of:
            due = self._t0 + k * step
            delay = due - loop.time()
            if delay > 0:
                want_from, cpu_from, ticks_from, behind = due, thread_time(), ticking, False
                await asyncio.sleep(delay)
            elif delay < -0.2:  # far behind (the process was stopped): start the grid afresh
                if not behind:
                    self._fell_behind(-delay, loop.time() - want_from, thread_time() - cpu_from, loop.time(),
                                      ticking - ticks_from)
                want_from, cpu_from, ticks_from, behind = loop.time(), thread_time(), ticking, False
                self.resyncs += 1
                self._t0, k = loop.time(), 0
                continue
            now = loop.time()
            if now - due > STALL_S and not behind:
                behind = True
                self._fell_behind(now - due, now - want_from, thread_time() - cpu_from, now, ticking - ticks_from)
            if self._counter is not None:
                for member in tick_slot(self._members[k % self.slots], due, self._counter) or ():
                    self.remove(member)
            else:
                self._tick_slot(self._members[k % self.slots], due, loop)
            ticking += loop.time() - now
            k += 1
        self._task = None  # no calls: the clock sleeps until the next one starts


_clock: MediaClock | None = None


def media_clock() -> MediaClock:
    """The process's clock (one event loop runs the media of every call)."""
    global _clock
    if _clock is None:
        _clock = MediaClock()
    return _clock
