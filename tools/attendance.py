"""Measures of what happens around the visits: complaints, and no-show rates. Of the past appointments staff have marked (attended, no_show, late_cancel),
the share that were no-shows, for the ones the agent booked (a call id) and the rest, and by
whether the caller confirmed a reminder by text (tools.replies)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from .schema import Appointment, CallbackTask, Confirmation


def no_show_rates(engine, since: datetime | None = None) -> dict:
    """{"agent": {...}, "staff": {...}, "reminder_confirmed": {...}, "not_confirmed": {...}}, each
    {"marked", "no_show", "late_cancel", "rate"} (rate: no-shows over marked; None with none)."""
    with Session(engine) as s:
        q = select(Appointment).where(Appointment.attendance != "")
        if since is not None:
            q = q.where(Appointment.start >= since)
        appts = s.exec(q).all()
        confirmed = set(s.exec(select(Confirmation.appointment_id)).all())
    groups: dict[str, dict] = {k: {"marked": 0, "no_show": 0, "late_cancel": 0}
                               for k in ("agent", "staff", "reminder_confirmed", "not_confirmed")}
    for a in appts:
        for key in ("agent" if a.call_id else "staff", "reminder_confirmed" if a.id in confirmed else "not_confirmed"):
            g = groups[key]
            g["marked"] += 1
            if a.attendance in ("no_show", "late_cancel"):
                g[a.attendance] += 1
    for g in groups.values():
        g["rate"] = round(g["no_show"] / g["marked"], 4) if g["marked"] else None
    return groups


def complaint_count(engine, since: datetime | None = None) -> int:
    """Callback tasks opened because a caller complained (dialog.rules.is_complaint)."""
    with Session(engine) as s:
        q = select(CallbackTask).where(CallbackTask.reason == "complaint")
        if since is not None:
            q = q.where(CallbackTask.created_at >= since)
        return len(s.exec(q).all())
