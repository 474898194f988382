"""A call we place (RFC 3261 §13, §17.1.1): the INVITE client transaction and its early dialog. Sans-IO.

``OutboundCall`` builds the INVITE (with an SDP offer) and reads the responses to it: it sends
the INVITE again on Timer A until a provisional response, gives up on Timer B (408), answers a
401/407 challenge once per nonce with Digest credentials (the trunk's or PBX's), sends CANCEL
when the phone rings for longer than ``ring_timeout_s`` (after a provisional response, as §9.1
requires), and acknowledges every final response: a non-2xx with an ACK in the INVITE's own
transaction, a 2xx with an ACK of its own sent to the answerer's Contact along the route set
(again for every retransmitted 2xx). A 2xx after our CANCEL (the two crossed) is acknowledged
and hung up at once. The user agent (useragent.py) owns the dialog once the call is answered,
so that BYE, INFO and session timers work as for any call.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .dialog import T1, new_branch, new_tag
from .digest import DigestError, authorization, best_challenge
from .events import Addr, Outgoing
from .message import Headers, Request, Response, SipParseError, parse_name_addr


@dataclass
class OutboundRinging:
    call_id: str
    status: int  # 180 or 183


@dataclass
class OutboundAnswered:
    call_id: str
    answer: bytes  # the SDP answer
    remote_target: str  # the answerer's Contact
    route_set: list[str]  # Record-Route, reversed (§12.1.2)
    to_header: str  # To, with the answerer's tag
    remote_addr: Addr


@dataclass
class OutboundFailed:
    call_id: str
    status: int | None  # the final status, None when nothing answered
    reason: str  # "busy", "no answer", "declined", "unreachable", "credentials rejected", ...


NO_ANSWER = "no answer"


def _why(status: int) -> str:
    if status in (486, 600):
        return "busy"
    if status in (480, 408, 487):
        return NO_ANSWER
    if status in (603, 607, 608):
        return "declined"
    if status in (404, 484, 604):
        return "no such number"
    return f"failed ({status})"


@dataclass
class OutboundCall:
    target: str  # the Request-URI: sip:+15551234567@pbx.example.com
    from_uri: str  # <sip:frontdesk@pbx.example.com> (a display name may come first)
    contact: str  # <sip:frontdesk@203.0.113.5:5060>
    offer: bytes  # the SDP offer
    address: Addr  # where the INVITE goes: the outbound proxy, or the target's host
    username: str = ""
    password: str = ""
    transport: str = "UDP"
    local_host: str = "127.0.0.1"
    local_port: int = 5060
    user_agent: str = "frontdesk"
    ring_timeout_s: float = 30.0
    call_id: str = field(default_factory=lambda: secrets.token_hex(12) + "@frontdesk")
    state: str = "new"  # new | calling | proceeding | answered | cancelling | failed
    cseq: int = field(default_factory=lambda: secrets.randbelow(2**16) + 1)
    local_tag: str = field(default_factory=new_tag)
    _invite: bytes = b""
    _branch: str = ""
    _auth: tuple[str, str] | None = None
    _sent_at: float = 0.0
    _next_at: float | None = None
    _interval: float = T1
    _ring_until: float | None = None
    _nonce_tried: str | None = None
    _ack_2xx: bytes = b""  # the ACK of the 2xx, sent again for each retransmitted 2xx
    _cancel: bytes = b""
    _failed_reason: str = ""

    @property
    def from_header(self) -> str:
        return f"{self.from_uri};tag={self.local_tag}"

    def start(self, now: float) -> list[bytes]:
        """The INVITE to send now."""
        self._ring_until = now + self.ring_timeout_s
        return [self._send_invite(now)]

    def next_timer(self) -> float | None:
        times = [t for t in (self._next_at, self._ring_until) if t is not None]
        return min(times) if times else None

    def handle_timers(self, now: float) -> tuple[list[bytes], list]:
        out: list[bytes] = []
        if self.state == "calling" and self._next_at is not None and now >= self._next_at:
            if now - self._sent_at >= 64 * T1:  # Timer B: nothing answered at all
                self.state, self._next_at, self._ring_until = "failed", None, None
                return [], [OutboundFailed(self.call_id, None, "unreachable (no response)")]
            if self.transport == "UDP":  # Timer A: doubling, with no cap for an INVITE
                out.append(self._invite)
                self._interval *= 2
                self._next_at = now + self._interval
            else:
                self._next_at = self._sent_at + 64 * T1
        if self._ring_until is not None and now >= self._ring_until and self.state in ("calling", "proceeding"):
            return out + self.cancel(now, NO_ANSWER), []
        if self.state == "cancelling" and self._next_at is not None and now >= self._next_at:
            # no final response to our CANCEL's INVITE: Timer B's worth after the CANCEL, give up
            self.state, self._next_at = "failed", None
            return out, [OutboundFailed(self.call_id, None, self._failed_reason or NO_ANSWER)]
        return out, []

    def cancel(self, now: float, reason: str = "cancelled") -> list[bytes]:
        """Stop ringing. Before any provisional response a CANCEL may not be sent (§9.1): the
        INVITE is then given up once it does answer (or times out)."""
        self._ring_until = None
        self._failed_reason = reason
        if self.state == "proceeding":
            self.state = "cancelling"
            self._next_at = now + 64 * T1
            h = self._base_headers(self._branch, "CANCEL", to=f"<{_bare(self.target)}>")
            self._cancel = Request(headers=h, method="CANCEL", uri=self.target).serialize()
            return [self._cancel]
        if self.state == "calling":
            self.state = "cancelling"
            self._next_at = self._sent_at + 64 * T1  # no CANCEL before it rings: wait for it (Timer B)
        return []

    def matches(self, resp: Response) -> bool:
        return resp.call_id == self.call_id

    def on_response(self, resp: Response, now: float) -> tuple[list[bytes], list]:
        method = resp.cseq[1] if resp.cseq else ""
        if method == "CANCEL":
            return [], []  # the INVITE's 487 is what counts
        if method != "INVITE":
            return [], []
        if 200 <= resp.status < 300:
            return self._on_2xx(resp, now)
        if _top_branch(resp) != self._branch:
            return [], []  # a response to an INVITE we have replaced (a challenge answered)
        if resp.status < 200:
            if self.state == "calling":
                self.state, self._next_at = "proceeding", None  # no more retransmissions
            if self.state == "cancelling" and not self._cancel:  # cancelled before it rang: now we may
                self.state = "proceeding"
                return self.cancel(now, self._failed_reason), []
            return [], ([OutboundRinging(self.call_id, resp.status)] if resp.status in (180, 183) else [])
        ack = self._ack_non_2xx(resp)
        if self.state in ("failed", "answered"):
            return [ack], []  # a retransmitted final response: acknowledged again
        if resp.status in (401, 407) and self.state in ("calling", "proceeding"):
            again = self._answer_challenge(resp, now)
            if isinstance(again, bytes):
                return [ack, again], []
            self.state, self._next_at, self._ring_until = "failed", None, None
            return [ack], [OutboundFailed(self.call_id, resp.status, again)]
        reason = self._failed_reason if self.state == "cancelling" else _why(resp.status)
        self.state, self._next_at, self._ring_until = "failed", None, None
        return [ack], [OutboundFailed(self.call_id, resp.status, reason)]

    # -- internals --------------------------------------------------------------------------

    def _answer_challenge(self, resp: Response, now: float) -> bytes | str:
        header = "WWW-Authenticate" if resp.status == 401 else "Proxy-Authenticate"
        try:
            ch = best_challenge(resp.headers.get_all(header))
        except DigestError as exc:
            return f"cannot answer the challenge: {exc}"
        if not self.username:
            return "the trunk wants credentials; none are configured"
        if ch.nonce == self._nonce_tried and not ch.stale:
            return "credentials rejected"
        self._nonce_tried = ch.nonce
        name = "Authorization" if resp.status == 401 else "Proxy-Authorization"
        self._auth = (name, authorization(ch, method="INVITE", uri=self.target, username=self.username,
                                          password=self.password))
        self.cseq += 1
        self.state = "calling"
        return self._send_invite(now)

    def _on_2xx(self, resp: Response, now: float) -> tuple[list[bytes], list]:
        if self._ack_2xx:  # a retransmission: the same ACK again
            return [self._ack_2xx], []
        try:
            contact = parse_name_addr(resp.headers.get_all("Contact")[0]).uri
        except (SipParseError, IndexError):
            contact = self.target
        routes = list(reversed(resp.headers.get_all("Record-Route")))
        to = resp.headers.get("To") or ""
        h = self._base_headers(new_branch(), "ACK", to=to, routes=routes)
        self._ack_2xx = Request(headers=h, method="ACK", uri=contact).serialize()
        cancelled = self.state == "cancelling"
        self.state, self._next_at, self._ring_until = "answered", None, None
        answered = OutboundAnswered(self.call_id, resp.body, contact, routes, to, self.address)
        if cancelled:  # answered as we cancelled: the user agent hangs it up at once
            self._failed_reason = "answered after cancel"
        return [self._ack_2xx], [answered]

    def _ack_non_2xx(self, resp: Response) -> bytes:
        h = self._base_headers(self._branch, "ACK", to=resp.headers.get("To") or f"<{_bare(self.target)}>")
        return Request(headers=h, method="ACK", uri=self.target).serialize()

    def _base_headers(self, branch: str, method: str, *, to: str, routes: list[str] | None = None) -> Headers:
        host = f"[{self.local_host}]" if ":" in self.local_host else self.local_host
        h = Headers()
        h.add("Via", f"SIP/2.0/{self.transport} {host}:{self.local_port};branch={branch};rport")
        h.add("Max-Forwards", "70")
        for route in routes or []:
            h.add("Route", route)
        h.add("From", self.from_header)
        h.add("To", to)
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{self.cseq} {method}")
        return h

    def _send_invite(self, now: float) -> bytes:
        self._branch = new_branch()
        h = self._base_headers(self._branch, "INVITE", to=f"<{_bare(self.target)}>")
        h.add("Contact", self.contact)
        h.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY")
        h.add("Supported", "timer")
        h.add("User-Agent", self.user_agent)
        if self._auth is not None:
            h.add(*self._auth)
        h.add("Content-Type", "application/sdp")
        self._invite = Request(headers=h, method="INVITE", uri=self.target, body=self.offer).serialize()
        self.state = "calling"
        self._sent_at, self._interval = now, T1
        self._next_at = now + (T1 if self.transport == "UDP" else 64 * T1)
        return self._invite


def _bare(uri: str) -> str:
    return uri.strip().lstrip("<").rstrip(">")


def _top_branch(resp: Response) -> str:
    vias = resp.headers.get_all("Via")
    if not vias or "branch=" not in vias[0]:
        return ""
    return vias[0].split("branch=")[-1].split(";")[0].split(",")[0].strip()


class Dialling:
    """Mixed into UserAgent: the calls it places. It provides ``_calls``, ``_outgoing``, ``_events``,
    ``_dialling`` and ``_send_bye``. Once answered, a call is a dialog like any other (BYE either
    way, INFO, session timers)."""

    def dial(self, call: OutboundCall, now: float) -> None:
        """Place a call; OutboundRinging, OutboundAnswered or OutboundFailed follow."""
        self._dialling[call.call_id] = (call, None)
        self._outgoing += [Outgoing(d, call.address, call.transport) for d in call.start(now)]

    def cancel_dial(self, call_id: str, now: float) -> None:
        entry = self._dialling.get(call_id)
        if entry is not None and entry[1] is None:
            call = entry[0]
            self._outgoing += [Outgoing(d, call.address, call.transport) for d in call.cancel(now)]

    def _dial_response(self, resp: Response, now: float) -> bool:
        """A response to one of our INVITEs (or their CANCELs): handled here, True."""
        entry = self._dialling.get(resp.call_id)
        if entry is None or not resp.cseq or resp.cseq[1] not in ("INVITE", "CANCEL"):
            return False  # not ours, or in the dialog (a BYE's answer): the user agent's
        call = entry[0]
        data, events = call.on_response(resp, now)
        self._dial_results(call, data, events, now)
        return True

    def _dial_timers(self, now: float) -> None:
        for call_id, (call, forget_at) in list(self._dialling.items()):
            if forget_at is not None:
                if now >= forget_at:
                    del self._dialling[call_id]
                continue
            data, events = call.handle_timers(now)
            self._dial_results(call, data, events, now)

    def _dial_deadlines(self) -> list[float]:
        return [t for call, forget_at in self._dialling.values()
                for t in ((forget_at,) if forget_at is not None else (call.next_timer(),)) if t is not None]

    def _dial_results(self, call: OutboundCall, data: list[bytes], events: list, now: float) -> None:
        dest = call.address
        for ev in events:
            if isinstance(ev, OutboundAnswered):
                dest = self._answered(call, ev)
        self._outgoing += [Outgoing(d, dest, call.transport) for d in data]
        for ev in events:
            if isinstance(ev, (OutboundAnswered, OutboundFailed)):
                # kept a while to acknowledge retransmitted final responses (Timer D's 32 s)
                self._dialling[call.call_id] = (call, now + 32.0)
            if isinstance(ev, OutboundAnswered) and call._failed_reason:  # answered as we cancelled
                self._events.append(OutboundFailed(call.call_id, 200, call._failed_reason))
                self._send_bye(self._calls[call.call_id], now, call._failed_reason)
                continue
            self._events.append(ev)

    def _answered(self, call: OutboundCall, ev: OutboundAnswered) -> Addr:
        """The 2xx made a dialog: the user agent keeps it from here. Returns where its ACK goes."""
        from .dialog import Call, CallState
        from .message import parse
        try:
            remote_tag = parse_name_addr(ev.to_header).tag
        except SipParseError:
            remote_tag = None
        dialog = Call(call_id=call.call_id, invite=parse(call._invite), invite_key=("uac", call.call_id),
                      remote_addr=call.address, transport=call.transport, local_tag=call.local_tag,
                      remote_tag=remote_tag, local_uri=call.from_uri, remote_uri=ev.to_header,
                      remote_target=ev.remote_target, route_set=ev.route_set, remote_cseq=0, local_cseq=call.cseq,
                      state=CallState.CONFIRMED)
        self._calls[call.call_id] = dialog
        return self._destination(dialog)
