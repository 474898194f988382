"""Call media over a transport that is not RTP: a Twilio Media Stream, a WebRTC track.

It offers the call session what an RTP session does (``play``, ``clear``, ``hold``/``resume``,
``playing``, ``wait_played``, ``played_samples``, ``stats``...), so that every ingress shares the
same turn-taking and dialog. The transport adapter feeds caller audio in with ``receive`` (8 kHz
int16, any length) and gets the agent's audio as one 20 ms frame per tick of this object's own
clock through ``send`` (None: nothing to play).

Some transports buffer what we send and play it later (Twilio does). Such an adapter calls
``expect_confirmation`` when a stretch of agent audio has been handed over, and ``confirmed``
when the far end says it has played it (a Twilio ``mark``). Until then the agent still counts as
speaking, so that barge-in and end-of-turn timing follow what the caller actually hears.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

import numpy as np

from .clock import media_clock
from .playout import FRAME_SAMPLES, LatenessLog, Playout, pacing_summary

log = logging.getLogger("frontdesk.media")
CONFIRM_TIMEOUT_S = 3.0  # a far end that never confirms playback does not stall the call



def _ignore(_item) -> None:
    """What a closed stream's callbacks become."""

class StreamMedia:
    def __init__(self, kind: str, on_frame: Callable[[np.ndarray], None] = _ignore,
                 on_dtmf: Callable[[str], None] = _ignore):
        self.kind = kind  # "twilio", "webrtc"
        self.on_frame = on_frame
        self.on_dtmf = on_dtmf
        self.send: Callable[[np.ndarray | None], None] = lambda frame: None
        self.on_drained: Callable[[], None] | None = None  # a stretch of agent audio has all been sent
        self.on_clear: Callable[[], None] | None = None  # the agent's audio was cut (barge-in)
        self.on_sent: Callable[[np.ndarray | None], None] | None = None  # each 20 ms sent (None: silence)
        self.playout = Playout()
        self.on_hold = False  # these transports have no hold; the attribute keeps the session's checks simple
        self.port = 0
        self.srtp = None
        self._rx = np.zeros(0, np.int16)
        self._started = False
        self._loop_time = time.monotonic
        self._was_playing = False
        self._unconfirmed = 0
        self._confirmed = asyncio.Event()
        self._confirmed.set()
        self._confirm_deadline = 0.0
        self.last_packet_at = time.monotonic()
        self.frames_in = 0
        self.frames_out = 0
        self.dtmf_in = 0
        self.marks_sent = 0
        self.marks_confirmed = 0
        self.marks_lost = 0
        self.clears = 0
        self.bad_messages = 0  # transport messages the adapter could not use
        self.send_lateness_ms = LatenessLog(3000)

    # -- caller side ---------------------------------------------------------------------

    def receive(self, pcm: np.ndarray) -> None:
        """Caller audio (8 kHz int16); whole 20 ms frames go to the session at once."""
        self.last_packet_at = time.monotonic()
        self._rx = np.concatenate([self._rx, np.asarray(pcm, np.int16)]) if self._rx.size else np.asarray(pcm, np.int16)
        n = self._rx.size // FRAME_SAMPLES
        for i in range(n):
            self.frames_in += 1
            self.on_frame(self._rx[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES])
        self._rx = self._rx[n * FRAME_SAMPLES:].copy()

    def dtmf(self, digit: str) -> None:
        self.last_packet_at = time.monotonic()
        self.dtmf_in += 1
        self.on_dtmf(digit)

    # -- agent side ----------------------------------------------------------------------

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._loop_time = asyncio.get_running_loop().time
            media_clock().add(self)

    def play(self, pcm: np.ndarray) -> None:
        self.playout.play(pcm)

    def clear(self) -> int:
        dropped = self.playout.clear()
        self.clears += 1
        if self.on_clear is not None:
            self.on_clear()
        return dropped

    def hold(self) -> None:
        self.playout.hold()

    def resume(self) -> None:
        self.playout.resume()

    def send_dtmf(self, digits: str) -> None:
        raise ValueError(f"DTMF cannot be sent on a {self.kind} call")

    @property
    def held(self) -> bool:
        return self.playout.held

    @property
    def playing(self) -> bool:
        return self.playout.playing or self._unconfirmed > 0

    @property
    def played_samples(self) -> int:
        return self.playout.played_samples

    @property
    def first_audio_out_at(self) -> float | None:
        return self.playout.first_audio_out_at

    @property
    def last_audio_out_at(self) -> float:
        return self.playout.last_audio_out_at

    async def wait_played(self) -> None:
        await self.playout.wait_played()
        await self._confirmed.wait()

    # -- playback confirmation (Twilio marks) --------------------------------------------

    def expect_confirmation(self) -> None:
        self._unconfirmed += 1
        self.marks_sent += 1
        self._confirmed.clear()
        self._confirm_deadline = time.monotonic() + CONFIRM_TIMEOUT_S

    def confirmed(self) -> None:
        if self._unconfirmed > 0:
            self._unconfirmed -= 1
            self.marks_confirmed += 1
        if self._unconfirmed == 0:
            self._confirmed.set()

    def _give_up_confirmation(self) -> None:
        log.warning("%s call: the far end did not confirm playback within %.0f s", self.kind, CONFIRM_TIMEOUT_S)
        self.marks_lost += self._unconfirmed
        self._unconfirmed = 0
        self._confirmed.set()

    # -- the 20 ms clock -----------------------------------------------------------------

    def tick(self, due: float) -> None:
        """One 20 ms step of the media clock (media.clock): one frame of agent audio (or None)."""
        self.send_lateness_ms.append(max(0.0, (self._loop_time() - due) * 1000))
        frame = self.playout.next_frame()
        if self.on_sent is not None:
            self.on_sent(frame)
        if frame is not None:
            self.frames_out += 1
        try:
            self.send(frame)
        except Exception as exc:  # the transport closed under us: the adapter ends the call
            log.debug("%s send failed: %s", self.kind, exc)
        now_playing = self.playout.playing
        if self._was_playing and not now_playing and frame is not None and self.on_drained is not None:
            self.on_drained()
        self._was_playing = now_playing
        if self._unconfirmed and time.monotonic() > self._confirm_deadline:
            self._give_up_confirmation()

    def stats(self) -> dict:
        pacing = pacing_summary(self.send_lateness_ms)
        return {"transport": self.kind, "frames_in": self.frames_in, "frames_out": self.frames_out,
                "dtmf_in": self.dtmf_in, "marks_sent": self.marks_sent, "marks_confirmed": self.marks_confirmed,
                "marks_lost": self.marks_lost, "clears": self.clears,
                "bad_messages": self.bad_messages, "send_pacing": pacing}

    def close(self) -> None:
        media_clock().remove(self)
        self.on_frame, self.on_dtmf = _ignore, _ignore  # the app's bound methods: a cycle through the app
        self.send = _ignore
        self.playout.release()
        self._confirmed.set()
