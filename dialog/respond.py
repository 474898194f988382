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
from .prompts import PROMPTS, SORRY, UNCLEAR_LINE, AgentTurn
from .spelling import MAX_SPELL_ATTEMPTS, Spelling
from .steps import NO_ANSWER
from .understand import Reading
from .yesno import yes_no

log = logging.getLogger("frontdesk.dialog")
_READ_BACKS = ("confirm", "cancel_confirm", "phone_confirm", "phone_check", "spelling_check", "known_caller")
YES_NO_STATES = (*_READ_BACKS, "callback_offer", "new_patient", "book_offer")


class Policy(Spelling):
    def respond(self, r: Reading, text: str, confidence: float = 1.0) -> AgentTurn:
        intent = r.intent
        if intent == "emergency":
            return self._emergency()
        if intent == "human":
            return self._handoff("caller asked for a person", "human")
        if intent == "billing":
            return self._handoff("billing, refund or complaint", "billing")
        if intent == "advice":
            return self._handoff("request for medical, legal or financial advice", "advice",
                                 preface="I'm not able to give medical advice over the phone.")
        if rules.asks_repeat(text) and not r.slots and intent not in ("book", "cancel", "reschedule") \
                and self.history and self.history[-1][0] == "caller":
            self.history.pop()  # the request to repeat is not an answer
            return self._repeat()
        if self.state == "open" and self.outcome and not r.slots and intent in ("unknown", "no") and \
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
                and r.slots.get("service", self.booking.service) == self.booking.service \
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
            if not self.task and self.state in ("open", "anything_else"):
                hello = "I'm well, thank you." if rules.asks_how_we_are(text) else "Hi!"
                return self._ask(f"{hello} How can I help you today?", "greeting", state="open")
            # "Hello? Are you there?" mid-call: yes, and the question again
            return self._say(AgentTurn(f"Yes, I'm here. {self.last_question}", intent="still_here",
                                       expect="open" if self.state not in ("phone", "phone_check") else "number"))
        if not (took or started or answers or unknown):
            if self.state in ("spelling", "spelling_first"):
                about = self._about_spelling(text)
                if about is not None:  # "Do I have to?", "How do you want me to spell it?": answered, not a miss
                    return self._ask(about, "spelling", state=self.state, expect="spelling")
                # turns with no letters in them count apart from spellings read back and refused
                self._spell_misses += 1
                if self._spell_misses >= MAX_SPELL_ATTEMPTS:
                    self.name_unverified = True
                    self.name_spelled = self.first_spelled = True
                    return self._prefixed(self._next(), ["Thank you, I'll have our staff check the spelling."])
                which = "your first name" if self.state == "spelling_first" else \
                    "your last name" if self.first_name and self.last_name else "your name"
                return self._ask(f"Sorry, I didn't get that. Please spell {which} one letter at a time, for example "
                                 "S as in Sam.", "spelling", state=self.state, expect="spelling")
            if intent in ("yes", "no") and self.state == "open":
                return self._prefixed(self._ask("How can I help you today?", "reprompt", state="open"), acks)
            return self._not_understood("not understood", low_confidence=confidence < 0.4)
        self.failed_in_a_row = 0
        if unknown:
            self._callback_topic = text[:200]
            offer = NO_ANSWER if not answers else "About your other question: " + NO_ANSWER
            return self._prefixed(self._ask(offer, "faq_unknown", state="callback_offer", expect="yes_no"), acks + answers)
        if answers and (not self.task or self.task_done):
            if not self.outcome:
                self.outcome = "faq_only"
            if any(str(t).startswith("service:") for t in r.slots.get("faq") or []):
                return self._prefixed(self._ask("Would you like to book one?", "book_offer", state="book_offer",
                                                expect="yes_no"), acks + answers)
            return self._prefixed(self._ask(PROMPTS["anything_else"], "faq", state="anything_else"), acks + answers)
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

    def _prefixed(self, turn: AgentTurn, before: list[str]) -> AgentTurn:
        if before and not turn.hangup:
            turn.text = " ".join([*before, turn.text])
            if self.history and self.history[-1][0] == "agent":
                self.history[-1] = ("agent", turn.text)
        return turn

    # -- the answer to the open question -------------------------------------------------------

    def _apply_answer(self, r: Reading, text: str, acks: list[str]) -> AgentTurn | None:
        s, intent, slots = self.state, r.intent, r.slots
        if s in ("confirm", "cancel_confirm") and intent == "yes" and self._readback_cut:
            # "okay, okay" over "To confirm, I'll..." before the question: the whole read-back first
            return self._repeat()
        if s == "confirm":
            asked_back = self._chosen_asked_back(text, slots)
            if asked_back is not None:
                return asked_back  # "Hang on, is that Thursday the 10th?": yes, and the question again
            if intent == "yes" and {"provider", "when", "service"} & slots.keys() and \
                    re.search(r"\b(but|instead|actually|rather|change|make it|switch|could (we|you)|can (we|you))\b", text, re.I):
                intent = "no"  # "Yes, but can you make it with Dr. Kim?": a change, not a yes
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
            if intent in ("no", "goodbye") or (intent == "give_info" and ("when" in slots or "provider" in slots)):
                self._release()
                self.chosen = None
                if rules.is_goodbye(text) and "when" not in slots:
                    self.task_done = True
                    return self._goodbye("No problem, I haven't booked anything.")
                if "provider" in slots:
                    self.provider = slots["provider"]
                if "when" in slots:
                    self.when = self.when.merged(slots["when"])  # "the afternoon instead": that day still
                    return self._offer()
                if "provider" in slots:
                    return self._offer()
                if "service" in slots and slots["service"] != self.q.appointment_type:
                    self.q.appointment_type = slots["service"]
                    return self._offer()
                self.when = parse.When()
                return self._ask("No problem. What day and time would suit you better?", "when", state="when")
            return None
        if s == "cancel_confirm":
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
                                 "kept", state="anything_else")
            return None
        if s == "offer":
            if "choice" in slots:
                turn = self._choose(self.offered[slots["choice"]])
                if turn is not None:
                    return turn
            if "provider" in slots and slots["provider"] != self.provider and intent != "choose_slot":
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
            if "when" in slots and intent != "choose_slot":
                self.when = self.when.merged(slots["when"])  # "no, anything after 10?": that day still
                return self._offer()
            if intent == "no":
                return self._offer_more()
            if len(self.offered) > 1 and (intent == "yes" or re.search(
                    r"\b(that|this|the) (one|time|slot)\b|\bthat'?s (fine|good|great|perfect)\b|\bthat works\b|"
                    r"\bsounds good\b|\bthe one with\b|\b(take|have|go with|do|book|want|grab) (that|this|it)\b", text, re.I)):
                # "I'll take that one" with two on offer: ask which, rather than "sorry?" (once)
                if self.last_question != self._which_one():
                    sure = "Sure."
                    if re.search(r"\b(dr|doctor)\b", text, re.I) and len({o.provider for o in self.offered}) == 1:
                        # "the one with Dr. Adele" when both are with Dr. Patel: say so
                        sure = f"{'Both' if len(self.offered) == 2 else 'All'} are with {self.offered[0].provider}."
                    return self._ask(f"{sure} {self._which_one()}", "offer", state="offer", expect="choice")
            return None
        if s == "lookup_retry":
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
        if s == "anything_else":
            if intent in ("no", "goodbye"):
                return self._goodbye()
            if intent == "yes" and not slots and len(rules.normalize(text).split()) <= 4:
                return self._ask("Sure, what else can I help you with?", "more", state="open")
            return None
        if s == "book_offer":  # "Yes, we do cleanings. Would you like to book one?"
            if intent == "yes" or intent == "book":
                self._start("book")
                self.q.appointment_type = slots.get("service") or self._offered_service
                self._take_values(r, acks)
                return self._next()
            if intent in ("no", "goodbye"):
                if intent == "goodbye" or rules.is_goodbye(text):
                    return self._goodbye()
                return self._ask(f"No problem. {PROMPTS['anything_else']}", "anything_else", state="anything_else")
        if s == "callback_offer":
            if intent == "yes":
                self.create_callback("a question the clinic has no answer for")  # the words are in the details
                self.outcome = self.outcome or "callback"
                acks.append("I've asked a member of our staff to call you back about that.")
                return self._after_callback()
            if intent in ("no", "goodbye"):
                if intent == "goodbye":
                    return self._goodbye()
                acks.append("No problem.")
                return self._after_callback()
            return None
        if s == "service" and "service" not in slots and re.search(
                r"\b(what (are|were) (the|my|your) (options|choices)|what the (options|choices) are|"
                r"what (do|can) you (offer|do|have|book)|what (kinds?|types?|sorts?)|"
                r"what('?s| is) (available|on offer)|not sure what (i need|to book|it'?s called))\b", text, re.I):
            names_ = ", ".join(sv.name for sv in self.clinic.services[:-1]) + f", or {self.clinic.services[-1].name}"
            return self._ask(f"I can book a {names_}. Which would you like?", "service", state="service")
        if s == "service" and "service" not in slots and not slots.get("faq") and re.search(
                r"\b(whatever('?s| is) (needed|necessary|best)|(not sure|no idea|don'?t know)( what)?|haven'?t been (in|for)|"
                r"first (visit|time)|been (a while|ages|years|a long time))\b", text, re.I):
            exam = next((sv.name for sv in self.clinic.services if re.search(r"check|exam", sv.name, re.I)), None)
            if exam:  # "Whatever's needed, I haven't been in years.": where a dentist would start
                self.q.appointment_type = exam
                return self._prefixed(self._next(), [f"A {exam} is the usual place to start, so I'll book that."])
        if s == "name" and "name" not in slots and "spelled" not in slots:
            if re.search(r"\b(why (do|would|did) you need|what (do|would) you need (it|that|my name|this) for|"
                         r"(is|why is) (that|it|this) (necessary|needed|required)|do you (really )?need (that|it|my name)|"
                         r"what'?s (it|that) for)\b", text, re.I):
                return self._ask("It's so the clinic knows who the appointment is for. Can I have your first and last "
                                 "name, please?", "name", state="name", expect="name")
            if re.search(r"\b(i'?d rather not|rather not say|prefer not to|(don'?t|do not) want to (say|give|tell)|"
                         r"not comfortable)\b", text, re.I):
                return self._ask("I understand. I do need a name to book the appointment; your first name is fine.",
                                 "name", state="name", expect="name")
        if s == "phone_confirm" and intent not in ("yes", "no") and "phone" not in slots and re.search(
                r"\b((better|best|rather|prefer)( to)? (call|use|reach me on|try|text)|(my|the|a) (other|mobile|cell|work) "
                r"(number|phone)|(husband|wife|partner|mom|dad|mother|father|friend|son|daughter|boss)'?s (phone|number|cell)|"
                r"(that'?s|it'?s) (my|the) (landline|work phone|office))\b", text, re.I):
            intent = r.intent = "no"  # "That's my landline, better to call my mobile."
        if s == "phone" and "phone" not in slots and self.caller_id and re.search(
                r"\b(the (one|number) i'?m calling (from|on)|(use|try) this (number|one)|this number is fine|"
                r"the same (number|one)|same one|caller id)\b", text, re.I):
            slots["phone"] = self.caller_id  # "Just use the one I'm calling from."
        if s == "phone" and "phone" not in slots and re.search(
                r"\b((don'?t|do not) (know|remember) (it|my number|the number)|can'?t remember (it|my number|the number)|"
                r"(let me|i'?ll|i need to|i have to) (find|look up|check|get) (it|that|the number|my number))\b", text, re.I):
            if self.caller_id and not re.search(r"\b(find|look up|check|get)\b", text, re.I):
                return self._ask(f"That's okay. Is the number you're calling from, {parse.speak_phone(self.caller_id)}, "
                                 "a good number to reach you?", "phone_confirm", state="phone_confirm", expect="yes_no")
            return self._say(AgentTurn("Take your time.", intent="aside", expect="number"))
        if s in ("phone", "phone_confirm") and "phone" not in slots and rules.will_key_in(text):
            if s == "phone_confirm":
                self.phone_source = "declined"
            return self._ask("Sure, go ahead and key it in, then press pound.", "phone", state="phone", expect="number")
        if s == "phone" and "phone" not in slots:
            turn = self._phone_in_parts(text)
            if turn is not None:
                return turn
        if s == "phone_confirm":
            if intent == "yes" and "phone" not in slots:
                self.q.phone_number = self.caller_id or ""
                self.phone_source = "caller_id"
            elif intent == "no" or "phone" in slots:
                self.phone_source = "declined" if "phone" not in slots else self.phone_source
        elif s == "phone_check":
            if intent == "yes" and "phone" not in slots:
                self.phone_source = "confirmed"
            elif intent == "no" or "phone" in slots:
                if "phone" not in slots:
                    self.q.phone_number = ""
                    self.phone_source = "declined"
        elif s == "known_caller":
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
        elif s in ("spelling", "spelling_first"):
            return self._take_spelling(r, text, first=s == "spelling_first" or self._means_first(text))
        elif s == "spelling_check":
            spelled = slots.get("spelled")
            again = spelled and spelled in (names.letters(self.last_name),
                                            names.letters(self.first_name) if self.first_spelled else None)
            if again and not self._means_first(text) and intent != "no":
                # a name spelled again as it was read back (the caller missed the read-back): the read-back again
                return self._spelling_read_back()
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
                                     "letter by letter?", "spelling", state="spelling_first" if first else "spelling",
                                     expect="spelling")
        elif s == "email" and intent == "no" and "email" not in slots:
            self.q.email = ""
            self.policy.confirm_by = tuple(c for c in self.policy.confirm_by if c != "email")
            self._email_declined = True
        elif s == "reason" and not slots.get("faq"):
            self.q.reason = text[:200]
        elif s == "insurance" and "insurance" not in slots and intent in ("give_info", "unknown", "other") and text:
            self.q.insurance = text[:80]
        return None

    def _which_one(self) -> str:
        first, second = (self.slot_words(o) for o in self.offered[:2])
        if self.offered[0].provider == self.offered[1].provider:
            first, second = first.split(" with ")[0], second.split(" with ")[0]
        if first.split(" at ")[0] == second.split(" at ")[0]:  # the same day: the times tell them apart
            second = second.split(" at ", 1)[1]
        return f"Which one: the first, {first}, or the second, {second}?"

    def _phone_in_parts(self, text: str) -> AgentTurn | None:
        """A number said in pieces across turns ("two oh two" [pause] "five five five..."): the
        digits so far are kept and read back, and the caller goes on."""
        digits = parse.spoken_digits(text)
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
        self._phone_digits = so_far
        return self._ask(f"{parse.speak_phone(so_far)}, and then?", "phone_partial", state="phone", expect="number")

    _phone_digits = ""

    def _after_callback(self) -> AgentTurn:
        if self.task and not self.task_done:
            return self._next()
        return self._ask(PROMPTS["anything_else"], "anything_else", state="anything_else")

    def _relative_to_booking(self, text: str) -> parse.When | None:
        b = self.target_booking
        if self.task != "reschedule" or b is None or self.state not in ("when", "offer"):
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
        return self._ask(f"Yes, {self.slot_words(c)}. Shall I go ahead?", "read_back", state="confirm", expect="yes_no")

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
        if "name" in slots and not self.name_verified and self.state not in ("spelling", "spelling_first",
                                                                            "spelling_check", "offer", "confirm"):
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
        if "spelled" in slots and self.state not in ("spelling", "spelling_first", "spelling_check") and self.full_name:
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
        if "dob" in slots:
            self.q.dob = slots["dob"].isoformat()
            took = True
        if "new_patient" in slots:
            self.q.new_patient = slots["new_patient"]
            took = True
        if "provider" in slots and self.state not in ("offer",):
            self.provider = slots["provider"]
            took = True
        if "service" in slots and (self.task in ("", "book") or not self.task_done):
            if self.task != "cancel":
                self.q.appointment_type = slots["service"]
                took = True
        if "when" in slots and self.state not in ("offer", "confirm", "dob"):
            self.when = self.when.merged(slots["when"])
            took = True
        if self.state in ("phone_confirm", "phone_check", "known_caller", "spelling", "spelling_first",
                          "spelling_check", "email", "insurance") and r.intent in ("yes", "no", "give_info"):
            took = True
        if self.state == "reason" and self.q.reason:
            took = True
        if self.state == "new_patient" and r.intent in ("yes", "no") and self.q.new_patient is None:
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
                             state="anything_else" if self.outcome else "open")
        if self.task_done:
            return self._ask(PROMPTS["anything_else"], "anything_else", state="anything_else")
        if self.task == "book" and not self.q.appointment_type:
            names_ = ", ".join(s.name for s in self.clinic.services[:-1]) + f", or {self.clinic.services[-1].name}"
            return self._ask(f"What kind of appointment do you need? For example a {names_}.", "service", state="service")
        turn = self._identify()
        if turn is not None:
            return turn
        identify_only = ("dob",) if "dob" in self.policy.required_fields else ()
        for fld in self.policy.required_fields if self.task == "book" else identify_only:
            if fld == "email" and not self.q.email and "email" in self.policy.confirm_by and \
                    not self._email_declined:
                return self._ask(PROMPTS["email"], "email", state="email")
            if fld == "dob" and not self.q.dob and self.state != "dob":
                return self._ask(PROMPTS["dob"], "dob", state="dob")
            if fld == "insurance" and not self.q.insurance and self.state != "insurance":
                return self._ask(PROMPTS["insurance"], "insurance", state="insurance")
            if fld == "reason" and not self.q.reason and self.state != "reason":
                return self._ask(PROMPTS["reason"], "reason", state="reason")
            if fld == "new_patient" and self.q.new_patient is None and self.state != "new_patient":
                return self._ask(PROMPTS["new_patient"], "new_patient", state="new_patient", expect="yes_no")
        if self.task in ("cancel", "reschedule", "check") and self.target_booking is None:
            return self._lookup()
        if self.task == "cancel":  # found, not yet confirmed: ask again (a cancel call never books)
            return self._confirm_cancel()
        if self.hold is not None and self.chosen is not None:
            return self._read_back()
        if self.when.empty and not self.when.flexible and self.state != "when":
            return self._ask(PROMPTS["when"], "when", state="when")
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
                    return self._ask(f"Am I speaking with {self.known_name}?", "known_caller", state="known_caller",
                                     expect="yes_no")
            if "name" in (self.policy.required_fields if book else ("name",)):
                return self._ask(PROMPTS["name"], "name", state="name", expect="name")
        if book and self.policy.spell_names and self.full_name and not self.name_verified and not self.name_unverified:
            if not self.name_spelled:
                return self._ask(f"Could you spell your {'last ' if self.first_name and self.last_name else ''}name "
                                 "for me, with a word for each letter, like S as in Sam?", "spelling", state="spelling",
                                 expect="spelling")
            if self.first_name and not self.first_spelled and not names.is_common_first_name(self.first_name) \
                    and self.last_name:
                return self._ask(PROMPTS["spelling_first"], "spelling", state="spelling_first", expect="spelling")
            return self._spelling_read_back()
        if not self.q.phone_number:
            if self.caller_id and self.phone_source != "declined":
                return self._ask(f"Is the number you're calling from, {parse.speak_phone(self.caller_id)}, the best number "
                                 "to reach you?", "phone_confirm", state="phone_confirm", expect="yes_no")
            return self._ask(PROMPTS["phone"], "phone", state="phone", expect="number")
        if self.phone_source == "spoken":
            return self._ask(f"I have {parse.speak_phone(self.q.phone_number)}. Is that right?", "phone_check",
                             state="phone_check", expect="yes_no")
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
        return self._say(AgentTurn(f"{preface} Thank you for calling {self.clinic.name}. Goodbye.".strip(), hangup=True,
                                   intent="goodbye"))

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
        if self.state == "offer" and len(self.offered) > 1:
            again = self._which_one()  # the choices again, not only "which would you prefer?"
        sorry = UNCLEAR_LINE if low_confidence else SORRY  # the recogniser was unsure: say so
        if self.state in YES_NO_STATES:  # a word the recogniser can't get wrong, or the keypad
            return self._say(AgentTurn(f"{sorry} {again} Please say yes or no, or press 1 for yes and 2 for no.",
                                       intent="reprompt", source="fallback", expect="yes_no"))
        return self._say(AgentTurn(f"{sorry} {again}", intent="reprompt", source="fallback", expect="open"))
