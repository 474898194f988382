"""iCalendar (RFC 5545) events for appointments, for CalDAV and for email invitations."""

from __future__ import annotations

from datetime import datetime, timezone

from icalendar import Calendar as ICal
from icalendar import Event


def appointment_event(*, uid: str, start: datetime, end: datetime, summary: str, description: str = "",
                      location: str = "", sequence: int = 0, status: str = "CONFIRMED",
                      organizer: str = "", attendee: str = "") -> Event:
    ev = Event()
    ev.add("uid", uid)
    ev.add("dtstamp", datetime.now(timezone.utc))
    ev.add("dtstart", start)
    ev.add("dtend", end)
    ev.add("summary", summary)
    if description:
        ev.add("description", description)
    if location:
        ev.add("location", location)
    ev.add("sequence", sequence)
    ev.add("status", status)
    if organizer:
        ev.add("organizer", f"mailto:{organizer}")
    if attendee:
        ev.add("attendee", f"mailto:{attendee}")
    return ev


def to_ics(event: Event, method: str | None = None) -> bytes:
    cal = ICal()
    cal.add("prodid", "-//frontdesk//appointments//EN")
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    cal.add_component(event)
    return cal.to_ical()


def parse_events(data: bytes | str) -> list[dict]:
    """uid, start, end (aware UTC datetimes), summary, status and categories (lower case) of every
    VEVENT in an iCalendar text."""
    cal = ICal.from_ical(data)
    out = []
    for comp in cal.walk("VEVENT"):
        start = comp.decoded("dtstart")
        end = comp.decoded("dtend") if "dtend" in comp else None
        if not isinstance(start, datetime):  # all-day event: block the whole day
            start = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
            end = datetime(end.year, end.month, end.day, tzinfo=timezone.utc) if end else None
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        if end is None:
            end = start + comp.decoded("duration") if "duration" in comp else start
        elif end.tzinfo is None:
            end = end.replace(tzinfo=timezone.utc)
        cats = comp.get("categories")
        cats = cats if isinstance(cats, list) else ([cats] if cats is not None else [])
        out.append({"uid": str(comp.get("uid", "")), "start": start.astimezone(timezone.utc),
                    "end": end.astimezone(timezone.utc), "summary": str(comp.get("summary", "")),
                    "status": str(comp.get("status", "")),
                    "categories": [str(c).strip().lower() for cat in cats for c in getattr(cat, "cats", [cat])]})
    return out
