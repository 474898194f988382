"""Requests we send inside a call's dialog (BYE, and the REFER and refreshes built the same way),
where they go (the route set, the remote target), and the end of a dialog, as a part of the user
agent (RFC 3261 §12.2.1)."""

from __future__ import annotations

import ipaddress

from .dialog import CallState, Retransmit, new_branch
from .events import Addr, CallEnded, Outgoing
from .message import Headers, Request, SipParseError, parse_name_addr, parse_uri


class InDialog:
    """Mixed into UserAgent: it provides ``host``, ``server_name``, ``_calls``, ``_invite_tx``,
    ``_outgoing``, ``_events``, ``_contact`` and ``_port``."""

    def _in_dialog_request(self, call: Call, method: str, extra: list[tuple[str, str]], *, body: bytes = b"",
                           cseq: int | None = None) -> tuple[bytes, str, Addr]:
        if cseq is None:
            call.local_cseq += 1
            cseq = call.local_cseq
        branch = new_branch()
        headers = Headers()
        host = f"[{self.host}]" if ":" in self.host else self.host
        headers.add("Via", f"SIP/2.0/{call.transport} {host}:{self._port(call.transport)};branch={branch};rport")
        headers.add("Max-Forwards", "70")
        for route in call.route_set:
            headers.add("Route", route)
        headers.add("From", _with_tag(call.local_uri, call.local_tag))
        headers.add("To", call.remote_uri)
        headers.add("Call-ID", call.call_id)
        headers.add("CSeq", f"{cseq} {method}")
        headers.add("Contact", self._contact(call.transport))
        headers.add("User-Agent", self.server_name)
        for name, value in extra:
            headers.add(name, value)
        data = Request(headers=headers, method=method, uri=call.remote_target, body=body).serialize()
        return data, branch, self._destination(call)

    def _send_bye(self, call: Call, now: float, reason: str) -> None:
        call.state = CallState.ENDING
        call.end_reason = reason
        call.refer = None
        data, branch, dest = self._in_dialog_request(call, "BYE", [("Reason", f'SIP;cause=200;text="{reason}"')])
        call.bye_branch = branch
        self._outgoing.append(Outgoing(data, dest, call.transport))
        call.bye = Retransmit.start(data, dest, call.transport, now)

    def _destination(self, call: Call) -> Addr:
        """Where in-dialog requests go: the first loose route, else the remote target,
        falling back to the address the INVITE came from when a name would need DNS."""
        if call.transport != "UDP":
            return call.remote_addr  # reuse the caller's connection (we cannot open one to a NATed client)
        target = call.remote_target
        if call.route_set:
            try:
                first = parse_name_addr(call.route_set[0])
                if "lr" in parse_uri(first.uri).params:
                    target = first.uri
            except SipParseError:
                pass
        try:
            uri = parse_uri(target)
        except SipParseError:
            return call.remote_addr
        if _is_ip(uri.host):
            return (uri.host, uri.port or 5060)
        return call.remote_addr

    def _finish(self, call: Call, by: str, reason: str, status: int | None = None) -> None:
        if call.state == CallState.ENDED:
            return
        call.state = CallState.ENDED
        call.retransmit = None
        self._events.append(CallEnded(call.call_id, by, reason, status))
        self._forget(call)

    def _forget(self, call: Call) -> None:
        """Drop a call once nothing is left to retransmit."""
        if call.retransmit is None and call.bye is None:
            call.refer = None
            self._calls.pop(call.call_id, None)
            for key in [k for k, v in self._invite_tx.items() if v == call.call_id]:
                del self._invite_tx[key]


def _with_tag(value: str, tag: str) -> str:
    return value if "tag=" in value.lower() else f"{value};tag={tag}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False
