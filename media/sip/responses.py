"""Responses, as a part of the user agent: built from the request they answer (Via with received
and rport, the To tag, the route set and Contact of a dialog-creating 2xx), sent statelessly or
kept in the server transaction for retransmissions, and the 400-class answer to a request too
broken to parse but with enough headers to route a response back."""

from __future__ import annotations

from .dialog import T1, Call, Retransmit, ServerTx, new_tag
from .events import Addr, MessageRejected, Outgoing
from .message import Headers, Request, Response, SipParseError, parse_via

REASONS = {
    422: "Session Interval Too Small", 491: "Request Pending",
    100: "Trying", 180: "Ringing", 200: "OK", 400: "Bad Request", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 416: "Unsupported URI Scheme",
    420: "Bad Extension", 481: "Call/Transaction Does Not Exist", 486: "Busy Here",
    487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable",
}


class Responses:
    """Mixed into UserAgent: it provides ``host``, ``port``, ``user``, ``server_name``,
    ``transport_ports``, ``_calls``, ``_server_tx``, ``_outgoing``, ``_events`` and ``_forget``."""

    def _contact(self, transport: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{self.user}@{host}:{self._port(transport)}{suffix}>"

    def _port(self, transport: str) -> int:
        """The port this agent is reached on over `transport`: a peer sends its in-dialog requests
        (the caller's BYE) to the Contact, so a TLS dialog must name the TLS port."""
        return self.transport_ports.get(transport, self.port)

    def _build_response(self, req: Request, status: int, addr: Addr, transport: str, *,
                        to_tag: str | None = None, reason: str | None = None, body: bytes = b"",
                        extra: list[tuple[str, str]] | None = None) -> Response:
        headers = Headers()
        vias = req.headers.get_all("Via")
        for i, value in enumerate(vias):
            if i == 0:
                try:
                    via = parse_via(value)
                    if via.host != addr[0]:
                        via.params["received"] = addr[0]
                    if "rport" in via.params:
                        via.params["rport"] = str(addr[1])
                    value = str(via)
                except SipParseError:
                    pass
            headers.add("Via", value)
        if "From" in req.headers:
            headers.add("From", req.headers.get("From") or "")
        if "To" in req.headers:
            to = req.headers.get("To") or ""
            if status > 100 and to_tag and "tag=" not in to.lower():
                to = f"{to};tag={to_tag}"
            headers.add("To", to)
        if "Call-ID" in req.headers:
            headers.add("Call-ID", req.call_id)
        headers.add("CSeq", req.headers.get("CSeq") or "")
        headers.add("Server", self.server_name)
        if req.method.upper() == "INVITE" and 100 < status < 300:
            # RFC 3261 §12.1.1: the route set goes back to the caller, in the same order
            for route in req.headers.get_all("Record-Route"):
                headers.add("Record-Route", route)
            headers.add("Contact", self._contact(transport))
        for name, value in extra or []:
            headers.add(name, value)
        if body and "Content-Type" not in headers:
            headers.add("Content-Type", "application/sdp")
        return Response(headers=headers, status=status, reason=reason or REASONS.get(status, "Unknown"), body=body)

    def _reply(self, req: Request, status: int, addr: Addr, transport: str, now: float, key: tuple, *,
               reason: str | None = None, body: bytes = b"", extra: list[tuple[str, str]] | None = None,
               report: bool = True) -> None:
        """Answer a request statelessly (the server transaction keeps the answer for retransmissions).
        ``report``: a rejection becomes a MessageRejected event (not for overload, counted instead)."""
        call = self._calls.get(req.call_id)
        to_tag = call.local_tag if call else new_tag()
        data = self._build_response(req, status, addr, transport, to_tag=to_tag, reason=reason, body=body, extra=extra).serialize()
        self._outgoing.append(Outgoing(data, addr, transport))
        self._server_tx.pop(key, None)  # (re)inserted at the end: the dict stays in expiry order
        self._server_tx[key] = ServerTx(data, addr, transport, now + 64 * T1)
        if status >= 300 and report:
            self._events.append(MessageRejected(addr, status, f"{req.method} {reason or REASONS.get(status, '')}"))

    def _respond_call(self, call: Call, status: int, now: float, *, body: bytes = b"", reason: str | None = None,
                      extra: list[tuple[str, str]] | None = None) -> None:
        resp = self._build_response(call.invite, status, call.remote_addr, call.transport,
                                    to_tag=call.local_tag, reason=reason, body=body, extra=extra)
        data = resp.serialize()
        self._outgoing.append(Outgoing(data, call.remote_addr, call.transport))
        if status >= 200:
            call.final_status = status
            call.last_final = data
            if call.transport == "UDP":
                # 2xx: the TU retransmits until ACK (§13.3.1.4); non-2xx: timer G until ACK, H gives up.
                call.retransmit = Retransmit.start(data, call.remote_addr, call.transport, now)
            elif status >= 300:
                self._forget(call)

    def _reject_malformed(self, exc: SipParseError, addr: Addr, transport: str) -> None:
        headers = exc.headers
        start = exc.start_line
        needed = ("Via", "CSeq")  # enough to route a response back; From, To and Call-ID are copied if present
        is_request = bool(start) and not start.startswith("SIP/")
        if headers is None or not is_request or not all(h in headers for h in needed) or start.upper().startswith("ACK "):
            self._events.append(MessageRejected(addr, None, f"dropped unparseable message: {exc.reason}"))
            return
        fake = Request(headers=headers, method=start.split(" ")[0], uri="")
        label = REASONS.get(exc.status, "Bad Request")
        reason = f"{label} ({exc.reason})"[:120].replace("\r", " ").replace("\n", " ")
        data = self._build_response(fake, exc.status, addr, transport, to_tag=new_tag(), reason=reason).serialize()
        self._outgoing.append(Outgoing(data, addr, transport))
        self._events.append(MessageRejected(addr, exc.status, exc.reason))
