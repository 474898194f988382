"""The conversation policy: the backend owns the flow and speaks from templates.

Each caller turn goes through, in order: safety and handoff rules, FAQ, the deterministic
parsers for the question that was asked, and only then the language model, which proposes
one action in a grammar-constrained JSON schema. Every proposal is validated against the call
state before it is acted on: offered slot ids must come from this call's availability results,
and nothing is booked without a held slot and an explicit yes in the caller's latest turn.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

from . import parse, rules
from .hours import DAY_NAMES, describe_hours, spoken_time

log = logging.getLogger("frontdesk.dialog")

ACTIONS = ("book", "cancel", "reschedule", "faq_hours", "faq_address", "faq_parking", "faq_insurance", "human",
           "billing", "advice", "emergency", "goodbye", "yes", "no", "choose_slot", "give_info", "other")
JsonModel = Callable[[list[dict], dict], dict]
MIN_CONFIDENCE = 0.6  # below this the model's proposal counts as not understood
PROMPTS = {
    "name": "Can I have your first and last name, please?",
    "phone": "What's the best number to reach you? You can say it, or key it in and press pound.",
    "email": "What email address should I send the confirmation to?",
    "dob": "What's your date of birth?",
    "insurance": "Which dental insurance do you have, if any?",
    "reason": "Briefly, what's the reason for the visit?",
    "new_patient": "Are you a new patient, or have you been here before?",
    "when": "What day and time would work best for you?",
    "anything_else": "Is there anything else I can help with?",
}
FILLER = "One moment, please."
FAILED = ("I'm sorry, I'm having technical trouble right now. I've asked a member of our staff to call you back "
          "as soon as possible. Goodbye.")
_UNFINISHED = {"and", "or", "but", "so", "because", "the", "a", "an", "to", "for", "at", "on", "in", "with", "my", "your",
               "um", "uh", "er", "like", "is", "it's", "i'm", "i", "of", "about", "maybe", "then", "next"}
SORRY = "Sorry, I didn't catch that."
UNCLEAR_LINE = "Sorry, the line was unclear."
MIN_ASR_CONFIDENCE = 0.3  # a transcript this unsure is not guessed at by the model


class ClinicFacts(Protocol):
    name: str
    timezone: str
    disclosure: str
    address: str
    services: list
    hours: dict


@dataclass
class BookingPolicy:
    """What the clinic asks for and how bookings behave (from [booking] and [handoff])."""

    required_fields: tuple[str, ...] = ("name", "phone")
    hold_ttl_s: float = 300.0
    horizon_days: int = 21
    front_desk_uri: str = ""
    emergency_number: str = "911"
    recording_notice: str = ""
    confirm_by: tuple[str, ...] = ("sms",)
    parking: str = ""
    insurance: tuple[str, ...] = ()


@dataclass
class AgentTurn:
    text: str
    hangup: bool = False
    intent: str = ""
    source: str = "rule"  # rule | llm | fallback
    transfer_to: str | None = None
    expect: str = "open"  # open | yes_no | choice | name | number (endpointing hint)


@dataclass
class Qualification:
    caller_name: str = ""
    phone_number: str = ""
    email: str = ""
    appointment_type: str = ""
    reason: str = ""
    new_patient: bool | None = None
    dob: str = ""
    insurance: str = ""
    urgency: str = "unknown"  # normal | urgent | emergency | unknown
    qualified: str = "no"  # yes | no | needs human review
    handoff_reason: str = ""


@dataclass
class Conversation:
    clinic: ClinicFacts
    model: JsonModel | None = None
    calendar: object | None = None  # tools.calendar.Calendar
    policy: BookingPolicy = field(default_factory=BookingPolicy)
    call_id: str = ""
    caller_id: str | None = None  # E.164 from the From header, when valid
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    history: list[tuple[str, str]] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    misunderstandings: int = 0
    failed_in_a_row: int = 0
    sms_opt_out: bool = False
    outcome: str = ""
    q: Qualification = field(default_factory=Qualification)
    state: str = "open"
    task: str = ""  # book | cancel | reschedule
    when: parse.When = field(default_factory=parse.When)
    offered: list = field(default_factory=list)  # Slot objects offered on this call
    seen_slot_ids: set = field(default_factory=set)
    hold: object | None = None
    chosen: object | None = None
    target_booking: object | None = None
    booking: object | None = None
    last_question: str = ""

    # -- time ----------------------------------------------------------------------------

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    def now_local(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def is_open_now(self) -> bool:
        now = self.now_local()
        span = self.clinic.hours.get(list(DAY_NAMES)[now.weekday()])
        return bool(span) and span[0] <= now.strftime("%H:%M") < span[1]

    # -- prompts for the model -------------------------------------------------------------

    def system_prompt(self) -> str:
        services = ", ".join(s.name for s in self.clinic.services)
        return (
            f"You help route phone calls for {self.clinic.name}. Services: {services}.\n"
            "The caller's words come from speech recognition and may contain errors.\n"
            "Reply with JSON: the caller's action, the service they named, and the slot they chose.\n"
            "Actions: book = wants a new appointment; cancel; reschedule; faq_hours; faq_address; faq_parking; "
            "faq_insurance; human = wants a person; billing = bills, refunds, complaints; advice = medical, legal "
            "or money advice; emergency; goodbye; yes; no; choose_slot = picks one of the offered times; "
            "give_info = gives a name, number, date or time; other.\n"
            "Use \"none\" for service or slot when not named.\n"
            "Examples:\n"
            "Caller: I'd like to come in for a checkup -> book, checkup\n"
            "Caller: please take my appointment off the books -> cancel\n"
            "Caller: can we move my visit to another day -> reschedule\n"
            "Caller: let me talk to somebody at the desk -> human\n"
            "Caller: I think I was charged twice -> billing\n"
            "Caller: what time do you close -> faq_hours\n"
            "Caller: the later one works for me -> choose_slot\n"
            "Caller: that's all, thanks -> goodbye"
        )

    def schema(self) -> dict:
        return {
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": self.allowed_actions()},
                "service": {"type": "string", "enum": [s.name for s in self.clinic.services] + ["none"]},
                "slot": {"type": "string", "enum": [s.id for s in self.offered] + ["none"]},
            },
            "required": ["action", "service", "slot"],
        }

    def allowed_actions(self) -> list[str]:
        """The actions that make sense in this state: the grammar offers only these."""
        out = [a for a in ACTIONS if a not in ("yes", "no", "choose_slot", "give_info")]
        if self.state in ("confirm", "cancel_confirm", "phone_confirm", "anything_else", "offer"):
            out += ["yes", "no"]
        if self.state == "offer" and self.offered:
            out.append("choose_slot")
        if self.state in ("name", "phone", "when", "email", "reason", "service", "new_patient"):
            out.append("give_info")
        return out

    def prompt_messages(self, caller_text: str) -> list[dict]:
        context = f"Agent asked: {self.last_question}\n" if self.last_question else ""
        if self.offered:
            context += "Offered: " + "; ".join(f"{s.id} = {self._slot_words(s)}" for s in self.offered) + "\n"
        return [{"role": "system", "content": self.system_prompt()},
                {"role": "user", "content": f"{context}Caller: {caller_text}"}]

    def _tool(self, tool: str, args: dict, result) -> None:
        """Log a tool call (with when it happened) for the call record."""
        self.tool_calls.append({"tool": tool, "args": args, "result": result, "at": self.clock().timestamp()})

    def _propose(self, text: str) -> dict | None:
        if self.model is None:
            return None
        try:
            proposal = self.model(self.prompt_messages(text), self.schema())
        except Exception as exc:  # a model failure never ends the call
            log.warning("model failed: %s", exc)
            return None
        self._tool("llm.propose", {"text": text}, proposal)
        if proposal.get("action") not in self.allowed_actions():
            return None
        if proposal.get("_confidence", 1.0) < MIN_CONFIDENCE:  # a guess is not understanding
            return None
        return proposal

    # -- entry points ----------------------------------------------------------------------

    def greeting_text(self) -> str:
        parts = [f"Thank you for calling {self.clinic.name}."]
        if self.clinic.disclosure:
            parts.append(self.clinic.disclosure)
        if self.policy.recording_notice:
            parts.append(self.policy.recording_notice)
        parts.append("How can I help you today?")
        return " ".join(parts)

    def greeting(self) -> AgentTurn:
        return self._ask(self.greeting_text(), "greeting", state="open")

    def fixed_phrases(self) -> list[str]:
        """What this clinic's agent says word for word on many calls (speech is cached)."""
        names = ", ".join(s.name for s in self.clinic.services[:-1]) + f", or {self.clinic.services[-1].name}"
        return [self.greeting_text(), *PROMPTS.values(), FILLER, SORRY, UNCLEAR_LINE, f"Thank you for calling {self.clinic.name}. Goodbye.",
                f"What kind of appointment do you need? For example a {names}.", "Sure, what else can I help you with?", FAILED]

    def wait_for_more(self, partial: str) -> int:
        """From a transcript of the caller's speech so far: how long (ms) to wait for more when
        they pause mid-answer: inside a phone number, or after "and", "the", "um"... 0: done."""
        if self.state == "phone":
            digits = parse.spoken_digits(partial)
            if 0 < len(digits) < 10 and not parse.is_no(partial):
                return 2500
        words = rules.normalize(partial).split()
        if words and (words[-1] in _UNFINISHED or partial.rstrip().endswith((",", "-", "..."))):
            return 1200
        return 0

    def overloaded(self) -> AgentTurn:
        """No reply could be produced in time: take a callback rather than keep the caller waiting."""
        return self._handoff("the assistant was overloaded", "overload",
                             preface="I'm sorry, I'm having trouble keeping up right now.")

    def failed(self) -> AgentTurn:
        """A model failed mid-call: a callback task, a fixed apology (cached speech), and goodbye."""
        self._release()
        self.q.handoff_reason = self.q.handoff_reason or "technical problem"
        self.outcome = "callback"
        self.create_callback("technical problem during the call")
        return self._say(AgentTurn(FAILED, hangup=True, intent="failed"))

    def on_silence(self) -> AgentTurn:
        self._release()
        self.outcome = self.outcome or "abandoned"
        return self._say(AgentTurn(
            f"I haven't heard anything, so I'll end the call now. Thank you for calling {self.clinic.name}. Goodbye.",
            hangup=True, intent="silence"))

    def on_hangup(self) -> None:
        """The caller hung up: release what this call held."""
        self._release()
        if not self.outcome:
            self.outcome = "abandoned" if self.task and not self.booking else "faq_only"

    def on_dtmf(self, digits: str) -> AgentTurn | None:
        if digits.startswith("0") and self.state not in ("phone",):
            return self._handoff("caller pressed 0 for a person", "human")
        if self.state == "phone":
            phone = parse.parse_phone(digits.rstrip("#"))
            if phone:
                self.q.phone_number = phone
                return self._next()
            return self._ask("That number didn't look complete. Please key in your ten-digit phone number, then press pound.",
                             "phone", state="phone", expect="number")
        return None

    def interrupted(self, heard: str) -> None:
        """The caller barged in: the history keeps only what they heard of the last agent turn."""
        for i in range(len(self.history) - 1, -1, -1):
            if self.history[i][0] == "agent":
                self.history[i] = ("agent", heard + " —" if heard else "—")
                break

    def on_unclear(self) -> AgentTurn:
        return self._not_understood("unclear")

    def on_caller(self, text: str, confidence: float = 1.0) -> AgentTurn:
        text = text.strip()
        self.history.append(("caller", text))
        if not rules.normalize(text):
            return self._not_understood("unclear")
        # 1. safety and handoff rules, in any state
        if rules.is_emergency(text):
            return self._emergency()
        if rules.wants_human(text):
            return self._handoff("caller asked for a person", "human")
        if rules.is_billing(text) and self.state not in ("name",):
            return self._handoff("billing, refund or complaint", "billing")
        if rules.wants_advice(text):
            return self._handoff("request for medical, legal or financial advice", "advice",
                                 preface="I'm not able to give medical advice over the phone.")
        opted_out = rules.no_texts(text)
        if opted_out:
            self.sms_opt_out = True
            self.policy.confirm_by = tuple(c for c in self.policy.confirm_by if c != "sms")
        if rules.is_goodbye(text) and self.state not in ("confirm", "cancel_confirm", "phone_confirm"):
            return self._goodbye()
        # 2. the answer to the question that was asked
        handler = getattr(self, f"_in_{self.state}", None)
        turn = handler(text) if handler else None
        if turn is not None:
            self.failed_in_a_row = 0
            return turn
        # 3. FAQ from configured facts
        topic = rules.faq_topic(text)
        if topic:  # after the state's own parser: "are you open Tuesday" was a date there
            self.failed_in_a_row = 0
            return self._faq(topic)
        # 4. the model proposes; we validate (not on a transcript the recogniser itself doubts)
        proposal = self._propose(text) if confidence >= MIN_ASR_CONFIDENCE else None
        if proposal is not None:
            turn = self._apply(proposal, text)
            if turn is not None:
                turn.source = "llm"
                self.failed_in_a_row = 0
                return turn
        if opted_out:
            return self._say(AgentTurn(f"Okay, I won't send you text messages. {self.last_question}", intent="sms_opt_out"))
        return self._not_understood("not understood", low_confidence=confidence < 0.4)

    # -- validation of model proposals ---------------------------------------------------

    def _apply(self, p: dict, text: str) -> AgentTurn | None:
        action = p["action"]
        service = p.get("service") if p.get("service") in {s.name for s in self.clinic.services} else None
        if action in ("book", "cancel", "reschedule") and self.state in ("open", "anything_else", "service"):
            if action == "book" and service:
                self.q.appointment_type = service
            return self._start(action, text)
        if action.startswith("faq_"):
            return self._faq(action[4:])
        if action == "human":
            return self._handoff("caller asked for a person", "human")
        if action == "billing":
            return self._handoff("billing, refund or complaint", "billing")
        if action == "advice":
            return self._handoff("request for medical, legal or financial advice", "advice",
                                 preface="I'm not able to give medical advice over the phone.")
        if action == "emergency":
            return self._emergency()
        if action == "goodbye" and self.state in ("open", "anything_else"):
            return self._goodbye()
        if action == "choose_slot" and self.state == "offer":
            chosen = next((s for s in self.offered if s.id == p.get("slot")), None)
            if chosen is not None:  # only a slot this call was offered
                return self._choose(chosen)
        if action == "no" and self.state == "offer":
            return self._offer_more()
        if self.state == "service" and service:
            self.q.appointment_type = service
            return self._next()
        if action == "other" and self.state in ("open", "anything_else"):
            # the model is confident this is something we do not handle
            return self._handoff("unsupported request", "unsupported",
                                 preface="I'm not able to help with that over the phone.")
        # "yes" from the model alone never confirms a booking: the rules must hear it too
        return None

    # -- states ------------------------------------------------------------------------------

    def _in_open(self, text: str) -> AgentTurn | None:
        kind = rules.request_kind(text)
        service = rules.match_service(text, self.clinic.services)
        if kind is None and service:
            kind = "book"
        if kind is None:
            return None
        if service:
            self.q.appointment_type = service
        return self._start(kind, text)

    def _in_anything_else(self, text: str) -> AgentTurn | None:
        turn = self._in_open(text)
        if turn is not None:
            return turn
        if parse.is_no(text):
            return self._goodbye()
        if parse.is_yes(text) and len(rules.normalize(text).split()) <= 3:
            return self._ask("Sure, what else can I help you with?", "more", state="open")
        return None

    def _start(self, kind: str, text: str) -> AgentTurn:
        self.task = kind
        self.requests.append({"type": kind, "service": self.q.appointment_type or None})
        when = parse.parse_when(text, self.now_local().date())
        if not when.empty:
            self.when = when
        self._capture_name(text)
        return self._next()

    def _in_service(self, text: str) -> AgentTurn | None:
        service = rules.match_service(text, self.clinic.services)
        if not service:
            return None
        self.q.appointment_type = service
        when = parse.parse_when(text, self.now_local().date())
        if not when.empty:
            self.when = when
        return self._next()

    def _in_name(self, text: str) -> AgentTurn | None:
        name = parse.parse_name(text)
        if not name:
            return None
        self.q.caller_name = name
        return self._next()

    def _in_phone_confirm(self, text: str) -> AgentTurn | None:
        phone = parse.parse_phone(text)
        if phone:
            self.q.phone_number = phone
            return self._next()
        if parse.is_yes(text):
            self.q.phone_number = self.caller_id or ""
            return self._next()
        if parse.is_no(text):
            return self._ask("What's the best number to reach you? You can also key it in on your phone's keypad, then press pound.",
                             "phone", state="phone", expect="number")
        return None

    def _in_phone(self, text: str) -> AgentTurn | None:
        phone = parse.parse_phone(text)
        if not phone:
            return None
        self.q.phone_number = phone
        return self._next()

    def _in_reason(self, text: str) -> AgentTurn | None:
        self.q.reason = text[:200]
        return self._next()

    def _in_new_patient(self, text: str) -> AgentTurn | None:
        t = rules.normalize(text)
        if "new" in t or "first time" in t or "never" in t:
            self.q.new_patient = True
        elif "existing" in t or "been there" in t or "returning" in t or "patient" in t or parse.is_yes(text):
            self.q.new_patient = False
        elif parse.is_no(text):
            self.q.new_patient = True
        else:
            return None
        return self._next()

    def _in_insurance(self, text: str) -> AgentTurn | None:
        t = rules.normalize(text)
        plan = next((p for p in self.policy.insurance if rules.normalize(p) in t), None)
        if plan is None and (parse.is_no(text) or "none" in t or "self pay" in t or "no insurance" in t):
            plan = "none"
        self.q.insurance = plan or text[:80]
        return self._next()

    def _in_dob(self, text: str) -> AgentTurn | None:
        dob = parse.parse_birth_date(text, self.now_local().date())
        if dob is None:
            return None
        self.q.dob = dob.isoformat()
        return self._next()

    def _in_email(self, text: str) -> AgentTurn | None:
        t = text.lower().replace(" at ", "@").replace(" dot ", ".").replace(" ", "")
        if "@" in t and "." in t.split("@")[-1]:
            self.q.email = t.strip(".")
            return self._next()
        if parse.is_no(text):
            self.q.email = ""
            self.policy.confirm_by = tuple(c for c in self.policy.confirm_by if c != "email")
            return self._next()
        return None

    def _in_when(self, text: str) -> AgentTurn | None:
        when = parse.parse_when(text, self.now_local().date())
        if when.empty:
            if rules.normalize(text) in ("any", "anytime", "any time", "whenever", "soonest", "as soon as possible", "asap") \
                    or "soon" in rules.normalize(text) or "earliest" in rules.normalize(text) or "any day" in rules.normalize(text):
                self.when = parse.When()
                return self._offer()
            return None
        self.when = when
        return self._offer()

    def _in_offer(self, text: str) -> AgentTurn | None:
        idx = parse.parse_ordinal_choice(text, len(self.offered))
        if idx is not None:
            return self._choose(self.offered[idx])
        at = parse.parse_time(text)
        when = parse.parse_when(text, self.now_local().date())
        if at is not None:
            match = [s for s in self.offered if s.local_start.time().replace(tzinfo=None) == at
                     and (when.day_from is None or s.local_start.date() == when.day_from)]
            if len(match) == 1:
                return self._choose(match[0])
        for s in self.offered:  # "the one with Dr. Kim"
            last = s.provider.split()[-1].lower()
            if last in rules.normalize(text).split() and sum(last in o.provider.lower() for o in self.offered) == 1:
                return self._choose(s)
        if not when.empty:  # a different day or time
            self.when = when
            return self._offer()
        if parse.is_no(text) or "else" in rules.normalize(text) or "other" in rules.normalize(text):
            return self._offer_more()
        if parse.is_yes(text) and len(self.offered) == 1:
            return self._choose(self.offered[0])
        return None

    def _in_confirm(self, text: str) -> AgentTurn | None:
        if parse.is_yes(text):
            return self._book()
        if parse.is_no(text):
            when = parse.parse_when(text, self.now_local().date())
            self._release()
            if not when.empty:  # "no, make it Thursday instead"
                self.when = when
                return self._offer()
            self.when = parse.When()
            return self._ask("No problem. What day and time would suit you better?", "when", state="when")
        return None

    def _in_cancel_confirm(self, text: str) -> AgentTurn | None:
        if parse.is_yes(text):
            return self._do_cancel()
        if parse.is_no(text):
            self.task = ""
            return self._ask("Okay, I've left your appointment as it is. Is there anything else I can help with?",
                             "kept", state="anything_else")
        return None

    # -- the booking flow ----------------------------------------------------------------

    def _next(self) -> AgentTurn:
        """Ask for the next missing field, or move on to availability."""
        if self.task == "book" and not self.q.appointment_type:
            names = ", ".join(s.name for s in self.clinic.services[:-1]) + f", or {self.clinic.services[-1].name}"
            return self._ask(f"What kind of appointment do you need? For example a {names}.", "service", state="service")
        identify = ("name", "phone") + (("dob",) if "dob" in self.policy.required_fields else ())
        for fld in self.policy.required_fields if self.task == "book" else identify:
            if fld == "name" and not self.q.caller_name:
                return self._ask(PROMPTS["name"], "name", state="name", expect="name")
            if fld == "phone" and not self.q.phone_number:
                if self.caller_id and self.state != "phone":
                    return self._ask(f"Is the number you're calling from, {parse.speak_phone(self.caller_id)}, the best number to reach you?",
                                     "phone_confirm", state="phone_confirm", expect="yes_no")
                return self._ask(PROMPTS["phone"],
                                 "phone", state="phone", expect="number")
            if fld == "email" and not self.q.email and "email" in self.policy.confirm_by and self.state != "email":
                return self._ask(PROMPTS["email"], "email", state="email")
            if fld == "dob" and not self.q.dob and self.state != "dob":
                return self._ask(PROMPTS["dob"], "dob", state="dob")
            if fld == "insurance" and not self.q.insurance and self.state != "insurance":
                return self._ask(PROMPTS["insurance"], "insurance", state="insurance")
            if fld == "reason" and not self.q.reason and self.state != "reason":
                return self._ask(PROMPTS["reason"], "reason", state="reason")
            if fld == "new_patient" and self.q.new_patient is None and self.state != "new_patient":
                return self._ask(PROMPTS["new_patient"], "new_patient", state="new_patient")
        if self.task in ("cancel", "reschedule") and self.target_booking is None:
            return self._lookup()
        if self.task in ("book", "reschedule"):
            if self.when.empty and self.state != "when":
                return self._ask(PROMPTS["when"], "when", state="when")
            return self._offer()
        return self._ask(PROMPTS["anything_else"], "anything_else", state="anything_else")

    def _capture_name(self, text: str) -> None:
        if "name is" in text.lower() or "this is" in text.lower():
            name = parse.parse_name(text)
            if name:
                self.q.caller_name = name

    def _search(self, after_start=None) -> list:
        cal = self.calendar
        if cal is None:
            raise RuntimeError("no calendar configured")
        today = self.now_local().date()
        w = self.when
        day_from = max(w.day_from or today, today)
        day_to = max(w.day_to or (day_from + timedelta(days=self.policy.horizon_days)), day_from)
        service = self.q.appointment_type or (self.target_booking.service if self.target_booking else "")
        slots = cal.find_slots(service, day_from, day_to, after_local=w.after, before_local=w.before)
        self._tool("find_slots", {"service": service, "from": str(day_from), "to": str(day_to),
                                  "after": str(w.after), "before": str(w.before)}, len(slots))
        if after_start is not None:
            slots = [s for s in slots if s.start > after_start]
        return slots

    def _pick_offers(self, slots: list) -> list:
        w = self.when
        if w.at is not None:
            exact = [s for s in slots if s.local_start.time().replace(tzinfo=None) == w.at]
            near = sorted(slots, key=lambda s: abs((datetime.combine(s.local_start.date(), s.local_start.time().replace(tzinfo=None))
                                                    - datetime.combine(s.local_start.date(), w.at)).total_seconds())
                          + (s.local_start.date() - slots[0].local_start.date()).days * 86400)
            if exact:
                return [exact[0]] + [s for s in near if s.start != exact[0].start and s.provider != exact[0].provider][:1]
            slots = near
        picked: list = []
        for s in slots:  # spread the options: at least 90 minutes apart
            if all(abs((s.start - p.start).total_seconds()) >= 5400 for p in picked):
                picked.append(s)
            if len(picked) == 2:
                break
        return sorted(picked, key=lambda s: s.start)

    def _offer(self, after_start=None) -> AgentTurn:
        try:
            slots = self._search(after_start)
        except Exception as exc:
            log.warning("calendar failure: %s", exc)
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        if not slots:
            if not self.when.empty:
                self.when = parse.When(day_from=(self.when.day_to or self.when.day_from or self.now_local().date()) + timedelta(days=1))
                try:
                    slots = self._search()
                except Exception as exc:
                    return self._handoff(f"calendar tool failure: {exc}", "calendar")
                if slots:
                    offers = self._pick_offers(slots)
                    return self._present(offers, prefix="I don't have anything then. The next openings are")
            return self._handoff("no availability found", "no_availability",
                                 preface="I'm sorry, I couldn't find an opening in the next few weeks.")
        return self._present(self._pick_offers(slots))

    def _offer_more(self) -> AgentTurn:
        last = max((s.start for s in self.offered), default=None)
        return self._offer(after_start=last + timedelta(minutes=89) if last else None)

    def _present(self, offers: list, prefix: str = "I have") -> AgentTurn:
        self.offered = offers
        self._tool("offer", {}, [{"id": s.id, "provider": s.provider, "start": s.start.isoformat(),
                                  "end": s.end.isoformat()} for s in offers])
        self.seen_slot_ids.update(s.id for s in offers)
        words = [self._slot_words(s) for s in offers]
        options = words[0] if len(words) == 1 else ", or ".join(words)
        question = "Does that work?" if len(offers) == 1 else "Which would you prefer?"
        return self._ask(f"{prefix} {options}. {question}", "offer", state="offer", expect="choice")

    def _slot_words(self, s) -> str:
        t = s.local_start
        return f"{DAY_NAMES[list(DAY_NAMES)[t.weekday()]]}, {t.strftime('%B')} {_ordinal(t.day)} at {spoken_time(t.strftime('%H:%M'))} with {s.provider}"

    def _choose(self, slot) -> AgentTurn:
        if slot.id not in self.seen_slot_ids:  # never book what this call was not offered
            return None  # type: ignore[return-value]
        self._release()
        try:
            self.hold = self.calendar.hold(slot, self.call_id, ttl_s=self.policy.hold_ttl_s)
            self._tool("hold", {"slot": slot.id}, self.hold.id)
        except Exception as exc:
            from tools.calendar import SlotTaken
            self._tool("hold", {"slot": slot.id}, f"error: {exc}")
            if isinstance(exc, SlotTaken):
                self.offered = [s for s in self.offered if s.id != slot.id]
                turn = self._offer(after_start=None)
                turn.text = "I'm sorry, that time was just taken. " + turn.text
                return turn
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self.chosen = slot
        where = f" at {self.clinic.address}" if self.clinic.address else ""
        what = self.q.appointment_type or (self.target_booking.service if self.target_booking else "appointment")
        move = "move your appointment to" if self.task == "reschedule" else "book"
        return self._ask(f"To confirm, I'll {move} a {what} with {slot.provider} on {self._slot_words(slot).split(' with ')[0]}{where}. "
                         "Shall I go ahead?", "read_back", state="confirm", expect="yes_no")

    def _book(self) -> AgentTurn:
        from tools.calendar import CallerInfo, HoldExpired
        if self.hold is None or self.chosen is None:
            return self._next()
        info = CallerInfo(name=self.q.caller_name or "Unknown caller", phone=self.q.phone_number, email=self.q.email,
                          reason=self.q.reason, new_patient=self.q.new_patient, sms_opt_out=self.sms_opt_out,
                          dob=self.q.dob)
        replaces = self.target_booking.id if self.task == "reschedule" and self.target_booking else None
        try:
            self.booking = self.calendar.book(self.hold.id, info, self.call_id, replaces=replaces)
            self._tool("create_booking", {"hold": self.hold.id, "replaces": replaces}, self.booking.id)
        except HoldExpired:
            self.hold = None
            turn = self._offer()
            turn.text = "I'm sorry, that hold expired. " + turn.text
            return turn
        except Exception as exc:
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self.hold = None
        self.q.qualified = "yes"
        self.outcome = "rescheduled" if replaces else "booked"
        self._confirmations(self.booking)
        sent = self._confirmation_words(self.booking.email)
        done = "Your appointment is moved." if replaces else "You're all set."
        return self._ask(f"{done} {sent}Is there anything else I can help with, or would you like to speak with a staff member?",
                         "booked", state="anything_else")

    def _confirmations(self, booking) -> None:
        enqueue = getattr(self.calendar, "enqueue_confirmation", None)
        if enqueue is None:
            return
        for channel in self.policy.confirm_by:
            if channel == "email" and not booking.email:
                continue
            try:
                enqueue(booking.id, channel)
                self._tool("send_confirmation", {"channel": channel}, "queued")
            except Exception as exc:  # the booking stands; staff see the failure in the outbox
                log.warning("confirmation could not be queued: %s", exc)

    def _confirmation_words(self, email: str) -> str:
        channels = [c for c in self.policy.confirm_by if c != "email" or email]
        if "email" in channels and "sms" in channels:
            return "I'll send a confirmation by text and email. "
        if "email" in channels:
            return "I'll email you a confirmation. "
        if "sms" in channels:
            return "I'll text you a confirmation. "
        return ""

    # -- cancel and reschedule -----------------------------------------------------------

    def _lookup(self) -> AgentTurn:
        try:
            found = self.calendar.bookings(phone=self.q.phone_number, name=self.q.caller_name, dob=self.q.dob or None,
                                           upcoming_only=True, status="booked")
        except Exception as exc:
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self._tool("find_bookings", {"phone": self.q.phone_number, "name": self.q.caller_name}, len(found))
        if not found:
            return self._handoff("no booking found for this caller", "not_found",
                                 preface="I couldn't find an upcoming appointment under that name and number.")
        self.target_booking = found[0]
        b = found[0]
        t = b.start
        when = f"{DAY_NAMES[list(DAY_NAMES)[t.weekday()]]}, {t.strftime('%B')} {_ordinal(t.day)} at {spoken_time(t.strftime('%H:%M'))}"
        if self.task == "cancel":
            return self._ask(f"I found your {b.service} with {b.provider} on {when}. Shall I cancel it?",
                             "cancel_read_back", state="cancel_confirm", expect="yes_no")
        self.q.appointment_type = b.service
        if self.when.empty:
            return self._ask(f"I found your {b.service} with {b.provider} on {when}. What day and time would you like instead?",
                             "when", state="when")
        return self._offer()

    def _do_cancel(self) -> AgentTurn:
        try:
            self.calendar.cancel(self.target_booking.id)
            self._tool("cancel_booking", {"id": self.target_booking.id}, "cancelled")
        except Exception as exc:
            return self._handoff(f"calendar tool failure: {exc}", "calendar")
        self.outcome = "cancelled"
        self.q.qualified = "yes"
        enqueue = getattr(self.calendar, "enqueue_confirmation", None)
        if enqueue:
            for channel in self.policy.confirm_by:
                try:
                    enqueue(self.target_booking.id, channel)
                except Exception as exc:
                    log.warning("cancellation notice could not be queued: %s", exc)
        return self._ask("Your appointment is cancelled. Is there anything else I can help with?", "cancelled",
                         state="anything_else")

    # -- FAQ, handoff, goodbye -----------------------------------------------------------

    def _faq(self, topic: str) -> AgentTurn:
        if topic == "hours":
            answer = describe_hours(self.clinic.hours)
        elif topic == "address":
            answer = f"We're at {self.clinic.address}." if self.clinic.address else "I don't have our address on file."
        elif topic == "parking":
            answer = self.policy.parking or "I don't have parking information, but our staff can help with that."
        else:
            plans = list(self.policy.insurance)
            answer = ("We accept " + (", ".join(plans[:-1]) + f", and {plans[-1]}" if len(plans) > 1 else plans[0]) + "."
                      if plans else "I don't have our insurance list on file; our staff can check your plan.")
        if not self.outcome:
            self.outcome = "faq_only"
        follow = self.last_question if self.state not in ("open", "anything_else") else "Is there anything else I can help with?"
        return self._say(AgentTurn(f"{answer} {follow}", intent=f"faq_{topic}", expect="open"))

    def _emergency(self) -> AgentTurn:
        self.q.urgency = "emergency"
        return self._handoff("emergency", "emergency",
                             preface=f"If this is a medical emergency, please hang up and dial {self.policy.emergency_number} now.")

    def _handoff(self, reason: str, kind: str, preface: str = "") -> AgentTurn:
        self._release()
        self.q.handoff_reason = reason
        self.q.qualified = "needs human review"
        self.outcome = "transferred" if (self.policy.front_desk_uri and self.is_open_now()) else "callback"
        urgency = "urgent" if kind == "emergency" else ("normal" if self.q.urgency == "unknown" else self.q.urgency)
        if self.q.urgency == "unknown":
            self.q.urgency = urgency
        if self.outcome == "transferred":
            return self._say(AgentTurn(f"{preface} I'll transfer you to our front desk now.".strip(), intent=f"handoff_{kind}",
                                       transfer_to=self.policy.front_desk_uri, hangup=True))
        self.create_callback(reason)
        when = "as soon as we open" if not self.is_open_now() else "shortly"
        number = f" at {parse.speak_phone(self.q.phone_number or self.caller_id)}" if (self.q.phone_number or self.caller_id) else ""
        return self._ask(f"{preface} I've asked a member of our staff to call you back{number} {when}. "
                         "Is there anything else I can help with?".strip(), f"handoff_{kind}", state="anything_else")

    def create_callback(self, reason: str) -> None:
        if self.calendar is None:
            self.requests.append({"type": "callback", "reason": reason})
            return
        try:
            task = self.calendar.add_callback(self.call_id, reason, self.q.caller_name, self.q.phone_number or self.caller_id or "",
                                              details={"qualification": asdict(self.q), "transcript": self.history[-12:]},
                                              urgency="urgent" if self.q.urgency in ("urgent", "emergency") else "normal")
            self._tool("create_callback", {"reason": reason}, task.id)
        except Exception as exc:  # the call log still holds everything
            log.error("could not create a callback task: %s", exc)
        self.requests.append({"type": "callback", "reason": reason})

    def transfer_failed(self) -> AgentTurn:
        """The REFER was refused or failed: fall back to a callback task."""
        self.outcome = "callback"
        self.create_callback(self.q.handoff_reason or "transfer failed")
        return self._ask("I couldn't reach the front desk just now, so I've asked them to call you back. "
                         "Is there anything else I can help with?", "transfer_failed", state="anything_else")

    def _goodbye(self) -> AgentTurn:
        self._release()
        if not self.outcome:
            self.outcome = "faq_only"
        return self._say(AgentTurn(f"Thank you for calling {self.clinic.name}. Goodbye.", hangup=True, intent="goodbye"))

    def _not_understood(self, why: str, low_confidence: bool = False) -> AgentTurn:
        self.misunderstandings += 1
        self.failed_in_a_row += 1
        if self.failed_in_a_row >= 2:
            self.failed_in_a_row = 0
            return self._handoff("two failed understandings in a row", "not_understood",
                                 preface="I'm sorry, I'm having trouble understanding.")
        again = self.last_question or "How can I help you today?"
        sorry = UNCLEAR_LINE if low_confidence else SORRY  # the recogniser was unsure: say so
        return self._say(AgentTurn(f"{sorry} {again}", intent="reprompt", source="fallback",
                                   expect="open"))

    def _release(self) -> None:
        if self.hold is not None and self.calendar is not None:
            try:
                self.calendar.release_holds(self.call_id)
            except Exception as exc:
                log.warning("could not release holds: %s", exc)
            self.hold = None

    # -- bookkeeping -----------------------------------------------------------------------

    def _ask(self, text: str, intent: str, *, state: str, expect: str = "open") -> AgentTurn:
        self.state = state
        self.last_question = text.split(". ")[-1] if ". " in text else text
        return self._say(AgentTurn(text, intent=intent, expect=expect))

    def _say(self, turn: AgentTurn) -> AgentTurn:
        self.history.append(("agent", turn.text))
        return turn

    def summary(self) -> dict:
        return {"qualification": asdict(self.q), "outcome": self.outcome or "faq_only", "tool_calls": self.tool_calls,
                "misunderstandings": self.misunderstandings, "requests": self.requests,
                "booking": self.booking.as_json() if self.booking else None}


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
