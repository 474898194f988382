"""Signing in and out."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from .auth import DashSession
from .common import Dash, Forbidden, Me, form_fields, safe_next

log = logging.getLogger("frontdesk.dashboard")


def routes(d: Dash) -> APIRouter:
    r = APIRouter()

    def login_page(request: Request, token: str | None, s: DashSession, status: int = 200, error: str = "",
                   username: str = "", next_path: str = "/calls") -> HTMLResponse:
        resp = d.render(request, "login.html", None, code=status, csrf=s.csrf, error=error, username=username,
                        next_path=next_path, logged_out=request.query_params.get("bye") == "1")
        if token:
            d.set_session_cookie(resp, token)
        return resp

    @r.get("/login")
    def login_form(request: Request):
        next_path = safe_next(request.query_params.get("next"))
        if d.me_or_none(request) is not None:
            return RedirectResponse(next_path, status_code=303)
        token = request.cookies.get(d.cookie)
        s = d.sessions.get(token)
        new_token = None
        if s is None:
            new_token, s = d.sessions.new()
        return login_page(request, new_token, s, next_path=next_path)

    @r.post("/login")
    def login_submit(request: Request, form: dict = Depends(form_fields)):
        username = form.get("username", "").strip()[:64]
        password = form.get("password", "")
        next_path = safe_next(form.get("next"))
        s = d.sessions.get(request.cookies.get(d.cookie))
        if s is None:  # the form's session expired (or cookies are off): a fresh form
            token, s = d.sessions.new()
            return login_page(request, token, s, status=400, username=username, next_path=next_path,
                              error="The login form expired. Please sign in again.")
        if not s.csrf_ok(form.get("csrf")):
            raise Forbidden("The login form did not come from this dashboard (CSRF check failed). Reload and try again.")
        ip = d.client_ip(request)
        user, why = d.users.login(username, password, source=ip) if username and password else (None, "bad credentials")
        if user is None:
            d.store.audit(username or "-", "login_failed", detail=f"{why} from {ip}")
            log.info("dashboard: failed login from %s", ip)  # the name typed may be a password
            # one answer for every failure: it must not tell which user names exist or are throttled
            error = (f"Wrong user name or password. After {d.users.lockout_after} failed attempts, wait "
                     f"{d.users.lockout_minutes} minutes before trying again.")
            return login_page(request, None, s, status=401, error=error, username=username, next_path=next_path)
        d.sessions.drop(request.cookies.get(d.cookie))
        token, _ = d.sessions.new(user.username, user.role, credential=user.password_hash)
        d.store.audit(user.username, "login", detail=f"from {ip}")
        log.info("dashboard: %s signed in from %s", user.username, ip)
        resp = RedirectResponse(next_path, status_code=303)
        d.set_session_cookie(resp, token)
        return resp

    @r.post("/logout")
    def logout(request: Request, form: dict = Depends(form_fields)):
        me = d.need_post(request, form)
        d.sessions.drop(me.token)
        d.store.audit(me.username, "logout")
        resp = RedirectResponse("/login?bye=1", status_code=303)
        resp.delete_cookie(d.cookie, path="/", secure=d.cfg.dashboard.secure_cookies, httponly=True, samesite="strict")
        return resp

    @r.get("/")
    def home(me: Me = Depends(d.me_dep)):
        return RedirectResponse("/calls", status_code=303)

    return r
