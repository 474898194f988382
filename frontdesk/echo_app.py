"""A no-model call app for load tests and line checks: `frontdesk serve --app echo`.

It answers like the agent does (same SIP, RTP, jitter buffer and endpointer) but loads no models:
each caller utterance is played back to the caller, and each DTMF digit is sent back as RFC 4733.
`--app hangup` answers and hangs up after ``hangup_after_s``, for signalling-only benchmarks.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

import numpy as np

from media.rtp_session import RtpSession
from media.vad import Endpointer, Utterance

from .calllog import CallRecord

log = logging.getLogger("frontdesk.echo")

APPS = ("agent", "echo", "hangup")


class EchoSession:
    """The media-only stand-in for CallSession: same interface towards the server."""

    def __init__(self, record: CallRecord, *, hangup: Callable[[str], None], end_silence_ms: int = 550,
                 hangup_after_s: float | None = None):
        self.record = record
        self.hangup = hangup
        self.hangup_after_s = hangup_after_s
        self.endpointer = Endpointer(end_silence_ms=end_silence_ms)
        self.rtp: RtpSession | None = None
        self.utterances = 0
        self._done = asyncio.Event()

    def attach(self, rtp: RtpSession) -> None:
        self.rtp = rtp

    def on_frame(self, frame: np.ndarray) -> None:
        for event in self.endpointer.feed(frame):
            if isinstance(event, Utterance) and self.rtp is not None:
                self.utterances += 1
                self.record.add_turn("caller", f"[{event.end_ms - event.start_ms} ms of speech]")
                self.rtp.play(event.audio)

    def on_dtmf(self, digit: str) -> None:
        self.record.dtmf.append(digit)
        if self.rtp is not None:
            self.rtp.send_dtmf(digit)

    async def run(self) -> None:
        if self.rtp is not None:  # a short beep, so that a caller (or sipp) knows the line is live
            t = np.arange(int(0.4 * 8000)) / 8000
            self.rtp.play((np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16))
        if self.hangup_after_s is not None:
            await asyncio.sleep(self.hangup_after_s)
            self.hangup("echo app: hang up after answer")
            return
        await self._done.wait()  # the caller ends the call, or the RTP timeout does: finish() sets it

    def finish(self) -> None:
        self.record.outcome = "echo"
        self._done.set()  # the run task ends even where its cancellation was lost
