"""The conversation policy: a booking frame the caller fills in any order; the agent asks only
for what is still missing or unconfirmed, and speaks from templates.

Each caller turn is understood whole (understand.read: every extractor, whatever was asked),
then: safety and handoff first; the answer to the open question (a read-back, a pick among
offers, a spelling); every value found goes into the frame; FAQ questions are answered; and
the agent asks for the next missing thing, acknowledging what it took ("Thanks, Daniel. And what
day works for you?"). The model is asked only when the rules find nothing, and it only picks
among closed options (model.py). Nothing is booked without a held slot this call was offered and
a yes to the read-back in the caller's latest turn. New callers spell their last name (and a
first name the recogniser may not know), which is read back; a spelling never confirmed is
booked with an "unverified name" flag for staff.

This module (about 440 lines) holds the frame, its save and restore, the model's consultation
and the call's events (a turn, a key press, silence, a barge-in, the hang-up); the turn's policy is in respond.py, the answers in answers.py, offers.py and
spelling.py, the calendar steps in steps.py and lookup.py."""

from __future__ import annotations

import copy
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable, Protocol
from zoneinfo import ZoneInfo

from . import model as llm_prompt
from . import names, parse, rules
from .faq import FaqEntry, parse_entries
from .hours import DAY_NAMES
from .prompts import FAILED, FILLER, PROMPTS, SORRY, UNCLEAR_LINE, AgentTurn  # noqa: F401
from .respond import YES_NO_STATES, Policy
from .states import State
from .lookup import Lookup
from .steps import NO_ANSWER, Steps
from .turn_hints import ACK_STATES, TurnHints, _lead_in, is_bare_ack
from .understand import Context, Reading, read

log = logging.getLogger("frontdesk.dialog")

MIN_ASR_CONFIDENCE = 0.3  # a transcript this unsure is not guessed at by the model
MIN_CONFIDENCE = llm_prompt.MIN_CONFIDENCE
ACTIONS = tuple(llm_prompt.INTENT_WORDS)
# what a turn can change: saved before a reply, restored when the reply is dropped (session.py)
_FRAME = ("state", "task", "task_done", "q", "first_name", "last_name", "name_spelled", "first_spelled",
          "name_verified", "name_unverified", "spell_attempts", "phone_source", "when", "offered", "seen_slot_ids", "declined_ids",
          "hold", "chosen", "target_booking", "booking", "last_question", "misunderstandings", "failed_in_a_row",
          "outcome", "provider", "sms_opt_out", "requests", "tool_calls", "history", "known_name", "_callback_topic",
          "policy", "lookup_phone", "lookup_tries", "_last_asked", "_asked_again", "_phone_digits", "_phone_tail", "_email_declined",
          "_email_checked", "_spell_prefix", "_spell_misses", "_last_said", "_last_full", "_last_expect", "_heard_name", "_readback_cut",
          "waitlist_when", "waitlist_else", "_news_cut", "_said_goodbye", "_booked_again")


# where the model's reading of an unknown intent can change the reply: what the caller wants, or
# a yes or no the rules did not recognise. (Mid-spelling, mid-number or at an offer it only costs time.)
_MODEL_STATES = (State.OPEN, State.ANYTHING_ELSE, State.SERVICE, State.WHEN, *YES_NO_STATES)


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
    spell_names: bool = True  # new callers spell their last name, read back
    survey: bool = False  # [survey] enabled: one question on a scale of 1 to 5 before goodbye
    waitlist_days: int = 0  # [waitlist] enabled: how far ahead a caller's entry looks (0: no waitlist)
    reminder_calls: bool = False  # [reminders] calls: a booking caller is asked whether they want a reminder call


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
    survey_score: int | None = None  # 1-5, the caller's answer to the end-of-call question


_ONLY_AGAIN = ("aside", "repeat", "still_here")  # turns that only ask the last question again
_NEW_REQUEST = ("book", "cancel", "reschedule", "check", "faq", "human", "billing", "advice", "emergency")


