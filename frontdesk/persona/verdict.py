"""After a simulated call: what the clinic's database now holds for this caller, against its facts.

The caller decided everything during the call from what it heard; only this verdict, after the
call, reads the server's database (by the call's SIP Call-ID), the way a clinic would check.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from .brain import Progress, day_fits
from .spec import Persona


def name_key(name: str) -> str:
    """Names compared letter for letter, ignoring case, accents, spaces, hyphens and apostrophes."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", folded.lower())


def _similar(a: str, b: str) -> float:
    from difflib import SequenceMatcher
    return SequenceMatcher(None, name_key(a), name_key(b)).ratio()


def _field(expected, got, ok: bool) -> dict:
    return {"expected": expected, "got": got, "ok": bool(ok)}


def judge(persona: Persona, progress: Progress, *, engine, call_id: str, tz: str, today: date,
          existing_id: str | None = None, transfer: str | None = None, required: tuple[str, ...] = ("name", "phone"),
          unverified_ok: float = 0.6, opener=lambda value: value) -> dict:
    """The persona's verdict: goal reached, and every field compared with the facts."""
    from sqlmodel import Session, select

    from tools.schema import Appointment, CallbackTask, Provider, Service

    f = persona.facts
    zone = ZoneInfo(tz)
    out: dict = {"goal": persona.goal, "goal_reached": False, "fields": {}, "notes": []}
    with Session(engine) as s:
        appts = s.exec(select(Appointment).where(Appointment.call_id == call_id)).all()
        booked = [a for a in appts if a.status == "booked"]
        tasks = s.exec(select(CallbackTask).where(CallbackTask.call_id == call_id)).all()
        names = {p.id: p.name for p in s.exec(select(Provider)).all()}
        services = {x.id: x.name for x in s.exec(select(Service)).all()}
        old = s.get(Appointment, existing_id) if existing_id else None
        old_status = old.status if old is not None else None
        flagged = {a.id: bool(getattr(a, "name_unverified", False)) for a in booked}
        for a in booked:  # sealed at rest when the clinic encrypts (privacy.encrypt): opened to compare
            s.expunge(a)
            a.caller_name, a.phone, a.email = (opener(v) for v in (a.caller_name, a.phone, a.email))
    out["callbacks"] = [{"reason": t.reason, "urgency": t.urgency} for t in tasks]
    out["bookings"] = [{"service": services.get(a.service_id), "provider": names.get(a.provider_id),
                        "start": a.start.replace(tzinfo=timezone.utc).astimezone(zone).isoformat(),
                        "name": a.caller_name, "phone": a.phone, "email": a.email} for a in booked]
    g = persona.goal
    if g in ("book", "reschedule"):
        if len(booked) > 1:
            out["notes"].append(f"{len(booked)} appointments booked on one call")
        if g == "reschedule" and old_status != "cancelled":
            out["notes"].append("the old appointment was not moved")
        if not booked:
            out["notes"].append("nothing was booked")
            return _finish(out, persona)
        a = booked[-1]
        start = a.start.replace(tzinfo=timezone.utc).astimezone(zone)
        at = start.time().replace(tzinfo=None)
        fields = out["fields"]
        want_service = f.service if g == "book" else (f.existing.service if f.existing else f.service)
        fields["service"] = _field(want_service, services.get(a.service_id), services.get(a.service_id) == want_service)
        if f.provider:
            fields["provider"] = _field(f.provider, names.get(a.provider_id), names.get(a.provider_id) == f.provider)
        fields["day"] = _field(f.when.days if isinstance(f.when.days, str) else list(f.when.days), start.date().isoformat(),
                               day_fits(start.date(), f.when.days, today))
        fields["time"] = _field({"after": f.when.after and f.when.after.isoformat("minutes"),
                                 "before": f.when.before and f.when.before.isoformat("minutes")},
                                at.isoformat("minutes"),
                                (f.when.after is None or at >= f.when.after) and (f.when.before is None or at < f.when.before))
        if g == "book":
            exact = name_key(a.caller_name) == name_key(f.full_name)
            caught = flagged.get(a.id, False) and _similar(a.caller_name, f.full_name) >= unverified_ok
            fields["name"] = _field(f.full_name, a.caller_name + (" (unverified)" if flagged.get(a.id) else ""), exact or caught)
            fields["phone"] = _field(persona.callback_number, a.phone, a.phone == persona.callback_number)
            if a.email or ("email" in required and f.email):
                fields["email"] = _field(f.email, a.email, a.email.lower() == f.email.lower())
        out["goal_reached"] = g == "book" or old_status == "cancelled"
    elif g == "cancel":
        out["fields"]["cancelled"] = _field("cancelled", old_status, old_status == "cancelled")
        out["goal_reached"] = old_status == "cancelled" and not booked
        if booked:
            out["notes"].append("a new appointment was booked on a cancel call")
    elif g == "question":
        unanswered = [q.ask for q in f.questions if q.ask not in progress.answered]
        out["fields"]["answers"] = _field(len(f.questions), len(f.questions) - len(unanswered), not unanswered)
        out["goal_reached"] = not booked and (not unanswered or (f.then == "accept_callback" and bool(tasks)
                                                                and len(unanswered) <= 1))
        if unanswered:
            out["notes"].append("not answered: " + "; ".join(unanswered))
    elif g == "person":
        out["goal_reached"] = bool(transfer) or bool(tasks)
    elif g == "emergency":
        urgent = any(t.urgency == "urgent" for t in tasks)
        out["fields"]["told_to_call_emergency"] = _field(True, progress.emergency_heard, progress.emergency_heard)
        out["fields"]["urgent_callback_or_transfer"] = _field(True, urgent or bool(transfer), urgent or bool(transfer))
        out["goal_reached"] = progress.emergency_heard and (urgent or bool(transfer))
    if g != "book" and g != "reschedule" and f.questions:
        unanswered = [q.ask for q in f.questions if q.ask not in progress.answered]
        if unanswered and g != "question":
            out["notes"].append("not answered: " + "; ".join(unanswered))
    return _finish(out, persona)


