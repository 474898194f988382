"""Scripted callers over SIP: `frontdesk call` (pjsua2) against `frontdesk serve` with the real models,
a real Radicale CalDAV server and a real SMTP server. Each scenario in tests/scenarios/*.yaml checks
the outcome in the database, in Radicale and in the SMTP server, not only the words."""

import json
import os
import re
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import caldav
import pytest
import yaml

from dialog.parse import parse_when
from frontdesk.config import DEMO_CONFIG
from tools.calendar import Calendar, CallerInfo
from tools.db import make_engine
from tools.ics import parse_events

from ..conftest import FRONTDESK, Radicale, Server, Smtp, scripted_config

pytestmark = pytest.mark.e2e
SCENARIOS = sorted((Path(__file__).parents[1] / "scenarios").glob("*.yaml"))
TZ = "America/New_York"


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clinic")
    radicale = Radicale(tmp)
    smtp = Smtp()
    text = DEMO_CONFIG.read_text()
    text = text.replace('confirm_by = ["sms"]', 'confirm_by = ["sms", "email"]')
    text = text.replace('smtp_host = ""', 'smtp_host = "127.0.0.1"').replace("smtp_port = 25", f"smtp_port = {smtp.port}")
    text = text.replace('[caldav]\n# url = "http://127.0.0.1:5232/clinic/"   # one calendar per provider under this collection\nurl = ""\nusername = ""\npassword = ""\nsync_interval_s = 60',
                        f'[caldav]\nurl = "{radicale.url}"\nusername = "clinic"\npassword = "secret"\nsync_interval_s = 5')
    assert radicale.url in text and f"smtp_port = {smtp.port}" in text
    server = Server(tmp, config=scripted_config(tmp, text))
    cal = Calendar(make_engine(f"sqlite:///{(server.data / 'frontdesk.db').resolve()}"), TZ)
    yield {"server": server, "radicale": radicale, "smtp": smtp, "calendar": cal, "tmp": tmp}
    server.stop()
    smtp.stop()
    radicale.stop()


def radicale_uids(radicale) -> set[str]:
    client = caldav.DAVClient(url=radicale.url, username="clinic", password="secret")
    uids = set()
    for slug in ("dr-patel", "dr-kim"):
        try:
            for obj in client.calendar(url=radicale.url + slug + "/").events():
                uids.update(e["uid"] for e in parse_events(obj.data))
        except Exception:
            pass
    return uids


def wait_for(predicate, timeout: float, step: float = 0.5) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class SlotTaker(threading.Thread):
    """Plays another caller: once the server has transcribed line N of this call (and so offered
    slots), it books the first slot matching `take` through the tools API."""

    def __init__(self, server, cal: Calendar, take: dict, after_line: int):
        super().__init__(daemon=True)
        self.server, self.cal, self.take, self.after_line = server, cal, take, after_line
        self.start_count = server.output().count("caller said")
        self.taken = None

    def run(self):
        deadline = time.time() + 240
        while time.time() < deadline:
            if self.server.output().count("caller said") - self.start_count >= self.after_line:
                break
            time.sleep(0.1)
        time.sleep(1.5)  # the offer is made right after the transcription
        today = datetime.now(timezone.utc).astimezone(self.cal.tz).date()
        w = parse_when(self.take["when"], today)
        slots = [s for s in self.cal.find_slots(self.take["service"], w.day_from, w.day_to)
                 if w.at is None or s.local_start.time().replace(tzinfo=None) == w.at]
        self.taken = slots[0]
        self.cal.book_slot(slots[0], CallerInfo("Other Caller", "+12025550999"), "other-call")


# an oracle of its own for "the caller said yes" (not the agent's yesno.py): the scenario lines
# say their yes plainly
_YES = re.compile(r"^(yes|yeah|yep|yup|ya|sure|correct|right|that'?s right|that'?s correct|that works|sounds good|"
                  r"perfect|okay|ok|please do|go ahead|absolutely|definitely|of course|confirm(ed)?|book it|"
                  r"that one|great|fine|alright|all right|uh huh|mm hmm)\b", re.I)
_YES_ANY = re.compile(r"\b(yes|yeah|yep|correct|that works|sounds good|please do|go ahead|book it|confirm)\b", re.I)


