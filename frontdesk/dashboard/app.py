"""The staff dashboard: calls and transcripts, callback tasks, bookings, settings and the audit log.

Served by ``frontdesk serve`` next to the SIP server (``create_app`` builds it). Pages are rendered
on the server (Jinja2, autoescaped); the only script is a tiny local file, and every asset is
served from here, so it works with no Internet access. Endpoints are plain ``def`` functions:
they run in the threadpool, never blocking the event loop the calls run on.

One module of routes per page: login.py, calls.py, tasks.py, bookings.py, admin.py (settings and
the audit log), confirm.py (the confirm link of an email reminder, for patients) and test_call.py;
common.py has what they share (the signed-in user, sign-in checks, rendering, the security
headers). Nothing here logs call content: the log gets user
names, actions and call ids only.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable
from urllib.parse import urlencode

import fastapi
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from tools.records import RecordStore
from tools.users import Users

from ..config import Config
from . import admin, bookings, calls, confirm, login, tasks, test_call
from .common import HERE, Dash, Forbidden, LoginRequired, SecurityHeaders


def create_app(cfg: Config, store: RecordStore, users: Users, calendar: Any | None,
               metrics: Callable[[], tuple[bytes, str]], test_calls: Any | None = None) -> fastapi.FastAPI:
    """The dashboard app. ``calendar`` is a tools.calendar.Calendar (None: no tasks or bookings);
    ``test_calls`` a frontdesk.ingress.webrtc.WebRtcIngress (None: no "Test call" page)."""
    app = fastapi.FastAPI(title="frontdesk dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    d = Dash(cfg, store, users, calendar, metrics, test_calls)
    app.state.sessions = d.sessions

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, exc: LoginRequired):
        return RedirectResponse("/login?" + urlencode({"next": exc.next_path}), status_code=303)

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden):
        return d.render(request, "error.html", d.me_or_none(request), code=403, title="Not allowed",
                        message=exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 405:
            return Response("method not allowed", status_code=405, headers=exc.headers)
        message = exc.detail if isinstance(exc.detail, str) else "Something went wrong."
        return d.render(request, "error.html", None, code=exc.status_code, title=f"Error {exc.status_code}",
                        message=message)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError):
        return d.render(request, "error.html", None, code=400, title="Bad request",
                        message="That address is not valid.")

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for page in (login, calls, tasks, bookings, admin, confirm):  # one module of routes per page
        app.include_router(page.routes(d))
    if test_calls is not None:
        app.include_router(test_call.routes(d))

    # -- metrics (by network, no login) --------------------------------------------------------

    @app.get("/metrics")
    def metrics_endpoint(request: Request):
        try:
            ip = ipaddress.ip_address(d.client_ip(request))
        except ValueError:
            ip = None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip is None or not any(ip in net for net in d.cfg.dashboard.metrics_networks):
            return Response("forbidden\n", status_code=403, media_type="text/plain")
        body, content_type = d.metrics()
        return Response(body, headers={"Content-Type": content_type})

    app.add_middleware(SecurityHeaders)
    return app
