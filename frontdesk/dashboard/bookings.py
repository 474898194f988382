"""The day's bookings by provider; staff mark past ones attended, no-show or cancelled late. With
[waitlist] enabled, the callers waiting for a time are listed below, and staff can remove one."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tools.waitlist import Waitlist

from .common import Dash, Me, form_fields


def waitlist_of(d: Dash) -> Waitlist | None:
    return Waitlist(d.calendar) if d.calendar is not None and d.cfg.waitlist.enabled else None


def routes(d: Dash) -> APIRouter:
    r = APIRouter()

    @r.get("/bookings")
    def bookings(request: Request, me: Me = Depends(d.me_dep)):
        today = datetime.now(d.tz()).date()
        error = ""
        try:
            day = date.fromisoformat(request.query_params.get("day") or today.isoformat())
        except ValueError:
            day, error = today, "Expected a date (YYYY-MM-DD); showing today."
        providers = [p.name for p in d.calendar.providers()] if d.calendar is not None else []
        only = request.query_params.get("provider", "")
        only = only if only in providers else ""
        by_provider: dict[str, list] = {p: [] for p in providers if not only or p == only}
        if d.calendar is not None:
            for b in d.calendar.bookings():
                if b.start.astimezone(d.tz()).date() == day and (not only or b.provider == only):
                    by_provider.setdefault(b.provider, []).append(b)
        for rows in by_provider.values():
            rows.sort(key=lambda b: b.start)
        waitlist = waitlist_of(d)
        return d.render(request, "bookings.html", me, day=day, today=today, prev=day - timedelta(days=1),
                        next=day + timedelta(days=1), providers=providers, only=only, by_provider=by_provider,
                        error=error, calendar=d.calendar is not None, tzname=d.cfg.clinic.timezone,
                        now=datetime.now(d.tz()), saved=request.query_params.get("saved", ""),
                        waitlist=waitlist.listing() if waitlist is not None else None)

    @r.post("/waitlist/{entry_id}/remove")
    def waitlist_remove(entry_id: int, request: Request, form: dict = Depends(form_fields)):
        me = d.need_post(request, form)
        waitlist = waitlist_of(d)
        if waitlist is None or not waitlist.remove_entry(entry_id):
            raise StarletteHTTPException(404, "No such caller waiting.")
        d.store.audit(me.username, "waitlist_remove", detail=f"waitlist entry {entry_id}")
        return RedirectResponse("/bookings", status_code=303)

    @r.post("/bookings/{appointment_id}/attendance")
    def attendance(appointment_id: str, request: Request, form: dict = Depends(form_fields)):
        me = d.need_post(request, form)
        if d.calendar is None:
            raise StarletteHTTPException(404, "No calendar is configured.")
        try:
            b = d.calendar.mark_attendance(appointment_id, form.get("attendance", ""))
        except KeyError:
            raise StarletteHTTPException(404, "No such appointment.")
        except ValueError as exc:
            raise StarletteHTTPException(400, str(exc))
        d.store.audit(me.username, "attendance", detail=f"appointment {appointment_id}: {b.attendance or 'cleared'}")
        day = b.start.astimezone(d.tz()).date().isoformat()
        return RedirectResponse(f"/bookings?day={day}&saved={appointment_id}", status_code=303)

    return r