def said_yes(text: str) -> bool:
    t = re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()
    if not t or re.search(r"\b(no|not|don'?t|nope|wait|actually|change)\b", t) and not re.match(r"^(yes|yeah)\b", t):
        return False
    return bool(_YES.match(t) or _YES_ANY.search(t))


def invariants(record: dict, cal: Calendar) -> dict:
    """The two things that must never happen: a booking the caller did not confirm (a yes to the
    read-back in their latest turn), and an offered slot that was not free when it was offered."""
    from sqlmodel import Session, select

    from tools.schema import Appointment

    base = record["answered_at"] or record["started_at"]
    turns = record["turns"]
    unconfirmed = 0
    for tc in record["tool_calls"]:
        if tc["tool"] != "create_booking":
            continue
        at_ms = (tc["at"] - base) * 1000
        callers = [t for t in turns if t["speaker"] == "caller" and t["t_ms"] <= at_ms + 50]
        asked = [t for t in turns if t["speaker"] == "agent" and callers and t["t_ms"] <= callers[-1]["t_ms"]]
        confirmed = bool(callers) and said_yes(callers[-1]["text"]) and bool(asked) and (
            asked[-1].get("intent") == "read_back" or "Shall I go ahead" in asked[-1]["text"])
        unconfirmed += not confirmed
    not_free = 0
    with Session(cal.engine) as s:
        appts = s.exec(select(Appointment)).all()
        for tc in record["tool_calls"]:
            if tc["tool"] != "offer":
                continue
            offered_at = datetime.fromtimestamp(tc["at"], timezone.utc).replace(tzinfo=None)
            for slot in tc["result"]:
                start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
                for a in appts:
                    live = a.created_at < offered_at and (a.status == "booked" or a.updated_at > offered_at)
                    if live and a.provider_id == int(slot["id"].split("-")[0]) and a.start < end and a.end > start:
                        not_free += 1
    return {"unconfirmed_bookings": unconfirmed, "offered_not_free": not_free}


