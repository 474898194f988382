"""The clinic's data: providers, services, hours, appointments, holds, callbacks, outbox, reminders.

Times are stored in UTC (naive datetimes meaning UTC); the clinic's time zone is applied when
slots are computed and when anything is spoken or exported.

No double booking is enforced by the database: every appointment and live hold claims the
5-minute granules it covers (plus buffer) in ``claim``, whose primary key is
(provider_id, granule). Two overlapping claims cannot both commit, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from pydantic import NaiveDatetime
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

GRANULE_MIN = 5


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "schema_version"
    version: int = Field(primary_key=True)
    applied_at: NaiveDatetime


class Provider(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    calendar: str = ""  # CalDAV calendar path or name
    active: bool = True


class Service(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    duration_min: int
    buffer_min: int = 0
    aliases: str = ""  # comma-separated


class ProviderService(SQLModel, table=True):
    __tablename__ = "provider_service"
    provider_id: int = Field(foreign_key="provider.id", primary_key=True)
    service_id: int = Field(foreign_key="service.id", primary_key=True)


class ProviderHours(SQLModel, table=True):
    __tablename__ = "provider_hours"
    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    weekday: int  # 0 = Monday
    start: str  # HH:MM local
    end: str


class Closure(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    provider_id: int | None = Field(default=None, foreign_key="provider.id")  # None: whole clinic
    day: str = Field(index=True)  # YYYY-MM-DD local
    reason: str = ""


class Caller(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)  # sealed when privacy.encrypt is on (as are phone, email, dob)
    phone: str = Field(index=True)  # E.164
    phone_key: str = Field(default="", index=True)  # what the number is found by (tools.crypto.lookup_key)
    email: str = ""
    dob: str = ""
    new_patient: bool | None = None
    email_opt_out: bool = False
    sms_opt_out: bool = False


class Appointment(SQLModel, table=True):
    id: str = Field(primary_key=True)
    uid: str = Field(index=True, unique=True)  # stable iCalendar UID
    provider_id: int = Field(foreign_key="provider.id", index=True)
    service_id: int = Field(foreign_key="service.id")
    start: NaiveDatetime = Field(index=True)
    end: NaiveDatetime
    caller_id: int | None = Field(default=None, foreign_key="caller.id")
    caller_name: str = ""  # caller_name, phone, email and reason are sealed when privacy.encrypt is on
    phone: str = ""
    phone_key: str = Field(default="", index=True)  # what the number is found by (tools.crypto.lookup_key)
    email: str = ""
    reason: str = ""
    status: str = "booked"  # booked | cancelled
    name_unverified: bool = False  # the agent could not confirm the spelling: staff check it
    attendance: str = ""  # staff, once it is past: attended | no_show | late_cancel
    call_id: str = ""  # the call that booked it (empty: booked by staff)
    created_at: NaiveDatetime
    updated_at: NaiveDatetime
    sequence: int = 0  # iCalendar SEQUENCE


class Hold(SQLModel, table=True):
    id: str = Field(primary_key=True)
    provider_id: int = Field(foreign_key="provider.id")
    service_id: int = Field(foreign_key="service.id")
    start: NaiveDatetime
    end: NaiveDatetime
    call_id: str = Field(index=True)
    expires_at: NaiveDatetime = Field(index=True)
    node: str = Field(default="", index=True)  # the frontdesk node whose call holds it (a cluster shares the DB)


class Lease(SQLModel, table=True):
    """A job that one node of a cluster runs at a time (the back office: outbox and CalDAV sync)."""
    name: str = Field(primary_key=True)
    holder: str
    expires_at: NaiveDatetime


class Claim(SQLModel, table=True):
    provider_id: int = Field(primary_key=True)
    granule: int = Field(primary_key=True)  # minutes since the epoch // GRANULE_MIN
    owner: str = Field(index=True)  # "hold:<id>" or "appt:<id>"


class ExternalEvent(SQLModel, table=True):
    """Busy time that staff put in the CalDAV calendar (not created by frontdesk)."""

    __tablename__ = "external_event"
    href: str = Field(primary_key=True)
    uid: str = Field(index=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    start: NaiveDatetime
    end: NaiveDatetime
    etag: str = ""
    summary: str = ""


class CallbackTask(SQLModel, table=True):
    __tablename__ = "callback_task"
    id: int | None = Field(default=None, primary_key=True)
    created_at: NaiveDatetime
    call_id: str = Field(index=True)
    reason: str
    caller_name: str = ""
    phone: str = ""
    details: str = "{}"  # JSON: every field collected on the call
    urgency: str = "normal"
    status: str = "open"  # open | done
    assigned_to: str = ""
    notes: str = ""


class Outbox(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)  # caldav_put | caldav_delete | email | sms
    payload: str  # JSON
    created_at: NaiveDatetime
    attempts: int = 0
    next_attempt_at: NaiveDatetime = Field(index=True)
    last_error: str = ""
    done_at: NaiveDatetime | None = Field(default=None, index=True)


class ReminderSent(SQLModel, table=True):
    """One reminder queued for one appointment at one of its start times: the unique key makes it
    exactly once across restarts and cluster nodes, and a moved appointment gets its own."""
    __tablename__ = "reminder_sent"
    __table_args__ = (UniqueConstraint("appointment_id", "before_min", "start"),)
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: str = Field(index=True)
    before_min: int
    start: NaiveDatetime  # the appointment's start (UTC) the reminder was for
    queued_at: NaiveDatetime
    skipped: bool = False  # due while a later reminder was due too: only the later one goes out


class OptOut(SQLModel, table=True):
    """A number that texted STOP: no text, reminder or call goes to it until it texts START."""
    __tablename__ = "opt_out"
    phone_key: str = Field(primary_key=True)  # tools.crypto.lookup_key of the number
    since: NaiveDatetime
    keyword: str = ""


class CallConsent(SQLModel, table=True):
    """A caller said yes to reminder calls during a booking call: when, and on which call."""
    __tablename__ = "call_consent"
    phone_key: str = Field(primary_key=True)  # tools.crypto.lookup_key of the number
    given_at: NaiveDatetime
    call_id: str  # the booking call the caller said yes on


class ReminderCall(SQLModel, table=True):
    """One reminder call placed (tools.reminder_calls): its attempt and how it went."""
    __tablename__ = "reminder_call"
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: str = Field(index=True)
    attempt: int  # 1, 2, ...
    placed_at: NaiveDatetime
    call_id: str = ""  # the SIP Call-ID of the call placed
    result: str = "placing"  # placing | confirmed | reschedule | cancelled | kept | voicemail | no answer | busy | ...
    ended_at: NaiveDatetime | None = None


class Confirmation(SQLModel, table=True):
    """The caller confirmed an appointment (a "C" reply to its reminder)."""
    appointment_id: str = Field(primary_key=True)
    at: NaiveDatetime
    via: str = "sms"


class SyncState(SQLModel, table=True):
    __tablename__ = "sync_state"
    key: str = Field(primary_key=True)
    value: str = ""


class WaitlistEntry(SQLModel, table=True):
    """A caller who found no time that suited: texted when a matching slot frees up (tools.waitlist)."""
    __tablename__ = "waitlist"
    id: int | None = Field(default=None, primary_key=True)
    created_at: NaiveDatetime
    call_id: str = ""
    service_id: int = Field(foreign_key="service.id")
    provider_id: int | None = Field(default=None, foreign_key="provider.id")  # None: any provider
    day_from: str  # YYYY-MM-DD, clinic time
    day_to: str
    after: str = ""  # HH:MM clinic time, or "" for any
    before: str = ""
    caller_name: str = ""  # caller_name and phone are sealed when privacy.encrypt is on
    phone: str = ""
    phone_key: str = Field(default="", index=True)
    status: str = Field(default="waiting", index=True)  # waiting | offered | booked | expired | removed
    seen: str = "[]"  # JSON: slot ids free when the caller joined, or offered and let go: not offered (again)
    hold_id: str = ""  # the slot held for the caller while an offer is out
    offer_expires_at: NaiveDatetime | None = None
    appointment_id: str = ""  # what a "YES" booked
