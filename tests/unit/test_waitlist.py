"""The waitlist against a real calendar database, the outbox and the file SMS gateway: joining
from a booking call, offers of freed slots first come first served, a YES that books, a NO or a
hold that runs out passing the slot on, STOP, quiet hours and a restart."""

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from dialog.conversation import BookingPolicy, Conversation
from frontdesk.config import load_config
from tools.calendar import Calendar, CallerInfo
from tools.db import make_engine
from tools.notify import LogSmsGateway
from tools.outbox import OutboxWorker
from tools.replies import Replies
from tools.waitlist import Waitlist

CFG = load_config()
NOW = datetime(2026, 11, 23, 15, 0)  # Monday 10:00 in New York (naive UTC)
TUESDAY = date(2026, 12, 1)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clinic(tmp_path):
    clock = Clock(NOW)
    cal = Calendar(make_engine(f"sqlite:///{tmp_path}/fd.db"), CFG.clinic.timezone, clock=clock)
    cal.seed(CFG.clinic.services, CFG.clinic.providers, CFG.clinic.closures)
    booked = []
    while slots := cal.find_slots("cleaning", TUESDAY):  # Tuesday is full
        booked.append(cal.book_slot(slots[0], CallerInfo(f"Pat {len(booked)}", f"+1202555{len(booked):04d}")))
    sms = LogSmsGateway(tmp_path / "sms.jsonl")
    waitlist = Waitlist(cal, hold_minutes=30, clinic_name="Maple Street Dental", sms=sms)
    worker = OutboxWorker(cal.engine, {"waitlist_offer": waitlist.handle_offer}, clock=clock)
    replies = Replies(cal, "Maple Street Dental", "(555) 010-0100", waitlist)
    return cal, clock, waitlist, worker, replies, booked, tmp_path / "sms.jsonl"