def setup_scenario(sc: dict, cal: Calendar) -> list:
    made = []
    for c in sc.get("setup", {}).get("callers", []):
        cal.add_caller(CallerInfo(name=c["name"], phone=c["phone"], email=c.get("email", "")))
    for b in sc.get("setup", {}).get("bookings", []):
        today = datetime.now(timezone.utc).astimezone(cal.tz).date()
        w = parse_when(b["when"], today)
        slots = cal.find_slots(b["service"], w.day_from, w.day_to, after_local=w.after, before_local=w.before)
        made.append(cal.book_slot(slots[0], CallerInfo(b["name"], b["phone"]), "setup"))
    return made


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(path, clinic, tmp_path):
    sc = yaml.safe_load(path.read_text())
    server, cal, smtp, radicale = clinic["server"], clinic["calendar"], clinic["smtp"], clinic["radicale"]
    phone = sc["caller_id"]
    made = setup_scenario(sc, cal)
    if made and "caldav_removed" in sc["expect"]:
        assert wait_for(lambda: made[0].uid in radicale_uids(radicale), 30), "setup booking never reached Radicale"
    before_ids = {b.id for b in cal.bookings(phone=phone)}
    callbacks_before = len(cal.callbacks())
    emails_before = len(smtp.messages)
    calls_before = len(server.calls())
    if sc.get("caldav_down"):
        radicale.stop()
    out = tmp_path / "call.json"
    cmd = [FRONTDESK, "call", server.uri, "--caller-id", phone, "--json", str(out)]
    for line in sc["say"]:
        cmd += ["--say", line]
    taker = None
    if "take_offered_slot_after_line" in sc:
        taker = SlotTaker(server, cal, sc["take"], sc["take_offered_slot_after_line"])
        taker.start()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if taker:
        taker.join(5)
    calls = server.wait_calls(calls_before + 1, timeout=30)
    record = calls[-1]
    transcript = "\n".join(f"{t['speaker']}: {t['text']}" for t in record["turns"])
    context = f"\n--- server transcript ---\n{transcript}\n--- caller ---\n{proc.stdout[-3000:]}{proc.stderr[-1500:]}"
    checks = invariants(record, cal)
    if os.environ.get("FRONTDESK_BENCH_OUT"):
        with open(os.environ["FRONTDESK_BENCH_OUT"], "a") as f:
            f.write(json.dumps({"scenario": path.stem, **checks}) + "\n")
    assert checks == {"unconfirmed_bookings": 0, "offered_not_free": 0}, context
    assert proc.returncode == 0, context
    exp = sc["expect"]
    assert record["outcome"] == exp["outcome"], context
    if "ended_by" in exp:
        assert json.loads(out.read_text())["ended_by"] == exp["ended_by"], context
    now_booked = cal.bookings(phone=phone, status="booked")
    new = [b for b in now_booked if b.id not in before_ids]
    if "booked" in exp:  # bookings this call made
        assert len(new) == exp["booked"], context
    if new:
        b = new[0]
        if "service" in exp:
            assert b.service == exp["service"], context
        if "weekday" in exp:
            assert b.start.strftime("%A") == exp["weekday"], context
        if exp.get("afternoon"):
            assert b.start.hour >= 12, context
        if exp.get("morning"):
            assert b.start.hour < 12, context
        assert record["booking"]["id"] == b.id
        if exp.get("caldav"):
            if sc.get("caldav_down"):
                from tools.outbox import OutboxWorker
                pending = [p for p in OutboxWorker(cal.engine, {}).pending() if p.kind == "caldav_put"]
                assert pending, "the booking should wait in the outbox while CalDAV is down"
                radicale.start()
            assert wait_for(lambda: b.uid in radicale_uids(radicale), 90), "booking never reached Radicale" + context
    if "email" in exp:
        assert wait_for(lambda: len(smtp.messages) - emails_before >= exp["email"], 30), context
        msg = smtp.messages[-1]
        assert msg["To"] == "maria@example.com" and "Confirmed" in msg["Subject"]
        assert any(p.get_content_type() == "text/calendar" for p in msg.walk())
    if "sms" in exp:
        sms = server.data / "sms.jsonl"
        assert wait_for(lambda: sms.exists() and phone in sms.read_text(), 30), context
    if "callbacks" in exp:
        assert len(cal.callbacks()) - callbacks_before == exp["callbacks"], context
    if "handoff_reason" in exp:
        assert record["qualification"]["handoff_reason"] == exp["handoff_reason"], context
    if "urgency" in exp:
        assert record["qualification"]["urgency"] == exp["urgency"], context
    for words in exp.get("agent_says", []):
        assert any(words in t["text"] for t in record["turns"] if t["speaker"] == "agent"), context
    if exp.get("setup_booking"):
        assert cal.get_booking(made[0].id).status == exp["setup_booking"], context
    if exp.get("not_the_taken_slot"):
        assert taker.taken is not None, "the other caller never took the slot" + context
        assert all(b.start != taker.taken.local_start or b.provider != taker.taken.provider for b in new), context
        assert len([b for b in cal.bookings(status="booked") if b.start == taker.taken.local_start
                    and b.provider == taker.taken.provider]) == 1
    if exp.get("caldav_removed"):
        assert wait_for(lambda: made[0].uid not in radicale_uids(radicale), 60), context


def test_five_parallel_calls_race_for_one_slot(clinic, tmp_path):
    """Five callers ask for the same time at once; exactly one gets it, nobody double-books."""
    server, cal = clinic["server"], clinic["calendar"]
    today = datetime.now(timezone.utc).astimezone(cal.tz).date()
    w = parse_when("next Monday at 11 am", today)
    contested = [s for s in cal.find_slots("checkup", w.day_from) if s.local_start.hour == 11 and s.local_start.minute == 0]
    assert contested, "the contested slot must be free before the race"
    phones = [f"+1202555{n:04d}" for n in range(170, 175)]
    procs = []
    for i, phone in enumerate(phones):
        cmd = [FRONTDESK, "call", server.uri, "--caller-id", phone, "--json", str(tmp_path / f"c{i}.json"),
               "--say", "I'd like a checkup next Monday at 11 am.", "--say", "My name is John Smith.",
               "--say", "Yes.", "--say", "The first one.", "--say", "Yes.", "--say", "No thanks, goodbye."]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=900)[0] for p in procs]
    booked = [b for phone in phones for b in cal.bookings(phone=phone, status="booked")]
    at_contested = [b for b in booked if b.start == contested[0].local_start and b.provider == contested[0].provider]
    assert len(at_contested) == 1, "\n".join(o[-1500:] for o in outputs)
    # no two booked appointments of one provider overlap, anywhere
    everything = cal.bookings(status="booked")
    for a in everything:
        for b in everything:
            if a.id < b.id and a.provider == b.provider:
                assert a.end <= b.start or b.end <= a.start, (a, b)
