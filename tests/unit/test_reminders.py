"""Reminders against a real calendar database, a real SMTP server (aiosmtpd) and the file SMS
gateway: due times, exactly once across restarts and nodes, quiet hours, cancelled and moved
appointments, and what a text may say."""

import json
from datetime import date, datetime, time, timedelta

from tools.calendar import Calendar, CallerInfo
from tools.db import make_engine
from tools.ics import parse_events
from tools.notify import LogSmsGateway, Notifier, SmtpSettings
from tools.outbox import OutboxWorker
from tools.reminders import Reminders, ReminderSettings, in_quiet_hours

from .test_calendar import NOW, Prov, Svc, WEEK

THU = date(2026, 11, 26)  # the appointment's day; NOW is Monday 12:00 UTC (07:00 in New York)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def setup(tmp_path, smtp_port: int = 0, hours=(48, 2), channels=("sms", "email")):
    clock = Clock(NOW)
    cal = Calendar(make_engine(f"sqlite:///{tmp_path}/cal.db"), "America/New_York", clock=clock)
    cal.seed([Svc("root canal", 60)], [Prov("Dr. Patel", ["root canal"], WEEK)])
    reminders = Reminders(cal, ReminderSettings(list(hours), list(channels)), "America/New_York")
    notifier = Notifier(cal, "Maple Street Dental", "120 Maple Street",
                        SmtpSettings(host="127.0.0.1" if smtp_port else "", port=smtp_port, sender="desk@maple.example"),
                        LogSmsGateway(tmp_path / "sms.jsonl"), quiet=reminders.quiet_now, clinic_phone="(555) 010-0100")
    worker = OutboxWorker(cal.engine, {"reminder_sms": notifier.handle_reminder_sms,
                                       "reminder_email": notifier.handle_reminder_email}, clock=clock)
    return cal, clock, reminders, worker


def book(cal: Calendar, day: date = THU, i: int = 0):
    slot = cal.find_slots("root canal", day)[i]
    return cal.book_slot(slot, CallerInfo("Pat Doe", "+12025550143", email="pat@example.com"))


def texts(tmp_path) -> list[dict]:
    path = tmp_path / "sms.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_each_reminder_goes_out_once_at_its_time_across_restarts_and_nodes(tmp_path, smtp):
    cal, clock, reminders, worker = setup(tmp_path, smtp.port)
    b = book(cal)  # Thursday 09:00 New York = 14:00 UTC
    assert reminders.run_once() == 0  # Monday: nothing due yet
    clock.now = datetime(2026, 11, 24, 14, 0, 30)  # 48 h before
    assert reminders.run_once() == 1
    assert reminders.run_once() == 0  # run again: nothing new
    restarted = Reminders(cal, reminders.settings, "America/New_York")  # a restart, or another node
    assert restarted.run_once() == 0
    assert worker.run_once() == (2, 0)
    (sms,) = texts(tmp_path)
    assert sms["to"] == "+12025550143"
    assert sms["text"] == ("Maple Street Dental: a reminder of your appointment on Thursday, November 26 at 9 AM. "
                           "To change it, call (555) 010-0100. Reply STOP to opt out.")
    assert "root canal" not in sms["text"].lower() and "Patel" not in sms["text"]  # nothing about the visit
    (mail,) = smtp.messages
    assert mail["To"] == "pat@example.com" and mail["Subject"].startswith("Reminder: your appointment at Maple Street")
    (ics,) = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]  # the same event as the confirmation's
    (event,) = parse_events(ics.get_payload(decode=True))
    assert event["uid"] == cal.get_booking(b.id).uid and ics.get_param("method") == "REQUEST"
    clock.now = datetime(2026, 11, 26, 12, 0, 30)  # 2 h before, but 07:00 in New York: quiet hours
    assert reminders.run_once() == 0
    clock.now = datetime(2026, 11, 26, 13, 0, 30)  # 08:00: it goes out
    assert reminders.run_once() == 1 and worker.run_once() == (2, 0)
    assert len(texts(tmp_path)) == 2 and len(smtp.messages) == 2


