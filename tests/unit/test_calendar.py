"""The calendar tools against a real SQLite database (WAL), including a 50-way race."""

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pytest

from tools.calendar import Calendar, CallerInfo, HoldExpired, SlotTaken
from tools.db import make_engine


@dataclass
class Svc:
    name: str
    duration_min: int
    buffer_min: int = 0
    aliases: list = field(default_factory=list)


@dataclass
class Prov:
    name: str
    services: list
    hours: dict


WEEK = {d: ("09:00", "12:00") for d in ["mon", "tue", "wed", "thu", "fri"]} | {"sat": None, "sun": None}
NOW = datetime(2026, 11, 23, 12, 0)  # Monday, UTC


def make_cal(tmp_path, tz="America/New_York", now=NOW, url=None) -> Calendar:
    cal = Calendar(make_engine(url or f"sqlite:///{tmp_path}/cal.db"), tz, clock=lambda: now)
    cal.seed([Svc("cleaning", 45, 15), Svc("checkup", 30)],
             [Prov("Dr. Patel", ["cleaning", "checkup"], WEEK), Prov("Dr. Kim", ["checkup"], WEEK)])
    return cal


def race(cal: Calendar, slot, n: int) -> list:
    """n threads try to book one slot at the same moment; returns their bookings (None: refused)."""
    results = []
    barrier = threading.Barrier(n)

    def attempt(i):
        barrier.wait()
        try:
            results.append(cal.book_slot(slot, caller(i), f"call-{i}"))
        except SlotTaken:
            results.append(None)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def caller(n=0):
    return CallerInfo(name=f"Pat Doe{n}", phone=f"+1202555{n:04d}")


def test_slots_honour_hours_duration_buffer_and_step(tmp_path):
    cal = make_cal(tmp_path)
    tue = date(2026, 11, 24)
    slots = cal.find_slots("cleaning", tue)
    assert [s.local_start.strftime("%H:%M") for s in slots] == ["09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00", "11:15"]
    assert all(s.provider == "Dr. Patel" for s in slots)
    assert len(cal.find_slots("checkup", tue)) == 2 * 11
    assert cal.find_slots("cleaning", date(2026, 11, 28)) == []  # Saturday
    # afternoon-only filter
    assert cal.find_slots("cleaning", tue, after_local=time(12)) == []


def test_hold_blocks_others_and_booking_keeps_it_blocked(tmp_path):
    cal = make_cal(tmp_path)
    tue = date(2026, 11, 24)
    slot = cal.find_slots("cleaning", tue)[0]
    hold = cal.hold(slot, "call-1")
    with pytest.raises(SlotTaken):
        cal.hold(slot, "call-2")
    # 09:00 + 45 min + 15 min buffer: nothing before 10:00 for Dr. Patel
    starts = [s.local_start.strftime("%H:%M") for s in cal.find_slots("cleaning", tue)]
    assert starts[0] == "10:00"
    booking = cal.book(hold.id, caller(), "call-1")
    assert booking.status == "booked" and booking.start.isoformat() == "2026-11-24T09:00:00-05:00"
    with pytest.raises(HoldExpired):
        cal.book(hold.id, caller(), "call-1")
    cal.cancel(booking.id)
    assert cal.find_slots("cleaning", tue)[0].local_start.strftime("%H:%M") == "09:00"


def test_holds_expire_and_are_released_on_hangup(tmp_path):
    clock = {"now": NOW}
    cal = make_cal(tmp_path)
    cal.clock = lambda: clock["now"]
    slot = cal.find_slots("cleaning", date(2026, 11, 24))[0]
    hold = cal.hold(slot, "call-1", ttl_s=120)
    clock["now"] = NOW + timedelta(seconds=121)
    with pytest.raises(HoldExpired):
        cal.book(hold.id, caller(), "call-1")
    cal.hold(slot, "call-2")  # free again
    assert cal.release_holds("call-2") == 1
    cal.hold(slot, "call-3")


