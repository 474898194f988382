"""The hub of live calls: every ingress (SIP, Twilio Media Streams, WebRTC) runs a call through it.

An ingress turns its protocol into three calls, the same for all of them:

1. ``open(info, media, end=..., transfer=...)`` when a call arrives: the hub builds the call's
   record and session (the agent's conversation, or the echo app), wires the media's callbacks to
   it, and with recording on taps both sides. ``end(reason)`` is how the hub hangs the call up in
   the ingress's protocol (a BYE, a closed WebSocket); ``transfer(target)`` how it hands it off.
   None: no new calls now (draining, at capacity, overloaded).
2. ``begin(call_id)`` once the call is answered: media starts, the conversation runs.
3. ``end(call_id, by, reason)`` when the ingress sees the call over, whoever ended it.

The hub also owns what is the same for every call: hang-up, the media watchdog, the call log
and records, recordings, retention, and the figures for /metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from dialog.conversation import Conversation
from dialog.parse import caller_id_phone
from dialog.reminder_call import ReminderCall
from media.clock import media_clock
from media.sip.message import parse_uri
from tools.crypto import ContentCipher, load_key
from tools.db import make_engine
from tools.records import RecordStore
from tools.reminder_calls import CallRequest
from tools.replies import confirm

from . import settings
from .backoffice import Backoffice
from .calllog import CallLog, CallRecord
from .config import Config
from .echo_app import EchoSession
from .engines import Engines
from .recording import Recorder
from .session import CallSession

log = logging.getLogger("frontdesk.calls")


@dataclass
class CallInfo:
    """What an ingress knows of a call when it arrives."""
    ingress: str  # "sip", "twilio", "webrtc"
    call_id: str
    caller_uri: str
    called_uri: str
    remote: str  # host:port of the peer
    transport: str  # UDP, TCP, TLS, WebSocket, DTLS-SRTP
    codec: str = ""


class CallHub:
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
        self.loop: asyncio.AbstractEventLoop | None = None
        self.draining = False
        self.sessions: dict[str, CallSession | EchoSession] = {}
        self.tasks: dict[str, asyncio.Task] = {}  # calls begun: their conversation
        self._enders: dict[str, Callable[[str], None]] = {}  # how to end each call in its protocol
        self._ending: set[str] = set()  # calls we asked the ingress to end
        self._recorders: dict[str, Recorder] = {}
        self._saving: set[asyncio.Future] = set()  # recordings being written off the loop
        self._reminders: dict[str, CallRequest] = {}  # reminder calls live: the attempt each is

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop.call_later(1.0, self._watch_media)
        self.loop.call_later(5.0, self._purge)

    # -- the three calls every ingress makes -------------------------------------------------

    def open(self, info: CallInfo, media, *, end: Callable[[str], None], transfer: Callable[[str], Awaitable[bool]],
             admitted: bool = False, reminder: CallRequest | None = None) -> CallSession | EchoSession | None:
        """A new call with its media (not started yet); None: refused, and nothing was kept.
        ``admitted``: the ingress has applied its own admission policy (the SIP user agent answers
        503 to INVITEs while draining or at capacity, and takes calls while the engines are busy).
        ``reminder``: a reminder call we placed (tools.reminder_calls): its dialog is the reminder's."""
        why = None if admitted else self.unavailable()
        if why is not None or info.call_id in self.sessions:
            log.warning("%s call %s refused: %s", info.ingress, info.call_id, why or "a call with this id is live")
            return None
        record = CallRecord(info.call_id, info.caller_uri, info.called_uri, info.remote, info.transport,
                            node=self.cfg.node_id, ingress=info.ingress, codec=info.codec)
        try:
            record.caller_number = caller_id_phone(parse_uri(info.caller_uri).user) or ""
        except Exception:
            record.caller_number = caller_id_phone(info.caller_uri) or ""
        session = self._new_session(info.call_id, record, transfer, reminder)
        media.on_frame, media.on_dtmf = session.on_frame, session.on_dtmf
        session.attach(media)
        if self.cfg.recording.enabled and isinstance(session, CallSession):
            recorder = self._recorders[info.call_id] = Recorder()
            media.on_frame = recorder.tap_caller(media.on_frame)
            media.on_sent = recorder.tap_agent(media.on_sent)
        self.sessions[info.call_id] = session
        self._enders[info.call_id] = end
        return session

    def begin(self, call_id: str) -> None:
        """The call is answered: its media starts and the conversation runs (once; again is a no-op)."""
        session = self.sessions.get(call_id)
        if session is None or call_id in self.tasks:
            return
        session.record.answered_at = time.time()
        self.calllog.start(session.record)
        if session.rtp is not None:
            session.rtp.start()
        self.tasks[call_id] = asyncio.get_running_loop().create_task(session.run())

    def end(self, call_id: str, by: str, reason: str, status: int | None = None) -> None:
        """The ingress saw the call end: ``by`` is "remote" (the caller) or "local" (we ended it);
        ``status`` answered our BYE, where there was one. The media is closed here."""
        self._ending.discard(call_id)
        self._enders.pop(call_id, None)
        session = self.sessions.pop(call_id, None)
        task = self.tasks.pop(call_id, None)
        if task and not task.done():
            task.cancel()
        if session is None:
            return
        rec = session.record
        rec.ended_at = time.time()
        if not rec.ended_by:
            rec.ended_by = "caller" if by == "remote" else "agent"
            rec.end_reason = reason
        if by == "local":
            rec.bye_status = status
        session.finish()
        self._reminder_ended(session)
        if session.rtp:
            rec.rtp = session.rtp.stats()
            session.rtp.close()
        log.info("call %s ended by %s (%s)%s", call_id, rec.ended_by, reason,
                 f", BYE answered {status}" if status else "")
        recorder = self._recorders.pop(call_id, None)
        if recorder is None:
            self.calllog.write(rec)
            return

        def save_recording() -> None:  # WAV assembly and encryption stay off the media loop
            try:
                rec.recording = str(recorder.save(self.cfg.data_dir / "recordings", rec.call_id, self.cipher))
            except OSError as exc:
                log.error("call %s: recording not saved: %s", call_id, exc)
            self.calllog.write(rec)

        future = asyncio.get_running_loop().run_in_executor(None, save_recording)
        self._saving.add(future)
        future.add_done_callback(self._saving.discard)

    # -- what the hub does to live calls ------------------------------------------------------

    def hangup(self, call_id: str, reason: str) -> None:
        """End a call from our side, in its ingress's protocol; the ingress then reports ``end``."""
        if call_id in self._ending:
            return  # already on its way
        self._ending.add(call_id)
        session = self.sessions.get(call_id)
        if session and not session.record.ended_by:
            session.record.ended_by = "agent"
            session.record.end_reason = session.record.end_reason or reason
        ender = self._enders.get(call_id)
        if ender is not None:
            ender(reason)

    def _new_session(self, call_id: str, record: CallRecord, transfer: Callable[[str], Awaitable[bool]],
                     reminder: CallRequest | None = None) -> CallSession | EchoSession:
        hangup = lambda reason, cid=call_id: self.hangup(cid, reason)  # noqa: E731
        dialog = self.cfg.dialog
        if self.app != "agent":
            return EchoSession(record, hangup=hangup, end_silence_ms=dialog.end_silence_ms,
                               hangup_after_s=self.hangup_after_s if self.app == "hangup" else None)
        assert self.engines is not None and self.backoffice is not None
        conversation = Conversation(self.cfg.clinic, self.engines.llm, self.backoffice.calendar,
                                    self.backoffice.policy(), call_id=record.call_id, caller_id=record.caller_number or None)
        if reminder is not None and self.backoffice.reminder_calls is not None:
            conversation = self._reminder_dialog(conversation, reminder)
        return CallSession(record, self.engines, conversation, dialog.silence_timeout_s, dialog.end_silence_ms,
                           hangup=hangup, transfer=transfer,
                           barge_in_ms=dialog.barge_in_ms, barge_in_pause_ms=dialog.barge_in_pause_ms,
                           backchannels_interrupt=dialog.backchannels_interrupt, filler_after_s=dialog.filler_after_s,
                           turn_timeout_s=dialog.turn_timeout_s, log_text=self.cfg.privacy.log_transcripts,
                           consent_prompt=self.cfg.recording.consent_prompt if self.cfg.recording.enabled else "")

    def _reminder_dialog(self, conversation: Conversation, req: CallRequest) -> ReminderCall:
        calls = self.backoffice.reminder_calls
        booking = calls.booking(req.appointment_id)
        self._reminders[conversation.call_id] = req
        return ReminderCall(conversation, booking, clinic_phone=self.cfg.clinic.phone,
                            confirm=lambda: confirm(calls.calendar, req.appointment_id, "call"))

    def _reminder_ended(self, session) -> None:
        """A reminder call ended: how it went, for its attempts (off the loop: database work)."""
        req = self._reminders.pop(session.record.call_id, None)
        if req is None or self.backoffice is None or self.backoffice.reminder_calls is None:
            return
        result = session.conversation.result() if isinstance(session.conversation, ReminderCall) else "failed"
        asyncio.get_running_loop().run_in_executor(None, self.backoffice.reminder_calls.finished, req.attempt_id, result)

    def _watch_media(self) -> None:
        """Once a second: a begun call whose media stopped (and is not on hold) is hung up."""
        now = time.monotonic()
        timeout = self.cfg.sip.rtp_timeout_s
        for call_id, session in list(self.sessions.items()):
            rtp = session.rtp
            if rtp is None or rtp.on_hold or call_id not in self.tasks:
                continue
            if now - rtp.last_packet_at > timeout and call_id not in self._ending:
                log.warning("call %s: no RTP for %.0f s; ending it", call_id, now - rtp.last_packet_at)
                session.record.end_reason = f"no RTP for {timeout:.0f} s"
                self.hangup(call_id, session.record.end_reason)
        asyncio.get_running_loop().call_later(1.0, self._watch_media)

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

    # -- taking calls or not ------------------------------------------------------------------

    def unavailable(self) -> str | None:
        """For OPTIONS probes (a load balancer) and new calls: why this node should get no calls."""
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

    async def close(self, close_ingresses: Callable[[], None]) -> None:
        """Shutting down: hang up every call, close the ingresses, write what is left to write."""
        for call_id in list(self.sessions):
            self.hangup(call_id, "server shutting down")
        await asyncio.sleep(0.3)
        close_ingresses()
        if self._saving:  # recordings still being written, then their records
            await asyncio.wait(set(self._saving), timeout=30)
        await asyncio.get_running_loop().run_in_executor(None, self.calllog.flush)

    def live(self) -> dict:
        """Live figures for /metrics (the SIP ingress adds its own)."""
        rtps = [s.rtp for s in self.sessions.values() if s.rtp is not None and hasattr(s.rtp, "rx_stats")]
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
                "tasks": tasks}
