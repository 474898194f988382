"""The calendar tool: availability, holds, bookings and cancellations (callers on file: callers.py;
callback tasks for staff: callbacks.py).

Every write that takes time on a provider's calendar claims granules in one transaction, so
the database itself refuses a double booking, however many calls race for one slot.

One module on purpose (about 430 lines): availability, holds, bookings, moves and cancellations
all claim or release the same granules, and a change to one must be read against the others."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from .callbacks import CallbackTasks
from .callers import CallerRecords, name_match
from .db import utcnow
from .schema import (
    GRANULE_MIN, Appointment, Caller, Claim, Closure, ExternalEvent, Hold, Outbox,
    Provider, ProviderHours, ProviderService, Service,
)

log = logging.getLogger("frontdesk.calendar")
EPOCH = datetime(1970, 1, 1)


class CalendarError(Exception):
    """A calendar tool failure the dialog should hand off on."""


class SlotTaken(CalendarError):
    """Someone else holds or booked (part of) this time."""


class HoldExpired(CalendarError):
    """The hold is gone: it expired or was released."""


@dataclass(frozen=True)
class Slot:
    id: str
    provider_id: int
    provider: str
    service_id: int
    service: str
    start: datetime  # UTC, naive
    end: datetime
    local_start: datetime  # aware, clinic time zone


@dataclass
class CallerInfo:
    name: str
    phone: str
    email: str = ""
    reason: str = ""
    dob: str = ""
    new_patient: bool | None = None
    sms_opt_out: bool = False
    email_opt_out: bool = False
    name_unverified: bool = False  # spelling not confirmed on the call: staff check it


@dataclass
class Booking:
    id: str
    uid: str
    service: str
    provider: str
    start: datetime  # aware, clinic time zone
    end: datetime
    caller_name: str
    phone: str
    email: str
    status: str
    reason: str = ""
    name_unverified: bool = False
    attendance: str = ""  # attended | no_show | late_cancel, marked by staff once it is past

    def as_json(self) -> dict:
        return {"id": self.id, "uid": self.uid, "service": self.service, "provider": self.provider,
                "start": self.start.isoformat(), "end": self.end.isoformat(), "caller_name": self.caller_name,
                "phone": self.phone, "email": self.email, "status": self.status, "reason": self.reason,
                "name_unverified": self.name_unverified, "attendance": self.attendance}


def granules(start: datetime, end: datetime) -> range:
    a = int((start - EPOCH).total_seconds() // 60) // GRANULE_MIN
    b = -(-int((end - EPOCH).total_seconds() // 60) // GRANULE_MIN)
    return range(a, b)


@dataclass
class Calendar(CallerRecords, CallbackTasks):
    engine: Engine
    timezone: str
    step_min: int = 15
    lead_min: int = 60  # no slot sooner than this from now
    clock: callable = field(default=utcnow)
    node: str = ""  # this frontdesk node, on the holds it makes (nodes of a cluster share the database)
    cipher: object | None = None  # tools.crypto.ContentCipher: callers' names, numbers and words sealed at rest

    # -- personal data at rest -------------------------------------------------------------

    def _seal(self, value: str) -> str:
        return self.cipher.seal(value) if self.cipher is not None and value else value

    def _open(self, value: str) -> str:
        return self.cipher.open(value) if self.cipher is not None and value else value

    def _key(self, phone: str) -> str:
        return self.cipher.lookup_key(phone) if self.cipher is not None and phone else phone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- setup ---------------------------------------------------------------------------

    def seed(self, services, providers, closures=()) -> None:
        """Make the database match the configured services and providers (by name)."""
        with Session(self.engine, expire_on_commit=False) as s:
            by_name = {x.name: x for x in s.exec(select(Service)).all()}
            for svc in services:
                row = by_name.get(svc.name) or Service(name=svc.name, duration_min=svc.duration_min)
                row.duration_min = svc.duration_min
                row.buffer_min = getattr(svc, "buffer_min", 0)
                row.aliases = ",".join(getattr(svc, "aliases", []))
                s.add(row)
            s.commit()
            svc_ids = {x.name: x.id for x in s.exec(select(Service)).all()}
            prov_rows = {x.name: x for x in s.exec(select(Provider)).all()}
            for p in providers:
                row = prov_rows.get(p.name) or Provider(name=p.name)
                row.calendar = getattr(p, "calendar", "") or row.calendar
                row.active = True
                s.add(row)
                s.commit()
                s.refresh(row)
                s.exec(delete(ProviderService).where(ProviderService.provider_id == row.id))
                for name in p.services:
                    s.add(ProviderService(provider_id=row.id, service_id=svc_ids[name]))
                s.exec(delete(ProviderHours).where(ProviderHours.provider_id == row.id))
                for day, span in p.hours.items():
                    if span:
                        s.add(ProviderHours(provider_id=row.id, weekday=_weekday(day), start=span[0], end=span[1]))
            configured = {p.name for p in providers}
            for name, row in prov_rows.items():
                if name not in configured:
                    row.active = False
                    s.add(row)
            s.exec(delete(Closure))
            for c in closures:
                s.add(Closure(day=c.day, reason=c.reason, provider_id=None))
            s.commit()

    def services(self) -> list[Service]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.exec(select(Service).order_by(Service.id)).all())

    def providers(self) -> list[Provider]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.exec(select(Provider).where(Provider.active == True).order_by(Provider.id)).all())  # noqa: E712

    def service_by_name(self, name: str) -> Service:
        with Session(self.engine, expire_on_commit=False) as s:
            row = s.exec(select(Service).where(Service.name == name)).first()
        if row is None:
            raise CalendarError(f"unknown service {name!r}")
        return row

    # -- availability --------------------------------------------------------------------

    def find_slots(self, service: str, day_from: date, day_to: date | None = None, *, provider: str | None = None,
                   after_local: time | None = None, before_local: time | None = None,
                   not_before: datetime | None = None) -> list[Slot]:
        """Free slots for a service between two local dates (inclusive), in time order."""
        day_to = day_to or day_from
        svc = self.service_by_name(service)
        tz = self.tz
        now = self.clock()
        earliest = max(now + timedelta(minutes=self.lead_min), not_before or now)
        with Session(self.engine, expire_on_commit=False) as s:
            self._expire_holds(s, now)
            s.commit()
            q = (select(Provider).join(ProviderService, ProviderService.provider_id == Provider.id)
                 .where(ProviderService.service_id == svc.id, Provider.active == True))  # noqa: E712
            if provider:
                q = q.where(Provider.name == provider)
            provs = s.exec(q.order_by(Provider.id)).all()
            hours = s.exec(select(ProviderHours)).all()
            closures = s.exec(select(Closure)).all()
            range_start = datetime.combine(day_from, time(0), tz).astimezone(timezone.utc).replace(tzinfo=None)
            range_end = datetime.combine(day_to + timedelta(days=1), time(0), tz).astimezone(timezone.utc).replace(tzinfo=None)
            g = granules(range_start, range_end)
            claims = s.exec(select(Claim).where(Claim.granule >= g.start, Claim.granule < g.stop)).all()
            externals = s.exec(select(ExternalEvent).where(ExternalEvent.end > range_start,
                                                           ExternalEvent.start < range_end)).all()
        busy: dict[int, set[int]] = {}
        for c in claims:
            busy.setdefault(c.provider_id, set()).add(c.granule)
        out: list[Slot] = []
        length = timedelta(minutes=svc.duration_min)
        blocked = timedelta(minutes=svc.duration_min + svc.buffer_min)
        day = day_from
        while day <= day_to:
            closed_all = any(c.day == day.isoformat() and c.provider_id is None for c in closures)
            for p in provs:
                if closed_all or any(c.day == day.isoformat() and c.provider_id == p.id for c in closures):
                    continue
                for h in hours:
                    if h.provider_id != p.id or h.weekday != day.weekday():
                        continue
                    t = datetime.combine(day, _hhmm(h.start), tz)
                    close = datetime.combine(day, _hhmm(h.end), tz)
                    while t + length <= close:
                        start_utc = _to_utc(t)
                        if start_utc is not None and start_utc >= earliest and _within(t, after_local, before_local):
                            end_utc = start_utc + length
                            if (not any(gr in busy.get(p.id, ()) for gr in granules(start_utc, start_utc + blocked))
                                    and not any(e.provider_id == p.id and e.start < end_utc and e.end > start_utc for e in externals)):
                                out.append(Slot(f"{p.id}-{t:%Y%m%dT%H%M}", p.id, p.name, svc.id, svc.name,
                                                start_utc, end_utc, t))
                        t = _add_wall(t, self.step_min, tz)
            day += timedelta(days=1)
        out.sort(key=lambda x: (x.start, x.provider_id))
        return out

    # -- holds and bookings --------------------------------------------------------------

    def _expire_holds(self, s: Session, now: datetime) -> None:
        expired = s.exec(select(Hold).where(Hold.expires_at <= now)).all()
        for h in expired:
            s.exec(delete(Claim).where(Claim.owner == f"hold:{h.id}"))
            s.delete(h)

    def _claim(self, s: Session, provider_id: int, start: datetime, end: datetime, owner: str) -> None:
        for gr in granules(start, end):
            s.add(Claim(provider_id=provider_id, granule=gr, owner=owner))

    def _buffer(self, s: Session, service_id: int) -> timedelta:
        svc = s.get(Service, service_id)
        return timedelta(minutes=svc.buffer_min if svc else 0)

    def hold(self, slot: Slot, call_id: str, ttl_s: float = 300, node: str | None = None) -> Hold:
        """Hold a slot for this call; raises SlotTaken if any of its time is claimed. ``node``: whose
        restart releases it (default this node; the waitlist's holds outlive a restart)."""
        now = self.clock()
        hold_id = secrets.token_hex(8)
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                self._expire_holds(s, now)
                s.flush()
                s.add(Hold(id=hold_id, provider_id=slot.provider_id, service_id=slot.service_id, start=slot.start,
                           end=slot.end, call_id=call_id, expires_at=now + timedelta(seconds=ttl_s),
                           node=self.node if node is None else node))
                self._claim(s, slot.provider_id, slot.start, slot.end + self._buffer(s, slot.service_id), f"hold:{hold_id}")
                s.commit()
                return s.get(Hold, hold_id)
        except IntegrityError:
            raise SlotTaken(f"slot {slot.id} is no longer free") from None
        except OperationalError as exc:
            raise CalendarError(f"database error: {exc}") from None

    def release_holds(self, call_id: str | None = None, *, node: str | None = None) -> int:
        """Release one call's holds, or (``node=``) every hold a node made: its calls ended with it."""
        with Session(self.engine, expire_on_commit=False) as s:
            q = select(Hold).where(Hold.call_id == call_id) if call_id is not None else select(Hold).where(Hold.node == node)
            holds = s.exec(q).all()
            for h in holds:
                s.exec(delete(Claim).where(Claim.owner == f"hold:{h.id}"))
                s.delete(h)
            s.commit()
            return len(holds)

    def book(self, hold_id: str, caller: CallerInfo, call_id: str = "", replaces: str | None = None) -> Booking:
        """Turn a live hold into an appointment (and cancel ``replaces`` in the same transaction)."""
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as s:
            hold = s.get(Hold, hold_id)
            if hold is None or hold.expires_at <= now:
                raise HoldExpired("the held slot expired or was released")
            appt_id = uuid.uuid4().hex[:12]
            caller_row = self._upsert_caller(s, caller)
            email = caller.email or self._open(caller_row.email)  # a known patient's address on file
            appt = Appointment(
                id=appt_id, uid=f"{uuid.uuid4()}@frontdesk", provider_id=hold.provider_id,
                service_id=hold.service_id, start=hold.start, end=hold.end, caller_id=caller_row.id,
                caller_name=self._seal(caller.name), phone=self._seal(caller.phone), phone_key=self._key(caller.phone),
                email=self._seal(email), reason=self._seal(caller.reason),
                name_unverified=caller.name_unverified, call_id=call_id, created_at=now, updated_at=now)
            s.add(appt)
            claims = s.exec(select(Claim).where(Claim.owner == f"hold:{hold_id}")).all()
            for c in claims:
                c.owner = f"appt:{appt_id}"
                s.add(c)
            s.delete(hold)
            if replaces:
                self._cancel_in(s, replaces, now)
            self._enqueue_sync(s, appt, now)
            s.commit()
            return self._booking(s, appt)

    def book_slot(self, slot: Slot, caller: CallerInfo, call_id: str = "") -> Booking:
        """Hold and book in one step (the tools API; used by staff tools and the race test)."""
        hold = self.hold(slot, call_id or "direct", ttl_s=60)
        return self.book(hold.id, caller, call_id)

    def cancel(self, appointment_id: str) -> Booking:
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as s:
            appt = self._cancel_in(s, appointment_id, now)
            s.commit()
            return self._booking(s, appt)

    def _cancel_in(self, s: Session, appointment_id: str, now: datetime) -> Appointment:
        appt = s.get(Appointment, appointment_id)
        if appt is None or appt.status != "booked":
            raise CalendarError(f"no booked appointment {appointment_id!r}")
        appt.status = "cancelled"
        appt.updated_at = now
        appt.sequence += 1
        s.exec(delete(Claim).where(Claim.owner == f"appt:{appt.id}"))
        s.add(appt)
        self._enqueue_sync(s, appt, now)
        return appt

    def _enqueue_sync(self, s: Session, appt: Appointment, now: datetime) -> None:
        s.add(Outbox(kind="caldav_put" if appt.status == "booked" else "caldav_delete",
                     payload=json.dumps({"appointment_id": appt.id}), created_at=now, next_attempt_at=now))

    def _booking(self, s: Session, appt: Appointment) -> Booking:
        svc = s.get(Service, appt.service_id)
        prov = s.get(Provider, appt.provider_id)
        tz = self.tz
        return Booking(appt.id, appt.uid, svc.name if svc else "?", prov.name if prov else "?",
                       appt.start.replace(tzinfo=timezone.utc).astimezone(tz),
                       appt.end.replace(tzinfo=timezone.utc).astimezone(tz),
                       self._open(appt.caller_name), self._open(appt.phone), self._open(appt.email), appt.status,
                       self._open(appt.reason), appt.name_unverified, appt.attendance)

    def mark_attendance(self, appointment_id: str, attendance: str) -> Booking:
        """Staff say how a past appointment went: attended, no_show or late_cancel ("" clears it)."""
        if attendance not in ATTENDANCE:
            raise ValueError(f"attendance: expected one of {', '.join(a for a in ATTENDANCE if a)}, got {attendance!r}")
        with Session(self.engine, expire_on_commit=False) as s:
            appt = s.get(Appointment, appointment_id)
            if appt is None:
                raise KeyError(appointment_id)
            if appt.start > self.clock():
                raise ValueError("attendance: the appointment has not happened yet")
            appt.attendance = attendance
            s.add(appt)
            s.commit()
            return self._booking(s, appt)

    def get_booking(self, appointment_id: str) -> Booking | None:
        with Session(self.engine, expire_on_commit=False) as s:
            appt = s.get(Appointment, appointment_id)
            return self._booking(s, appt) if appt else None

    def bookings(self, *, phone: str | None = None, name: str | None = None, upcoming_only: bool = False,
                 status: str | None = None, dob: str | None = None) -> list[Booking]:
        with Session(self.engine, expire_on_commit=False) as s:
            q = select(Appointment)
            if dob and self.cipher is None:  # identify the caller by date of birth as well
                q = q.join(Caller, Caller.id == Appointment.caller_id).where(Caller.dob == dob)
            if phone:
                q = q.where(Appointment.phone_key == self._key(phone))
            if status:
                q = q.where(Appointment.status == status)
            if upcoming_only:
                q = q.where(Appointment.start >= self.clock())
            rows = s.exec(q.order_by(Appointment.start)).all()
            if dob and self.cipher is not None:  # sealed: compare after opening
                born = {c.id for c in s.exec(select(Caller).where(Caller.id.in_([a.caller_id for a in rows]))).all()
                        if self._open(c.dob) == dob}
                rows = [a for a in rows if a.caller_id in born]
            out = [self._booking(s, a) for a in rows]
        if name:
            out = [b for b in out if name_match(b.caller_name, name)]
        return out

    def enqueue_confirmation(self, appointment_id: str, channel: str) -> None:
        """Queue a confirmation (or cancellation notice) for the outbox worker."""
        if channel not in ("email", "sms"):
            raise ValueError(f"unknown confirmation channel {channel!r}")
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as s:
            s.add(Outbox(kind=channel, payload=json.dumps({"appointment_id": appointment_id}), created_at=now,
                         next_attempt_at=now))
            s.commit()



ATTENDANCE = ("", "attended", "no_show", "late_cancel")


def _weekday(day: str) -> int:
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index(day)


def _hhmm(text: str) -> time:
    return time(int(text[:2]), int(text[3:5]))


def _to_utc(local: datetime) -> datetime | None:
    """UTC for a local wall time; None when the wall time does not exist (DST gap)."""
    utc = local.astimezone(timezone.utc)
    if utc.astimezone(local.tzinfo).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return utc.replace(tzinfo=None)


def _add_wall(t: datetime, minutes: int, tz: ZoneInfo) -> datetime:
    return (t.replace(tzinfo=None) + timedelta(minutes=minutes)).replace(tzinfo=tz)


def _within(t: datetime, after: time | None, before: time | None) -> bool:
    tt = t.timetz().replace(tzinfo=None)
    return (after is None or tt >= after) and (before is None or tt < before)
