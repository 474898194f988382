"""The understanding corpus (tests/nlu/*.yaml): load it, run every item through the same
understanding a call uses (Conversation.understand: the rules, and the model when they find
nothing), and score intents and slots against the labels (README.md here)."""

from __future__ import annotations

import re
import time as _clock
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from dialog.names import from_spelling
from frontdesk.persona.verdict import name_key

HERE = Path(__file__).parent
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]


@dataclass
class Item:
    file: str
    say: str
    asked: str
    today: date
    intent: list[str]
    slots: dict
    offered: list[str] = field(default_factory=list)
    heard: str | None = None  # what the recogniser made of it (bench/nlu.py --audio)


@dataclass
class OfferedSlot:
    """An offered option as the corpus writes it ("Tuesday December 8th at 2 PM with Dr. Kim")."""
    id: str
    local_start: datetime
    provider: str
    service: str = ""


def load(folder: Path = HERE) -> list[Item]:
    items = []
    for f in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(f.read_text())
        today = data.get("today")
        today = today if isinstance(today, date) else date.fromisoformat(str(today))
        for it in data["items"]:
            intent = it.get("intent")
            intents = intent if isinstance(intent, list) else [intent]
            intents = [{True: "yes", False: "no"}.get(i, i) if isinstance(i, bool) else str(i) for i in intents]
            items.append(Item(file=f.stem, say=str(it["say"]), asked=str(it.get("asked", data.get("asked", "open"))),
                              today=today, intent=intents, slots=it.get("slots") or {}, offered=it.get("offered") or []))
    return items


def offered_slots(texts: list[str], today: date, tz: str) -> list[OfferedSlot]:
    from dialog.parse import parse_time
    out = []
    for i, text in enumerate(texts):
        t = text.lower()
        m = re.search(rf"({'|'.join(MONTHS)})\s+(\d{{1,2}})", t)
        day = date(today.year, MONTHS.index(m.group(1)) + 1, int(m.group(2))) if m else today
        if not m and re.search(r"\btomorrow\b", t):
            day = today + timedelta(days=1)
        elif not m:
            wd = [i for i, d in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
                  if re.search(rf"\b{d}\b", t)]
            if wd:
                day = today + timedelta(days=(wd[0] - today.weekday()) % 7 or 7)
        if day < today:
            day = day.replace(year=today.year + 1)
        at = parse_time(re.sub(r"^.*?\bat\b", "at", t)) or time(9)
        prov = re.search(r"with (dr\.? \w+)", t)
        provider = "Dr. " + prov.group(1).split()[-1].capitalize() if prov else "Dr. Patel"
        out.append(OfferedSlot(f"s{i}", datetime.combine(day, at, ZoneInfo(tz)), provider))
    return out


def _time(v) -> time | None:
    if v in (None, ""):
        return None
    if isinstance(v, int):
        return time(v // 60, v % 60)
    h, m = str(v).split(":")
    return time(int(h), int(m))


def when_ok(label: dict, w) -> bool:
    if w is None:
        return False
    days = [d if isinstance(d, date) else date.fromisoformat(str(d)) for d in label.get("days") or []]
    if days:
        if w.day_from is not None:
            lo, hi = w.day_from, w.day_to or w.day_from
            span = [d for d in days if lo <= d <= hi]
            if not span or (w.weekdays is not None and not all(d.weekday() in w.weekdays for d in span)):
                return False
            if lo < min(days) or hi > max(days):
                return False
        elif w.weekdays is not None:
            if not {d.weekday() for d in days} <= set(w.weekdays):
                return False
        else:
            return False
    elif w.day_from is not None or (w.weekdays is not None and not set(range(5)) <= set(w.weekdays)):
        return False  # "any weekday" at a clinic open on weekdays is no constraint
    for key in ("after", "before", "at"):
        if _time(label.get(key)) != getattr(w, key):
            return False
    return True


def slot_ok(key: str, label, got) -> bool:
    if got is None:
        return False
    if key == "name":
        return name_key(label) == name_key(" ".join(p for p in got if p))
    if key == "spelled":
        return re.sub(r"[^A-Z]", "", str(label).upper()) == re.sub(r"[^A-Z]", "", str(got).upper())
    if key == "phone":
        return str(label) == got
    if key == "dob":
        return str(label) == str(got)
    if key == "email":
        return str(label).lower() == str(got).lower()
    if key == "when":
        return when_ok(label, got)
    if key == "choice":
        return int(label) - 1 == got
    if key == "faq":
        want = label if isinstance(label, list) else [label]
        return set(want) <= set(got)
    if key in ("service", "insurance", "provider"):
        return str(label).lower() == str(got).lower()
    if key == "new_patient":
        return bool(label) == got
    return label == got


def run(items: list[Item], make_conversation, progress=None) -> list[dict]:
    """Each item through a fresh conversation set to the item's context."""
    out = []
    for it in items:
        conv = make_conversation(it.today)
        conv.set_context(it.asked, offered_slots(it.offered, it.today, conv.clinic.timezone))
        t0 = _clock.perf_counter()
        r = conv.understand(it.heard if it.heard is not None else it.say)
        ms = (_clock.perf_counter() - t0) * 1000
        slots = {}
        for key, label in it.slots.items():
            got = r.slots.get(key)
            slots[key] = {"label": label, "got": got, "ok": slot_ok(key, label, got)}
        extra = [k for k in r.slots if k not in it.slots and k not in ("when", "faq", "provider")]
        out.append({"file": it.file, "say": it.say, "heard": it.heard, "asked": it.asked, "intent": it.intent, "got": r.intent,
                    "source": r.source, "intent_ok": r.intent in it.intent, "slots": slots, "extra": extra, "ms": ms})
        if progress:
            progress(out[-1])
    return out


def scores(results: list[dict]) -> dict:
    by_intent: dict[str, list[bool]] = {}
    by_slot: dict[str, list[bool]] = {}
    for r in results:
        by_intent.setdefault(r["intent"][0], []).append(r["intent_ok"])
        for k, v in r["slots"].items():
            by_slot.setdefault(k, []).append(v["ok"])
    emergencies = [r for r in results if "emergency" in r["intent"]]
    false_alarms = [r for r in results if r["got"] == "emergency" and "emergency" not in r["intent"]]
    return {
        "items": len(results),
        "intent_accuracy": sum(r["intent_ok"] for r in results) / max(1, len(results)),
        "intents": {k: (sum(v), len(v)) for k, v in sorted(by_intent.items())},
        "slots": {k: (sum(v), len(v)) for k, v in sorted(by_slot.items())},
        "emergency_recall": (sum(r["got"] == "emergency" for r in emergencies), len(emergencies)),
        "emergency_false_alarms": len(false_alarms),
        "model_turns": sum(r["source"] == "llm" for r in results),
        "ms_p50": sorted(r["ms"] for r in results)[len(results) // 2] if results else None,
    }


def conversation_factory(model):
    """A conversation per item, set to the demo clinic and to 10:00 on the item's day."""
    from dialog.conversation import BookingPolicy, Conversation
    from frontdesk.config import load_config

    cfg = load_config()
    policy = BookingPolicy(required_fields=tuple(cfg.booking.required_fields), parking=cfg.clinic.parking,
                           insurance=tuple(cfg.clinic.insurance))

    def make(today):
        from datetime import timezone
        now = datetime.combine(today, time(10), ZoneInfo(cfg.clinic.timezone)).astimezone(timezone.utc)
        return Conversation(cfg.clinic, model, None, policy, clock=lambda: now)
    return make
