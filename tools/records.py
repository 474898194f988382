"""Call records, the audit log and staff-edited settings, in the clinic database (dashboard
accounts: tools/users.py).

A call record has two parts. The columns hold what the measures need (times, numbers, outcome,
counts, latency percentiles) and stay for good. ``content`` holds the transcript, the
qualification fields, tool calls and media details, optionally encrypted (``tools.crypto``). The
retention purge empties ``content`` (and deletes a recording) once it is older than the retention
period, so the aggregate metrics survive while the PHI does not.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from pydantic import NaiveDatetime
from sqlalchemy import and_, case, func, or_
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from .crypto import ContentCipher
from .schema import CallbackTask
from .redact import redact_record

OUTCOMES = ("booked", "cancelled", "rescheduled", "waitlisted", "transferred", "callback", "faq_only", "abandoned",
            "failed")


def _utc(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None) if ts else None


def record_json(value: Any) -> Any:
    """json.dumps' fallback for a record: a dataclass (a caller may put one in) as its fields."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} in a call record is not JSON")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class CallRow(SQLModel, table=True):
    __tablename__ = "call_record"
    call_id: str = Field(primary_key=True)  # frontdesk's own id for the call (never the other side's)
    external_id: str = Field(default="", index=True)  # the SIP Call-ID / callSid it came with
    started_at: NaiveDatetime = Field(index=True)
    answered_at: NaiveDatetime | None = None
    ended_at: NaiveDatetime | None = None
    caller: str = ""  # the caller's number or URI
    called: str = ""  # the DID or URI that was called
    ingress: str = "sip"
    transport: str = ""
    node: str = ""  # the frontdesk node that answered (a cluster shares this table)
    codec: str = ""
    outcome: str = Field(default="", index=True)
    handoff_reason: str = Field(default="", index=True)
    ended_by: str = ""
    end_reason: str = ""
    duration_s: float = 0.0
    caller_turns: int = 0
    misunderstandings: int = 0  # reprompts and low-confidence turns
    tool_failures: int = 0
    latency_p50_ms: int | None = None
    latency_p95_ms: int | None = None
    rtp_lost: int = 0
    rtp_jitter_ms: float = 0.0
    summary: str = ""
    content: str = ""  # JSON (or "enc:" + Fernet token) of the full record; empty once purged
    recording: str = ""  # path of the WAV, when recording is on
    purged_at: NaiveDatetime | None = None
    survey_score: int | None = None  # 1-5, the caller's answer to the optional end-of-call question


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    id: int | None = Field(default=None, primary_key=True)
    at: NaiveDatetime = Field(index=True)
    username: str = ""
    action: str = Field(index=True)  # view_call | export_call | login | login_failed | settings | purge | task
    call_id: str = Field(default="", index=True)
    detail: str = ""


class Setting(SQLModel, table=True):
    key: str = Field(primary_key=True)
    value: str  # JSON


@dataclass
class Filters:
    since: datetime | None = None
    until: datetime | None = None
    outcome: str = ""
    handoff_reason: str = ""
    limit: int = 200


def _pct(values: list[float], q: float) -> int | None:
    if not values:
        return None
    values = sorted(values)
    return int(round(values[min(len(values) - 1, int(round(q * (len(values) - 1))))]))


