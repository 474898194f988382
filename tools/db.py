"""Database engine (SQLite in WAL mode by default, PostgreSQL by URL) and versioned migrations."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine, select

from . import records, schema, users  # noqa: F401  (registers the tables)
from .schema import SchemaVersion


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url[len("sqlite:///"):]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    migrate(engine)
    return engine


def _v1(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)


def _v2(engine: Engine) -> None:
    """Call records, dashboard users, the audit log and settings (create_all adds only missing tables)."""
    SQLModel.metadata.create_all(engine)


def _v3(engine: Engine) -> None:
    """Clusters: the lease table, the node that made each hold and the node that answered each call."""
    SQLModel.metadata.create_all(engine)
    for table, index in (("hold", True), ("call_record", False)):
        if "node" not in {c["name"] for c in inspect(engine).get_columns(table)}:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN node VARCHAR NOT NULL DEFAULT ''"))
                if index:
                    conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table}_node ON {table} (node)"))


def _v4(engine: Engine) -> None:
    """An appointment whose caller name the agent could not confirm is flagged for staff."""
    if "name_unverified" not in {c["name"] for c in inspect(engine).get_columns("appointment")}:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE appointment ADD COLUMN name_unverified BOOLEAN NOT NULL DEFAULT FALSE"))


def _v5(engine: Engine) -> None:
    """Call records keyed by frontdesk's own id; the Call-ID the call came with is kept beside it
    (a reused Call-ID used to replace the earlier call's record)."""
    if "external_id" not in {c["name"] for c in inspect(engine).get_columns("call_record")}:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE call_record ADD COLUMN external_id VARCHAR NOT NULL DEFAULT ''"))
            conn.execute(text("UPDATE call_record SET external_id = call_id"))
            conn.execute(text("CREATE INDEX IF NOT EXISTS ix_call_record_external_id ON call_record (external_id)"))


def _v6(engine: Engine) -> None:
    """Callers' numbers found by a lookup key, so that the number itself can be stored sealed."""
    for table in ("appointment", "caller"):
        if "phone_key" not in {c["name"] for c in inspect(engine).get_columns(table)}:
            with engine.begin() as conn:
                conn.execute(text(f"ALTER TABLE {table} ADD COLUMN phone_key VARCHAR NOT NULL DEFAULT ''"))
                conn.execute(text(f"UPDATE {table} SET phone_key = phone"))
                conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table}_phone_key ON {table} (phone_key)"))


def _v7(engine: Engine) -> None:
    """Staff mark each past appointment attended, no-show or cancelled late (no-show rates); and the
    tables of reminders sent, numbers that texted STOP and appointments confirmed by text."""
    SQLModel.metadata.create_all(engine)
    if "attendance" not in {c["name"] for c in inspect(engine).get_columns("appointment")}:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE appointment ADD COLUMN attendance VARCHAR NOT NULL DEFAULT ''"))


def _v8(engine: Engine) -> None:
    """The answer to the optional end-of-call survey, kept as a column for the report."""
    if "survey_score" not in {c["name"] for c in inspect(engine).get_columns("call_record")}:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE call_record ADD COLUMN survey_score INTEGER"))


def _v9(engine: Engine) -> None:
    """The waitlist: callers texted when a slot that suits them frees up."""
    SQLModel.metadata.create_all(engine)


def _v10(engine: Engine) -> None:
    """Reminder calls: the callers' consent, and each call placed."""
    SQLModel.metadata.create_all(engine)


# Append new migrations; never edit an applied one.
MIGRATIONS: list[tuple[int, Callable[[Engine], None]]] = [(1, _v1), (2, _v2), (3, _v3), (4, _v4), (5, _v5), (6, _v6),
                                                          (7, _v7), (8, _v8), (9, _v9), (10, _v10)]


def schema_version(engine: Engine) -> int:
    SchemaVersion.__table__.create(engine, checkfirst=True)
    with Session(engine) as s:
        versions = s.exec(select(SchemaVersion.version)).all()
    return max(versions, default=0)


MIGRATION_LOCK = 0x66647362  # a PostgreSQL advisory lock: nodes starting together migrate one at a time


def migrate(engine: Engine) -> int:
    if engine.dialect.name != "postgresql":
        return _migrate(engine)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        try:
            return _migrate(engine)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            conn.commit()


def _migrate(engine: Engine) -> int:
    current = schema_version(engine)
    for version, step in MIGRATIONS:
        if version > current:
            step(engine)
            with Session(engine) as s:
                s.add(SchemaVersion(version=version, applied_at=utcnow()))
                s.commit()
            current = version
    return current


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
