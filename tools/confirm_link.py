"""The confirm link in an email reminder: signed, single use, and good until the appointment starts.

A token names the appointment and the start it was sent for, with an expiry (the start), signed
with HMAC-SHA256 under a key kept in the database (so that every node of a cluster checks the
same links). Opening the link shows the time and a button; only the button (a POST) confirms, so
a mail scanner that fetches every link in a message confirms nothing. A token is refused when it
is forged or altered, expired, for an appointment since moved or cancelled, or already used (the
appointment's ``confirmation`` row exists: the link confirms once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta, timezone

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from .calendar import Booking, Calendar
from .schema import Confirmation, SyncState

EPOCH = datetime(1970, 1, 1)
KEY_NAME = "confirm_link_key"
OK, USED, EXPIRED, MOVED, CANCELLED, INVALID = "ok", "used", "expired", "moved", "cancelled", "invalid"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _utc(t: datetime) -> datetime:
    """Naive UTC, whether ``t`` is naive UTC already or aware."""
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t


class ConfirmLinks:
    def __init__(self, calendar: Calendar):
        self.calendar = calendar
        self._key: bytes | None = None

    def key(self) -> bytes:
        """The signing key: made once, on first use, and shared by every node through the database."""
        if self._key is None:
            with Session(self.calendar.engine) as s:
                row = s.get(SyncState, KEY_NAME)
                if row is None:
                    s.add(SyncState(key=KEY_NAME, value=secrets.token_hex(32)))
                    try:
                        s.commit()
                    except IntegrityError:  # another node made it first
                        s.rollback()
                    row = s.get(SyncState, KEY_NAME)
                self._key = bytes.fromhex(row.value)
        return self._key

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key(), body.encode(), hashlib.sha256).digest()[:18])

    def make(self, appointment_id: str, start: datetime) -> str:
        """The token for the appointment starting at ``start`` (naive UTC); it expires then."""
        body = _b64(json.dumps([appointment_id, int((_utc(start) - EPOCH).total_seconds())], separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}"

    def check(self, token: str) -> tuple[str, Booking | None]:
        """(status, booking): OK when the link may confirm now, else why not."""
        body, _, sig = (token or "").partition(".")
        if not body or not sig or len(token) > 300 or not hmac.compare_digest(sig, self._sign(body)):
            return INVALID, None
        try:
            appointment_id, stamp = json.loads(_unb64(body))
            start = EPOCH + timedelta(seconds=int(stamp))
        except (ValueError, TypeError, OverflowError):
            return INVALID, None
        booking = self.calendar.get_booking(str(appointment_id))
        if booking is None:
            return INVALID, None
        if booking.status != "booked":
            return CANCELLED, booking
        if _utc(booking.start) != start:
            return MOVED, booking
        if start <= self.calendar.clock():
            return EXPIRED, booking
        with Session(self.calendar.engine) as s:
            if s.get(Confirmation, booking.id) is not None:
                return USED, booking
        return OK, booking

    def confirm(self, token: str) -> tuple[str, Booking | None]:
        """Confirm the appointment the link is for, once; returns what ``check`` said."""
        status, booking = self.check(token)
        if status != OK:
            return status, booking
        with Session(self.calendar.engine) as s:
            s.add(Confirmation(appointment_id=booking.id, at=self.calendar.clock(), via="email"))
            try:
                s.commit()
            except IntegrityError:  # confirmed a moment ago (a second click, or a text reply)
                return USED, booking
        return OK, booking
