"""CalDAV sync against a real Radicale server; confirmations through a real SMTP server."""

from datetime import date, datetime, timedelta, timezone

import caldav
import pytest

from tools.caldav_sync import CalDavSettings, CalDavSync
from tools.calendar import CallerInfo
from tools.ics import appointment_event, parse_events, to_ics
from tools.notify import LogSmsGateway, Notifier, SmtpSettings
from tools.outbox import OutboxWorker

from .test_calendar import make_cal


def setup(tmp_path, radicale_url):
    cal = make_cal(tmp_path)
    sync = CalDavSync(cal, CalDavSettings(url=radicale_url, username="clinic", password="secret"), "Maple Street Dental", "120 Maple Street")
    worker = OutboxWorker(cal.engine, {"caldav_put": sync.push, "caldav_delete": sync.push}, base_delay_s=0.01)
    return cal, sync, worker


def remote_events(radicale, provider_slug):
    client = caldav.DAVClient(url=radicale.url, username="clinic", password="secret")
    cal = client.calendar(url=radicale.url + provider_slug + "/")
    return [e for obj in cal.events() for e in parse_events(obj.data)]


def test_booking_appears_in_caldav_with_stable_uid_and_cancel_removes_it(tmp_path, radicale):
    cal, sync, worker = setup(tmp_path, radicale.url)
    slot = cal.find_slots("cleaning", date(2026, 11, 24))[0]
    b = cal.book_slot(slot, CallerInfo("Pat Doe", "+12025550143"))
    assert worker.run_once() == (1, 0)
    events = remote_events(radicale, "dr-patel")
    assert [e["uid"] for e in events] == [b.uid]
    assert events[0]["start"] == b.start.astimezone(timezone.utc)
    cal.cancel(b.id)
    assert worker.run_once() == (1, 0)
    assert remote_events(radicale, "dr-patel") == []


def test_staff_events_block_time_and_deleting_them_frees_it(tmp_path, radicale):
    cal, sync, worker = setup(tmp_path, radicale.url)
    sync.pull()  # creates the calendars; a full listing, then sync tokens (RFC 6578)
    from tools.schema import Provider
    patel = next(p for p in cal.providers() if p.name == "Dr. Patel")
    assert sync._state(f"caldav-sync:{sync.calendar_url(patel)}").startswith("http")
    client = caldav.DAVClient(url=radicale.url, username="clinic", password="secret")
    remote = client.calendar(url=radicale.url + "dr-patel/")
    start = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)  # 09:00 New York
    ev = appointment_event(uid="staff-lunch-1", start=start, end=start + timedelta(hours=1), summary="Staff meeting")
    remote.save_event(to_ics(ev).decode())
    stats = sync.pull()
    assert stats["external"] == 1
    starts = [s.local_start.strftime("%H:%M") for s in cal.find_slots("cleaning", date(2026, 11, 24))]
    assert "09:00" not in starts and "09:30" not in starts and "10:00" in starts
    remote.event_by_uid("staff-lunch-1").delete()
    assert sync.pull()["freed"] == 1
    assert cal.find_slots("cleaning", date(2026, 11, 24))[0].local_start.strftime("%H:%M") == "09:00"


def test_server_down_bookings_wait_in_the_outbox_and_sync_later(tmp_path, radicale):
    cal, sync, worker = setup(tmp_path, radicale.url)
    radicale.stop()
    slots = cal.find_slots("cleaning", date(2026, 11, 25))
    made = [cal.book_slot(slots[0], CallerInfo("A One", "+12025550101")),
            cal.book_slot(slots[-1], CallerInfo("B Two", "+12025550102"))]
    done, failed = worker.run_once()
    assert (done, failed) == (0, 2)
    assert len(worker.pending()) == 2 and all(p.last_error for p in worker.pending())
    radicale.start()
    import time
    time.sleep(0.05)
    assert worker.run_once() == (2, 0)
    assert sorted(e["uid"] for e in remote_events(radicale, "dr-patel")) == sorted(b.uid for b in made)


def test_staff_deleting_or_cancelling_our_appointment_cancels_it_here(tmp_path, radicale):
    cal, sync, worker = setup(tmp_path, radicale.url)
    b = cal.book_slot(cal.find_slots("cleaning", date(2026, 11, 24))[0], CallerInfo("Pat Doe", "+12025550143"))
    late = cal.book_slot(cal.find_slots("cleaning", date(2026, 11, 24))[0], CallerInfo("Sam Roe", "+12025550150"))
    worker.run_once()
    client = caldav.DAVClient(url=radicale.url, username="clinic", password="secret")
    client.calendar(url=radicale.url + "dr-patel/").event_by_uid(b.uid).delete()
    assert sync.pull()["cancelled"] == 1
    assert cal.get_booking(b.id).status == "cancelled"
    event = client.calendar(url=radicale.url + "dr-patel/").event_by_uid(late.uid)
    event.icalendar_component["status"] = "CANCELLED"  # how many calendar apps cancel: the event stays
    event.save()
    assert sync.pull()["cancelled"] == 1  # an incremental pull: the event changed, it was not deleted
    assert cal.get_booking(late.id).status == "cancelled"


