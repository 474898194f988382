"""Turn-taking for one call: when the caller's turn ends, and what their speech over the agent is.

``TurnTaking`` takes the caller's audio frame by frame (``on_frame``) and decides, without
waiting for the conversation:
* the end of the caller's turn: the endpointer's silence, held open while the words so far
  sound unfinished ("my number is 2 0 2 ..."), cut short after a whole answer; recognition
  starts at each pause (a speculative transcript), so that it is usually ready when the turn ends;
* what speech over the agent is: its own echo or noise (ignored), a backchannel ("uh-huh": the
  agent pauses, then goes on), or words that take the turn (a barge-in: the agent's audio stops).

It hands the session what happened as events, the way Pipecat makes an interruption a frame:
each finished utterance (or one already transcribed, ``Heard``) goes to ``deliver``, and a
barge-in calls ``interrupted`` once the audio has stopped. What a turn means for the conversation
(joining it to the one before, dropping a stale reply) is the session's business.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dialog.conversation import Conversation
from media.bargein import BargeIn, BargeInDetector
from media.rtp_session import RtpSession
from media.vad import Endpointer, SpeechPaused, SpeechStarted, Utterance

from .engines import Engines
from .workers import SPECULATIVE, Overloaded

log = logging.getLogger("frontdesk.call")
ECHO_TAIL_MS = 350
LONG_ANSWER_MS = 2000  # speech longer than this after a yes/no question is more than a yes or no
SPECULATION_MS = 350  # about what the early transcript of a few seconds of speech takes here
ANSWERED_SILENCE_MS = 300  # the end-of-turn pause after a whole answer (a full number, a name, a day)


@dataclass
class Heard:
    """An utterance already transcribed (a short one over the agent that turned out to be words)."""
    utterance: Utterance
    transcript: object


@dataclass
class _Speculation:
    end_ms: int
    future: Future


PACE_MAX_MS = 1600  # the longest end-of-turn silence a slow-paced caller is given
PACE_MARGIN_MS = 300  # over the pause they were seen to make


class TurnTaking:
    def __init__(self, call_id: str, engines: Engines, conversation: Conversation, *, end_silence_ms: int,
                 deliver: Callable[[Utterance | Heard], None], interrupted: Callable[[], None],
                 prompt: Callable[[], str], barge_in_ms: int = 600, barge_in_pause_ms: int = 60,
                 backchannels_interrupt: bool = False, log_text: bool = False):
        self.call_id = call_id
        self.engines = engines
        self.conversation = conversation
        self.end_silence_ms = end_silence_ms
        self.endpointer = Endpointer(end_silence_ms=end_silence_ms)
        self.deliver = deliver  # a finished caller utterance, for the session's inbox
        self.interrupted = interrupted  # the caller took the turn over the agent (its audio is stopped)
        self.prompt = prompt  # Whisper's prompt for what the agent asked
        self.barge = (BargeInDetector(min_speech_ms=barge_in_ms, pause_ms=barge_in_pause_ms)
                      if barge_in_ms > 0 else None)
        self.backchannels_interrupt = backchannels_interrupt
        self.log_text = log_text
        self.rtp: RtpSession | None = None
        self.utterance_wall: dict[int, float] = {}  # when each utterance's speech ended (monotonic)
        self.speech_started = 0.0  # when the caller's latest speech began (monotonic)
        self.speech_ended = 0.0  # when the caller's latest utterance ended (monotonic)
        self.speaking = ""  # the text of the agent turn being spoken (set by the session)
        self.expect = "open"  # what that turn asked for (set by the session)
        self.caller_pause_ms = 0  # a pause this caller made mid-turn, for the turn they are going on with (learn_pause)
        self.pending_text: str | None = None  # the caller's words so far in a turn being joined (the session's)
        self.pauses = 0  # agent audio paused for caller speech
        self.resumes = 0  # ... and resumed (a backchannel or a noise)
        self._overlap: str | None = None  # the current utterance began while the agent played, or in its echo tail
        self._barged = False  # ... and interrupted it
        self._caller_heard = False  # ... and the caller's own voice (not echo) was in it
        self._speculation: _Speculation | None = None
        self._quiet_frames = 1000  # frames since the agent last had audio to play
        self._overlap_clean: list[np.ndarray] = []
        self._overlap_caller: list[bool] = []

    def attach(self, rtp: RtpSession) -> None:
        self.rtp = rtp
        if self.barge is not None:
            rtp.on_sent = self.barge.on_sent

    @property
    def in_speech(self) -> bool:
        return self.endpointer.in_speech

    def said(self, text: str) -> str:
        """Caller words for the log: the text only when privacy.log_transcripts is on."""
        return repr(text) if self.log_text else f"<{len(text.split())} words>"

    # -- the caller's audio (event loop thread) --------------------------------------------

    def on_frame(self, frame: np.ndarray) -> None:
        playing = self.rtp is not None and self.rtp.playing
        # the agent's echo can arrive up to ~300 ms after its audio ends
        self._quiet_frames = 0 if playing else self._quiet_frames + 1
        echo_tail = self._quiet_frames * 20 < ECHO_TAIL_MS
        events = self.endpointer.feed(frame)
        for event in events:
            if isinstance(event, SpeechStarted):
                self.speech_started = time.monotonic()
                self._overlap = "playing" if playing else ("tail" if echo_tail else None)
                self._barged = self._caller_heard = False
                self._overlap_clean, self._overlap_caller = [], []
        if self.barge is not None:
            if self._overlap == "tail" and not self._caller_heard and self.endpointer.in_speech:
                self._caller_heard = self.barge.caller_like(frame, self.endpointer.last_voiced)
            decision = self.barge.on_received(frame, self.endpointer.last_voiced, playing)
            if decision is BargeIn.PAUSE:
                self._pause()
            elif decision is BargeIn.RESUME:
                self._resume()
            elif decision is BargeIn.INTERRUPT:
                self.barge_in()
            if self._overlap == "playing" and self.endpointer.in_speech:
                # keep the caller's side of the overlap (the agent's echo taken out) for Whisper
                clean = self.barge.last_residual
                self._overlap_clean.append(clean if clean is not None else self.barge.residual(frame))
                self._overlap_caller.append(self.barge.last_caller_like)
        for event in events:
            if isinstance(event, SpeechPaused):
                self._speculate(event)
            elif isinstance(event, Utterance):
                self._utterance(event)

    def _learn_level(self, audio: np.ndarray) -> None:
        """Follow the caller's speech level, so that barge-in ignores quieter voices nearby."""
        if self.barge is None:
            return
        frames = audio[:audio.size // 160 * 160].astype(np.float64).reshape(-1, 160)
        levels = 20.0 * np.log10(np.maximum(np.sqrt((frames * frames).mean(axis=1)), 1.0) / 32768.0)
        voiced = levels[levels > -50.0]
        if voiced.size >= 10:
            self.barge.set_caller_level(float(np.median(voiced)))

    def _utterance(self, event: Utterance) -> None:
        # wall-clock time the caller stopped speaking: now minus the trailing silence
        self.utterance_wall[id(event)] = time.monotonic() - (event.detected_ms - event.end_ms) / 1000
        self.speech_ended = self.utterance_wall[id(event)]
        if self.caller_pause_ms:  # the turn that went on is over: the next one ends as usual, even one
            self.caller_pause_ms = 0  # that starts before the agent's next question (persona run 12: 15
            self.asked(self.expect)   # turns ended after 1.6 s that way)
        if self._overlap and not self._barged:
            if self.barge is None or not self._caller_heard:  # the agent's own echo or noise: never a turn
                log.info("call %s: ignored %d ms of audio over the agent", self.call_id, event.end_ms - event.start_ms)
                self.utterance_wall.pop(id(event), None)
                return
            if self._overlap == "playing":
                # short speech that paused the agent: words ("no", "stop") take the turn, "uh-huh" does not
                caller_ms = 20 * sum(self._overlap_caller)
                asyncio.get_running_loop().create_task(self._check_short_overlap(event, self._caller_side(), caller_ms))
                return
        self._learn_level(event.audio)
        self.deliver(event)

    def speech_end(self, utt: Utterance) -> float:
        """When the caller stopped speaking in this utterance (monotonic; now if unknown)."""
        return self.utterance_wall.pop(id(utt), time.monotonic())

    def _caller_side(self) -> np.ndarray | None:
        """The overlap's audio with the agent's echo removed, around the caller's own speech."""
        marks = [i for i, c in enumerate(self._overlap_caller) if c]
        if not marks:
            return None
        a, b = max(0, marks[0] - 10), min(len(self._overlap_clean), marks[-1] + 15)
        return np.clip(np.concatenate(self._overlap_clean[a:b]), -32768, 32767).astype(np.int16)

    async def _check_short_overlap(self, utt: Utterance, audio: np.ndarray | None, caller_ms: int) -> None:
        try:
            transcript = await self.engines.transcribe(utt.audio if audio is None else audio, self.prompt())
        except Overloaded:
            return
        backchannel = self.conversation.is_backchannel(
            transcript.text, transcript.confidence, speaking=self.speaking, short=caller_ms < 600,
            asked_yes_no=self.expect == "yes_no", agent_done=self.rtp is None or not self.rtp.playing,
            any_word_interrupts=self.backchannels_interrupt)
        if backchannel:
            log.info("call %s: backchannel %s (%.2f) over the agent; it goes on", self.call_id,
                     self.said(transcript.text), transcript.confidence)
            self.utterance_wall.pop(id(utt), None)
            return
        log.info("call %s: %s (%.2f) over the agent takes the turn", self.call_id, self.said(transcript.text),
                 transcript.confidence)
        if self.rtp is not None and self.rtp.playing:
            self.barge_in()
        self.deliver(Heard(utt, transcript))

    # -- recognition during the end-of-turn silence ----------------------------------------

    def _speculate(self, event: SpeechPaused) -> None:
        """The caller paused: start recognising now, during the end-of-turn silence."""
        if self._overlap == "playing" and not self._barged:
            return
        if event.end_ms - event.start_ms > LONG_ANSWER_MS and \
                self.endpointer.end_silence_ms <= self.end_silence_for("yes_no") < self.end_silence_ms:
            # more than a yes or a pick ("no, you've got it mixed up, it's K, E, O, H, A, [pause] N..."):
            # the usual pause and the time the early transcript takes, so that it can still say
            # "wait for more" in time (with the usual pause alone it lost that race now and then)
            self.endpointer.hold_open(self.end_silence_ms + SPECULATION_MS)
        if self._speculation is not None:
            self._speculation.future.cancel()
        try:
            future = self.engines.transcribe_later(event.audio, self.prompt())
        except Overloaded:
            self._speculation = None
            return
        self._speculation = _Speculation(event.end_ms, future)
        loop = asyncio.get_running_loop()

        def done(fut: Future) -> None:
            if not fut.cancelled() and fut.exception() is None:
                loop.call_soon_threadsafe(self._partial, event.end_ms, fut.result().text, fut.result().confidence)

        future.add_done_callback(done)

    def _partial(self, end_ms: int, text: str, confidence: float = 1.0) -> None:
        """A transcript of the caller's speech so far: mid-number or mid-sentence, keep listening;
        otherwise understand it now, during the end-of-turn silence (the model's part included),
        so that the reply is ready when the turn ends. Understanding changes nothing in the call."""
        if not self.endpointer.in_speech:
            return
        if self.endpointer.last_voiced or self._speculation is None or self._speculation.end_ms != end_ms:
            # the caller has spoken since that pause: its transcript says nothing about the pause to
            # come ("915 555" arriving during "0191" would hold the end of the whole number open)
            return
        if text.strip() and self.pending_text is None:
            try:
                self.engines.llm_worker.submit(SPECULATIVE, self.conversation.understand, text.strip(), confidence)
            except Overloaded:
                pass
        wait = self.conversation.wait_for_more(text)
        if wait:
            self.endpointer.hold_open(wait)
            log.info("call %s: %s sounds unfinished; waiting up to %d ms", self.call_id, self.said(text), wait)
        elif self.conversation.answer_complete(text):
            # a whole answer (a full number, a name, a day): a short pause ends the turn
            self.endpointer.end_after(ANSWERED_SILENCE_MS)

    async def recognise(self, utt: Utterance):
        """The final transcript and whether it was ready early: the speculative one when the speech
        has not changed since."""
        spec, self._speculation = self._speculation, None
        if spec is not None and spec.end_ms == utt.end_ms and not spec.future.cancelled():
            try:
                return await asyncio.wrap_future(spec.future), True
            except asyncio.CancelledError:
                if not spec.future.cancelled():
                    raise  # this turn is being cancelled (a timeout, the call ended): not the speculation
                # the speculative job itself was cancelled: transcribe afresh below
        elif spec is not None:
            spec.future.cancel()
        return await self.engines.transcribe(utt.audio, self.prompt()), False

    def close(self) -> None:
        if self._speculation is not None:
            self._speculation.future.cancel()

    # -- the agent's audio --------------------------------------------------------------------

    def _pause(self) -> None:
        assert self.rtp is not None
        self._caller_heard = True
        self.pauses += 1
        self.rtp.hold()

    def _resume(self) -> None:
        assert self.rtp is not None
        self.resumes += 1
        self.rtp.resume()

    def barge_in(self) -> None:
        """The caller talks over the agent: stop the audio now, then tell the session."""
        assert self.rtp is not None
        self._barged = True
        dropped = self.rtp.clear()
        log.info("call %s: barge-in; %d ms of agent audio dropped", self.call_id, dropped // 8)
        self.interrupted()

    def asked(self, expect: str) -> None:
        """The agent asked for ``expect``: how long a pause ends the caller's answer depends on it."""
        self.endpointer.set_end_silence(self.end_silence_for(expect))

    def end_silence_for(self, expect: str) -> int:
        """Short after a yes/no or pick-one question, longer mid-number or mid-name; for an open
        answer the caller is going on with, at least the pause they made in it (learn_pause)."""
        base = self.end_silence_ms
        silence = {"yes_no": max(300, base - 200), "choice": max(350, base - 150),
                   "name": base + 200, "number": base + 300, "spelling": base + 400}.get(expect, base)
        return max(silence, self.caller_pause_ms) if expect in ("open", "name", "number", "spelling") else silence

    def learn_pause(self, gap_ms: int, expect: str) -> None:
        """The caller went on talking after a pause of ``gap_ms`` that ended their turn (a reply had
        begun): they pause that long between the sentences of one turn ("Can I book a cleaning?
        [1.2 s] I come every six months. [1.3 s] Next week, in the afternoon."). The turn they are
        going on with waits a little longer than that, up to PACE_MAX_MS, so that each sentence does
        not get its own reply; once it ends, the next turn ends as usual (a longer wait on every turn
        would cost this caller that much on every reply). A pause over PACE_MAX_MS less the margin
        changes nothing: no wait worth its cost would span it. Yes/no and pick-one answers keep their
        short pause."""
        if gap_ms + PACE_MARGIN_MS > PACE_MAX_MS:
            # a pause longer than any wait worth its cost: waiting PACE_MAX_MS would not keep this
            # caller's sentences together, it would only slow the reply (persona run 12: 16 turns)
            log.info("call %s: the caller went on after %d ms; longer than a turn waits", self.call_id, gap_ms)
            return
        self.caller_pause_ms = gap_ms + PACE_MARGIN_MS
        self.asked(expect)
        log.info("call %s: the caller went on after %d ms; this turn ends after %d ms of silence",
                 self.call_id, gap_ms, self.endpointer.end_silence_ms)
