"""Shared by the dashboard's pages (app.py builds the app, one module of routes per page): the
signed-in user, sign-in checks, rendering and the security headers."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader

from tools.records import OUTCOMES, RecordStore
from tools.users import Users

from ..config import Config
from .auth import DashSession, SessionStore

log = logging.getLogger("frontdesk.dashboard")
HERE = Path(__file__).resolve().parent
AUDIT_ACTIONS = ("view_call", "export_call", "play_recording", "login", "login_failed", "logout", "settings",
                 "task", "purge")
LATENCY_PARTS = (("endpoint_ms", "endpoint"), ("asr_ms", "speech recognition"), ("dialog_ms", "dialog"),
                 ("tts_first_ms", "first audio"))
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class LoginRequired(Exception):
    def __init__(self, next_path: str):
        self.next_path = next_path


class Forbidden(Exception):
    def __init__(self, message: str):
        self.message = message


class SecurityHeaders:
    """Pure ASGI middleware: security headers on every response; pages (which may hold PHI) are
    never cached, static files for an hour."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope.get("path", "").startswith("/static/")
        test_call = scope.get("path", "") == "/test-call"  # the one page that may use the microphone

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in {h for h, _ in SECURITY_HEADERS} and k.lower() != b"cache-control"]
                headers += [(k, b"camera=(), microphone=(self), geolocation=()") if test_call and k == b"permissions-policy"
                            else (k, v) for k, v in SECURITY_HEADERS]
                headers.append((b"cache-control", b"private, max-age=3600" if static else b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class Me:
    """The signed-in user, for a request."""
    username: str
    role: str
    session: DashSession
    token: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def csrf(self) -> str:
        return self.session.csrf


async def form_fields(request: Request) -> dict[str, str]:
    """The posted form (read in the event loop; the endpoint itself then runs in the threadpool)."""
    form = await request.form(max_files=0, max_fields=200)
    return {k: v for k, v in form.items() if isinstance(v, str)}


_LOCAL_PATH = re.compile(r"/[A-Za-z0-9/_.%?=&~+:@!$'()*,;-]*")  # no spaces, tabs, backslashes


def safe_next(value: str | None) -> str:
    """Only a local path: never an open redirect."""
    if not value or value.startswith("//") or not _LOCAL_PATH.fullmatch(value):
        return "/calls"
    return value


def _clock(ms: Any) -> str:
    try:
        s = max(0, int(ms)) / 1000
    except (TypeError, ValueError):
        return ""
    return f"{int(s // 60)}:{s % 60:04.1f}"


def _json_pretty(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, default=str, sort_keys=True)


class Dash:
    """What every page needs: the config, the stores, the session cookie and the helpers."""

    def __init__(self, cfg: Config, store: RecordStore, users: Users, calendar: Any | None,
                 metrics: Callable[[], tuple[bytes, str]], test_calls: Any | None):
        self.cfg, self.store, self.users, self.calendar = cfg, store, users, calendar
        self.metrics, self.test_calls = metrics, test_calls
        self.sessions = SessionStore()
        self.cookie = "__Host-fd_session" if cfg.dashboard.secure_cookies else "fd_session"
        self.env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(local=self.local, from_ts=self.from_ts, clock=_clock, pretty=_json_pretty,
                                q=lambda s: quote(str(s), safe=""))
        self.env.globals.update(outcomes=OUTCOMES)

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.cfg.clinic.timezone)

    def local(self, dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        if dt is None:
            return ""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(self.tz()).strftime(fmt)

    def from_ts(self, ts: Any) -> str:
        try:
            return self.local(datetime.fromtimestamp(float(ts), timezone.utc))
        except (TypeError, ValueError, OverflowError):
            return ""

    def render(self, request: Request, name: str, me: Me | None, code: int = 200, **ctx) -> HTMLResponse:
        html = self.env.get_template(name).render(request=request, me=me, clinic=self.cfg.clinic.name,
                                                  path=request.url.path, test_call=self.test_calls is not None, **ctx)
        return HTMLResponse(html, status_code=code)

    def set_session_cookie(self, resp: Response, token: str) -> None:
        resp.set_cookie(self.cookie, token, httponly=True, samesite="strict", secure=self.cfg.dashboard.secure_cookies,
                        path="/")

    @staticmethod
    def client_ip(request: Request) -> str:
        return request.client.host if request.client else ""

    # -- who is asking -------------------------------------------------------------------------

    def me_or_none(self, request: Request) -> Me | None:
        token = request.cookies.get(self.cookie)
        s = self.sessions.get(token)
        if s is None or not s.signed_in:
            return None
        user = self.users.get(s.username)  # removed users lose their sessions; role changes apply at once
        if user is None or (s.credential and s.credential != user.password_hash):
            self.sessions.drop_user(s.username)  # removed, or the password changed: sign in again
            return None
        s.role = user.role
        return Me(user.username, user.role, s, token)

    def need(self, request: Request, role: str = "staff") -> Me:
        me = self.me_or_none(request)
        if me is None:
            raw = request.scope.get("raw_path") or request.url.path.encode()  # as sent: a Call-ID may hold '?'
            target = raw.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target if request.method == "GET" else "/calls")
        if role == "admin" and not me.admin:
            raise Forbidden("This page is for administrators only.")
        return me

    def need_post(self, request: Request, form: dict[str, str], role: str = "staff") -> Me:
        me = self.need(request, role)
        if not me.session.csrf_ok(form.get("csrf")):
            raise Forbidden("The form was stale or did not come from this dashboard (CSRF check failed). "
                            "Go back, reload the page and try again.")
        return me

    def me_dep(self, request: Request) -> Me:
        return self.need(request)

    def admin_dep(self, request: Request) -> Me:
        return self.need(request, "admin")
