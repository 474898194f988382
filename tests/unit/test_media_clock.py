"""The shared media clock: every member ticks once per 20 ms on its own grid, and when the clock
falls behind it says why (the event loop had more work than time, or the process was not running)."""

from __future__ import annotations

import asyncio
import logging
import time

from media.clock import MediaClock


class Member:
    def __init__(self, hold: str | None = None, at: int = 10):
        self.dues: list[float] = []
        self.hold, self.at = hold, at

    def tick(self, due: float) -> None:
        self.dues.append(due)
        if self.hold and len(self.dues) == self.at:
            if self.hold == "cpu":  # work on the loop: this thread on the CPU for 35 ms
                end = time.thread_time() + 0.035
                while time.thread_time() < end:
                    pass
            else:  # the loop blocked, this thread off the CPU (as when the process is not scheduled)
                time.sleep(0.035)


def run_clock(*members: Member, seconds: float = 0.6) -> MediaClock:
    async def main() -> MediaClock:
        clock = MediaClock()
        for m in members:
            clock.add(m)
        await asyncio.sleep(seconds)
        for m in members:
            clock.remove(m)
        await asyncio.sleep(0.03)
        return clock
    return asyncio.run(main())


def test_each_member_keeps_its_own_20ms_grid():
    members = [Member() for _ in range(25)]
    clock = run_clock(*members)
    for m in members:
        assert len(m.dues) >= 20
        steps = {round((b - a) * 1000, 6) for a, b in zip(m.dues, m.dues[1:])}
        assert steps == {20.0}, steps
    # 25 calls over 10 slots: no slot holds more than 3
    assert max(len(s) for s in clock._members) <= 3 or not clock._slot_of
    assert clock.stalls_busy == 0  # (the host may still deschedule the process: off_cpu is not asserted)


def test_falling_behind_is_counted_and_explained(caplog):
    caplog.set_level(logging.WARNING, logger="frontdesk.media")
    busy = run_clock(Member("cpu"), Member())
    assert busy.stalls_busy == 1  # one episode, however many slots it took to catch up
    assert "the event loop was busy" in caplog.text and "more work than time" in caplog.text
    caplog.clear()
    off = run_clock(Member("sleep"), Member())
    assert off.stalls_busy == 0 and off.stalls_off_cpu >= 1
    assert "other processes or the host had it" in caplog.text
