"""A lease in the shared database: one node of a cluster runs a job at a time.

``acquire`` takes or renews the lease in one conditional UPDATE (or the INSERT that creates it), so
two nodes racing for it cannot both win, on SQLite or PostgreSQL. A holder that dies loses it when
it expires; any other node then takes it over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from .db import utcnow
from .schema import Lease

_T = Lease.__table__


def acquire(engine: Engine, name: str, holder: str, ttl_s: float, now: datetime | None = None) -> bool:
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl_s)
    with engine.begin() as conn:
        taken = conn.execute(update(_T).where(_T.c.name == name, or_(_T.c.holder == holder, _T.c.expires_at < now))
                             .values(holder=holder, expires_at=expires)).rowcount
    if taken == 1:
        return True
    try:
        with engine.begin() as conn:
            conn.execute(insert(_T).values(name=name, holder=holder, expires_at=expires))
        return True
    except IntegrityError:  # someone else holds it (or created it just now)
        return False


def release(engine: Engine, name: str, holder: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(_T).where(_T.c.name == name, _T.c.holder == holder))


def holder(engine: Engine, name: str, now: datetime | None = None) -> str | None:
    """Who holds the lease now (None: nobody, or it expired)."""
    with engine.connect() as conn:
        row = conn.execute(select(_T.c.holder, _T.c.expires_at).where(_T.c.name == name)).first()
    return row[0] if row is not None and row[1] >= (now or utcnow()) else None
