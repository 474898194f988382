"""`frontdesk serve`: the SIP user agent, one CallSession per answered call."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from typing import Awaitable, Callable
from pathlib import Path

from dialog.conversation import Conversation
from media.rtp_session import PortAllocator, RtpSession
from media.clock import media_clock
from media.stream_media import StreamMedia
from media.sdp import SdpError, negotiate, parse_sdp
from media.srtp import SrtpContext
from media.sip.ratelimit import RateLimiter
from media.sip.register import Registered, Registration, RegistrationFailed
from media.sip.transport import SipServer
from media.sip.useragent import (
    CallConfirmed, CallEnded, DtmfReceived, IncomingCall, MessageRejected, SessionOffer, TransferProgress,
    UserAgent,
)

from . import __version__
from dialog.parse import caller_id_phone
from media.sip.message import parse_uri

from .backoffice import Backoffice
from .calllog import CallLog, CallRecord
from .config import Config
from .echo_app import EchoSession
from . import settings
from .engines import Engines
from .recording import Recorder
from tools.crypto import ContentCipher, load_key
from tools.db import make_engine
from tools.records import RecordStore
from .session import CallSession

log = logging.getLogger("frontdesk.server")


class FrontdeskServer:
    def __init__(self, cfg: Config, engines: Engines | None, backoffice: Backoffice | None, *,
                 app: str = "agent", hangup_after_s: float = 0.0):
        self.cfg = cfg
        self.app = app
        self.hangup_after_s = hangup_after_s
        self.engines = engines
        self.backoffice = backoffice
        engine = backoffice.engine if backoffice is not None else make_engine(cfg.database_url)
        self.cipher = ContentCipher(load_key(cfg.privacy.encryption_key_file, required=cfg.privacy.encrypt)
                                    if cfg.privacy.encrypt else None)
        self.store = RecordStore(engine, self.cipher, redact_content=cfg.privacy.redact_transcripts)
        settings.apply(cfg, self.store.settings())  # what staff changed in the dashboard
        self.calllog = CallLog(self.store, cfg.data_dir / "calls.jsonl" if cfg.call_log_file else None)
        self.recorders: dict[str, Recorder] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ending: set[str] = set()  # calls we sent BYE for
        self.draining = False
        self._overload_logged = 0  # ua.overload_rejected when last logged
        self._saving: set[asyncio.Future] = set()  # recordings being written off the loop
        self.ports = PortAllocator(cfg.sip.rtp_port_min, cfg.sip.rtp_port_max)
        self.sessions: dict[str, CallSession | EchoSession] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.sip: SipServer | None = None
        self._transfers: dict[str, asyncio.Queue] = {}
        self._enders: dict[str, Callable[[str], None]] = {}  # calls not on SIP: how to end each
        self.twilio = None  # frontdesk.twilio_ingress.TwilioIngress, with twilio.enabled
        self.webrtc = None  # frontdesk.webrtc_ingress.WebRtcIngress, with dashboard.test_call
        self.ua: UserAgent | None = None
        self.bound_port = 0
        self.tls_port = 0

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.ua = UserAgent(self.cfg.sip.public_address, self.cfg.sip.port,
                            server_name=f"frontdesk/{__version__}",
                            min_session_expires=self.cfg.sip.session_expires_min_s, allowed=self.allowed,
                            limiter=RateLimiter(self.cfg.sip.rate_limit, max(1, int(2 * self.cfg.sip.rate_limit)))
                            if self.cfg.sip.rate_limit > 0 else None, flood_action=self.cfg.sip.flood_action,
                            max_backlog_s=self.cfg.sip.overload_backlog_ms / 1000)
        self.ua.unavailable = self.unavailable
        self.sip = SipServer(self.ua, self.on_event)
        port = self.cfg.sip.port
        for transport in self.cfg.sip.transports:
            if transport == "UDP":
                port = await self.sip.listen_udp(self.cfg.sip.listen, port)
            elif transport == "TCP":
                port = await self.sip.listen_tcp(self.cfg.sip.listen, port)
        if "TLS" in self.cfg.sip.transports:
            sip = self.cfg.sip
            self.tls_port = await self.sip.listen_tls(sip.listen, sip.tls_port, str(Path(sip.tls_certificate).expanduser()),
                                                      str(Path(sip.tls_private_key).expanduser()))
            self.ua.transport_ports["TLS"] = self.tls_port
        self.bound_port = port
        self.ua.port = port
        asyncio.get_running_loop().call_later(1.0, self._watch_media)
        asyncio.get_running_loop().call_later(5.0, self._purge)
        if self.cfg.sip.register is not None:
            await self._register()

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

    def _purge(self) -> None:
        """Hourly: delete transcripts and recordings past the retention period (the counts stay)."""
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                n = self.store.purge(self.cfg.privacy.retention_days)
                if n:
                    log.info("retention: purged the content of %d call(s) older than %d days", n,
                             self.cfg.privacy.retention_days)
            except Exception as exc:
                log.error("retention purge failed: %s", exc)

        loop.run_in_executor(None, run)
        loop.call_later(3600.0, self._purge)

    def unavailable(self) -> str | None:
        """For OPTIONS probes (a load balancer) and new INVITEs: why this node should get no calls."""
        if self.draining:
            return "draining"
        if self.cfg.sip.max_calls and len(self.sessions) >= self.cfg.sip.max_calls:
            return "at capacity"
        if self.engines is not None and any(w.pending >= 0.8 * w.max_pending for w in self.engines.workers()):
            return "overloaded"
        return None

    def start_draining(self) -> None:
        """Finish the live calls, take no new ones (SIGUSR2 or `serve --drain`), then stop."""
        if not self.draining:
            self.draining = True
            log.info("draining: %d live call(s); new calls get 503", len(self.sessions))

    def live(self) -> dict:
        """Live figures for /metrics."""
        rtps = [s.rtp for s in self.sessions.values() if isinstance(s.rtp, RtpSession)]
        queues = {}
        if self.engines is not None:
            queues = {name: getattr(self.engines, f"{name}_worker").pending
                      for name in ("asr", "llm", "tts") if hasattr(self.engines, f"{name}_worker")}
        tasks = 0
        if self.loop is not None:
            for _ in range(3):  # read from the dashboard's thread: the set may change under us
                try:
                    tasks = len(asyncio.all_tasks(self.loop))
                    break
                except RuntimeError:
                    continue
        clock = media_clock()
        return {"tick_lateness": clock.lateness(), "clock_stalls": (clock.stalls_busy, clock.stalls_off_cpu),
                "active_calls": len(self.sessions), "rtp_lost": sum(r.rx_stats.cumulative_lost for r in rtps),
                "rtp_jitter_ms": max((r.rx_stats.jitter / 8 for r in rtps), default=0.0), "queues": queues,
                "tasks": tasks, "rtp_ports": len(self.ports.in_use), "sip_transactions": self.ua.pending_transactions()
                if self.ua is not None else 0, "overload_rejected": self.ua.overload_rejected if self.ua is not None else 0}

    def allowed(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.cfg.sip.allowed_networks)

    # -- SIP events ----------------------------------------------------------------------

    def on_event(self, event) -> None:
        if isinstance(event, IncomingCall):
            asyncio.get_running_loop().create_task(self._incoming(event))
        elif isinstance(event, CallConfirmed):
            session = self.sessions.get(event.call_id)
            if session and event.call_id not in self.tasks:
                self._start_session(event.call_id)
        elif isinstance(event, CallEnded):
            self._ended(event)
        elif isinstance(event, DtmfReceived):
            session = self.sessions.get(event.call_id)
            if session:
                session.on_dtmf(event.digit)
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
        host = ev.remote_addr[0]
        record = CallRecord(ev.call_id, ev.caller_uri, ev.called_uri, f"{host}:{ev.remote_addr[1]}", ev.transport,
                            node=self.cfg.node_id)
        try:
            record.caller_number = caller_id_phone(parse_uri(ev.caller_uri).user) or ""
        except Exception:
            record.caller_number = ""
        try:
            offer = parse_sdp(ev.offer)
        except SdpError as exc:
            log.warning("call %s: bad SDP offer (%s); 488", ev.call_id, exc)
            self.sip.act(self.ua.reject, ev.call_id, 488)
            return
        try:
            # Negotiate before opening a port, so that a bad offer costs nothing.
            probe = negotiate(offer, self.cfg.sip.public_address, 9, srtp=self.cfg.sip.srtp)
        except SdpError as exc:
            log.warning("call %s: %s; 488", ev.call_id, exc)
            self.sip.act(self.ua.reject, ev.call_id, 488, extra=[("Warning", f'304 frontdesk "{exc}"')])
            return
        session = self._new_session(ev.call_id, ev.caller_uri, record)
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
                self.ports, self.cfg.sip.listen, codec=probe.codec, payload_type=probe.payload_type,
                dtmf_payload_type=probe.dtmf_payload_type, remote=(probe.remote_host, probe.remote_port),
                on_frame=session.on_frame, on_dtmf=session.on_dtmf, srtp=srtp)
        except OSError as exc:
            log.error("call %s: cannot open RTP (%s); 503", ev.call_id, exc)
            self.sip.act(self.ua.reject, ev.call_id, 503)
            return
        answer = negotiate(offer, self.cfg.sip.public_address, rtp.port, srtp=self.cfg.sip.srtp,
                           local_key=probe.local_key)
        session.sdp_session_id, session.sdp_version = answer.session_id, 1
        rtp.update(codec=answer.codec, payload_type=answer.payload_type, dtmf_payload_type=answer.dtmf_payload_type,
                   remote=rtp.remote, may_send=answer.we_may_send)  # an offer that starts on hold
        session.attach(rtp)
        self._record_audio(ev.call_id, session, rtp)
        record.codec = answer.codec + ("/SRTP" if srtp else "")
        self.sessions[ev.call_id] = session
        log.info("call %s from %s (%s) via %s: answering with %s%s", ev.call_id, ev.caller_uri, host, ev.transport,
                 answer.codec, f" over SRTP ({srtp.suite})" if srtp else "")
        if self.cfg.sip.answer_delay_ms:  # let it ring, as a front desk would
            # (with no delay, no 180: a 180 sent just before the 200 can overtake it in a proxy
            # with several workers, and a strict caller then takes the late 180 as an error)
            self.sip.act(self.ua.ringing, ev.call_id)
            await asyncio.sleep(self.cfg.sip.answer_delay_ms / 1000)
            if self.sessions.get(ev.call_id) is not session:
                return  # the caller gave up (CANCEL) while it rang
        record.answered_at = time.time()
        self.calllog.start(record)
        self.sip.act(self.ua.answer, ev.call_id, answer.answer.encode())
        rtp.start()
        # Start talking on ACK; if the ACK is lost, start anyway shortly after.
        asyncio.get_running_loop().call_later(1.0, self._start_session, ev.call_id)

    def _record_audio(self, call_id: str, session, media: RtpSession | StreamMedia) -> None:
        """With recording on: the consent prompt first, and both sides of the call into a WAV."""
        if not (self.cfg.recording.enabled and isinstance(session, CallSession)):
            return
        recorder = self.recorders[call_id] = Recorder()
        session.consent_prompt = self.cfg.recording.consent_prompt
        heard, sent = media.on_frame, media.on_sent
        media.on_frame = lambda frame: (recorder.on_caller(frame), heard(frame))
        media.on_sent = lambda frame: (recorder.on_agent(frame), sent(frame) if sent else None)

    # -- calls that do not come over SIP (Twilio Media Streams, WebRTC) ---------------------

    def open_call(self, ingress: str, call_id: str, caller_uri: str, called_uri: str, remote: str, codec: str,
                  end: Callable[[str], None], transfer: Callable[[str], Awaitable[bool]] | None = None,
                  transport: str = "") -> StreamMedia | None:
        """A call from another transport joins the same sessions, records and metrics as a SIP
        call. The adapter wires the returned media's ``send`` (and confirmations), then calls
        ``begin_call``; ``end(reason)`` is how the server hangs up; the adapter reports the end
        with ``call_ended``. None: no new calls now (draining or overloaded)."""
        why = self.unavailable()
        if why is not None or call_id in self.sessions:
            log.warning("%s call %s refused: %s", ingress, call_id, why or "a call with this id is live")
            return None
        record = CallRecord(call_id, caller_uri, called_uri, remote, transport or ingress, node=self.cfg.node_id,
                            ingress=ingress, codec=codec)
        try:
            record.caller_number = caller_id_phone(parse_uri(caller_uri).user) or ""
        except Exception:
            record.caller_number = caller_id_phone(caller_uri) or ""
        session = self._new_session(call_id, caller_uri, record, transfer)
        media = StreamMedia(ingress, session.on_frame, session.on_dtmf)
        session.attach(media)
        self._record_audio(call_id, session, media)
        self.sessions[call_id] = session
        self._enders[call_id] = end
        record.answered_at = time.time()
        self.calllog.start(record)
        log.info("call %s from %s (%s) via %s: answering", call_id, caller_uri, remote, ingress)
        return media

    def begin_call(self, call_id: str) -> None:
        session = self.sessions.get(call_id)
        if session is not None and session.rtp is not None:
            session.rtp.start()
            self._start_session(call_id)

    def call_ended(self, call_id: str, by: str, reason: str) -> None:
        """The adapter saw the call end: ``by`` is "remote" (the caller) or "local" (we ended it)."""
        self._enders.pop(call_id, None)
        self._ended(CallEnded(call_id, by=by, reason=reason))

    def _new_session(self, call_id: str, caller_uri: str, record: CallRecord,
                     transfer: Callable[[str], Awaitable[bool]] | None = None) -> CallSession | EchoSession:
        hangup = lambda reason, cid=call_id: self.hangup(cid, reason)  # noqa: E731
        dialog = self.cfg.dialog
        if self.app != "agent":
            return EchoSession(record, hangup=hangup, end_silence_ms=dialog.end_silence_ms,
                               hangup_after_s=self.hangup_after_s if self.app == "hangup" else None)
        assert self.engines is not None and self.backoffice is not None
        conversation = Conversation(self.cfg.clinic, self.engines.llm, self.backoffice.calendar,
                                    self.backoffice.policy(), call_id=record.call_id, caller_id=record.caller_number or None)
        if transfer is None:
            transfer = lambda target, cid=call_id: self.transfer(cid, target)  # noqa: E731
        session = CallSession(record, self.engines, conversation, dialog.silence_timeout_s, dialog.end_silence_ms,
                              hangup=hangup, transfer=transfer,
                              barge_in_ms=dialog.barge_in_ms, barge_in_pause_ms=dialog.barge_in_pause_ms,
                              backchannels_interrupt=dialog.backchannels_interrupt, filler_after_s=dialog.filler_after_s)
        session.log_text = self.cfg.privacy.log_transcripts
        session.turn_timeout_s = dialog.turn_timeout_s
        return session

    def _session_offer(self, ev: SessionOffer) -> None:
        """re-INVITE or UPDATE with SDP: hold, resume, a codec change, a new RTP address."""
        assert self.sip and self.ua
        session = self.sessions.get(ev.call_id)
        if session is None or session.rtp is None:
            self.sip.act(self.ua.reject_offer, ev.call_id, 481)
            return
        rtp = session.rtp
        try:
            neg = negotiate(parse_sdp(ev.offer), self.cfg.sip.public_address, rtp.port,
                            session_id=session.sdp_session_id, version=session.sdp_version + 1,
                            srtp=self.cfg.sip.srtp, local_key=rtp.srtp.local_key if rtp.srtp else None)
            if (neg.crypto is None) != (rtp.srtp is None):
                raise SdpError("switching between RTP and SRTP within a call is not supported")
        except SdpError as exc:
            log.warning("call %s: new offer refused (%s); the session stays as it was", ev.call_id, exc)
            self.sip.act(self.ua.reject_offer, ev.call_id, 488, warning=str(exc))
            return
        session.sdp_version += 1
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

    def _watch_media(self) -> None:
        """Once a second: a call whose RTP stopped (and is not on hold) is ended with BYE; calls
        refused for overload are logged."""
        now = time.monotonic()
        if self.ua is not None and self.ua.overload_rejected != self._overload_logged:
            log.warning("overloaded: %d new call(s) refused with 503 in the last second (their INVITEs waited "
                        "over %d ms to be read)", self.ua.overload_rejected - self._overload_logged,
                        self.cfg.sip.overload_backlog_ms)
            self._overload_logged = self.ua.overload_rejected
        for call_id, session in list(self.sessions.items()):
            rtp = session.rtp
            if rtp is None or rtp.on_hold or call_id not in self.tasks:
                continue
            if now - rtp.last_packet_at > self.cfg.sip.rtp_timeout_s and call_id not in self._ending:
                log.warning("call %s: no RTP for %.0f s; ending it", call_id, now - rtp.last_packet_at)
                session.record.end_reason = f"no RTP for {self.cfg.sip.rtp_timeout_s:.0f} s"
                self.hangup(call_id, session.record.end_reason)
        asyncio.get_running_loop().call_later(1.0, self._watch_media)

    def _start_session(self, call_id: str) -> None:
        session = self.sessions.get(call_id)
        if session is None or call_id in self.tasks:
            return
        self.tasks[call_id] = asyncio.get_running_loop().create_task(session.run())

    async def transfer(self, call_id: str, target: str, timeout_s: float = 20.0) -> bool:
        """Blind transfer by REFER; True once the caller's side reports the new call answered."""
        assert self.sip and self.ua
        session = self.sessions.get(call_id)
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
            self.hangup(call_id, "transferred")
        return ok

    def hangup(self, call_id: str, reason: str) -> None:
        if call_id in self._ending:
            return  # a BYE is already on its way
        self._ending.add(call_id)
        session = self.sessions.get(call_id)
        if session and not session.record.ended_by:
            session.record.ended_by = "agent"
            session.record.end_reason = session.record.end_reason or reason
        ender = self._enders.get(call_id)
        if ender is not None:
            ender(reason)
        elif self.sip and self.ua:
            self.sip.act(self.ua.hangup, call_id, reason=reason)

    def _ended(self, ev: CallEnded) -> None:
        self._ending.discard(ev.call_id)
        session = self.sessions.pop(ev.call_id, None)
        task = self.tasks.pop(ev.call_id, None)
        if task and not task.done():
            task.cancel()
        if session is None:
            return
        rec = session.record
        rec.ended_at = time.time()
        if not rec.ended_by:
            rec.ended_by = "caller" if ev.by == "remote" else "agent"
            rec.end_reason = ev.reason
        if ev.by == "local":
            rec.bye_status = ev.status
        session.finish()
        if session.rtp:
            rec.rtp = session.rtp.stats()
            session.rtp.close()
            if isinstance(session.rtp, RtpSession):
                self.ports.release(session.rtp.port)
        log.info("call %s ended by %s (%s)%s", ev.call_id, rec.ended_by, ev.reason,
                 f", BYE answered {ev.status}" if ev.status else "")
        recorder = self.recorders.pop(ev.call_id, None)
        if recorder is None:
            self.calllog.write(rec)
            return

        def save_recording() -> None:  # WAV assembly and encryption stay off the media loop
            try:
                rec.recording = str(recorder.save(self.cfg.data_dir / "recordings", rec.call_id, self.cipher))
            except OSError as exc:
                log.error("call %s: recording not saved: %s", ev.call_id, exc)
            self.calllog.write(rec)

        future = asyncio.get_running_loop().run_in_executor(None, save_recording)
        self._saving.add(future)
        future.add_done_callback(self._saving.discard)

    async def drain(self) -> None:
        for call_id in list(self.sessions):
            self.hangup(call_id, "server shutting down")
        await asyncio.sleep(0.3)
        if self.sip:
            self.sip.close()
        if self._saving:  # recordings still being written, then their records
            await asyncio.wait(set(self._saving), timeout=30)
        await asyncio.get_running_loop().run_in_executor(None, self.calllog.flush)


