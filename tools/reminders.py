"""Appointment reminders: queued into the outbox at the times the clinic sets, exactly once.

``Reminders.run_once`` (the back office runs it every minute, on the node holding the back-office
lease) finds each booked appointment whose reminder is due (``before_hours`` before its start) and
queues it, per channel, into the outbox, in the same transaction as a ``reminder_sent`` row whose
unique key (appointment, offset, start) makes it exactly once: across restarts, across cluster
nodes, and however often it runs. An appointment moved to another time is reminded of its new
time; a cancelled one is not reminded, and one cancelled or moved after its reminder was queued
is skipped when the outbox sends it (the notifier checks the start again).

Rules a clinic would expect:
- nothing is queued inside quiet hours (clinic time zone; default 21:00-08:00): a reminder due at
  night goes out when they end, if the appointment has not started by then;
- a reminder whose moment came before the appointment was booked (or last changed) is not sent:
  a booking made 30 hours ahead gets its 2-hour reminder, not a "48 hours" one right after its
  confirmation;
- when two reminders are due at once (the server was down), only the one nearest the
  appointment goes out; the other is recorded as skipped;
- texts say only the clinic's name and the appointment's time: no service, no provider, nothing
  about the caller's health;
- with ``calls`` on, a number whose caller said yes to reminder calls also gets a call
  (tools.reminder_calls).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from .calendar import Calendar
from .schema import Appointment, CallConsent, Outbox, ReminderSent

log = logging.getLogger("frontdesk.reminders")
CHANNELS = ("sms", "email")


@dataclass
class ReminderSettings:
    before_hours: list[float] = field(default_factory=list)  # empty: no reminders
    channels: list[str] = field(default_factory=lambda: ["sms", "email"])
    quiet_start: time = time(21, 0)  # no reminder is queued from here ...
    quiet_end: time = time(8, 0)  # ... until here, in the clinic's time zone
    calls: bool = False  # a reminder call too, to numbers whose caller consented (tools.reminder_calls)


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a local time falls in [start, end), which may wrap midnight (21:00-08:00)."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


class Reminders:
    def __init__(self, calendar: Calendar, settings: ReminderSettings, timezone: str):
        self.calendar = calendar
        self.settings = settings
        self.tz = ZoneInfo(timezone)
        self.offsets = sorted({round(h * 60) for h in settings.before_hours if h > 0})  # minutes, nearest first

    def quiet_now(self) -> bool:
        """Whether it is quiet hours now in the clinic's time zone."""
        local = self.calendar.clock().replace(tzinfo=ZoneInfo("UTC")).astimezone(self.tz).time()
        return in_quiet_hours(local, self.settings.quiet_start, self.settings.quiet_end)

    def run_once(self, now: datetime | None = None) -> int:
        """Queue what is due now (``now``: naive UTC); returns how many reminders were queued."""
        if not self.offsets or not (self.settings.channels or self.settings.calls):
            return 0
        now = now or self.calendar.clock()
        local = now.replace(tzinfo=ZoneInfo("UTC")).astimezone(self.tz).time()
        if in_quiet_hours(local, self.settings.quiet_start, self.settings.quiet_end):
            return 0
        queued = 0
        horizon = now + timedelta(minutes=max(self.offsets))
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            appts = s.exec(select(Appointment).where(Appointment.status == "booked", Appointment.start > now,
                                                     Appointment.start <= horizon)).all()
            done = {(r.appointment_id, r.before_min, r.start) for r in s.exec(
                select(ReminderSent).where(ReminderSent.appointment_id.in_([a.id for a in appts]))).all()} if appts else set()
        for appt in appts:
            # the reminders whose moment has come, and came after the appointment was booked
            due = [m for m in self.offsets if appt.updated_at <= appt.start - timedelta(minutes=m) <= now]
            due = [m for m in due if (appt.id, m, appt.start) not in done]
            if not due:
                continue
            nearest, older = due[0], due[1:]
            if self._queue(appt, nearest, older, now):
                queued += 1
        if queued:
            log.info("reminders: %d queued", queued)
        return queued

    def _queue(self, appt: Appointment, before_min: int, skipped: list[int], now: datetime) -> bool:
        payload = {"appointment_id": appt.id, "before_min": before_min, "start": appt.start.isoformat()}
        with Session(self.calendar.engine) as s:
            s.add(ReminderSent(appointment_id=appt.id, before_min=before_min, start=appt.start, queued_at=now))
            for m in skipped:
                s.add(ReminderSent(appointment_id=appt.id, before_min=m, start=appt.start, queued_at=now, skipped=True))
            for channel in self.settings.channels:
                s.add(Outbox(kind=f"reminder_{channel}", payload=json.dumps(payload), created_at=now, next_attempt_at=now))
            if self.settings.calls and appt.phone_key and s.get(CallConsent, appt.phone_key) is not None:
                s.add(Outbox(kind="reminder_call", payload=json.dumps({**payload, "attempt": 1}), created_at=now,
                             next_attempt_at=now))
            try:
                s.commit()
            except IntegrityError:  # another node (or an earlier run) queued it first
                s.rollback()
                return False
        return True
