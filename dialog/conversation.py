"""The conversation policy: the backend owns the flow and speaks from templates.

The language model only proposes what the caller wants (one constrained JSON object per
turn); deterministic rules run first and the proposal is checked before it is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol

from . import rules
from .hours import describe_hours

log = logging.getLogger("frontdesk.dialog")

INTENTS = ("book", "cancel", "reschedule", "hours", "location", "human", "goodbye", "other")

JsonModel = Callable[[list[dict], dict], dict]


class ClinicFacts(Protocol):
    name: str
    disclosure: str
    address: str
    services: list
    hours: dict


@dataclass
class AgentTurn:
    text: str
    hangup: bool = False
    intent: str = ""
    source: str = "rule"  # rule | llm | fallback


@dataclass
class Conversation:
    clinic: ClinicFacts
    model: JsonModel | None = None
    history: list[tuple[str, str]] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    misunderstandings: int = 0

    # -- prompts -----------------------------------------------------------------------

    def system_prompt(self) -> str:
        services = ", ".join(s.name for s in self.clinic.services)
        return (
            f"You route phone calls for {self.clinic.name}. Services: {services}.\n"
            "The caller's words come from speech recognition and may contain errors.\n"
            "Answer with JSON giving the caller's intent and the service they named.\n"
            "Intents: book = wants a new appointment; cancel = cancel an appointment; "
            "reschedule = move an appointment; hours = opening hours; location = address, "
            "directions or parking; human = wants a person; goodbye = ending the call; other = anything else.\n"
            "Use service \"none\" when no service is named."
        )

    def schema(self) -> dict:
        return {
            "type": "object",
            "properties": {
                "intent": {"type": "string", "enum": list(INTENTS)},
                "service": {"type": "string", "enum": [s.name for s in self.clinic.services] + ["none"]},
            },
            "required": ["intent", "service"],
        }

    def prompt_messages(self, caller_text: str) -> list[dict]:
        return [{"role": "system", "content": self.system_prompt()},
                {"role": "user", "content": caller_text}]

    # -- turns -------------------------------------------------------------------------

    def greeting(self) -> AgentTurn:
        text = f"Thank you for calling {self.clinic.name}. {self.clinic.disclosure} How can I help you today?"
        return self._say(AgentTurn(text, intent="greeting"))

    def on_silence(self) -> AgentTurn:
        return self._say(AgentTurn(
            f"I haven't heard anything, so I'll end the call now. Thank you for calling {self.clinic.name}. Goodbye.",
            hangup=True, intent="silence"))

    def on_unclear(self) -> AgentTurn:
        self.misunderstandings += 1
        return self._say(AgentTurn("Sorry, I didn't catch that. Could you say it again?", intent="unclear", source="fallback"))

    def on_caller(self, text: str) -> AgentTurn:
        text = text.strip()
        self.history.append(("caller", text))
        if not rules.normalize(text):
            return self.on_unclear()
        if rules.is_emergency(text):
            return self._say(AgentTurn(
                "If this is a medical emergency, please hang up and call 911 now. "
                "If it's a dental emergency, I'll make sure our staff call you back right away.",
                intent="emergency"))
        if rules.is_goodbye(text):
            return self._goodbye()
        service = rules.match_service(text, self.clinic.services)
        intent, source = None, "rule"
        if rules.wants_human(text):
            intent = "human"
        elif self.model is not None:
            try:
                proposal = self.model(self.prompt_messages(text), self.schema())
                intent = proposal.get("intent") if proposal.get("intent") in INTENTS else None
                proposed_service = proposal.get("service")
                if service is None and proposed_service in {s.name for s in self.clinic.services}:
                    service = proposed_service
                source = "llm"
            except Exception as exc:  # a model failure never ends the call
                log.warning("intent model failed: %s", exc)
        if intent is None:
            intent = "book" if service else "other"
            source = "fallback"
        return self._respond(intent, service, source)

    # -- replies -----------------------------------------------------------------------

    def _respond(self, intent: str, service: str | None, source: str) -> AgentTurn:
        anything_else = "Is there anything else I can help you with?"
        if intent == "goodbye":
            return self._goodbye()
        if intent == "book":
            what = f"a {service}" if service else "an appointment"
            self.requests.append({"type": "book", "service": service})
            text = (f"Sure, I can help you book {what}. I've noted your request, and our front desk "
                    f"will call you back to choose a time. {anything_else}")
        elif intent in ("cancel", "reschedule"):
            self.requests.append({"type": intent})
            text = (f"Okay, you'd like to {intent} an appointment. I've noted it, and our front desk "
                    f"will call you back to confirm. {anything_else}")
        elif intent == "hours":
            text = f"{describe_hours(self.clinic.hours)} {anything_else}"
        elif intent == "location":
            where = f"We're at {self.clinic.address}." if self.clinic.address else "I don't have our address on file."
            text = f"{where} {anything_else}"
        elif intent == "human":
            self.requests.append({"type": "callback"})
            text = f"Of course. I'll ask a member of our staff to call you back as soon as possible. {anything_else}"
        else:
            self.misunderstandings += 1
            text = ("I'm sorry, I can help with appointments, and with our hours and location. "
                    "What would you like to do?")
        return self._say(AgentTurn(text, intent=intent, source=source))

    def _goodbye(self) -> AgentTurn:
        return self._say(AgentTurn(f"Thank you for calling {self.clinic.name}. Goodbye.", hangup=True, intent="goodbye"))

    def _say(self, turn: AgentTurn) -> AgentTurn:
        self.history.append(("agent", turn.text))
        return turn
