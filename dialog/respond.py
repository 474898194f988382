"""The policy for one caller turn, given its Reading (a mixin of Conversation).

Order: safety and handoffs; the answer to the question that is open; every value into the
frame; the request; FAQ answers; then the next question, with an acknowledgement of what was
taken. `_next` asks for the first thing still missing or unconfirmed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import timedelta

from . import names, parse, rules
from .answers import Answers
from .prompts import PROMPTS, SORRY, UNCLEAR_LINE, AgentTurn
from .spelling import MAX_SPELL_ATTEMPTS, Spelling
from .states import State
from .steps import NO_ANSWER
from .understand import Reading
from .yesno import yes_no

log = logging.getLogger("frontdesk.dialog")
_READ_BACKS = (State.CONFIRM, State.CANCEL_CONFIRM, State.PHONE_CONFIRM, State.PHONE_CHECK, State.SPELLING_CHECK,
               State.KNOWN_CALLER, State.EMAIL_CHECK)
YES_NO_STATES = (*_READ_BACKS, State.CALLBACK_OFFER, State.NEW_PATIENT, State.BOOK_OFFER, State.WAITLIST_OFFER,
                 State.REMINDER_CONSENT)
# questions about something other than the day and time
_ASKED_OTHER = (State.NAME, State.PHONE, State.PHONE_CONFIRM, State.PHONE_CHECK, State.KNOWN_CALLER, State.SPELLING,
                State.SPELLING_FIRST, State.SPELLING_CHECK, State.EMAIL, State.INSURANCE, State.NEW_PATIENT)


def spoken_email(address: str) -> str:
    """"ann.lee@gmail.com" as it is read back: "ann dot lee at gmail dot com"."""
    return address.replace(".", " dot ").replace("@", " at ").replace("_", " underscore ").replace("-", " dash ")


class Policy(Answers, Spelling):
    def respond(self, r: Reading, text: str, confidence: float = 1.0) -> AgentTurn:
        intent = r.intent
        if intent == "emergency":
            return self._emergency()
        if intent == "human":
            return self._handoff("caller asked for a person", "human")
        if intent == "billing" and rules.is_complaint(text):
            return self._handoff("complaint", "complaint", preface="I'm sorry to hear that.")
        if intent == "billing":
            return self._handoff("billing or refund", "billing")
        if intent == "advice":
            return self._handoff("request for medical, legal or financial advice", "advice",
                                 preface="I'm not able to give medical advice over the phone.")
        if rules.asks_repeat(text) and not r.slots and intent not in ("book", "cancel", "reschedule") \
                and self.history and self.history[-1][0] == "caller":
            self.history.pop()  # the request to repeat is not an answer
            return self._repeat()
        if self.state == State.OPEN and self.outcome and not r.slots and intent in ("unknown", "no") and \
                yes_no(text, done_means_no=True) == "no":
            return self._goodbye()  # "Sure, what else can I help you with?" "Nope, we're good."
        if intent == "unknown" and not r.slots and rules.is_aside(text):
            return self._aside(text)  # "sorry, it's been a long day": no answer, and not a misunderstanding
        if self.task in ("reschedule", "book") and self.target_booking is not None and "provider" not in r.slots and \
                re.search(r"\b(same|keep (the same|my)|stay with (the same|my)) (doctor|dentist|hygienist|provider)\b", text, re.I):
            r.slots["provider"] = self.target_booking.provider  # "Can I keep the same doctor?"
            if r.intent == "unknown":
                r.intent = "give_info"
        moved = self._relative_to_booking(text)
        if moved is not None:  # "same time next week", "push it back a week": from the appointment being moved
            r.slots["when"], r.intent = moved, "give_info"
        acks: list[str] = []
        if rules.no_texts(text) and not self.sms_opt_out:
            self.sms_opt_out = True
            self.policy.confirm_by = tuple(c for c in self.policy.confirm_by if c != "sms")
            acks.append("Okay, I won't send you text messages.")
        turn = self._apply_answer(r, text, acks)
        if turn is not None:
            self.failed_in_a_row = 0
            return self._prefixed(turn, acks)
        if intent == "book" and (self.task == "cancel" or self.task == "reschedule" and not self.task_done) \
                and rules.about_own_appointment(text):
            intent = r.intent = self.task  # "it's for my cleaning appointment": the one being changed
        if intent == "book" and self.task == "book" and self.task_done and self.booking is not None \
                and r.slots.get("service", self.booking.service) == self.booking.service and not r.slots.get("faq") \
                and not re.search(r"\b(another|second|also|too|as well|other|one more|for my|for her|for him)\b", text, re.I):
            return self._already_booked()  # the same request again after "you're all set": not a second booking
        if intent == "cancel" and self.task == "cancel" and self.task_done and self.outcome == "cancelled" \
                and self.target_booking is not None:
            return self._already_cancelled()
        before = self._progress_mark()
        took = self._take_values(r, acks)
        started = False
        if intent in ("book", "cancel", "reschedule", "check") and not (
                intent == "book" and self.task in ("cancel", "reschedule", "check") and not self.task_done):
            started = self._start(intent)
        elif intent == "goodbye" and self.state not in _READ_BACKS:
            return self._goodbye()
        answers, unknown = self._answer_faqs(r)
        if intent in ("unknown", "greeting") and not r.slots and not took and not answers and rules.announces_question(text):
            self.failed_in_a_row = 0  # "I've got a couple of questions": the question comes next
            return self._say(AgentTurn("Sure, go ahead.", intent="go_ahead", expect="open"))
        if intent == "greeting" and not took and not answers:
            self.failed_in_a_row = 0
            if not self.task and self.state in (State.OPEN, State.ANYTHING_ELSE):
                hello = "I'm well, thank you." if rules.asks_how_we_are(text) else "Hi!"
                return self._ask(f"{hello} How can I help you today?", "greeting", state=State.OPEN)
            # "Hello? Are you there?" mid-call: yes, and the question again; "Okay, okay." only the question
            here = "Yes, I'm here. " if re.search(r"\b(hello|hallo|hi|hey|there|anyone|anybody|someone|hear)\b", text, re.I) else ""
            return self._say(AgentTurn(f"{here}{self.question_again()}", intent="still_here",
                                       expect="open" if self.state not in (State.PHONE, State.PHONE_CHECK) else "number"))
        if not (took or started or answers or unknown):
            if self.state in (State.SPELLING, State.SPELLING_FIRST):
                about = self._about_spelling(text)
                if about is not None:  # "Do I have to?", "How do you want me to spell it?": answered, not a miss
                    return self._ask(about, "spelling", state=self.state, expect="spelling")
                # turns with no letters in them count apart from spellings read back and refused
                self._spell_misses += 1
                if self._spell_misses >= MAX_SPELL_ATTEMPTS:
                    self.name_unverified = True
                    self.name_spelled = self.first_spelled = True
                    return self._prefixed(self._next(), ["Thank you, I'll have our staff check the spelling."])
                which = "your first name" if self.state == State.SPELLING_FIRST else \
                    "your last name" if self.first_name and self.last_name else "your name"
                return self._ask(f"Sorry, I didn't get that. Please spell {which} one letter at a time, for example "
                                 "S as in Sam.", "spelling", state=self.state, expect="spelling")
            if intent in ("yes", "no") and self.state == State.OPEN:
                return self._prefixed(self._ask("How can I help you today?", "reprompt", state=State.OPEN), acks)
            return self._not_understood("not understood", low_confidence=confidence < 0.4)
        self.failed_in_a_row = 0
        if unknown:
            self._callback_topic = text[:200]
            offer = NO_ANSWER if not answers else "About your other question: " + NO_ANSWER
            return self._prefixed(self._ask(offer, "faq_unknown", state=State.CALLBACK_OFFER, expect="yes_no"), acks + answers)
        if answers and (not self.task or self.task_done):
            if not self.outcome:
                self.outcome = "faq_only"
            if any(str(t).startswith("service:") for t in r.slots.get("faq") or []):
                return self._prefixed(self._ask("Would you like to book one?", "book_offer", state=State.BOOK_OFFER,
                                                expect="yes_no"), acks + answers)
            return self._prefixed(self._ask(PROMPTS["anything_else"], "faq", state=State.ANYTHING_ELSE), acks + answers)
        turn = self._next()
        # a read-back of a spelling given again is progress (the spelling has its own limit), not a repeat
        if turn.text == self._last_asked and turn.intent not in ("offer", "read_back", "spelling_check") and not answers \
                and self._progress_mark() == before:  # a new fact in the turn ("after 12") is progress
            self._asked_again += 1
            if self._asked_again >= 2:  # the third time the same question: a person will do better
                self._asked_again = 0
                self.history.pop()
                self.failed_in_a_row = 1
                return self._not_understood("the same question a third time")
        else:
            self._asked_again = 0
        self._last_asked = turn.text
        return self._prefixed(turn, acks + answers)

    def _progress_mark(self) -> str:
        """What the caller has told the agent so far, to tell a turn that added a fact from one that did not."""
        return repr((asdict(self.q), self.when, self.first_name, self.last_name, self.provider, self.task))

    _last_asked = ""
    _asked_again = 0
    _email_declined = False
    _email_checked = False

    def _prefixed(self, turn: AgentTurn, before: list[str]) -> AgentTurn:
        if before and not turn.hangup:
            turn.text = " ".join([*before, turn.text])
            if self.history and self.history[-1][0] == "agent":
                self.history[-1] = ("agent", turn.text)
        return turn

    # -- days said relative to the appointment being moved -------------------------------------

    def _relative_to_booking(self, text: str) -> parse.When | None:
        """"Same time next week", "push it back a week": from the appointment being moved."""
        b = self.target_booking
        if self.task != "reschedule" or b is None or self.state not in (State.WHEN, State.OFFER):
            return None
        t = rules.normalize(text)
        m = re.search(r"\b(push(ed)? (it |that )?back|move (it |that )?back|later by|(a|one|two) weeks? later|"
                      r"same time)\b.{0,20}?\b(a|one|two|2) weeks?\b|\b(a|one|two|2) weeks? (later|after( that)?)\b|"
                      r"\bsame time (next week|the (following|next) week|the week after)\b", t)
        if not m:
            return None
        weeks = 2 if re.search(r"\b(two|2) weeks?\b", m.group(0)) else 1
        day = b.start.date() + timedelta(weeks=weeks)
        at = b.start.time().replace(tzinfo=None) if "same time" in t else None
        return parse.When(day_from=day, day_to=day, at=at)

    # -- values into the frame ---------------------------------------------------------------

    def _match_on_file(self) -> None:
        """The caller's number is on file under the name they gave: the spelling on file is used
        and not asked for again."""
        if not self.caller_id or self.calendar is None or self.name_verified:
            return
        try:
            on_file = self.calendar.names_on_file(self.caller_id)
        except Exception as exc:
            log.warning("calendar failure: %s", exc)
            return
        match = [n for n in on_file if names.same_person(n, self.full_name)]
        if len(match) == 1:
            first, _, last = match[0].rpartition(" ")
            self.first_name, self.last_name = (first, last) if first else (self.first_name, last)
            self.name_verified = True

    def _take_values(self, r: Reading, acks: list[str]) -> bool:
        slots, took = r.slots, False
        if "name" in slots and not self.name_verified and self.state not in (State.SPELLING, State.SPELLING_FIRST,
                                                                            State.SPELLING_CHECK, State.OFFER, State.CONFIRM):
            first, last = slots["name"]
            if (first, last) != (self.first_name, self.last_name):
                if not (last == "" and self.last_name and first == self.first_name):
                    self.first_name, self.last_name = first, last or self.last_name
                    self.name_spelled = self.first_spelled = False
                    self._heard_name = (self.first_name, self.last_name)
                self._match_on_file()
                heard = self.first_name or first
                # "Name's Fernando" heard as "Names for Nando": no "Thanks, Names."; the spelling will tell
                acks.append("Thank you." if heard.lower().rstrip("s'") == "name" else f"Thanks, {heard}.")
            took = True
        if "spelled" in slots and self.state not in (State.SPELLING, State.SPELLING_FIRST, State.SPELLING_CHECK) and self.full_name:
            self._set_spelled(slots["spelled"], first=self._means_first(r.text) or
                              names.from_spelling(slots["spelled"]).lower() == self.first_name.lower())
            if self.name_verified and self.policy.spell_names and not self.name_unverified:
                self.name_verified = False  # a late correction ("my first name is K, A, T...") is read back too
            took = True
        if "phone" in slots:
            self.q.phone_number = slots["phone"]
            self.phone_source = "confirmed" if slots["phone"] == self.caller_id else "spoken"
            took = True
        for key, attr in (("email", "email"), ("insurance", "insurance")):
            if key in slots:
                setattr(self.q, attr, slots[key])
                took = True
        if "email" in slots:
            self._email_checked = False  # a new address is read back again
        if "dob" in slots:
            self.q.dob = slots["dob"].isoformat()
            took = True
        if "new_patient" in slots:
            self.q.new_patient = slots["new_patient"]
            took = True
        if "provider" in slots and self.state not in (State.OFFER,):
            self.provider = slots["provider"]
            took = True
        if "service" in slots and self.state == State.NAME and "name" in slots and self.q.appointment_type and \
                not re.search(r"\b(actually|instead|rather|change|switch|not a|i need|i want|for a)\b", r.text, re.I):
            slots.pop("service")  # "Kim Hygiene." (Hye-jin Kim) is a name, not a change to a cleaning
        if "service" in slots and (self.task in ("", "book") or not self.task_done):
            if self.task != "cancel":
                self.q.appointment_type = slots["service"]
                took = True
        if "when" in slots and self.state not in (State.OFFER, State.CONFIRM, State.DOB):
            when = self.when.merged(slots["when"])
            if when != self.when and not slots["when"].empty and self.state in _ASKED_OTHER and len(slots) == 1:
                acks.append("Got it, I'll look for that.")  # "Thursday or Friday" at the phone question: kept, and said so
            self.when = when
            took = True
        if self.state in (State.PHONE_CONFIRM, State.PHONE_CHECK, State.KNOWN_CALLER, State.SPELLING, State.SPELLING_FIRST,
                          State.SPELLING_CHECK, State.EMAIL, State.EMAIL_CHECK, State.INSURANCE) and r.intent in ("yes", "no", "give_info"):
            took = True
        if self.state == State.REASON and self.q.reason:
            took = True
        if self.state == State.NEW_PATIENT and r.intent in ("yes", "no") and self.q.new_patient is None:
            self.q.new_patient = r.intent == "yes"
            took = True
        return took

    def _start(self, kind: str) -> bool:
        if self.task == kind and not self.task_done:
            return True
        self.task = kind
        self.task_done = False
        self.target_booking = None
        if kind == "book" and self.booking is not None:  # a second booking on the same call
            self.booking = None
            self.offered = []
            self.q.appointment_type = ""
        self.requests.append({"type": kind, "service": self.q.appointment_type or None})
        return True

    _offered_service = ""

    def _answer_faqs(self, r: Reading) -> tuple[list[str], bool]:
        answers, unknown = [], False
        for topic in r.slots.get("faq") or []:
            if topic.startswith("service:"):
                self._offered_service = topic.split(":", 1)[1]
                answers.append(f"Yes, we do {self._offered_service}s.")
                continue
            answer = self.faq_answer(topic, r.text) if topic != "unknown" else None
            if answer:
                answers.append(answer)
            elif r.intent == "faq" or topic == "unknown":
                unknown = True
        if answers and not self.outcome:
            self.outcome = "faq_only"
        return answers, unknown

    # -- what to ask next ------------------------------------------------------------------------

    def _next(self) -> AgentTurn:
        if not self.task:
            return self._ask(PROMPTS["anything_else"] if self.outcome else "How can I help you today?",
                             "anything_else" if self.outcome else "open",
                             state=State.ANYTHING_ELSE if self.outcome else "open")
        if self.task_done:
            return self._ask(PROMPTS["anything_else"], "anything_else", state=State.ANYTHING_ELSE)
        if self.task == "book" and not self.q.appointment_type:
            names_ = ", ".join(s.name for s in self.clinic.services[:-1]) + f", or {self.clinic.services[-1].name}"
            return self._ask(f"What kind of appointment do you need? For example a {names_}.", "service", state=State.SERVICE)
        turn = self._identify()
        if turn is not None:
            return turn
        identify_only = ("dob",) if "dob" in self.policy.required_fields else ()
        for fld in self.policy.required_fields if self.task == "book" else identify_only:
            if fld == "email" and not self.q.email and "email" in self.policy.confirm_by and \
                    not self._email_declined:
                return self._ask(PROMPTS["email"], "email", state=State.EMAIL)
            if fld == "email" and self.q.email and not self._email_checked:
                # an address heard over the phone is read back, as a spelled name is
                return self._ask(f"I have {spoken_email(self.q.email)}. Is that right?", "email_check",
                                 state=State.EMAIL_CHECK, expect="yes_no")
            if fld == "dob" and not self.q.dob and self.state != State.DOB:
                return self._ask(PROMPTS["dob"], "dob", state=State.DOB)
            if fld == "insurance" and not self.q.insurance and self.state != State.INSURANCE:
                return self._ask(PROMPTS["insurance"], "insurance", state=State.INSURANCE)
            if fld == "reason" and not self.q.reason and self.state != State.REASON:
                return self._ask(PROMPTS["reason"], "reason", state=State.REASON)
            if fld == "new_patient" and self.q.new_patient is None and self.state != State.NEW_PATIENT:
                return self._ask(PROMPTS["new_patient"], "new_patient", state=State.NEW_PATIENT, expect="yes_no")
        if self.task in ("cancel", "reschedule", "check") and self.target_booking is None:
            return self._lookup()
        if self.task == "cancel":  # found, not yet confirmed: ask again (a cancel call never books)
            return self._confirm_cancel()
        if self.hold is not None and self.chosen is not None:
            return self._read_back()
        if self.when.empty and not self.when.flexible and self.state != State.WHEN:
            return self._ask(PROMPTS["when"], "when", state=State.WHEN)
        return self._offer()

    def _identify(self) -> AgentTurn | None:
        """Who is calling and how to reach them: a returning caller by caller ID, otherwise the
        name, its spelling (read back) and the number (read back unless it is the caller ID)."""
        book = self.task == "book"
        if not self.full_name and not self.name_verified:
            if self.known_name is None and self.caller_id and self.calendar is not None:
                try:
                    self.known_name = self.calendar.known_caller(self.caller_id) or ""
                except Exception as exc:
                    log.warning("calendar failure: %s", exc)
                    self.known_name = ""
                if self.known_name:
                    return self._ask(f"Am I speaking with {self.known_name}?", "known_caller", state=State.KNOWN_CALLER,
                                     expect="yes_no")
            if "name" in (self.policy.required_fields if book else ("name",)):
                return self._ask(PROMPTS["name"], "name", state=State.NAME, expect="name")
        if book and self.policy.spell_names and self.full_name and not self.name_verified and not self.name_unverified:
            if not self.name_spelled:
                return self._ask(f"Could you spell your {'last ' if self.first_name and self.last_name else ''}name "
                                 "for me, with a word for each letter, like S as in Sam?", "spelling", state=State.SPELLING,
                                 expect="spelling")
            if self.first_name and not self.first_spelled and self.last_name and (
                    not names.is_common_first_name(self.first_name) or
                    # "Kim Hygiene." for Hye-jin Kim, then "K, I, M": the name heard first was the last name
                    names.letters(self.first_name) == names.letters(self.last_name)):
                return self._ask(PROMPTS["spelling_first"], "spelling", state=State.SPELLING_FIRST, expect="spelling")
            return self._spelling_read_back()
        if not self.q.phone_number:
            if self.caller_id and self.phone_source != "declined":
                return self._ask(f"Is the number you're calling from, {parse.speak_phone(self.caller_id)}, the best number "
                                 "to reach you?", "phone_confirm", state=State.PHONE_CONFIRM, expect="yes_no")
            return self._ask(PROMPTS["phone"], "phone", state=State.PHONE, expect="number")
        if self.phone_source == "spoken":
            return self._ask(f"I have {parse.speak_phone(self.q.phone_number)}. Is that right?", "phone_check",
                             state=State.PHONE_CHECK, expect="yes_no")
        return None

    # -- endings ----------------------------------------------------------------------------------

    def _emergency(self) -> AgentTurn:
        self.q.urgency = "emergency"
        number = parse.speak_phone(self.policy.emergency_number)  # "9 1 1": said digit by digit, not "nine hundred eleven"
        return self._handoff("emergency", "emergency",
                             preface=f"If this is a medical emergency, please hang up and dial {number} now.")

    def _goodbye(self, preface: str = "") -> AgentTurn:
        self._release()
        if not self.outcome:
            self.outcome = "faq_only"
        if self.policy.survey and self.state != State.SURVEY and self.q.urgency != "emergency" and not preface:
            # [survey]: one question before goodbye, by voice or keypad; any other answer ends the call
            return self._ask("Before you go: on a scale of 1 to 5, how well did I help you today? You can also press "
                             "a key.", "survey", state=State.SURVEY, expect="number")
        self._said_goodbye = True
        return self._say(AgentTurn(f"{preface} Thank you for calling {self.clinic.name}. Goodbye.".strip(), hangup=True,
                                   intent="goodbye"))

    def _survey_answer(self, score: int | None) -> AgentTurn:
        self.q.survey_score = score
        return self._goodbye("Thank you." if score is not None else "")

    def _not_understood(self, why: str, low_confidence: bool = False) -> AgentTurn:
        self.misunderstandings += 1
        self.failed_in_a_row += 1
        if self.failed_in_a_row >= 2:
            self.failed_in_a_row = 0
            if self.q.handoff_reason == "two failed understandings in a row":
                # staff will already call back: a second task helps nobody, and the caller may go
                return self._goodbye("I'm sorry, I'm still having trouble understanding. Our staff will call you back.")
            return self._handoff("two failed understandings in a row", "not_understood",
                                 preface="I'm sorry, I'm having trouble understanding.")
        again = self.last_question or "How can I help you today?"
        if self.state == State.OFFER and len(self.offered) > 1:
            again = self._which_one()  # the choices again, not only "which would you prefer?"
        sorry = UNCLEAR_LINE if low_confidence else SORRY  # the recogniser was unsure: say so
        if self.state in YES_NO_STATES:  # a word the recogniser can't get wrong, or the keypad
            return self._say(AgentTurn(f"{sorry} {again} Please say yes or no, or press 1 for yes and 2 for no.",
                                       intent="reprompt", source="fallback", expect="yes_no"))
        return self._say(AgentTurn(f"{sorry} {again}", intent="reprompt", source="fallback", expect="open"))
