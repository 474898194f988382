"""Texts from callers, in answer to a confirmation or a reminder: one keyword each.

- STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE: the number is opted out of every
  text and reminder at once (``opt_out``; the notifier checks it before each send), with the
  confirmation text carriers require; START or UNSTOP opts it back in.
- HELP, INFO: the clinic's name and number.
- YES, Y to a waitlist offer (tools.waitlist) that stands: the held slot is booked; NO, N, PASS:
  the slot goes to the next caller waiting.
- C, Y, YES, CONFIRM: the number's next appointment is confirmed (``confirmation``).
- R, RESCHEDULE, CHANGE: a callback task for staff to find a new time.
- anything else: what the keywords are, and the clinic's number.

The reply never names the service or anything about the visit; it gives the time only when the
appointment is confirmed.
"""

from __future__ import annotations

import re

from sqlmodel import Session, select

from .calendar import Calendar
from .schema import Appointment, Confirmation, OptOut

STOP = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke"}
START = {"start", "unstop"}
HELP = {"help", "info"}
CONFIRM = {"c", "y", "yes", "confirm", "confirmed"}
RESCHEDULE = {"r", "reschedule", "change"}
PASS = {"no", "n", "pass"}


def keyword(body: str) -> str:
    """The reply's keyword: its first word, lower case, without punctuation ("Yes!" -> "yes")."""
    words = re.findall(r"[a-z]+", body.lower())
    return words[0] if words else ""


def number_opted_out(calendar: Calendar, phone: str) -> bool:
    with Session(calendar.engine) as s:
        return s.get(OptOut, calendar._key(phone)) is not None


def confirm(calendar: Calendar, appointment_id: str, via: str) -> None:
    """The caller confirmed the appointment: a text's C, a reminder call's 1 or yes, an emailed link."""
    with Session(calendar.engine) as s:
        if s.get(Confirmation, appointment_id) is None:
            s.add(Confirmation(appointment_id=appointment_id, at=calendar.clock(), via=via))
            s.commit()


class Replies:
    def __init__(self, calendar: Calendar, clinic_name: str, clinic_phone: str = "", waitlist=None):
        self.calendar = calendar
        self.waitlist = waitlist  # tools.waitlist.Waitlist, when the clinic keeps one
        self.clinic_name = clinic_name
        self.call = f"call {clinic_phone}" if clinic_phone else "call us"

    def handle(self, phone: str, body: str) -> str:
        """The answer to one text from ``phone``."""
        word = keyword(body)
        if word in STOP:
            self._set_opt_out(phone, word, True)
            if self.waitlist is not None:
                self.waitlist.remove(phone)
            return f"{self.clinic_name}: you are unsubscribed and will get no more messages. Reply START to resubscribe."
        if word in START:
            self._set_opt_out(phone, word, False)
            return f"{self.clinic_name}: you are subscribed to appointment messages again. Reply STOP to unsubscribe."
        if word in HELP:
            return f"{self.clinic_name} appointment messages. For help, {self.call}. Reply STOP to unsubscribe."
        if self.waitlist is not None and word in CONFIRM | PASS and self.waitlist.has_offer(phone):
            return self._waitlist_answer(phone, word in CONFIRM)
        if word in CONFIRM:
            appt = self._next_appointment(phone)
            if appt is None and self.waitlist is not None and self.waitlist.waiting(phone):
                return f"{self.clinic_name}: sorry, that time is no longer held for you. You stay on the waitlist."
            if appt is None:
                return f"{self.clinic_name}: we found no upcoming appointment for this number. Please {self.call}."
            confirm(self.calendar, appt.id, "sms")
            when = self.calendar.get_booking(appt.id).start.strftime("%A, %B %-d at %-I:%M %p").replace(":00 ", " ")
            return f"{self.clinic_name}: thank you, your appointment on {when} is confirmed."
        if word in RESCHEDULE:
            appt = self._next_appointment(phone)
            name, number = self.calendar.appointment_contact(appt) if appt else ("", phone)
            self.calendar.add_callback("sms", "asked by text to reschedule", name, number,
                                       {"appointment_id": appt.id if appt else None})
            return f"{self.clinic_name}: we will call you to find a new time."
        return f"{self.clinic_name}: reply C to confirm your appointment, R to change it, or {self.call}."

    def _waitlist_answer(self, phone: str, yes: bool) -> str:
        if not yes:
            self.waitlist.decline(phone)
            return f"{self.clinic_name}: okay, we have passed that time on. You stay on the waitlist."
        booking = self.waitlist.accept(phone)
        if booking is None:
            return f"{self.clinic_name}: sorry, that time is no longer held for you. You stay on the waitlist."
        when = booking.start.strftime("%A, %B %-d at %-I:%M %p").replace(":00 ", " ")
        return f"{self.clinic_name}: you are booked for {when}. To change it, {self.call}."

    def _next_appointment(self, phone: str) -> Appointment | None:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            return s.exec(select(Appointment).where(Appointment.phone_key == self.calendar._key(phone),
                                                    Appointment.status == "booked",
                                                    Appointment.start > self.calendar.clock())
                          .order_by(Appointment.start)).first()

    def _set_opt_out(self, phone: str, word: str, out: bool) -> None:
        key = self.calendar._key(phone)
        with Session(self.calendar.engine) as s:
            row = s.get(OptOut, key)
            if out and row is None:
                s.add(OptOut(phone_key=key, since=self.calendar.clock(), keyword=word))
            elif not out and row is not None:
                s.delete(row)
            s.commit()
