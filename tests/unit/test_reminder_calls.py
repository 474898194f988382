"""Reminder calls against a real calendar database and the outbox: consent asked on the booking
call and stored with its time and call id; the reminder queued only for numbers with consent, and
never after a STOP; the call's dialog (keypad or voice 1, 2, 3, voicemail, silence); attempts
retried when nobody answered, and not beyond the configured number."""

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import Session, select

from dialog.conversation import BookingPolicy, Conversation
from dialog.reminder_call import ReminderCall
from frontdesk.config import ConfigError, load_config, loads_config
from tools.calendar import Calendar, CallerInfo
from tools.db import make_engine
from tools.notify import Notifier, SmtpSettings, LogSmsGateway
from tools.outbox import OutboxWorker
from tools.reminder_calls import ReminderCalls, give_consent, has_consent
from tools.reminders import ReminderSettings, Reminders
from tools.replies import Replies
from tools.schema import CallConsent, Confirmation, Outbox

CFG = load_config()
NOW = datetime(2026, 11, 23, 15, 0)  # Monday 10:00 in New York (naive UTC)
PHONE = "+12025550149"


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def cal(tmp_path):
    cal = Calendar(make_engine(f"sqlite:///{tmp_path}/fd.db"), CFG.clinic.timezone, clock=Clock(NOW))
    cal.seed(CFG.clinic.services, CFG.clinic.providers, CFG.clinic.closures)
    return cal


def conversation(cal, **policy) -> Conversation:
    return Conversation(CFG.clinic, None, cal, BookingPolicy(spell_names=False, parking=CFG.clinic.parking, **policy),
                        call_id="call-1",
                        caller_id=PHONE, clock=lambda: cal.clock().replace(tzinfo=timezone.utc))


def booked(cal, day=date(2026, 11, 25)):
    slot = cal.find_slots("cleaning", day)[0]
    return cal.get_booking(cal.book_slot(slot, CallerInfo("Jane Doe", PHONE)).id)


def reminder(cal, booking, confirmed: list | None = None) -> ReminderCall:
    return ReminderCall(conversation(cal), booking, clinic_phone="+15550100100",
                        confirm=lambda: (confirmed if confirmed is not None else []).append(booking.id))


# -- consent on the booking call ------------------------------------------------------------

def test_the_booking_call_asks_for_consent_and_stores_the_yes_with_time_and_call(cal):
    c = conversation(cal, reminder_calls=True)
    c.greeting()
    for line in ("I'd like a cleaning on Wednesday morning, my name is Jane Doe.", "Yes, that's my number.",
                 "The first one.", "Yes please."):
        turn = c.on_caller(line)
    assert c.booking is not None and "reminder phone call" in turn.text and c.state == "reminder_consent"
    turn = c.on_caller("Sure, that would be great.")
    assert "we'll call you" in turn.text and c.state == "anything_else"
    with Session(cal.engine) as s:
        row = s.get(CallConsent, PHONE)
    assert row.call_id == "call-1" and row.given_at == NOW
    # a second booking on the same number is not asked again
    c2 = conversation(cal, reminder_calls=True)
    c2.greeting()
    for line in ("A cleaning on Thursday afternoon, Jane Doe.", "Yes.", "The first one.", "Yes."):
        turn = c2.on_caller(line)
    assert "reminder phone call" not in turn.text and "anything else" in turn.text


def test_no_consent_on_a_no_or_a_new_question_and_none_asked_when_calls_are_off(cal):
    for answer, state in (("No thanks.", "anything_else"), ("No, that's all, bye.", "anything_else"),
                          ("Do you have parking?", "anything_else")):
        c = conversation(cal, reminder_calls=True)
        c.greeting()
        for line in ("I'd like a cleaning on Wednesday morning, my name is Jane Doe.", "Yes.", "The first one.", "Yes."):
            c.on_caller(line)
        assert c.state == "reminder_consent"
        turn = c.on_caller(answer)
        assert not has_consent(cal, PHONE), answer
        assert c.state in (state, "open") or turn.hangup, (answer, c.state)
        for b in cal.bookings(phone=PHONE, status="booked"):
            cal.cancel(b.id)
    c = conversation(cal)
    c.greeting()
    for line in ("I'd like a cleaning on Wednesday morning, my name is Jane Doe.", "Yes.", "The first one."):
        c.on_caller(line)
    assert "reminder phone call" not in c.on_caller("Yes.").text