@dataclass
class Conversation(Policy, Steps, Lookup, TurnHints):
    clinic: ClinicFacts
    model: object | None = None  # a Scorer (llm.llama.LlamaLLM.score), or None: rules only
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
    state: State = State.OPEN
    task: str = ""  # book | cancel | reschedule
    task_done: bool = False
    when: parse.When = field(default_factory=parse.When)
    offered: list = field(default_factory=list)  # Slot objects offered on this call
    seen_slot_ids: set = field(default_factory=set)
    declined_ids: set = field(default_factory=set)  # offered, and the caller asked again for the same times
    hold: object | None = None
    chosen: object | None = None
    target_booking: object | None = None
    booking: object | None = None
    last_question: str = ""
    first_name: str = ""
    last_name: str = ""
    name_spelled: bool = False
    first_spelled: bool = False
    name_verified: bool = False
    name_unverified: bool = False
    spell_attempts: int = 0
    phone_source: str = ""  # caller_id | spoken | keypad
    provider: str | None = None
    known_name: str | None = None
    lookup_phone: str = ""  # another number the appointment may be under (asked when none was found)
    lookup_tries: int = 0
    _callback_topic: str = ""
    _readings: dict = field(default_factory=dict)

    def __post_init__(self):
        self.faq_entries: list[FaqEntry] = parse_entries(getattr(self.clinic, "faq", []) or [])

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

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    # -- one turn's state, for dropping a reply that a newer caller turn replaced -------------

    def snapshot(self) -> dict:
        snap = {}
        for k in _FRAME:
            v = getattr(self, k)
            snap[k] = v if k in ("hold", "chosen", "target_booking", "booking") else copy.deepcopy(v)
        return snap

    def restore(self, snap: dict) -> None:
        if self.hold is not None and snap.get("hold") is None:
            self._release()
        for k, v in snap.items():
            setattr(self, k, v)

    # -- understanding ---------------------------------------------------------------------

    def context(self) -> Context:
        return Context(asked=self.state, today=self.now_local().date(), services=list(self.clinic.services),
                       providers=[p.name for p in getattr(self.clinic, "providers", [])],
                       insurance=list(self.policy.insurance), faq=self.faq_entries, offered=list(self.offered))

    def set_context(self, asked: str, offered: list) -> None:
        """For the understanding corpus: as if the agent had just asked ``asked``."""
        self.state = State(asked)
        self.offered = list(offered)
        self.seen_slot_ids = {s.id for s in offered}

    def understand(self, text: str, confidence: float = 1.0) -> Reading:
        """The rules' reading of a turn, and the model's pick where the rules found nothing.
        Pure with respect to the call (it may run early, on the transcript of a pause)."""
        text = rules.without_asides(text)
        key = (text, self.state, tuple(getattr(s, "id", "") for s in self.offered))
        if key in self._readings:
            return self._readings[key]
        r = read(text, self.context())
        if self.model is not None and confidence >= MIN_ASR_CONFIDENCE:
            self._consult_model(r, text)
        if len(self._readings) > 32:
            self._readings.clear()
        self._readings[key] = r
        return r

    def model_messages(self, text: str) -> list[dict]:
        """What the model reads for a caller turn (the system prompt and examples are the same on
        every turn, so they stay in its cache)."""
        return llm_prompt.messages(self.clinic, [e.id for e in self.faq_entries], self.last_question, text)

    def _consult_model(self, r: Reading, text: str) -> None:
        if not r.slots and (rules.asks_repeat(text) or rules.is_aside(text) or rules.announces_question(text)):
            return  # "sorry, what was that?", "sorry, long day": nothing for the model to read
        msgs = None

        def messages():
            nonlocal msgs
            if msgs is None:
                msgs = self.model_messages(text)
            return msgs

        words = len(rules.normalize(text).split())
        if r.intent == "unknown" and words >= 2 and self.state in _MODEL_STATES:
            pick = llm_prompt.choose(self.model, messages(), list(llm_prompt.INTENT_WORDS))
            self._tool("llm.choose", {"options": "intent"}, pick)
            if pick and pick[1] >= MIN_CONFIDENCE:
                intent = llm_prompt.INTENT_WORDS[pick[0]]
                if intent in ("yes", "no") and self.state not in (State.CONFIRM, State.CANCEL_CONFIRM, State.PHONE_CONFIRM,
                                                                  State.ANYTHING_ELSE, State.SPELLING_CHECK, State.PHONE_CHECK):
                    return
                r.intent, r.source = intent, "llm"
                if intent == "faq":
                    r.slots["faq"] = ["unknown"]
        wants_service = (r.intent in ("book",) or self.state == State.SERVICE) and "service" not in r.slots and \
            (self.task in ("", "book") and not self.q.appointment_type) and words >= 2
        if wants_service:
            services = [s.name for s in self.clinic.services]
            opts = [s.split()[0] for s in services] + ["none"]
            pick = llm_prompt.choose(self.model, messages(), opts, prefix="book")
            self._tool("llm.choose", {"options": "service"}, pick)
            if pick and pick[0] != "none" and pick[1] >= MIN_CONFIDENCE:
                r.slots["service"] = services[opts.index(pick[0])]
                r.source = "llm"

    def _tool(self, tool: str, args: dict, result) -> None:
        """Log a tool call (with when it happened) for the call record."""
        self.tool_calls.append({"tool": tool, "args": args, "result": result, "at": self.clock().timestamp()})

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
        return self._ask(self.greeting_text(), "greeting", state=State.OPEN)

    def fixed_phrases(self) -> list[str]:
        """What this clinic's agent says word for word on many calls (speech is cached)."""
        names_ = ", ".join(s.name for s in self.clinic.services[:-1]) + f", or {self.clinic.services[-1].name}"
        return [self.greeting_text(), *PROMPTS.values(), FILLER, SORRY, UNCLEAR_LINE, NO_ANSWER,
                f"Thank you for calling {self.clinic.name}. Goodbye.", "Sure, what else can I help you with?",
                f"What kind of appointment do you need? For example a {names_}.", FAILED, "Is that right?",
                "Hi! How can I help you today?"]

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
        if digits.startswith("0") and self.state not in (State.PHONE, State.PHONE_CHECK):
            return self._handoff("caller pressed 0 for a person", "human")
        if self.state in (State.PHONE, State.PHONE_CHECK):
            phone = parse.parse_phone(digits.rstrip("#"))
            if phone:
                self.q.phone_number = phone
                self.phone_source = "keypad"  # keyed in: nothing to read back
                return self._next()
            return self._ask("That number didn't look complete. Please key in your ten-digit phone number, then press pound.",
                             "phone", state=State.PHONE, expect="number")
        if self.state == State.SURVEY:
            return self._survey_answer(int(digits[0]) if digits[:1] in ("1", "2", "3", "4", "5") else None)
        if self.state in YES_NO_STATES and digits in ("1", "2"):  # "press 1 for yes, 2 for no"
            return self.on_caller("yes" if digits == "1" else "no")
        return None

    def interrupted(self, heard: str) -> None:
        """The caller barged in: the history keeps only what they heard of the last agent turn."""
        full = ""
        for i in range(len(self.history) - 1, -1, -1):
            if self.history[i][0] == "agent":
                full = self.history[i][1]
                self.history[i] = ("agent", heard + " —" if heard else "—")
                break
        # what the turn said before its question ("Your appointment is moved. I'll text you ..."):
        # cut before the caller heard it all, an aside over it is answered with the whole turn again
        news = full[:len(full) - len(self.last_question)] if full.endswith(self.last_question) else ""
        self._news_cut = len(heard.split()) < len(news.split())
        # a read-back cut before its question ("Shall I go ahead?") was not agreed to
        self._readback_cut = self.state in (State.CONFIRM, State.CANCEL_CONFIRM) and "?" not in heard

    def on_unclear(self) -> AgentTurn:
        return self._not_understood("unclear")

    def transfer_failed(self) -> AgentTurn:
        """The REFER was refused or failed: fall back to a callback task."""
        self.outcome = "callback"
        self.create_callback(self.q.handoff_reason or "transfer failed")
        return self._ask("I couldn't reach the front desk just now, so I've asked them to call you back. "
                         "Is there anything else I can help with?", "transfer_failed", state=State.ANYTHING_ELSE)

    def on_caller(self, text: str, confidence: float = 1.0) -> AgentTurn:
        text = text.strip()
        self.history.append(("caller", text))
        text = rules.without_asides(text)  # "Aoife Keohane. Sorry, it's been a long day."
        if not rules.normalize(text):
            return self._not_understood("unclear")
        if self.state == State.SURVEY and not rules.is_emergency(text):
            return self._survey_answer(survey_score(text))
        if (_lead_in(text) and self.state != State.OPEN or self.state in ACK_STATES and is_bare_ack(text)) \
                and not rules.is_aside(text):
            # "I'd say." or "Sure." and then nothing (the rest of the sentence never came, or came
            # before it): the question again, without a "sorry, I didn't catch that"
            return self._say(AgentTurn(self.question_again(), intent="repeat", expect=self._last_expect))
        r = self.understand(text, confidence)
        if self._said_goodbye and r.intent not in _NEW_REQUEST and not r.slots.get("faq") and not r.slots.get("service"):
            # "Thanks, goodbye." or "Sorry, it's been a long day" over the goodbye: the call ends
            return self._say(AgentTurn("Goodbye.", hangup=True, intent="goodbye"))
        self._said_goodbye = False
        turn = self.respond(r, text, confidence)
        if turn.source == "rule" and r.source == "llm":
            turn.source = "llm"
        return turn

    # -- bookkeeping -----------------------------------------------------------------------

    def _ask(self, text: str, intent: str, *, state: State, expect: str = "open") -> AgentTurn:
        self.state = state
        sentences = re.split(r"(?<=[.?!])(?<!Dr\.)(?<!Mr\.)(?<!Ms\.)(?<!Mrs\.)(?<!St\.)\s+", text.strip())
        questions = [s for s in sentences if s.endswith("?")]
        self.last_question = questions[-1] if questions else sentences[-1]
        if len(sentences) > 1 and self.last_question in ("Is that right?", "Shall I go ahead?") and \
                re.match(r"(I have|To confirm|So that's)\b", sentences[-2]):
            self.last_question = " ".join(sentences[-2:])  # asked again with what it asks about
        return self._say(AgentTurn(text, intent=intent, expect=expect))

    def _say(self, turn: AgentTurn) -> AgentTurn:
        self.history.append(("agent", turn.text))
        self._last_said, self._last_expect = turn.text, turn.expect
        if turn.intent not in _ONLY_AGAIN:
            self._last_full = turn.text
        self._readback_cut = self._news_cut = False
        return turn

    _readback_cut = False
    _news_cut = False  # the caller talked over the last turn before its news was said (set by interrupted)
    _said_goodbye = False  # the agent said goodbye (and the caller talked on)

    _last_said = ""
    _last_full = ""  # the last turn that was not only the question again ("No problem. Which would you prefer?")
    _last_expect = "open"

    def _repeat(self) -> AgentTurn:
        """"Sorry, what was that?": the last thing the agent said, again, and nothing changes. After
        "No problem. Which would you prefer?", the turn with the offers in it."""
        # the whole of it, also when the caller talked over it (the history keeps what they heard)
        return self._say(AgentTurn(self._last_full or self._last_said or self.greeting_text(), intent="repeat",
                                   expect=self._last_expect))

    def question_again(self) -> str:
        """The question the caller is answering, asked again after an aside or "are you there?"; at
        the offers, the choices themselves, not only "which would you prefer?"."""
        if self.state == State.OFFER and len(self.offered) > 1:
            return self._which_one()
        return self.last_question or self.greeting_text()

    def _aside(self, text: str) -> AgentTurn:
        """"Hold on, let me check my calendar": take your time; "Sorry, it's been a long day": no
        problem, and the question again. Nothing changes."""
        if re.search(r"\b(hold|hang|bear|wait|second|sec|moment|minute|let me)\b", rules.normalize(text)):
            return self._say(AgentTurn("Take your time.", intent="aside", expect=self._last_expect))
        if self._news_cut and self._last_full:  # "Your appointment— / Sorry, it's been a long day": all of it again
            return self._say(AgentTurn(f"No problem. {self._last_full}", intent="aside", expect=self._last_expect))
        return self._say(AgentTurn(f"No problem. {self.question_again()}", intent="aside", expect=self._last_expect))

    def summary(self) -> dict:
        self.q.caller_name = self.full_name or self.q.caller_name
        return {"qualification": asdict(self.q), "outcome": self.outcome or "faq_only", "tool_calls": self.tool_calls,
                "misunderstandings": self.misunderstandings, "requests": self.requests,
                "booking": self.booking.as_json() if self.booking else None}


_SCORE_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


def survey_score(text: str) -> int | None:
    """1-5 from an answer to "on a scale of 1 to 5": "five", "4", "a four out of five", "I'd say 3"."""
    t = rules.normalize(text)
    t = re.sub(r"\b(out )?of (5|five)\b", " ", t)
    for word in re.findall(r"[a-z]+|\d+", t):
        if word.isdigit() and 1 <= int(word) <= 5:
            return int(word)
        if word in ("one", "two", "three", "four", "five"):
            return _SCORE_WORDS[word]
    return None


def spell_readback(first: str, last: str, first_spelled: bool) -> str:
    if first_spelled:
        return f"first name {names.spell_out(first)}; last name {names.spell_out(last)}"
    return f"{first}, last name {names.spell_out(last)}" if first else f"last name {names.spell_out(last)}"
