"""Outbound registration to a PBX or registrar (RFC 3261 §10) with Digest auth. Sans-IO.

``Registration`` builds REGISTER requests and reads their responses. It answers a 401/407
challenge once per nonce (MD5 or SHA-256, qop=auth), refreshes before the binding expires, and
after a failure (wrong password, registrar down or restarted) tries again with a growing back-off.
Its events say exactly what happened, for the log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .digest import DigestError, authorization, best_challenge
from .message import Headers, Request, Response, parse_uri

T1 = 0.5


@dataclass
class Registered:
    registrar: str
    expires: int


@dataclass
class RegistrationFailed:
    registrar: str
    status: int | None
    reason: str
    retry_in: float


@dataclass
class _Pending:
    data: bytes
    branch: str
    sent_at: float
    next_at: float
    interval: float
    authorized: bool


@dataclass
class Registration:
    registrar: str  # sip:pbx.example.com or sip:10.0.0.5:5060
    aor: str  # sip:frontdesk@pbx.example.com
    contact: str  # <sip:frontdesk@203.0.113.5:5060>
    username: str = ""
    password: str = ""
    expires: int = 3600
    transport: str = "UDP"  # or TCP (a connection the transport opens)
    address: tuple[str, int] | None = None  # where to send, when the registrar is a DNS name resolved outside
    local_host: str = "127.0.0.1"
    local_port: int = 5060
    user_agent: str = "frontdesk"
    call_id: str = field(default_factory=lambda: secrets.token_hex(10) + "@frontdesk")
    cseq: int = 0
    state: str = "new"  # new | registering | registered | failed
    granted: int = 0
    _tag: str = field(default_factory=lambda: secrets.token_hex(6))
    _pending: _Pending | None = None
    _next_at: float | None = 0.0  # when to (re-)register
    _failures: int = 0
    _nonce_tried: str | None = None
    _nc: int = 0
    _last_nonce: str | None = None

    @property
    def destination(self) -> tuple[str, int]:
        if self.address is not None:
            return self.address
        uri = parse_uri(self.registrar)
        return uri.host, uri.port or 5060

    def next_timer(self) -> float | None:
        times = [t for t in (self._next_at, self._pending.next_at if self._pending else None) if t is not None]
        return min(times) if times else None

    def handle_timers(self, now: float) -> tuple[list[bytes], list]:
        """Returns (datagrams to send to ``destination``, events)."""
        out: list[bytes] = []
        events: list = []
        p = self._pending
        if p is not None and now >= p.next_at:
            if now - p.sent_at >= 64 * T1:  # Timer F: the registrar did not answer
                self._pending = None
                events.append(self._failed(None, "no response from the registrar (timeout)", now))
            elif self.transport == "UDP":
                out.append(p.data)
                p.interval = min(p.interval * 2, 4.0)
                p.next_at = now + p.interval
            else:
                p.next_at = p.sent_at + 64 * T1
        if self._next_at is not None and now >= self._next_at and self._pending is None:
            self._next_at = None
            out.append(self._send(now, None))
        return out, events

    def unregister(self, now: float) -> bytes:
        self.expires, self.state = 0, "registering"
        return self._send(now, None)

    def matches(self, resp: Response) -> bool:
        return resp.call_id == self.call_id

    def on_response(self, resp: Response, now: float) -> tuple[list[bytes], list]:
        p = self._pending
        branch = ""
        vias = resp.headers.get_all("Via")
        if vias:
            branch = vias[0].split("branch=")[-1].split(";")[0].strip() if "branch=" in vias[0] else ""
        if p is None or branch != p.branch or resp.status < 200:
            return [], []
        self._pending = None
        if resp.status in (401, 407):
            header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
            try:
                ch = best_challenge(resp.headers.get_all(header))
            except DigestError as exc:
                return [], [self._failed(resp.status, f"cannot answer the challenge: {exc}", now)]
            if not self.username:
                return [], [self._failed(resp.status, "the registrar wants credentials; set sip.register.username", now)]
            if p.authorized and not ch.stale and ch.nonce == self._nonce_tried:
                return [], [self._failed(resp.status, "credentials rejected (check sip.register username and password)", now)]
            self._nonce_tried = ch.nonce
            self._nc = 1 if ch.nonce != self._last_nonce else self._nc + 1
            self._last_nonce = ch.nonce
            auth = authorization(ch, method="REGISTER", uri=self.registrar, username=self.username,
                                 password=self.password, nc=self._nc)
            name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
            return [self._send(now, (name, auth))], []
        if 200 <= resp.status < 300:
            self._failures = 0
            granted = self._granted(resp)
            if self.expires == 0:
                self.state = "new"
                return [], []
            self.state, self.granted = "registered", granted
            # refresh well before expiry: at half-time for short bindings, else 60 s before
            self._next_at = now + (granted / 2 if granted < 240 else granted - 60)
            return [], [Registered(self.registrar, granted)]
        if resp.status == 423:  # Interval Too Brief
            min_expires = resp.headers.get("Min-Expires") or ""
            if min_expires.strip().isdecimal():
                self.expires = int(min_expires.strip())
                return [self._send(now, None)], []
        return [], [self._failed(resp.status, f"{resp.status} {resp.reason}", now)]

    def _granted(self, resp: Response) -> int:
        for value in resp.headers.get_all("Contact"):
            if "expires=" in value.lower():
                raw = value.lower().split("expires=")[-1].split(";")[0].split(",")[0].strip()
                if raw.isdecimal():
                    return int(raw)
        raw = (resp.headers.get("Expires") or "").strip()
        return int(raw) if raw.isdecimal() else self.expires

    def _failed(self, status: int | None, reason: str, now: float) -> RegistrationFailed:
        self.state = "failed"
        self._failures += 1
        retry = min(30.0 * 2 ** (self._failures - 1), 600.0)
        self._next_at = now + retry
        self._nonce_tried = None
        return RegistrationFailed(self.registrar, status, reason, retry)

    def _send(self, now: float, auth: tuple[str, str] | None) -> bytes:
        self.cseq += 1
        self.state = "registering" if self.state != "registered" else "registered"
        branch = "z9hG4bK" + secrets.token_hex(8)
        host = f"[{self.local_host}]" if ":" in self.local_host else self.local_host
        h = Headers()
        h.add("Via", f"SIP/2.0/{self.transport} {host}:{self.local_port};branch={branch};rport")
        h.add("Max-Forwards", "70")
        h.add("From", f"<{self.aor}>;tag={self._tag}")
        h.add("To", f"<{self.aor}>")
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{self.cseq} REGISTER")
        h.add("Contact", self.contact)
        h.add("Expires", str(self.expires))
        h.add("User-Agent", self.user_agent)
        if auth is not None:
            h.add(*auth)
        data = Request(headers=h, method="REGISTER", uri=self.registrar).serialize()
        self._pending = _Pending(data, branch, now, now + T1, T1, auth is not None)
        return data