class RecordStore:
    def __init__(self, engine: Engine, cipher: ContentCipher | None = None, redact_content: bool = False):
        self.engine = engine
        self.cipher = cipher or ContentCipher(None)
        self.redact_content = redact_content
        self._upsert_stmt = None

    # -- writing ---------------------------------------------------------------------------

    def save(self, record: dict) -> CallRow:
        """Store (or replace) a finished call's record, given as the CallRecord dict."""
        return self.save_many([record])[0]

    def save_many(self, records: list[dict]) -> list[CallRow]:
        """Store several records in one transaction (the call log batches what queued up)."""
        rows = [self._row(r) for r in records]
        if not rows:
            return rows
        # one INSERT ... ON CONFLICT DO UPDATE for the batch (a final record replaces the
        # provisional one), not a SELECT and a write per row
        stmt = self._upsert()
        if stmt is not None:
            table = CallRow.__table__
            values = [{c.name: getattr(row, c.name) for c in table.columns} for row in rows]
            with self.engine.begin() as conn:
                conn.execute(stmt, values)
            return rows
        with Session(self.engine) as s:
            for row in rows:
                s.merge(row)
            s.commit()
        return rows

    def _upsert(self):
        """The batch statement, built once: building it makes a web of objects for the collector."""
        if self._upsert_stmt is None and self.engine.dialect.name in ("sqlite", "postgresql"):
            if self.engine.dialect.name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as upsert
            else:
                from sqlalchemy.dialects.postgresql import insert as upsert
            table = CallRow.__table__
            stmt = upsert(table)
            self._upsert_stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.call_id],
                set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name != "call_id"})
        return self._upsert_stmt

    def _row(self, record: dict) -> CallRow:
        rec = redact_record(record) if self.redact_content else record
        totals = [t["total_ms"] for t in record.get("latency", []) if t.get("total_ms") is not None]
        rtp = record.get("rtp") or {}
        qual = record.get("qualification") or {}
        started = record.get("started_at") or 0.0
        ended = record.get("ended_at") or started
        row = CallRow(
            call_id=record["call_id"], external_id=record.get("external_id", record["call_id"]),
            started_at=_utc(started) or utcnow(), answered_at=_utc(record.get("answered_at")),
            ended_at=_utc(record.get("ended_at")),
            caller=(_mask(record.get("caller_number") or "") or "withheld") if self.cipher.enabled else
            record.get("caller_number") or record.get("caller", ""),
            called=record.get("called", ""), ingress=record.get("ingress", "sip"), transport=record.get("transport", ""),
            node=record.get("node", ""), codec=record.get("codec", ""), outcome=record.get("outcome", ""), handoff_reason=qual.get("handoff_reason", ""),
            ended_by=record.get("ended_by", ""), end_reason=record.get("end_reason", ""),
            duration_s=round(max(0.0, ended - started), 2),
            caller_turns=sum(1 for t in record.get("turns", []) if t.get("speaker") == "caller"),
            misunderstandings=record.get("misunderstandings", 0),
            tool_failures=sum(1 for c in record.get("tool_calls", []) if c.get("error")),
            latency_p50_ms=_pct(totals, 0.5), latency_p95_ms=_pct(totals, 0.95),
            rtp_lost=int(rtp.get("lost_in", 0) or 0), rtp_jitter_ms=float(rtp.get("jitter_in_ms", 0.0) or 0.0),
            summary=record.get("summary", ""), content=self.cipher.seal(json.dumps(rec, default=record_json)),
            recording=record.get("recording", ""), survey_score=qual.get("survey_score"))
        return row

    def mark_failed_if_open(self, call_id: str, started_at: float, caller: str, called: str, reason: str,
                            external_id: str = "") -> None:
        """A call that was live when the process died: kept as failed, not lost."""
        self.save({"call_id": call_id, "external_id": external_id or call_id, "started_at": started_at,
                   "caller": caller, "called": called,
                   "outcome": "failed", "ended_by": "", "end_reason": reason, "turns": []})

    # -- reading ---------------------------------------------------------------------------

    def get(self, call_id: str) -> CallRow | None:
        with Session(self.engine) as s:
            return s.get(CallRow, call_id)

    def by_external_id(self, external_id: str) -> list[CallRow]:
        """Every call that came with this Call-ID or callSid, oldest first (a reused one is kept)."""
        with Session(self.engine) as s:
            return list(s.exec(select(CallRow).where(CallRow.external_id == external_id)
                               .order_by(CallRow.started_at)).all())

    def content(self, row: CallRow) -> dict:
        """The full record (transcript and all), or {} once purged."""
        if not row.content:
            return {}
        return json.loads(self.cipher.open(row.content))

    def list(self, f: Filters | None = None) -> list[CallRow]:
        f = f or Filters()
        with Session(self.engine) as s:
            q = select(CallRow)
            if f.since:
                q = q.where(CallRow.started_at >= f.since)
            if f.until:
                q = q.where(CallRow.started_at < f.until)
            if f.outcome:
                q = q.where(CallRow.outcome == f.outcome)
            if f.handoff_reason:
                q = q.where(CallRow.handoff_reason == f.handoff_reason)
            return list(s.exec(q.order_by(CallRow.started_at.desc()).limit(f.limit)))  # type: ignore[union-attr]

    def records(self, since: datetime | None = None) -> list[dict]:
        """Full records, oldest first (purged ones as their columns only)."""
        rows = self.list(Filters(since=since, limit=10**9))
        out = []
        for row in reversed(rows):
            content = self.content(row)
            out.append(content or {"call_id": row.call_id, "outcome": row.outcome, "purged": True})
        return out

    def handoff_reasons(self) -> list[str]:
        with Session(self.engine) as s:
            return sorted(r for r in s.exec(select(CallRow.handoff_reason).distinct()) if r)

    # -- the measures ----------------------------------------------------------------------

    def report(self, since: datetime | None = None) -> dict[str, Any]:
        """The measures, computed by the database: /metrics asks for them every few seconds, and a
        clinic's history grows without end, so no call row is loaded into memory."""
        c = CallRow
        # the callers' calls; the reminder calls frontdesk placed (outcome "reminder_...") are counted apart
        placed = c.outcome.like("reminder_%")  # type: ignore[attr-defined]
        where = ([c.started_at >= since] if since else []) + [~placed]
        answered = c.answered_at.is_not(None)  # type: ignore[union-attr]
        booking_call = or_(c.outcome.in_(("booked", "rescheduled", "abandoned")),  # type: ignore[attr-defined]
                           and_(c.outcome.in_(("transferred", "callback")), c.handoff_reason == ""))  # type: ignore[attr-defined]
        with Session(self.engine) as s:
            n, n_answered, answered_s, n_booking, misunderstood, tool_failures, p95 = s.exec(
                select(func.count(), func.count(c.answered_at), func.sum(case((answered, c.duration_s))),
                       func.count(case((booking_call, 1))), func.sum(c.misunderstandings),
                       func.sum(c.tool_failures), func.max(c.latency_p95_ms)).where(*where)).one()
            by_outcome = dict(s.exec(select(c.outcome, func.count()).where(*where).group_by(c.outcome)).all())
            p50 = self._median(s, c.latency_p50_ms, where)
            surveyed, score = s.exec(select(func.count(c.survey_score), func.avg(c.survey_score)).where(*where)).one()
            reminders = dict(s.exec(select(c.outcome, func.count()).where(*where[:-1], placed).group_by(c.outcome)).all())
        outcomes = {o: by_outcome.get(o, 0) for o in OUTCOMES}
        booked = outcomes["booked"] + outcomes["rescheduled"]
        return {
            "since": since.isoformat() if since else None,
            "calls": n,
            "answered": n_answered,
            "answer_rate": round(n_answered / n, 3) if n else None,
            "average_duration_s": round(answered_s / n_answered, 1) if n_answered else None,
            "outcomes": outcomes,
            "booking_completion_rate": round(booked / n_booking, 3) if n_booking else None,
            "handoff_rate": round((outcomes["transferred"] + outcomes["callback"]) / n, 3) if n else None,
            "misunderstandings_per_call": round(misunderstood / n, 2) if n else None,
            "calendar_tool_failures": tool_failures or 0,
            "latency_p50_ms": int(p50) if p50 is not None else None,
            "latency_p95_ms": p95,
            "survey_answers": surveyed,
            "survey_average": round(float(score), 2) if surveyed else None,
            "reminder_calls": {o.removeprefix("reminder_"): n for o, n in sorted(reminders.items())},
        }

    @staticmethod
    def _median(s: Session, column: Any, where: list) -> float | None:
        """The median of a column's non-null values (the mean of the middle two for an even count)."""
        present = [*where, column.is_not(None)]
        m = s.exec(select(func.count(column)).where(*present)).one()
        if not m:
            return None
        middle = s.exec(select(column).where(*present).order_by(column).offset((m - 1) // 2).limit(2 - m % 2)).all()
        return statistics.mean(middle)

    # -- retention ---------------------------------------------------------------------------

    def purge(self, retention_days: int, now: datetime | None = None) -> int:
        """Empty the content (and delete the recording) of calls older than the retention period."""
        cutoff = (now or utcnow()) - timedelta(days=retention_days)
        done = 0
        with Session(self.engine) as s:
            rows = s.exec(select(CallRow).where(CallRow.started_at < cutoff, CallRow.purged_at.is_(None))).all()  # type: ignore[union-attr]
            for row in rows:
                if row.recording:
                    Path(row.recording).unlink(missing_ok=True)
                row.content, row.recording, row.summary = "", "", ""
                row.caller = _mask(row.caller)
                row.purged_at = now or utcnow()
                s.add(row)
                done += 1
            for task in s.exec(select(CallbackTask).where(CallbackTask.created_at < cutoff,
                                                          CallbackTask.details != "{}")).all():
                task.details = "{}"  # the conversation excerpt kept for the person calling back
                s.add(task)
            if done:
                s.add(AuditEvent(at=utcnow(), username="system", action="purge",
                                 detail=f"{done} calls older than {retention_days} days"))
            s.commit()
        return done

    # -- audit -------------------------------------------------------------------------------

    def audit(self, username: str, action: str, call_id: str = "", detail: str = "") -> None:
        if action == "login_failed" and self.cipher.enabled:
            username = self.cipher.seal(username)  # what was typed as a user name may be a password
        with Session(self.engine) as s:
            s.add(AuditEvent(at=utcnow(), username=username, action=action, call_id=call_id, detail=detail))
            s.commit()

    def audit_log(self, limit: int = 500, call_id: str = "") -> list[AuditEvent]:
        """The audit log, newest first (sealed user names of failed logins opened)."""
        return [self._opened_event(e) for e in self._audit_rows(limit, call_id)]

    def _opened_event(self, e: AuditEvent) -> AuditEvent:
        if e.username.startswith("enc:"):
            try:
                return AuditEvent(**{**e.model_dump(), "username": self.cipher.open(e.username)})
            except Exception:
                return e
        return e

    def _audit_rows(self, limit: int = 500, call_id: str = "") -> list[AuditEvent]:
        with Session(self.engine) as s:
            q = select(AuditEvent)
            if call_id:
                q = q.where(AuditEvent.call_id == call_id)
            return list(s.exec(q.order_by(AuditEvent.id.desc()).limit(limit)))  # type: ignore[union-attr]

    # -- settings ------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        with Session(self.engine) as s:
            return {row.key: json.loads(row.value) for row in s.exec(select(Setting))}

    def save_settings(self, values: dict[str, Any]) -> None:
        with Session(self.engine) as s:
            for key, value in values.items():
                s.merge(Setting(key=key, value=json.dumps(value)))
            s.commit()

    def count(self) -> int:
        with Session(self.engine) as s:
            return s.exec(select(func.count()).select_from(CallRow)).one()


def _mask(number: str) -> str:
    """Keep the last two digits of a purged caller number (enough to tell calls apart in a list)."""
    digits = [c for c in number if c.isdigit()]
    return ("…" + "".join(digits[-2:])) if digits else ""


def rows_as_dicts(rows: Iterable[SQLModel]) -> list[dict]:
    return [r.model_dump(mode="json") for r in rows]