def test_dst_gap_and_overlap_days(tmp_path):
    # 2027-03-14 02:00 does not exist in New York; 2026-11-01 01:00-02:00 happens twice
    hours = {d: ("00:00", "04:00") for d in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    cal = Calendar(make_engine(f"sqlite:///{tmp_path}/dst.db"), "America/New_York", clock=lambda: datetime(2026, 1, 1))
    cal.seed([Svc("checkup", 30)], [Prov("Dr. Kim", ["checkup"], hours)])
    spring = cal.find_slots("checkup", date(2027, 3, 14))
    assert not any(s.local_start.hour == 2 for s in spring)
    assert len({s.start for s in spring}) == len(spring)
    fall = cal.find_slots("checkup", date(2026, 11, 1))
    utc = [s.start for s in fall]
    assert utc == sorted(utc) and len(set(utc)) == len(utc)


def test_fifty_concurrent_attempts_on_one_slot_give_one_booking(tmp_path):
    cal = make_cal(tmp_path)
    slot = cal.find_slots("cleaning", date(2026, 11, 24))[3]
    results = race(cal, slot, 50)
    assert len(results) == 50
    assert sum(1 for r in results if r is not None) == 1
    assert len(cal.bookings(status="booked")) == 1


def test_overlapping_different_starts_cannot_both_book(tmp_path):
    cal = make_cal(tmp_path)
    slots = {s.local_start.strftime("%H:%M"): s for s in cal.find_slots("cleaning", date(2026, 11, 24))}
    cal.book_slot(slots["09:30"], caller(1))
    with pytest.raises(SlotTaken):
        cal.book_slot(slots["09:15"], caller(2))  # would overlap 09:30-10:30


def test_find_bookings_by_phone_and_name(tmp_path):
    cal = make_cal(tmp_path)
    slot = cal.find_slots("checkup", date(2026, 11, 25))[0]
    b = cal.book_slot(slot, CallerInfo(name="Maria Gonzalez", phone="+12025550143"))
    assert [x.id for x in cal.bookings(phone="+12025550143", name="maria")] == [b.id]
    assert cal.bookings(phone="+12025550143", name="john") == []
    assert b.as_json()["start"].endswith("-05:00")


def test_postgresql_runs_the_same_code_and_keeps_the_race_to_one_booking(tmp_path, postgres_url):
    from sqlalchemy import text
    cal = make_cal(tmp_path, url=postgres_url)
    with cal.engine.begin() as conn:  # a clean slate for this test
        for table in ("claim", "hold", "outbox", "appointment", "callback_task"):
            conn.execute(text(f"DELETE FROM {table}"))
    slot = cal.find_slots("cleaning", date(2026, 11, 24))[2]
    results = race(cal, slot, 50)
    assert sum(1 for r in results if r is not None) == 1 and len(results) == 50
    (b,) = cal.bookings(status="booked")
    assert b.start == slot.local_start
    cal.cancel(b.id)
    assert cal.find_slots("cleaning", date(2026, 11, 24))[2] == slot


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_cluster_nodes_share_holds_and_one_leads_the_back_office(tmp_path, request, backend):
    """Two nodes on one database: a restarted node releases only its own holds, and the back-office
    lease has exactly one holder however many nodes race for it; it passes on when it expires."""
    from sqlalchemy import text

    from tools import lease

    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    a = make_cal(tmp_path, url=url)
    with a.engine.begin() as conn:
        for table in ("claim", "hold", "lease"):
            conn.execute(text(f"DELETE FROM {table}"))
    a.node = "node-a"
    b = Calendar(a.engine, a.timezone, clock=a.clock, node="node-b")
    slots = a.find_slots("checkup", date(2026, 11, 24))
    a.hold(slots[0], "call-on-a")
    b.hold(slots[1], "call-on-b")
    with pytest.raises(SlotTaken):
        b.hold(slots[0], "another-call-on-b")
    assert a.release_holds(node="node-a") == 1  # node a restarted: its call is gone
    assert b.hold(slots[0], "another-call-on-b")  # ... so its slot is free again
    with pytest.raises(SlotTaken):
        a.hold(slots[1], "call-on-a-2")  # node b's call still holds its slot

    winners = []
    barrier = threading.Barrier(8)

    def contend(i):
        barrier.wait()
        if lease.acquire(a.engine, "backoffice", f"node-{i}", 10, now=NOW):
            winners.append(i)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    first = f"node-{winners[0]}"
    assert lease.holder(a.engine, "backoffice", now=NOW) == first
    assert lease.acquire(a.engine, "backoffice", first, 10, now=NOW + timedelta(seconds=5))  # renewed
    assert not lease.acquire(a.engine, "backoffice", "node-x", 10, now=NOW + timedelta(seconds=12))
    assert lease.acquire(a.engine, "backoffice", "node-x", 10, now=NOW + timedelta(seconds=16))  # expired: taken over
    assert lease.holder(a.engine, "backoffice", now=NOW + timedelta(seconds=16)) == "node-x"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_call_records_replace_their_provisional_row_in_one_batch(tmp_path, request, backend):
    from sqlalchemy import text

    from tools.records import Filters, RecordStore

    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else f"sqlite:///{tmp_path}/rec.db"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM call_record WHERE call_id LIKE 'batch-%'"))
    store = RecordStore(engine)
    t = 1795600000.0
    store.save_many([{"call_id": f"batch-{i}", "started_at": t, "outcome": "failed", "node": "n1", "turns": []}
                     for i in range(50)])
    store.save_many([{"call_id": f"batch-{i}", "started_at": t, "ended_at": t + 5, "outcome": "echo",
                      "ended_by": "caller", "end_reason": "BYE", "node": "n1", "turns": [{"speaker": "caller", "text": "hi"}]}
                     for i in range(0, 50, 2)] + [{"call_id": "batch-new", "started_at": t, "outcome": "failed", "turns": []}])
    rows = {r.call_id: r for r in store.list(Filters(limit=1000)) if r.call_id.startswith("batch-")}
    assert len(rows) == 51
    assert sum(r.outcome == "echo" for r in rows.values()) == 25 and rows["batch-0"].duration_s == 5.0
    assert rows["batch-1"].outcome == "failed" and rows["batch-0"].node == "n1"
    assert store.content(rows["batch-0"])["turns"][0]["text"] == "hi"
