"""Calls over SIP and RTP: our user agent (media.sip) and the calls' SDP, into the call hub.

The user agent is a sans-IO core; SipServer (its asyncio adapter) hands its events here. An
INVITE's offer is negotiated before anything is opened, then the RTP port is opened and the call
goes to the hub (``open``); the 200 OK follows (after a ring, with ``sip.answer_delay_ms``), and
the hub ``begin``s the call on the ACK, or a second later if the ACK is lost. A BYE either way, a
CANCEL or a timeout comes back as ``CallEnded``: the hub ``end``s the call and the port is freed.
Reminder calls go the other way (``place_reminder_call``): an RTP port and an SDP offer, an INVITE to
``[sip.outbound]``'s proxy, and once answered the call goes to the hub like any other.
The SDP of each call (its session id and version, for re-INVITEs and UPDATEs) lives here, as do
registration with a registrar and blind transfer by REFER.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from media.rtp_session import PortAllocator, RtpSession
from media.sdp import SdpError, build_sdp, negotiate, parse_sdp
from media.sip.message import parse_uri
from media.sip.outbound import OutboundAnswered, OutboundCall, OutboundFailed, OutboundRinging
from media.sip.ratelimit import RateLimiter
from media.sip.register import Registered, Registration, RegistrationFailed
from media.sip.transport import SipServer
from media.sip.useragent import (
    CallConfirmed, CallEnded, DtmfReceived, IncomingCall, MessageRejected, SessionOffer, TransferProgress,
    UserAgent,
)
from media.srtp import SrtpContext
from tools.reminder_calls import CallRequest

from .. import __version__
from ..calls import CallHub, CallInfo
from ..config import Config

log = logging.getLogger("frontdesk.sip")
ACK_WAIT_S = 1.0  # the conversation starts on the ACK, or this long after the 200 OK if the ACK is lost


@dataclass
class _SipCall:
    rtp: RtpSession
    sdp_session_id: int
    sdp_version: int = 1


class SipIngress:
    def __init__(self, cfg: Config, calls: CallHub):
        self.cfg = cfg
        self.hub = calls
        self.ports = PortAllocator(cfg.sip.rtp_port_min, cfg.sip.rtp_port_max)
        self.calls: dict[str, _SipCall] = {}
        self._transfers: dict[str, asyncio.Queue] = {}
        self._dialling: dict[str, asyncio.Queue] = {}  # calls we placed, until answered or failed
        self._overload_logged = 0  # ua.overload_rejected when last logged
        self.ua: UserAgent | None = None
        self.sip: SipServer | None = None
        self.bound_port = 0
        self.tls_port = 0

    async def start(self) -> None:
        sip = self.cfg.sip
        self.ua = UserAgent(sip.public_address, sip.port, server_name=f"frontdesk/{__version__}",
                            min_session_expires=sip.session_expires_min_s, allowed=self.allowed,
                            limiter=RateLimiter(sip.rate_limit, max(1, int(2 * sip.rate_limit)))
                            if sip.rate_limit > 0 else None, flood_action=sip.flood_action,
                            max_backlog_s=sip.overload_backlog_ms / 1000)
        self.ua.unavailable = self.hub.unavailable
        self.sip = SipServer(self.ua, self.on_event)
        port = sip.port
        for transport in sip.transports:
            if transport == "UDP":
                port = await self.sip.listen_udp(sip.listen, port)
            elif transport == "TCP":
                port = await self.sip.listen_tcp(sip.listen, port)
        if "TLS" in sip.transports:
            self.tls_port = await self.sip.listen_tls(sip.listen, sip.tls_port, str(Path(sip.tls_certificate).expanduser()),
                                                      str(Path(sip.tls_private_key).expanduser()))
            self.ua.transport_ports["TLS"] = self.tls_port
        self.bound_port = port
        self.ua.port = port
        asyncio.get_running_loop().call_later(1.0, self._watch_overload)
        if sip.register is not None:
            await self._register()

    def close(self) -> None:
        if self.sip:
            self.sip.close()

    def allowed(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.cfg.sip.allowed_networks)

    def live(self) -> dict:
        """This ingress's figures for /metrics."""
        return {"rtp_ports": len(self.ports.in_use),
                "sip_transactions": self.ua.pending_transactions() if self.ua is not None else 0,
                "overload_rejected": self.ua.overload_rejected if self.ua is not None else 0}

    async def _register(self) -> None:
        """Keep a binding at the configured registrar; a DNS name is resolved (A/AAAA) first."""
        assert self.sip and self.ua
        reg, port = self.cfg.sip.register, self.bound_port
        assert reg is not None
        uri = parse_uri(reg.registrar)
        transport = "TCP" if (uri.params.get("transport") or "").lower() == "tcp" else "UDP"
        address = None
        try:
            ipaddress.ip_address(uri.host)
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                infos = await loop.getaddrinfo(uri.host, uri.port or 5060,
                                               type=socket.SOCK_STREAM if transport == "TCP" else socket.SOCK_DGRAM)
            except OSError as exc:
                log.error("registrar %s: cannot resolve %s (%s); retrying in 30 s", reg.registrar, uri.host, exc)
                loop.call_later(30, lambda: loop.create_task(self._register()))
                return
            infos.sort(key=lambda info: info[0] == socket.AF_INET6)  # IPv4 first, like our own listener
            address = (infos[0][4][0], infos[0][4][1])
            log.info("registrar %s resolves to %s:%s", reg.registrar, *address)
        user = parse_uri(reg.aor).user or "frontdesk"
        suffix = ";transport=tcp" if transport == "TCP" else ""
        self.ua.add_registration(Registration(
            reg.registrar, reg.aor, f"<sip:{user}@{self.cfg.sip.public_address}:{port}{suffix}>", username=reg.username,
            password=reg.password, expires=reg.expires, transport=transport, address=address,
            local_host=self.cfg.sip.public_address, local_port=port, user_agent=f"frontdesk/{__version__}"))
        self.sip.flush()  # starts the registration

    # -- the user agent's events --------------------------------------------------------------

    def on_event(self, event) -> None:
        if isinstance(event, IncomingCall):
            asyncio.get_running_loop().create_task(self._incoming(event))
        elif isinstance(event, CallConfirmed):
            self.hub.begin(event.call_id)
        elif isinstance(event, CallEnded):
            self._ended(event)
        elif isinstance(event, DtmfReceived):  # in a SIP INFO (RFC 4733 digits come in the RTP)
            session = self.hub.sessions.get(event.call_id)
            if session:
                session.on_dtmf(event.digit)
        elif isinstance(event, (OutboundRinging, OutboundAnswered, OutboundFailed)):
            queue = self._dialling.get(event.call_id)
            if queue is not None:
                queue.put_nowait(event)
        elif isinstance(event, TransferProgress):
            queue = self._transfers.get(event.call_id)
            if queue is not None:
                queue.put_nowait(event)
        elif isinstance(event, Registered):
            log.info("registered with %s for %d s", event.registrar, event.expires)
        elif isinstance(event, RegistrationFailed):
            log.error("registration with %s failed: %s; retrying in %.0f s", event.registrar, event.reason, event.retry_in)
        elif isinstance(event, SessionOffer):
            self._session_offer(event)
        elif isinstance(event, MessageRejected):
            log.info("SIP from %s:%s rejected%s: %s", *event.remote_addr,
                     f" with {event.status}" if event.status else "", event.reason)

    async def _incoming(self, ev: IncomingCall) -> None:
        assert self.sip and self.ua
        sip = self.cfg.sip
        try:
            offer = parse_sdp(ev.offer)
        except SdpError as exc:
            log.warning("call %s: bad SDP offer (%s); 488", ev.call_id, exc)
            self.sip.act(self.ua.reject, ev.call_id, 488)
            return
        try:
            # Negotiate before opening a port, so that a bad offer costs nothing.
            probe = negotiate(offer, sip.public_address, 9, srtp=sip.srtp)
        except SdpError as exc:
            log.warning("call %s: %s; 488", ev.call_id, exc)
            self.sip.act(self.ua.reject, ev.call_id, 488, extra=[("Warning", f'304 frontdesk "{exc}"')])
            return
        srtp = None
        if probe.crypto is not None and probe.local_key is not None:
            try:
                srtp = SrtpContext(probe.crypto.suite, probe.local_key, probe.crypto.key)
            except Exception as exc:  # a key libsrtp refuses
                log.warning("call %s: SRTP setup failed (%s); 488", ev.call_id, exc)
                self.sip.act(self.ua.reject, ev.call_id, 488)
                return
        try:
            rtp = await RtpSession.open(
                self.ports, sip.listen, codec=probe.codec, payload_type=probe.payload_type,
                dtmf_payload_type=probe.dtmf_payload_type, remote=(probe.remote_host, probe.remote_port), srtp=srtp)
        except OSError as exc:
            log.error("call %s: cannot open RTP (%s); 503", ev.call_id, exc)
            self.sip.act(self.ua.reject, ev.call_id, 503)
            return
        answer = negotiate(offer, sip.public_address, rtp.port, srtp=sip.srtp, local_key=probe.local_key)
        rtp.update(codec=answer.codec, payload_type=answer.payload_type, dtmf_payload_type=answer.dtmf_payload_type,
                   remote=rtp.remote, may_send=answer.we_may_send)  # an offer that starts on hold
        host = ev.remote_addr[0]
        info = CallInfo("sip", ev.call_id, ev.caller_uri, ev.called_uri, f"{host}:{ev.remote_addr[1]}", ev.transport,
                        answer.codec + ("/SRTP" if srtp else ""))
        session = self.hub.open(info, rtp, end=lambda reason, cid=ev.call_id: self._hangup(cid, reason),
                                transfer=lambda target, cid=ev.call_id: self.transfer(cid, target), admitted=True)
        if session is None:
            rtp.close()
            self.ports.release(rtp.port)
            self.sip.act(self.ua.reject, ev.call_id, 503)
            return
        self.calls[ev.call_id] = _SipCall(rtp, answer.session_id)
        log.info("call %s from %s (%s) via %s: answering with %s%s", ev.call_id, ev.caller_uri, host, ev.transport,
                 answer.codec, f" over SRTP ({srtp.suite})" if srtp else "")
        if sip.answer_delay_ms:  # let it ring, as a front desk would
            # (with no delay, no 180: a 180 sent just before the 200 can overtake it in a proxy
            # with several workers, and a strict caller then takes the late 180 as an error)
            self.sip.act(self.ua.ringing, ev.call_id)
            await asyncio.sleep(sip.answer_delay_ms / 1000)
            if self.hub.sessions.get(ev.call_id) is not session:
                return  # the caller gave up (CANCEL) while it rang
        self.sip.act(self.ua.answer, ev.call_id, answer.answer.encode())
        rtp.start()
        asyncio.get_running_loop().call_later(ACK_WAIT_S, self.hub.begin, ev.call_id)

    def _session_offer(self, ev: SessionOffer) -> None:
        """re-INVITE or UPDATE with SDP: hold, resume, a codec change, a new RTP address."""
        assert self.sip and self.ua
        call = self.calls.get(ev.call_id)
        session = self.hub.sessions.get(ev.call_id)
        if call is None or session is None:
            self.sip.act(self.ua.reject_offer, ev.call_id, 481)
            return
        rtp = call.rtp
        try:
            neg = negotiate(parse_sdp(ev.offer), self.cfg.sip.public_address, rtp.port,
                            session_id=call.sdp_session_id, version=call.sdp_version + 1,
                            srtp=self.cfg.sip.srtp, local_key=rtp.srtp.local_key if rtp.srtp else None)
            if (neg.crypto is None) != (rtp.srtp is None):
                raise SdpError("switching between RTP and SRTP within a call is not supported")
        except SdpError as exc:
            log.warning("call %s: new offer refused (%s); the session stays as it was", ev.call_id, exc)
            self.sip.act(self.ua.reject_offer, ev.call_id, 488, warning=str(exc))
            return
        call.sdp_version += 1
        if rtp.srtp is not None and neg.crypto is not None:
            rtp.srtp.set_remote_key(neg.crypto.key)  # the peer may re-key in a new offer
        was_on_hold = rtp.on_hold
        rtp.update(codec=neg.codec, payload_type=neg.payload_type, dtmf_payload_type=neg.dtmf_payload_type,
                   remote=(neg.remote_host, neg.remote_port), may_send=neg.we_may_send)
        session.record.codec = neg.codec
        if rtp.on_hold != was_on_hold:
            session.record.holds.append({"t": round(time.time() - (session.record.answered_at or time.time()), 1),
                                         "hold": rtp.on_hold})
            log.info("call %s: %s by the caller's side", ev.call_id, "on hold" if rtp.on_hold else "resumed")
        self.sip.act(self.ua.accept_offer, ev.call_id, neg.answer.encode())

    def _hangup(self, call_id: str, reason: str) -> None:
        """The hub ends a call: a BYE (or a CANCEL's answer, before the 200); CallEnded follows."""
        if self.sip and self.ua:
            self.sip.act(self.ua.hangup, call_id, reason=reason)

    def _ended(self, ev: CallEnded) -> None:
        self.hub.end(ev.call_id, ev.by, ev.reason, ev.status)
        call = self.calls.pop(ev.call_id, None)
        if call is not None:
            self.ports.release(call.rtp.port)  # the hub closed the media

    def _watch_overload(self) -> None:
        """Once a second: new calls refused for overload in the last second are logged."""
        if self.ua is not None and self.ua.overload_rejected != self._overload_logged:
            log.warning("overloaded: %d new call(s) refused with 503 in the last second (their INVITEs waited "
                        "over %d ms to be read)", self.ua.overload_rejected - self._overload_logged,
                        self.cfg.sip.overload_backlog_ms)
            self._overload_logged = self.ua.overload_rejected
        asyncio.get_running_loop().call_later(1.0, self._watch_overload)

    async def place_reminder_call(self, req: CallRequest, report: Callable[[int, str, str], None]) -> None:
        """Place one reminder call through [sip.outbound]; once answered the hub runs its dialog.
        ``report(attempt_id, call_id, result)`` hears of a call that was never answered ("no answer",
        "busy", ...); an answered call's result comes from the hub when it ends."""
        assert self.sip and self.ua
        out, sip = self.cfg.sip.outbound, self.cfg.sip
        assert out is not None
        why = self.hub.unavailable()
        if why is not None:  # draining, or at capacity: tried again later
            log.warning("reminder call for appointment %s not placed now: %s", req.appointment_id, why)
            report(req.attempt_id, "", "failed")
            return
        uri = parse_uri(out.proxy)
        transport = "TCP" if (uri.params.get("transport") or "").lower() == "tcp" else "UDP"
        try:
            host = uri.host.strip("[]")
            try:
                ipaddress.ip_address(host)
            except ValueError:
                infos = await asyncio.get_running_loop().getaddrinfo(host, uri.port or 5060, type=socket.SOCK_DGRAM)
                host = infos[0][4][0]
            rtp = await RtpSession.open(self.ports, sip.listen, codec="PCMU", payload_type=0, dtmf_payload_type=101,
                                        remote=("0.0.0.0", 9))
        except OSError as exc:
            log.error("reminder call for appointment %s: cannot place it (%s)", req.appointment_id, exc)
            report(req.attempt_id, "", "failed")
            return
        session_id = int(time.time())
        offer = build_sdp(sip.public_address, rtp.port, [(0, "PCMU"), (8, "PCMA")], 101, session_id=session_id)
        user = out.caller_id or "frontdesk"
        number = req.number.replace(" ", "")
        suffix = ";transport=tcp" if transport == "TCP" else ""
        call = OutboundCall(target=f"sip:{number}@{uri.host}{f':{uri.port}' if uri.port else ''}{suffix}",
                            from_uri=f'"{self.cfg.clinic.name}" <sip:{user}@{sip.public_address}>',
                            contact=f"<sip:{user}@{sip.public_address}:{self.bound_port}{suffix}>",
                            offer=offer.encode(), address=(host, uri.port or 5060), username=out.username,
                            password=out.password, transport=transport, local_host=sip.public_address,
                            local_port=self.bound_port, user_agent=f"frontdesk/{__version__}",
                            ring_timeout_s=out.ring_timeout_s)
        queue: asyncio.Queue = asyncio.Queue()
        self._dialling[call.call_id] = queue
        report(req.attempt_id, call.call_id, "placing")
        log.info("call %s: reminder call for appointment %s (attempt %d)", call.call_id, req.appointment_id, req.attempt)
        self.sip.act(self.ua.dial, call)
        try:
            while True:
                event = await queue.get()
                if not isinstance(event, OutboundRinging):
                    break
        finally:
            self._dialling.pop(call.call_id, None)
        if isinstance(event, OutboundFailed):
            rtp.close()
            self.ports.release(rtp.port)
            log.info("call %s: reminder call not answered (%s)", call.call_id, event.reason)
            report(req.attempt_id, call.call_id, event.reason if event.reason in ("busy", "no answer") else
                   ("unreachable" if event.status is None else "failed"))
            return
        try:
            answer = negotiate(parse_sdp(event.answer), sip.public_address, rtp.port, srtp="off")
        except SdpError as exc:
            log.warning("call %s: the answer's SDP is not usable (%s); hanging up", call.call_id, exc)
            rtp.close()
            self.ports.release(rtp.port)
            self.sip.act(self.ua.hangup, call.call_id, reason="unusable SDP answer")
            report(req.attempt_id, call.call_id, "failed")
            return
        rtp.update(codec=answer.codec, payload_type=answer.payload_type, dtmf_payload_type=answer.dtmf_payload_type,
                   remote=(answer.remote_host, answer.remote_port), may_send=answer.we_may_send)
        # the record's "caller" is the other party: the patient's number, for the dialog and the report
        info = CallInfo("sip", call.call_id, f"sip:{number}@{uri.host}", call.from_uri, f"{host}:{uri.port or 5060}",
                        transport, answer.codec)
        session = self.hub.open(info, rtp, end=lambda reason, cid=call.call_id: self._hangup(cid, reason),
                                transfer=lambda target, cid=call.call_id: self.transfer(cid, target), admitted=True,
                                reminder=req)
        if session is None:
            rtp.close()
            self.ports.release(rtp.port)
            self.sip.act(self.ua.hangup, call.call_id, reason="busy here")
            report(req.attempt_id, call.call_id, "failed")
            return
        self.calls[call.call_id] = _SipCall(rtp, session_id)
        self.hub.begin(call.call_id)

    async def transfer(self, call_id: str, target: str, timeout_s: float = 20.0) -> bool:
        """Blind transfer by REFER; True once the caller's side reports the new call answered."""
        assert self.sip and self.ua
        session = self.hub.sessions.get(call_id)
        queue: asyncio.Queue = asyncio.Queue()
        self._transfers[call_id] = queue
        log.info("call %s: transferring to %s", call_id, target)
        self.sip.act(self.ua.refer, call_id, target)
        ok, status = False, None
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                async with asyncio.timeout(max(remaining, 0.01)):
                    event = await queue.get()
                status = event.status
                if event.final or not event.ok:
                    ok = event.ok
                    break
        except asyncio.TimeoutError:
            ok = False
        finally:
            self._transfers.pop(call_id, None)
        if session:
            session.record.transfer = {"target": target, "ok": ok, "status": status}
        log.info("call %s: transfer to %s %s (%s)", call_id, target, "succeeded" if ok else "failed", status)
        if ok:
            self.hub.hangup(call_id, "transferred")
        return ok
