# The media clock's inner loop (media/clock.py) in C: tick one slot's members, each counted in the
# lateness histogram; an RtpLane is ticked without a Python call. Included by native.pyx.

cdef enum:
    MAX_EDGES = 32

media_log = logging.getLogger("frontdesk.media")


cdef class LatenessCounter:
    """How late each member's tick ran (s): counts per histogram bucket and their sum."""
    cdef double edges[MAX_EDGES]
    cdef long long counts_[MAX_EDGES + 1]
    cdef int n
    cdef public double total

    def __init__(self, edges):
        if len(edges) > MAX_EDGES:
            raise ValueError("too many buckets")
        self.n = len(edges)
        for i, edge in enumerate(edges):
            self.edges[i] = edge

    @property
    def counts(self):
        """Per bucket (not cumulative): the i-th for edges[i-1] < late <= edges[i], the last above all."""
        return [self.counts_[i] for i in range(self.n + 1)]

    cdef inline void add(self, double late) noexcept nogil:
        cdef int i = 0
        while i < self.n and late > self.edges[i]:  # bisect_left: the first edge >= late
            i += 1
        self.counts_[i] += 1
        self.total += late


def tick_slot(list members, double due, LatenessCounter counter):
    """Tick each member (``tick(due)``), lateness counted first; returns the members whose tick
    raised (logged), for the clock to drop, or None."""
    failed = None
    for member in tuple(members):
        counter.add(_clock(CLOCK_MONOTONIC) - due)
        try:
            if type(member) is RtpLane:
                (<RtpLane>member).tick(due)
            else:
                member.tick(due)
        except Exception:  # one broken call must not stop the others' media
            media_log.exception("media tick failed; the call is dropped from the clock")
            if failed is None:
                failed = []
            failed.append(member)
    return failed
