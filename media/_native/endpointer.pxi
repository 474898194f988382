# media/vad.py's Endpointer in C: the same energy gate, noise floor, webrtcvad check and
# utterance state machine, the same events. The frames themselves stay numpy arrays (held by
# reference in the pre-roll and the utterance, joined only when an event carries them).
# Included by media/_native/native.pyx.

cdef enum:
    RECENT_FRAMES = 150  # 3 s: the window of the quietest-frame floor
    FRAME_MS = 20

cdef double FULL_SCALE_DB = 20.0 * log10(32768.0)
_events = None


cdef object _event_types():
    global _events
    if _events is None:
        from media.vad import SpeechPaused, SpeechStarted, Utterance
        _events = (SpeechStarted, SpeechPaused, Utterance)
    return _events


cdef class Endpointer:
    """Drop-in for media.vad.Endpointer (see there)."""
    cdef object __weakref__
    cdef object _vad, _process, _vad_handle
    cdef public int start_frames, end_silence_ms, speculate_ms, max_frames
    cdef int _hold_ms
    cdef int _cap_ms
    cdef public double min_snr_db, noise_floor_db
    # the quietest-frame floor: (frame number, energy) pairs in a ring, increasing energy
    cdef long long rec_no[RECENT_FRAMES + 1]
    cdef double rec_db[RECENT_FRAMES + 1]
    cdef int rec_head, rec_len
    cdef long long _frame_no
    cdef object _preroll  # deque of frames, maxlen the pre-roll
    cdef unsigned char _window[64]  # the last start_frames + 2 voiced flags, a ring
    cdef int _win_len, _win_pos, _win_size, _win_sum
    cdef list _frames
    cdef bint _in_speech
    cdef int _silence_frames
    cdef long long _position_ms, _speech_start_ms, _last_voiced_ms
    cdef public bint last_voiced

    def __init__(self, *, int aggressiveness=2, int start_ms=100, int end_silence_ms=700, int preroll_ms=200,
                 int max_utterance_ms=20000, double min_snr_db=9.0, double floor_db=-55.0, int speculate_ms=100):
        try:
            import _webrtcvad
            import webrtcvad
            self._vad = webrtcvad.Vad(aggressiveness)
            self._process = _webrtcvad.process
            self._vad_handle = self._vad._vad
        except ImportError:  # the energy gate alone still works
            self._vad = self._process = self._vad_handle = None
        self.start_frames = max(1, start_ms // FRAME_MS)
        if self.start_frames + 2 > 64:
            raise ValueError("start_ms above 1240")
        self.end_silence_ms = end_silence_ms
        self.speculate_ms = speculate_ms
        self.max_frames = max_utterance_ms // FRAME_MS
        self.min_snr_db = min_snr_db
        self.noise_floor_db = floor_db
        self._preroll = deque(maxlen=max(1, preroll_ms // FRAME_MS))
        self._win_size = self.start_frames + 2
        self._frames = []

    @property
    def in_speech(self):
        return self._in_speech

    def is_speech(self, frame):
        frame = _as_samples(frame)
        return self._is_speech(frame, <const int16_t*>cnp.PyArray_DATA(frame), cnp.PyArray_SIZE(frame))

    cdef bint _is_speech(self, object frame, const int16_t* x, int n) except -1:
        cdef double level = frame_rms(x, n), energy, floor, rate
        cdef long long no = self._frame_no
        cdef int last
        energy = 10.0 * log10(max(level * level, 1.0)) - FULL_SCALE_DB if n > 0 else -FULL_SCALE_DB
        # the floor is also the quietest frame of the last 3 s: speech always has quiet gaps
        # between words, steady sound (music, a fan) does not, so it cannot pass for speech
        self._frame_no += 1
        while self.rec_len:
            last = (self.rec_head + self.rec_len - 1) % (RECENT_FRAMES + 1)
            if self.rec_db[last] < energy:
                break
            self.rec_len -= 1
        last = (self.rec_head + self.rec_len) % (RECENT_FRAMES + 1)
        self.rec_no[last], self.rec_db[last] = no, energy
        self.rec_len += 1
        if self.rec_no[self.rec_head] <= no - RECENT_FRAMES:
            self.rec_head = (self.rec_head + 1) % (RECENT_FRAMES + 1)
            self.rec_len -= 1
        floor = max(self.noise_floor_db, self.rec_db[self.rec_head])
        if not (energy > floor + self.min_snr_db and energy > -50.0):
            # track the noise floor: fast down, slow up
            rate = 0.3 if energy < self.noise_floor_db else 0.02
            self.noise_floor_db += rate * (energy - self.noise_floor_db)
            return False
        if self._process is not None and n == FRAME:
            return bool(self._process(self._vad_handle, 8000, frame, FRAME))
        return True

    def set_end_silence(self, int ms):
        self.end_silence_ms = ms

    def hold_open(self, int ms):
        """Wait at least ``ms`` of silence before ending the current utterance (this pause only)."""
        if self._in_speech:
            self._hold_ms = max(self._hold_ms, ms)
            self._cap_ms = 0

    def end_after(self, int ms):
        """End the current utterance after ``ms`` of silence if that is sooner (this pause only):
        the words so far are a whole answer. A hold_open wins over it."""
        if self._in_speech and not self._hold_ms:
            self._cap_ms = ms

    def reset(self):
        self._frames = []
        self._in_speech = False
        self._silence_frames = 0
        self._hold_ms = self._cap_ms = 0
        self._win_len = self._win_sum = 0
        self._preroll.clear()

    def feed(self, frame):
        """Feed one 20 ms frame (int16); returns speech-start and utterance events."""
        frame = _as_samples(frame)
        cdef bint voiced = self._is_speech(frame, <const int16_t*>cnp.PyArray_DATA(frame), cnp.PyArray_SIZE(frame))
        cdef int silence_ms, end_silence, slot
        events = []
        self.last_voiced = voiced
        self._position_ms += FRAME_MS
        if not self._in_speech:
            self._preroll.append(frame)
            if self._win_len == self._win_size:  # the oldest flag leaves the window
                self._win_sum -= self._window[self._win_pos]
            else:
                self._win_len += 1
            self._window[self._win_pos] = voiced
            self._win_sum += voiced
            self._win_pos = (self._win_pos + 1) % self._win_size
            if self._win_sum >= self.start_frames:
                self._in_speech = True
                self._frames = list(self._preroll)
                self._speech_start_ms = self._position_ms - FRAME_MS * len(self._frames)
                self._silence_frames = 0
                self._last_voiced_ms = self._position_ms
                self._preroll.clear()
                self._win_len = self._win_sum = self._win_pos = 0
                events.append(_event_types()[0](self._speech_start_ms))
            return events
        self._frames.append(frame)
        if voiced:
            if self._silence_frames:
                self._hold_ms = self._cap_ms = 0  # speech again: the next pause is judged afresh
            self._silence_frames = 0
            self._last_voiced_ms = self._position_ms
        else:
            self._silence_frames += 1
        silence_ms = self._silence_frames * FRAME_MS
        end_silence = max(self.end_silence_ms, self._hold_ms)
        if self._cap_ms:
            end_silence = min(end_silence, self._cap_ms)
        if silence_ms >= end_silence or len(self._frames) >= self.max_frames:
            audio = np.concatenate(self._frames) if self._frames else np.zeros(0, np.int16)
            events.append(_event_types()[2](audio, self._speech_start_ms, self._last_voiced_ms, self._position_ms))
            self._frames = []
            self._in_speech = False
            self._silence_frames = 0
            self._hold_ms = self._cap_ms = 0
        elif silence_ms == self.speculate_ms and self.speculate_ms < end_silence:
            events.append(_event_types()[1](np.concatenate(self._frames), self._speech_start_ms, self._last_voiced_ms))
        return events


cdef cnp.ndarray _as_samples(frame):
    """Contiguous native int16 samples, one dimension (the array itself when it already is)."""
    if cnp.PyArray_Check(frame) and cnp.PyArray_TYPE(frame) == cnp.NPY_INT16 and \
            cnp.PyArray_IS_C_CONTIGUOUS(frame) and cnp.PyArray_NDIM(frame) == 1:
        return frame
    return np.ascontiguousarray(frame, dtype=np.int16).reshape(-1)
