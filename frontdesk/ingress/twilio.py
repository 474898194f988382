"""Twilio Programmable Voice into the agent: a signed webhook, then a bidirectional Media Stream.

1. Twilio POSTs the call to ``/twilio/voice``; the answer is TwiML ``<Connect><Stream>`` pointing
   at ``/twilio/stream`` (with From, To and CallSid as stream parameters).
2. Twilio opens the WebSocket; media.twilio_stream turns its messages into caller audio, DTMF and
   mark events; the agent's audio goes back as ``media`` messages with a ``mark`` after each stretch,
   and ``clear`` on barge-in.
3. When the stream ends, Twilio POSTs ``/twilio/after`` (the ``<Connect action>``): a call the agent
   handed off gets ``<Dial>`` to the front desk, any other call ``<Hangup/>``.

Every request must carry a valid X-Twilio-Signature for the configured auth token, computed on the
public URL Twilio used (``twilio.public_url``), or it is refused (403; the WebSocket closes 1008).
"""

from __future__ import annotations

import asyncio
import logging
import time
from xml.sax.saxutils import escape, quoteattr

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response

from media.stream_media import StreamMedia
from tools.replies import Replies, keyword
from media.twilio_stream import Dtmf, MarkPlayed, Media, Started, Stopped, TwilioStream, TwilioStreamError

from ..calls import CallHub, CallInfo
from ..config import Config
from . import twilio_signature

log = logging.getLogger("frontdesk.twilio")
START_TIMEOUT_S = 10.0  # connected+start must arrive this soon after the WebSocket opens
MAX_BAD_MESSAGES = 50
HANDOFF_TTL_S = 300.0
AHEAD_MS = 2000  # caller audio more than this far ahead of real time is dropped, not queued


def twiml(body: str) -> Response:
    return Response('<?xml version="1.0" encoding="UTF-8"?>\n<Response>' + body + "</Response>",
                    media_type="application/xml")


def dial_twiml(target: str) -> str:
    """<Dial> for a handoff target: tel:/digits become <Number>, sip: URIs <Sip>."""
    if target.startswith(("sip:", "sips:")):
        return f"<Dial><Sip>{escape(target)}</Sip></Dial>"
    number = target[4:] if target.startswith("tel:") else target
    return f"<Dial><Number>{escape(number)}</Number></Dial>"


