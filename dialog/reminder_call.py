"""A reminder call we placed: listen first, say who is calling and why, then 1, 2 or 3.

``ReminderCall`` wraps the booking ``Conversation`` of the call and stands in for it until the
person answering chooses; everything it does not answer itself goes to the conversation.

- It listens first (``listen_s``): a person says "Hello?", an answering machine plays its greeting.
  A greeting ("you've reached...", "leave a message", "after the tone") gets the voicemail message
  after it ends: the clinic's name and number only, nothing about the appointment, and the call ends.
- Then the AI disclosure and the reminder, with the appointment's time and nothing else (no service,
  no provider: whoever answered may not be the patient): press 1 or say yes to confirm, 2 to change
  it, 3 to cancel it.
- 1 (or "yes", "I'll be there") confirms it (``confirm``). 2 ("can I move it?") hands the call to the
  booking conversation in reschedule mode, the appointment already found. 3 ("cancel it") asks the
  conversation's cancel question ("Shall I cancel ...?"), which cancels on a yes.
- Silence after the question gets it once more, then a goodbye with the clinic's number.

``result`` says how the call went, for tools.reminder_calls.
"""

from __future__ import annotations

import re
from typing import Callable

from . import parse, rules
from .prompts import AgentTurn
from .states import State
from .steps import _when
from .yesno import yes_no

LISTEN_S = 3.0  # how long we wait for the callee's first words before speaking
_VOICEMAIL = re.compile(
    r"\b(leave (me |us )?(a |your )?(message|name|number)|after the (tone|beep)|at the (tone|beep)|voice ?mail|"
    r"mail ?box|not available|unavailable|can'?t (come to|take|get to|answer) the phone|(you'?ve|you have) reached|"
    r"record your message|please leave)\b", re.I)
_CANCEL = re.compile(r"\bcancel", re.I)
_CHANGE = re.compile(r"\b(change|reschedule|re-schedule|move|moving|different (day|time)|another (day|time)|"
                     r"can'?t (make|come|do) (it|that)|won'?t (make|be able))\b", re.I)
_CONFIRM = re.compile(r"\b(confirm|confirmed|i'?ll be there|i will be there|see you then|that works|works for me|"
                      r"sounds good|i'?ll come|i will come)\b", re.I)
_WRONG = re.compile(r"\b(wrong number|no one (by|with) that name|nobody (by|with) that name|doesn'?t live here)\b", re.I)
_REPEAT = re.compile(r"\b(repeat|say (that|it) again|again\?|pardon|come again|what was that)\b", re.I)


