"""Callback tasks: the list, assigning, notes, done and reopened."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .common import Dash, Me, form_fields


def routes(d: Dash) -> APIRouter:
    r = APIRouter()

    @r.get("/tasks")
    def tasks(request: Request, me: Me = Depends(d.me_dep)):
        status = request.query_params.get("status", "open")
        status = status if status in ("open", "done", "all") else "open"
        rows = d.calendar.callbacks(None if status == "all" else status) if d.calendar is not None else []
        rows = sorted(rows, key=lambda t: (t.status != "open", t.urgency != "urgent", -(t.id or 0)))
        return d.render(request, "tasks.html", me, tasks=rows, status=status,
                        users=[u.username for u in d.users.list()], calendar=d.calendar is not None,
                        saved=request.query_params.get("saved", ""))

    @r.post("/tasks/{task_id}")
    def task_update(task_id: int, request: Request, form: dict = Depends(form_fields)):
        me = d.need_post(request, form)
        if d.calendar is None:
            raise StarletteHTTPException(404, "No d.calendar: there are no callback tasks.")
        action = form.get("action", "save")
        assigned = form.get("assigned_to", "").strip()
        if assigned and d.users.get(assigned) is None:
            raise StarletteHTTPException(400, "Assign tasks to a dashboard user.")
        kwargs: dict[str, Any] = {"assigned_to": assigned}
        if "notes" in form:
            kwargs["notes"] = form["notes"].replace("\r\n", "\n")
        if action == "done":
            kwargs["status"] = "done"
        elif action == "reopen":
            kwargs["status"] = "open"
        try:
            task = d.calendar.update_callback(task_id, **kwargs)
        except Exception:
            raise StarletteHTTPException(404, "No such callback task.")
        detail = f"task {task_id}: {action}" + (f", assigned to {assigned}" if assigned else ", unassigned")
        d.store.audit(me.username, "task", call_id=task.call_id, detail=detail)
        back = form.get("back_status", "open")
        back = back if back in ("open", "done", "all") else "open"
        return RedirectResponse(f"/tasks?status={back}&saved={task_id}", status_code=303)

    return r
