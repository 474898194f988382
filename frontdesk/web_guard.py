"""The dashboard port's defences against being held open by strangers.

The dashboard port is the one the docs expose to Twilio, so it is reachable by anyone who can
reach the webhook. Half-sent requests used to hold a file descriptor each for ever: 1,100 of them
exhausted the process's descriptors, so staff could not log in and SIP calls got 503 (no socket
for RTP). Here, each connection:

* must deliver a whole request (headers and body) within REQUEST_TIMEOUT_S of its start (or of
  the previous response, on a kept-alive connection); a slow or stalled one is closed;
* counts against its source address: at most PER_SOURCE at once;
* is refused while fewer than FD_RESERVE descriptors are left below the process's limit, which
  keeps room for calls (SIP, RTP sockets, the database) whatever the web port is sent.

Repeated log lines (an accept loop failing the same way thousands of times a second) are folded
into one line and a count per interval by RepeatFilter.
"""

from __future__ import annotations

import logging
import os
import resource
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("frontdesk.web")
REQUEST_TIMEOUT_S = 10.0
PER_SOURCE = 32
FD_RESERVE = 256


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def descriptor_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a request deadline, a per-source cap and a descriptor
    reserve (passed as uvicorn's ``http``)."""

    by_source: dict[str, int] = {}
    refused = 0
    timed_out = 0
    per_source = PER_SOURCE
    request_timeout_s = REQUEST_TIMEOUT_S

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._source = self.client[0] if self.client else ""
        self._deadline = None
        self._counted = False
        cls = GuardedH11Protocol
        if cls.by_source.get(self._source, 0) >= cls.per_source or open_descriptors() > descriptor_limit() - FD_RESERVE:
            cls.refused += 1
            log.warning("web: connection from %s refused (%d from it already, %d descriptors open)", self._source,
                        cls.by_source.get(self._source, 0), open_descriptors())
            transport.abort()
            return
        cls.by_source[self._source] = cls.by_source.get(self._source, 0) + 1
        self._counted = True
        self._arm()

    def _release(self) -> None:
        if self._counted:
            self._counted = False
            n = GuardedH11Protocol.by_source.get(self._source, 1) - 1
            if n > 0:
                GuardedH11Protocol.by_source[self._source] = n
            else:
                GuardedH11Protocol.by_source.pop(self._source, None)
        self._disarm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            GuardedH11Protocol.timed_out += 1
            log.info("web: request from %s not complete within %.0f s; closed", self._source, self.request_timeout_s)
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the whole request is in: the response may take its time

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # a kept-alive connection must send its next request in time too

    def handle_websocket_upgrade(self, event) -> None:
        self._release()  # a WebSocket (a Media Stream) has limits of its own
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc) -> None:
        self._release()
        super().connection_lost(exc)


class RepeatFilter(logging.Filter):
    """Lets the first few of each repeated log message through per interval, then counts the rest
    and says how many were folded in the next line of that message."""

    def __init__(self, per_interval: int = 5, interval_s: float = 10.0, clock=time.monotonic):
        super().__init__()
        self.per_interval = per_interval
        self.interval_s = interval_s
        self.clock = clock
        self._seen: dict[tuple, list] = {}  # key -> [window start, count, folded]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = self.clock()
        entry = self._seen.get(key)
        if entry is None or now - entry[0] >= self.interval_s:
            folded = entry[2] if entry else 0
            self._seen[key] = [now, 1, 0]
            if len(self._seen) > 2000:
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.interval_s}
            if folded:
                record.msg = f"{record.msg} [{folded} more like this in the last {self.interval_s:.0f} s]"
            return True
        entry[1] += 1
        if entry[1] <= self.per_interval:
            return True
        entry[2] += 1
        return False


def web_limits(cfg) -> dict:
    """uvicorn settings for the dashboard port (and the process's descriptor limit raised to its
    hard limit, so that the reserve is a small part of it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    GuardedH11Protocol.per_source = cfg.dashboard.connections_per_source
    GuardedH11Protocol.request_timeout_s = cfg.dashboard.request_timeout_s
    return {"http": GuardedH11Protocol, "timeout_keep_alive": 5, "h11_max_incomplete_event_size": 64 * 1024}
