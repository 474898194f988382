"""Confirmations: email over SMTP with an .ics invitation, and texts through a gateway.

The default SMS gateway writes each text to a log file (no carrier is contacted); a clinic
plugs in its provider by implementing :class:`SmsGateway`. Opt-outs are honoured.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, Protocol

from sqlmodel import Session

from .calendar import Booking, Calendar
from .confirm_link import ConfirmLinks
from .ics import appointment_event, to_ics
from .replies import number_opted_out


@dataclass
class SmtpSettings:
    host: str = ""
    port: int = 25
    sender: str = ""
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout_s: float = 10.0


class SmsGateway(Protocol):
    def send(self, to: str, text: str) -> None: ...


class LogSmsGateway:
    """Writes texts to a JSON-lines file instead of sending them (each line sealed when encryption
    at rest is on: it holds the caller's number)."""

    def __init__(self, path: Path, cipher=None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cipher = cipher

    def send(self, to: str, text: str) -> None:
        line = json.dumps({"at": time.time(), "to": to, "text": text})
        with open(self.path, "a") as f:
            f.write((self.cipher.seal(line) if self.cipher is not None else line) + "\n")


def _when(b: Booking) -> str:
    return b.start.strftime("%A, %B %-d at %-I:%M %p").replace(":00 ", " ")


class QuietHours(RuntimeError):
    """A reminder reached the outbox's turn in quiet hours: it is retried later."""


class Notifier:
    def __init__(self, calendar: Calendar, clinic_name: str, address: str, smtp: SmtpSettings, sms: SmsGateway,
                 quiet: Callable[[], bool] = lambda: False, clinic_phone: str = "", replies: bool = False,
                 confirm_url: str = ""):
        self.calendar = calendar
        self.clinic_name = clinic_name
        self.address = address
        self.smtp = smtp
        self.sms = sms
        self.quiet = quiet  # whether it is now quiet hours in the clinic's time zone (reminders wait)
        self.clinic_phone = clinic_phone
        self.replies = replies  # texts back are read (tools.replies, the Twilio messaging webhook)
        self.confirm_url = confirm_url  # the dashboard's public address: email reminders carry a confirm link

    def _opted_out(self, b: Booking, channel: str) -> bool:
        if channel == "call":  # calls need the caller's consent (tools.reminder_calls); a STOP ends them too
            return number_opted_out(self.calendar, b.phone)
        if channel == "sms" and number_opted_out(self.calendar, b.phone):  # texted STOP (tools.replies)
            return True
        return self.calendar.caller_opted_out(b.phone, b.caller_name, channel)

    def handle_email(self, payload: dict) -> None:
        b = self.calendar.get_booking(payload["appointment_id"])
        if b is None or not b.email or self._opted_out(b, "email"):
            return
        if not self.smtp.host:
            raise RuntimeError("no SMTP server configured ([confirmations].smtp_host)")
        cancelled = b.status == "cancelled"
        msg = EmailMessage()
        msg["From"] = self.smtp.sender or f"frontdesk@{self.smtp.host}"
        msg["To"] = b.email
        msg["Subject"] = (f"Cancelled: your {b.service} at {self.clinic_name}" if cancelled
                          else f"Confirmed: your {b.service} at {self.clinic_name}, {_when(b)}")
        body = (f"Hello {b.caller_name},\n\nYour {b.service} with {b.provider} on {_when(b)} "
                + ("has been cancelled.\n" if cancelled else f"is confirmed.\n\n{self.clinic_name}\n{self.address}\n")
                + "\nTo change it, call us back.\n")
        msg.set_content(body)
        self._attach_ics(msg, b, cancelled)
        self._send_email(msg)

    def _attach_ics(self, msg: EmailMessage, b: Booking, cancelled: bool = False) -> None:
        """The appointment as an iTIP invitation (.ics), the same event (UID and SEQUENCE) in the
        confirmation and in each reminder, so a calendar client updates it instead of adding one."""
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            from .schema import Appointment
            seq = s.get(Appointment, b.id).sequence
        event = appointment_event(uid=b.uid, start=b.start, end=b.end, summary=f"{b.service} at {self.clinic_name}",
                                  description=f"With {b.provider}", location=self.address, sequence=seq,
                                  status="CANCELLED" if cancelled else "CONFIRMED",
                                  organizer=msg["From"], attendee=b.email)
        method = "CANCEL" if cancelled else "REQUEST"
        msg.add_attachment(to_ics(event, method=method), maintype="text", subtype="calendar",
                           filename="appointment.ics", params={"method": method})

    def _send_email(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_s) as smtp:
            if self.smtp.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.smtp.username:
                smtp.login(self.smtp.username, self.smtp.password)
            smtp.send_message(msg)

    def handle_sms(self, payload: dict) -> None:
        b = self.calendar.get_booking(payload["appointment_id"])
        if b is None or not b.phone or self._opted_out(b, "sms"):
            return
        if b.status == "cancelled":
            text = f"{self.clinic_name}: your {b.service} on {_when(b)} is cancelled."
        else:
            text = f"{self.clinic_name}: your {b.service} with {b.provider} is confirmed for {_when(b)}. Reply STOP to opt out."
        self.sms.send(b.phone, text)


    # -- reminders (tools.reminders queues them) ----------------------------------------------

    def reminded(self, payload: dict, channel: str) -> Booking | None:
        """The booking a queued reminder is for, if it should still go out: booked, at the time the
        reminder was for (not moved since), and the caller has not opted out."""
        b = self.calendar.get_booking(payload["appointment_id"])
        if b is None or b.status != "booked" or self._opted_out(b, channel) or number_opted_out(self.calendar, b.phone):
            return None  # a STOP texted from the number stops its reminders by every channel
        start = b.start.astimezone(timezone.utc).replace(tzinfo=None)
        if start != datetime.fromisoformat(payload["start"]) or start <= self.calendar.clock():
            return None  # moved (its new time has its own reminder), or already begun
        if self.quiet():
            raise QuietHours("quiet hours: the reminder goes out when they end")
        return b

    def _reminder_words(self, b: Booking) -> str:
        call = f" To change it, call {self.clinic_phone}." if self.clinic_phone else " To change it, call us."
        return f"{self.clinic_name}: a reminder of your appointment on {_when(b)}.{call}"

    def handle_reminder_sms(self, payload: dict) -> None:
        b = self.reminded(payload, "sms")
        if b is not None and b.phone:
            ask = " Reply C to confirm, R to change it, STOP to opt out." if self.replies else " Reply STOP to opt out."
            self.sms.send(b.phone, self._reminder_words(b) + ask)

    def handle_reminder_email(self, payload: dict) -> None:
        b = self.reminded(payload, "email")
        if b is None or not b.email:
            return
        if not self.smtp.host:
            raise RuntimeError("no SMTP server configured ([confirmations].smtp_host)")
        msg = EmailMessage()
        msg["From"] = self.smtp.sender or f"frontdesk@{self.smtp.host}"
        msg["To"] = b.email
        msg["Subject"] = f"Reminder: your appointment at {self.clinic_name}, {_when(b)}"
        link = ""
        if self.confirm_url:
            token = ConfirmLinks(self.calendar).make(b.id, b.start)
            link = f"\n\nTo confirm that you will come, open this link:\n{self.confirm_url}/confirm/{token}"
        msg.set_content(f"Hello {b.caller_name},\n\n{self._reminder_words(b)}{link}\n\n{self.clinic_name}\n{self.address}\n")
        self._attach_ics(msg, b)
        self._send_email(msg)
