"""One call: media → endpointing → ASR → dialog (LLM) → TTS → media, off the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

import numpy as np

from dialog.conversation import AgentTurn, Conversation
from media.rtp_session import RtpSession
from media.vad import Endpointer, Utterance

from .calllog import CallRecord
from .engines import Engines

log = logging.getLogger("frontdesk.call")


class CallSession:
    def __init__(self, record: CallRecord, engines: Engines, conversation: Conversation,
                 silence_timeout_s: float, end_silence_ms: int, hangup: Callable[[str], None],
                 transfer: Callable[[str], Awaitable[bool]] | None = None):
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

    # -- media callbacks (event loop thread) ---------------------------------------------

    def on_frame(self, frame: np.ndarray) -> None:
        for event in self.endpointer.feed(frame):
            if isinstance(event, Utterance):
                # wall-clock time the caller stopped speaking: now minus the trailing silence
                event_wall = time.monotonic() - (event.detected_ms - event.end_ms) / 1000
                self._utterance_wall[id(event)] = event_wall
                self.inbox.put_nowait(event)

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
                if turn is not None and turn.hangup:
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
        """Speak a turn; returns the monotonic time its first audio was queued."""
        assert self.rtp is not None
        self.record.add_turn("agent", turn.text, intent=turn.intent)
        first: float | None = None
        async for chunk in self.engines.synthesize(turn.text):
            if first is None:
                first = time.monotonic()
            self.rtp.play(chunk)
        await self.rtp.wait_played()
        # how long a pause ends the caller's answer depends on what was asked
        self.endpointer.set_end_silence(self.end_silence_for(turn.expect))
        return first

    def end_silence_for(self, expect: str) -> int:
        """Short after a yes/no or pick-one question, longer mid-number or mid-name."""
        base = self.end_silence_ms
        return {"yes_no": max(400, base - 200), "choice": max(450, base - 150),
                "name": base + 200, "number": base + 500}.get(expect, base)