async def start_dashboard(cfg: Config, server: FrontdeskServer) -> tuple[asyncio.Task, object, int]:
    """The staff dashboard and /metrics, served by uvicorn on the server's own event loop."""
    import socket as _socket

    import uvicorn

    from .dashboard.app import create_app
    from .metrics import Metrics
    from .web_guard import web_limits
    from tools.records import Users

    metrics = Metrics(server.store, server.live)
    calendar = server.backoffice.calendar if server.backoffice is not None else None
    users = Users(server.store.engine, cfg.dashboard.lockout_after, cfg.dashboard.lockout_minutes)
    test_calls = None
    if cfg.dashboard.test_call and server.app in ("agent", "echo"):  # echo: a line check from the browser
        from .webrtc_ingress import WebRtcIngress
        test_calls = server.webrtc = WebRtcIngress(server, cfg.dashboard.test_call_connect_s)
    web = create_app(cfg, server.store, users, calendar, metrics.render, test_calls=test_calls)
    if cfg.twilio.enabled:
        from .twilio_ingress import add_twilio_routes
        server.twilio = add_twilio_routes(web, cfg, server)
    family = _socket.AF_INET6 if ":" in cfg.dashboard.listen else _socket.AF_INET
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    sock.bind((cfg.dashboard.listen, cfg.dashboard.port))
    port = sock.getsockname()[1]
    # X-Forwarded-For only from configured proxies: uvicorn's default believes 127.0.0.1, and behind
    # a local proxy every client would then be whoever the header said
    trusted = cfg.dashboard.trusted_proxies
    uv = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="off", access_log=False,
                                       proxy_headers=bool(trusted), forwarded_allow_ips=",".join(trusted) or None,
                                       **web_limits(cfg)))
    task = asyncio.get_running_loop().create_task(uv.serve(sockets=[sock]))
    return task, uv, port