def test_a_booking_made_after_a_reminders_moment_gets_only_the_later_one(tmp_path):
    cal, clock, reminders, worker = setup(tmp_path, channels=("sms",))
    clock.now = datetime(2026, 11, 25, 13, 0)  # Wednesday 08:00 New York, 25 h before Thursday 09:00
    book(cal)
    clock.now += timedelta(minutes=1)
    assert reminders.run_once() == 0  # no "48 hours" reminder right after the booking's confirmation
    clock.now = datetime(2026, 11, 26, 13, 0, 30)  # 08:00 New York, an hour before
    assert reminders.run_once() == 1 and worker.run_once() == (1, 0)
    assert len(texts(tmp_path)) == 1


def test_when_two_are_due_at_once_only_the_nearer_goes_out(tmp_path):
    cal, clock, reminders, worker = setup(tmp_path, channels=("sms",))
    book(cal)
    clock.now = datetime(2026, 11, 26, 13, 0)  # the server was down for both moments
    assert reminders.run_once() == 1 and worker.run_once() == (1, 0)
    clock.now += timedelta(minutes=5)
    assert reminders.run_once() == 0 and len(texts(tmp_path)) == 1


def test_nothing_goes_out_in_quiet_hours(tmp_path):
    assert in_quiet_hours(time(22, 0), time(21, 0), time(8, 0)) and in_quiet_hours(time(7, 59), time(21, 0), time(8, 0))
    assert not in_quiet_hours(time(8, 0), time(21, 0), time(8, 0)) and not in_quiet_hours(time(12, 0), time(13, 0), time(13, 0))
    cal, clock, reminders, worker = setup(tmp_path, hours=(30,), channels=("sms",))
    book(cal)  # Thursday 09:00: its 30-hour reminder is due Wednesday 03:00 New York, in quiet hours
    clock.now = datetime(2026, 11, 25, 8, 0, 30)
    assert reminders.run_once() == 0
    clock.now = datetime(2026, 11, 25, 12, 59)  # 07:59
    assert reminders.run_once() == 0
    clock.now = datetime(2026, 11, 25, 13, 0)  # 08:00: queued
    assert reminders.run_once() == 1
    clock.now = datetime(2026, 11, 26, 2, 30)  # the outbox's turn comes only at 21:30: it waits
    assert worker.run_once() == (0, 1) and texts(tmp_path) == []
    clock.now = datetime(2026, 11, 26, 13, 0)  # 08:00 on Thursday: sent
    assert worker.run_once() == (1, 0) and len(texts(tmp_path)) == 1


def test_cancelled_and_moved_appointments_are_not_reminded_of_the_old_time(tmp_path):
    cal, clock, reminders, worker = setup(tmp_path, channels=("sms",))
    cancelled = book(cal, i=0)
    moved = book(cal, i=4)
    cal.cancel(cancelled.id)
    clock.now = datetime(2026, 11, 24, 17, 30)  # both 48-hour moments have passed
    assert reminders.run_once() == 1  # the one still booked
    # it is moved (a new booking that replaces it) after its reminder was queued, before it went out
    hold = cal.hold(cal.find_slots("root canal", date(2026, 11, 27))[0], "call-2")
    new = cal.book(hold.id, CallerInfo("Pat Doe", "+12025550143"), "call-2", replaces=moved.id)
    assert worker.run_once() == (1, 0) and texts(tmp_path) == []  # the queued reminder for the old time is dropped
    clock.now = datetime(2026, 11, 27, 12, 0, 30)  # Friday 07:00: quiet; the 2-hour reminder waits for 08:00
    assert reminders.run_once() == 0
    clock.now = datetime(2026, 11, 27, 13, 0)
    assert reminders.run_once() == 1 and worker.run_once() == (1, 0)
    (sms,) = texts(tmp_path)
    assert "Friday, November 27 at 9 AM" in sms["text"] and new.id != moved.id