# -- what is queued -----------------------------------------------------------------------------

def test_a_call_is_queued_only_for_a_number_with_consent_and_not_after_a_stop(cal):
    jane = booked(cal, date(2026, 11, 26))  # booked before its 48-hour reminder is due
    other = cal.get_booking(cal.book_slot(cal.find_slots("cleaning", date(2026, 11, 26))[0],
                                          CallerInfo("Sam Roe", "+12025550150")).id)
    give_consent(cal, PHONE, "call-1")
    reminders = Reminders(cal, ReminderSettings([48], channels=[], calls=True), CFG.clinic.timezone)
    cal.clock.now = jane.start.astimezone(timezone.utc).replace(tzinfo=None) - timedelta(hours=47)
    assert reminders.run_once() >= 1
    with Session(cal.engine) as s:
        calls = [json.loads(o.payload) for o in s.exec(select(Outbox).where(Outbox.kind == "reminder_call")).all()]
    assert [p["appointment_id"] for p in calls] == [jane.id] and other.id not in [p["appointment_id"] for p in calls]
    placed = []
    notifier = Notifier(cal, "Maple Street Dental", "", SmtpSettings("", 0, ""), LogSmsGateway(cal_path(cal)),
                        quiet=lambda: False)
    rc = ReminderCalls(cal, notifier.reminded, attempts=2, retry_minutes=30)
    rc.dial = placed.append
    Replies(cal, "Maple Street Dental").handle(PHONE, "STOP")  # opted out before the call went out
    OutboxWorker(cal.engine, {"reminder_call": rc.handle}, clock=cal.clock).run_once()
    assert placed == []


def cal_path(cal):
    return str(cal.engine.url.database) + ".sms.jsonl"


def test_unanswered_calls_are_tried_again_up_to_the_attempts_and_a_voicemail_ends_them(cal):
    jane = booked(cal)
    give_consent(cal, PHONE, "call-1")
    notifier = Notifier(cal, "Maple Street Dental", "", SmtpSettings("", 0, ""), LogSmsGateway(cal_path(cal)),
                        quiet=lambda: False)
    rc = ReminderCalls(cal, notifier.reminded, attempts=2, retry_minutes=30)
    placed = []
    rc.dial = placed.append
    worker = OutboxWorker(cal.engine, {"reminder_call": rc.handle}, clock=cal.clock)
    start = jane.start.astimezone(timezone.utc).replace(tzinfo=None)
    with Session(cal.engine) as s:
        s.add(Outbox(kind="reminder_call", created_at=NOW, next_attempt_at=NOW,
                     payload=json.dumps({"appointment_id": jane.id, "start": start.isoformat(), "attempt": 1})))
        s.commit()
    worker.run_once()
    assert [(p.appointment_id, p.number, p.attempt) for p in placed] == [(jane.id, PHONE, 1)]
    rc.started(placed[0].attempt_id, "sip-call-1")
    rc.finished(placed[0].attempt_id, "no answer")
    worker.run_once()
    assert len(placed) == 1  # the next try waits retry_minutes
    cal.clock.now = NOW + timedelta(minutes=31)
    worker.run_once()
    assert [p.attempt for p in placed] == [1, 2]
    rc.finished(placed[1].attempt_id, "busy")
    cal.clock.now = NOW + timedelta(hours=3)
    worker.run_once()
    assert len(placed) == 2  # two attempts configured: no third
    assert [(c.attempt, c.result) for c in rc.calls(jane.id)] == [(1, "no answer"), (2, "busy")]
    assert rc.calls(jane.id)[0].call_id == "sip-call-1"
    # a voicemail is not called again
    rc.finished(rc.calls(jane.id)[0].id, "voicemail")
    worker.run_once()
    assert len(placed) == 2


