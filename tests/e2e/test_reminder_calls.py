"""Reminder calls placed by a real `frontdesk serve` through [sip.outbound]: pjsua2 plays the
patient's phone (tests/helpers/pj_desk.py), answers, hears the reminder and presses 1; sipp plays a
phone that rings and is never picked up, and the call is tried again later. The outbox item is the
one tools.reminders queues for a number with consent (its queueing is tested in
tests/unit/test_reminder_calls.py)."""

import json
import re
import subprocess
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from frontdesk.config import DEMO_CONFIG
from tools.calendar import Calendar, CallerInfo
from tools.db import make_engine
from tools.reminder_calls import give_consent
from tools.schema import Confirmation, Outbox, ReminderCall

from ..conftest import Server, free_port
from ..unit.test_outbound import UAS_NEVER_ANSWERS
from .test_transfer import start_desk

pytestmark = pytest.mark.e2e
PHONE = "+12025550177"


@pytest.fixture(scope="module")
def placing_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reminder_calls")
    phone_port = free_port()
    text = DEMO_CONFIG.read_text()
    for key, value in (("before_hours", "[24]"), ("channels", "[]"), ("quiet_hours", '"00:00-00:00"'),
                       ("calls", "true"), ("call_attempts", "2"), ("call_retry_minutes", "5")):
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, key
    text += f'\n[sip.outbound]\nproxy = "sip:127.0.0.1:{phone_port}"\ncaller_id = "+15550100100"\nring_timeout_s = 5\n'
    cfg = tmp / "clinic.toml"
    cfg.write_text(text)
    server = Server(tmp, config=str(cfg))
    yield server, phone_port
    server.stop()


def _queue_call(server) -> tuple[Calendar, str]:
    """An appointment three days ahead for a caller who said yes to reminder calls, and its call due now."""
    cal = Calendar(make_engine(f"sqlite:///{(server.data / 'frontdesk.db').resolve()}"), "America/New_York")
    day = date.today() + timedelta(days=3)
    slots = []
    while not slots:
        slots, day = cal.find_slots("cleaning", day), day + timedelta(days=1)
    booking = cal.book_slot(slots[0], CallerInfo("Jane Doe", PHONE))
    give_consent(cal, PHONE, "the-booking-call")
    start = slots[0].start.astimezone(timezone.utc).replace(tzinfo=None)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with Session(cal.engine) as s:
        s.add(Outbox(kind="reminder_call", created_at=now, next_attempt_at=now,
                     payload=json.dumps({"appointment_id": booking.id, "start": start.isoformat(), "attempt": 1})))
        s.commit()
    return cal, booking.id


def _calls(cal, appointment_id: str, until, timeout: float) -> list[ReminderCall]:
    deadline = time.time() + timeout
    while True:
        with Session(cal.engine) as s:
            rows = list(s.exec(select(ReminderCall).where(ReminderCall.appointment_id == appointment_id)).all())
        if until(rows) or time.time() > deadline:
            return rows
        time.sleep(0.5)


def test_the_patient_answers_hears_the_reminder_and_presses_1(placing_server, tmp_path):
    server, phone_port = placing_server
    desk, seen_path = start_desk(phone_port, tmp_path, "--ring-ms", "800", "--hold-s", "90", "--dtmf", "1",
                                 "--dtmf-after-s", "6")
    try:
        cal, appointment_id = _queue_call(server)
        rows = _calls(cal, appointment_id, lambda r: r and r[-1].result not in ("placing",), 120)
        desk.wait(30)
    finally:
        if desk.poll() is None:
            desk.kill()
    seen = json.loads(seen_path.read_text())
    context = json.dumps(seen, indent=1) + server.output()[-4000:]
    # the phone: called from the clinic's number, answered, media both ways, hung up by frontdesk
    assert seen["confirmed"] and seen["media_active"] and seen["from_user"] == "+15550100100", context
    assert seen.get("dtmf_sent") == "1" and seen["ended_by"] == "caller", context
    assert seen.get("rtp_rx_packets", 0) > 200, context  # seconds of the reminder's speech reached the phone
    assert [(r.attempt, r.result) for r in rows] == [(1, "confirmed")] and rows[0].call_id, context
    with Session(cal.engine) as s:
        confirmed = s.get(Confirmation, appointment_id)
    assert confirmed is not None and confirmed.via == "call", context
    record = next(c for c in server.wait_calls(1) if c.get("external_id", c["call_id"]) == rows[0].call_id
                  or c["call_id"] == rows[0].call_id)
    assert record["outcome"] == "reminder_confirmed", context
    agent = [t["text"] for t in record["turns"] if t["speaker"] == "agent"]
    assert any("an AI" in t and "press 1" in t for t in agent) and any("is confirmed" in t for t in agent), agent
    assert not any("cleaning" in t.lower() for t in agent), agent  # the time only, never the service


def test_a_phone_that_never_answers_is_cancelled_and_tried_again_later(placing_server, tmp_path):
    server, phone_port = placing_server
    scenario = tmp_path / "phone.xml"
    scenario.write_text(UAS_NEVER_ANSWERS)
    sipp = subprocess.Popen(["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(phone_port), "-m", "1",
                             "-nostdin", "-timeout", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        cal, appointment_id = _queue_call(server)
        rows = _calls(cal, appointment_id, lambda r: r and r[-1].result != "placing", 60)
        sipp.wait(30)
    finally:
        if sipp.poll() is None:
            sipp.kill()
    assert sipp.returncode == 0, server.output()[-3000:]  # sipp saw the INVITE, the CANCEL and the ACK
    assert [(r.attempt, r.result) for r in rows] == [(1, "no answer")], server.output()[-3000:]
    with Session(cal.engine) as s:
        again = [o for o in s.exec(select(Outbox).where(Outbox.kind == "reminder_call", Outbox.done_at == None)).all()  # noqa: E711
                 if json.loads(o.payload)["appointment_id"] == appointment_id]
    assert len(again) == 1 and json.loads(again[0].payload)["attempt"] == 2
    assert again[0].next_attempt_at >= datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=4)
