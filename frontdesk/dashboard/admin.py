"""For administrators: the settings page and the audit log."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlmodel import Session, select

from tools.records import AuditEvent

from .. import settings as settings_mod
from .common import AUDIT_ACTIONS, Dash, Me, form_fields

log = logging.getLogger("frontdesk.dashboard")


def routes(d: Dash) -> APIRouter:
    r = APIRouter()

    def settings_page(request: Request, me: Me, values: dict, errors: dict, status: int = 200, saved: bool = False):
        return d.render(request, "settings.html", me, code=status, specs=settings_mod.SETTINGS, values=values,
                        errors=errors, saved=saved)

    @r.get("/settings")
    def settings_form(request: Request, me: Me = Depends(d.admin_dep)):
        return settings_page(request, me, settings_mod.current(d.cfg), {},
                             saved=request.query_params.get("saved") == "1")

    @r.post("/settings")
    def settings_submit(request: Request, form: dict = Depends(form_fields)):
        me = d.need_post(request, form, "admin")
        values, errors = settings_mod.parse_form(form)
        if errors:
            shown = {**settings_mod.current(d.cfg), **{s.key: form.get(s.key, "") for s in settings_mod.SETTINGS}}
            for s in settings_mod.SETTINGS:
                if s.kind == "bool":
                    shown[s.key] = form.get(s.key) in ("on", "true", "1", "yes")
            return settings_page(request, me, shown, errors, status=400)
        before = settings_mod.current(d.cfg)
        changed = sorted(k for k, v in values.items() if before.get(k) != v)
        d.store.save_settings(values)
        settings_mod.apply(d.cfg, values)
        d.store.audit(me.username, "settings", detail="changed: " + (", ".join(changed) if changed else "nothing"))
        log.info("dashboard: %s saved settings (%s)", me.username, ", ".join(changed) or "no change")
        return RedirectResponse("/settings?saved=1", status_code=303)

    # -- audit log (admin) ---------------------------------------------------------------------

    @r.get("/audit")
    def audit(request: Request, me: Me = Depends(d.admin_dep)):
        qp = request.query_params
        action = qp.get("action", "")
        who = qp.get("user", "").strip()[:64]
        call_id = qp.get("call", "").strip()[:200]
        with Session(d.store.engine) as s:
            q = select(AuditEvent)
            if action:
                q = q.where(AuditEvent.action == action)
            if who:
                q = q.where(AuditEvent.username == who)
            if call_id:
                q = q.where(AuditEvent.call_id == call_id)
            events = list(s.exec(q.order_by(AuditEvent.id.desc()).limit(500)))  # type: ignore[union-attr]
        return d.render(request, "audit.html", me, events=events, actions=AUDIT_ACTIONS,
                        filters={"action": action, "user": who, "call": call_id})

    return r
