"""The answers to the agent's offers and closing questions (a mixin of Conversation, beside
dialog.answers): anything else?, would you like to book one?, shall someone call you back?, shall I
put you on the waitlist?, would you like a reminder call?"""

from __future__ import annotations

import logging

from . import rules
from .prompts import PROMPTS, AgentTurn
from .states import State
from .understand import Reading
from .yesno import yes_no

log = logging.getLogger("frontdesk.dialog")


class OfferAnswers:
    def _on_waitlist_offer(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Shall I put you on the waitlist?"""
        if r.intent == "yes":
            return self._join_waitlist()
        if r.intent in ("no", "goodbye"):
            self.waitlist_when = None
            if self.waitlist_else == "more":
                return self._offer_more()
            return self._handoff("no availability found", "no_availability", preface="Okay.")
        return None

    def _on_reminder_consent(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Would you like a reminder call? Only a yes the rules hear (or the keypad's 1) is consent."""
        if r.intent == "yes" and yes_no(text) == "yes":
            from tools.reminder_calls import give_consent
            try:
                give_consent(self.calendar, self.q.phone_number, self.call_id)
                self._tool("reminder_call_consent", {"given": True}, "stored")
            except Exception as exc:
                log.warning("reminder call consent not stored: %s", exc)
                return self._ask("I'm sorry, I couldn't save that just now, so we won't call. "
                                 f"{PROMPTS['anything_else']}", "consent_failed", state=State.ANYTHING_ELSE)
            return self._ask(f"Okay, we'll call you before it. {PROMPTS['anything_else']}", "anything_else",
                             state=State.ANYTHING_ELSE)
        if r.intent in ("no", "goodbye") or yes_no(text) == "no":
            self._tool("reminder_call_consent", {"given": False}, "declined")
            if r.intent == "goodbye" or rules.is_goodbye(text):
                return self._goodbye()
            return self._ask(f"No problem. {PROMPTS['anything_else']}", "anything_else", state=State.ANYTHING_ELSE)
        self.state = State.ANYTHING_ELSE  # a question or a new request: no consent, and on from there
        return self._on_anything_else(r, text, acks)

    def _on_anything_else(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Is there anything else?"""
        intent, slots = r.intent, r.slots
        if intent in ("no", "goodbye"):
            return self._goodbye()
        if intent == "yes" and not slots and len(rules.normalize(text).split()) <= 4:
            return self._ask("Sure, what else can I help you with?", "more", state=State.OPEN)
        return None

    def _on_book_offer(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Would you like to book one?"""
        intent, slots = r.intent, r.slots
        # "Yes, we do cleanings. Would you like to book one?"
        if intent == "yes" or intent == "book":
            self._start("book")
            self.q.appointment_type = slots.get("service") or self._offered_service
            self._take_values(r, acks)
            return self._next()
        if intent in ("no", "goodbye"):
            if intent == "goodbye" or rules.is_goodbye(text):
                return self._goodbye()
            return self._ask(f"No problem. {PROMPTS['anything_else']}", "anything_else", state=State.ANYTHING_ELSE)

    def _on_callback_offer(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Shall someone call you back about that?"""
        intent = r.intent
        if intent == "yes":
            self.create_callback("a question the clinic has no answer for")  # the words are in the details
            self.outcome = self.outcome or "callback"
            acks.append("I've asked a member of our staff to call you back about that.")
            return self._after_callback()
        if intent in ("no", "goodbye"):
            if intent == "goodbye" or rules.is_goodbye(text):  # "No thanks, I'll call back tomorrow."
                return self._goodbye()
            acks.append("No problem.")
            return self._after_callback()
        return None

    def _after_callback(self) -> AgentTurn:
        if self.task and not self.task_done:
            return self._next()
        return self._ask(PROMPTS["anything_else"], "anything_else", state=State.ANYTHING_ELSE)
