"""`frontdesk calendar ...`: look at and move data in the clinic calendar."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timezone

from .config import ConfigError, load_config


def run(args) -> int:
    from tools.calendar import Calendar
    from tools.db import make_engine

    cfg = load_config(args.config)
    if args.data_dir:
        from pathlib import Path
        cfg.data_dir = Path(args.data_dir)
    from .backoffice import data_cipher
    cal = Calendar(make_engine(cfg.database_url), cfg.clinic.timezone, cipher=data_cipher(cfg), step_min=cfg.booking.slot_step_min,
                   lead_min=cfg.booking.lead_min)
    cal.seed(cfg.clinic.services, cfg.clinic.providers, cfg.clinic.closures)
    what = args.what
    if what == "services":
        for s in cal.services():
            print(f"{s.name:20} {s.duration_min:4} min" + (f" (+{s.buffer_min} min buffer)" if s.buffer_min else ""))
    elif what == "providers":
        for p in cal.providers():
            print(p.name)
    elif what == "slots":
        if not args.date:
            raise ConfigError("--date: expected YYYY-MM-DD")
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            raise ConfigError(f"--date: expected YYYY-MM-DD, got {args.date!r}") from None
        services = [args.service] if args.service else [s.name for s in cal.services()]
        for name in services:
            try:
                slots = cal.find_slots(name, day)
            except Exception as exc:
                raise ConfigError(f"--service: {exc}") from None
            for s in slots:
                print(f"{s.local_start.isoformat()}  {name:16} {s.provider}")
    elif what == "bookings":
        rows = cal.bookings()
        if args.json:
            json.dump([b.as_json() for b in rows], sys.stdout, indent=2)
            print()
        else:
            for b in rows:
                print(f"{b.start.isoformat()}  {b.status:9} {b.service:16} {b.provider:12} {b.caller_name} {b.phone}")
    elif what == "callbacks":
        for t in cal.callbacks():
            print(f"#{t.id} {t.created_at:%Y-%m-%d %H:%M} {t.status:5} {t.urgency:7} {t.caller_name} {t.phone}: {t.reason}")
    elif what == "export":
        from tools.ics import appointment_event
        from icalendar import Calendar as ICal
        out = ICal()
        out.add("prodid", "-//frontdesk//appointments//EN")
        out.add("version", "2.0")
        for b in cal.bookings(status="booked"):
            out.add_component(appointment_event(uid=b.uid, start=b.start, end=b.end, summary=f"{b.service}: {b.caller_name}",
                                                description=f"With {b.provider}. Phone {b.phone}.",
                                                location=cfg.clinic.address))
        with open(args.file, "wb") as f:
            f.write(out.to_ical())
        print(f"exported {len(cal.bookings(status='booked'))} booking(s) to {args.file}")
    elif what == "import":
        return _import(cal, args.file, args.provider)
    return 0


def _import(cal, path: str, provider: str | None) -> int:
    """Import events as busy time for a provider (e.g. a staff calendar export)."""
    from sqlmodel import Session, select

    from tools.ics import parse_events
    from tools.schema import ExternalEvent, Provider

    try:
        events = parse_events(open(path, "rb").read())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read iCalendar file ({exc})") from None
    with Session(cal.engine, expire_on_commit=False) as s:
        provs = s.exec(select(Provider).where(Provider.active == True)).all()  # noqa: E712
        target = next((p for p in provs if p.name == provider), None) if provider else (provs[0] if len(provs) == 1 else None)
        if target is None:
            raise ConfigError("--provider: name the provider whose calendar these events belong to "
                              f"({', '.join(p.name for p in provs)})")
        for ev in events:
            href = f"import:{ev['uid']}"
            row = s.get(ExternalEvent, href) or ExternalEvent(href=href, uid=ev["uid"], provider_id=target.id,
                                                             start=ev["start"].replace(tzinfo=None), end=ev["end"].replace(tzinfo=None))
            row.start, row.end, row.summary = ev["start"].replace(tzinfo=None), ev["end"].replace(tzinfo=None), ev["summary"][:200]
            s.add(row)
        s.commit()
    print(f"imported {len(events)} event(s) as busy time for {target.name}")
    return 0
