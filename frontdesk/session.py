"""One call's conversation loop: caller turns → ASR → dialog (LLM) → TTS → media, off the event loop.

Where the time goes, and what overlaps:
* turns.py decides when the caller's turn ends and what their speech over the agent is; it starts
  recognition at each pause, so that the transcript is usually ready when the turn ends;
* one reply per caller turn: a greeting alone waits for more, and words that go on before the
  reply plays are joined to the turn and understood once (the stale reply is never played);
* the reply is spoken clause by clause; fixed phrases come from the phrase cache; a barge-in
  stops it, and the record and the dialog keep only what the caller heard.

One module on purpose (about 440 lines): the order of one turn (heard, understood, spoken, cut
short) and what a newer turn undoes are read in one place; when a turn ends is in turns.py,
the call's set-up and end in calls.py."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Awaitable, Callable

import numpy as np

from dialog.conversation import FILLER, AgentTurn, Conversation
from dialog.prompts import recognition_prompt
from dialog.states import State
from media.rtp_session import RtpSession
from media.vad import Utterance

from .calllog import CallRecord
from .engines import Engines
from .turns import Heard, TurnTaking
from .workers import EngineFailure, Overloaded

log = logging.getLogger("frontdesk.call")
GREETING_WAIT_S = 1.5  # after "Hello?" alone, how long to wait for the caller to go on
RESUMED_WAIT_S = 8.0  # the caller started talking again: how long their next utterance may take
REJOIN_S = 2.0  # caller speech that starts this soon after a reply starts (and barges in) continues their turn
_FINAL = ("booked", "cancelled", "waitlisted", "goodbye", "failed", "transfer_failed")  # replies that changed the world


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
        self.filler_after_s = filler_after_s
        self.hangup = hangup
        self.transfer = transfer
        self._digits = ""
        self.rtp: RtpSession | None = None
        self.inbox: asyncio.Queue[Utterance | Heard | str] = asyncio.Queue()
        self.clinic = conversation.clinic
        self.turns = TurnTaking(record.call_id, engines, conversation, end_silence_ms=end_silence_ms,
                                deliver=self.inbox.put_nowait, interrupted=self._interrupted_by_caller,
                                prompt=lambda: self.asr_prompt, barge_in_ms=barge_in_ms,
                                barge_in_pause_ms=barge_in_pause_ms, backchannels_interrupt=backchannels_interrupt,
                                log_text=log_text)
        self._interrupted = False
        self._cancel_tts: threading.Event | None = None
        self._expect_before = "open"  # ... and the turn before it (a joined turn is heard as its answer)
        self.consent_prompt = consent_prompt  # said first when the call is recorded
        self.turn_timeout_s = turn_timeout_s  # no reply by then: apologise, offer a callback, hang up
        self.engine_failed = False  # speech synthesis failed: the call ends with the cached apology
        self.joined = 0  # caller turns joined to the next one (a greeting, a pause mid-answer)
        self.dropped = 0  # replies dropped because the caller went on talking before they played
        self.dialog_errors = 0  # caller turns the dialog code failed on (answered "Sorry, I didn't catch that")
        self._waited_s = 0.0  # this turn's time waiting for the caller to go on (not the engines')
        self._answered = None  # (conversation before it, the caller's words, confidence) of the reply being made
        self._reply_for = None  # ... of the reply now playing
        self._reply_started = 0.0
        self._reply_speech_end = 0.0  # when the caller stopped speaking in the turn that reply answers
        self._rejoin = None  # set by a barge-in in the reply's first seconds: join the turns

    @property
    def asr_prompt(self) -> str:
        """Whisper's prompt: the clinic's words, and letters or digits when those are expected."""
        return recognition_prompt(self.clinic, self.turns.expect)

    @property
    def endpointer(self):
        return self.turns.endpointer

    def attach(self, rtp: RtpSession) -> None:
        self.rtp = rtp
        self.turns.attach(rtp)

    # -- media callbacks (event loop thread) ---------------------------------------------

    def on_frame(self, frame: np.ndarray) -> None:
        self.turns.on_frame(frame)

    def _interrupted_by_caller(self) -> None:
        """A barge-in (turns.py stopped the agent's audio): the speech that was coming is dropped."""
        self._interrupted = True
        if self._cancel_tts is not None:
            self._cancel_tts.set()
        answered = self._reply_for
        went_on = self.turns.speech_started - self._reply_started  # when the caller started, not when it counted
        if answered is not None and went_on < REJOIN_S:
            # the caller went on with what they were saying just as the reply began: their words
            # are one turn, understood again as a whole, as if the reply had not started
            self._rejoin = answered
            self.turns.expect = self._expect_before  # hear the rest as the answer it continues, not the new question
            if self._reply_speech_end:  # and this caller's pauses mid-turn are longer than the endpointer's
                self.turns.learn_pause(int((self.turns.speech_started - self._reply_speech_end) * 1000),
                                       self._expect_before)
            log.info("call %s: the caller went on %.1f s into the reply; the turn is joined", self.record.call_id,
                     max(0.0, went_on))

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
        rec.barge_in = {"pauses": self.turns.pauses, "resumes": self.turns.resumes, "joined": self.joined,
                        "dropped": self.dropped}

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
            opening = self.conversation.greeting()  # None: a call we placed listens first
            if opening is not None:
                await self.say(opening)
            goodbyes = 0
            while True:
                try:
                    # asyncio.timeout, not wait_for: in Python 3.11 wait_for drops a cancellation
                    # that lands as the item arrives, and the call's task would outlive the call
                    async with asyncio.timeout(getattr(self.conversation, "listen_s", None) or self.silence_timeout_s):
                        item = await self.inbox.get()
                except TimeoutError:
                    if self.rtp is not None and (self.rtp.on_hold or self.rtp.playing):
                        continue  # on hold (or still talking): silence is expected
                    if self.endpointer.in_speech:
                        continue  # the caller is in the middle of a long answer (a spelling, say)
                    turn = self.conversation.on_silence()
                    await self.say(turn)
                    if turn.hangup:
                        break
                    continue
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
                if turn is not None and turn.intent == "goodbye":
                    goodbyes += 1
                if turn is not None and (turn.intent == "failed" or (turn.hangup and not self._interrupted)
                                         or (turn.hangup and goodbyes >= 2)):
                    break  # a goodbye the caller talked over is said once more, not for ever
            self.hangup("agent ended the call")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: internal error; ending the call", self.record.call_id)
            self.record.end_reason = "internal error"
            self.hangup("internal error")
        finally:
            self.turns.close()

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

    async def _transcript(self, item: Utterance | Heard, timing: dict):
        t0 = time.monotonic()
        if isinstance(item, Heard):
            transcript, reused = item.transcript, True
        else:
            transcript, reused = await self.turns.recognise(item)
        utt = item.utterance if isinstance(item, Heard) else item
        timing["asr_ms"] = timing.get("asr_ms", 0) + int((time.monotonic() - t0) * 1000)
        timing["asr_early"] = reused
        log.info("call %s: caller said %s (confidence %.2f)", self.record.call_id, self.turns.said(transcript.text),
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
            self.turns.pending_text = text
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
                self.turns.pending_text = None
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
            self.turns.pending_text = None
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
        speech_end = self.turns.speech_end(utt)
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
        self.turns.pending_text = None
        t_reply = time.monotonic()
        self._reply_for, self._answered = self._answered, None
        self._reply_speech_end = self.turns.speech_ended  # the last words of the turn answered (joined or not)
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
        self.turns.speaking = turn.text
        if record_history:
            self._expect_before, self.turns.expect = self.turns.expect, turn.expect
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
            # how long a pause ends the caller's answer depends on what was asked (or, when the
            # caller went on with their turn over this one, on what they are still answering)
            self.turns.asked(self.turns.expect)
        return first


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