def texts(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def call(cal, caller_id: str, *lines: str) -> Conversation:
    policy = BookingPolicy(parking=CFG.clinic.parking, insurance=tuple(CFG.clinic.insurance), spell_names=False,
                           waitlist_days=14)
    c = Conversation(CFG.clinic, None, cal, policy, call_id=f"call-{caller_id}", caller_id=caller_id,
                     clock=lambda: NOW.replace(tzinfo=timezone.utc))
    c.greeting()
    for line in lines:
        c.on_caller(line)
    return c


def test_a_caller_whose_day_is_full_joins_and_a_cancellation_is_texted_and_booked_on_yes(clinic):
    cal, clock, waitlist, worker, replies, booked, sms = clinic
    c = call(cal, "+12025550143", "I'd like a cleaning next Tuesday.", "Maria Gonzalez", "Yes.")
    assert c.state == "offer" and "I don't have anything then" in c.history[-1][1]
    turn = c.on_caller("No, neither of those work for me.")
    assert turn.intent == "waitlist_offer" and "waitlist" in turn.text
    turn = c.on_caller("Yes, please.")
    assert turn.intent == "waitlisted" and c.outcome == "waitlisted" and "2 0 2, 5 5 5, 0 1 4 3" in turn.text
    assert not c.hold  # the offered times are let go
    (entry,) = waitlist.entries("waiting")
    assert (entry.day_from, entry.day_to, entry.caller_name) == (TUESDAY.isoformat(), TUESDAY.isoformat(), "Maria Gonzalez")
    assert waitlist.run_once() == 0  # nothing has freed up
    cal.cancel(booked[3].id)  # someone cancels their Tuesday cleaning
    clock.now += timedelta(minutes=1)
    assert waitlist.run_once() == 1 and waitlist.run_once() == 0  # one offer at a time
    assert cal.find_slots("cleaning", TUESDAY) == []  # held for her: no call can book it meanwhile
    assert worker.run_once() == (1, 0)
    (text,) = texts(sms)
    when = booked[3].start.strftime("%A, %B %-d at %-I:%M %p").replace(":00 ", " ")
    assert text["to"] == "+12025550143"
    assert text["text"] == (f"Maple Street Dental: an appointment has opened up on {when}. Reply YES within 30 "
                            "minutes to book it, or NO to pass. Reply STOP to opt out.")
    answer = replies.handle("+12025550143", "Yes!")
    assert answer == f"Maple Street Dental: you are booked for {when}. To change it, call (555) 010-0100."
    mine = [b for b in cal.bookings() if b.caller_name == "Maria Gonzalez"]
    assert len(mine) == 1 and mine[0].start == booked[3].start and mine[0].status == "booked"
    assert waitlist.entries()[0].status == "booked"
    assert "no upcoming appointment" not in replies.handle("+12025550143", "YES")  # a second yes confirms the booking


def test_first_come_first_served_and_an_unanswered_offer_passes_to_the_next(clinic):
    cal, clock, waitlist, worker, replies, booked, sms = clinic
    waitlist.add("cleaning", TUESDAY, TUESDAY, "Ann Lee", "+12025550171", call_id="a")
    waitlist.add("cleaning", TUESDAY, TUESDAY, "Bo Ray", "+12025550172", call_id="b")
    cal.cancel(booked[0].id)
    assert waitlist.run_once() == 1 and worker.run_once() == (1, 0)
    assert [t["to"] for t in texts(sms)] == ["+12025550171"]
    clock.now += timedelta(minutes=29)
    assert waitlist.run_once() == 0  # still held for Ann
    clock.now += timedelta(minutes=2)  # her 30 minutes are up
    assert waitlist.run_once() == 1 and worker.run_once() == (1, 0)
    assert [t["to"] for t in texts(sms)] == ["+12025550171", "+12025550172"]
    assert "no longer held" in replies.handle("+12025550171", "yes")  # Ann too late: she stays on the list
    assert [e.status for e in waitlist.entries()] == ["waiting", "offered"]
    assert replies.handle("+12025550172", "No") == "Maple Street Dental: okay, we have passed that time on. You stay on the waitlist."
    assert waitlist.run_once() == 0  # both have had this time: nobody else waits
    assert len(cal.find_slots("cleaning", TUESDAY)) >= 1  # and the slot is free for anyone again


def test_a_slot_free_when_the_caller_joined_is_not_offered_and_past_days_expire(clinic):
    cal, clock, waitlist, worker, replies, booked, sms = clinic
    wednesday = TUESDAY + timedelta(days=1)
    waitlist.add("cleaning", TUESDAY, wednesday, "Ann Lee", "+12025550171")  # Wednesday has free times she heard
    assert waitlist.run_once() == 0
    clock.now = datetime(2026, 12, 3, 15, 0)  # Thursday: her days have passed
    waitlist.run_once()
    assert waitlist.entries()[0].status == "expired"


def test_stop_removes_the_caller_and_frees_the_held_slot_and_quiet_hours_send_nothing(clinic):
    cal, clock, waitlist, worker, replies, booked, sms = clinic
    waitlist.add("cleaning", TUESDAY, TUESDAY, "Ann Lee", "+12025550171")
    cal.cancel(booked[0].id)
    quiet = Waitlist(cal, 30, "Maple Street Dental", quiet=lambda: True, sms=waitlist.sms)
    assert quiet.run_once() == 0 and worker.run_once() == (0, 0)  # nothing in quiet hours
    assert waitlist.run_once() == 1
    restarted = Calendar(cal.engine, CFG.clinic.timezone, clock=clock, node=cal.node)
    restarted.release_holds(node=cal.node)  # what a restart of this node does to its calls' holds
    assert cal.find_slots("cleaning", TUESDAY) == []  # the waitlist's hold outlives it
    assert "unsubscribed" in replies.handle("+12025550171", "STOP")
    assert worker.run_once() == (1, 0) and texts(sms) == []  # the queued offer is not sent
    assert waitlist.entries()[0].status == "removed" and len(cal.find_slots("cleaning", TUESDAY)) >= 1


def test_with_nothing_free_at_all_the_waitlist_comes_before_a_callback(clinic):
    cal, clock, waitlist, worker, replies, booked, sms = clinic
    policy = BookingPolicy(spell_names=False, waitlist_days=14)
    c = Conversation(CFG.clinic, None, cal, policy, call_id="call-x", caller_id="+12025550143",
                     clock=lambda: NOW.replace(tzinfo=timezone.utc))
    c.greeting()
    c._search = lambda after_start=None: []  # every day full
    turn = c.on_caller("Hi, this is Maria Gonzalez, I need a cleaning, any time.")
    if turn.intent == "phone_confirm":
        turn = c.on_caller("Yes.")
    assert turn.intent == "waitlist_offer" and "couldn't find an opening" in turn.text
    turn = c.on_caller("No thanks.")
    assert turn.intent == "handoff_no_availability" and cal.callbacks()
