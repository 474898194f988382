"""What the user agent reports to the application (events) and hands to the transport (Outgoing)."""

from __future__ import annotations

from dataclasses import dataclass

Addr = tuple[str, int]


# ---- events -----------------------------------------------------------------------------

@dataclass
class IncomingCall:
    call_id: str
    remote_addr: Addr
    transport: str
    caller_uri: str
    caller_name: str
    called_uri: str
    request_uri: str
    offer: bytes


@dataclass
class CallConfirmed:
    call_id: str


@dataclass
class CallEnded:
    call_id: str
    by: str  # "remote" | "local"
    reason: str
    status: int | None = None  # final status of our BYE, when we hung up


@dataclass
class DtmfReceived:
    call_id: str
    digit: str


@dataclass
class TransferProgress:
    """How a blind transfer (REFER) is going: ``status`` is the REFER's response or the
    status line of the NOTIFY sipfrag; ``final`` says whether the outcome is known."""

    call_id: str
    status: int
    final: bool
    ok: bool


@dataclass
class SessionOffer:
    """A new SDP offer inside the call (re-INVITE or UPDATE): hold, resume, a codec or address
    change. The application answers with accept_offer() or reject_offer()."""
    call_id: str
    offer: bytes
    method: str


@dataclass
class MessageRejected:
    remote_addr: Addr
    status: int | None
    reason: str


Event = IncomingCall | CallConfirmed | CallEnded | DtmfReceived | TransferProgress | MessageRejected


@dataclass
class Outgoing:
    data: bytes
    addr: Addr
    transport: str