class TwilioIngress:
    def __init__(self, cfg: Config, calls: CallHub):
        self.cfg = cfg.twilio
        self.handoff_target = cfg.twilio.dial or cfg.handoff.front_desk_uri
        self.calls = calls
        calendar = calls.backoffice.calendar if calls.backoffice is not None else None
        self.replies = Replies(calendar, cfg.clinic.name, cfg.clinic.phone,
                               calls.backoffice.waitlist) if calendar is not None else None
        self.handoffs: dict[str, tuple[float, str]] = {}  # CallSid -> (when, <Dial> target)
        self.rejected = 0
        self.streams = 0  # open Media Stream sockets (one signature opens any number: they are capped)
        self.max_streams = cfg.twilio.max_streams

    def _public(self, request_url, scheme: str | None = None) -> str:
        base = self.cfg.stream_url[:-len("/twilio/stream")] if scheme == "ws" else self.cfg.public_url
        query = f"?{request_url.query}" if request_url.query else ""
        return base + request_url.path + query

    async def _signed_form(self, request: Request) -> dict[str, list[str]] | None:
        form = await request.form(max_files=0, max_fields=200)
        params: dict[str, list[str]] = {}
        for k, v in form.multi_items():
            if isinstance(v, str):
                params.setdefault(k, []).append(v)
        if not twilio_signature.valid(self.cfg.auth_token, self._public(request.url), params,
                                      request.headers.get("x-twilio-signature")):
            self.rejected += 1
            log.warning("Twilio webhook %s from %s: missing or bad X-Twilio-Signature; 403", request.url.path,
                        request.client.host if request.client else "?")
            return None
        return params

    async def voice(self, request: Request) -> Response:
        params = await self._signed_form(request)
        if params is None:
            return Response("bad signature", status_code=403)
        first = {k: v[0] for k, v in params.items()}
        busy = self.calls.unavailable()
        if busy is not None:
            log.warning("Twilio call %s: %s; %s", first.get("CallSid", "?"), busy,
                        "sent to the front desk" if self.handoff_target else "rejected busy")
            return twiml(dial_twiml(self.handoff_target) if self.handoff_target else '<Reject reason="busy"/>')
        stream_params = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(first[k])}/>"
                                for k in ("From", "To", "CallSid") if k in first)
        action = quoteattr(self.cfg.public_url + "/twilio/after")
        return twiml(f"<Connect action={action}><Stream url={quoteattr(self.cfg.stream_url)}>{stream_params}"
                     "</Stream></Connect>")

    async def after(self, request: Request) -> Response:
        params = await self._signed_form(request)
        if params is None:
            return Response("bad signature", status_code=403)
        now = time.monotonic()
        for sid in [s for s, (t, _) in self.handoffs.items() if now - t > HANDOFF_TTL_S]:
            del self.handoffs[sid]
        sid = (params.get("CallSid") or [""])[0]
        handoff = self.handoffs.pop(sid, None)
        if handoff is not None:
            log.info("Twilio call %s: handed to the front desk (%s)", sid, handoff[1])
            return twiml(dial_twiml(handoff[1]))
        return twiml("<Hangup/>")

    async def sms(self, request: Request) -> Response:
        """A text to the clinic's Twilio number (its Messaging webhook): STOP, HELP, C, R (tools.replies)."""
        params = await self._signed_form(request)
        if params is None:
            return Response("bad signature", status_code=403)
        if self.replies is None:
            return twiml("")
        sender, body = (params.get("From") or [""])[0], (params.get("Body") or [""])[0]
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, self.replies.handle, sender, body[:1600])
        log.info("a text from a caller answered (keyword %r)", keyword(body)[:12])
        return twiml(f"<Message>{escape(answer)}</Message>")

    async def stream(self, ws: WebSocket) -> None:
        url = self._public(ws.url, scheme="ws")
        if not twilio_signature.valid(self.cfg.auth_token, url, None, ws.headers.get("x-twilio-signature")):
            self.rejected += 1
            log.warning("Twilio stream from %s: missing or bad X-Twilio-Signature; refused",
                        ws.client.host if ws.client else "?")
            await ws.close(code=1008)
            return
        if self.streams >= self.max_streams:
            self.rejected += 1
            log.warning("Twilio stream refused: %d streams are open (twilio.max_streams)", self.streams)
            await ws.accept()
            await ws.close(code=1013)  # try again later
            return
        self.streams += 1
        try:
            await ws.accept()
            await TwilioCall(self, ws).run()
        finally:
            self.streams -= 1