def _finish(out: dict, persona: Persona) -> dict:
    fields = out["fields"]
    out["all_fields_right"] = bool(out["goal_reached"]) and all(v["ok"] for v in fields.values())
    out["name_right"] = fields["name"]["ok"] if "name" in fields else None
    return out


def seed_existing(persona: Persona, calendar, now: datetime | None = None) -> str | None:
    """For a cancel or reschedule persona: book the appointment it already has (the first opening
    at its time, `in_days` days or more ahead), as the clinic's records would hold it."""
    from tools.calendar import CallerInfo

    e = persona.facts.existing
    if e is None:
        return None
    today = (now or datetime.now(timezone.utc)).astimezone(calendar.tz).date()
    for offset in range(e.in_days, e.in_days + 21):
        day = today + timedelta(days=offset)
        slots = [s for s in calendar.find_slots(e.service, day, day, provider=e.provider)
                 if s.local_start.time().replace(tzinfo=None) == e.time]
        if slots:
            booking = calendar.book_slot(slots[0], CallerInfo(persona.facts.full_name, persona.callback_number or ""),
                                         f"seed-{persona.id}")
            return booking.id
    raise RuntimeError(f"{persona.id}: no opening for its existing {e.service} at {e.time} within three weeks")


def server_record(engine, sip_call_id: str) -> dict:
    """The server's record of the call (its own call id, turn sources and latencies), found by
    the SIP Call-ID the caller used, read after the call."""
    from tools.crypto import ContentCipher, load_key
    from tools.records import RecordStore

    try:
        store = RecordStore(engine, ContentCipher(load_key()))
        rows = store.by_external_id(sip_call_id)
        if not rows:
            return {}
        content = store.content(rows[-1])
        return content or {"call_id": rows[-1].call_id, "ended_at": rows[-1].ended_at}
    except Exception as exc:  # the verdict still stands without it
        return {"error": str(exc)}


def summarise_record(record: dict) -> dict:
    lat = record.get("latency") or []
    return {"outcome": record.get("outcome"), "misunderstandings": record.get("misunderstandings"),
            "turn_sources": [t.get("source") for t in lat], "server_turn_ms": [t.get("total_ms") for t in lat],
            "end_reason": record.get("end_reason")}


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, default=str)