class ReminderCall:
    def __init__(self, conversation, booking, *, clinic_phone: str = "", confirm: Callable[[], None] = lambda: None):
        self.inner = conversation  # dialog.conversation.Conversation
        self.booking = booking  # tools.calendar.Booking
        self.clinic_phone = clinic_phone
        self.confirm = confirm
        self.stage = "listening"  # listening | asked | done | handed
        self.outcome = ""  # confirmed | change | cancel | voicemail | no response | wrong number | ...
        self.unclear = 0
        self.silences = 0

    def __getattr__(self, name):  # what the reminder does not answer, the conversation does
        return getattr(self.inner, name)

    # -- what the session asks ------------------------------------------------------------

    @property
    def listen_s(self) -> float | None:
        """While listening for the first words: how long to wait before speaking anyway."""
        return LISTEN_S if self.stage == "listening" else None

    def greeting(self) -> AgentTurn | None:
        return None  # listen first: "Hello?", or an answering machine's greeting

    def greeting_first(self, text: str) -> bool:
        return False if self.stage in ("listening", "asked") else self.inner.greeting_first(text)

    def is_aside(self, text: str) -> bool:
        return self.stage == "handed" and self.inner.is_aside(text)

    def snapshot(self) -> dict:
        return {"inner": self.inner.snapshot(), "stage": self.stage, "outcome": self.outcome,
                "unclear": self.unclear, "silences": self.silences}

    def restore(self, snap: dict) -> None:
        self.inner.restore(snap["inner"])
        self.stage, self.outcome, self.unclear, self.silences = (snap["stage"], snap["outcome"], snap["unclear"],
                                                                 snap["silences"])

    def on_silence(self) -> AgentTurn:
        if self.stage == "handed":
            return self.inner.on_silence()
        if self.stage == "listening":  # nobody said anything: the reminder anyway
            self.stage = "asked"
            return self._say(self._reminder("Hello."))
        self.silences += 1
        if self.silences == 1:
            return self._say(AgentTurn(f"Are you still there? {self._options()}", intent="reminder_again",
                                       expect="yes_no"))
        self.outcome = self.outcome or "no response"
        return self._bye("I'll let you go.")

    def on_caller(self, text: str, confidence: float = 1.0) -> AgentTurn:
        if self.stage == "handed":
            return self.inner.on_caller(text, confidence)
        self.inner.history.append(("caller", text))
        if self.stage == "done":
            return self._say(AgentTurn("Goodbye.", hangup=True, intent="goodbye"))
        if _VOICEMAIL.search(text):
            return self._voicemail()
        if self.stage == "listening":  # "Hello?", "Jane speaking."
            self.stage = "asked"
            return self._say(self._reminder("Hello!"))
        if rules.is_emergency(text):
            self.stage = "handed"
            self.inner.history.pop()
            return self.inner.on_caller(text, confidence)
        if _WRONG.search(text):
            self.outcome = "wrong number"
            return self._bye("I'm sorry to have bothered you.")
        if _CANCEL.search(text):
            return self._cancel()
        if _CHANGE.search(text):
            return self._change()
        answer = yes_no(text)
        if answer == "yes" or _CONFIRM.search(text):
            return self._confirmed()
        if answer == "no":
            return self._say(AgentTurn("Would you like to change it, or cancel it? Press 2 to change it, or 3 to "
                                       "cancel it.", intent="change_or_cancel", expect="open"))
        return self._unclear(repeat=bool(_REPEAT.search(text)))

    def on_dtmf(self, digits: str) -> AgentTurn | None:
        if self.stage == "handed":
            return self.inner.on_dtmf(digits)
        if self.stage == "done":
            return None
        self.stage = "asked"  # a key pressed while we listened: the callee is a person
        key = digits[:1]
        if key == "1":
            return self._confirmed()
        if key == "2":
            return self._change()
        if key == "3":
            return self._cancel()
        return self._unclear()

    def summary(self) -> dict:
        """The call's record: its outcome is "reminder_" and how it went, so that the report counts
        reminder calls apart from the callers' own calls."""
        out = self.inner.summary()
        out["outcome"] = "reminder_" + self.result().replace(" ", "_")
        return out

    def result(self) -> str:
        """How the reminder call went: confirmed, rescheduled, cancelled, kept, voicemail, ..."""
        if self.stage == "handed":
            outcome = self.inner.outcome
            if outcome in ("rescheduled", "cancelled"):
                return outcome
            if self.outcome == "cancel":
                return "kept"  # asked to cancel, then said no
            return f"{self.outcome} asked" if self.outcome else (outcome or "handed over")
        return self.outcome or ("hung up" if self.stage == "asked" else "no words")

    # -- the turns ------------------------------------------------------------------------

    def _say(self, turn: AgentTurn) -> AgentTurn:
        self.inner.history.append(("agent", turn.text))
        return turn

    def _options(self) -> str:
        return "To confirm, press 1 or say yes. To change it, press 2. To cancel it, press 3."

    def _reminder(self, hello: str) -> AgentTurn:
        return AgentTurn(f"{hello} This is the automated assistant of {self.inner.clinic.name}, an AI, calling to "
                         f"remind you of your appointment on {_when(self.booking)}. {self._options()}",
                         intent="reminder", expect="yes_no")

    def _call_us(self) -> str:
        return f"please call us at {parse.speak_phone(self.clinic_phone)}" if self.clinic_phone else "please call us"

    def _bye(self, lead: str) -> AgentTurn:
        self.stage = "done"
        return self._say(AgentTurn(f"{lead} If you need anything, {self._call_us()}. Goodbye.", hangup=True,
                                   intent="goodbye"))

    def _voicemail(self) -> AgentTurn:
        """An answering machine: the clinic's name and number, nothing else, once its greeting ended."""
        self.stage, self.outcome = "done", "voicemail"
        return self._say(AgentTurn(f"Hello, this is {self.inner.clinic.name}, with a message for you. When you can, "
                                   f"{self._call_us()}. Thank you. Goodbye.", hangup=True, intent="voicemail"))

    def _confirmed(self) -> AgentTurn:
        self.confirm()
        self.outcome = "confirmed"
        self.stage = "done"
        return self._say(AgentTurn(f"Thank you, your appointment on {_when(self.booking)} is confirmed. We look "
                                   "forward to seeing you. Goodbye.", hangup=True, intent="reminder_confirmed"))

    def _unclear(self, repeat: bool = False) -> AgentTurn:
        self.unclear += 0 if repeat else 1
        if self.unclear >= 3:
            self.outcome = self.outcome or "not understood"
            return self._bye("I'm sorry, I'm having trouble understanding.")
        lead = "Of course." if repeat else "Sorry, I didn't catch that."
        return self._say(AgentTurn(f"{lead} Your appointment is on {_when(self.booking)}. {self._options()}",
                                   intent="reminder_again", expect="yes_no"))

    def _handover(self, outcome: str) -> None:
        """The conversation takes over, the appointment already found and the caller known."""
        c, b = self.inner, self.booking
        self.stage, self.outcome = "handed", outcome
        c._start("reschedule" if outcome == "change" else "cancel")
        c.target_booking = b
        c.q.phone_number = b.phone
        c.phone_source = "caller_id"
        parts = b.caller_name.split()
        c.first_name, c.last_name = (parts[0], " ".join(parts[1:])) if parts else ("", "")
        c.name_verified = c.name_spelled = True  # the name on file
        c._tool("find_bookings", {"appointment_id": b.id}, 1)

    def _change(self) -> AgentTurn:
        self._handover("change")
        c, b = self.inner, self.booking
        c.provider = b.provider  # a moved appointment stays with the same provider unless asked
        c.q.appointment_type = b.service
        return c._ask("Sure. What day and time would suit you better?", "when", state=State.WHEN)

    def _cancel(self) -> AgentTurn:
        self._handover("cancel")
        return self.inner._ask(f"Shall I cancel your appointment on {_when(self.booking)}? Please say yes or no.",
                               "cancel_read_back", state=State.CANCEL_CONFIRM, expect="yes_no")
