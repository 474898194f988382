"""`frontdesk call URI --persona FILE.yaml`: one simulated caller, then its verdict."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from .spec import PersonaError, load_persona


def open_clinic(config: str | None, data_dir: str | None):
    """The clinic's calendar and database, when they are on this machine (for seeding and the verdict)."""
    from tools.calendar import Calendar
    from tools.db import make_engine

    from ..config import load_config

    cfg = load_config(config)
    if data_dir:
        cfg.data_dir = Path(data_dir)
    url = cfg.database_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return cfg, None
    engine = make_engine(url)
    from ..backoffice import data_cipher
    cal = Calendar(engine, cfg.clinic.timezone, step_min=cfg.booking.slot_step_min, lead_min=cfg.booking.lead_min,
                   cipher=data_cipher(cfg))
    return cfg, cal


def run_persona(uri: str, persona_path: str, *, json_path: str | None = None, config: str | None = None,
                data_dir: str | None = None, seed_existing: bool = False, transport: str = "udp",
                answer_timeout: float = 30.0, existing_id: str | None = None, quiet: bool = False) -> dict:
    from .live import place_persona_call, result_json
    from .verdict import judge, seed_existing as seed, server_record, summarise_record

    persona = load_persona(persona_path)
    cfg, cal = open_clinic(config, data_dir)
    if seed_existing and persona.facts.existing is not None and existing_id is None:
        if cal is None:
            raise PersonaError("--seed: the clinic's database was not found (give --config or --data-dir)")
        existing_id = seed(persona, cal)
    clinic = cfg.clinic
    words = f"{clinic.name}. " + ", ".join(p.name for p in clinic.providers) + ". " + \
        ", ".join(s.name for s in clinic.services) + "."
    result = place_persona_call(uri, persona, answer_timeout=answer_timeout, transport=transport, teardown=False,
                                tz=clinic.timezone, clinic_words=words)
    data = result_json(result)
    if cal is not None and result.sip_call_id:
        today = datetime.now(timezone.utc).astimezone(cal.tz).date()
        import time
        record: dict = {}
        for _ in range(40):  # the server writes the record just after the call ends
            record = server_record(cal.engine, result.sip_call_id)
            if record.get("ended_at") or record.get("error"):
                break
            time.sleep(0.25)
        data["verdict"] = judge(persona, result._brain.progress, engine=cal.engine,
                                call_id=record.get("call_id") or result.sip_call_id,
                                tz=cfg.clinic.timezone, today=today, existing_id=existing_id, transfer=result.transfer,
                                required=tuple(cfg.booking.required_fields), opener=cal._open)
        data["server"] = summarise_record(record)
    else:
        data["verdict"] = {"checked": False, "why": "the clinic's database is not on this machine (--config/--data-dir)"}
    if json_path:
        Path(json_path).write_text(json.dumps(data, indent=2, default=str))
    if not quiet:
        print_persona(data)
    return data


def print_persona(data: dict) -> None:
    print(f"persona {data['persona']} ({data['goal']}) calls {data['uri']}: "
          + ("answered" if data["answered"] else f"not answered (SIP {data['sip_status']})"))
    lat = iter(data.get("latency_ms") or [])
    for t in data["turns"]:
        extra = ""
        if t["speaker"] == "caller" and t.get("act") != "backchannel":
            v = next(lat, None)
            extra = f"   ({v} ms)" if v is not None else "   (no reply heard)"
        print(f"  {t['start_ms'] / 1000:6.1f}s {t['speaker']:>6}: {t['text']}{extra}")
    v = data.get("verdict") or {}
    if v.get("checked", True):
        print(f"goal {'reached' if v.get('goal_reached') else 'NOT reached'}; "
              f"fields {'all right' if v.get('all_fields_right') else 'not all right'}")
        for name, f in (v.get("fields") or {}).items():
            print(f"  {'ok ' if f['ok'] else 'BAD'} {name}: expected {f['expected']}, got {f['got']}")
        for note in v.get("notes") or []:
            print(f"  note: {note}")
    else:
        print(f"verdict not checked: {v.get('why')}")
    sys.stdout.flush()
