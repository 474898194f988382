"""The waitlist: a caller who found no time that suits is texted when one frees up.

A caller joins for a service and a range of days (and, if they said one, a time of day) from the
booking call. The slots free at that moment are remembered as seen: the caller heard about them
already. ``Waitlist.run_once`` (the back office runs it every minute, on the node holding the
lease) looks, first come first served, for a slot in each waiting caller's range that was not
free when they joined: a cancellation, or time staff freed in CalDAV. It holds that slot for
``hold_minutes`` and queues one text through the outbox, in the same transaction. A "YES" to the
text books the held slot (``accept``); "NO" lets it go (``decline``); when the hold runs out the
slot goes to the next caller waiting, and the first stays on the list for other times.

Rules a clinic would expect: one offer out per caller at a time; a slot is held for one caller
at a time (the hold claims it like a call's hold does, so no call can book it meanwhile, and it
outlives a restart); no offer is texted in quiet hours or to a number that texted STOP (that
entry is removed); an entry whose last day has passed expires; the text gives the clinic's name
and the time only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Callable

from sqlmodel import Session, select

from .calendar import Booking, Calendar, CallerInfo, HoldExpired, SlotTaken
from .replies import number_opted_out
from .schema import Hold, Outbox, Provider, Service, WaitlistEntry

log = logging.getLogger("frontdesk.waitlist")
HOLD_NODE = "waitlist"  # the node name on the waitlist's holds: no node's restart releases them


@dataclass
class Offer:
    entry_id: int
    phone: str
    start: datetime  # aware, clinic time zone


def _when(t: datetime) -> str:
    return t.strftime("%A, %B %-d at %-I:%M %p").replace(":00 ", " ")


class Waitlist:
    def __init__(self, calendar: Calendar, hold_minutes: int = 30, clinic_name: str = "",
                 quiet: Callable[[], bool] = lambda: False, sms=None):
        self.calendar = calendar
        self.sms = sms  # tools.notify.SmsGateway: where the offers are texted
        self.hold_minutes = hold_minutes
        self.clinic_name = clinic_name
        self.quiet = quiet  # whether it is quiet hours now (no offer is texted)

    # -- joining (from the booking call) ---------------------------------------------------

    def add(self, service: str, day_from: date, day_to: date, name: str, phone: str, *, call_id: str = "",
            provider: str | None = None, after: time | None = None, before: time | None = None) -> WaitlistEntry:
        cal = self.calendar
        svc = cal.service_by_name(service)
        free = cal.find_slots(service, day_from, day_to, provider=provider, after_local=after, before_local=before)
        with Session(cal.engine, expire_on_commit=False) as s:
            prov = s.exec(select(Provider).where(Provider.name == provider)).first() if provider else None
            entry = WaitlistEntry(created_at=cal.clock(), call_id=call_id, service_id=svc.id,
                                  provider_id=prov.id if prov else None, day_from=day_from.isoformat(),
                                  day_to=day_to.isoformat(), after=after.strftime("%H:%M") if after else "",
                                  before=before.strftime("%H:%M") if before else "", caller_name=cal._seal(name),
                                  phone=cal._seal(phone), phone_key=cal._key(phone),
                                  seen=json.dumps([sl.id for sl in free]))
            s.add(entry)
            s.commit()
            return entry

    def entries(self, status: str | None = None) -> list[WaitlistEntry]:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            q = select(WaitlistEntry).order_by(WaitlistEntry.id)
            return list(s.exec(q.where(WaitlistEntry.status == status) if status else q).all())

    def listing(self) -> list[dict]:
        """The callers waiting or offered a slot, first come first, readable (for the dashboard)."""
        cal = self.calendar
        with Session(cal.engine) as s:
            services = {v.id: v.name for v in s.exec(select(Service)).all()}
            providers = {p.id: p.name for p in s.exec(select(Provider)).all()}
        return [{"id": e.id, "joined": e.created_at, "service": services.get(e.service_id, "?"),
                 "provider": providers.get(e.provider_id, "") if e.provider_id else "", "days": (e.day_from, e.day_to),
                 "times": (e.after, e.before), "name": cal._open(e.caller_name), "phone": cal._open(e.phone),
                 "status": e.status, "offer_expires_at": e.offer_expires_at}
                for e in self.entries() if e.status in ("waiting", "offered")]

    def remove_entry(self, entry_id: int) -> bool:
        """Staff take a caller off the list (found a time on the phone, say); a held slot is let go."""
        with Session(self.calendar.engine) as s:
            row = s.get(WaitlistEntry, entry_id)
            if row is None or row.status not in ("waiting", "offered"):
                return False
        self.calendar.release_holds(f"waitlist:{entry_id}")
        self._set(entry_id, status="removed", hold_id="")
        return True

    # -- offering (the back office) ----------------------------------------------------------

    def run_once(self) -> int:
        """Expire what is past, take back offers not answered in time, and offer freed slots to
        the callers waiting (first come first served); returns how many offers were queued."""
        cal = self.calendar
        now = cal.clock()
        today = now.replace(tzinfo=timezone.utc).astimezone(cal.tz).date()
        for e in self.entries("offered"):
            if e.offer_expires_at is not None and e.offer_expires_at <= now:
                self._let_go(e.id, "the offer was not answered in time")
        offered = 0
        if self.quiet():
            return 0
        for e in self.entries("waiting"):
            if date.fromisoformat(e.day_to) < today:
                self._set(e.id, status="expired")
                continue
            phone = cal._open(e.phone)
            if number_opted_out(cal, phone):
                self._set(e.id, status="removed")
                continue
            if self._offer_to(e, max(date.fromisoformat(e.day_from), today)):
                offered += 1
        if offered:
            log.info("waitlist: %d offer(s) texted", offered)
        return offered

    def _offer_to(self, e: WaitlistEntry, day_from: date) -> bool:
        cal = self.calendar
        with Session(cal.engine) as s:
            svc = s.get(Service, e.service_id)
            prov = s.get(Provider, e.provider_id) if e.provider_id else None
        seen = set(json.loads(e.seen))
        slots = cal.find_slots(svc.name, day_from, date.fromisoformat(e.day_to), provider=prov.name if prov else None,
                               after_local=time.fromisoformat(e.after) if e.after else None,
                               before_local=time.fromisoformat(e.before) if e.before else None)
        for slot in slots:
            if slot.id in seen:
                continue
            try:
                hold = cal.hold(slot, f"waitlist:{e.id}", ttl_s=self.hold_minutes * 60, node=HOLD_NODE)
            except SlotTaken:
                continue
            with Session(cal.engine) as s:
                row = s.get(WaitlistEntry, e.id)
                if row.status != "waiting":  # removed meanwhile (a STOP): give the slot back
                    cal.release_holds(f"waitlist:{e.id}")
                    return False
                row.status, row.hold_id, row.offer_expires_at = "offered", hold.id, hold.expires_at
                row.seen = json.dumps(sorted(seen | {slot.id}))
                s.add(row)
                s.add(Outbox(kind="waitlist_offer", payload=json.dumps({"entry_id": e.id, "hold_id": hold.id}),
                             created_at=cal.clock(), next_attempt_at=cal.clock()))
                s.commit()
            return True
        return False

    def offer_text(self, payload: dict) -> Offer | None:
        """The offer a queued text is for, if it still stands (the outbox sends it)."""
        cal = self.calendar
        with Session(cal.engine, expire_on_commit=False) as s:
            e = s.get(WaitlistEntry, payload["entry_id"])
            hold = s.get(Hold, payload["hold_id"])
        if e is None or e.status != "offered" or e.hold_id != payload["hold_id"] or hold is None:
            return None
        phone = cal._open(e.phone)
        if number_opted_out(cal, phone):
            return None
        return Offer(e.id, phone, hold.start.replace(tzinfo=timezone.utc).astimezone(cal.tz))

    def handle_offer(self, payload: dict) -> None:
        """The outbox's handler for "waitlist_offer": text the offer, if it still stands (not let go,
        taken back or opted out of since it was queued)."""
        offer = self.offer_text(payload)
        if offer is not None:
            self.sms.send(offer.phone, self.offer_words(offer))

    def offer_words(self, offer: Offer) -> str:
        return (f"{self.clinic_name}: an appointment has opened up on {_when(offer.start)}. Reply YES within "
                f"{self.hold_minutes} minutes to book it, or NO to pass. Reply STOP to opt out.")

    # -- answers (tools.replies) ---------------------------------------------------------------

    def _open_offer(self, phone: str) -> WaitlistEntry | None:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            return s.exec(select(WaitlistEntry).where(WaitlistEntry.phone_key == self.calendar._key(phone),
                                                      WaitlistEntry.status == "offered")
                          .order_by(WaitlistEntry.id)).first()

    def has_offer(self, phone: str) -> bool:
        return self._open_offer(phone) is not None

    def waiting(self, phone: str) -> bool:
        """Whether the number is on the list with no offer out (a late "YES" to one that lapsed)."""
        with Session(self.calendar.engine) as s:
            return s.exec(select(WaitlistEntry).where(WaitlistEntry.phone_key == self.calendar._key(phone),
                                                      WaitlistEntry.status == "waiting")).first() is not None

    def accept(self, phone: str) -> Booking | None:
        """A "YES": book the held slot (None when no offer stands, or its hold ran out)."""
        e = self._open_offer(phone)
        if e is None:
            return None
        cal = self.calendar
        try:
            booking = cal.book(e.hold_id, CallerInfo(cal._open(e.caller_name), phone), f"waitlist:{e.id}")
        except HoldExpired:
            self._let_go(e.id, "the hold ran out before the yes")
            return None
        self._set(e.id, status="booked", hold_id="", appointment_id=booking.id)
        return booking

    def decline(self, phone: str) -> bool:
        """A "NO": the slot goes to the next caller; this one stays on the list for other times."""
        e = self._open_offer(phone)
        if e is None:
            return False
        self._let_go(e.id, "declined by text")
        return True

    def remove(self, phone: str) -> int:
        """A STOP: off the list, and any slot held for them is let go."""
        n = 0
        for e in self.entries():
            if e.phone_key == self.calendar._key(phone) and e.status in ("waiting", "offered"):
                self.calendar.release_holds(f"waitlist:{e.id}")
                self._set(e.id, status="removed", hold_id="")
                n += 1
        return n

    def _let_go(self, entry_id: int, why: str) -> None:
        self.calendar.release_holds(f"waitlist:{entry_id}")
        self._set(entry_id, status="waiting", hold_id="", offer_expires_at=None)
        log.info("waitlist entry %s: offer let go (%s)", entry_id, why)

    def _set(self, entry_id: int, **fields) -> None:
        with Session(self.calendar.engine) as s:
            row = s.get(WaitlistEntry, entry_id)
            for k, v in fields.items():
                setattr(row, k, v)
            s.add(row)
            s.commit()
