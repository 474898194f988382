"""A persona against the dialog in text, without audio: the fast loop for dialog work.

The caller's words go straight to the agent's conversation policy and the agent's words straight
back to the caller, so recognition errors, turn-taking and latency are not measured here; the
live calls (`frontdesk call --persona`, bench/personas.py) measure those. Keypad digits are sent
as DTMF, pauses inside a caller's turn are kept only as a turn boundary when the style splits
its opening (one reply per fragment is what a real agent would hear without turn joining).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .brain import PersonaCaller
from .spec import Persona

_ids = itertools.count(1)


@dataclass
class TextCall:
    persona: str
    call_id: str
    turns: list[dict] = field(default_factory=list)
    ended_by: str = ""
    brain: PersonaCaller | None = None


def run_text(persona: Persona, conversation, *, max_turns: int = 40) -> TextCall:
    """Drive one conversation (dialog.conversation.Conversation or alike) with a persona."""
    tz = conversation.tz
    today = datetime.now(timezone.utc).astimezone(tz).date()
    brain = PersonaCaller(persona, today)
    call = TextCall(persona=persona.id, call_id=conversation.call_id, brain=brain)
    agent = conversation.greeting()
    call.turns.append({"speaker": "agent", "text": agent.text, "intent": agent.intent, "source": agent.source})
    for _ in range(max_turns):
        if agent.hangup:
            call.ended_by = "agent"
            break
        reply = brain.hear(agent.text)
        if reply is None:
            continue
        said = reply.spoken
        call.turns.append({"speaker": "caller", "text": reply.text, "act": reply.act})
        agent = None
        digits = "".join(p.dtmf for p in reply.parts if p.dtmf)
        if said:
            agent = conversation.on_caller(said)
        if digits:  # keyed in while a number is asked for: the session passes them on together
            agent = conversation.on_dtmf(digits) or agent
        if agent is None:
            agent = conversation.on_unclear()
        call.turns.append({"speaker": "agent", "text": agent.text, "intent": agent.intent, "source": agent.source})
        if reply.hangup:
            call.ended_by = "caller"
            conversation.on_hangup()
            break
    else:
        call.ended_by = "turn limit"
        conversation.on_hangup()
    return call


def next_call_id(persona: Persona) -> str:
    return f"text-{persona.id}-{next(_ids)}"
