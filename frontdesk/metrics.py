"""Prometheus metrics for `/metrics`: the report's measures (no-show rates too), plus live calls, RTP and model queues.

Collected at scrape time. The database measures are cached for a few seconds, so a scraper
polling often costs one query per interval."""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from tools.attendance import complaint_count, no_show_rates
from tools.records import OUTCOMES, RecordStore


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _load_mallinfo2():
    try:
        fn = ctypes.CDLL(None).mallinfo2  # glibc 2.33 and later
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    return fn


_mallinfo2 = _load_mallinfo2()


def heap_stats() -> dict[str, int] | None:
    """The C heap, from glibc: bytes in use (malloc'd and not freed, mmap'd blocks included) and
    bytes freed but kept by the allocator for reuse. RSS that grows while ``in_use`` stays flat is
    the allocator keeping freed memory (fragmentation), not a leak. None off glibc."""
    if _mallinfo2 is None:
        return None
    info = _mallinfo2()
    return {"in_use": info.uordblks + info.hblkhd, "free": info.fordblks}


class _Collector:
    def __init__(self, store: RecordStore, live: Callable[[], dict[str, Any]], cache_s: float = 5.0):
        self.store = store
        self.live = live
        self.cache_s = cache_s
        self._report: dict | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def report(self) -> dict:
        with self._lock:
            if self._report is None or time.monotonic() - self._at > self.cache_s:
                self._report = self.store.report()
                self._report["no_shows"] = no_show_rates(self.store.engine)
                self._report["complaints"] = complaint_count(self.store.engine)
                self._at = time.monotonic()
            return self._report

    def collect(self):
        r = self.report()
        calls = CounterMetricFamily("frontdesk_calls", "Calls recorded, by outcome", labels=["outcome"])
        for outcome in OUTCOMES:
            calls.add_metric([outcome], r["outcomes"].get(outcome, 0))
        yield calls
        yield CounterMetricFamily("frontdesk_calls_answered", "Calls answered", value=r["answered"])
        yield CounterMetricFamily("frontdesk_calendar_tool_failures", "Calendar tool calls that failed",
                                  value=r["calendar_tool_failures"])
        for name, key, doc in (
                ("frontdesk_answer_rate", "answer_rate", "Share of calls answered"),
                ("frontdesk_call_duration_seconds_avg", "average_duration_s", "Average answered call duration"),
                ("frontdesk_booking_completion_rate", "booking_completion_rate", "Booking calls that ended booked"),
                ("frontdesk_handoff_rate", "handoff_rate", "Share of calls transferred or turned into callbacks"),
                ("frontdesk_misunderstandings_per_call", "misunderstandings_per_call",
                 "Reprompts and low-confidence turns per call"),
                ("frontdesk_turn_latency_p50_ms", "latency_p50_ms", "Median of the calls' median turn latency"),
                ("frontdesk_turn_latency_p95_ms", "latency_p95_ms", "Worst call's p95 turn latency"),
                ("frontdesk_survey_score_avg", "survey_average", "Average answer (1-5) to the end-of-call question")):
            if r.get(key) is not None:
                yield GaugeMetricFamily(name, doc, value=r[key])
        rate = GaugeMetricFamily("frontdesk_no_show_rate", "No-shows over past appointments staff marked, by who "
                                 "booked (agent, staff) and whether the reminder was confirmed", labels=["group"])
        for group, g in r.get("no_shows", {}).items():
            if g["rate"] is not None:
                rate.add_metric([group], g["rate"])
        yield rate
        yield CounterMetricFamily("frontdesk_complaints", "Callers who complained (a callback task each)",
                                  value=r.get("complaints", 0))
        placed = CounterMetricFamily("frontdesk_reminder_calls", "Reminder calls placed, by how they went",
                                     labels=["result"])
        for result, n in r.get("reminder_calls", {}).items():
            placed.add_metric([result], n)
        yield placed
        live = self.live()
        yield GaugeMetricFamily("frontdesk_active_calls", "Calls in progress", value=live.get("active_calls", 0))
        if live.get("tick_lateness"):
            buckets, total = live["tick_lateness"]
            yield HistogramMetricFamily(
                "frontdesk_media_tick_lateness_seconds",
                "How late each call's 20 ms media frame was handled against its schedule (all calls)",
                buckets=[("+Inf" if edge == float("inf") else repr(edge), n) for edge, n in buckets], sum_value=total)
        if live.get("clock_stalls"):
            stalls = CounterMetricFamily(
                "frontdesk_media_clock_stalls", "Times the media clock stalled over 20 ms (packets 40 ms apart on every "
                "call), by cause: busy (the event loop had more work than time) or off_cpu (the process was not running)",
                labels=["cause"])
            for cause, n in zip(("busy", "off_cpu"), live["clock_stalls"]):
                stalls.add_metric([cause], n)
            yield stalls
        lost = GaugeMetricFamily("frontdesk_rtp_lost_packets", "Incoming RTP packets lost, live calls summed",
                                 value=live.get("rtp_lost", 0))
        yield lost
        yield GaugeMetricFamily("frontdesk_rtp_jitter_ms", "Highest interarrival jitter among live calls (ms)",
                                value=live.get("rtp_jitter_ms", 0.0))
        yield GaugeMetricFamily("frontdesk_event_loop_tasks", "Tasks on the server's event loop", value=live.get("tasks", 0))
        yield GaugeMetricFamily("frontdesk_rtp_ports_in_use", "RTP ports held by calls", value=live.get("rtp_ports", 0))
        yield GaugeMetricFamily("frontdesk_sip_transactions", "SIP transactions and dialogs held",
                                value=live.get("sip_transactions", 0))
        yield CounterMetricFamily("frontdesk_sip_overload_rejected", "New INVITEs refused with 503 because they "
                                  "waited too long to be read (sip.overload_backlog_ms)",
                                  value=live.get("overload_rejected", 0))
        heap = heap_stats()
        if heap is not None:
            yield GaugeMetricFamily("frontdesk_heap_in_use_bytes", "C heap in use (glibc mallinfo2; Python's "
                                    "small objects live in its own arenas, outside this)", value=heap["in_use"])
            yield GaugeMetricFamily("frontdesk_heap_free_bytes", "C heap freed but kept by the allocator for reuse",
                                    value=heap["free"])
        depth = GaugeMetricFamily("frontdesk_model_queue_depth", "Jobs waiting per model worker", labels=["engine"])
        for engine, n in live.get("queues", {}).items():
            depth.add_metric([engine], n)
        yield depth


class Metrics:
    def __init__(self, store: RecordStore, live: Callable[[], dict[str, Any]]):
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(store, live))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
