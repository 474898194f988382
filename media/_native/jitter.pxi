# The adaptive jitter buffer of media/jitter.py for 20 ms int16 frames, in C: the same decisions
# (see that module's docstring), with the packets in a small table and the pause test (RtpSession's
# noise-floor rule) built in. Included by media/_native/native.pyx.

cdef enum:
    MAXP = 48  # packets held at most (300 ms is 15; the table never fills)
    WINDOW = 250  # packets in the transit history
    PLAY_SILENCE = 0
    PLAY_AUDIO = 1
    PLAY_CONCEAL = 2


cdef inline int seq_diff(int a, int b) noexcept nogil:
    return ((a - b + 32768) & 0xFFFF) - 32768


cdef inline double frame_rms(const int16_t* x, int n) noexcept nogil:
    """audioop.rms: the root mean square rounded down to an integer."""
    cdef double total = 0
    cdef int i
    if n <= 0:
        return 0.0
    for i in range(n):
        total += <double>x[i] * x[i]
    return <double>(<unsigned int>sqrt(total / n))


cdef double _kth(double* v, int n, int k) noexcept nogil:
    """The k-th smallest of v[0:n] (v is reordered): quickselect."""
    cdef int lo = 0, hi = n - 1, i, j
    cdef double pivot, t
    while lo < hi:
        pivot = v[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                t = v[i]; v[i] = v[j]; v[j] = t
                i += 1; j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return v[k]


cdef class JitterCore:
    """One stream's jitter buffer. ``put`` each packet's samples, ``get`` once per 20 ms tick."""
    cdef object __weakref__
    cdef public double frame_s, min_delay_s, max_delay_s, quantile, margin_s, target_s
    cdef public int clock_rate
    # statistics (media.jitter.JitterStats)
    cdef public long received, played, concealed, lost, late, duplicates, underruns, shrinks, grows, resyncs
    cdef public double delay_sum_s
    cdef double transit[WINDOW]
    cdef double arrivals[WINDOW]
    cdef double scratch[WINDOW]
    cdef int n, pos
    cdef int count
    cdef bint used[MAXP]
    cdef int pseq[MAXP]
    cdef double parr[MAXP]
    cdef int16_t pcm[MAXP][FRAME]
    cdef int next, newest  # -1: none
    cdef bint has_last_ts
    cdef long long last_ts, ext_ts
    cdef int since_estimate
    cdef bint talking, idle
    cdef int dry, quiet_run
    cdef double avg_level
    cdef double floor
    cdef int floor_age

    def __init__(self, *, int frame_ms=20, int clock_rate=8000, int min_delay_ms=20, int max_delay_ms=300,
                 int initial_delay_ms=40, double quantile=0.97, double margin_ms=3.0):
        if frame_ms * clock_rate // 1000 != FRAME:
            raise ValueError("the native jitter buffer holds 160-sample frames")
        if max_delay_ms // frame_ms + 2 >= MAXP:
            raise ValueError(f"max_delay_ms above {(MAXP - 3) * frame_ms}")
        self.frame_s = frame_ms / 1000.0
        self.clock_rate = clock_rate
        self.min_delay_s = min_delay_ms / 1000.0
        self.max_delay_s = max_delay_ms / 1000.0
        self.quantile = quantile
        self.margin_s = margin_ms / 1000.0
        self.target_s = initial_delay_ms / 1000.0
        self.next = self.newest = -1
        self.floor = 1e9

    @property
    def mean_delay_ms(self):
        return 1000 * self.delay_sum_s / self.played if self.played else 0.0

    @property
    def held(self):
        return self.count

    # -- input ---------------------------------------------------------------------------

    cdef int _find(self, int seq) noexcept nogil:
        cdef int i
        for i in range(MAXP):
            if self.used[i] and self.pseq[i] == seq:
                return i
        return -1

    cdef int _oldest(self) noexcept nogil:
        cdef int i, best = -1, d, best_d = 0
        for i in range(MAXP):
            if self.used[i]:
                d = seq_diff(self.pseq[i], self.newest if self.newest >= 0 else self.pseq[i])
                if best < 0 or d < best_d:
                    best, best_d = i, d
        return best

    cdef void _remove(self, int i) noexcept nogil:
        self.used[i] = False
        self.count -= 1

    cpdef void put(self, int seq, unsigned int timestamp, const int16_t[::1] samples, double arrival):
        self.put_c(seq, timestamp, &samples[0], samples.shape[0], arrival)

    cdef void put_c(self, int seq, unsigned int timestamp, const int16_t* samples, int n, double arrival) noexcept nogil:
        cdef int d, i, slot
        self.received += 1
        if self.next >= 0:
            d = seq_diff(seq, self.next)
            if d < -1000 or d > 1000:  # the sender jumped or restarted its sequence
                self._resync()
            elif d < 0:
                self.late += 1
                self._observe(timestamp, arrival, True)  # a late packet is the jitter we failed to cover
                return
        if self._find(seq) >= 0:
            self.duplicates += 1
            return
        slot = 0
        while self.used[slot]:
            slot += 1
        self.used[slot] = True
        self.count += 1
        self.pseq[slot] = seq
        self.parr[slot] = arrival
        if n >= FRAME:
            memcpy(self.pcm[slot], samples, FRAME * sizeof(int16_t))
        elif n > 0:  # another packet time than 20 ms: repeated to one frame (as numpy.resize does)
            for i in range(FRAME):
                self.pcm[slot][i] = samples[i % n]
        else:
            memset(self.pcm[slot], 0, FRAME * sizeof(int16_t))
        if self.newest < 0 or seq_diff(seq, self.newest) > 0:
            self.newest = seq
        self._observe(timestamp, arrival, False)
        # never hold more than the largest delay: the oldest goes (it would be too late anyway)
        while self.count * self.frame_s > self.max_delay_s + self.frame_s:
            i = self._oldest()
            seq = self.pseq[i]
            self._remove(i)
            self.lost += 1
            if self.next >= 0 and seq == self.next:
                self.next = (self.next + 1) & 0xFFFF

    cdef void _observe(self, unsigned int timestamp, double arrival, bint late) noexcept nogil:
        cdef long long step
        cdef int pos
        if self.has_last_ts:
            step = ((<long long>timestamp - self.last_ts + 2147483648LL) & 0xFFFFFFFFLL) - 2147483648LL
            if llabs(step) > self.clock_rate * 60:  # a timestamp jump (hold, restart): measure afresh
                self.n = self.pos = 0
            self.ext_ts += step
        self.has_last_ts = True
        self.last_ts = timestamp
        pos = self.pos
        self.transit[pos] = arrival - <double>self.ext_ts / self.clock_rate
        self.arrivals[pos] = arrival
        self.pos = (pos + 1) % WINDOW
        self.n = min(self.n + 1, WINDOW)
        self.since_estimate += 1
        if self.n >= 10 and (self.since_estimate >= 25 or (late and self.since_estimate >= 3) or self.n < 50):
            self.since_estimate = 0
            self.target_s = min(self.max_delay_s, max(self.min_delay_s, self._spread() + self.margin_s))

    cdef double _spread(self) noexcept nogil:
        """The quantile of relative transit times, with the senders' clock drift (a slope) removed."""
        cdef int n = self.n, i, k
        cdef double mx = 0, my = 0, denom = 0, cov = 0, slope = 0, low, x
        for i in range(n):
            mx += self.arrivals[i]
            my += self.transit[i]
        mx /= n
        my /= n
        for i in range(n):
            x = self.arrivals[i] - mx
            denom += x * x
            cov += x * (self.transit[i] - my)
        if denom > 0:
            slope = cov / denom
        for i in range(n):
            self.scratch[i] = self.transit[i] - (self.arrivals[i] - mx) * slope
        low = self.scratch[0]
        for i in range(1, n):
            if self.scratch[i] < low:
                low = self.scratch[i]
        k = min(n - 1, <int>(self.quantile * n))
        return _kth(self.scratch, n, k) - low

    cdef void _resync(self) noexcept nogil:
        cdef int i
        for i in range(MAXP):
            self.used[i] = False
        self.count = 0
        self.next = self.newest = -1
        self.has_last_ts = False
        self.n = self.pos = 0
        self.resyncs += 1

    # -- output --------------------------------------------------------------------------

    @property
    def level_frames(self):
        return self._level()

    cdef int _level(self) noexcept nogil:
        if self.next < 0 or self.newest < 0 or self.count == 0:
            return 0
        return max(0, seq_diff(self.newest, self.next) + 1)

    @property
    def target_frames(self):
        return self._target_frames()

    cdef int _target_frames(self) noexcept nogil:
        return max(2, <int>ceil(self.target_s / self.frame_s - 0.25))

    cdef bint _quiet(self, const int16_t* pcm) noexcept nogil:
        """A frame at the line's noise floor (or below -50 dBFS): it may be stretched or skipped."""
        cdef double level = frame_rms(pcm, FRAME)
        self.floor_age += 1
        if level < self.floor or self.floor_age > 150:  # the floor forgets after 3 s
            self.floor, self.floor_age = max(level, 1.0), 0
        return level < max(100.0, 2.0 * self.floor)

    def get(self, double now):
        """(kind, samples): kind 0 silence, 1 audio (samples: the packet's), 2 conceal."""
        cdef int16_t[::1] out
        frame = np.empty(FRAME, np.int16)
        out = frame
        kind = self.get_c(now, &out[0])
        return kind, (frame if kind == PLAY_AUDIO else None)

    cdef int get_c(self, double now, int16_t* out) noexcept nogil:
        """What to play for the tick at ``now``; the samples go to ``out`` for PLAY_AUDIO."""
        cdef int first, level, target, i
        cdef bint quiet, pause
        cdef double arrival
        while True:
            if self.next < 0 or self.idle:
                if self.count == 0:
                    return PLAY_SILENCE
                first = self._oldest()
                if now - self.parr[first] + self.frame_s < self.target_s:
                    return PLAY_SILENCE  # (re)fill up to the target delay before a talkspurt
                self.next = self.pseq[first]
                self.idle = False
            if self.count == 0:
                return self._underrun()
            level, target = self._level(), self._target_frames()
            self.avg_level += 0.1 * (level - self.avg_level)  # the level jitters by a frame tick to tick
            i = self._find(self.next)
            if i < 0:
                if level < target and self.talking:
                    # not too late for it yet: conceal one frame and wait (the delay grows by one frame)
                    self.underruns += 1
                    return self._conceal(False)
                self.lost += 1  # a hole with later packets waiting, at its playout time: lost
                return self._conceal(True)
            quiet = self._quiet(self.pcm[i])
            pause = quiet and self.quiet_run >= 2  # inside a pause, not a quiet moment within a word
            if self.avg_level > target + 1 and level > target and pause and self._find((self.next + 1) & 0xFFFF) >= 0:
                self._drop(i)
                self.avg_level -= 1
                self.shrinks += 1
                continue
            if level > target + 6:  # far too much (a burst after a stall): cut even in speech
                self._drop(i)
                self.shrinks += 1
                continue
            if self.avg_level < target - 0.5 and level <= target and pause:
                self.avg_level += 1
                self.grows += 1
                return PLAY_SILENCE  # wait one frame in a pause: the delay grows unheard
            memcpy(out, self.pcm[i], FRAME * sizeof(int16_t))
            arrival = self.parr[i]
            self._remove(i)
            self.next = (self.next + 1) & 0xFFFF
            self.played += 1
            self.delay_sum_s += max(0.0, now - arrival)
            self.talking = not quiet
            self.quiet_run = self.quiet_run + 1 if quiet else 0
            self.dry = 0
            return PLAY_AUDIO

    cdef void _drop(self, int i) noexcept nogil:
        self._remove(i)
        self.next = (self.next + 1) & 0xFFFF

    cdef int _underrun(self) noexcept nogil:
        self.dry += 1
        if self.talking and self.dry <= 3:
            self.underruns += 1
            return self._conceal(False)
        self.talking = False
        self.idle = True
        return PLAY_SILENCE

    cdef int _conceal(self, bint advance) noexcept nogil:
        self.concealed += 1
        if advance:
            self.next = (self.next + 1) & 0xFFFF
        return PLAY_CONCEAL
