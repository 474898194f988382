"""The day's bookings by provider."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from fastapi import APIRouter, Depends, Request

from .common import Dash, Me


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
        return d.render(request, "bookings.html", me, day=day, today=today, prev=day - timedelta(days=1),
                        next=day + timedelta(days=1), providers=providers, only=only, by_provider=by_provider,
                        error=error, calendar=d.calendar is not None, tzname=d.cfg.clinic.timezone)

    return r
