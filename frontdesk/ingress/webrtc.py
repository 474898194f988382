"""Browser test calls: the dashboard's "Test call" page talks to the agent over WebRTC (aiortc).

The browser posts its SDP offer (with all ICE candidates gathered); the server answers from an
aiortc peer connection. No STUN or TURN server is used: this is for staff on the clinic's own
network, and no traffic goes anywhere else. The caller's Opus audio is decoded by aiortc,
resampled to 8 kHz and fed to the same call session a SIP call has; the agent's 8 kHz audio goes
back through an outbound track that aiortc encodes to Opus.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import secrets
from collections import deque

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from media.stream_media import StreamMedia

from ..calls import CallHub, CallInfo

log = logging.getLogger("frontdesk.webrtc")
MAX_CALLS = 4  # test calls at once; they use the same models as phone calls
CONNECT_TIMEOUT_S = 20.0  # an offer whose connection never comes up gives its slot back after this
FRAME = 160


class WebRtcIngress:
    def __init__(self, calls: CallHub, connect_timeout_s: float = CONNECT_TIMEOUT_S):
        self.hub = calls
        self.calls: dict[str, object] = {}  # call id -> RTCPeerConnection
        self.owners: dict[str, str] = {}  # call id -> the staff user who started it
        self.connect_timeout_s = connect_timeout_s

    async def answer(self, offer_sdp: str, user: str, remote: str) -> tuple[str, str]:
        """(call id, answer SDP) for a browser's offer. ValueError: a bad offer or too many calls."""
        if len(self.calls) >= MAX_CALLS:
            raise ValueError(f"{MAX_CALLS} test calls are already running")
        if "m=audio" not in offer_sdp:
            raise ValueError("the offer has no audio")
        pc = RTCPeerConnection()
        call_id = "webrtc-" + secrets.token_hex(8)
        track = AgentTrack()
        state = {"ended": False, "begun": False, "by": "remote", "reason": "browser hung up"}

        def end(reason: str) -> None:
            state["by"], state["reason"] = "local", reason
            asyncio.get_running_loop().create_task(pc.close())

        async def transfer(target: str) -> bool:
            log.info("call %s: a test call is not transferred (to %s)", call_id, target)
            return False

        media = StreamMedia("webrtc")
        media.send = track.push
        info = CallInfo("webrtc", call_id, f"browser:{user}", "test-call", remote, "DTLS-SRTP", "opus")
        if self.hub.open(info, media, end=end, transfer=transfer) is None:
            await pc.close()
            raise ValueError("the server takes no new calls right now")
        self.calls[call_id] = pc
        self.owners[call_id] = user
        pc.addTrack(track)

        def finished() -> None:
            if not state["ended"]:
                state["ended"] = True
                self.calls.pop(call_id, None)
                self.owners.pop(call_id, None)
                self.hub.end(call_id, state["by"], state["reason"])

        async def give_up_unless_connected() -> None:
            # an offer that never completes ICE (a browser gone, a forged offer) must not keep a
            # test-call slot, or a SIP call slot with sip.max_calls, for ever
            await asyncio.sleep(self.connect_timeout_s)
            if not state["begun"] and not state["ended"]:
                log.info("call %s: WebRTC not connected within %.0f s; ended", call_id, self.connect_timeout_s)
                state["by"], state["reason"] = "local", "WebRTC connection never came up"
                await pc.close()
                finished()

        asyncio.get_running_loop().create_task(give_up_unless_connected())

        @pc.on("track")
        def on_track(incoming) -> None:
            if incoming.kind == "audio":
                asyncio.get_running_loop().create_task(_pump(incoming, media))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.info("call %s: WebRTC %s", call_id, pc.connectionState)
            if pc.connectionState == "connected" and not state["begun"]:
                state["begun"] = True
                self.hub.begin(call_id)
            elif pc.connectionState in ("failed", "closed"):
                if pc.connectionState == "failed":
                    state["reason"] = "WebRTC connection failed"
                finished()
                if pc.connectionState == "failed":
                    await pc.close()

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            state["reason"] = f"bad offer: {exc}"
            await pc.close()
            finished()
            raise ValueError(f"the browser's offer was refused: {exc}") from None
        return call_id, pc.localDescription.sdp

    async def hangup(self, call_id: str, user: str | None = None) -> bool:
        """End a test call; with ``user``, only one that user started."""
        pc = self.calls.get(call_id)
        if pc is None or (user is not None and self.owners.get(call_id) != user):
            return False
        await pc.close()  # connectionstatechange "closed" ends the call
        return True


async def _pump(track, media) -> None:
    """The browser's audio (48 kHz Opus, decoded by aiortc) into the call at 8 kHz."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        for out in resampler.resample(frame):
            media.receive(out.to_ndarray().reshape(-1).astype(np.int16))


class AgentTrack(MediaStreamTrack):
    """The agent's voice towards the browser: one 20 ms frame per tick of the call's media clock."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self._frames: deque[np.ndarray] = deque(maxlen=25)  # at most 0.5 s behind: older frames go
        self._ready = asyncio.Event()
        self._pts = 0
        self._silence = np.zeros(FRAME, np.int16)

    def push(self, frame: np.ndarray | None) -> None:
        self._frames.append(self._silence if frame is None else frame)
        self._ready.set()

    async def recv(self):
        while not self._frames:
            self._ready.clear()
            await self._ready.wait()
        pcm = self._frames.popleft()
        out = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        out.sample_rate = 8000
        out.pts = self._pts
        out.time_base = fractions.Fraction(1, 8000)
        self._pts += pcm.size
        return out
