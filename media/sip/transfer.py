"""Blind transfer (RFC 3515 REFER, with RFC 3420 sipfrag NOTIFYs), as a part of the user agent.

The app asks for ``refer(call_id, target)``; the REFER's response and each NOTIFY's status line
come back as TransferProgress events (``final`` once the outcome is known)."""

from __future__ import annotations

from .dialog import Call, CallState, Retransmit
from .events import Outgoing, TransferProgress
from .message import Request, Response, parse_name_addr


class Transfers:
    """Mixed into UserAgent: it provides ``_calls``, ``_events``, ``_outgoing`` and ``_in_dialog_request``."""

    def refer(self, call_id: str, target: str, *, now: float) -> None:
        """Blind transfer (RFC 3515): ask the caller's side to call ``target``. Progress and the
        outcome arrive as TransferProgress events (from the REFER's response and the NOTIFYs)."""
        call = self._calls.get(call_id)
        if call is None or call.state != CallState.CONFIRMED:
            self._events.append(TransferProgress(call_id, 481, True, False))
            return
        local = parse_name_addr(call.local_uri).uri
        data, branch, dest = self._in_dialog_request(call, "REFER", [("Refer-To", f"<{target}>"), ("Referred-By", f"<{local}>")])
        call.refer_branch = branch
        call.refer_accepted = False
        self._outgoing.append(Outgoing(data, dest, call.transport))
        call.refer = Retransmit.start(data, dest, call.transport, now)

    def _on_refer_response(self, call: Call, resp: Response) -> None:
        if resp.status < 200:
            return
        call.refer = None
        if resp.status < 300:
            call.refer_accepted = True
            self._events.append(TransferProgress(call.call_id, resp.status, False, True))
        else:
            self._events.append(TransferProgress(call.call_id, resp.status, True, False))

    def _on_notify(self, call: Call, req: Request) -> None:
        status = sipfrag_status(req.body)
        if status is not None and (req.headers.get("Event") or "").lower().startswith("refer"):
            self._events.append(TransferProgress(call.call_id, status, status >= 200, status < 300))


def sipfrag_status(body: bytes) -> int | None:
    """The status code of a message/sipfrag body ("SIP/2.0 200 OK")."""
    first = body.decode("utf-8", "replace").strip().split("\n", 1)[0].strip()
    parts = first.split(" ", 2)
    if len(parts) >= 2 and parts[0].upper().startswith("SIP/") and parts[1].isdecimal() and len(parts[1]) == 3:
        return int(parts[1])
    return None
