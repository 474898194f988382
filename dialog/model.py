"""What the language model is asked, when the rules find nothing in a turn.

The model never writes an answer: it scores a closed set of options (the intent, then a service
or an FAQ entry) from one forward pass over the turn's new tokens; the system prompt and the
worked examples before it stay in the KV cache. Options are single words with different first
tokens. A proposal below MIN_CONFIDENCE is not understanding, and every value it names is one the
rules' parsers accept (a configured service, a configured FAQ id).
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("frontdesk.dialog")
MIN_CONFIDENCE = 0.6
# the model's words for the intents (single words that tokenise apart) and what they mean here
INTENT_WORDS = {"book": "book", "cancel": "cancel", "reschedule": "reschedule", "question": "faq",
                "person": "human", "billing": "billing", "advice": "advice", "emergency": "emergency",
                "yes": "yes", "no": "no", "info": "give_info", "bye": "goodbye", "other": "other"}
_EXAMPLES = [
    ("How can I help you today?", "I'd like to come in and have my teeth looked at", "book checkup"),
    ("What kind of appointment do you need?", "I need my teeth cleaned, it's been a while", "book cleaning"),
    ("How can I help you today?", "a piece of my tooth broke off and it really hurts", "book emergency"),
    ("What kind of appointment do you need?", "there's a hole in my back tooth", "book filling"),
    ("What kind of appointment do you need?", "just the usual six-monthly polish", "book cleaning"),
    ("How can I help you today?", "please take my appointment off the books", "cancel"),
    ("How can I help you today?", "can we move my visit to another day", "reschedule"),
    ("How can I help you today?", "do you have somewhere I can leave my car", "question"),
    ("How can I help you today?", "let me talk to somebody at the desk", "person"),
    ("How can I help you today?", "I think I was charged twice", "billing"),
    ("How can I help you today?", "should I stop taking the antibiotics", "advice"),
    ("How can I help you today?", "my mouth won't stop bleeding since the extraction", "emergency"),
    ("Shall I go ahead?", "that works for me", "yes"),
    ("Shall I go ahead?", "no that's the wrong day", "no"),
    ("Can I have your first and last name?", "it's Kwame Mensah", "info"),
    ("Is there anything else I can help with?", "that's everything, thanks", "bye"),
    ("How can I help you today?", "purple monkey dishwasher", "other"),
]


class Scorer(Protocol):
    def score(self, messages: list[dict], options: list[str], *, assistant_prefix: str = "") -> dict[str, float]: ...


def system_prompt(clinic, faq_ids: list[str]) -> str:
    services = ", ".join(s.name for s in clinic.services)
    return (f"You route phone calls for {clinic.name}. Services: {services}. Questions the clinic answers: "
            f"{', '.join(['hours', 'address', 'parking', 'insurance', *faq_ids])}.\n"
            "The caller's words come from speech recognition and may contain errors. Answer with one word for what "
            "the caller wants: book (a new appointment), cancel, reschedule (move an appointment), question (about the "
            "clinic), person (wants a staff member), billing (bills, refunds, complaints), advice (medical advice), "
            "emergency (danger to health or life), yes, no, info (gives a name, number, date or time), bye (ends the "
            "call), other.")


def messages(clinic, faq_ids: list[str], asked_text: str, caller_text: str) -> list[dict]:
    out = [{"role": "system", "content": system_prompt(clinic, faq_ids)}]
    for agent, caller, label in _EXAMPLES:
        out.append({"role": "user", "content": f"Agent: {agent}\nCaller: {caller}"})
        out.append({"role": "assistant", "content": label})
    out.append({"role": "user", "content": f"Agent: {asked_text or 'How can I help you today?'}\nCaller: {caller_text}"})
    return out


def choose(model: Scorer, msgs: list[dict], options: list[str], prefix: str = "") -> tuple[str, float] | None:
    """The model's pick among options, or None when it failed."""
    try:
        probs = model.score(msgs, options, assistant_prefix=prefix)
    except Exception as exc:  # a model failure never ends the call: the rules carry on
        log.warning("model failed: %s", exc)
        return None
    best = max(probs, key=probs.get)
    return best, probs[best]
