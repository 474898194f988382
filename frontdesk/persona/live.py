"""A persona on a real call: listen to the agent, understand it at the caller's side, answer.

Each agent turn is transcribed (Whisper, at the caller) as soon as it ends: a second of silence
after agent speech. The caller's brain decides what was asked and what to say; the words are
synthesised in the caller's voice (hibari-tts, not the agent's) with the pauses its style asks
for, and digits go out as RFC 4733 when it keys its number in. Backchannels ("mm-hm") are said
over the agent, and a caller who talks over starts answering as soon as it has heard enough of
the question. Nothing here looks at the server: only at what came down the line.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from ..caller import FRAME, FRAME_MS, CallResult, Phone, _agent_segments, caller_asr
from .brain import PersonaCaller, Reply
from .spec import Persona

log = logging.getLogger("frontdesk.persona")
TURN_END_MS = 1000  # agent silence that ends its turn, at the caller
NO_REPLY_S = 12.0  # the caller says "hello?" after this long without an answer
QUIET_NUDGE_S = 3.5  # after an agent statement that asked nothing, the caller waits this long
MAX_CALL_S = 420.0


@dataclass
class PersonaResult(CallResult):
    persona: str = ""
    goal: str = ""
    heard: list[dict] = field(default_factory=list)  # (what the caller made of each agent turn)
    progress: dict = field(default_factory=dict)
    verdict: dict = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    agent_over_caller: int = 0  # agent audio that started while the caller was still talking
    unanswered: list[int] = field(default_factory=list)  # caller turns no agent audio began during or after


class _Voice:
    def __init__(self):
        from tts.hibari import HibariTTS

        self.tts = HibariTTS(sample_rate=8000)
        self._cache: dict[str, np.ndarray] = {}

    def render(self, reply: Reply) -> list[tuple[str, object]]:
        """Audio chunks and keypad digits, in order: ("pcm", array) or ("dtmf", digits)."""
        out: list[tuple[str, object]] = []
        pcm: list[np.ndarray] = []
        for part in reply.parts:
            if part.dtmf:
                if pcm:
                    out.append(("pcm", np.concatenate(pcm)))
                    pcm = []
                out.append(("dtmf", part.dtmf))
            elif part.pause_ms:
                pcm.append(np.zeros(part.pause_ms * 8, np.int16))
            elif part.text.strip():
                if part.text not in self._cache:
                    self._cache[part.text] = self.tts.synthesize_all(part.text).astype(np.int16)
                pcm.append(self._cache[part.text])
        if pcm:
            out.append(("pcm", np.concatenate(pcm)))
        return out


def place_persona_call(uri: str, persona: Persona, *, answer_timeout: float = 30.0, transport: str = "udp",
                       teardown: bool = True, tz: str = "America/New_York", clinic_words: str = "") -> PersonaResult:
    """``clinic_words``: what a caller knows of the place they rang (its name, its dentists), which
    their own recogniser is told to expect, as a person's ear would."""
    result = PersonaResult(uri=uri, persona=persona.id, goal=persona.goal)
    today = datetime.now(ZoneInfo(tz)).date()
    brain = PersonaCaller(persona, today)
    brain.clinic_words = clinic_words
    voice = _Voice()
    asr = caller_asr()
    phone = Phone(uri, transport=transport, caller_id=persona.caller_id or "anonymous", result=result)
    audio = phone.audio
    caller_turns: list[dict] = []
    agent_turns: list[dict] = []
    try:
        if phone.dial(answer_timeout):
            _converse(phone, brain, voice, asr, caller_turns, agent_turns, result)
        phone.hangup()
    except phone.pj.Error as exc:
        result.error = f"pjsua2: {exc.info()}"
    finally:
        received = phone.close(teardown)
    result.turns = sorted(agent_turns + caller_turns, key=lambda t: t["start_ms"])
    _latencies(received, caller_turns, result)
    p = brain.progress
    result.progress = {"goal_heard_done": brain.done(), "reasked": p.reasked, "agent_pardons": p.pardons,
                       "gave_up": p.gave_up, "callback_heard": p.callback_heard, "emergency_heard": p.emergency_heard,
                       "answered_questions": p.answered, "caller_turns": len([t for t in caller_turns if t.get("act") != "backchannel"])}
    result.heard = [{"kind": k, "heard": h, "said": s} for k, h, s in brain.log]
    result._brain = brain  # type: ignore[attr-defined]  # for the verdict, in-process
    return result


