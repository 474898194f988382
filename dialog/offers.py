"""The answers to the agent's offers (a mixin of Conversation, beside
dialog.answers): the times offered, anything else?, would you like to book one?, shall someone call you back?, shall I
put you on the waitlist?, would you like a reminder call?"""

from __future__ import annotations

import logging
import re

from . import rules
from .hours import spoken_time
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

    def _on_offer(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The offered times: a pick, another time or doctor, or none of these."""
        intent, slots = r.intent, r.slots
        if "choice" in slots:
            turn = self._choose(self.offered[slots["choice"]])
            if turn is not None:
                return turn
        if "provider" in slots and slots["provider"] != self.provider and intent != "choose_slot":
            if intent != "no" and "when" not in slots and len(self.offered) > 1 and \
                    all(o.provider == slots["provider"] for o in self.offered):
                # "See Dr. Patel." when both offers are with Dr. Patel: say so, and which one
                return self._ask(f"{'Both' if len(self.offered) == 2 else 'All'} are with {slots['provider']}. "
                                 f"{self._which_one()}", "offer", state=State.OFFER, expect="choice")
            self.provider = slots["provider"]  # "none of those, I'd like to see Dr. Kim"
            if "when" in slots:
                self.when = self.when.merged(slots["when"])
            elif intent == "no" and all(o.provider == self.provider for o in self.offered):
                return self._offer_more()  # "I'm busy then. I'd like to see Dr. Patel": not these again
            return self._offer()
        named_time = slots.get("when") is not None and not slots["when"].empty
        if len(self.offered) > 1 and intent != "no" and not named_time and re.search(
                r"\b(either|whichever|any of (them|those)|(doesn'?t|does not) matter|(don'?t|do not) mind|"
                r"you (choose|pick|decide)|whatever('?s| is) (easier|best|fine|good))\b", text, re.I):
            turn = self._choose(self.offered[0])  # "Either is fine": the first, read back to confirm
            if turn is not None:
                return turn
        near = self._near_offer(slots.get("when")) if intent != "no" else None
        if near is not None:
            # "I want the 8:50 one" where 8:45 is on offer (misheard, or a time not on the hour's
            # quarters): that one, said as it is, and read back for a yes
            turn = self._choose(near)
            if turn is not None:
                acks.append(f"The closest I have is {spoken_time(near.local_start.strftime('%H:%M'))}.")
                return turn
        if "when" in slots and intent != "choose_slot":
            when = self.when.merged(slots["when"])  # "no, anything after 10?": that day still
            if when == self.when:  # the same times again ("I'm only free Monday or Friday mornings"): not these
                self.declined_ids |= {o.id for o in self.offered}
            self.when = when
            return self._offer()
        if intent == "no":
            self.declined_ids |= {o.id for o in self.offered}  # "not those": not again in this call
            if self.waitlist_when is not None and self._can_waitlist():
                return self._waitlist_offer()  # the times asked for had nothing: wait for them?
            return self._offer_more()
        if len(self.offered) > 1 and (intent == "yes" or re.search(
                r"\b(that|this|the) (one|time|slot)\b|\bthat'?s (fine|good|great|perfect)\b|\bthat works\b|"
                r"\bsounds good\b|\bthe one with\b|\b(take|have|go with|do|book|want|grab|prefer) (that|this|it)\b|"
                r"^\W*(that|this)\W*$", text, re.I)):
            # "I'll take that one" with two on offer: ask which, rather than "sorry?"
            if self.last_question != self._which_one():
                sure = "Sure."
                if re.search(r"\b(dr|doctor)\b", text, re.I) and len({o.provider for o in self.offered}) == 1:
                    # "the one with Dr. Adele" when both are with Dr. Patel: say so
                    sure = f"{'Both' if len(self.offered) == 2 else 'All'} are with {self.offered[0].provider}."
                return self._ask(f"{sure} {self._which_one()}", "offer", state=State.OFFER, expect="choice")
            # asked which, and again "that works for me": the first, read back for a yes or no, as a
            # receptionist would (yaw-darko, persona run 13: "Which one?" twice, then a handoff)
            turn = self._choose(self.offered[0])
            if turn is not None:
                acks.append("Let's say the first one.")
                return turn
        return None

    def _which_one(self) -> str:
        first, second = (self.slot_words(o) for o in self.offered[:2])
        if self.offered[0].provider == self.offered[1].provider:
            first, second = first.split(" with ")[0], second.split(" with ")[0]
        if first.split(" at ")[0] == second.split(" at ")[0]:  # the same day: the times tell them apart
            second = second.split(" at ", 1)[1]
        return f"Which one: the first, {first}, or the second, {second}?"

    def _near_offer(self, when):
        """The one offered slot within 10 minutes of a clock time the caller named (on its day, if
        they named one), when no offer is at that time."""
        if when is None or when.at is None or when.after is not None or when.before is not None:
            return None
        def minutes(t) -> int:
            return t.hour % 12 * 60 + t.minute
        on_day = [s for s in self.offered if when.day_from is None or s.local_start.date() == when.day_from]
        gaps = [abs(minutes(s.local_start) - minutes(when.at)) for s in on_day]
        if not gaps or 0 in gaps:
            return None
        near = [s for s, g in zip(on_day, gaps) if g <= 10]
        return near[0] if len(near) == 1 else None
