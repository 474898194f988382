"""Twilio Media Streams (bidirectional, ``<Connect><Stream>``), as a sans-IO state machine.

``receive`` takes one WebSocket text message from Twilio and returns events; ``media``, ``mark``
and ``clear`` return the text messages to send back. No sockets here: the WebSocket adapter in
frontdesk/ moves the strings.

From Twilio: ``connected``, then ``start`` (streamSid, callSid, the media format, custom
parameters), then ``media`` (base64 mu-law 8 kHz, 20 ms per message), ``dtmf``, ``mark`` (a mark we
sent has been played, or dropped by ``clear``) and finally ``stop``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

import numpy as np

from . import g711

MAX_MESSAGE = 8 * 1024  # a 20 ms media message is ~400 bytes; Twilio sends none near this size
MAX_DEPTH = 8  # Twilio's messages nest 3 deep; a deeply nested array is an attack on the parser
_SID = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # Twilio SIDs are two letters and 32 hex digits
DTMF_DIGITS = set("0123456789*#ABCD")


class TwilioStreamError(ValueError):
    """A message that is not valid Media Streams protocol (the adapter logs it and goes on)."""


@dataclass
class Connected:
    protocol: str
    version: str


@dataclass
class Started:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: list[str]
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass
class Media:
    pcm: np.ndarray  # int16, 8 kHz
    chunk: int
    timestamp_ms: int


@dataclass
class Dtmf:
    digit: str


@dataclass
class MarkPlayed:
    name: str


@dataclass
class Stopped:
    call_sid: str


def _depth(message: str | bytes) -> int:
    """How deep a JSON text nests (brackets outside strings), without parsing it."""
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise TwilioStreamError(f"{what}: expected an object")
    return value


def _int(value, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TwilioStreamError(f"{what}: expected a number, got {value!r}") from None


class TwilioStream:
    """One stream. ``state``: new → connected → started → stopped."""

    def __init__(self) -> None:
        self.state = "new"
        self.stream_sid = ""
        self.call_sid = ""
        self.chunks_in = 0
        self.chunks_missing = 0  # gaps in Twilio's chunk numbering
        self._last_chunk = 0
        self._marks = 0

    # -- from Twilio ---------------------------------------------------------------------

    def receive(self, message: str | bytes) -> list:
        if len(message) > MAX_MESSAGE:
            raise TwilioStreamError(f"message of {len(message)} bytes is over the {MAX_MESSAGE} limit")
        if _depth(message) > MAX_DEPTH:
            raise TwilioStreamError(f"JSON nested deeper than {MAX_DEPTH}")
        try:
            data = json.loads(message)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise TwilioStreamError(f"not JSON: {str(exc)[:80]}") from None
        data = _obj(data, "message")
        event = data.get("event")
        if self.state == "stopped":
            raise TwilioStreamError(f"{event!r} after stop")
        if event == "connected":
            if self.state != "new":
                raise TwilioStreamError("connected twice")
            self.state = "connected"
            return [Connected(str(data.get("protocol", "")), str(data.get("version", "")))]
        if event == "start":
            return [self._start(data)]
        if self.state != "started":
            raise TwilioStreamError(f"{event!r} before start")
        if data.get("streamSid") not in (None, self.stream_sid):
            raise TwilioStreamError(f"streamSid {data.get('streamSid')!r} is not this stream's")
        if event == "media":
            media = _obj(data.get("media"), "media")
            if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                return []  # only the caller's side feeds the agent
            try:
                raw = base64.b64decode(str(media.get("payload", "")), validate=True)
            except (binascii.Error, ValueError):
                raise TwilioStreamError("media.payload: not base64") from None
            chunk = _int(media.get("chunk", self._last_chunk + 1), "media.chunk")
            if chunk > self._last_chunk + 1 and self._last_chunk:
                self.chunks_missing += chunk - self._last_chunk - 1
            self._last_chunk = max(self._last_chunk, chunk)
            self.chunks_in += 1
            return [Media(g711.ulaw_decode(raw), chunk, _int(media.get("timestamp", 0), "media.timestamp"))]
        if event == "dtmf":
            digit = str(_obj(data.get("dtmf"), "dtmf").get("digit", ""))
            if digit not in DTMF_DIGITS:
                raise TwilioStreamError(f"dtmf.digit: {digit!r} is not a DTMF digit")
            return [Dtmf(digit)]
        if event == "mark":
            return [MarkPlayed(str(_obj(data.get("mark"), "mark").get("name", "")))]
        if event == "stop":
            self.state = "stopped"
            stop = data.get("stop") if isinstance(data.get("stop"), dict) else {}
            return [Stopped(str(stop.get("callSid", self.call_sid)))]
        raise TwilioStreamError(f"unknown event {event!r}")

    def _start(self, data: dict) -> Started:
        if self.state != "connected":
            raise TwilioStreamError("start before connected" if self.state == "new" else "start twice")
        start = _obj(data.get("start"), "start")
        fmt = _obj(start.get("mediaFormat", {}), "start.mediaFormat")
        encoding, rate = fmt.get("encoding", "audio/x-mulaw"), _int(fmt.get("sampleRate", 8000), "sampleRate")
        channels = _int(fmt.get("channels", 1), "channels")
        if (encoding, rate, channels) != ("audio/x-mulaw", 8000, 1):
            raise TwilioStreamError(f"media format {encoding} {rate} Hz x{channels}: only audio/x-mulaw 8000 Hz mono")
        sid = str(start.get("streamSid") or data.get("streamSid") or "")
        if not sid:
            raise TwilioStreamError("start: no streamSid")
        call_sid = str(start.get("callSid", ""))
        for name, value in (("streamSid", sid), ("callSid", call_sid)):
            if value and not _SID.fullmatch(value):  # it goes into logs and records: no newlines, no markup
                raise TwilioStreamError(f"start: {name} is not a Twilio SID")
        params = start.get("customParameters") or {}
        self.state = "started"
        self.stream_sid, self.call_sid = sid, call_sid
        return Started(sid, self.call_sid, str(start.get("accountSid", "")),
                       [str(t) for t in start.get("tracks", ["inbound"])],
                       {str(k): str(v) for k, v in _obj(params, "start.customParameters").items()})

    # -- to Twilio -----------------------------------------------------------------------

    def media(self, pcm: np.ndarray) -> str:
        """Agent audio (int16 8 kHz) for the caller."""
        payload = base64.b64encode(g711.ulaw_encode(pcm)).decode()
        return json.dumps({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})

    def mark(self, name: str | None = None) -> tuple[str, str]:
        """A mark after the audio sent so far; Twilio echoes it when playback reaches it."""
        self._marks += 1
        name = name or f"m{self._marks}"
        return name, json.dumps({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def clear(self) -> str:
        """Drop the audio Twilio has buffered (barge-in); Twilio then returns the pending marks."""
        return json.dumps({"event": "clear", "streamSid": self.stream_sid})