# -- the call's dialog ---------------------------------------------------------------------------

def test_listens_first_then_discloses_and_reminds_with_the_time_only(cal):
    b = booked(cal)
    r = reminder(cal, b)
    assert r.greeting() is None and r.listen_s
    turn = r.on_caller("Hello?")
    assert "AI" in turn.text and "Wednesday" in turn.text and "press 1" in turn.text
    assert "cleaning" not in turn.text.lower() and b.provider not in turn.text
    assert r.listen_s is None


def test_keypad_and_voice_confirm(cal):
    for how in ("1", "Yes, I'll be there.", "That's right.", "Sure thing, see you then."):
        b = booked(cal)
        confirmed = []
        r = reminder(cal, b, confirmed)
        r.on_silence()  # nobody spoke first: the reminder anyway
        turn = r.on_dtmf(how) if how.isdigit() else r.on_caller(how)
        assert turn.hangup and "confirmed" in turn.text and confirmed == [b.id], how
        assert r.result() == "confirmed" and r.summary()["outcome"] == "reminder_confirmed"
        cal.cancel(b.id)


def test_a_voicemail_greeting_gets_the_clinic_and_number_only(cal):
    b = booked(cal)
    r = reminder(cal, b)
    turn = r.on_caller("Hi, you've reached Jane. I can't come to the phone right now, please leave a message after "
                       "the tone.")
    assert turn.hangup and "Maple Street Dental" in turn.text and "5 5 5, 0 1 0, 0 1 0 0" in turn.text
    assert "Wednesday" not in turn.text and "appointment" not in turn.text and "cleaning" not in turn.text
    assert r.result() == "voicemail"
    # the greeting cut in two: its first sentence got the reminder, the second is the machine's
    r = reminder(cal, b)
    r.on_caller("Hi, this is Jane.")
    assert r.on_caller("I'm not available right now, please leave a message.").intent == "voicemail"


def test_two_changes_the_appointment_in_the_booking_dialog(cal):
    b = booked(cal)
    r = reminder(cal, b)
    r.on_caller("Hello?")
    turn = r.on_dtmf("2")
    assert "What day and time" in turn.text and r.inner.state == "when"
    turn = r.on_caller("Thursday afternoon.")
    assert r.inner.state == "offer", turn.text
    turn = r.on_caller("The first one.")
    assert "move your appointment" in turn.text
    turn = r.on_caller("Yes.")
    assert "moved" in turn.text
    assert cal.get_booking(b.id).status != "booked" and r.result() == "rescheduled"
    assert [x.caller_name for x in cal.bookings(phone=PHONE, status="booked")] == ["Jane Doe"]


def test_three_or_cancel_asks_first_and_cancels_on_yes_or_keeps_on_no(cal):
    b = booked(cal)
    r = reminder(cal, b)
    r.on_caller("Hello?")
    turn = r.on_caller("Actually I need to cancel that.")
    assert "Shall I cancel" in turn.text
    r.on_caller("Yes.")
    assert cal.get_booking(b.id).status == "cancelled" and r.result() == "cancelled"
    b = booked(cal)
    r = reminder(cal, b)
    r.on_caller("Hello?")
    r.on_dtmf("3")
    r.on_dtmf("2")  # 2 for no at the cancel question
    assert cal.get_booking(b.id).status == "booked" and r.result() == "kept"


