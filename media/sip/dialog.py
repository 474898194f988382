"""A call's dialog state (RFC 3261 §12), its retransmissions (§17 timers) and server transactions.

Plain data: the user agent (useragent.py) drives the state machine. ``CallState`` is where the
INVITE dialog is: early (ringing), answered (200 sent, no ACK yet), confirmed, rejected (a final
non-2xx sent), ending (our BYE is out), ended.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from .events import Addr
from .message import Request

T1, T2, T4 = 0.5, 4.0, 5.0
MAGIC_COOKIE = "z9hG4bK"


class CallState(StrEnum):
    EARLY = "early"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    ENDING = "ending"
    ENDED = "ended"


@dataclass
class Retransmit:
    """A request or response sent again until answered (timers A/E/G), given up at ``give_up_at``."""
    data: bytes
    addr: Addr
    transport: str
    interval: float
    next_at: float
    give_up_at: float
    cap: float = T2

    @classmethod
    def start(cls, data: bytes, addr: Addr, transport: str, now: float) -> "Retransmit":
        """Sent now: over UDP again after T1, 2*T1 ... (capped at T2); over TCP or TLS the
        transport is reliable, so only the 64*T1 give-up timer runs."""
        first = T1 if transport == "UDP" else 64 * T1
        return cls(data, addr, transport, first, now + first, now + 64 * T1)

    def due(self, now: float) -> tuple[bytes | None, bool]:
        """(what to send again now, or None; whether it is given up)."""
        if now >= self.give_up_at:
            return None, True
        if now >= self.next_at:
            self.interval = min(self.interval * 2, self.cap)
            self.next_at = now + self.interval
            return self.data, False
        return None, False


@dataclass
class Call:
    call_id: str
    invite: Request
    invite_key: tuple
    remote_addr: Addr
    transport: str
    local_tag: str
    remote_tag: str | None
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: list[str]
    remote_cseq: int
    local_cseq: int = field(default_factory=lambda: secrets.randbelow(2**20) + 1)
    state: CallState = CallState.EARLY
    final_status: int | None = None
    last_final: bytes = b""
    local_sdp: bytes = b""
    retransmit: Retransmit | None = None  # 2xx or non-2xx final until ACK
    bye: Retransmit | None = None
    bye_branch: str | None = None
    refer: Retransmit | None = None
    refer_branch: str | None = None
    refer_accepted: bool = False
    end_reason: str = ""
    pending_offer: tuple | None = None  # (request, tx key, addr, transport) awaiting the app's answer
    # session timer (RFC 4028)
    session_expires: int | None = None
    we_refresh: bool = False
    peer_timer: bool = False  # the peer said Supported/Require: timer
    peer_allows_update: bool = False
    timer_at: float | None = None  # when we refresh (we_refresh) or give up waiting for a refresh
    refresh: Retransmit | None = None
    refresh_branch: str | None = None
    refresh_cseq: int = 0


@dataclass
class ServerTx:
    """A non-INVITE (or refused INVITE) server transaction: its answer, kept for retransmissions."""
    response: bytes | None
    addr: Addr
    transport: str
    expires_at: float


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)
