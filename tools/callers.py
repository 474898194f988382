"""Callers on file: the patients the clinic knows by number (a returning caller is greeted by the
name on file), and what they opted out of. Part of the calendar tool (a mixin of
``tools.calendar.Calendar``: it shares its database and the sealing of callers' details)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import Session, select

from .schema import Appointment, Caller

if TYPE_CHECKING:
    from .calendar import CallerInfo


class CallerRecords:
    def add_caller(self, info: CallerInfo) -> None:
        """Register (or update) a known patient, e.g. with the email address on file."""
        with Session(self.engine, expire_on_commit=False) as s:
            self._upsert_caller(s, info)
            s.commit()

    def known_caller(self, phone: str) -> str | None:
        """The name on file for a number that has booked here before (a confirmed spelling), so
        that a returning caller is greeted by name instead of asked to spell it again."""
        if not phone:
            return None
        with Session(self.engine) as s:
            rows = s.exec(select(Appointment).where(Appointment.phone_key == self._key(phone),
                                                    Appointment.name_unverified == False)  # noqa: E712
                          .order_by(Appointment.created_at.desc())).all()
            names = list(dict.fromkeys(self._open(a.caller_name) for a in rows if a.caller_name))
        return names[0] if len(names) == 1 else None

    def names_on_file(self, phone: str) -> list[str]:
        """Every name this number is on file under with a spelling somebody checked: bookings whose
        name was spelled or confirmed, and patients the clinic registered (not names the agent stored
        as heard and flagged unverified)."""
        if not phone:
            return []
        key = self._key(phone)
        with Session(self.engine) as s:
            appts = s.exec(select(Appointment).where(Appointment.phone_key == key)).all()
            callers = s.exec(select(Caller).where(Caller.phone_key == key)).all()
            unsure = {self._open(a.caller_name) for a in appts if a.name_unverified}
            names = [self._open(a.caller_name) for a in appts if not a.name_unverified]
            names += [self._open(c.name) for c in callers]
        return [n for n in dict.fromkeys(names) if n and n not in unsure]

    def _upsert_caller(self, s: Session, info: CallerInfo) -> Caller:
        same_number = s.exec(select(Caller).where(Caller.phone_key == self._key(info.phone))).all()
        row = next((c for c in same_number if self._open(c.name) == info.name), None)
        if row is None:  # same number, a name heard slightly differently: match on any shared word
            row = next((c for c in same_number if name_match(self._open(c.name), info.name)), None)
        if row is None:
            row = Caller(name=self._seal(info.name), phone=self._seal(info.phone), phone_key=self._key(info.phone))
        row.email = self._seal(info.email) if info.email else row.email
        row.dob = self._seal(info.dob) if info.dob else row.dob
        if info.new_patient is not None:
            row.new_patient = info.new_patient
        row.sms_opt_out = info.sms_opt_out or row.sms_opt_out
        row.email_opt_out = info.email_opt_out or row.email_opt_out
        s.add(row)
        s.flush()
        return row

    def caller_opted_out(self, phone: str, name: str, channel: str) -> bool:
        """Whether the caller on file (number and name) said no to texts or emails."""
        with Session(self.engine) as s:
            rows = s.exec(select(Caller).where(Caller.phone_key == self._key(phone))).all()
        row = next((c for c in rows if self._open(c.name) == name), None)
        if row is None:
            return False
        return row.sms_opt_out if channel == "sms" else row.email_opt_out

    def appointment_contact(self, appt: Appointment) -> tuple[str, str]:
        """(name, number) of a stored appointment row, readable."""
        return self._open(appt.caller_name), self._open(appt.phone)


def name_match(stored: str, heard: str) -> bool:
    """Whether two names share a word (a name heard slightly differently on the same number)."""
    a = set(stored.lower().split())
    b = set(heard.lower().split())
    return bool(a & b)
