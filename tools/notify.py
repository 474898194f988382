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
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from sqlmodel import Session

from .calendar import Booking, Calendar
from .ics import appointment_event, to_ics


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


class Notifier:
    def __init__(self, calendar: Calendar, clinic_name: str, address: str, smtp: SmtpSettings, sms: SmsGateway):
        self.calendar = calendar
        self.clinic_name = clinic_name
        self.address = address
        self.smtp = smtp
        self.sms = sms

    def _opted_out(self, b: Booking, channel: str) -> bool:
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
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            from .schema import Appointment
            seq = s.get(Appointment, b.id).sequence
        event = appointment_event(uid=b.uid, start=b.start, end=b.end, summary=f"{b.service} at {self.clinic_name}",
                                  description=f"With {b.provider}", location=self.address, sequence=seq,
                                  status="CANCELLED" if cancelled else "CONFIRMED",
                                  organizer=msg["From"], attendee=b.email)
        ics = to_ics(event, method="CANCEL" if cancelled else "REQUEST")
        msg.add_attachment(ics, maintype="text", subtype="calendar", filename="appointment.ics",
                           params={"method": "CANCEL" if cancelled else "REQUEST"})
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
