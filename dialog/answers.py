"""The answer to the question the agent asked, one method per question (a mixin of
Conversation): what "yes", "the other one", "I'll type it in" or "Why do you need my name?"
mean depends on what was asked."""

from __future__ import annotations

import re

from . import names, parse, rules
from .offers import OfferAnswers
from .prompts import PROMPTS, AgentTurn
from .spelling import MAX_SPELL_ATTEMPTS
from .states import State
from .understand import Reading
from .yesno import yes_no


# why the agent asks, for "why do you need that?"
_WHY = {State.NAME: "It's so the clinic knows who the appointment is for.",
        State.DOB: "It helps us find your records and make sure we have the right patient.",
        State.PHONE: "It's so the clinic can reach you about the appointment.",
        State.PHONE_CONFIRM: "It's so the clinic can reach you about the appointment.",
        State.EMAIL: "It's where we send your confirmation.",
        State.INSURANCE: "It helps the clinic check your coverage before the visit.",
        State.NEW_PATIENT: "New patients get a little more time for the first visit."}


SET_ASIDE = object()  # a spelling cut short, not taken (_spelling_cut_short)


class Answers(OfferAnswers):
    def _apply_answer(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The answer to the question that is open, by the state the call is in; None: nothing
        particular to this question, the turn goes on to the frame and the next question."""
        s, intent = self.state, r.intent
        why = _WHY.get(s)
        if why and not r.slots and rules.asks_why(text):  # "Why do you need my name?": say why, ask again
            return self._ask(f"{why} {self.last_question}", s, state=s, expect=self._last_expect)
        if s in (State.CONFIRM, State.CANCEL_CONFIRM) and self._readback_cut and \
                (intent == "yes" or s == State.CANCEL_CONFIRM and intent == "cancel"):
            # "okay, okay" over "To confirm, I'll..." before the question, or "please cancel my
            # cleaning" over "I found your cleaning with...": the whole read-back first, which the
            # caller has not heard; nothing is booked or cancelled until they agree to it
            return self._repeat()
        handler = {
            State.CONFIRM: self._on_confirm,
            State.CANCEL_CONFIRM: self._on_cancel_confirm,
            State.OFFER: self._on_offer,
            State.LOOKUP_RETRY: self._on_lookup_retry,
            State.ANYTHING_ELSE: self._on_anything_else,
            State.BOOK_OFFER: self._on_book_offer,
            State.CALLBACK_OFFER: self._on_callback_offer,
            State.WAITLIST_OFFER: self._on_waitlist_offer,
            State.REMINDER_CONSENT: self._on_reminder_consent,
            State.SERVICE: self._on_service,
            State.NAME: self._on_name,
            State.PHONE: self._on_phone,
            State.PHONE_CONFIRM: self._on_phone,
            State.PHONE_CHECK: self._on_phone,
            State.KNOWN_CALLER: self._on_known_caller,
            State.SPELLING: self._on_spelling,
            State.SPELLING_FIRST: self._on_spelling,
            State.SPELLING_CHECK: self._on_spelling_check,
            State.EMAIL: self._on_details,
            State.EMAIL_CHECK: self._on_email_check,
            State.REASON: self._on_details,
            State.INSURANCE: self._on_details,
        }.get(s)
        return handler(r, text, acks) if handler is not None else None

    def _on_confirm(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The final read-back: book, change, or another time."""
        intent, slots = r.intent, r.slots
        asked_back = self._chosen_asked_back(text, slots)
        if asked_back is not None:
            return asked_back  # "Hang on, is that Thursday the 10th?": yes, and the question again
        if intent == "yes" and {"provider", "when", "service"} & slots.keys() and \
                re.search(r"\b(but|instead|actually|rather|change|make it|switch|could (we|you)|can (we|you))\b", text, re.I):
            intent = "no"  # "Yes, but can you make it with Dr. Kim?": a change, not a yes
        if intent == "yes" and r.source == "llm" and yes_no(text) != "yes":
            # nothing books on the model's reading alone ("I know wait." was taken for a yes): the
            # read-back is asked again, for a yes the rules hear, or the keypad's 1
            return self._not_understood("a yes only the model heard, at the read-back")
        if intent == "yes":
            turn = self._book()
            extra = [a for a in (self.faq_answer(t, text) for t in slots.get("faq") or [] if t != "unknown") if a]
            if extra and turn.text.endswith("Is there anything else I can help with?"):
                # "Yes. Oh, and do you take Aetna?": booked, and the question answered
                turn.text = turn.text.replace("Is there anything else I can help with?",
                                              " ".join(extra + ["Is there anything else I can help with?"]))
            return turn
        others = [o for o in self.offered if self.chosen is None or o.id != self.chosen.id]
        if len(others) == 1 and re.search(r"\b(the )?other (one|time|slot|option)\b", text, re.I) and \
                {"when", "provider"}.isdisjoint(slots):
            self._release()  # "No, the other one.": of two offers, the one not being read back
            self.chosen = None
            turn = self._choose(others[0])
            if turn is not None:
                return turn
        service_changed = "service" in slots and slots["service"] != self.q.appointment_type
        if intent in ("no", "goodbye") or (intent == "give_info" and ("when" in slots or "provider" in slots
                                                                      or service_changed)):
            self._release()
            self.chosen = None
            if rules.is_goodbye(text) and "when" not in slots:
                self.task_done = True
                return self._goodbye("No problem, I haven't booked anything.")
            if "provider" in slots:
                self.provider = slots["provider"]
            if service_changed:  # "it should be a cleaning, not a checkup": its own slots
                self.q.appointment_type = slots["service"]
            if "when" in slots:
                self.when = self.when.merged(slots["when"])  # "the afternoon instead": that day still
                return self._offer()
            if "provider" in slots or service_changed:
                return self._offer()
            self.when = parse.When()
            return self._ask("No problem. What day and time would suit you better?", "when", state=State.WHEN)
        return None

    def _on_cancel_confirm(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Shall I cancel it?"""
        intent, slots = r.intent, r.slots
        if intent == "yes" and r.source == "llm" and yes_no(text) != "yes":
            return self._not_understood("a yes only the model heard, at the cancel read-back")  # as at the booking's
        if intent == "yes" or (intent == "cancel" and self.task == "cancel"):  # "please cancel it"
            turn = self._do_cancel()
            if turn.intent == "cancelled" and re.search(
                    r"\b(book|rebook|new one|another one|a new (appointment|time|one))\b", text, re.I):
                # "Yes, and I'd like to book a new one next week": the same service, as a new booking
                service = self.target_booking.service
                self._start("book")
                self.q.appointment_type = slots.get("service", service)
                if "when" in slots:
                    self.when = slots["when"]
                return self._prefixed(self._next(), ["Your appointment is cancelled."])
            return turn
        if intent == "reschedule":
            self.task = "reschedule"
            return self._lookup()
        if intent in ("no", "goodbye"):
            self.task_done = True
            return self._ask("Okay, I've left your appointment as it is. Is there anything else I can help with?",
                             "kept", state=State.ANYTHING_ELSE)
        return None

    def _on_lookup_retry(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The booking was not found: another number or the spelled name."""
        intent, slots = r.intent, r.slots
        if "phone" in slots:
            self.lookup_phone = slots["phone"]
            return self._lookup()
        if "spelled" in slots or "name" in slots:
            if "name" in slots:
                self.first_name, self.last_name = slots["name"][0], slots["name"][1] or self.last_name
            if "spelled" in slots:
                self._set_spelled(slots["spelled"], first=False)
            return self._lookup()
        if intent == "no" or re.search(r"\b(don'?t|do not) know\b|\bnot sure\b", text, re.I):
            self.lookup_tries = 1
            return self._lookup()
        return None

    def _on_service(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """What kind of appointment: the list of services, or where to start."""
        slots = r.slots
        if "service" not in slots and re.search(
                r"\b(what (are|were) (the|my|your) (options|choices)|what the (options|choices) are|"
                r"what (do|can) you (offer|do|have|book)|what (kinds?|types?|sorts?)|"
                r"what('?s| is) (available|on offer)|not sure what (i need|to book|it'?s called))\b", text, re.I):
            names_ = ", ".join(sv.name for sv in self.clinic.services[:-1]) + f", or {self.clinic.services[-1].name}"
            return self._ask(f"I can book a {names_}. Which would you like?", "service", state=State.SERVICE)
        if "service" not in slots and not slots.get("faq") and re.search(
                r"\b(whatever('?s| is) (needed|necessary|best)|(not sure|no idea|don'?t know)( what)?|haven'?t been (in|for)|"
                r"first (visit|time)|been (a while|ages|years|a long time))\b", text, re.I):
            exam = next((sv.name for sv in self.clinic.services if re.search(r"check|exam", sv.name, re.I)), None)
            if exam:  # "Whatever's needed, I haven't been in years.": where a dentist would start
                self.q.appointment_type = exam
                return self._prefixed(self._next(), [f"A {exam} is the usual place to start, so I'll book that."])
        return None

    def _on_name(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Why the name is needed, or a name held back."""
        slots = r.slots
        if "name" not in slots and "spelled" not in slots:
            if re.search(r"\b(i'?d rather not|rather not say|prefer not to|(don'?t|do not) want to (say|give|tell)|"
                         r"not comfortable)\b", text, re.I):
                return self._ask("I understand. I do need a name to book the appointment; your first name is fine.",
                                 "name", state=State.NAME, expect="name")
        return None

    def _on_phone(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The number: the caller ID confirmed, a number given or keyed in, or read back."""
        s, intent, slots = self.state, r.intent, r.slots
        if s == State.PHONE_CONFIRM and intent not in ("yes", "no") and "phone" not in slots and re.search(
                r"\b((better|best|rather|prefer)( to)? (call|use|reach me on|try|text)|(my|the|a) (other|mobile|cell|work) "
                r"(number|phone)|(husband|wife|partner|mom|dad|mother|father|friend|son|daughter|boss)'?s (phone|number|cell)|"
                r"(that'?s|it'?s) (my|the) (landline|work phone|office))\b", text, re.I):
            intent = r.intent = "no"  # "That's my landline, better to call my mobile."
        if s == State.PHONE and "phone" not in slots and self.caller_id and re.search(
                r"\b(the (one|number) i'?m calling (from|on)|(use|try) this (number|one)|this number is fine|"
                r"the same (number|one)|same one|caller id)\b", text, re.I):
            slots["phone"] = self.caller_id  # "Just use the one I'm calling from."
        if s == State.PHONE and "phone" not in slots and re.search(
                r"\b((don'?t|do not) (know|remember) (it|my number|the number)|can'?t remember (it|my number|the number)|"
                r"(let me|i'?ll|i need to|i have to) (find|look up|check|get) (it|that|the number|my number))\b", text, re.I):
            if self.caller_id and not re.search(r"\b(find|look up|check|get)\b", text, re.I):
                return self._ask(f"That's okay. Is the number you're calling from, {parse.speak_phone(self.caller_id)}, "
                                 "a good number to reach you?", "phone_confirm", state=State.PHONE_CONFIRM, expect="yes_no")
            return self._say(AgentTurn("Take your time.", intent="aside", expect="number"))
        if s in (State.PHONE, State.PHONE_CONFIRM) and "phone" not in slots and rules.will_key_in(text):
            if s == State.PHONE_CONFIRM:
                self.phone_source = "declined"
            return self._ask("Sure, go ahead and key it in, then press pound.", "phone", state=State.PHONE, expect="number")
        digits = parse.spoken_digits(text) if "phone" not in slots else ""
        if s == State.PHONE_CONFIRM and len(digits) >= 3 and not (
                intent == "yes" and self.caller_id and self.caller_id.endswith(digits)):
            # "No, sorry. Use 5 7 1, 5 5 0, 1 1 2, that's the best one." (a digit lost): another number,
            # not a yes to the caller ID; the digits heard are read back and the caller goes on
            self.phone_source = "declined"
            s = State.PHONE
        if s == State.PHONE and "phone" not in slots:
            turn = self._phone_in_parts(text)
            if turn is not None:
                return turn
        if s == State.PHONE_CONFIRM:
            if intent == "yes" and "phone" not in slots:
                self.q.phone_number = self.caller_id or ""
                self.phone_source = "caller_id"
            elif intent == "no" or "phone" in slots:
                self.phone_source = "declined" if "phone" not in slots else self.phone_source
        elif s == State.PHONE_CHECK:
            if intent == "yes" and "phone" not in slots:
                self.phone_source = "confirmed"
            elif intent == "no" or "phone" in slots:
                if "phone" not in slots:
                    self.q.phone_number = ""
                    self.phone_source = "declined"
        return None

    def _on_known_caller(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Am I speaking with (the name on file)?"""
        intent = r.intent
        if intent == "unknown" and self.known_name and names.heard_as_one(text, self.known_name):
            intent = r.intent = "yes"  # "That be Yadarko." for Yaw Darko: their own name, run together
        if intent == "yes":
            self.first_name, _, self.last_name = (self.known_name or "").partition(" ")
            self.name_verified = True
            if not self.q.phone_number:  # the number on file is the one they call from
                self.q.phone_number, self.phone_source = self.caller_id or "", "caller_id"
            acks.append(f"Thanks, {self.first_name}.")
        elif intent == "no":
            self.known_name = ""
        return None

    def _on_spelling(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The letters of a name."""
        s = self.state
        cut = self._spelling_cut_short(r, text, acks)  # asked again after a "no"
        if cut is not None:
            return None if cut is SET_ASIDE else cut
        return self._take_spelling(r, text, first=s == State.SPELLING_FIRST or self._means_first(text))

    def _on_spelling_check(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The spelling read back."""
        intent, slots = r.intent, r.slots
        spelled = slots.get("spelled")
        if spelled and len(spelled) <= 2 and intent != "no" and not self._means_first(text) and \
                len(names.letters(self.last_name)) >= 4 and not re.search(r"\b(it'?s|is|last name|surname)\b.*\b[a-z]\b",
                                                                           text.split(".")[-1], re.I):
            # "One second, I.S. that one" ("aye, yes, that one" on the line): two letters are no
            # spelling of a name of four or more; they do not replace it
            slots.pop("spelled")
            spelled = None
        cut = self._spelling_cut_short(r, text, acks)
        if cut is not None:
            return None if cut is SET_ASIDE else cut
        again = spelled and spelled in (names.letters(self.last_name),
                                        names.letters(self.first_name) if self.first_spelled else None)
        if again and not self._means_first(text) and intent != "no":
            # a name spelled again as it was read back (the caller missed the read-back): the read-back again
            return self._spelling_read_back()
        said_last = (slots.get("name") or ("", ""))[1]
        if intent == "yes" and said_last and len(names.letters(said_last)) >= len(names.letters(self.last_name)) + 3:
            # "Sure, it's Milos Jovanovic." to "last name J, O, V": the name said is longer than the
            # spelling read back, so the spelling was cut short; that is not a yes to it
            intent = "no"
        if intent == "yes" and "spelled" not in slots:
            self.name_verified = True
        elif intent == "no" or "spelled" in slots:
            self.spell_attempts += 1
            if "spelled" in slots:
                self._set_spelled(slots["spelled"], first=self._means_first(text))
            elif names.lone_letter(text) and self.spell_attempts < MAX_SPELL_ATTEMPTS:
                # "No. My first name is F as in Frank, [pause]": the rest of it is coming
                return self._spelling_begun(names.lone_letter(text), first=self._means_first(text))
            if self.spell_attempts >= MAX_SPELL_ATTEMPTS:
                # no more reading back: the booking carries the best spelling and a flag for staff
                self.name_unverified = True
                acks.append("Thank you. I'll note the spelling for our staff to check.")
            elif "spelled" not in slots:
                first = self._means_first(text)
                return self._ask(f"Sorry about that. Could you spell your {'first' if first else 'last'} name again, "
                                 "letter by letter?", "spelling", state=State.SPELLING_FIRST if first else "spelling",
                                 expect="spelling")
        return None

    def _spelling_cut_short(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | object | None:
        """A new spelling of a name already spelled, under half its length: "My last name is A, D as
        in David, E, B, ..." heard "My last name is A. D. D" (the recogniser stopped early). A third
        of the name is no correction of it: it is asked for again, or, with no attempt left, set
        aside (SET_ASIDE): the name keeps its longer spelling, flagged for staff, and the call goes on."""
        spelled = r.slots.get("spelled")
        first = self._means_first(text) or self.state == State.SPELLING_FIRST
        current = names.letters(self.first_name if first else self.last_name)
        if not (spelled and (self.first_spelled if first else self.name_spelled) and len(current) >= 6
                and 2 * len(spelled) < len(current)):
            return None
        self.spell_attempts += 1
        if self.spell_attempts >= MAX_SPELL_ATTEMPTS:
            r.slots.pop("spelled")
            self.name_unverified = True
            acks.append("Thank you. I'll note the spelling for our staff to check.")
            self.state = State.SPELLING_CHECK  # answered: the booking goes on from here
            return SET_ASIDE
        return self._ask(f"Sorry, I only caught {names.spell_out(spelled)}. Could you spell your "
                         f"{'first' if first else 'last'} name again, letter by letter?", "spelling",
                         state=State.SPELLING_FIRST if first else State.SPELLING, expect="spelling")

    def _on_email_check(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """The address read back: yes, a corrected address (read back again), or no."""
        if "email" in r.slots:
            return None  # the new address is taken, and read back
        if r.intent == "yes":
            self._email_checked = True
            return None
        if r.intent == "no":
            self.q.email = ""
            return self._ask("Sorry about that. Could you say the email address again, slowly?", "email", state=State.EMAIL)
        return None

    def _on_details(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        """Email, reason for the visit, insurance."""
        s, intent, slots = self.state, r.intent, r.slots
        if s == State.EMAIL and intent == "no" and "email" not in slots:
            self.q.email = ""
            self.policy.confirm_by = tuple(c for c in self.policy.confirm_by if c != "email")
            self._email_declined = True
        elif s == State.REASON and not slots.get("faq"):
            self.q.reason = text[:200]
        elif s == State.INSURANCE and "insurance" not in slots and intent in ("give_info", "unknown", "other") and text:
            self.q.insurance = text[:80]
        return None

    def _phone_in_parts(self, text: str) -> AgentTurn | None:
        """A number said in pieces across turns ("two oh two" [pause] "five five five..."): the
        digits so far are kept and read back, and the caller goes on."""
        digits = parse.spoken_digits(text)
        if self._phone_tail:  # asked for the three digits between the two groups heard
            tail, self._phone_tail = self._phone_tail, ""
            if len(digits) == 3:
                digits += tail
            else:  # the whole number again, or something else: taken as it is
                self._phone_digits = ""
        so_far = self._phone_digits + digits
        if not digits or len(so_far) > 11:
            self._phone_digits = ""
            return None
        phone = parse.parse_phone(so_far) if len(so_far) >= 10 else None
        if phone:
            self._phone_digits = ""
            self.q.phone_number, self.phone_source = phone, "spoken"
            return self._next()
        if len(so_far) >= 10:
            self._phone_digits = ""
            return None
        if len(digits) == 7 and not self._phone_digits and [len(g) for g in re.findall(r"\d+", text)] == [3, 4]:
            # "It's five one two, that's my cell. [pause] five five five [pause] zero one six three"
            # heard "It's 512, that's my cell. 0163": the recogniser lost the middle group (persona
            # run 13, five times, each answered "only seven digits" and said again the same way)
            self._phone_digits, self._phone_tail = digits[:3], digits[3:]
            return self._ask(f"I heard {' '.join(digits[:3])}, then {' '.join(digits[3:])}. What are the three "
                             "digits in between?", "phone_partial", state=State.PHONE, expect="number")
        if len(digits) >= 7 and not self._phone_digits:
            # most of a number in one breath: a digit was lost, not a number said in pieces
            return self._ask(f"I heard {parse.speak_phone(digits)}, which is only {len(digits)} digits. Could you say the "
                             "whole number again, or key it in and press pound?", "phone", state=State.PHONE, expect="number")
        self._phone_digits = so_far
        return self._ask(f"{parse.speak_phone(so_far)}, and then?", "phone_partial", state=State.PHONE, expect="number")

    _phone_digits = ""
    _phone_tail = ""  # the last four digits, when the three between them and the area code are asked for

    def _chosen_asked_back(self, text: str, slots: dict) -> AgentTurn | None:
        """At the read-back, "Is that Thursday the 10th?" about the time being booked: yes, it is."""
        w, c = slots.get("when"), self.chosen
        if c is None or w is None or not text.rstrip().endswith("?") or \
                re.search(r"\b(instead|rather|other|another|different|anything|something)\b", text, re.I):
            return None
        start = c.local_start
        same_day = w.day_from is None or w.day_from == start.date() and w.day_to in (None, start.date())
        same_time = w.at is None or w.at == start.time().replace(tzinfo=None)
        if not (same_day and same_time) or (w.day_from is None and w.at is None):
            return None
        return self._ask(f"Yes, {self.slot_words(c)}. Shall I go ahead?", "read_back", state=State.CONFIRM, expect="yes_no")