class TwilioCall:
    """One Media Stream: protocol events in, the agent's audio out."""

    def __init__(self, ingress: TwilioIngress, ws: WebSocket):
        self.ingress = ingress
        self.calls = ingress.calls
        self.ws = ws
        self.proto = TwilioStream()
        self.out: asyncio.Queue[str | None] = asyncio.Queue()
        self.call_id: str | None = None
        self.media = None
        self.ended_by = "remote"
        self.reason = "stream stopped"
        self.bad = 0
        self.audio_ms = 0  # caller audio received, and when it started: faster than real time is dropped
        self.audio_t0 = 0.0
        self.dropped_ms = 0

    def _send(self, frame) -> None:
        if frame is not None:
            self.out.put_nowait(self.proto.media(frame))

    def _mark(self) -> None:
        _, message = self.proto.mark()
        self.out.put_nowait(message)
        self.media.expect_confirmation()

    def _clear(self) -> None:
        self.out.put_nowait(self.proto.clear())

    def end(self, reason: str) -> None:
        """The agent hangs up (or hands off): the stream closes once what is queued has gone out."""
        self.ended_by, self.reason = "local", reason
        self.out.put_nowait(None)

    async def transfer(self, target: str) -> bool:
        sid = self.proto.call_sid or self.call_id or ""
        dial = self.ingress.handoff_target or target
        self.ingress.handoffs[sid] = (time.monotonic(), dial)
        session = self.calls.sessions.get(self.call_id)
        if session is not None:
            session.record.transfer = {"target": dial, "ok": True, "status": "twilio <Dial> after the stream"}
        log.info("call %s: handing back to Twilio to <Dial> %s", self.call_id, dial)
        self.calls.hangup(self.call_id, "transferred")
        return True

    async def _writer(self) -> None:
        while True:
            message = await self.out.get()
            if message is None:
                await self.ws.close(code=1000)
                return
            await self.ws.send_text(message)

    def _open(self, ev: Started) -> bool:
        p = ev.parameters
        self.call_id = ev.call_sid or ev.stream_sid
        remote = f"{self.ws.client.host}:{self.ws.client.port}" if self.ws.client else ""
        media = StreamMedia("twilio")
        media.send, media.on_drained, media.on_clear = self._send, self._mark, self._clear
        info = CallInfo("twilio", self.call_id, p.get("From", ""), p.get("To", ""), remote, "WebSocket", "PCMU")
        if self.calls.open(info, media, end=self.end, transfer=self.transfer) is None:
            return False
        self.media = media
        self.calls.begin(self.call_id)
        return True

    async def run(self) -> None:
        writer = asyncio.get_running_loop().create_task(self._writer())
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while True:
                timeout = None if self.media is not None else max(0.1, deadline - time.monotonic())
                try:
                    async with asyncio.timeout(timeout):
                        message = await self.ws.receive_text()
                except TimeoutError:
                    self.reason = "no start message"
                    log.warning("Twilio stream: no start within %.0f s; closing", START_TIMEOUT_S)
                    break
                except KeyError:  # a binary frame: not Media Streams protocol
                    message = b"\0"
                try:
                    events = self.proto.receive(message)
                except TwilioStreamError as exc:
                    self.bad += 1
                    if self.bad in (1, 10) or self.bad >= MAX_BAD_MESSAGES:
                        log.warning("Twilio stream %s: %s (%d bad messages)", self.call_id or "?", exc, self.bad)
                    if self.bad >= MAX_BAD_MESSAGES:
                        self.reason = "too many bad messages"
                        break
                    continue
                if self._handle(events):
                    break
        except WebSocketDisconnect:
            if self.ended_by != "local":
                self.reason = "WebSocket closed"
        finally:
            if not writer.done():
                if self.ended_by != "local":
                    self.out.put_nowait(None)
                try:
                    await asyncio.wait_for(writer, 2.0)
                except (asyncio.TimeoutError, Exception):
                    writer.cancel()
            if self.call_id is not None and self.media is not None:
                self.media.bad_messages = self.bad
                self.calls.end(self.call_id, self.ended_by, self.reason)

    def _handle(self, events: list) -> bool:
        """True when the stream is over."""
        for ev in events:
            if isinstance(ev, Media) and self.media is not None:
                now = time.monotonic()
                if not self.audio_t0:
                    self.audio_t0 = now
                ms = ev.pcm.size // 8
                if self.audio_ms + ms > (now - self.audio_t0) * 1000 + AHEAD_MS:
                    self.dropped_ms += ms  # audio pushed faster than real time: a flood, not a caller
                    if self.dropped_ms in (ms, 60000):
                        log.warning("call %s: caller audio arriving faster than real time; dropping it", self.call_id)
                    continue
                self.audio_ms += ms
                self.media.receive(ev.pcm)
            elif isinstance(ev, Started):
                if not self._open(ev):
                    self.reason = "refused"
                    return True
            elif isinstance(ev, Dtmf) and self.media is not None:
                self.media.dtmf(ev.digit)
            elif isinstance(ev, MarkPlayed) and self.media is not None:
                self.media.confirmed()
            elif isinstance(ev, Stopped):
                if self.ended_by != "local":
                    self.reason = "caller hung up (stop)"
                return True
        return False


def add_twilio_routes(app: FastAPI, cfg: Config, calls: CallHub) -> TwilioIngress:
    ingress = TwilioIngress(cfg, calls)
    app.add_api_route("/twilio/voice", ingress.voice, methods=["POST"])
    app.add_api_route("/twilio/after", ingress.after, methods=["POST"])
    app.add_api_route("/twilio/sms", ingress.sms, methods=["POST"])
    app.add_api_websocket_route("/twilio/stream", ingress.stream)
    return ingress
