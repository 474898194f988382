"""Sans-IO SIP user agent core (RFC 3261 transactions and dialogs): it answers calls, and places them
(outbound.py).

Feed it datagrams or framed stream messages with :meth:`UserAgent.receive`, advance time with
:meth:`UserAgent.handle_timers`, and drain :meth:`take_outgoing` (bytes to send) and
:meth:`take_events` (what happened). The application answers, rejects and hangs up calls with
the action methods. No sockets, no clocks: every method takes ``now`` in seconds.

One module on purpose (about 490 lines): the INVITE server transaction and the dialog it makes
share their state (the final response sent again until the ACK, CANCEL, re-INVITE, BYE), as in
pjsip's invite layer; the other layers sit beside it (validate.py, responses.py, in_dialog.py,
session_timer.py, transfer.py, register.py, outbound.py).
"""

from __future__ import annotations

from typing import Callable

from .dialog import MAGIC_COOKIE, T1, Call, CallState, Retransmit, ServerTx, new_tag
from .events import (
    Addr, CallConfirmed, CallEnded, DtmfReceived, Event, IncomingCall, MessageRejected, Outgoing, SessionOffer,
    TransferProgress,
)
from .in_dialog import InDialog
from .message import Request, Response, SipParseError, Via, parse, parse_name_addr, parse_uri, parse_via
from .outbound import Dialling
from .ratelimit import RateLimiter
from .responses import Responses
from .session_timer import MIN_SE, SessionTimers, timer_request
from .transfer import Transfers
from .validate import check_request

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY"
SUPPORTED_EXTENSIONS = frozenset({"timer", "replaces"})
KNOWN_METHODS_NOT_ALLOWED = frozenset({"REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "REFER", "PRACK"})
DIALOG_METHODS = frozenset({"BYE", "NOTIFY", "INFO", "UPDATE"})  # only valid inside a dialog: else 481



class UserAgent(Responses, InDialog, SessionTimers, Transfers, Dialling):
    """A SIP user agent core that answers calls for the application, and places them (outbound.py)."""

    def __init__(self, host: str, port: int, *, user: str = "frontdesk", server_name: str = "frontdesk",
                 min_session_expires: int = MIN_SE, allowed: Callable[[str], bool] | None = None,
                 limiter: RateLimiter | None = None, flood_action: str = "reject", max_backlog_s: float = 0.0):
        self.host = host
        self.port = port
        self.transport_ports: dict[str, int] = {}  # a transport on another port than `port` (TLS)
        self.allowed = allowed  # source access control: False gets 403 before any dialog state
        self.limiter = limiter  # new requests per source; over the limit: 503 (or silence, flood_action "drop")
        self.flood_action = flood_action
        self.rate_limited = 0  # requests refused or dropped by the rate limiter
        # overload: a new INVITE that waited longer than this in our receive queue (the transport
        # says how long) gets 503 at once, instead of a call this process is too far behind to
        # carry; its peer's retransmissions would otherwise pile up behind it. 0: off
        self.max_backlog_s = max_backlog_s
        self.overload_rejected = 0
        self._waited_s = 0.0  # how long the message being handled waited before we read it
        # why this node should get no new calls ("draining", "overloaded"), or None: OPTIONS gets
        # 503 then, and an INVITE too while draining
        self.unavailable: Callable[[], str | None] | None = None
        self.min_se = min_session_expires
        self.user = user
        self.server_name = server_name
        self._outgoing: list[Outgoing] = []
        self._events: list[Event] = []
        self._calls: dict[str, Call] = {}
        self._invite_tx: dict[tuple, str] = {}
        self._server_tx: dict[tuple, ServerTx] = {}
        self._registrations: list = []  # register.Registration
        self._dialling: dict = {}  # call id -> (outbound.OutboundCall, when to forget it once it is over)

    # -- I/O ---------------------------------------------------------------------------

    def take_outgoing(self) -> list[Outgoing]:
        out, self._outgoing = self._outgoing, []
        return out

    def take_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def pending_transactions(self) -> int:
        """State held: calls, INVITE and other server transactions (for leak checks)."""
        return len(self._calls) + len(self._invite_tx) + len(self._server_tx)

    @property
    def active_calls(self) -> int:
        return sum(1 for c in self._calls.values() if c.state != CallState.ENDED)

    def receive(self, data: bytes, addr: Addr, now: float, transport: str = "UDP", waited_s: float = 0.0) -> None:
        """One message from ``addr``. ``waited_s``: how long it sat in the receive queue (kernel
        timestamp to now), for overload control."""
        self._waited_s = waited_s
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            msg = parse(data, stream=transport != "UDP")
        except SipParseError as exc:
            self._reject_malformed(exc, addr, transport)
            return
        if isinstance(msg, Response):
            self._on_response(msg, now)
            return
        try:
            top_via = parse_via(msg.headers.get_all("Via")[0])
            parse_name_addr(msg.headers.get("From") or "")
            parse_name_addr(msg.headers.get("To") or "")
        except (SipParseError, IndexError) as exc:
            self._reject_malformed(SipParseError(str(exc), msg.headers, msg.start_line()), addr, transport)
            return
        self._on_request(msg, top_via, addr, now, transport)

    def add_registration(self, reg) -> None:
        """Keep a binding at a registrar (a register.Registration); it starts at the next timer."""
        self._registrations.append(reg)

    def next_timer(self) -> float | None:
        # server transactions are kept in the order they were made, all for 64*T1: the first expires first
        deadlines = [next(iter(self._server_tx.values())).expires_at] if self._server_tx else []
        deadlines += [t for t in (r.next_timer() for r in self._registrations) if t is not None]
        deadlines += self._dial_deadlines()
        for call in self._calls.values():
            for rt in (call.retransmit, call.bye, call.refer, call.refresh):
                if rt is not None:
                    deadlines.append(min(rt.next_at, rt.give_up_at))
            if call.timer_at is not None and call.state == CallState.CONFIRMED:
                deadlines.append(call.timer_at)
        return min(deadlines) if deadlines else None

    def handle_timers(self, now: float) -> None:
        while self._server_tx:
            key, tx = next(iter(self._server_tx.items()))
            if tx.expires_at > now:
                break
            del self._server_tx[key]
        for reg in self._registrations:
            data, events = reg.handle_timers(now)
            self._outgoing += [Outgoing(d, reg.destination, reg.transport) for d in data]
            self._events += events
        self._dial_timers(now)
        for call in list(self._calls.values()):
            if self._resend(call, "retransmit", now):
                if call.state == CallState.ANSWERED:  # 2xx never acknowledged: end the dialog
                    self._send_bye(call, now, "no ACK for 200 OK")
                elif call.state == CallState.REJECTED:
                    self._forget(call)
            if self._resend(call, "refer", now):
                self._events.append(TransferProgress(call.call_id, 408, True, False))
            if self._resend(call, "refresh", now):
                self._send_bye(call, now, "session refresh timed out")
            self._session_timer(call, now)
            if self._resend(call, "bye", now):
                self._finish(call, "local", call.end_reason, 408)

    def _resend(self, call: Call, which: str, now: float) -> bool:
        """Timer A/E/G for one of the call's outstanding requests or responses: sent again at a
        doubling interval (capped at T2); True once it is given up (then it is dropped)."""
        rt: Retransmit | None = getattr(call, which)
        if rt is None:
            return False
        again, given_up = rt.due(now)
        if given_up:
            setattr(call, which, None)
        elif again is not None:
            self._outgoing.append(Outgoing(again, rt.addr, rt.transport))
        return given_up

    # -- application actions -----------------------------------------------------------

    def ringing(self, call_id: str, *, now: float) -> None:
        call = self._calls.get(call_id)
        if call and call.state == CallState.EARLY:
            self._respond_call(call, 180, now)

    def answer(self, call_id: str, sdp: bytes, *, now: float) -> None:
        call = self._calls.get(call_id)
        if call is None or call.state != CallState.EARLY:
            return
        call.local_sdp = sdp
        call.state = CallState.ANSWERED
        self._respond_call(call, 200, now, body=sdp, extra=self._timer_headers(call))
        self._restart_session_timer(call, now)

    def reject(self, call_id: str, status: int, *, now: float, reason: str | None = None,
               extra: list[tuple[str, str]] | None = None) -> None:
        call = self._calls.get(call_id)
        if call is None or call.state != CallState.EARLY:
            return
        call.state = CallState.REJECTED
        self._respond_call(call, status, now, reason=reason, extra=extra)
        self._events.append(CallEnded(call_id, "local", f"rejected {status}", status))

    def hangup(self, call_id: str, *, now: float, reason: str = "hangup") -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        if call.state == CallState.EARLY:
            self.reject(call_id, 486, now=now)
        elif call.state in (CallState.ANSWERED, CallState.CONFIRMED):
            call.retransmit = None
            self._send_bye(call, now, reason)

    # -- requests ----------------------------------------------------------------------

    def _tx_key(self, req: Request, via: Via, method: str) -> tuple:
        branch = via.branch or ""
        if branch.startswith(MAGIC_COOKIE):
            # RFC 3261 §17.2.3 matches on branch, sent-by and method; the Call-ID is added so that
            # a client that reuses a branch on another call (RFC 4475's messages do) is not
            # mistaken for a retransmission
            return ("3261", branch, via.host, via.port, req.call_id, method)
        # RFC 2543 fallback (RFC 3261 §17.2.3): match on the request's identifying fields
        from_tag = parse_name_addr(req.headers.get("From") or "").tag
        return ("2543", req.call_id, req.cseq[0], from_tag, str(via), method)

    def _on_request(self, req: Request, via: Via, addr: Addr, now: float, transport: str) -> None:
        method = req.method.upper()
        key = self._tx_key(req, via, "INVITE" if method == "ACK" else method)
        if method == "ACK":
            self._on_ack(req, key)
            return
        if method == "INVITE" and key in self._invite_tx:
            call = self._calls.get(self._invite_tx[key])
            if call is not None:  # retransmission: repeat the last response
                if call.pending_offer is not None and call.pending_offer[1] == key:
                    self._outgoing.append(Outgoing(self._build_response(req, 100, addr, transport).serialize(), addr, transport))
                elif call.last_final:
                    self._outgoing.append(Outgoing(call.last_final, addr, transport))
                else:
                    self._outgoing.append(Outgoing(self._build_response(req, 100, addr, transport).serialize(), addr, transport))
            return
        if key in self._server_tx:  # answered already (an INVITE too, when refused before any dialog)
            tx = self._server_tx[key]
            if tx.response:
                self._outgoing.append(Outgoing(tx.response, addr, transport))
            return
        if self.allowed is not None and not self.allowed(addr[0]):
            if method != "ACK":
                self._reply(req, 403, addr, transport, now, key, reason="Forbidden (source not allowed)")
            return
        if self.limiter is not None and method in ("INVITE", "OPTIONS", "REGISTER", "SUBSCRIBE", "MESSAGE") \
                and self._out_of_dialog(req) and not self.limiter.allow(addr[0], now):
            # Over the rate: an INVITE may be told to come back (a trunk bursting calls), anything
            # else gets silence. A scanner (svwar) that got 503 for some extensions and 200 for
            # others learned which "existed"; now every probe past the rate looks the same. Not
            # reported one by one: the count is a metric (sip_rate_limited) and a flood is no log flood.
            self.rate_limited += 1
            if self.flood_action == "reject" and method == "INVITE":
                self._reply(req, 503, addr, transport, now, key, reason="Service Unavailable (rate limited)",
                            extra=[("Retry-After", str(self.limiter.retry_after()))], report=False)
            return
        try:
            if req.uri.startswith("<"):
                raise SipParseError("Request-URI in <>")
            scheme = parse_uri(req.uri).scheme
        except SipParseError:
            self._reply(req, 400, addr, transport, now, key, reason="Bad Request-URI")
            return
        if scheme not in ("sip", "sips", "tel"):
            self._reply(req, 416, addr, transport, now, key)
            return
        problem = check_request(req, method)
        if problem is not None:
            status, why, extra = problem
            self._reply(req, status, addr, transport, now, key, reason=why, extra=extra)
            return
        if method != "CANCEL":
            unsupported = [opt for opt in req.headers.get_all("Require") if opt.lower() not in SUPPORTED_EXTENSIONS]
            if unsupported:
                self._reply(req, 420, addr, transport, now, key, extra=[("Unsupported", ", ".join(unsupported))])
                return
        to_tag = parse_name_addr(req.headers.get("To") or "").tag
        call = self._calls.get(req.call_id)
        in_dialog = call is not None and to_tag is not None and to_tag == call.local_tag
        if method == "INVITE":
            if to_tag is None:
                self._new_call(req, via, key, addr, now, transport)
            elif in_dialog:
                self._reinvite(call, req, addr, now, transport, key)
            else:
                self._reply(req, 481, addr, transport, now, key)
        elif method == "CANCEL":
            self._on_cancel(req, via, addr, now, transport, key)
        elif method == "OPTIONS":
            busy = self.unavailable() if self.unavailable is not None and to_tag is None else None
            if busy:  # a load balancer's probe: take this node out of rotation
                self._reply(req, 503, addr, transport, now, key, reason=f"Service Unavailable ({busy})",
                            extra=[("Retry-After", "30")])
            else:
                self._reply(req, 200, addr, transport, now, key,
                            extra=[("Allow", ALLOW), ("Accept", "application/sdp"),
                                   ("Supported", ", ".join(sorted(SUPPORTED_EXTENSIONS)))])
        elif method in DIALOG_METHODS and not in_dialog:
            self._reply(req, 481, addr, transport, now, key)
        elif method == "BYE":
            self._check_cseq(call, req)
            self._reply(req, 200, addr, transport, now, key)
            call.retransmit = None
            self._finish(call, "remote", "BYE")
        elif method == "NOTIFY":
            self._check_cseq(call, req)
            self._reply(req, 200, addr, transport, now, key)
            self._on_notify(call, req)
        elif method == "UPDATE":
            self._check_cseq(call, req)
            if call.pending_offer is not None or call.refresh is not None:
                self._reply(req, 491, addr, transport, now, key, extra=[("Retry-After", "1")])
                return
            self._update_timer_from(call, req, now)
            if req.body:
                call.pending_offer = (req, key, addr, transport)
                self._events.append(SessionOffer(call.call_id, req.body, "UPDATE"))
            else:
                self._reply(req, 200, addr, transport, now, key, extra=self._timer_headers(call))
        elif method == "INFO":
            self._check_cseq(call, req)
            self._reply(req, 200, addr, transport, now, key)
            digit = _dtmf_from_info(req)
            if digit:
                self._events.append(DtmfReceived(call.call_id, digit))
        elif method in KNOWN_METHODS_NOT_ALLOWED:
            self._reply(req, 405, addr, transport, now, key, extra=[("Allow", ALLOW)])
        else:
            self._reply(req, 501, addr, transport, now, key, extra=[("Allow", ALLOW)])

    def _check_cseq(self, call: Call, req: Request) -> None:
        call.remote_cseq = max(call.remote_cseq, req.cseq[0])

    def _new_call(self, req: Request, via: Via, key: tuple, addr: Addr, now: float, transport: str) -> None:
        frm = parse_name_addr(req.headers.get("From") or "")
        to = parse_name_addr(req.headers.get("To") or "")
        if req.call_id in self._calls:  # same Call-ID, new transaction, no To tag: a merged request
            self._reply(req, 482, addr, transport, now, key, reason="Loop Detected")
            return
        if self.max_backlog_s and self._waited_s > self.max_backlog_s:
            self.overload_rejected += 1
            self._reply(req, 503, addr, transport, now, key, reason="Service Unavailable (overloaded)",
                        extra=[("Retry-After", "5")], report=False)  # the server logs a count per second
            return
        busy = self.unavailable() if self.unavailable is not None else None
        if busy in ("draining", "at capacity"):  # new calls go to another node (or come back later)
            self._reply(req, 503, addr, transport, now, key, reason=f"Service Unavailable ({busy})",
                        extra=[("Retry-After", "60" if busy == "draining" else "5")])
            return
        contacts = req.headers.get_all("Contact")
        try:
            target = parse_name_addr(contacts[0]).uri if contacts else frm.uri
        except SipParseError:
            target = frm.uri
        timer = timer_request(req)
        if timer.expires is not None and timer.expires < self.min_se:
            self._reply(req, 422, addr, transport, now, key, extra=[("Min-SE", str(self.min_se))])
            return
        call = Call(
            call_id=req.call_id, invite=req, invite_key=key, remote_addr=addr, transport=transport,
            local_tag=new_tag(), remote_tag=frm.tag, local_uri=req.headers.get("To") or "",
            remote_uri=req.headers.get("From") or "", remote_target=target,
            route_set=req.headers.get_all("Record-Route"), remote_cseq=req.cseq[0],
        )
        call.peer_timer = timer.supported
        call.peer_allows_update = "UPDATE" in (req.headers.get("Allow") or "").upper()
        if timer.expires is not None:
            call.session_expires = max(timer.expires, timer.min_se or 0, self.min_se)
            # the caller asked for a refresher, or supports timers (then it refreshes), else we do
            call.we_refresh = timer.refresher == "uas" or (timer.refresher is None and not timer.supported)
        self._calls[req.call_id] = call
        self._invite_tx[key] = req.call_id
        self._outgoing.append(Outgoing(self._build_response(req, 100, addr, transport).serialize(), addr, transport))
        self._events.append(IncomingCall(
            call_id=req.call_id, remote_addr=addr, transport=transport, caller_uri=frm.uri,
            caller_name=frm.display, called_uri=to.uri, request_uri=req.uri, offer=req.body,
        ))

    def _reinvite(self, call: Call, req: Request, addr: Addr, now: float, transport: str, key: tuple) -> None:
        """A re-INVITE: a session refresh, or a new offer (hold, resume, codec or address change)."""
        self._check_cseq(call, req)
        if call.pending_offer is not None or call.refresh is not None:
            self._reply(req, 491, addr, transport, now, key, extra=[("Retry-After", "1")])
            return
        self._invite_tx[key] = call.call_id
        self._update_timer_from(call, req, now)
        if req.body:
            call.pending_offer = (req, key, addr, transport)
            self._outgoing.append(Outgoing(self._build_response(req, 100, addr, transport).serialize(), addr, transport))
            self._events.append(SessionOffer(call.call_id, req.body, "INVITE"))
            return
        # no offer: ours is the current session, offered again in the 200 (the answer comes in the ACK)
        self._final_to_reinvite(call, req, 200, addr, transport, now, call.local_sdp)

    def _final_to_reinvite(self, call: Call, req: Request, status: int, addr: Addr, transport: str, now: float,
                           body: bytes = b"") -> None:
        extra = self._timer_headers(call) if status < 300 else []
        data = self._build_response(req, status, addr, transport, to_tag=call.local_tag, body=body, extra=extra).serialize()
        call.last_final = data
        if transport == "UDP":
            call.retransmit = Retransmit.start(data, addr, transport, now)
        self._outgoing.append(Outgoing(data, addr, transport))

    def accept_offer(self, call_id: str, sdp: bytes, *, now: float) -> None:
        """Answer the pending in-call offer (SessionOffer) with ``sdp``."""
        call = self._calls.get(call_id)
        if call is None or call.pending_offer is None:
            return
        req, key, addr, transport = call.pending_offer
        call.pending_offer = None
        call.local_sdp = sdp
        if req.method.upper() == "INVITE":
            self._final_to_reinvite(call, req, 200, addr, transport, now, sdp)
        else:
            self._reply(req, 200, addr, transport, now, key, body=sdp,
                        extra=self._timer_headers(call))

    def reject_offer(self, call_id: str, status: int = 488, *, now: float, warning: str | None = None) -> None:
        """Refuse the pending in-call offer; the session stays as it was."""
        call = self._calls.get(call_id)
        if call is None or call.pending_offer is None:
            return
        req, key, addr, transport = call.pending_offer
        call.pending_offer = None
        extra = [("Warning", f'304 frontdesk "{warning}"')] if warning else None
        if req.method.upper() == "INVITE":
            self._final_to_reinvite(call, req, status, addr, transport, now)
        else:
            self._reply(req, status, addr, transport, now, key, extra=extra)

    def _on_ack(self, req: Request, key: tuple) -> None:
        call = self._calls.get(req.call_id)
        if call is None:
            return
        to_tag = parse_name_addr(req.headers.get("To") or "").tag
        if call.state == CallState.ANSWERED and to_tag == call.local_tag:
            call.state = CallState.CONFIRMED
            call.retransmit = None
            self._events.append(CallConfirmed(call.call_id))
        elif call.state == CallState.CONFIRMED and to_tag == call.local_tag:
            call.retransmit = None  # ACK to a re-INVITE's 2xx
        elif call.state == CallState.REJECTED and self._invite_tx.get(key) == call.call_id:
            call.retransmit = None
            self._forget(call)

    def _on_cancel(self, req: Request, via: Via, addr: Addr, now: float, transport: str, key: tuple) -> None:
        invite_key = key[:-1] + ("INVITE",)
        call_id = self._invite_tx.get(invite_key)
        call = self._calls.get(call_id) if call_id else None
        if call is None:
            self._reply(req, 481, addr, transport, now, key)
            return
        self._reply(req, 200, addr, transport, now, key)
        if call.state == CallState.EARLY:
            call.state = CallState.REJECTED
            self._respond_call(call, 487, now)
            self._events.append(CallEnded(call.call_id, "remote", "CANCEL"))

    # -- responses ---------------------------------------------------------------------

    def _on_response(self, resp: Response, now: float) -> None:
        for reg in self._registrations:
            if reg.matches(resp):
                data, events = reg.on_response(resp, now)
                self._outgoing += [Outgoing(d, reg.destination, reg.transport) for d in data]
                self._events += events
                return
        if self._dial_response(resp, now):
            return
        try:
            via = parse_via(resp.headers.get_all("Via")[0])
        except (SipParseError, IndexError):
            return
        for call in list(self._calls.values()):
            if call.refresh_branch == via.branch and call.refresh_branch is not None:
                if call.refresh is not None or resp.status >= 200:
                    self._on_refresh_response(call, resp, now)
                return
            if call.refer is not None and call.refer_branch == via.branch:
                self._on_refer_response(call, resp)
                return
            if call.bye is not None and call.bye_branch == via.branch:
                if resp.status >= 200:
                    call.bye = None
                    self._finish(call, "local", call.end_reason, resp.status)
                return

    def _out_of_dialog(self, req: Request) -> bool:
        try:
            return parse_name_addr(req.headers.get("To") or "").tag is None
        except SipParseError:
            return True

def _dtmf_from_info(req: Request) -> str | None:
    ctype = (req.headers.get("Content-Type") or "").lower()
    if "dtmf-relay" not in ctype and "dtmf" not in ctype:
        return None
    for line in req.body.decode("utf-8", "replace").splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() == "signal" and value.strip()[:1] in "0123456789*#ABCDabcd":
            return value.strip()[:1].upper()
    return None
