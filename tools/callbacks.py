"""Callback tasks: what the agent hands to staff (a person asked for, a question it cannot
answer, a complaint, a reschedule asked for by text). Part of the calendar tool (a mixin of
``tools.calendar.Calendar``: it shares its database and the sealing of callers' words)."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from .schema import CallbackTask


class CallbackTasks:
    def add_callback(self, call_id: str, reason: str, caller_name: str = "", phone: str = "",
                     details: dict | None = None, urgency: str = "normal") -> CallbackTask:
        with Session(self.engine, expire_on_commit=False) as s:
            task = CallbackTask(created_at=self.clock(), call_id=call_id, reason=reason, caller_name=self._seal(caller_name),
                                phone=self._seal(phone), details=self._seal(json.dumps(details or {})), urgency=urgency)
            s.add(task)
            s.commit()
            s.refresh(task)
            return self._opened(task)

    def _opened(self, task: CallbackTask) -> CallbackTask:
        """A task with its caller's name, number and words readable (not to be saved back)."""
        if self.cipher is None:
            return task
        return CallbackTask(**{**task.model_dump(), "caller_name": self._open(task.caller_name),
                               "phone": self._open(task.phone), "details": self._open(task.details),
                               "notes": self._open(task.notes)})

    def update_callback(self, task_id: int, *, status: str | None = None, assigned_to: str | None = None,
                        notes: str | None = None) -> CallbackTask:
        """Staff work on a callback task: assign it, add notes, mark it done (or open again)."""
        if status is not None and status not in ("open", "done"):
            raise ValueError(f"unknown callback status {status!r}")
        with Session(self.engine, expire_on_commit=False) as s:
            task = s.get(CallbackTask, task_id)
            if task is None:
                from .calendar import CalendarError
                raise CalendarError(f"no callback task {task_id}")
            if status is not None:
                task.status = status
            if assigned_to is not None:
                task.assigned_to = assigned_to[:64]
            if notes is not None:  # staff notes may repeat what the caller said
                task.notes = self._seal(notes[:4000])
            s.add(task)
            s.commit()
            s.refresh(task)
            return self._opened(task)

    def callbacks(self, status: str | None = None) -> list[CallbackTask]:
        with Session(self.engine, expire_on_commit=False) as s:
            q = select(CallbackTask)
            if status:
                q = q.where(CallbackTask.status == status)
            return [self._opened(t) for t in s.exec(q.order_by(CallbackTask.id)).all()]