def test_an_opted_out_caller_gets_no_text(tmp_path):
    cal, clock, reminders, worker = setup(tmp_path, channels=("sms",))
    cal.book_slot(cal.find_slots("root canal", THU)[0], CallerInfo("Pat Doe", "+12025550143", sms_opt_out=True))
    clock.now = datetime(2026, 11, 24, 14, 0, 30)
    assert reminders.run_once() == 1 and worker.run_once() == (1, 0)
    assert texts(tmp_path) == []


def test_replies_stop_help_confirm_and_reschedule(tmp_path):
    from sqlmodel import Session

    from tools.replies import Replies
    from tools.schema import Confirmation
    cal, clock, reminders, worker = setup(tmp_path, channels=("sms",))
    b = book(cal)
    replies = Replies(cal, "Maple Street Dental", "(555) 010-0100")
    assert "(555) 010-0100" in replies.handle("+12025550143", "help")
    assert replies.handle("+12025550143", "Yes!") == ("Maple Street Dental: thank you, your appointment on "
                                                      "Thursday, November 26 at 9 AM is confirmed.")
    with Session(cal.engine) as s:
        assert s.get(Confirmation, b.id) is not None
    assert "no upcoming appointment" in replies.handle("+19995550000", "C")
    assert "new time" in replies.handle("+12025550143", "R")
    (task,) = cal.callbacks()
    assert task.reason == "asked by text to reschedule" and task.phone == "+12025550143"
    assert "unsubscribed" in replies.handle("+12025550143", "STOP")
    clock.now = datetime(2026, 11, 24, 14, 0, 30)  # the 48-hour reminder: queued, but no text goes out
    assert reminders.run_once() == 1 and worker.run_once() == (1, 0) and texts(tmp_path) == []
    assert "subscribed to appointment messages again" in replies.handle("+12025550143", "start")
    clock.now = datetime(2026, 11, 26, 13, 0)
    assert reminders.run_once() == 1 and worker.run_once() == (1, 0) and len(texts(tmp_path)) == 1
    assert "reply C to confirm" in replies.handle("+12025550143", "my tooth hurts")  # no guess at free text


def test_a_database_from_before_reminders_is_migrated(tmp_path):
    import tools.records  # noqa: F401  (the call record table is in the same database)
    from sqlalchemy import inspect, text

    url = f"sqlite:///{tmp_path}/old.db"
    engine = make_engine(url)
    with engine.begin() as conn:  # back to the shape of schema version 6
        conn.execute(text("ALTER TABLE appointment DROP COLUMN attendance"))
        conn.execute(text("ALTER TABLE call_record DROP COLUMN survey_score"))
        for table in ("reminder_sent", "opt_out", "confirmation"):
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("DELETE FROM schema_version WHERE version >= 7"))
    engine.dispose()
    engine = make_engine(url)
    names = inspect(engine)
    assert {"reminder_sent", "opt_out", "confirmation"} <= set(names.get_table_names())
    assert "attendance" in {c["name"] for c in names.get_columns("appointment")}
    assert "survey_score" in {c["name"] for c in names.get_columns("call_record")}


def test_a_stop_texted_from_the_number_stops_its_email_reminders_too(tmp_path, smtp):
    from tools.replies import Replies
    cal, clock, reminders, worker = setup(tmp_path, smtp.port)
    book(cal)
    Replies(cal, "Maple Street Dental").handle("+12025550143", "STOP")
    clock.now = datetime(2026, 11, 24, 14, 0, 30)  # 48 h before: queued, and dropped by every channel
    assert reminders.run_once() == 1 and worker.run_once() == (2, 0)
    assert texts(tmp_path) == [] and smtp.messages == []
