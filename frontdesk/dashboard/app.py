"""The staff dashboard: calls and transcripts, callback tasks, bookings, settings and the audit log.

Served by ``frontdesk serve`` next to the SIP server (``create_app`` builds it). Pages are rendered
on the server (Jinja2, autoescaped); the only script is a tiny local file, and every asset is
served from here, so it works with no Internet access. Endpoints are plain ``def`` functions:
they run in the threadpool, never blocking the event loop the calls run on.

Nothing here logs call content: the log gets user names, actions and call ids only.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import fastapi
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from tools.records import OUTCOMES, AuditEvent, CallRow, Filters, RecordStore, Users

from .. import settings as settings_mod
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


class _LoginRequired(Exception):
    def __init__(self, next_path: str):
        self.next_path = next_path


class _Forbidden(Exception):
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


async def _form(request: Request) -> dict[str, str]:
    """The posted form (read in the event loop; the endpoint itself then runs in the threadpool)."""
    form = await request.form(max_files=0, max_fields=200)
    return {k: v for k, v in form.items() if isinstance(v, str)}


_LOCAL_PATH = re.compile(r"/[A-Za-z0-9/_.%?=&~+:@!$'()*,;-]*")  # no spaces, tabs, backslashes


def _safe_next(value: str | None) -> str:
    """Only a local path: never an open redirect."""
    if not value or value.startswith("//") or not _LOCAL_PATH.fullmatch(value):
        return "/calls"
    return value


def _nice_step(span: float, ticks: int = 5) -> int:
    for step in (50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if span / step <= ticks:
            return step
    return 100000


def latency_chart(latency: list[dict]) -> dict | None:
    """Geometry of the per-turn stacked bar chart (drawn by the template as inline SVG)."""
    if not latency:
        return None
    label_w, right_w, bar_h, gap, top, width = 64, 80, 18, 8, 24, 720
    plot_w = width - label_w - right_w
    rows = []
    for i, t in enumerate(latency):
        parts = [(key, name, max(0, int(t.get(key) or 0))) for key, name in LATENCY_PARTS]
        total = t.get("total_ms")
        rows.append((i, parts, int(total) if isinstance(total, (int, float)) else sum(p[2] for p in parts), t))
    scale_max = max(max(sum(p[2] for p in parts), total) for _, parts, total, _ in rows) or 1
    step = _nice_step(scale_max)
    scale_max = -(-scale_max // step) * step
    px = plot_w / scale_max
    bars = []
    for i, parts, total, t in rows:
        y = top + i * (bar_h + gap)
        x = label_w
        segs = []
        for key, name, ms in parts:
            w = ms * px
            segs.append({"x": round(x, 1), "w": round(w, 1), "cls": key.removesuffix("_ms"), "name": name, "ms": ms})
            x += w
        bars.append({"y": y, "label": f"turn {i + 1}", "segs": segs, "total": total, "text_x": round(x + 6, 1),
                     "filler": bool(t.get("filler")), "intent": str(t.get("intent") or "")})
    height = top + len(rows) * (bar_h + gap) + 10
    ticks = [{"x": round(label_w + v * px, 1), "v": v} for v in range(0, scale_max + 1, step)]
    return {"width": width, "height": height, "bars": bars, "ticks": ticks, "bar_h": bar_h, "top": top,
            "bottom": height - 10, "legend": [(k.removesuffix("_ms"), n) for k, n in LATENCY_PARTS]}


def _clock(ms: Any) -> str:
    try:
        s = max(0, int(ms)) / 1000
    except (TypeError, ValueError):
        return ""
    return f"{int(s // 60)}:{s % 60:04.1f}"


def _json_pretty(value: Any) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False, default=str, sort_keys=True)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if m.group(1):
        start = int(m.group(1))
        end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
    else:
        start, end = max(0, size - int(m.group(2))), size - 1
    return (start, end) if start <= end and start < size else None


def create_app(cfg: Config, store: RecordStore, users: Users, calendar: Any | None,
               metrics: Callable[[], tuple[bytes, str]], test_calls: Any | None = None) -> fastapi.FastAPI:
    """The dashboard app. ``calendar`` is a tools.calendar.Calendar (None: no tasks or bookings);
    ``test_calls`` a frontdesk.webrtc_ingress.WebRtcIngress (None: no "Test call" page)."""
    app = fastapi.FastAPI(title="frontdesk dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = SessionStore()
    app.state.sessions = sessions
    cookie = "__Host-fd_session" if cfg.dashboard.secure_cookies else "fd_session"
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)

    def tz() -> ZoneInfo:
        return ZoneInfo(cfg.clinic.timezone)

    def local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        if dt is None:
            return ""
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.astimezone(tz()).strftime(fmt)

    def from_ts(ts: Any) -> str:
        try:
            return local(datetime.fromtimestamp(float(ts), timezone.utc))
        except (TypeError, ValueError, OverflowError):
            return ""

    env.filters.update(local=local, from_ts=from_ts, clock=_clock, pretty=_json_pretty,
                       q=lambda s: quote(str(s), safe=""))
    env.globals.update(outcomes=OUTCOMES)

    def render(request: Request, name: str, me: Me | None, code: int = 200, **ctx) -> HTMLResponse:
        html = env.get_template(name).render(request=request, me=me, clinic=cfg.clinic.name, path=request.url.path,
                                             test_call=test_calls is not None, **ctx)
        return HTMLResponse(html, status_code=code)

    def set_session_cookie(resp: Response, token: str) -> None:
        resp.set_cookie(cookie, token, httponly=True, samesite="strict", secure=cfg.dashboard.secure_cookies, path="/")

    def client_ip(request: Request) -> str:
        return request.client.host if request.client else ""

    # -- who is asking -------------------------------------------------------------------------

    def me_or_none(request: Request) -> Me | None:
        token = request.cookies.get(cookie)
        s = sessions.get(token)
        if s is None or not s.signed_in:
            return None
        user = users.get(s.username)  # removed users lose their sessions; role changes apply at once
        if user is None or (s.credential and s.credential != user.password_hash):
            sessions.drop_user(s.username)  # removed, or the password changed: sign in again
            return None
        s.role = user.role
        return Me(user.username, user.role, s, token)

    def need(request: Request, role: str = "staff") -> Me:
        me = me_or_none(request)
        if me is None:
            raw = request.scope.get("raw_path") or request.url.path.encode()  # as sent: a Call-ID may hold '?'
            target = raw.decode("latin-1") + (f"?{request.url.query}" if request.url.query else "")
            raise _LoginRequired(target if request.method == "GET" else "/calls")
        if role == "admin" and not me.admin:
            raise _Forbidden("This page is for administrators only.")
        return me

    def need_post(request: Request, form: dict[str, str], role: str = "staff") -> Me:
        me = need(request, role)
        if not me.session.csrf_ok(form.get("csrf")):
            raise _Forbidden("The form was stale or did not come from this dashboard (CSRF check failed). "
                             "Go back, reload the page and try again.")
        return me

    def me_dep(request: Request) -> Me:
        return need(request)

    def admin_dep(request: Request) -> Me:
        return need(request, "admin")

    @app.exception_handler(_LoginRequired)
    async def _to_login(request: Request, exc: _LoginRequired):
        return RedirectResponse("/login?" + urlencode({"next": exc.next_path}), status_code=303)

    @app.exception_handler(_Forbidden)
    def _forbidden(request: Request, exc: _Forbidden):
        return render(request, "error.html", me_or_none(request), code=403, title="Not allowed", message=exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 405:
            return Response("method not allowed", status_code=405, headers=exc.headers)
        message = exc.detail if isinstance(exc.detail, str) else "Something went wrong."
        return render(request, "error.html", None, code=exc.status_code, title=f"Error {exc.status_code}",
                      message=message)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        return render(request, "error.html", None, code=400, title="Bad request", message="That address is not valid.")

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # -- signing in and out --------------------------------------------------------------------

    def login_page(request: Request, token: str | None, s: DashSession, status: int = 200, error: str = "",
                   username: str = "", next_path: str = "/calls") -> HTMLResponse:
        resp = render(request, "login.html", None, code=status, csrf=s.csrf, error=error, username=username,
                      next_path=next_path, logged_out=request.query_params.get("bye") == "1")
        if token:
            set_session_cookie(resp, token)
        return resp

    @app.get("/login")
    def login_form(request: Request):
        next_path = _safe_next(request.query_params.get("next"))
        if me_or_none(request) is not None:
            return RedirectResponse(next_path, status_code=303)
        token = request.cookies.get(cookie)
        s = sessions.get(token)
        new_token = None
        if s is None:
            new_token, s = sessions.new()
        return login_page(request, new_token, s, next_path=next_path)

    @app.post("/login")
    def login_submit(request: Request, form: dict = Depends(_form)):
        username = form.get("username", "").strip()[:64]
        password = form.get("password", "")
        next_path = _safe_next(form.get("next"))
        s = sessions.get(request.cookies.get(cookie))
        if s is None:  # the form's session expired (or cookies are off): a fresh form
            token, s = sessions.new()
            return login_page(request, token, s, status=400, username=username, next_path=next_path,
                              error="The login form expired. Please sign in again.")
        if not s.csrf_ok(form.get("csrf")):
            raise _Forbidden("The login form did not come from this dashboard (CSRF check failed). Reload and try again.")
        ip = client_ip(request)
        user, why = users.login(username, password, source=ip) if username and password else (None, "bad credentials")
        if user is None:
            store.audit(username or "-", "login_failed", detail=f"{why} from {ip}")
            log.info("dashboard: failed login from %s", ip)  # the name typed may be a password
            # one answer for every failure: it must not tell which user names exist or are throttled
            error = (f"Wrong user name or password. After {users.lockout_after} failed attempts, wait "
                     f"{users.lockout_minutes} minutes before trying again.")
            return login_page(request, None, s, status=401, error=error, username=username, next_path=next_path)
        sessions.drop(request.cookies.get(cookie))
        token, _ = sessions.new(user.username, user.role, credential=user.password_hash)
        store.audit(user.username, "login", detail=f"from {ip}")
        log.info("dashboard: %s signed in from %s", user.username, ip)
        resp = RedirectResponse(next_path, status_code=303)
        set_session_cookie(resp, token)
        return resp

    @app.post("/logout")
    def logout(request: Request, form: dict = Depends(_form)):
        me = need_post(request, form)
        sessions.drop(me.token)
        store.audit(me.username, "logout")
        resp = RedirectResponse("/login?bye=1", status_code=303)
        resp.delete_cookie(cookie, path="/", secure=cfg.dashboard.secure_cookies, httponly=True, samesite="strict")
        return resp

    @app.get("/")
    def home(me: Me = Depends(me_dep)):
        return RedirectResponse("/calls", status_code=303)

    # -- calls ---------------------------------------------------------------------------------

    def local_day_start(d: date) -> datetime:
        return datetime.combine(d, time(0), tz()).astimezone(timezone.utc).replace(tzinfo=None)

    @app.get("/calls")
    def calls(request: Request, me: Me = Depends(me_dep)):
        qp = request.query_params
        errors = []
        f = Filters(limit=200)
        day_from = qp.get("from", "").strip()
        day_to = qp.get("to", "").strip()
        for label, raw, attr, shift in (("From", day_from, "since", 0), ("To", day_to, "until", 1)):
            if raw:
                try:
                    setattr(f, attr, local_day_start(date.fromisoformat(raw) + timedelta(days=shift)))
                except ValueError:
                    errors.append(f"{label}: expected a date (YYYY-MM-DD)")
        outcome = qp.get("outcome", "")
        f.outcome = outcome if outcome in OUTCOMES else ""
        reasons = store.handoff_reasons()
        reason = qp.get("reason", "")
        f.handoff_reason = reason if reason in reasons else ""
        rows = store.list(f)
        return render(request, "calls.html", me, rows=rows, errors=errors, reasons=reasons, limit=f.limit,
                      filters={"from": day_from, "to": day_to, "outcome": f.outcome, "reason": f.handoff_reason})

    def get_call(call_id: str) -> CallRow:
        row = store.get(call_id)
        if row is None:
            raise StarletteHTTPException(404, "No such call.")
        return row

    def open_content(row: CallRow) -> tuple[dict, str]:
        """(the record, "") or ({}, why it cannot be shown)."""
        if not row.content:
            return {}, "transcript deleted (retention)" if row.purged_at else "no transcript stored for this call"
        try:
            return store.content(row), ""
        except Exception as exc:  # a missing or wrong key: say so, never crash the page
            return {}, f"transcript unavailable: {exc}"

    def recording_path(row: CallRow, record: dict) -> Path | None:
        raw = row.recording or record.get("recording") or ""
        if not raw:
            return None
        path = Path(raw)
        return path if path.is_file() else None

    # the suffix routes come first: a SIP Call-ID may itself contain '/'
    @app.get("/calls/{call_id:path}/recording.wav")
    def recording(call_id: str, request: Request, me: Me = Depends(me_dep)):
        row = get_call(call_id)
        record, _ = open_content(row)
        path = recording_path(row, record)
        if path is None:
            raise StarletteHTTPException(404, "No recording for this call.")
        data = path.read_bytes()
        if not data.startswith(b"RIFF"):
            try:
                data = store.cipher.open_bytes(data)
            except Exception:
                raise StarletteHTTPException(500, "The recording cannot be decrypted with the configured key.")
        rng = request.headers.get("range")
        if rng is None or rng.replace(" ", "").startswith("bytes=0-"):
            # one audit event per listen: the player's first request starts at byte 0, seeks do not
            store.audit(me.username, "play_recording", call_id=row.call_id)
        headers = {"Accept-Ranges": "bytes"}
        if rng:
            span = _parse_range(rng, len(data))
            if span is None:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
            a, b = span
            headers["Content-Range"] = f"bytes {a}-{b}/{len(data)}"
            return Response(data[a:b + 1], status_code=206, media_type="audio/wav", headers=headers)
        return Response(data, media_type="audio/wav", headers=headers)

    @app.get("/calls/{call_id:path}/export.json")
    def export(call_id: str, me: Me = Depends(me_dep)):
        row = get_call(call_id)
        record, why = open_content(row)
        columns = row.model_dump(mode="json", exclude={"content"})
        store.audit(me.username, "export_call", call_id=row.call_id)
        log.info("dashboard: %s exported call %s", me.username, row.call_id)
        body = {"call": columns, "record": record or None, "note": why or None,
                "exported_by": me.username, "exported_at": datetime.now(timezone.utc).isoformat()}
        name = re.sub(r"[^A-Za-z0-9._-]", "_", row.call_id)[:80] or "call"
        return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="call-{name}.json"'})

    @app.get("/calls/{call_id:path}")
    def call_detail(call_id: str, request: Request, me: Me = Depends(me_dep)):
        row = get_call(call_id)
        record, why = open_content(row)
        store.audit(me.username, "view_call", call_id=row.call_id, detail="" if record else (why or "no content"))
        log.info("dashboard: %s viewed call %s", me.username, row.call_id)
        qual = record.get("qualification") or {}
        tasks = []
        if calendar is not None:
            tasks = [t for t in calendar.callbacks() if t.call_id == row.call_id]
        return render(request, "call.html", me, row=row, record=record, why=why, qualification=qual,
                      turns=record.get("turns") or [], tool_calls=record.get("tool_calls") or [],
                      chart=latency_chart(record.get("latency") or []),
                      has_recording=recording_path(row, record) is not None, tasks=tasks)

    # -- callback tasks ------------------------------------------------------------------------

    @app.get("/tasks")
    def tasks(request: Request, me: Me = Depends(me_dep)):
        status = request.query_params.get("status", "open")
        status = status if status in ("open", "done", "all") else "open"
        rows = calendar.callbacks(None if status == "all" else status) if calendar is not None else []
        rows = sorted(rows, key=lambda t: (t.status != "open", t.urgency != "urgent", -(t.id or 0)))
        return render(request, "tasks.html", me, tasks=rows, status=status, users=[u.username for u in users.list()],
                      calendar=calendar is not None, saved=request.query_params.get("saved", ""))

    @app.post("/tasks/{task_id}")
    def task_update(task_id: int, request: Request, form: dict = Depends(_form)):
        me = need_post(request, form)
        if calendar is None:
            raise StarletteHTTPException(404, "No calendar: there are no callback tasks.")
        action = form.get("action", "save")
        assigned = form.get("assigned_to", "").strip()
        if assigned and users.get(assigned) is None:
            raise StarletteHTTPException(400, "Assign tasks to a dashboard user.")
        kwargs: dict[str, Any] = {"assigned_to": assigned}
        if "notes" in form:
            kwargs["notes"] = form["notes"].replace("\r\n", "\n")
        if action == "done":
            kwargs["status"] = "done"
        elif action == "reopen":
            kwargs["status"] = "open"
        try:
            task = calendar.update_callback(task_id, **kwargs)
        except Exception:
            raise StarletteHTTPException(404, "No such callback task.")
        detail = f"task {task_id}: {action}" + (f", assigned to {assigned}" if assigned else ", unassigned")
        store.audit(me.username, "task", call_id=task.call_id, detail=detail)
        back = form.get("back_status", "open")
        back = back if back in ("open", "done", "all") else "open"
        return RedirectResponse(f"/tasks?status={back}&saved={task_id}", status_code=303)

    # -- bookings ------------------------------------------------------------------------------

    @app.get("/bookings")
    def bookings(request: Request, me: Me = Depends(me_dep)):
        today = datetime.now(tz()).date()
        error = ""
        try:
            day = date.fromisoformat(request.query_params.get("day") or today.isoformat())
        except ValueError:
            day, error = today, "Expected a date (YYYY-MM-DD); showing today."
        providers = [p.name for p in calendar.providers()] if calendar is not None else []
        only = request.query_params.get("provider", "")
        only = only if only in providers else ""
        by_provider: dict[str, list] = {p: [] for p in providers if not only or p == only}
        if calendar is not None:
            for b in calendar.bookings():
                if b.start.astimezone(tz()).date() == day and (not only or b.provider == only):
                    by_provider.setdefault(b.provider, []).append(b)
        for rows in by_provider.values():
            rows.sort(key=lambda b: b.start)
        return render(request, "bookings.html", me, day=day, today=today, prev=day - timedelta(days=1),
                      next=day + timedelta(days=1), providers=providers, only=only, by_provider=by_provider,
                      error=error, calendar=calendar is not None, tzname=cfg.clinic.timezone)

    # -- settings (admin) ----------------------------------------------------------------------

    def settings_page(request: Request, me: Me, values: dict, errors: dict, status: int = 200, saved: bool = False):
        return render(request, "settings.html", me, code=status, specs=settings_mod.SETTINGS, values=values,
                      errors=errors, saved=saved)

    @app.get("/settings")
    def settings_form(request: Request, me: Me = Depends(admin_dep)):
        return settings_page(request, me, settings_mod.current(cfg), {},
                             saved=request.query_params.get("saved") == "1")

    @app.post("/settings")
    def settings_submit(request: Request, form: dict = Depends(_form)):
        me = need_post(request, form, "admin")
        values, errors = settings_mod.parse_form(form)
        if errors:
            shown = {**settings_mod.current(cfg), **{s.key: form.get(s.key, "") for s in settings_mod.SETTINGS}}
            for s in settings_mod.SETTINGS:
                if s.kind == "bool":
                    shown[s.key] = form.get(s.key) in ("on", "true", "1", "yes")
            return settings_page(request, me, shown, errors, status=400)
        before = settings_mod.current(cfg)
        changed = sorted(k for k, v in values.items() if before.get(k) != v)
        store.save_settings(values)
        settings_mod.apply(cfg, values)
        store.audit(me.username, "settings", detail="changed: " + (", ".join(changed) if changed else "nothing"))
        log.info("dashboard: %s saved settings (%s)", me.username, ", ".join(changed) or "no change")
        return RedirectResponse("/settings?saved=1", status_code=303)

    # -- audit log (admin) ---------------------------------------------------------------------

    @app.get("/audit")
    def audit(request: Request, me: Me = Depends(admin_dep)):
        qp = request.query_params
        action = qp.get("action", "")
        who = qp.get("user", "").strip()[:64]
        call_id = qp.get("call", "").strip()[:200]
        with Session(store.engine) as s:
            q = select(AuditEvent)
            if action:
                q = q.where(AuditEvent.action == action)
            if who:
                q = q.where(AuditEvent.username == who)
            if call_id:
                q = q.where(AuditEvent.call_id == call_id)
            events = list(s.exec(q.order_by(AuditEvent.id.desc()).limit(500)))  # type: ignore[union-attr]
        return render(request, "audit.html", me, events=events, actions=AUDIT_ACTIONS,
                      filters={"action": action, "user": who, "call": call_id})

    # -- test call from the browser (WebRTC) ---------------------------------------------------

    if test_calls is not None:
        @app.get("/test-call")
        def test_call_page(request: Request, me: Me = Depends(me_dep)):
            return render(request, "test_call.html", me)

        @app.post("/test-call/offer")
        async def test_call_offer(request: Request, form: dict = Depends(_form)):
            me = need_post(request, form)
            sdp = form.get("sdp", "")
            if not sdp or len(sdp) > 20000:
                return JSONResponse({"error": "no offer"}, status_code=400)
            try:
                call_id, answer = await test_calls.answer(sdp, me.username, client_ip(request))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            log.info("user %s started test call %s", me.username, call_id)
            return JSONResponse({"call_id": call_id, "type": "answer", "sdp": answer})

        @app.post("/test-call/hangup")
        async def test_call_hangup(request: Request, form: dict = Depends(_form)):
            me = need_post(request, form)
            # staff hang up their own test calls; an administrator may end any
            owner = None if me.role == "admin" else me.username
            return JSONResponse({"ended": await test_calls.hangup(form.get("call_id", ""), owner)})

    # -- metrics (by network, no login) --------------------------------------------------------

    @app.get("/metrics")
    def metrics_endpoint(request: Request):
        try:
            ip = ipaddress.ip_address(client_ip(request))
        except ValueError:
            ip = None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is None or not any(ip in net for net in cfg.dashboard.metrics_networks):
            return Response("forbidden\n", status_code=403, media_type="text/plain")
        body, content_type = metrics()
        return Response(body, headers={"Content-Type": content_type})

    app.add_middleware(SecurityHeaders)
    return app