def test_email_confirmation_with_ics_over_real_smtp_and_sms_log(tmp_path, smtp):
    cal = make_cal(tmp_path)
    notifier = Notifier(cal, "Maple Street Dental", "120 Maple Street",
                        SmtpSettings(host="127.0.0.1", port=smtp.port, sender="desk@maple.example"),
                        LogSmsGateway(tmp_path / "sms.jsonl"))
    worker = OutboxWorker(cal.engine, {"email": notifier.handle_email, "sms": notifier.handle_sms})
    b = cal.book_slot(cal.find_slots("cleaning", date(2026, 11, 24))[0],
                      CallerInfo("Pat Doe", "+12025550143", email="pat@example.com"))
    cal.enqueue_confirmation(b.id, "email")
    cal.enqueue_confirmation(b.id, "sms")
    assert worker.run_once(kinds=("email", "sms")) == (2, 0)
    (msg,) = smtp.messages
    assert msg["To"] == "pat@example.com" and "Confirmed" in msg["Subject"]
    ics = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert ics and parse_events(ics[0].get_payload(decode=True))[0]["uid"] == b.uid
    sms = (tmp_path / "sms.jsonl").read_text()
    assert "+12025550143" in sms and "confirmed" in sms


def test_smtp_down_confirmations_queue_and_retry(tmp_path):
    from ..conftest import Smtp
    cal = make_cal(tmp_path)
    port_holder = Smtp()
    port = port_holder.port
    port_holder.stop()
    notifier = Notifier(cal, "Maple", "", SmtpSettings(host="127.0.0.1", port=port, timeout_s=2), LogSmsGateway(tmp_path / "s"))
    worker = OutboxWorker(cal.engine, {"email": notifier.handle_email}, base_delay_s=0.0)
    b = cal.book_slot(cal.find_slots("cleaning", date(2026, 11, 24))[0], CallerInfo("Pat", "+12025550143", email="p@example.com"))
    cal.enqueue_confirmation(b.id, "email")
    assert worker.run_once(kinds=("email",)) == (0, 1)
    assert worker.run_once(kinds=("email",)) == (0, 1)  # still down: attempts grow, nothing lost
    assert [p.attempts for p in worker.pending() if p.kind == "email"] == [2]


def test_a_category_or_status_staff_put_on_a_past_appointment_marks_its_attendance(tmp_path, radicale):
    from datetime import datetime

    cal, sync, worker = setup(tmp_path, radicale.url)
    sync.pull()
    b = cal.book_slot(cal.find_slots("cleaning", date(2026, 11, 24))[0], CallerInfo("Pat Doe", "+12025550143"))
    late = cal.book_slot(cal.find_slots("cleaning", date(2026, 11, 24))[0], CallerInfo("Sam Roe", "+12025550150"))
    worker.run_once()
    sync.pull()
    cal.clock = lambda: datetime(2026, 11, 25, 12, 0)  # the day after the visit
    client = caldav.DAVClient(url=radicale.url, username="clinic", password="secret")
    event = client.calendar(url=radicale.url + "dr-patel/").event_by_uid(b.uid)
    event.icalendar_component.add("categories", ["No-show"])
    event.save()
    assert sync.pull().get("attendance") == 1
    assert cal.get_booking(b.id).attendance == "no_show"
    assert sync.pull().get("attendance") is None  # nothing new
    event = client.calendar(url=radicale.url + "dr-patel/").event_by_uid(late.uid)
    event.icalendar_component["status"] = "CANCELLED"  # staff: cancelled, but too late to fill the time
    event.save()
    assert sync.pull().get("attendance") == 1
    assert cal.get_booking(late.id).attendance == "late_cancel" and cal.get_booking(late.id).status == "booked"


def test_time_staff_free_in_caldav_is_offered_to_the_waitlist(tmp_path, radicale):
    from tools.waitlist import Waitlist

    cal, sync, worker = setup(tmp_path, radicale.url)
    sync.pull()
    client = caldav.DAVClient(url=radicale.url, username="clinic", password="secret")
    remote = client.calendar(url=radicale.url + "dr-patel/")
    start = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)  # Tuesday 09:00-12:00 New York: Dr. Patel's day
    remote.save_event(to_ics(appointment_event(uid="staff-training-1", start=start, end=start + timedelta(hours=3),
                                               summary="Training")).decode())
    sync.pull()
    tuesday = date(2026, 11, 24)
    assert cal.find_slots("cleaning", tuesday) == []
    sms = LogSmsGateway(tmp_path / "sms.jsonl")
    waitlist = Waitlist(cal, 30, "Maple Street Dental", sms=sms)
    waitlist.add("cleaning", tuesday, tuesday, "Pat Doe", "+12025550143")
    assert waitlist.run_once() == 0
    remote.event_by_uid("staff-training-1").delete()  # the training is called off
    assert sync.pull()["freed"] == 1
    assert waitlist.run_once() == 1
    offers = OutboxWorker(cal.engine, {"waitlist_offer": waitlist.handle_offer})
    assert offers.run_once() == (1, 0)
    assert "Tuesday, November 24 at 9 AM" in (tmp_path / "sms.jsonl").read_text()
