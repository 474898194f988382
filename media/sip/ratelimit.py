"""Per-source rate limiting of new SIP requests (an INVITE or OPTIONS flood). Sans-IO.

A token bucket per source address: ``rate`` requests per second on average, bursts up to
``burst``. The table of sources is bounded; the least recently seen are forgotten first."""

from __future__ import annotations

from collections import OrderedDict


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_sources: int = 10000):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # source -> (tokens, at)
        self.limited = 0  # requests refused so far

    def allow(self, source: str, now: float) -> bool:
        tokens, at = self._buckets.pop(source, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        else:
            self.limited += 1
        self._buckets[source] = (tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return ok

    def retry_after(self) -> int:
        """Seconds a refused source should wait (for Retry-After)."""
        return max(1, int(round(1.0 / self.rate)))
