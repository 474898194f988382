"""One call: media → endpointing → ASR → dialog (LLM) → TTS → media, off the event loop."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from typing import Awaitable, Callable

import numpy as np

from dialog.conversation import AgentTurn, Conversation
from media.bargein import BargeInDetector
from media.rtp_session import RtpSession
from media.vad import Endpointer, SpeechStarted, Utterance

from .calllog import CallRecord
from .engines import Engines

log = logging.getLogger("frontdesk.call")
ECHO_TAIL_S = 0.35


class CallSession:
    def __init__(self, record: CallRecord, engines: Engines, conversation: Conversation,
                 silence_timeout_s: float, end_silence_ms: int, hangup: Callable[[str], None],
                 transfer: Callable[[str], Awaitable[bool]] | None = None, barge_in_ms: int = 400):
        self.record = record
        self.engines = engines
        self.conversation = conversation
        self.silence_timeout_s = silence_timeout_s
        self.end_silence_ms = end_silence_ms
        self.endpointer = Endpointer(end_silence_ms=end_silence_ms)
        self.hangup = hangup
        self.transfer = transfer
        self._digits = ""
        self.rtp: RtpSession | None = None
        self.inbox: asyncio.Queue[Utterance | str] = asyncio.Queue()
        self.asr_prompt = f"{conversation.clinic.name}. " + ", ".join(s.name for s in conversation.clinic.services) + "."
        self._utterance_wall: dict[int, float] = {}
        self.barge = BargeInDetector(min_speech_ms=barge_in_ms) if barge_in_ms > 0 else None
        self._interrupted = False
        self._cancel_tts: threading.Event | None = None
        self._started_over_agent = False  # the current utterance began while the agent spoke
        self._barged = False  # ... and interrupted it

    def attach(self, rtp: RtpSession) -> None:
        self.rtp = rtp
        if self.barge is not None:
            rtp.on_sent = self.barge.on_sent

    # -- media callbacks (event loop thread) ---------------------------------------------

    def on_frame(self, frame: np.ndarray) -> None:
        playing = self.rtp is not None and self.rtp.playing
        # the agent's echo can arrive up to ~300 ms after its audio ends
        echo_tail = self.rtp is not None and time.monotonic() - self.rtp.last_audio_out_at < ECHO_TAIL_S
        events = self.endpointer.feed(frame)
        for event in events:
            if isinstance(event, SpeechStarted):
                self._started_over_agent = playing or echo_tail
                self._barged = False
        if self.barge is not None and self.barge.on_received(frame, self.endpointer.last_voiced, playing):
            self._barge_in()
        for event in events:
            if isinstance(event, Utterance):
                if self._started_over_agent and not self._barged:
                    # a backchannel, a cough, or the agent's own echo: not a turn
                    log.info("call %s: ignored %d ms of audio over the agent (no barge-in)",
                             self.record.call_id, event.end_ms - event.start_ms)
                    continue
                # wall-clock time the caller stopped speaking: now minus the trailing silence
                event_wall = time.monotonic() - (event.detected_ms - event.end_ms) / 1000
                self._utterance_wall[id(event)] = event_wall
                self.inbox.put_nowait(event)

    def _barge_in(self) -> None:
        """The caller talks over the agent: stop the audio now and the speech that was coming."""
        assert self.rtp is not None
        self._barged = True
        self._interrupted = True
        dropped = self.rtp.clear()
        if self._cancel_tts is not None:
            self._cancel_tts.set()
        log.info("call %s: barge-in; %d ms of agent audio dropped", self.record.call_id, dropped // 8)

    def on_dtmf(self, digit: str) -> None:
        self.record.dtmf.append(digit)
        log.info("call %s: DTMF %s", self.record.call_id, digit)
        self.inbox.put_nowait(digit)

    # -- the conversation loop -----------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.say(self.conversation.greeting())
            while True:
                try:
                    item = await asyncio.wait_for(self.inbox.get(), timeout=self.silence_timeout_s)
                except asyncio.TimeoutError:
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
                if turn is not None and turn.hangup and not self._interrupted:
                    break
            self.hangup("agent ended the call")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: internal error; ending the call", self.record.call_id)
            self.record.end_reason = "internal error"
            self.hangup("internal error")

    async def handle_dtmf(self, digit: str) -> AgentTurn | None:
        """Keypad input: digits collect until # (or ten digits) while a number is asked for."""
        if self.conversation.state == "phone" or self._digits:
            self._digits += digit
            if digit != "#" and len(self._digits.rstrip("#")) < 10:
                return None
            digits, self._digits = self._digits, ""
        else:
            digits = digit
        self.record.add_turn("caller", f"[DTMF {digits}]")
        turn = await self.engines.run_llm(self.conversation.on_dtmf, digits)
        if turn is not None:
            await self.say(turn)
        return turn

    async def handle_utterance(self, utt: Utterance) -> AgentTurn | None:
        speech_end = self._utterance_wall.pop(id(utt), time.monotonic())
        t0 = time.monotonic()
        transcript = await self.engines.transcribe(utt.audio, self.asr_prompt)
        t_asr = time.monotonic()
        log.info("call %s: caller said %r (confidence %.2f, asr %.0f ms)", self.record.call_id,
                 transcript.text, transcript.confidence, (t_asr - t0) * 1000)
        self.record.add_turn("caller", transcript.text, confidence=round(transcript.confidence, 3),
                             audio_ms=int(utt.audio.size / 8))
        if not transcript.text.strip():
            turn = self.conversation.on_unclear()
        else:
            turn = await self.engines.run_llm(self.conversation.on_caller, transcript.text, transcript.confidence)
        t_llm = time.monotonic()
        first_audio = await self.say(turn)
        self.record.latency.append({
            "asr_ms": int((t_asr - t0) * 1000),
            "dialog_ms": int((t_llm - t_asr) * 1000),
            "tts_first_ms": int(((first_audio or t_llm) - t_llm) * 1000),
            "endpoint_ms": int((t0 - speech_end) * 1000),
            "total_ms": int(((first_audio or t_llm) - speech_end) * 1000),
            "intent": turn.intent, "source": turn.source,
        })
        return turn

    async def say(self, turn: AgentTurn) -> float | None:
        """Speak a turn; returns the monotonic time its first audio was queued. A barge-in stops
        it; the record and the dialog then keep only what the caller heard."""
        assert self.rtp is not None
        self.record.add_turn("agent", turn.text, intent=turn.intent)
        entry = self.record.turns[-1]
        self._interrupted = False
        cancel = threading.Event()
        self._cancel_tts = cancel
        start_played = self.rtp.played_samples
        sizes: list[int] = []
        first: float | None = None
        async for chunk in self.engines.synthesize(turn.text, cancel):
            if self._interrupted:
                break
            if first is None:
                first = time.monotonic()
            sizes.append(chunk.size)
            self.rtp.play(chunk)
        if not self._interrupted:
            await self.rtp.wait_played()
        self._cancel_tts = None
        if self._interrupted:
            heard = heard_text(turn.text, sizes, self.rtp.played_samples - start_played)
            entry.update(interrupted=True, heard=heard)
            self.conversation.interrupted(heard)
        # how long a pause ends the caller's answer depends on what was asked
        self.endpointer.set_end_silence(self.end_silence_for(turn.expect))
        return first

    def end_silence_for(self, expect: str) -> int:
        """Short after a yes/no or pick-one question, longer mid-number or mid-name."""
        base = self.end_silence_ms
        return {"yes_no": max(400, base - 200), "choice": max(450, base - 150),
                "name": base + 200, "number": base + 500}.get(expect, base)


def heard_text(text: str, sentence_samples: list[int], played: int) -> str:
    """The part of an agent turn the caller heard, from how many samples of each sentence played."""
    sentences = [x for x in re.split(r"(?<=[.!?])\s+", text.strip()) if x]
    if len(sentences) != len(sentence_samples):  # unknown mapping: share the words out evenly
        words = text.split()
        total = sum(sentence_samples) or 1
        return " ".join(words[:round(len(words) * min(played, total) / total)])
    out: list[str] = []
    for sentence, size in zip(sentences, sentence_samples):
        if played >= size:
            out.append(sentence)
            played -= size
            continue
        words = sentence.split()
        part = words[:round(len(words) * played / size)] if size else []
        if part:
            out.append(" ".join(part))
        break
    return " ".join(out)
