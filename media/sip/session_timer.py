"""Session timers (RFC 4028), as a part of the user agent: Session-Expires and Min-SE read from a
request or response, the refresh (UPDATE when the peer allows it, else re-INVITE) when we are the
refresher, and a BYE when the peer is and no refresh came."""

from __future__ import annotations

from dataclasses import dataclass

from .dialog import Call, CallState, Retransmit
from .events import Outgoing
from .message import Request, Response

MIN_SE = 90  # RFC 4028's floor for Session-Expires


@dataclass
class TimerRequest:
    expires: int | None
    refresher: str | None
    min_se: int | None
    supported: bool


def timer_request(msg) -> TimerRequest:
    """Session-Expires (compact: x), Min-SE and timer support in a request or response."""
    value = msg.headers.get("Session-Expires") or ""
    parts = [p.strip() for p in value.split(";")]
    expires = int(parts[0]) if parts and parts[0].isdecimal() else None
    refresher = None
    for p in parts[1:]:
        name, _, arg = p.partition("=")
        if name.strip().lower() == "refresher" and arg.strip().lower() in ("uac", "uas"):
            refresher = arg.strip().lower()
    min_se_raw = (msg.headers.get("Min-SE") or "").split(";")[0].strip()
    options = ",".join(msg.headers.get_all("Supported") + msg.headers.get_all("Require"))
    supported = "timer" in [o.strip().lower() for o in options.split(",")]
    return TimerRequest(expires, refresher, int(min_se_raw) if min_se_raw.isdecimal() else None, supported)


class SessionTimers:
    """Mixed into UserAgent: it provides ``min_se``, ``_outgoing``, ``_in_dialog_request`` and ``_send_bye``."""

    def _timer_headers(self, call: Call) -> list[tuple[str, str]]:
        """Session-Expires for a 2xx to a request from the peer (the INVITE that set up the call, or
        a refresh): the peer sent it, so "uac" names the peer and "uas" names us."""
        if call.session_expires is None:
            return []
        refresher = "uas" if call.we_refresh else "uac"
        headers = [("Session-Expires", f"{call.session_expires};refresher={refresher}")]
        if call.peer_timer:
            headers.append(("Require", "timer"))
        return headers

    def _restart_session_timer(self, call: Call, now: float) -> None:
        if call.session_expires is None:
            call.timer_at = None
        elif call.we_refresh:
            call.timer_at = now + call.session_expires / 2
        else:  # RFC 4028 §10: BYE if no refresh by expiry minus min(32 s, a third)
            call.timer_at = now + call.session_expires - min(32, call.session_expires / 3)

    def _update_timer_from(self, call: Call, req: Request, now: float) -> None:
        """A re-INVITE or UPDATE from the peer refreshes the session (and may renegotiate it)."""
        timer = timer_request(req)
        if timer.expires is not None:
            call.session_expires = max(timer.expires, self.min_se)
            # in the peer's request, refresher=uac means the peer refreshes
            call.we_refresh = timer.refresher == "uas"
            call.peer_timer = call.peer_timer or timer.supported
        self._restart_session_timer(call, now)

    def _session_timer(self, call: Call, now: float) -> None:
        if call.timer_at is None or now < call.timer_at or call.state != CallState.CONFIRMED:
            return
        call.timer_at = None
        if not call.we_refresh:
            self._send_bye(call, now, "session timer expired")
            return
        self._send_refresh(call, now)

    def _send_refresh(self, call: Call, now: float) -> None:
        method = "UPDATE" if call.peer_allows_update else "INVITE"
        extra = [("Session-Expires", f"{call.session_expires};refresher=uac"), ("Supported", "timer")]
        body = b""
        if method == "INVITE":  # a re-INVITE must carry an offer: the session as it is
            extra.append(("Content-Type", "application/sdp"))
            body = call.local_sdp
        data, branch, dest = self._in_dialog_request(call, method, extra, body=body)
        call.refresh_branch = branch
        call.refresh_cseq = call.local_cseq
        self._outgoing.append(Outgoing(data, dest, call.transport))
        call.refresh = Retransmit.start(data, dest, call.transport, now)

    def _on_refresh_response(self, call: Call, resp: Response, now: float) -> None:
        method = resp.headers.get("CSeq", "").split()[-1].upper() if resp.headers.get("CSeq") else ""
        if resp.status < 200:
            if method == "INVITE" and call.refresh is not None:
                call.refresh.next_at = call.refresh.give_up_at  # provisional: stop retransmitting, wait
            return
        call.refresh = None
        if method == "INVITE":  # every final response to our INVITE gets its ACK (2xx: a new transaction)
            ack, _branch_unused, dest = self._in_dialog_request(call, "ACK", [], cseq=call.refresh_cseq)
            self._outgoing.append(Outgoing(ack, dest, call.transport))
        if resp.status < 300:
            timer = timer_request(resp)
            if timer.expires is not None:
                call.session_expires = max(timer.expires, self.min_se)
                call.we_refresh = timer.refresher in (None, "uac")
            self._restart_session_timer(call, now)
        elif resp.status == 422:
            min_se = resp.headers.get("Min-SE", "").split(";")[0].strip()
            if min_se.isdecimal():
                call.session_expires = max(call.session_expires or 0, int(min_se))
            self._send_refresh(call, now)
        elif resp.status == 491:
            call.timer_at = now + 2.0  # glare: try again shortly
        else:  # 481, 408 and the rest: the session is gone (RFC 4028 §10)
            self._send_bye(call, now, f"session refresh failed ({resp.status})")
