"""Two-way CalDAV sync, one calendar per provider.

Push (through the outbox, so nothing is lost while the server is down): every appointment made
here is PUT at ``<calendar>/<uid>.ics`` with its stable UID; a cancellation deletes it.

Pull: events in a provider's calendar that frontdesk did not create are busy time here (an
``external_event`` row); when staff delete or move them, the time is freed or moved.

Conflict rule: frontdesk's database is the source of truth for appointments it booked. If staff
delete one of those events in CalDAV, the appointment is cancelled here; if they move it, it is
moved here when the new time is free, and otherwise it is re-published at its booked time and a
callback task tells staff about the conflict.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timezone

from sqlalchemy import delete
from sqlmodel import Session, select

from .calendar import Calendar, granules
from .ics import appointment_event, parse_events, to_ics
from .schema import Appointment, Claim, ExternalEvent, Outbox, Provider, Service, SyncState

log = logging.getLogger("frontdesk.caldav")


@dataclass
class CalDavSettings:
    url: str = ""  # base collection URL, e.g. http://127.0.0.1:5232/clinic/
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0


def slug(name: str) -> str:
    return "".join(c.lower() if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


# a category staff put on one of our past appointments in their calendar app: how it went
ATTENDANCE_CATEGORIES = {"attended": "attended", "arrived": "attended", "seen": "attended", "no-show": "no_show",
                         "no show": "no_show", "noshow": "no_show", "dna": "no_show", "late cancel": "late_cancel",
                         "late-cancel": "late_cancel", "late cancellation": "late_cancel"}


class CalDavSync:
    def __init__(self, calendar: Calendar, settings: CalDavSettings, clinic_name: str = "", address: str = ""):
        self.calendar = calendar
        self.settings = settings
        self.clinic_name = clinic_name
        self.address = address
        self._client = None
        self._known: set[str] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.url)

    def client(self):
        import caldav

        if self._client is None:
            self._client = caldav.DAVClient(url=self.settings.url, username=self.settings.username or None,
                                            password=self.settings.password or None, timeout=self.settings.timeout_s)
        return self._client

    def calendar_url(self, provider: Provider) -> str:
        base = self.settings.url.rstrip("/") + "/"
        return base + (provider.calendar or slug(provider.name)).strip("/") + "/"

    def ensure_calendar(self, provider: Provider):
        url = self.calendar_url(provider)
        client = self.client()
        cal = client.calendar(url=url)
        if url not in self._known:
            resp = client.mkcalendar(url)  # 201 when created; 405/409 when it already exists
            if resp.status >= 500 or resp.status in (401, 403):
                raise RuntimeError(f"CalDAV MKCALENDAR {url} answered {resp.status}")
            self._known.add(url)
        return cal

    # -- push (outbox handlers) --------------------------------------------------------

    def _appointment(self, appointment_id: str):
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            appt = s.get(Appointment, appointment_id)
            if appt is None:
                return None, None, None
            return appt, s.get(Provider, appt.provider_id), s.get(Service, appt.service_id)

    def push(self, payload: dict) -> None:
        appt, prov, svc = self._appointment(payload["appointment_id"])
        if appt is None:
            return
        url = self.calendar_url(prov) + f"{appt.uid.split('@')[0]}.ics"
        self.ensure_calendar(prov)
        if appt.status != "booked":
            resp = self.client().delete(url)
            if resp.status not in (200, 204, 404):
                raise RuntimeError(f"CalDAV DELETE {url} answered {resp.status}")
            return
        tz = self.calendar.tz
        name, phone = self.calendar.appointment_contact(appt)
        ev = appointment_event(
            uid=appt.uid, start=appt.start.replace(tzinfo=timezone.utc).astimezone(tz),
            end=appt.end.replace(tzinfo=timezone.utc).astimezone(tz),
            summary=f"{svc.name}: {name}" + (" (name unverified)" if appt.name_unverified else ""),
            description=f"Phone {phone}. Booked by phone (frontdesk)." + (
                " The caller's name could not be confirmed on the call: check its spelling when you call."
                if appt.name_unverified else ""),
            location=self.address, sequence=appt.sequence)
        resp = self.client().put(url, to_ics(ev), {"Content-Type": "text/calendar; charset=utf-8"})
        if resp.status not in (200, 201, 204):
            raise RuntimeError(f"CalDAV PUT {url} answered {resp.status}")

    # -- pull ----------------------------------------------------------------------------

    def pull(self) -> dict:
        """Read what changed in every provider calendar (RFC 6578 sync-token; a full listing the
        first time or when the server has no token) and apply it here."""
        stats = {"external": 0, "freed": 0, "cancelled": 0, "moved": 0, "conflicts": 0}
        for prov in self.calendar.providers():
            cal = self.ensure_calendar(prov)
            key = f"caldav-sync:{self.calendar_url(prov)}"
            token = self._state(key)
            try:
                coll = cal.get_objects_by_sync_token(sync_token=token or None, load_objects=True)
            except Exception as exc:  # an expired or unknown token: start over with a full listing
                log.info("CalDAV sync token for %s refused (%s); listing everything", prov.name, exc)
                token = ""
                coll = cal.get_objects_by_sync_token(sync_token=None, load_objects=True)
            deleted = {str(u) for u in (coll.deleted_urls or ())}
            seen: set[str] = set()
            for obj in coll.objects:
                href = str(obj.url.canonical())
                if href in deleted or not obj.data:
                    continue
                try:
                    events = parse_events(obj.data)
                except Exception as exc:
                    log.warning("skipping unreadable CalDAV object %s: %s", href, exc)
                    continue
                for ev in events:
                    if ev["status"].upper() == "CANCELLED" and not self._past_ours(ev["uid"]):
                        self._remote_deleted(prov, href, stats)  # cancelled is gone (a past one of ours: late)
                        continue
                    seen.add(ev["uid"])
                    self._apply_remote(prov, href, ev, stats)
            for href in deleted:
                self._remote_deleted(prov, href, stats)
            if not token:  # a full listing: whatever is not there any more was deleted
                self._apply_deletions(prov, seen, stats)
            self._set_state(key, str(coll.sync_token or ""))
        return stats

    def _state(self, key: str) -> str:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            row = s.get(SyncState, key)
            return row.value if row else ""

    def _set_state(self, key: str, value: str) -> None:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            row = s.get(SyncState, key) or SyncState(key=key)
            row.value = value
            s.add(row)
            s.commit()

    def _past_ours(self, uid: str) -> bool:
        """Whether ``uid`` is one of our booked appointments whose time has come."""
        with Session(self.calendar.engine) as s:
            appt = s.exec(select(Appointment).where(Appointment.uid == uid)).first()
            return appt is not None and appt.status == "booked" and appt.start <= self.calendar.clock()

    def _remote_deleted(self, prov: Provider, href: str, stats: dict) -> None:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            row = s.get(ExternalEvent, href)
            if row is not None:
                s.delete(row)
                s.commit()
                stats["freed"] += 1
                return
            name = href.rstrip("/").rsplit("/", 1)[-1].removesuffix(".ics")
            appt = next((a for a in s.exec(select(Appointment).where(Appointment.provider_id == prov.id,
                                                                     Appointment.status == "booked")).all()
                         if a.uid.split("@")[0] == name), None)
        if appt is not None and self._was_published(appt.id):
            self.calendar.cancel(appt.id)
            stats["cancelled"] += 1

    def _apply_remote(self, prov: Provider, href: str, ev: dict, stats: dict) -> None:
        start = ev["start"].replace(tzinfo=None)
        end = ev["end"].replace(tzinfo=None)
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            appt = s.exec(select(Appointment).where(Appointment.uid == ev["uid"])).first()
            if appt is None:  # staff's own event: busy time here
                row = s.get(ExternalEvent, href) or ExternalEvent(href=href, uid=ev["uid"], provider_id=prov.id,
                                                                 start=start, end=end)
                row.start, row.end, row.summary = start, end, ev["summary"][:200]
                s.add(row)
                s.commit()
                stats["external"] += 1
                return
            if appt.status == "booked" and appt.start <= self.calendar.clock():
                # staff marked how one of our past appointments went, with a category in their calendar
                # (or set its STATUS to CANCELLED: cancelled once it was too late to fill the time)
                marked = next((ATTENDANCE_CATEGORIES[c] for c in ev.get("categories", []) if c in ATTENDANCE_CATEGORIES),
                              "late_cancel" if ev["status"].upper() == "CANCELLED" else "")
                if marked and marked != appt.attendance:
                    appt.attendance = marked
                    s.add(appt)
                    s.commit()
                    stats["attendance"] = stats.get("attendance", 0) + 1
                return
            if appt.status != "booked" or (appt.start == start and appt.end == end):
                return
            # staff moved one of our appointments
            s.exec(delete(Claim).where(Claim.owner == f"appt:{appt.id}"))
            try:
                for gr in granules(start, end):
                    s.add(Claim(provider_id=appt.provider_id, granule=gr, owner=f"appt:{appt.id}"))
                appt.start, appt.end = start, end
                appt.sequence += 1
                s.add(appt)
                s.commit()
                stats["moved"] += 1
            except Exception:
                s.rollback()
                stats["conflicts"] += 1
                s.add(Outbox(kind="caldav_put", payload=json.dumps({"appointment_id": appt.id}),
                             created_at=self.calendar.clock(), next_attempt_at=self.calendar.clock()))
                s.commit()
                self.calendar.add_callback("caldav", f"calendar conflict: {ev['summary']} was moved in CalDAV onto booked time; "
                                           "kept at its booked time", *self.calendar.appointment_contact(appt))

    def _apply_deletions(self, prov: Provider, seen: set[str], stats: dict) -> None:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            gone = s.exec(select(ExternalEvent).where(ExternalEvent.provider_id == prov.id)).all()
            for row in gone:
                if row.uid not in seen:
                    s.delete(row)
                    stats["freed"] += 1
            pending_push = {json.loads(o.payload)["appointment_id"] for o in
                            s.exec(select(Outbox).where(Outbox.done_at == None, Outbox.kind.in_(["caldav_put", "caldav_delete"]))).all()}  # noqa: E711
            booked = s.exec(select(Appointment).where(Appointment.provider_id == prov.id, Appointment.status == "booked")).all()
            s.commit()
        for appt in booked:
            # only an appointment that was already published and then disappeared was deleted by staff
            if appt.uid not in seen and appt.id not in pending_push and self._was_published(appt.id):
                self.calendar.cancel(appt.id)
                stats["cancelled"] += 1

    def _was_published(self, appointment_id: str) -> bool:
        with Session(self.calendar.engine, expire_on_commit=False) as s:
            rows = s.exec(select(Outbox).where(Outbox.kind == "caldav_put", Outbox.done_at != None)).all()  # noqa: E711
        return any(json.loads(r.payload).get("appointment_id") == appointment_id for r in rows)
