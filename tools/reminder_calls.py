"""Reminder calls: placed only to callers who said yes to them, tried a set number of times.

The booking call asks for consent when ``reminders.calls`` is on (dialog.steps); ``give_consent``
stores the yes with its time and the call's id. ``Reminders`` (tools.reminders) queues a
``reminder_call`` outbox item beside the texts and emails, for appointments whose number has
consent. ``ReminderCalls.handle`` (the outbox's handler, on the back-office node) checks again that
the call should go out (booked, not moved, not begun, no STOP from the number, consent still on file,
not in quiet hours), records the attempt and hands it to ``dial``: the SIP ingress places the call
and reports how it went with ``finished``. Unanswered or busy, and the appointment still ahead, the
call is queued again ``retry_minutes`` later, up to ``attempts`` calls in all. A voicemail greeting
gets a short message with the clinic's name and number only, and no more attempts: the message was
left.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Callable

from sqlmodel import Session, select

from .calendar import Booking, Calendar
from .notify import QuietHours
from .schema import CallConsent, Outbox, ReminderCall

log = logging.getLogger("frontdesk.reminder_calls")
RETRY_RESULTS = ("no answer", "busy", "unreachable", "failed")  # worth another attempt


def give_consent(calendar: Calendar, phone: str, call_id: str) -> None:
    """The caller said yes to reminder calls on ``call_id``: kept with the time (the latest yes wins)."""
    key = calendar._key(phone)
    with Session(calendar.engine) as s:
        row = s.get(CallConsent, key)
        if row is None:
            s.add(CallConsent(phone_key=key, given_at=calendar.clock(), call_id=call_id))
        else:
            row.given_at, row.call_id = calendar.clock(), call_id
            s.add(row)
        s.commit()


def has_consent(calendar: Calendar, phone: str) -> bool:
    with Session(calendar.engine) as s:
        return bool(phone) and s.get(CallConsent, calendar._key(phone)) is not None


@dataclass
class CallRequest:
    """One reminder call for the SIP ingress to place."""
    attempt_id: int
    appointment_id: str
    number: str
    attempt: int


class ReminderCalls:
    def __init__(self, calendar: Calendar, reminded: Callable[[dict, str], Booking | None], *, attempts: int = 2,
                 retry_minutes: int = 60):
        self.calendar = calendar
        self.reminded = reminded  # Notifier.reminded: the booking if a reminder should still go out
        self.attempts = attempts
        self.retry_minutes = retry_minutes
        self.dial: Callable[[CallRequest], None] | None = None  # set by the app once the SIP ingress runs

    def handle(self, payload: dict) -> None:
        """The outbox's handler for ``reminder_call``: the call is handed to ``dial``, or skipped."""
        b = self.reminded(payload, "call")  # raises QuietHours: retried when they end
        if b is None or not b.phone:
            return
        if not has_consent(self.calendar, b.phone):
            log.info("reminder call for %s not placed: no consent on file", b.id)
            return
        if self.dial is None:
            raise QuietHours("no SIP ingress on this node yet to place the call")  # retried shortly
        attempt = int(payload.get("attempt", 1))
        with Session(self.calendar.engine) as s:
            row = ReminderCall(appointment_id=b.id, attempt=attempt, placed_at=self.calendar.clock())
            s.add(row)
            s.commit()
            s.refresh(row)
            attempt_id = row.id
        log.info("reminder call for appointment %s: attempt %d of %d", b.id, attempt, self.attempts)
        self.dial(CallRequest(attempt_id, b.id, b.phone, attempt))

    def booking(self, appointment_id: str) -> Booking | None:
        return self.calendar.get_booking(appointment_id)

    def started(self, attempt_id: int, call_id: str) -> None:
        self._update(attempt_id, call_id=call_id)

    def finished(self, attempt_id: int, result: str) -> None:
        """How the call went; an unanswered one is queued again while attempts and time remain."""
        row = self._update(attempt_id, result=result, ended_at=self.calendar.clock())
        if row is None:
            return
        log.info("reminder call for appointment %s (attempt %d): %s", row.appointment_id, row.attempt, result)
        if result not in RETRY_RESULTS or row.attempt >= self.attempts:
            return
        b = self.calendar.get_booking(row.appointment_id)
        now = self.calendar.clock()
        at = now + timedelta(minutes=self.retry_minutes)
        start = b.start.astimezone(timezone.utc).replace(tzinfo=None) if b is not None else now
        if b is None or b.status != "booked" or start <= at:
            return  # cancelled, or too late for another try
        with Session(self.calendar.engine) as s:
            s.add(Outbox(kind="reminder_call", created_at=now, next_attempt_at=at,
                         payload=json.dumps({"appointment_id": b.id, "start": start.isoformat(),
                                             "attempt": row.attempt + 1})))
            s.commit()

    def _update(self, attempt_id: int, **values) -> ReminderCall | None:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            row = s.get(ReminderCall, attempt_id)
            if row is None:
                return None
            for k, v in values.items():
                setattr(row, k, v)
            s.add(row)
            s.commit()
            return row

    def calls(self, appointment_id: str | None = None) -> list[ReminderCall]:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            q = select(ReminderCall)
            if appointment_id:
                q = q.where(ReminderCall.appointment_id == appointment_id)
            return list(s.exec(q.order_by(ReminderCall.id)).all())
