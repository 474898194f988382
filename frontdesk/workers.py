"""Model work shared by all calls: one thread per engine, most urgent job first, bounded.

Each engine (ASR, LLM, TTS) owns one worker thread, so a model is never used from two threads
and never from the media event loop. Jobs carry a priority; among equals the oldest runs first.
A full queue refuses new work (``Overloaded``) instead of letting every call wait longer.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable

log = logging.getLogger("frontdesk.workers")

FIRST_AUDIO = 0  # the first piece of a reply's speech
TURN = 1  # recognising an ended turn, deciding the reply
LATER = 2  # the rest of a reply's speech
SPECULATIVE = 3  # recognition started before the turn is known to be over


MODEL_NICENESS = 5  # model threads yield the CPU to the media loop (RTP pacing)


class Overloaded(RuntimeError):
    pass


class EngineFailure(RuntimeError):
    """A model did not answer in time, or its job raised: the call cannot go on normally."""


def lower_thread_priority(niceness: int = MODEL_NICENESS) -> None:
    """Make the calling thread (and the threads it starts later: the models' own pools) nicer.
    Linux applies nice values per thread; raising one needs no privileges."""
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
    except (AttributeError, OSError) as exc:  # not Linux, or not allowed: pacing is then best effort
        log.debug("cannot lower thread priority: %s", exc)


class PriorityWorker:
    def __init__(self, name: str, max_pending: int = 32):
        self.name = name
        self.max_pending = max_pending
        self._heap: list[tuple[int, int, Future, Callable, tuple, float]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self.busy_s = 0.0
        self.jobs = 0
        self._thread = threading.Thread(target=self._run, name=f"{name}-worker", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return len(self._heap)

    def submit(self, priority: int, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise Overloaded(f"{self.name} worker is shut down")
            if len(self._heap) >= self.max_pending:
                raise Overloaded(f"{self.name} queue is full ({self.max_pending} jobs waiting)")
            heapq.heappush(self._heap, (priority, next(self._seq), future, fn, args, time.monotonic()))
            self._cond.notify()
        return future

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run on the worker thread and wait (for start-up work, off the event loop)."""
        return self.submit(TURN, fn, *args).result()

    def _run(self) -> None:
        lower_thread_priority()
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if self._closed and not self._heap:
                    return
                _prio, _seq, future, fn, args, _queued = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            started = time.monotonic()
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # delivered to whoever waits on it
                future.set_exception(exc)
            finally:
                self.busy_s += time.monotonic() - started
                self.jobs += 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for entry in self._heap:
                entry[2].cancel()
            self._heap.clear()
            self._cond.notify_all()
