# media/rtcp.py's ReceiverStats in C (RFC 3550 A.1, A.3, A.8): what we know about the peer's
# stream, for our RTCP reports and the call record. Included by media/_native/native.pyx.


cdef class ReceiverStats:
    """Drop-in for media.rtcp.ReceiverStats (see there), fed by the lane in C."""
    cdef object __weakref__
    cdef public int clock_rate
    cdef bint has_base, has_transit
    cdef public long long max_seq, cycles, received, last_sr_middle
    cdef long long _base_seq, _expected_prior, _received_prior
    cdef public double jitter  # timestamp units
    cdef double _transit
    cdef public object last_sr_at

    def __init__(self, int clock_rate=8000):
        self.clock_rate = clock_rate
        self.reset()

    def reset(self):
        self.has_base = self.has_transit = False
        self.max_seq = self.cycles = self.received = self.last_sr_middle = 0
        self._base_seq = self._expected_prior = self._received_prior = 0
        self.jitter = 0.0
        self.last_sr_at = None

    @property
    def base_seq(self):
        return self._base_seq if self.has_base else None

    def on_packet(self, int seq, unsigned int timestamp, double arrival, bint timing=True):
        self.on_packet_c(seq, timestamp, arrival, timing)

    cdef void on_packet_c(self, int seq, unsigned int timestamp, double arrival, bint timing) noexcept:
        cdef double transit, d
        if not self.has_base:
            self.has_base = True
            self._base_seq = self.max_seq = seq
        elif ((seq - self.max_seq) & 0xFFFF) < 0x8000:  # in order (or a jump ahead)
            if seq < self.max_seq:
                self.cycles += 1 << 16
            self.max_seq = seq
        self.received += 1
        if not timing:
            return
        transit = arrival * self.clock_rate - timestamp
        if self.has_transit:
            d = fabs(transit - self._transit)
            if d < self.clock_rate * 10:  # not across a timestamp jump (hold, a new talkspurt clock)
                self.jitter += (d - self.jitter) / 16
        self._transit = transit
        self.has_transit = True

    @property
    def extended_max(self):
        return self.cycles + self.max_seq

    @property
    def expected(self):
        return self._expected()

    cdef long long _expected(self):
        return 0 if not self.has_base else self.cycles + self.max_seq - self._base_seq + 1

    @property
    def cumulative_lost(self):
        return max(0, self._expected() - self.received)

    def block(self, ssrc, double now):
        from media.rtcp import ReportBlock
        expected, received = self._expected(), self.received
        exp_int, rec_int = expected - self._expected_prior, received - self._received_prior
        self._expected_prior, self._received_prior = expected, received
        lost_int = exp_int - rec_int
        fraction = 0 if exp_int <= 0 or lost_int <= 0 else min(255, (lost_int << 8) // exp_int)
        dlsr = int((now - self.last_sr_at) * 65536) if self.last_sr_at is not None else 0
        return ReportBlock(ssrc, fraction, min(self.cumulative_lost, 0x7FFFFF), self.extended_max & 0xFFFFFFFF,
                           int(self.jitter), self.last_sr_middle, dlsr)

    def on_sender_report(self, report, double arrival):
        if report.ntp is not None:
            hi, lo = report.ntp
            self.last_sr_middle = ((hi & 0xFFFF) << 16) | (lo >> 16)
            self.last_sr_at = arrival
