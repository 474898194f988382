"""`frontdesk report`, `frontdesk purge` and `frontdesk keygen`: the measures, retention, the key."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from .config import Config, ConfigError, load_config


def _config(args) -> Config:
    cfg = load_config(args.config)
    if getattr(args, "data_dir", None):
        cfg.data_dir = Path(args.data_dir)
    return cfg


def open_store(cfg: Config):
    from tools.crypto import ContentCipher, KeyError_, load_key
    from tools.db import make_engine
    from tools.records import RecordStore

    try:
        key = load_key(cfg.privacy.encryption_key_file, required=cfg.privacy.encrypt) if cfg.privacy.encrypt else load_key()
        cipher = ContentCipher(key)
    except KeyError_ as exc:
        raise ConfigError(f"privacy: {exc}") from None
    return RecordStore(make_engine(cfg.database_url), cipher, redact_content=cfg.privacy.redact_transcripts)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since: expected a date such as 2026-11-01, got {text!r}") from None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


def report(args) -> int:
    cfg = _config(args)
    from tools.attendance import complaint_count, no_show_rates

    store = open_store(cfg)
    data = store.report(_since(args.since))
    data["no_shows"] = no_show_rates(store.engine, _since(args.since))
    data["complaints"] = complaint_count(store.engine, _since(args.since))
    if args.json:
        print(json.dumps(data, indent=1))
        return 0

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    def num(v, unit=""):
        return "-" if v is None else f"{v}{unit}"

    print(f"calls since {data['since'] or 'the start'}: {data['calls']}")
    rows = [("answered", f"{data['answered']} ({pct(data['answer_rate'])})"),
            ("average duration", num(data["average_duration_s"], " s")),
            ("booking completion", pct(data["booking_completion_rate"])),
            ("handed to a person", pct(data["handoff_rate"])),
            ("misunderstandings per call", num(data["misunderstandings_per_call"])),
            ("calendar tool failures", str(data["calendar_tool_failures"])),
            ("turn latency p50 / p95", f"{num(data['latency_p50_ms'], ' ms')} / {num(data['latency_p95_ms'], ' ms')}")]
    rows += [(f"  outcome {k}", str(v)) for k, v in data["outcomes"].items() if v]
    names = {"agent": "booked by the agent", "staff": "booked by staff", "reminder_confirmed": "reminder confirmed",
             "not_confirmed": "reminder not confirmed"}
    rows.append(("complaints (callback tasks)", str(data["complaints"])))
    rows.append(("survey: answers, average of 5", f"{data['survey_answers']}, {num(data['survey_average'])}"))
    rows += [(f"no-shows, {names[k]}", f"{g['no_show']} of {g['marked']} marked ({pct(g['rate'])})")
             for k, g in data["no_shows"].items()]
    if data["reminder_calls"]:  # placed by frontdesk, not counted in the figures above
        rows.append(("reminder calls placed", str(sum(data["reminder_calls"].values()))))
        rows += [(f"  reminder call {k.replace('_', ' ')}", str(v)) for k, v in data["reminder_calls"].items()]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def purge(args) -> int:
    cfg = _config(args)
    days = args.days if args.days is not None else cfg.privacy.retention_days
    n = open_store(cfg).purge(days)
    print(f"purged the transcripts and recordings of {n} call(s) older than {days} days; the counts stay")
    return 0


def keygen(args) -> int:
    from tools.crypto import new_key

    key = new_key()
    if args.file:
        path = Path(args.file).expanduser()
        if path.exists() and not args.force:
            print(f"frontdesk: {path} exists; keep it (data encrypted with it needs it) or pass --force", file=sys.stderr)
            return 1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(key + "\n")
        print(f"key written to {path} (mode 600); set privacy.encrypt = true and privacy.encryption_key_file")
    else:
        print(key)
    return 0
