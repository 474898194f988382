"""The staff dashboard.

The first tests run the app in this process (uvicorn on a free loopback port, a temporary SQLite
database, no models) and check it over plain HTTP: logins, roles, CSRF, lockout, security headers,
escaping, the audit trail. The last one is end to end: a real call over SIP to `frontdesk serve`
with the real models, then Debian's Chromium, driven by Playwright, works through the dashboard
that the same server serves."""

from __future__ import annotations

import difflib
import http.client
import ipaddress
import json
import math
import os
import re
import socket
import struct
import subprocess
import threading
import time
import wave
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import pytest

from frontdesk.config import DEMO_CONFIG, load_config

from ..conftest import FRONTDESK, free_port

CALLER = "+12025550188"
SAID = ["Can I talk to a real person, please?", "No, that's all. Goodbye."]
CHROMIUM = "/usr/bin/chromium"


# -- an in-process dashboard over HTTP ---------------------------------------------------------

@contextmanager
def serving(app):
    import uvicorn

    port = free_port(socket.SOCK_STREAM)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


class Client:
    """A minimal browser: keeps cookies, never follows redirects."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        for value in resp.headers.get_all("set-cookie") or []:
            name, _, rest = value.partition("=")
            token = rest.split(";")[0]
            if "max-age=0" in value.lower() or not token.strip('"'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = token
        conn.close()
        return resp.status, resp.headers, data

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def page(self, path: str) -> tuple[int, str]:
        status, _, data = self.get(path)
        return status, data.decode()

    def csrf(self, path: str) -> str:
        status, html = self.page(path)
        assert status == 200, (path, status, html[:500])
        m = re.search(r'name="csrf" value="([^"]+)"', html)
        assert m, html[:1000]
        return m.group(1)

    def login(self, username: str, password: str):
        token = self.csrf("/login")
        return self.request("POST", "/login", form={"csrf": token, "username": username, "password": password,
                                                    "next": "/calls"})


def _wav(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(3000 * math.sin(i / 8))) for i in range(8000)))


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    from frontdesk.dashboard import create_app
    from tools.calendar import Calendar
    from tools.db import make_engine
    from tools.records import RecordStore
    from tools.users import Users

    tmp = tmp_path_factory.mktemp("dash")
    cfg = load_config(DEMO_CONFIG)
    cfg.data_dir = tmp
    engine = make_engine(cfg.database_url)
    store = RecordStore(engine)
    users = Users(engine, cfg.dashboard.lockout_after, cfg.dashboard.lockout_minutes)
    calendar = Calendar(engine, cfg.clinic.timezone)
    calendar.seed(cfg.clinic.services, cfg.clinic.providers, cfg.clinic.closures)
    users.add("ada", "admin-password-1", "admin")
    users.add("sam", "staff-password-1", "staff")
    users.add("lou", "lockout-password-1", "staff")
    now = time.time()
    _wav(tmp / "rec.wav")
    call_id = "a/b@host?<x>"
    store.save({"call_id": call_id, "started_at": now - 120, "answered_at": now - 119, "ended_at": now - 60,
                "caller": f"sip:{CALLER}@127.0.0.1", "caller_number": CALLER, "outcome": "callback",
                "turns": [{"speaker": "agent", "text": "Hello <script>alert(1)</script>", "t_ms": 100},
                          {"speaker": "caller", "text": SAID[0], "t_ms": 4000, "confidence": 0.9}],
                "qualification": {"caller_name": "Ann <b>Lee</b>", "handoff_reason": "caller asked for a person"},
                "tool_calls": [{"tool": "create_callback", "args": {"reason": "caller asked for a person"}, "result": 1,
                                "at": now - 100}],
                "latency": [{"endpoint_ms": 500, "asr_ms": 300, "dialog_ms": 800, "tts_first_ms": 200, "total_ms": 1800}],
                "recording": str(tmp / "rec.wav")})
    store.save({"call_id": "old", "started_at": now - 400 * 86400, "ended_at": now - 400 * 86400 + 20,
                "caller": "+12025550111", "outcome": "booked", "turns": [{"speaker": "caller", "text": "secret words"}]})
    store.purge(90)
    task = calendar.add_callback(call_id, "caller asked for a person", "Ann Lee", CALLER)
    metrics_calls = []

    def metrics():
        metrics_calls.append(1)
        return b"frontdesk_up 1\n", "text/plain; version=0.0.4; charset=utf-8"

    app = create_app(cfg, store, users, calendar, metrics)
    with serving(app) as port:
        yield {"port": port, "cfg": cfg, "store": store, "users": users, "calendar": calendar, "call_id": call_id,
               "task": task, "app": app, "metrics_calls": metrics_calls}
    engine.dispose()


def test_pages_need_a_login_and_carry_security_headers(dash):
    c = Client(dash["port"])
    for path in ("/", "/calls", f"/calls/{quote(dash['call_id'], safe='')}", "/tasks", "/bookings", "/settings",
                 "/audit", f"/calls/{quote(dash['call_id'], safe='')}/export.json"):
        status, headers, _ = c.get(path)
        assert status == 303 and headers["location"] == "/login?" + urlencode({"next": path}), (path, headers)
    status, headers, body = c.get("/login")
    assert status == 200 and b"Sign in" in body
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    cookie = headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "secure" not in cookie.lower()
    status, headers, body = c.get("/static/dashboard.css")
    assert status == 200 and b"font" in body and headers["x-frame-options"] == "DENY"


def test_metrics_by_network_only(dash):
    c = Client(dash["port"])
    status, headers, body = c.get("/metrics")
    assert status == 200 and body == b"frontdesk_up 1\n" and headers["content-type"].startswith("text/plain")
    nets = dash["cfg"].dashboard.metrics_networks
    dash["cfg"].dashboard.metrics_networks = [ipaddress.ip_network("10.0.0.0/8")]
    try:
        before = len(dash["metrics_calls"])
        status, _, _ = c.get("/metrics")
        assert status == 403 and len(dash["metrics_calls"]) == before
    finally:
        dash["cfg"].dashboard.metrics_networks = nets


def test_login_roles_csrf_and_logout(dash):
    c = Client(dash["port"])
    status, _, body = c.request("POST", "/login", form={"username": "ada", "password": "admin-password-1"})
    assert status == 400 and b"expired" in body  # no session: a fresh form, no login
    c.cookies.clear()
    c.csrf("/login")
    status, _, _ = c.request("POST", "/login", form={"username": "ada", "password": "admin-password-1"})
    assert status == 403  # no CSRF token: refused before the password is even checked
    status, headers, _ = c.login("ada", "admin-password-1")
    assert status == 303 and headers["location"] == "/calls"
    for bad in ("//evil.example/", "/\t/evil.example/", "https://evil.example/", "/\\evil.example"):
        other = Client(dash["port"])
        token = other.csrf("/login?" + urlencode({"next": bad}))
        status, headers, _ = other.request("POST", "/login", form={"csrf": token, "username": "ada",
                                                                   "password": "admin-password-1", "next": bad})
        assert status == 303 and headers["location"] == "/calls", bad
    assert c.page("/settings")[0] == 200 and c.page("/audit")[0] == 200
    # a forged form (wrong token) changes nothing
    task = dash["task"]
    status, _, _ = c.request("POST", f"/tasks/{task.id}", form={"csrf": "forged", "action": "done"})
    assert status == 403
    assert [t.status for t in dash["calendar"].callbacks() if t.id == task.id] == ["open"]
    old = dict(c.cookies)
    token = c.csrf("/calls")
    status, headers, _ = c.request("POST", "/logout", form={"csrf": token})
    assert status == 303 and not c.cookies
    c.cookies = old  # the old session cookie is dead on the server too
    assert c.get("/calls")[0] == 303

    staff = Client(dash["port"])
    assert staff.login("sam", "staff-password-1")[0] == 303
    status, html = staff.page("/settings")
    assert status == 403 and "administrators only" in html
    assert staff.page("/audit")[0] == 403
    token = staff.csrf("/calls")
    assert staff.request("POST", "/settings", form={"csrf": token, "clinic.name": "Hacked"})[0] == 403
    assert dash["cfg"].clinic.name != "Hacked"
    actions = [(e.username, e.action) for e in dash["store"].audit_log()]
    assert ("ada", "login") in actions and ("sam", "login") in actions and ("ada", "logout") in actions


def test_call_detail_escapes_audits_and_serves_the_recording(dash):
    c = Client(dash["port"])
    path = "/calls/" + quote(dash["call_id"], safe="")
    _, headers, _ = c.get(path)
    token = c.csrf(headers["location"])  # back to the call after signing in
    status, headers, _ = c.request("POST", "/login", form={"csrf": token, "username": "ada",
                                                          "password": "admin-password-1", "next": path})
    assert status == 303 and headers["location"] == path
    status, html = c.page("/calls")
    assert status == 200 and CALLER in html
    booked = c.page("/calls?outcome=booked")[1]
    assert 'href="/calls/old"' in booked and CALLER not in booked
    assert c.page("/calls?from=not-a-date")[1].count("expected a date") == 1
    status, html = c.page(path)
    assert status == 200 and SAID[0] in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "Ann &lt;b&gt;Lee&lt;/b&gt;" in html and "create_callback" in html
    assert '<svg' in html and 'class="seg dialog"' in html
    assert f'src="{path}/recording.wav"' in html
    status, headers, data = c.get(path + "/recording.wav", headers={"Range": "bytes=0-99"})
    assert status == 206 and len(data) == 100 and data.startswith(b"RIFF") and headers["content-type"] == "audio/wav"
    status, headers, data = c.get(path + "/export.json")
    assert status == 200 and "attachment" in headers["content-disposition"]
    assert json.loads(data)["record"]["turns"][1]["text"] == SAID[0]
    status, html = c.page("/calls/old")
    assert status == 200 and "transcript deleted (retention)" in html and "secret words" not in html
    assert c.page("/calls/nope")[0] == 404
    events = [(e.username, e.action, e.call_id) for e in dash["store"].audit_log()]
    for action in ("view_call", "export_call", "play_recording"):
        assert ("ada", action, dash["call_id"]) in events, action


def test_tasks_bookings_and_settings(dash):
    c = Client(dash["port"])
    c.login("sam", "staff-password-1")
    task = dash["task"]
    status, html = c.page("/tasks")
    assert status == 200 and f'id="task-{task.id}"' in html and "Ann Lee" in html
    token = c.csrf("/tasks")
    status, headers, _ = c.request("POST", f"/tasks/{task.id}", form={
        "csrf": token, "assigned_to": "sam", "notes": "called back, left a message", "action": "done"})
    assert status == 303
    row = next(t for t in dash["calendar"].callbacks() if t.id == task.id)
    assert (row.status, row.assigned_to, row.notes) == ("done", "sam", "called back, left a message")
    assert f'id="task-{task.id}"' not in c.page("/tasks")[1] and f'id="task-{task.id}"' in c.page("/tasks?status=done")[1]
    assert c.request("POST", f"/tasks/{task.id}", form={"csrf": token, "assigned_to": "nobody-here"})[0] == 400
    assert any(e.action == "task" and e.username == "sam" for e in dash["store"].audit_log())
    status, html = c.page("/bookings")
    assert status == 200 and "Dr. Patel" in html and 'type="date"' in html
    assert "expected a date" in c.page("/bookings?day=2026-13-45")[1].lower()
    from datetime import date, timedelta

    from tools.calendar import CallerInfo

    day, slots = date.today(), []
    while not slots:
        day += timedelta(days=1)
        slots = dash["calendar"].find_slots("cleaning", day)
    dash["calendar"].book_slot(slots[0], CallerInfo("Bo <Ray>", "+12025550101"))
    html = c.page(f"/bookings?day={day.isoformat()}")[1]
    assert "Bo &lt;Ray&gt;" in html and slots[0].local_start.strftime("%H:%M") in html and slots[0].provider in html
    others = [p.name for p in dash["calendar"].providers() if p.name != slots[0].provider]
    html = c.page(f"/bookings?day={day.isoformat()}&provider={quote(others[0])}")[1]
    assert "Bo &lt;Ray&gt;" not in html and others[0] in html

    admin = Client(dash["port"])
    admin.login("ada", "admin-password-1")
    form = {k: (str(v) if not isinstance(v, bool) else ("on" if v else "")) for k, v in _current(dash["cfg"]).items()}
    form = {k: v for k, v in form.items() if v != ""}
    token = admin.csrf("/settings")
    status, _, body = admin.request("POST", "/settings", form={**form, "csrf": token, "privacy.retention_days": "0",
                                                                "handoff.front_desk_uri": "not a uri"})
    html = body.decode()
    assert status == 400 and "expected 1 to 3650 days" in html and "expected a sip:" in html
    assert dash["cfg"].privacy.retention_days == 90
    status, headers, _ = admin.request("POST", "/settings", form={**form, "csrf": token, "privacy.retention_days": "30",
                                                                   "clinic.parking": "Park <behind>"})
    assert status == 303 and headers["location"] == "/settings?saved=1"
    assert dash["cfg"].privacy.retention_days == 30 and dash["cfg"].clinic.parking == "Park <behind>"
    assert dash["store"].settings()["privacy.retention_days"] == 30
    assert "Park &lt;behind&gt;" in admin.page("/settings")[1]
    event = next(e for e in dash["store"].audit_log() if e.action == "settings")
    assert event.username == "ada" and "privacy.retention_days" in event.detail


def _current(cfg):
    from frontdesk.settings import current

    return current(cfg)


def test_repeated_failures_throttle_that_source_with_one_answer_for_every_failure(dash):
    c = Client(dash["port"])
    pages = []
    for _ in range(6):
        status, _, body = c.login("lou", "wrong-password-x")
        assert status == 401
        pages.append(body.decode())
    status, _, body = c.login("lou", "lockout-password-1")  # the right password, from the throttled source
    assert status == 401
    pages.append(body.decode())
    status, _, unknown = c.login("nobody-here", "any-password-123")  # a user name that does not exist
    pages.append(unknown.decode())
    errors = {re.search(r'<p class="error"[^>]*>(.*?)</p>', p, re.S).group(1) for p in pages}
    assert len(errors) == 1 and "locked" not in errors.pop()  # the same words whatever the reason
    failed = [e for e in dash["store"].audit_log() if e.action == "login_failed" and e.username == "lou"]
    assert len(failed) == 7
    # the account itself is not locked: its owner, from another address, signs in
    user, _ = dash["users"].login("lou", "lockout-password-1", source="10.9.8.7")
    assert user is not None and user.username == "lou"


def test_an_unknown_user_costs_the_same_work_as_a_known_one(dash):
    import statistics
    import time as _t

    users = dash["users"]

    def cost(name):
        runs = []
        for i in range(7):
            t = _t.perf_counter()
            users.login(name, "wrong-password-1", source=f"192.0.2.{i}-{name}")
            runs.append(_t.perf_counter() - t)
        return statistics.median(runs)
    known, unknown = cost("lou"), cost("no-such-user")
    assert 0.5 < unknown / known < 1.5, (known, unknown)


def test_secure_cookies_when_configured(dash):
    from frontdesk.dashboard import create_app

    cfg = load_config(DEMO_CONFIG)
    cfg.dashboard.secure_cookies = True
    app = create_app(cfg, dash["store"], dash["users"], None, lambda: (b"", "text/plain"))
    with serving(app) as port:
        c = Client(port)
        _, headers, _ = c.get("/login")
        c.cookies.clear()
        assert c.login("ada", "admin-password-1")[0] == 303
        for path in ("/tasks", "/bookings", "/calls"):  # no calendar: the pages still work
            assert c.page(path)[0] == 200, path
    cookie = headers["set-cookie"]
    assert cookie.startswith("__Host-fd_session=") and "secure" in cookie.lower() and "httponly" in cookie.lower()


def test_encrypted_content_and_recording(tmp_path):
    from frontdesk.dashboard import create_app
    from tools.crypto import ContentCipher, new_key
    from tools.db import make_engine
    from tools.records import RecordStore
    from tools.users import Users

    cfg = load_config(DEMO_CONFIG)
    cfg.data_dir = tmp_path
    engine = make_engine(cfg.database_url)
    cipher = ContentCipher(new_key().encode())
    store = RecordStore(engine, cipher)
    users = Users(engine)
    users.add("ada", "admin-password-1", "admin")
    _wav(tmp_path / "plain.wav")
    (tmp_path / "rec.wav.enc").write_bytes(cipher.seal_bytes((tmp_path / "plain.wav").read_bytes()))
    store.save({"call_id": "enc-1", "started_at": time.time() - 60, "ended_at": time.time(), "caller": CALLER,
                "turns": [{"speaker": "caller", "text": "sealed words", "t_ms": 10}],
                "recording": str(tmp_path / "rec.wav.enc")})
    wrong = RecordStore(engine, ContentCipher(new_key().encode()))
    with serving(create_app(cfg, store, users, None, lambda: (b"", "text/plain"))) as port:
        c = Client(port)
        c.login("ada", "admin-password-1")
        assert "sealed words" in c.page("/calls/enc-1")[1]
        status, _, data = c.get("/calls/enc-1/recording.wav")
        assert status == 200 and data == (tmp_path / "plain.wav").read_bytes()
    with serving(create_app(cfg, wrong, users, None, lambda: (b"", "text/plain"))) as port:
        c = Client(port)
        c.login("ada", "admin-password-1")
        status, html = c.page("/calls/enc-1")  # the wrong key: said on the page, no crash
        assert status == 200 and "transcript unavailable" in html and "sealed words" not in html
    engine.dispose()


# -- end to end: a real call, then the dashboard in Chromium -----------------------------------

def _norm(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


def _add_user(data_dir: Path, name: str, password: str, role: str) -> None:
    proc = subprocess.run([FRONTDESK, "users", "add", name, "--role", role, "--password-stdin",
                           "--config", str(DEMO_CONFIG), "--data-dir", str(data_dir)],
                          input=password + "\n", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.e2e
def test_dashboard_in_a_browser_after_a_real_call(server, tmp_path):
    from playwright.sync_api import sync_playwright

    from tools.db import make_engine
    from tools.records import RecordStore

    assert Path(CHROMIUM).exists(), "Debian's chromium must be installed (make test installs it)"
    dash_file = Path(str(server.ready) + ".dashboard")
    assert dash_file.exists(), "frontdesk serve wrote no dashboard port:\n" + server.output()[-3000:]
    base = f"http://127.0.0.1:{int(dash_file.read_text().strip())}"
    shots = Path(os.environ.get("FRONTDESK_ARTIFACTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    _add_user(server.data, "e2e-admin", "admin-password-e2e", "admin")
    _add_user(server.data, "e2e-staff", "staff-password-e2e", "staff")
    _add_user(server.data, "e2e-lock", "locked-password-e2e", "staff")

    before = len(server.calls())
    cmd = [FRONTDESK, "call", server.uri, "--caller-id", CALLER, "--json", str(tmp_path / "call.json")]
    for line in SAID:
        cmd += ["--say", line]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr + server.output()[-3000:]
    calls = server.wait_calls(before + 1)
    assert len(calls) > before, server.output()[-3000:]
    record = next(c for c in reversed(calls) if CALLER in (c.get("caller_number") or c.get("caller") or ""))
    call_id = record["call_id"]
    caller_words = [t["text"] for t in record["turns"] if t["speaker"] == "caller" and t["text"].strip()]
    assert caller_words and difflib.SequenceMatcher(None, _norm(caller_words[0]), _norm(SAID[0])).ratio() > 0.7, record["turns"]
    assert record["outcome"] == "callback", record.get("outcome")

    saved: list[Path] = []
    problems: list[str] = []

    def shot(page, name: str) -> None:
        path = shots / f"{len(saved) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)

    def login(page, user: str, password: str) -> None:
        page.goto(base + "/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.click("form[action='/login'] button[type=submit]")

    call_href = "/calls/" + quote(call_id, safe="")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            # signed out, every page leads to the login form
            page.goto(base + "/calls")
            assert page.url.startswith(base + "/login")
            shot(page, "login")
            login(page, "e2e-admin", "admin-password-e2e")
            page.wait_for_url(base + "/calls")
            row = page.locator("#calls tbody tr", has=page.locator(f"a[href='{call_href}']"))
            assert row.count() == 1 and CALLER in row.inner_text() and "callback" in row.inner_text()
            shot(page, "calls")
            row.locator(f"a[href='{call_href}']").first.click()
            page.wait_for_url(base + call_href)
            transcript = page.inner_text("#transcript")
            for words in caller_words:
                assert words in transcript, (words, transcript)
            assert page.locator("#latency-chart rect.seg").count() >= 1
            shot(page, "call")
            # the callback task this call left: mark it done
            page.goto(base + "/tasks")
            card = page.locator(f"article.task[data-call='{call_id}']")
            assert card.count() == 1, page.content()[:3000]
            shot(page, "tasks")
            card.locator("select[name=assigned_to]").select_option("e2e-staff")
            card.locator("button[value=done]").click()
            page.wait_for_url(re.compile(r".*/tasks\?status=open&saved=\d+"))
            assert page.locator(f"article.task[data-call='{call_id}']").count() == 0
            page.goto(base + "/tasks?status=done")
            done = page.locator(f"article.task[data-call='{call_id}']")
            assert done.count() == 1 and "e2e-staff" in done.locator("select[name=assigned_to]").input_value()
            shot(page, "tasks-done")
            page.goto(base + "/audit?action=view_call")
            audit_row = page.locator("#audit tbody tr", has_text=call_id).first
            assert "e2e-admin" in audit_row.inner_text()
            shot(page, "audit")
            page.click("form.logout button")
            page.wait_for_url(re.compile(r".*/login\?bye=1"))
            page.goto(base + "/calls")
            assert page.url.startswith(base + "/login")

            # staff: no settings
            login(page, "e2e-staff", "staff-password-e2e")
            page.wait_for_url(base + "/calls")
            resp = page.goto(base + "/settings")
            assert resp is not None and resp.status == 403 and "administrators only" in page.content()
            shot(page, "staff-settings-refused")
            page.click("form.logout button")
            page.wait_for_url(re.compile(r".*/login\?bye=1"))

            # six wrong passwords throttle this browser's address for that user; then even the right
            # one is refused, with the same words as a wrong password
            for _ in range(6):
                login(page, "e2e-lock", "not-the-password")
                page.wait_for_selector("p.error")
            wrong = page.inner_text("p.error")
            login(page, "e2e-lock", "locked-password-e2e")
            page.wait_for_selector("p.error")
            assert page.inner_text("p.error") == wrong and "/login" in page.url
            shot(page, "locked")
            browser.close()
    finally:
        for path in saved:
            print(f"screenshot: {path}")

    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    store = RecordStore(make_engine(f"sqlite:///{server.data / 'frontdesk.db'}"))
    try:
        events = store.audit_log(limit=10000)
    finally:
        store.engine.dispose()
    assert any(e.action == "view_call" and e.username == "e2e-admin" and e.call_id == call_id for e in events)
    assert any(e.action == "task" and e.username == "e2e-admin" and e.call_id == call_id for e in events)
    assert any(e.action == "login" and e.username == "e2e-staff" for e in events)
    assert sum(e.action == "login_failed" and e.username == "e2e-lock" for e in events) == 7


def test_a_changed_password_ends_the_sessions_signed_in_with_the_old_one(dash):
    users = dash["users"]
    users.add("pat", "first-password-1", "staff")
    c = Client(dash["port"])
    status, _, _ = c.login("pat", "first-password-1")
    assert status == 303 and c.get("/calls")[0] == 200
    users.add("pat", "second-password-2", "staff", replace=True)  # `frontdesk users add --replace`
    status, headers, _ = c.get("/calls")
    assert status == 303 and headers["location"].startswith("/login")
    status, _, _ = Client(dash["port"]).login("pat", "second-password-2")
    assert status == 303


def test_staff_mark_past_appointments_and_the_report_gives_no_show_rates(dash):
    from datetime import date, datetime, timedelta

    from tools.calendar import Calendar, CallerInfo
    from tools.replies import Replies

    # two appointments in the past: one the agent booked (a call id), one staff booked
    then = Calendar(dash["calendar"].engine, dash["cfg"].clinic.timezone, clock=lambda: datetime(2026, 11, 2, 12, 0))
    slots = then.find_slots("cleaning", date(2026, 11, 3))
    by_agent = then.book_slot(slots[0], CallerInfo("Ann Lee", "+12025550171"), "call-1")
    by_staff = then.book_slot(slots[-1], CallerInfo("Bo Ray", "+12025550172"))
    Replies(then, "Maple Street Dental").handle("+12025550171", "C")  # Ann confirmed her reminder by text
    c = Client(dash["port"])
    c.login("sam", "staff-password-1")
    html = c.page("/bookings?day=2026-11-03")[1]
    assert f'action="/bookings/{by_agent.id}/attendance"' in html
    token = c.csrf("/bookings?day=2026-11-03")
    status, headers, _ = c.request("POST", f"/bookings/{by_agent.id}/attendance", form={"csrf": token, "attendance": "no_show"})
    assert status == 303 and dash["calendar"].get_booking(by_agent.id).attendance == "no_show"
    assert c.request("POST", f"/bookings/{by_staff.id}/attendance", form={"csrf": token, "attendance": "maybe"})[0] == 400
    assert c.request("POST", f"/bookings/{by_staff.id}/attendance", form={"csrf": "forged", "attendance": "attended"})[0] == 403
    assert c.request("POST", f"/bookings/{by_staff.id}/attendance", form={"csrf": token, "attendance": "attended"})[0] == 303
    assert any(e.action == "attendance" and e.username == "sam" for e in dash["store"].audit_log())
    day, slots = date.today(), []
    while not slots:  # the next day with a free slot
        day += timedelta(days=1)
        slots = dash["calendar"].find_slots("cleaning", day)
    future = dash["calendar"].book_slot(slots[-1], CallerInfo("Cy Doe", "+12025550173"), "call-2")
    assert c.request("POST", f"/bookings/{future.id}/attendance", form={"csrf": token, "attendance": "no_show"})[0] == 400
    cfg_path = dash["cfg"].data_dir / "report.toml"
    cfg_path.write_text(DEMO_CONFIG.read_text())
    out = subprocess.run([FRONTDESK, "report", "--json", "--config", str(cfg_path), "--data-dir", str(dash["cfg"].data_dir)],
                         capture_output=True, text=True, timeout=60)
    rates = json.loads(out.stdout)["no_shows"]
    assert rates["agent"] == {"marked": 1, "no_show": 1, "late_cancel": 0, "rate": 1.0}
    assert rates["staff"] == {"marked": 1, "no_show": 0, "late_cancel": 0, "rate": 0.0}
    assert rates["reminder_confirmed"]["marked"] == 1 and rates["not_confirmed"]["marked"] == 1
    assert json.loads(out.stdout)["complaints"] == 0
    dash["calendar"].add_callback("call-3", "complaint", "Di Fox", "+12025550174")
    out = subprocess.run([FRONTDESK, "report", "--config", str(cfg_path), "--data-dir", str(dash["cfg"].data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert re.search(r"complaints \(callback tasks\)\s+1\b", out.stdout), out.stdout
    assert re.search(r"no-shows, booked by the agent\s+1 of 1 marked \(100.0%\)", out.stdout), out.stdout
    now = time.time()
    for i, score in enumerate((4, 5)):  # two callers answered the end-of-call question
        dash["store"].save({"call_id": f"survey-{i}", "started_at": now - 60, "answered_at": now - 59, "ended_at": now,
                            "caller": "+12025550175", "outcome": "faq_only", "qualification": {"survey_score": score}})
    out = subprocess.run([FRONTDESK, "report", "--json", "--config", str(cfg_path), "--data-dir", str(dash["cfg"].data_dir)],
                         capture_output=True, text=True, timeout=60)
    data = json.loads(out.stdout)
    assert data["survey_answers"] == 2 and data["survey_average"] == 4.5
    from frontdesk.metrics import Metrics
    text = Metrics(dash["store"], lambda: {}).render()[0].decode()
    assert 'frontdesk_no_show_rate{group="agent"} 1.0' in text and 'frontdesk_no_show_rate{group="staff"} 0.0' in text


def test_an_email_reminders_confirm_link_confirms_once_and_only_from_its_button(dash, smtp):
    from datetime import date, timedelta, timezone

    from sqlmodel import Session

    from tools.calendar import CallerInfo
    from tools.confirm_link import ConfirmLinks
    from tools.notify import LogSmsGateway, Notifier, SmtpSettings
    from tools.schema import Confirmation

    cal = dash["calendar"]
    day, slots = date.today(), []
    while len(slots) < 2:  # the next day with two free slots
        day += timedelta(days=1)
        slots = cal.find_slots("cleaning", day)
    appt = cal.book_slot(slots[0], CallerInfo("Eve Moss", "+12025550181", email="eve@example.com"), "call-9")
    base = f"http://127.0.0.1:{dash['port']}"
    notifier = Notifier(cal, "Maple Street Dental", "120 Maple Street",
                        SmtpSettings(host="127.0.0.1", port=smtp.port, sender="desk@maple.example"),
                        LogSmsGateway(dash["cfg"].data_dir / "sms.jsonl"), confirm_url=base)
    start = appt.start.astimezone(timezone.utc).replace(tzinfo=None)
    notifier.handle_reminder_email({"appointment_id": appt.id, "before_min": 120, "start": start.isoformat()})
    text = next(p for p in smtp.messages[-1].walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    path = re.search(re.escape(base) + r"(/confirm/\S+)", text).group(1)

    def confirmation():
        with Session(cal.engine) as s:
            return s.get(Confirmation, appt.id)

    patient = Client(dash["port"])  # not signed in
    status, html = patient.page(path)
    when = appt.start.astimezone(ZoneInfo(dash["cfg"].clinic.timezone)).strftime("%A, %B %-d")
    assert status == 200 and "Confirm that I will come" in html and when in html
    assert "Eve" not in html and "cleaning" not in html.lower()  # the time and the clinic, nothing about the visit
    assert confirmation() is None  # opening the link (a mail scanner does) confirms nothing
    status, _, body = patient.request("POST", path)
    assert status == 200 and b"your appointment is confirmed" in body
    assert confirmation().via == "email"
    status, _, body = patient.request("POST", path)  # single use
    assert status == 200 and b"already confirmed" in body and b"Confirm that I will come" not in body
    assert any(e.action == "confirm_link" for e in dash["store"].audit_log())
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    status, _, body = patient.request("POST", forged)
    assert status == 404 and b"not valid" in body and when.encode() not in body
    other = cal.book_slot(cal.find_slots("cleaning", day)[-1], CallerInfo("Eve Moss", "+12025550181", email="eve@example.com"), "call-10")
    link = ConfirmLinks(cal).make(other.id, other.start)
    cal.cancel(other.id)
    status, _, body = patient.request("POST", f"/confirm/{link}")
    assert status == 200 and b"cancelled" in body and b"Confirm that I will come" not in body


def test_staff_see_the_waitlist_and_remove_a_caller(dash):
    from datetime import date, timedelta

    from tools.waitlist import Waitlist

    cal = dash["calendar"]
    waitlist = Waitlist(cal)
    monday = date.today() + timedelta(days=7)
    entry = waitlist.add("cleaning", monday, monday + timedelta(days=2), "Gus <Hale>", "+12025550191")
    c = Client(dash["port"])
    c.login("sam", "staff-password-1")
    assert "Waitlist" not in c.page("/bookings")[1]  # off unless [waitlist] enabled
    dash["cfg"].waitlist.enabled = True
    try:
        html = c.page("/bookings")[1]
        assert "Gus &lt;Hale&gt;" in html and "+12025550191" in html and monday.isoformat() in html  # escaped
        token = c.csrf("/bookings")
        assert c.request("POST", f"/waitlist/{entry.id}/remove", form={"csrf": "forged"})[0] == 403
        status, headers, _ = c.request("POST", f"/waitlist/{entry.id}/remove", form={"csrf": token})
        assert status == 303 and waitlist.entries()[-1].status == "removed"
        assert "Gus" not in c.page("/bookings")[1]
        assert c.request("POST", f"/waitlist/{entry.id}/remove", form={"csrf": token})[0] == 404
        assert any(e.action == "waitlist_remove" and e.username == "sam" for e in dash["store"].audit_log())
    finally:
        dash["cfg"].waitlist.enabled = False
