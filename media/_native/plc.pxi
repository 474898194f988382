# media/plc.py's G.711 concealment (pitch waveform substitution, in the spirit of G.711 Appendix I)
# in C: the same pitch search, period loops, fade and cross-fade. Included by native.pyx.

cdef enum:
    PITCH_MIN = 40  # 200 Hz
    PITCH_MAX = 120  # 66.7 Hz
    CORR_LEN = 160  # 20 ms matched when searching the pitch
    HISTORY = 3 * PITCH_MAX + CORR_LEN // 2
    FADE_START = 80  # samples (10 ms) at full level
    FADE_STEP = 80  # then 20% less every 10 ms
    SILENT_AFTER = FADE_START + 5 * FADE_STEP  # 60 ms


cdef inline int16_t _to_int16(double x) noexcept nogil:
    """numpy's clip to int16's range, then astype(int16) (which truncates towards zero)."""
    if x < -32768.0:
        x = -32768.0
    elif x > 32767.0:
        x = 32767.0
    return <int16_t>x


cdef int find_pitch_c(const double* x) noexcept nogil:
    """The lag in PITCH_MIN..PITCH_MAX whose normalised correlation with the last CORR_LEN samples
    of the history ``x`` (HISTORY samples) is highest."""
    cdef const double* tail = x + HISTORY - CORR_LEN
    cdef const double* seg
    cdef double energy_tail = 1e-9, energy, dot, score, best_score = -1e300
    cdef int lag, i, best = PITCH_MIN
    for i in range(CORR_LEN):
        energy_tail += tail[i] * tail[i]
    for lag in range(PITCH_MIN, PITCH_MAX + 1):
        seg = tail - lag
        energy, dot = 1e-9, 0.0
        for i in range(CORR_LEN):
            energy += seg[i] * seg[i]
            dot += tail[i] * seg[i]
        score = dot / sqrt(energy * energy_tail)
        if score > best_score:
            best, best_score = lag, score
    return best


cdef class Concealer:
    """Drop-in for media.plc.G711Concealer (see there)."""
    cdef object __weakref__
    cdef double history[HISTORY]
    cdef double source[HISTORY]  # the history when the erasure began
    cdef double loop[3 * PITCH_MAX]
    cdef int loop_len, erased, pitch, periods, phase
    cdef public long concealed_frames

    def __init__(self):
        self.pitch = PITCH_MIN

    def good(self, frame):
        """A received frame. Returns it, cross-faded into the end of a concealment if one just ended."""
        frame = _as_samples(frame)
        cdef int16_t[::1] x
        if not self.erased:
            self.good_c(<int16_t*>cnp.PyArray_DATA(frame), frame.shape[0])
            return frame
        out = np.array(frame, np.int16)
        x = out
        self.good_c(&x[0], x.shape[0])
        return out

    def conceal(self, int n=160):
        """n samples to play in place of a lost frame."""
        out = np.empty(n, np.int16)
        cdef int16_t[::1] x = out
        if n:
            self.conceal_c(&x[0], n)
        else:
            self.concealed_frames += 1
        return out

    cdef void good_c(self, int16_t* frame, int n) noexcept nogil:
        """A received frame (n samples), cross-faded in place when a concealment just ended."""
        cdef double synth[80]
        cdef double mixed[80]
        cdef double ramp
        cdef int overlap, i
        if self.erased:
            # Appendix I's rule: overlap 1/4 pitch, plus 4 ms per extra 10 ms erased, at most 10 ms
            overlap = min(self.pitch // 4 + 32 * max(0, self.erased // 80 - 1), 80, n)
            if overlap > 0 and self.erased < SILENT_AFTER + 80:
                self._synthesize(synth, overlap)
                for i in range(overlap):
                    ramp = (i + 0.5) / overlap
                    mixed[i] = synth[i] * (1 - ramp) + frame[i] * ramp
                for i in range(overlap):
                    frame[i] = _to_int16(mixed[i])
                self.erased = 0
                self._remember_mixed(mixed, overlap, frame, n)
                return
            self.erased = 0
        self._remember_pcm(frame, n)

    cdef void conceal_c(self, int16_t* out, int n) noexcept nogil:
        cdef double chunk[256]
        cdef int done = 0, take, i
        self.concealed_frames += 1
        if self.erased == 0:
            self.pitch = find_pitch_c(self.history)
            self.periods = 0
            self.phase = 0
        while done < n:
            take = min(n - done, 256)
            self._synthesize(chunk, take)
            self._remember(chunk, take)  # so that a long erasure keeps continuity with what was played
            for i in range(take):
                out[done + i] = _to_int16(chunk[i])
            done += take

    cdef void _synthesize(self, double* out, int n) noexcept nogil:
        cdef int done = 0, periods, take, i
        cdef double gain
        while done < n:
            # 1 period for the first 10 ms, 2 for the next 10 ms, then 3
            periods = 1 if self.erased < 80 else (2 if self.erased < 160 else 3)
            if periods != self.periods:
                self._build_loop(periods)
            take = min(n - done, 80 - self.erased % 80)
            for i in range(take):
                gain = 1.0 - 0.2 * (self.erased + i - FADE_START) / FADE_STEP
                gain = 0.0 if gain < 0.0 else (1.0 if gain > 1.0 else gain)
                out[done + i] = self.loop[(self.phase + i) % self.loop_len] * gain
            self.phase = (self.phase + take) % self.loop_len
            self.erased += take
            done += take

    cdef void _build_loop(self, int periods) noexcept nogil:
        """The last ``periods`` pitch periods of real signal, made to wrap around smoothly."""
        cdef int p = self.pitch, length = periods * p, quarter = max(1, p // 4), i
        cdef double ramp
        cdef const double* before
        if not self.periods:
            memcpy(self.source, self.history, HISTORY * sizeof(double))
        memcpy(self.loop, &self.source[HISTORY - length], length * sizeof(double))
        # cross-fade the loop's end into what came just before its start, so the wrap is seamless
        before = &self.source[HISTORY - length - quarter]
        for i in range(quarter):
            ramp = (i + 0.5) / quarter
            self.loop[length - quarter + i] = self.loop[length - quarter + i] * (1 - ramp) + before[i] * ramp
        if self.periods:
            self.phase = self.phase % p + (periods - 1) * p  # keep the phase within the newest period
        self.loop_len = length
        self.periods = periods

    cdef void _remember(self, const double* samples, int n) noexcept nogil:
        if n >= HISTORY:
            memcpy(self.history, &samples[n - HISTORY], HISTORY * sizeof(double))
            return
        memmove(self.history, &self.history[n], (HISTORY - n) * sizeof(double))
        memcpy(&self.history[HISTORY - n], samples, n * sizeof(double))

    cdef void _remember_pcm(self, const int16_t* samples, int n) noexcept nogil:
        cdef int i, keep
        if n >= HISTORY:
            for i in range(HISTORY):
                self.history[i] = samples[n - HISTORY + i]
            return
        keep = HISTORY - n
        memmove(self.history, &self.history[n], keep * sizeof(double))
        for i in range(n):
            self.history[keep + i] = samples[i]

    cdef void _remember_mixed(self, const double* mixed, int overlap, const int16_t* frame, int n) noexcept nogil:
        """The history takes the cross-faded samples unrounded (as the Python one does), then the rest."""
        cdef double buf[FRAME]
        cdef int i
        if n > FRAME:
            self._remember(mixed, overlap)
            self._remember_pcm(&frame[overlap], n - overlap)
            return
        for i in range(n):
            buf[i] = mixed[i] if i < overlap else frame[i]
        self._remember(buf, n)