async def serve(cfg: Config, ready_file: str | None = None, app: str = "agent", hangup_after_s: float = 0.0,
                drain: bool = False) -> None:
    # Model workers hold the GIL in their Python parts; hand it over every 1 ms rather than 5 ms,
    # so that the media loop sends each RTP packet on time.
    sys.setswitchinterval(0.001)
    loop = asyncio.get_running_loop()
    engines = backoffice = None
    # the back office (calendar, outbox, CalDAV sync) runs with every app: a node of a cluster
    # takes its turn at it whether or not it loads the models
    backoffice = await loop.run_in_executor(None, Backoffice, cfg)
    backoffice.start()
    if app == "agent":
        engines = await loop.run_in_executor(None, Engines, cfg)
        conv = Conversation(cfg.clinic, None)
        await loop.run_in_executor(None, engines.warm, conv.model_messages("Hello, I'd like to book an appointment."))
        await loop.run_in_executor(None, engines.prepare_phrases, conv.fixed_phrases())
        if os.environ.get("FRONTDESK_FAULT"):
            engines.inject_fault(os.environ["FRONTDESK_FAULT"])
    server = FrontdeskServer(cfg, engines, backoffice, app=app, hangup_after_s=hangup_after_s)
    # What start-up loaded (models, libraries) lives for the whole process: keep it out of the
    # garbage collector's full passes, which otherwise stall every call's 20 ms media clock.
    import gc
    gc.collect()
    gc.freeze()
    # Media frames allocate many short-lived objects; collecting the young generation every 700
    # allocations (the default) runs it a thousand times a second with hundreds of calls.
    gc.set_threshold(2000, 20, 50)
    if os.environ.get("FRONTDESK_GC_LOG"):  # report each collection that held the loop for > 5 ms
        gc_started: list[float] = []

        def gc_timing(phase: str, info: dict) -> None:
            if phase == "start":
                gc_started[:] = [time.perf_counter()]
            elif gc_started and time.perf_counter() - gc_started[0] > 0.005:
                log.warning("gc: generation %d took %.1f ms (%d collected)", info["generation"],
                            (time.perf_counter() - gc_started[0]) * 1000, info["collected"])
        gc.callbacks.append(gc_timing)
    await server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def drain_then_stop() -> None:
        server.start_draining()
        while server.sessions:
            await asyncio.sleep(0.5)
        log.info("drained: no live calls left")
        stop.set()

    loop.add_signal_handler(signal.SIGUSR2, lambda: loop.create_task(drain_then_stop()))
    if drain:
        loop.create_task(drain_then_stop())
    if os.environ.get("PYTHONTRACEMALLOC"):  # memory debugging: SIGUSR1 writes the top allocation sites
        import gc
        import tracemalloc

        def dump() -> None:
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            snapshot.dump(str(cfg.data_dir / f"tracemalloc-{int(time.time())}.snap"))  # compare_to() offline
            top = snapshot.statistics("lineno")[:25]
            with open(cfg.data_dir / "tracemalloc.txt", "w") as f:
                f.write("\n".join(str(t) for t in top) + "\n")
                counts: dict[str, int] = {}
                for obj in gc.get_objects():
                    counts[type(obj).__name__] = counts.get(type(obj).__name__, 0) + 1
                f.write("\n".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:25]) + "\n")
        loop.add_signal_handler(signal.SIGUSR1, dump)
    host = cfg.sip.public_address
    if ipaddress.ip_address(cfg.sip.listen).is_loopback and not ipaddress.ip_address(host).is_loopback:
        log.warning("sip.listen is %s, so only this host reaches the server, yet SIP and SDP advertise %s: "
                    "callers elsewhere get no answer. Set sip.listen to %s or 0.0.0.0 (and sip.allowed_networks).",
                    cfg.sip.listen, host, host)
    uri = f"sip:frontdesk@{host}:{server.bound_port}"
    transports = "/".join(t.lower() for t in cfg.sip.transports)
    if server.tls_port:
        transports += f"; tls on port {server.tls_port}"
    name = cfg.clinic.name if app == "agent" else f"the {app} app (no models)"
    print(f"frontdesk ready: {name} answers {uri} ({transports}); "
          f"call it with: .venv/bin/frontdesk call {uri} --say \"Hi, I'd like to book a cleaning.\"", flush=True)
    dashboard = None
    if cfg.dashboard.enabled:
        try:
            dashboard = await start_dashboard(cfg, server)
        except Exception as exc:  # the phone line matters more: answer calls without it
            log.error("dashboard not started: %s: %s", type(exc).__name__, exc)
        else:
            log.info("dashboard on http://%s:%d/ (metrics at /metrics)", cfg.dashboard.listen, dashboard[2])
    if dashboard is not None:
        if ready_file:
            with open(ready_file + ".dashboard", "w") as f:
                f.write(f"{dashboard[2]}\n")
    pid_file = cfg.data_dir / "frontdesk.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")  # for `frontdesk serve --drain`
    if ready_file:
        with open(ready_file, "w") as f:
            f.write(f"{server.bound_port}\n")
    await stop.wait()
    log.info("shutting down")
    await server.drain()
    if dashboard is not None:
        dashboard[1].should_exit = True
        await asyncio.wait([dashboard[0]], timeout=5)
    server.calllog.close()
    pid_file.unlink(missing_ok=True)
    if backoffice is not None:
        backoffice.stop()