def _converse(phone: Phone, brain: PersonaCaller, voice: _Voice, asr, caller_turns: list, agent_turns: list,
              result: PersonaResult) -> None:
    audio = phone.audio
    heard_until = 0  # frames of agent audio already understood
    t0 = time.monotonic()
    silent_since = time.monotonic()
    hellos = 0
    while phone.up and time.monotonic() - t0 < MAX_CALL_S:
        turn = _listen(phone, brain, voice, asr, heard_until, caller_turns)
        if not phone.up:
            break
        if turn is None:  # nothing from the agent for a while
            if time.monotonic() - silent_since < NO_REPLY_S:
                continue
            hellos += 1
            if hellos > 2:
                brain.progress.gave_up = "the agent stopped answering"
                return
            _speak(phone, voice, brain._say("pardon", "Hello?"), caller_turns)
            silent_since = time.monotonic()
            continue
        a, b, text, early = turn
        hellos = 0
        agent_turns.append({"speaker": "agent", "text": text, "start_ms": a * FRAME_MS, "end_ms": b * FRAME_MS})
        heard_until = b
        if _cut_off(a, b, caller_turns):
            # the agent started while we were still talking and stopped: a reply to half of what
            # we said, which a person talks through and does not answer
            agent_turns[-1]["cut_off"] = True
            continue
        reply = brain.hear(text)
        if reply is None:
            if brain.progress.unknown:  # it said something that asked nothing: give it a moment
                more = _listen(phone, brain, voice, asr, heard_until, caller_turns, quiet_s=QUIET_NUDGE_S)
                if more is None and phone.up:
                    _speak(phone, voice, brain.nudge(), caller_turns)
                elif more is not None:
                    a, b, text, early = more
                    agent_turns.append({"speaker": "agent", "text": text, "start_ms": a * FRAME_MS, "end_ms": b * FRAME_MS})
                    heard_until = b
                    reply = brain.hear(text)
                    if reply is not None:
                        _speak(phone, voice, reply, caller_turns)
                        if reply.hangup:
                            phone.pump(1.5)
                            return
            silent_since = time.monotonic()
            continue
        start = _speak(phone, voice, reply, caller_turns)
        if early:
            heard_until = max(heard_until, start // FRAME_MS)  # the tail of the question we talked over
        silent_since = time.monotonic()
        if reply.hangup:
            phone.pump(1.5)  # let a last "goodbye" arrive
            return


def _cut_off(a: int, b: int, caller_turns: list) -> bool:
    """Agent audio [a, b) (frames) began inside the caller's last speech and ended within 1.5 s of
    its end: the agent was interrupted by the caller's own talking."""
    spoken = [t for t in caller_turns if t.get("act") != "backchannel"]
    if not spoken:
        return False
    last = spoken[-1]
    return last["start_ms"] <= a * FRAME_MS < last["end_ms"] and b * FRAME_MS <= last["end_ms"] + 1500


def _listen(phone: Phone, brain: PersonaCaller, voice: _Voice, asr, after: int, caller_turns: list,
            quiet_s: float = 2.0):
    """Wait for the agent's next turn to end; returns (start, end, text, talked_over) or None."""
    audio = phone.audio
    deadline = time.monotonic() + quiet_s
    backchannel: Reply | None = None
    talk_over = False
    decided_for = None
    last_try = 0.0
    while phone.up:
        phone.pump(0.05)
        segs = _agent_segments(audio.rx_audio(), after)
        if not segs:
            if time.monotonic() > deadline:
                return None
            continue
        deadline = time.monotonic() + quiet_s
        a, b = segs[0][0], segs[-1][1]
        now = audio.rx_frames
        if decided_for != a:  # a new agent turn: will this caller backchannel or talk over it?
            decided_for = a
            backchannel = brain.backchannel()
            talk_over = brain.wants_talk_over()
        if now - b >= TURN_END_MS // FRAME_MS:
            # after spelling its name the caller listens for its letters, as a person would
            prompt = brain.spelling_prompt() if brain.expects_spelling() else (brain.clinic_words or None)
            text = asr.transcribe(audio.rx_audio()[a * FRAME:b * FRAME], 8000, prompt).text.strip()
            return a, b, text, False
        speaking_ms = (now - a) * FRAME_MS
        if backchannel is not None and speaking_ms > 1500 and now - b < 5:
            _speak(phone, voice, backchannel, caller_turns, wait=False)
            backchannel = None
        if talk_over and speaking_ms > 2000 and time.monotonic() - last_try > 0.8:
            last_try = time.monotonic()
            partial = asr.transcribe(audio.rx_audio()[a * FRAME:now * FRAME], 8000).text.strip()
            if brain.can_answer_early(partial):
                return a, now, partial, True
    return None


def _speak(phone: Phone, voice: _Voice, reply: Reply, caller_turns: list, wait: bool = True) -> int:
    """Say a reply; returns the rx time (ms) it began. Its turn records when the voice ended."""
    start = phone.rx_ms()
    end = start
    keys_from = None
    for kind, value in voice.render(reply):
        if not phone.up:
            break
        if kind == "dtmf":
            keys_from = phone.rx_ms() if keys_from is None else keys_from
            phone.dtmf(value)
            end = phone.rx_ms()
        else:
            begin = phone.rx_ms()
            if wait:
                phone.speak(value)
            else:
                phone.audio.speak(value)
            voiced = _agent_segments(value.copy())
            end = begin + (voiced[-1][1] * FRAME_MS if voiced else value.size // 8)
    caller_turns.append({"speaker": "caller", "text": reply.text, "act": reply.act, "start_ms": start, "end_ms": end,
                         "keys_from": keys_from})
    return start


def _latencies(received: np.ndarray, caller_turns: list, result: PersonaResult) -> None:
    """Per caller turn: from the end of its speech to the first agent audio after it."""
    segs = _agent_segments(received)
    turns = [t for t in caller_turns if t.get("act") != "backchannel"]
    for i, t in enumerate(turns):
        nxt = turns[i + 1]["start_ms"] if i + 1 < len(turns) else 10**9
        during = [s for s in segs if t["start_ms"] + 300 < s[0] * FRAME_MS < t["end_ms"]]
        if during:
            result.agent_over_caller += 1
        after = [s for s in segs if t["end_ms"] <= s[0] * FRAME_MS < nxt]
        # no latency when the reply began before the turn ended: over the caller (counted above),
        # or once a keyed-in number was complete, before its closing "#"
        early = during or t.get("keys_from") is not None and any(t["keys_from"] < s[0] * FRAME_MS < t["end_ms"]
                                                                 for s in segs)
        if not after and not early:
            result.unanswered.append(i)
        result.latency_ms.append(after[0][0] * FRAME_MS - t["end_ms"] if after else None)


def result_json(result: PersonaResult) -> dict:
    data = asdict(result)
    data["ok"] = result.ok
    return data
