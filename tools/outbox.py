"""The outbox: CalDAV writes, emails and texts that must happen, retried with backoff until they do.

Work is written to the outbox in the same transaction as the booking that caused it, so a crash
or a down server loses nothing: the worker picks it up again.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from .db import utcnow
from .schema import Outbox

log = logging.getLogger("frontdesk.outbox")
Handler = Callable[[dict], None]


class OutboxWorker:
    def __init__(self, engine: Engine, handlers: dict[str, Handler], *, base_delay_s: float = 5.0,
                 max_delay_s: float = 900.0, clock: Callable[[], datetime] = utcnow):
        self.engine = engine
        self.handlers = handlers
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.clock = clock

    def pending(self) -> list[Outbox]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(s.exec(select(Outbox).where(Outbox.done_at == None)).all())  # noqa: E711

    def run_once(self, kinds: tuple[str, ...] | None = None) -> tuple[int, int]:
        """Try every due item once; returns (done, failed)."""
        now = self.clock()
        done = failed = 0
        with Session(self.engine, expire_on_commit=False) as s:
            q = select(Outbox).where(Outbox.done_at == None, Outbox.next_attempt_at <= now)  # noqa: E711
            items = list(s.exec(q.order_by(Outbox.id)).all())
        for item in items:
            if kinds and item.kind not in kinds:
                continue
            handler = self.handlers.get(item.kind)
            if handler is None:
                continue
            try:
                handler(json.loads(item.payload))
            except Exception as exc:  # retried later; never lost
                failed += 1
                self._failed(item.id, exc)
            else:
                done += 1
                self._done(item.id)
        return done, failed

    def _done(self, item_id: int) -> None:
        with Session(self.engine, expire_on_commit=False) as s:
            item = s.get(Outbox, item_id)
            item.done_at = self.clock()
            item.attempts += 1
            item.last_error = ""
            s.add(item)
            s.commit()

    def _failed(self, item_id: int, exc: Exception) -> None:
        with Session(self.engine, expire_on_commit=False) as s:
            item = s.get(Outbox, item_id)
            item.attempts += 1
            delay = min(self.base_delay_s * 2 ** (item.attempts - 1), self.max_delay_s)
            item.next_attempt_at = self.clock() + timedelta(seconds=delay)
            item.last_error = f"{type(exc).__name__}: {exc}"[:500]
            s.add(item)
            s.commit()
        log.warning("outbox item %s failed (attempt %s), retrying in %.0f s: %s", item_id, item.attempts, delay, exc)