def test_silence_and_nonsense_end_politely_and_a_wrong_number_is_left_alone(cal):
    b = booked(cal)
    r = reminder(cal, b)
    r.on_caller("Hello?")
    assert not r.on_silence().hangup
    last = r.on_silence()
    assert last.hangup and r.result() == "no response"
    r = reminder(cal, b)
    r.on_caller("Hello?")
    turns = [r.on_caller("Purple monkey dishwasher.") for _ in range(3)]
    assert not turns[0].hangup and "Wednesday" in turns[0].text and turns[-1].hangup
    r = reminder(cal, b)
    r.on_caller("Hello?")
    turn = r.on_caller("I think you have the wrong number.")
    assert turn.hangup and r.result() == "wrong number" and cal.get_booking(b.id).status == "booked"
    with Session(cal.engine) as s:
        assert s.exec(select(Confirmation)).all() == []


def test_config_needs_an_outbound_proxy_and_reminder_times():
    base = '[clinic]\nname = "X"\n[[clinic.services]]\nname = "cleaning"\nduration_min = 30\n'
    with pytest.raises(ConfigError, match="sip.outbound"):
        loads_config(base + "[reminders]\nbefore_hours = [24]\nchannels = []\ncalls = true\n")
    with pytest.raises(ConfigError, match="sip.outbound.proxy"):
        loads_config(base + '[sip.outbound]\nproxy = "http://x"\n')
    with pytest.raises(ConfigError, match="before_hours"):
        loads_config(base + '[sip.outbound]\nproxy = "sip:127.0.0.1:5070"\n[reminders]\nchannels = []\ncalls = true\n')
    cfg = loads_config(base + '[sip.outbound]\nproxy = "sip:127.0.0.1:5070"\ncaller_id = "+15550100100"\n'
                              '[reminders]\nbefore_hours = [24]\nchannels = []\ncalls = true\ncall_attempts = 3\n')
    assert cfg.reminders.calls and cfg.reminders.call_attempts == 3 and cfg.sip.outbound.caller_id == "+15550100100"
    assert not load_config().reminders.calls  # off by default


def test_no_call_is_placed_in_quiet_hours_it_waits_for_them_to_end(cal):
    jane = booked(cal)
    give_consent(cal, PHONE, "call-1")
    quiet = [True]
    notifier = Notifier(cal, "Maple Street Dental", "", SmtpSettings("", 0, ""), LogSmsGateway(cal_path(cal)),
                        quiet=lambda: quiet[0])
    rc = ReminderCalls(cal, notifier.reminded)
    placed = []
    rc.dial = placed.append
    worker = OutboxWorker(cal.engine, {"reminder_call": rc.handle}, clock=cal.clock)
    start = jane.start.astimezone(timezone.utc).replace(tzinfo=None)
    with Session(cal.engine) as s:
        s.add(Outbox(kind="reminder_call", created_at=NOW, next_attempt_at=NOW,
                     payload=json.dumps({"appointment_id": jane.id, "start": start.isoformat(), "attempt": 1})))
        s.commit()
    assert worker.run_once() == (0, 1) and placed == []  # kept, and tried again later
    quiet[0] = False
    cal.clock.now = NOW + timedelta(minutes=20)
    worker.run_once()
    assert [p.appointment_id for p in placed] == [jane.id]


def test_the_report_counts_reminder_calls_apart_from_the_callers_calls(tmp_path):
    import time

    from tools.records import RecordStore
    store = RecordStore(make_engine(f"sqlite:///{tmp_path / 'r.db'}"))
    t = time.time() - 600
    store.save({"call_id": "in", "started_at": t, "answered_at": t + 1, "ended_at": t + 60, "outcome": "booked",
                "turns": [], "latency": [{"total_ms": 700}]})
    for i, outcome in enumerate(("reminder_confirmed", "reminder_confirmed", "reminder_voicemail")):
        store.save({"call_id": f"out{i}", "started_at": t + i, "answered_at": t + i, "ended_at": t + i + 30,
                    "outcome": outcome, "turns": []})
    r = store.report()
    assert r["calls"] == 1 and r["answered"] == 1 and r["outcomes"]["booked"] == 1
    assert r["reminder_calls"] == {"confirmed": 2, "voicemail": 1}
