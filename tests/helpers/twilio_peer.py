"""Twilio's side of a Programmable Voice call into frontdesk, played as Twilio documents it.

* the voice webhook: a form POST signed with X-Twilio-Signature (HMAC-SHA1 of the public URL and
  the sorted parameters, keyed with the auth token), answered with TwiML;
* the Media Stream named in ``<Connect><Stream>``: a WebSocket (its handshake signed the same way
  over the wss:// URL) carrying ``connected``, ``start``, a ``media`` message of base64 mu-law every
  20 ms, ``dtmf`` and finally ``stop``;
* Twilio's playback of what the server sends: ``media`` is buffered and played in real time, a
  ``mark`` is echoed back when playback reaches it, and ``clear`` empties the buffer and echoes
  every pending mark at once;
* when the stream ends, the ``<Connect action>`` URL is POSTed for the next TwiML.

The signing here is written from Twilio's description, for the test; the server's own check is
frontdesk/ingress/twilio_signature.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np

from media import g711
from media.vad import frame_energy_db

FRAME = 160
VOICED_DB = -42.0
DONE_SILENCE_FRAMES = 60  # 1.2 s of quiet after agent speech: its turn is over


def sign(token: str, url: str, params: dict[str, str] | None = None) -> str:
    data = url + "".join(k + params[k] for k in sorted(params or {}))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def post(local_base: str, public_base: str, path: str, params: dict[str, str], token: str | None,
         signature: str | None = None) -> tuple[int, str]:
    sig = signature if signature is not None else (sign(token, public_base + path, params) if token else None)
    req = urllib.request.Request(local_base + path, data=urlencode(params).encode(), method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    if sig:
        req.add_header("X-Twilio-Signature", sig)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class StreamResult:
    heard: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    marks_received: int = 0
    marks_echoed: int = 0
    clears: list[int] = field(default_factory=list)  # the frame (20 ms tick) each clear arrived at
    speech_starts: list[int] = field(default_factory=list)  # the tick each caller line began
    closed_by: str = ""  # "server" or "caller"
    close_code: int | None = None
    ticks: int = 0
    after: str = ""  # the TwiML the <Connect action> URL returned


class TwilioPeer:
    def __init__(self, local_base: str, public_base: str, token: str, caller: str = "+12025550143",
                 called: str = "+15550001111", call_sid: str = "CA" + "0" * 32):
        self.local_base, self.public_base, self.token = local_base, public_base, token
        self.caller, self.called, self.call_sid = caller, called, call_sid
        self.account_sid = "AC" + "1" * 32
        self.stream_sid = "MZ" + call_sid[2:]

    def voice_webhook(self) -> tuple[str, str, dict[str, str]]:
        """POST the incoming call; returns (stream URL, action URL, stream parameters)."""
        status, body = post(self.local_base, self.public_base, "/twilio/voice", self._params("ringing"), self.token)
        assert status == 200, (status, body)
        root = ET.fromstring(body)
        connect = root.find("Connect")
        assert connect is not None, body
        stream = connect.find("Stream")
        assert stream is not None, body
        params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
        return stream.get("url"), connect.get("action"), params

    def _params(self, status: str) -> dict[str, str]:
        return {"AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "CallSid": self.call_sid,
                "CallStatus": status, "Called": self.called, "Caller": self.caller, "Direction": "inbound",
                "From": self.caller, "To": self.called}

    def after(self, action: str) -> tuple[int, str]:
        path = action[len(self.public_base):]
        return post(self.local_base, self.public_base, path, self._params("in-progress"), self.token)

    async def stream(self, stream_url: str, params: dict[str, str], lines: list[np.ndarray], *,
                     barge_in_ms: int | None = None, reply_timeout: float = 60.0, extra: list[str] | None = None,
                     hang_up_after: bool = True) -> StreamResult:
        """Stream a call: wait for the greeting, then say each line and wait for the reply (or, with
        barge_in_ms, start the first line that long after the greeting starts)."""
        import websockets

        path = "/" + stream_url.split("://", 1)[1].split("/", 1)[1]
        local = "ws://" + self.local_base.split("://", 1)[1] + path
        res = StreamResult()
        heard: list[np.ndarray] = []
        buffer: deque = deque()  # ("audio", pcm) and ("mark", name), in arrival order
        seq = 0

        def msg(event: str, **body) -> str:
            nonlocal seq
            seq += 1
            out = {"event": event, "sequenceNumber": str(seq), **body}
            if event != "connected":
                out["streamSid"] = self.stream_sid
            return json.dumps(out)

        async with websockets.connect(local, additional_headers={"X-Twilio-Signature": sign(self.token, stream_url)},
                                      max_size=2 ** 20) as ws:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await ws.send(msg("start", start={
                "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
                "tracks": ["inbound"], "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}))
            for text in extra or []:  # whatever else a test wants on the wire
                await ws.send(text)
            closed = asyncio.Event()

            async def reader() -> None:
                try:
                    async for raw in ws:
                        m = json.loads(raw)
                        if m["event"] == "media":
                            assert m["streamSid"] == self.stream_sid
                            buffer.append(("audio", g711.ulaw_decode(base64.b64decode(m["media"]["payload"]))))
                        elif m["event"] == "mark":
                            res.marks_received += 1
                            buffer.append(("mark", m["mark"]["name"]))
                        elif m["event"] == "clear":
                            res.clears.append(res.ticks)
                            pending = [item[1] for item in buffer if item[0] == "mark"]
                            buffer.clear()
                            for name in pending:
                                await ws.send(msg("mark", mark={"name": name}))
                                res.marks_echoed += 1
                except websockets.ConnectionClosed:
                    pass
                res.close_code = ws.close_code
                closed.set()

            read_task = asyncio.get_running_loop().create_task(reader())
            queue = list(lines)
            talking = np.zeros(0, np.int16)
            phase = "greeting"
            last_voiced = -1
            first_voiced = -1
            waited_from = 0
            start_t = time.monotonic()
            chunk = 0
            while not closed.is_set():
                # Twilio's clock: one caller frame out, one frame of the server's audio played
                frame = talking[:FRAME]
                talking = talking[FRAME:]
                if frame.size < FRAME:
                    frame = np.concatenate([frame, np.zeros(FRAME - frame.size, np.int16)])
                chunk += 1
                try:
                    await ws.send(msg("media", media={"track": "inbound", "chunk": str(chunk),
                                                      "timestamp": str(chunk * 20),
                                                      "payload": base64.b64encode(g711.ulaw_encode(frame)).decode()}))
                except websockets.ConnectionClosed:
                    break
                out = np.zeros(FRAME, np.int16)
                filled = 0
                while buffer and filled < FRAME:
                    kind, item = buffer[0]
                    if kind == "mark":
                        buffer.popleft()
                        await ws.send(msg("mark", mark={"name": item}))
                        res.marks_echoed += 1
                        continue
                    take = min(FRAME - filled, item.size)
                    out[filled:filled + take] = item[:take]
                    filled += take
                    if take == item.size:
                        buffer.popleft()
                    else:
                        buffer[0] = ("audio", item[take:])
                while buffer and buffer[0][0] == "mark":  # playback reached these marks
                    await ws.send(msg("mark", mark={"name": buffer.popleft()[1]}))
                    res.marks_echoed += 1
                heard.append(out)
                if frame_energy_db(out) > VOICED_DB:
                    last_voiced = res.ticks
                    if first_voiced < 0:
                        first_voiced = res.ticks
                res.ticks += 1
                # the script
                agent_done = last_voiced >= waited_from and res.ticks - last_voiced >= DONE_SILENCE_FRAMES
                timed_out = (res.ticks - waited_from) * 0.02 > reply_timeout
                if talking.size == 0 and queue:
                    barge_now = (barge_in_ms is not None and phase == "greeting" and first_voiced >= 0
                                 and (res.ticks - first_voiced) * 20 >= barge_in_ms)
                    if barge_now or (barge_in_ms is None and (agent_done or timed_out)):
                        talking = queue.pop(0)
                        res.speech_starts.append(res.ticks)
                        phase = "line"
                        waited_from = res.ticks + talking.size // FRAME
                elif talking.size == 0 and not queue and (timed_out or (agent_done and hang_up_after)):
                    res.closed_by = "caller"
                    await ws.send(msg("stop", stop={"accountSid": self.account_sid, "callSid": self.call_sid}))
                    await ws.close()
                    break
                await asyncio.sleep(max(0.0, start_t + res.ticks * 0.02 - time.monotonic()))
            if not res.closed_by:
                res.closed_by = "server"
            await asyncio.wait_for(read_task, 10)
        res.heard = np.concatenate(heard) if heard else res.heard
        return res
