# media/playout.py's Playout in C: the agent's outbound audio for one call, a queue that the 20 ms
# clock drains frame by frame. The lane takes each frame straight from it (no array per frame)
# while nothing else needs to see what is sent. Included by native.pyx.


cdef class Playout:
    """Drop-in for media.playout.Playout (see there)."""
    cdef object __weakref__
    cdef list _queue  # int16 arrays; the head is read from _head_pos on
    cdef Py_ssize_t _head_pos
    cdef public long long queued_samples, played_samples
    cdef public bint held
    cdef public object first_audio_out_at  # monotonic time the current playback began, or None
    cdef public double last_audio_out_at
    cdef object _drained

    def __init__(self):
        import asyncio
        self._queue = []
        self._drained = asyncio.Event()
        self._drained.set()

    def play(self, pcm):
        """Queue int16 8 kHz audio."""
        pcm = np.ascontiguousarray(pcm, dtype=np.int16).reshape(-1)
        if pcm.shape[0] == 0:
            return
        if self.queued_samples == 0:
            self.first_audio_out_at = None
        self._queue.append(pcm)
        self.queued_samples += pcm.shape[0]
        self._drained.clear()

    def clear(self):
        """Stop playback now; returns how many queued samples were dropped."""
        dropped = self.queued_samples
        self._queue = []
        self._head_pos = 0
        self.queued_samples = 0
        self.held = False
        self._drained.set()
        return dropped

    def hold(self):
        self.held = True

    def resume(self):
        self.held = False

    @property
    def playing(self):
        return self.queued_samples > 0

    def wait_played(self):
        return self._drained.wait()

    def release(self):
        self._drained.set()

    def next_frame(self, bint paused=False):
        """The next 20 ms of agent audio, or None for silence (nothing queued, held or paused)."""
        cdef cnp.npy_intp dims[1]
        if not self._queue or self.held or paused:
            return None
        dims[0] = FRAME
        frame = cnp.PyArray_SimpleNew(1, dims, cnp.NPY_INT16)
        self.next_frame_c(<int16_t*>cnp.PyArray_DATA(frame))
        return frame

    cdef bint next_frame_c(self, int16_t* out) except -1:
        """The next 160 samples into ``out`` (zeros past the end of the queue); False when there are
        none to play (nothing queued, or held)."""
        cdef int filled = 0, take
        cdef Py_ssize_t size
        cdef cnp.ndarray head
        if not self._queue or self.held:
            return False
        while filled < FRAME and self._queue:
            head = self._queue[0]
            size = head.shape[0] - self._head_pos
            take = <int>min(FRAME - filled, size)
            memcpy(&out[filled], <int16_t*>cnp.PyArray_DATA(head) + self._head_pos, take * sizeof(int16_t))
            filled += take
            if take == size:
                del self._queue[0]
                self._head_pos = 0
            else:
                self._head_pos += take
        if filled < FRAME:
            memset(&out[filled], 0, (FRAME - filled) * sizeof(int16_t))
        self.queued_samples -= filled
        now = _clock(CLOCK_MONOTONIC)
        if self.first_audio_out_at is None:
            self.first_audio_out_at = now
        self.last_audio_out_at = now
        self.played_samples += FRAME
        if self.queued_samples <= 0:
            self.queued_samples = 0
            self._drained.set()
        return True
