"""One call: media → endpointing → ASR → dialog (LLM) → TTS → media, off the event loop.

Where the time goes, and what overlaps:
* recognition starts when the caller goes quiet (SpeechPaused), during the end-of-turn silence,
  so that the transcript is usually ready when the turn ends;
* the reply is spoken clause by clause; fixed phrases come from the phrase cache;
* caller speech over the agent pauses its audio at once; it resumes after a backchannel and is
  dropped after a real interruption.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Awaitable, Callable

import numpy as np

from dialog.conversation import FILLER, AgentTurn, Conversation
from dialog.prompts import recognition_prompt
from dialog.states import State
from media.bargein import BargeIn, BargeInDetector
from media.rtp_session import RtpSession
from media.vad import Endpointer, SpeechPaused, SpeechStarted, Utterance

from .calllog import CallRecord
from .engines import Engines
from .workers import SPECULATIVE, EngineFailure, Overloaded

log = logging.getLogger("frontdesk.call")
ECHO_TAIL_MS = 350
GREETING_WAIT_S = 1.5  # after "Hello?" alone, how long to wait for the caller to go on
RESUMED_WAIT_S = 8.0  # the caller started talking again: how long their next utterance may take
REJOIN_S = 2.0  # caller speech that starts this soon after a reply starts (and barges in) continues their turn
LONG_ANSWER_MS = 2000  # speech longer than this after a yes/no question is more than a yes or no
ANSWERED_SILENCE_MS = 300  # the end-of-turn pause after a whole answer (a full number, a name, a day)
_FINAL = ("booked", "cancelled", "goodbye", "failed", "transfer_failed")  # replies that changed the world


@dataclass
class Heard:
    """An utterance already transcribed (a short one over the agent that turned out to be words)."""
    utterance: Utterance
    transcript: object


@dataclass
class _Speculation:
    end_ms: int
    future: Future


class CallSession:
    def __init__(self, record: CallRecord, engines: Engines, conversation: Conversation,
                 silence_timeout_s: float, end_silence_ms: int, hangup: Callable[[str], None],
                 transfer: Callable[[str], Awaitable[bool]] | None = None, barge_in_ms: int = 600,
                 barge_in_pause_ms: int = 60, backchannels_interrupt: bool = False, filler_after_s: float = 2.0,
                 turn_timeout_s: float = 20.0, log_text: bool = False, consent_prompt: str = ""):
        self.record = record
        self.engines = engines
        self.conversation = conversation
        self.silence_timeout_s = silence_timeout_s
        self.end_silence_ms = end_silence_ms
        self.filler_after_s = filler_after_s
        self.endpointer = Endpointer(end_silence_ms=end_silence_ms)
        self.hangup = hangup
        self.transfer = transfer
        self._digits = ""
        self.rtp: RtpSession | None = None
        self.inbox: asyncio.Queue[Utterance | Heard | str] = asyncio.Queue()
        self.clinic = conversation.clinic
        self._utterance_wall: dict[int, float] = {}
        self.barge = (BargeInDetector(min_speech_ms=barge_in_ms, pause_ms=barge_in_pause_ms)
                      if barge_in_ms > 0 else None)
        self.backchannels_interrupt = backchannels_interrupt
        self._interrupted = False
        self._cancel_tts: threading.Event | None = None
        self._overlap: str | None = None  # the current utterance began while the agent played, or in its echo tail
        self._barged = False  # ... and interrupted it
        self._caller_heard = False  # ... and the caller's own voice (not echo) was in it
        self._speculation: _Speculation | None = None
        self._quiet_frames = 1000  # frames since the agent last had audio to play
        self._overlap_clean: list[np.ndarray] = []
        self._overlap_caller: list[bool] = []
        self._speaking = ""  # the text of the agent turn being spoken
        self._expect = "open"  # what that turn asked for
        self._expect_before = "open"  # ... and the turn before it (a joined turn is heard as its answer)
        self.consent_prompt = consent_prompt  # said first when the call is recorded
        self.log_text = log_text  # caller words in the log (privacy.log_transcripts)
        self.turn_timeout_s = turn_timeout_s  # no reply by then: apologise, offer a callback, hang up
        self.engine_failed = False  # speech synthesis failed: the call ends with the cached apology
        self.pauses = 0  # agent audio paused for caller speech
        self.resumes = 0  # ... and resumed (a backchannel or a noise)
        self.joined = 0  # caller turns joined to the next one (a greeting, a pause mid-answer)
        self.dropped = 0  # replies dropped because the caller went on talking before they played
        self.dialog_errors = 0  # caller turns the dialog code failed on (answered "Sorry, I didn't catch that")
        self._pending_text: str | None = None  # the caller's words so far in a turn being joined
        self._waited_s = 0.0  # this turn's time waiting for the caller to go on (not the engines')
        self._answered = None  # (conversation before it, the caller's words, confidence) of the reply being made
        self._reply_for = None  # ... of the reply now playing
        self._reply_started = 0.0
        self._speech_started = 0.0  # when the caller's latest speech began (monotonic)
        self._rejoin = None  # set by a barge-in in the reply's first seconds: join the turns

    @property
    def asr_prompt(self) -> str:
        """Whisper's prompt: the clinic's words, and letters or digits when those are expected."""
        return recognition_prompt(self.clinic, self._expect)

    def attach(self, rtp: RtpSession) -> None:
        self.rtp = rtp
        if self.barge is not None:
            rtp.on_sent = self.barge.on_sent

    # -- media callbacks (event loop thread) ---------------------------------------------

    def on_frame(self, frame: np.ndarray) -> None:
        playing = self.rtp is not None and self.rtp.playing
        # the agent's echo can arrive up to ~300 ms after its audio ends
        self._quiet_frames = 0 if playing else self._quiet_frames + 1
        echo_tail = self._quiet_frames * 20 < ECHO_TAIL_MS
        events = self.endpointer.feed(frame)
        for event in events:
            if isinstance(event, SpeechStarted):
                self._speech_started = time.monotonic()
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
                self._barge_in()
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
        self._utterance_wall[id(event)] = time.monotonic() - (event.detected_ms - event.end_ms) / 1000
        if self._overlap and not self._barged:
            if self.barge is None or not self._caller_heard:  # the agent's own echo or noise: never a turn
                log.info("call %s: ignored %d ms of audio over the agent", self.record.call_id, event.end_ms - event.start_ms)
                self._utterance_wall.pop(id(event), None)
                return
            if self._overlap == "playing":
                # short speech that paused the agent: words ("no", "stop") take the turn, "uh-huh" does not
                caller_ms = 20 * sum(self._overlap_caller)
                asyncio.get_running_loop().create_task(self._check_short_overlap(event, self._caller_side(), caller_ms))
                return
        self._learn_level(event.audio)
        self.inbox.put_nowait(event)

    def _caller_side(self) -> np.ndarray | None:
        """The overlap's audio with the agent's echo removed, around the caller's own speech."""
        marks = [i for i, c in enumerate(self._overlap_caller) if c]
        if not marks:
            return None
        a, b = max(0, marks[0] - 10), min(len(self._overlap_clean), marks[-1] + 15)
        return np.clip(np.concatenate(self._overlap_clean[a:b]), -32768, 32767).astype(np.int16)

    async def _check_short_overlap(self, utt: Utterance, audio: np.ndarray | None, caller_ms: int) -> None:
        try:
            transcript = await self.engines.transcribe(utt.audio if audio is None else audio, self.asr_prompt)
        except Overloaded:
            return
        backchannel = self.conversation.is_backchannel(
            transcript.text, transcript.confidence, speaking=self._speaking, short=caller_ms < 600,
            asked_yes_no=self._expect == "yes_no", agent_done=self.rtp is None or not self.rtp.playing,
            any_word_interrupts=self.backchannels_interrupt)
        if backchannel:
            log.info("call %s: backchannel %s (%.2f) over the agent; it goes on", self.record.call_id,
                     self._said(transcript.text), transcript.confidence)
            self._utterance_wall.pop(id(utt), None)
            return
        log.info("call %s: %s (%.2f) over the agent takes the turn", self.record.call_id, self._said(transcript.text),
                 transcript.confidence)
        if self.rtp is not None and self.rtp.playing:
            self._barge_in()
        self.inbox.put_nowait(Heard(utt, transcript))

    def _speculate(self, event: SpeechPaused) -> None:
        """The caller paused: start recognising now, during the end-of-turn silence."""
        if self._overlap == "playing" and not self._barged:
            return
        if event.end_ms - event.start_ms > LONG_ANSWER_MS and \
                self.endpointer.end_silence_ms <= self.end_silence_for("yes_no") < self.end_silence_ms:
            # more than a yes or a pick ("no, you've got it mixed up, it's K, E, O, H, A, [pause] N..."):
            # the usual pause, so that the transcript can still say "wait for more" in time
            self.endpointer.hold_open(self.end_silence_ms)
        if self._speculation is not None:
            self._speculation.future.cancel()
        try:
            future = self.engines.transcribe_later(event.audio, self.asr_prompt)
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
        if text.strip() and self._pending_text is None:
            try:
                self.engines.llm_worker.submit(SPECULATIVE, self.conversation.understand, text.strip(), confidence)
            except Overloaded:
                pass
        wait = self.conversation.wait_for_more(text)
        if wait:
            self.endpointer.hold_open(wait)
            log.info("call %s: %s sounds unfinished; waiting up to %d ms", self.record.call_id, self._said(text), wait)
        elif self.conversation.answer_complete(text):
            # a whole answer (a full number, a name, a day): a short pause ends the turn
            self.endpointer.end_after(ANSWERED_SILENCE_MS)

    def _pause(self) -> None:
        assert self.rtp is not None
        self._caller_heard = True
        self.pauses += 1
        self.rtp.hold()

    def _resume(self) -> None:
        assert self.rtp is not None
        self.resumes += 1
        self.rtp.resume()

    def _barge_in(self) -> None:
        """The caller talks over the agent: stop the audio now and the speech that was coming."""
        assert self.rtp is not None
        self._barged = True
        self._interrupted = True
        dropped = self.rtp.clear()
        if self._cancel_tts is not None:
            self._cancel_tts.set()
        log.info("call %s: barge-in; %d ms of agent audio dropped", self.record.call_id, dropped // 8)
        answered = self._reply_for
        went_on = self._speech_started - self._reply_started  # when the caller started, not when it counted
        if answered is not None and went_on < REJOIN_S:
            # the caller went on with what they were saying just as the reply began: their words
            # are one turn, understood again as a whole, as if the reply had not started
            self._rejoin = answered
            self._expect = self._expect_before  # hear the rest as the answer it continues, not the new question
            log.info("call %s: the caller went on %.1f s into the reply; the turn is joined", self.record.call_id,
                     max(0.0, went_on))

    def _said(self, text: str) -> str:
        """Caller words for the log: the text only when privacy.log_transcripts is on."""
        return repr(text) if self.log_text else f"<{len(text.split())} words>"

    def finish(self) -> None:
        """The call ended: the conversation's outcome and findings go into the record."""
        rec = self.record
        conv = self.conversation
        conv.on_hangup()
        summary = conv.summary()
        rec.requests = summary["requests"]
        rec.outcome = summary["outcome"]
        rec.qualification = summary["qualification"]
        rec.tool_calls = summary["tool_calls"]
        rec.booking = summary["booking"]
        rec.misunderstandings = summary["misunderstandings"]
        rec.summary = summary_line(rec.outcome, summary)
        rec.barge_in = {"pauses": self.pauses, "resumes": self.resumes, "joined": self.joined, "dropped": self.dropped}

    def on_dtmf(self, digit: str) -> None:
        self.record.dtmf.append(digit)
        log.info("call %s: DTMF %s", self.record.call_id, digit)
        self.inbox.put_nowait(digit)

    # -- the conversation loop -----------------------------------------------------------

    async def run(self) -> None:
        try:
            if self.consent_prompt:  # recording is on: the caller hears so before anything else
                self.record.add_turn("agent", self.consent_prompt, intent="recording_notice")
                await self.say(AgentTurn(self.consent_prompt, intent="recording_notice"), record_history=False)
            await self.say(self.conversation.greeting())
            while True:
                try:
                    # asyncio.timeout, not wait_for: in Python 3.11 wait_for drops a cancellation
                    # that lands as the item arrives, and the call's task would outlive the call
                    async with asyncio.timeout(self.silence_timeout_s):
                        item = await self.inbox.get()
                except TimeoutError:
                    if self.rtp is not None and (self.rtp.on_hold or self.rtp.playing):
                        continue  # on hold (or still talking): silence is expected
                    if self.endpointer.in_speech:
                        continue  # the caller is in the middle of a long answer (a spelling, say)
                    await self.say(self.conversation.on_silence())
                    break
                if isinstance(item, str):
                    turn = await self.handle_dtmf(item)
                else:
                    turn = await self.handle_utterance(item)
                if turn is not None and turn.transfer_to:
                    if self.transfer is not None and await self.transfer(turn.transfer_to):
                        return  # the caller is with a person now; the transfer ended our leg
                    await self.say(self.conversation.transfer_failed())
                    continue
                if self.engine_failed and not (turn is not None and turn.intent == "failed"):
                    self.record.end_reason = "engine failure: speech synthesis"
                    await self.say(await asyncio.to_thread(self.conversation.failed))
                    break
                if turn is not None and (turn.intent == "failed" or (turn.hangup and not self._interrupted)):
                    break
            self.hangup("agent ended the call")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: internal error; ending the call", self.record.call_id)
            self.record.end_reason = "internal error"
            self.hangup("internal error")
        finally:
            if self._speculation is not None:
                self._speculation.future.cancel()

    async def handle_dtmf(self, digit: str) -> AgentTurn | None:
        """Keypad input: digits collect until # (or ten digits) while a number is asked for."""
        if self.conversation.state == State.PHONE or self._digits:
            self._digits += digit
            if digit != "#" and len(self._digits.rstrip("#")) < 10:
                return None
            digits, self._digits = self._digits, ""
        else:
            digits = digit
        self.record.add_turn("caller", f"[DTMF {digits}]")
        try:
            turn = await self.engines.run_llm(self.conversation.on_dtmf, digits)
        except Overloaded:
            turn = await asyncio.to_thread(self.conversation.overloaded)
        if turn is not None:
            await self.say(turn)
        return turn

    async def _recognise(self, utt: Utterance):
        """The final transcript: the speculative one when the speech has not changed since."""
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
        return await self.engines.transcribe(utt.audio, self.asr_prompt), False

    async def _transcript(self, item: Utterance | Heard, timing: dict):
        t0 = time.monotonic()
        if isinstance(item, Heard):
            transcript, reused = item.transcript, True
        else:
            transcript, reused = await self._recognise(item)
        utt = item.utterance if isinstance(item, Heard) else item
        timing["asr_ms"] = timing.get("asr_ms", 0) + int((time.monotonic() - t0) * 1000)
        timing["asr_early"] = reused
        log.info("call %s: caller said %s (confidence %.2f)", self.record.call_id, self._said(transcript.text),
                 transcript.confidence)
        self.record.add_turn("caller", transcript.text, confidence=round(transcript.confidence, 3),
                             audio_ms=int(utt.audio.size / 8))
        return transcript

    def _caller_resumed(self) -> bool:
        """The caller started speaking again (or has spoken) since the turn being answered ended."""
        return self.endpointer.in_speech or any(not isinstance(i, str) for i in self.inbox._queue)  # type: ignore[attr-defined]

    async def _next_utterance(self, timeout: float) -> Utterance | Heard | None:
        """The caller's next utterance within ``timeout`` s (keypad digits wait their turn)."""
        deadline = time.monotonic() + timeout
        held: list[str] = []
        t0 = time.monotonic()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not self.endpointer.in_speech:
                    return None
                try:
                    async with asyncio.timeout(max(0.05, remaining) if not self.endpointer.in_speech else 30.0):
                        item = await self.inbox.get()
                except TimeoutError:
                    if self.endpointer.in_speech:
                        continue
                    return None
                if isinstance(item, str):
                    held.append(item)
                    continue
                return item
        finally:
            self._waited_s += time.monotonic() - t0
            for d in held:
                self.inbox.put_nowait(d)

    async def _reply(self, item: Utterance | Heard, timing: dict) -> AgentTurn:
        """One reply per caller turn. A greeting or filler alone ("Hi.", "Um.") waits for what
        follows; if the caller goes on talking before the reply is ready, the words are joined and
        understood once, and the conversation is put back as it was before the stale reply."""
        words: list[str] = []
        confidences: list[float] = []
        rejoin, self._rejoin = self._rejoin, None
        while True:
            transcript = await self._transcript(item, timing)
            if rejoin is not None:
                snapshot, prev, conf = rejoin
                rejoin = None
                if not self.conversation.is_aside(transcript.text):
                    # the reply was cut in its first seconds: the two turns are understood as one. An
                    # aside over it ("Sorry, it's been a long day") is answered on its own instead
                    self.conversation.restore(snapshot)
                    self.joined += 1
                    words, confidences = [prev], [conf]
            if transcript.text.strip():
                words.append(transcript.text.strip())
                confidences.append(transcript.confidence)
            text = " ".join(words)
            self._pending_text = text
            wait = 0.0
            if self.conversation.greeting_first(text):
                wait = GREETING_WAIT_S  # "Hello? [pause] It's Ngozi..." is one turn
            if self._caller_resumed() or wait:
                nxt = await self._next_utterance(wait or RESUMED_WAIT_S)
                if nxt is not None:
                    self.joined += 1
                    item = nxt
                    continue
            if not text:
                self._pending_text = None
                return self.conversation.on_unclear()
            t_dialog = time.monotonic()
            snapshot = self.conversation.snapshot()
            turn = await self._understand(text, min(confidences), snapshot)
            timing["dialog_ms"] = timing.get("dialog_ms", 0) + int((time.monotonic() - t_dialog) * 1000)
            if self._caller_resumed():
                # the caller went on before we answered: this reply is stale, and never played
                self.conversation.restore(snapshot)
                self.dropped += 1
                log.info("call %s: the caller went on talking; the reply to the first part is dropped", self.record.call_id)
                nxt = await self._next_utterance(RESUMED_WAIT_S)
                if nxt is not None:
                    self.joined += 1
                    item = nxt
                    continue
                turn = await self._understand(text, min(confidences), snapshot)
            self._pending_text = None
            if turn.intent not in _FINAL and not turn.intent.startswith("handoff"):
                self._answered = (snapshot, text, min(confidences))
            return turn

    async def _understand(self, text: str, confidence: float, snapshot) -> AgentTurn:
        """The dialog's reply to a caller turn. A fault in the dialog's own code (not a model's)
        costs the caller one "Sorry, I didn't catch that", with the call as it was, not the call."""
        try:
            return await self.engines.run_llm(self.conversation.on_caller, text, confidence)
        except (EngineFailure, Overloaded, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("call %s: the dialog failed on a caller turn; asking again", self.record.call_id)
            self.dialog_errors += 1
            self.conversation.restore(snapshot)
            return self.conversation.on_unclear()

    async def handle_utterance(self, item: Utterance | Heard) -> AgentTurn | None:
        utt = item.utterance if isinstance(item, Heard) else item
        speech_end = self._utterance_wall.pop(id(utt), time.monotonic())
        t0 = time.monotonic()
        timing: dict = {"endpoint_ms": int((t0 - speech_end) * 1000)}
        self._waited_s = 0.0
        work = asyncio.ensure_future(self._reply(item, timing))
        filler = False
        try:
            done, _ = await asyncio.wait({work}, timeout=max(0.0, self.filler_after_s - (t0 - speech_end)))
            if not done and not self._caller_resumed():  # slow: let the caller know we're on it (once)
                filler = True
                await self.say(AgentTurn(FILLER, intent="filler"), record_history=False)
            while not work.done():  # the time spent waiting for the caller to go on does not count
                remaining = self.turn_timeout_s + self._waited_s - (time.monotonic() - speech_end)
                if remaining <= 0:
                    raise asyncio.TimeoutError
                await asyncio.wait({work}, timeout=remaining)
            turn = work.result()
        except Overloaded as exc:
            log.warning("call %s: %s; offering a callback", self.record.call_id, exc)
            turn = await asyncio.to_thread(self.conversation.overloaded)
        except (asyncio.TimeoutError, EngineFailure, RuntimeError, OSError, ValueError) as exc:
            # a model hung or crashed: never leave the caller in silence
            stage = "deciding the reply" if "asr_ms" in timing else "recognising the speech"
            why = (f"no reply within {self.turn_timeout_s:.0f} s, still {stage}"
                   if isinstance(exc, asyncio.TimeoutError) else repr(exc))
            log.error("call %s: turn failed (%s); apologising, callback, hanging up", self.record.call_id, why)
            self.record.end_reason = f"engine failure: {why}"
            turn = await asyncio.to_thread(self.conversation.failed)
        finally:
            if not work.done():
                work.cancel()
        self._pending_text = None
        t_reply = time.monotonic()
        self._reply_for, self._answered = self._answered, None
        first_audio = await self.say(turn)
        self._reply_for = None
        end = first_audio or t_reply
        timing.update(tts_first_ms=int((end - t_reply) * 1000), total_ms=int((end - speech_end) * 1000),
                      filler=filler, intent=turn.intent, source=turn.source)
        self.record.latency.append(timing)
        log.info("call %s: turn timing: endpoint %d ms, asr %d ms%s, dialog %d ms, first audio %d ms, total %d ms",
                 self.record.call_id, timing["endpoint_ms"], timing.get("asr_ms", 0),
                 " (started early)" if timing.get("asr_early") else "", timing.get("dialog_ms", 0),
                 timing["tts_first_ms"], timing["total_ms"])
        return turn

    async def say(self, turn: AgentTurn, record_history: bool = True) -> float | None:
        """Speak a turn; returns the monotonic time its first audio was queued. A barge-in stops
        it; the record and the dialog then keep only what the caller heard."""
        assert self.rtp is not None
        if record_history:
            self.record.add_turn("agent", turn.text, intent=turn.intent)
        entry = self.record.turns[-1] if record_history else {}
        self._interrupted = False
        self._speaking = turn.text
        if record_history:
            self._expect_before, self._expect = self._expect, turn.expect
        cancel = threading.Event()
        self._cancel_tts = cancel
        start_played = self.rtp.played_samples
        pieces: list[tuple[str, int]] = []
        first: float | None = None
        try:
            async for piece, pcm in self.engines.synthesize(turn.text, cancel):
                if self._interrupted:
                    break
                if first is None:
                    first = self._reply_started = time.monotonic()
                pieces.append((piece, pcm.size))
                self.rtp.play(pcm)
        except (Overloaded, EngineFailure) as exc:
            log.error("call %s: cannot speak (%s)", self.record.call_id, exc)
            if isinstance(exc, EngineFailure) and turn.intent != "failed":
                self.engine_failed = True
        if not self._interrupted:
            await self.rtp.wait_played()
        self._cancel_tts = None
        if self._interrupted and record_history:
            heard = heard_text(pieces, self.rtp.played_samples - start_played)
            entry.update(interrupted=True, heard=heard)
            self.conversation.interrupted(heard)
        if record_history:
            # how long a pause ends the caller's answer depends on what was asked
            self.endpointer.set_end_silence(self.end_silence_for(turn.expect))
        return first

    def end_silence_for(self, expect: str) -> int:
        """Short after a yes/no or pick-one question, longer mid-number or mid-name."""
        base = self.end_silence_ms
        return {"yes_no": max(300, base - 200), "choice": max(350, base - 150),
                "name": base + 200, "number": base + 300, "spelling": base + 400}.get(expect, base)


def heard_text(pieces: list[tuple[str, int]], played: int) -> str:
    """The part of an agent turn the caller heard: the pieces that played in full, and the share
    of the words of the one that was playing."""
    out: list[str] = []
    for text, size in pieces:
        if played >= size:
            out.append(text)
            played -= size
            continue
        words = text.split()
        part = words[:round(len(words) * played / size)] if size else []
        if part:
            out.append(" ".join(part))
        break
    return " ".join(out)


def summary_line(outcome: str, summary: dict) -> str:
    """A short line for the calls list: what happened, without names or numbers."""
    booking = summary.get("booking") or {}
    q = summary.get("qualification") or {}
    if outcome in ("booked", "rescheduled") and booking:
        return f"{outcome} {booking.get('service', '')} with {booking.get('provider', '')} at {booking.get('start', '')[:16]}".strip()
    if outcome in ("transferred", "callback"):
        return f"{outcome}: {q.get('handoff_reason') or 'asked for a person'}"
    kinds = [r.get("type", "") for r in summary.get("requests", []) if r.get("type")]
    return f"{outcome}" + (f" ({', '.join(dict.fromkeys(kinds))})" if kinds else "")
