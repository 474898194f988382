"""`frontdesk call`: a test caller built on pjsua2, an independent SIP stack.

It places a real call, waits for the agent's greeting, speaks each --say line in a caller voice
(hibari-tts, not the agent's Piper voice), waits for each reply, sends DTMF, hangs up, and then
transcribes what it heard with Whisper on the caller's side.

One module on purpose (about 450 lines): a test tool with one flow, from placing the call to
the caller-side transcript; the simulated callers (persona/) build on it."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from media.vad import frame_energy_db

log = logging.getLogger("frontdesk.caller")
FRAME = 160
FRAME_MS = 20
VOICED_DB = -42.0
AGENT_DONE_SILENCE_MS = 1200


@dataclass
class CallResult:
    uri: str
    answered: bool = False
    sip_status: int = 0
    ended_by: str | None = None
    bye_status: int | None = None
    transfer: str | None = None
    turns: list[dict] = field(default_factory=list)
    latency_ms: list[int | None] = field(default_factory=list)
    duration_ms: int = 0
    barge_in: dict | None = None
    holds: list[dict] = field(default_factory=list)
    dtmf_received: str = ""  # RFC 4733 digits the far end sent us
    sip_call_id: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        clean = (self.ended_by == "agent") or (self.ended_by == "caller" and self.bye_status == 200)
        return self.answered and clean and self.error is None


class _Audio:
    """Frames in and out of the conference bridge (called from pjmedia's clock thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rx: list[np.ndarray] = []
        self.tx = np.zeros(0, np.int16)
        self.tx_pos = 0
        self.echo_gain = 0.0
        self.echo_frames = 0

    def received(self, pcm: np.ndarray) -> None:
        with self.lock:
            self.rx.append(pcm)

    def next_tx(self) -> bytes:
        with self.lock:
            chunk = self.tx[self.tx_pos:self.tx_pos + FRAME]
            self.tx_pos += chunk.size
            back = self.rx[-1 - self.echo_frames] if self.echo_gain and len(self.rx) > self.echo_frames else None
        if chunk.size < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - chunk.size, np.int16)])
        if back is not None and back.size == FRAME:  # a line echo of what the agent said
            chunk = np.clip(chunk.astype(np.int32) + (back * self.echo_gain).astype(np.int32), -32768, 32767)
        return chunk.astype("<i2").tobytes()

    def speak(self, pcm: np.ndarray) -> None:
        with self.lock:
            self.tx = np.concatenate([self.tx[self.tx_pos:], pcm.astype(np.int16)])
            self.tx_pos = 0

    @property
    def speaking(self) -> bool:
        with self.lock:
            return self.tx_pos < self.tx.size

    @property
    def rx_frames(self) -> int:
        with self.lock:
            return len(self.rx)

    def rx_audio(self) -> np.ndarray:
        with self.lock:
            return np.concatenate(self.rx) if self.rx else np.zeros(0, np.int16)


_KEEP: list = []  # pjsua2 objects kept alive until the process exits (see place_call)


@contextlib.contextmanager
def _quiet_stdout():
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _agent_segments(audio: np.ndarray, start_frame: int = 0) -> list[tuple[int, int]]:
    """Voiced stretches (frame indices) separated by at least AGENT_DONE_SILENCE_MS of silence."""
    gap = AGENT_DONE_SILENCE_MS // FRAME_MS
    segs: list[list[int]] = []
    n = audio.size // FRAME
    for i in range(start_frame, n):
        if frame_energy_db(audio[i * FRAME:(i + 1) * FRAME]) > VOICED_DB:
            if segs and i - segs[-1][1] <= gap:
                segs[-1][1] = i + 1
            else:
                segs.append([i, i + 1])
    return [(a, b) for a, b in segs if b - a >= 5]  # ignore clicks under 100 ms


def _speech(voice, text: str) -> np.ndarray:
    """The caller's line in its voice; "[pause 1400]" inside it is that many ms of silence."""
    parts = re.split(r"\[pause (\d+)\]", text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(np.zeros(int(part) * 8, np.int16))
        elif part.strip():
            out.append(voice.synthesize_all(part.strip()))
    return np.concatenate(out) if out else np.zeros(0, np.int16)


class Phone:
    """One pjsua2 endpoint, account and call: the plumbing both test callers share."""

    def __init__(self, uri: str, *, transport: str = "udp", caller_id: str = "caller", refuse_transfer: bool = False,
                 srtp: bool = False, echo_db: float | None = None, echo_delay_ms: int = 100,
                 debug_log: list[str] | None = None, result: CallResult | None = None):
        import pjsua2 as pj

        self.pj = pj
        self.result = result or CallResult(uri=uri)
        result = self.result
        self.ep = ep = pj.Endpoint()
        with _quiet_stdout():  # pjlib prints its start-up banner before logging is configured
            ep.libCreate()

        class SipLog(pj.LogWriter):
            """pjsip's message log: the final response to our BYE is read from here."""

            def write(self, entry):
                m = re.search(r"RX \d+ bytes Response msg (\d{3})/BYE/", entry.msg)
                if m:
                    result.bye_status = int(m.group(1))
                if debug_log is not None:
                    debug_log.append(entry.msg)

        self.writer = SipLog()
        cfg = pj.EpConfig()
        cfg.logConfig.writer = self.writer
        cfg.logConfig.msgLogging = True
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.userAgent = "frontdesk-test-caller (pjsua2)"
        cfg.logConfig.level = 4
        cfg.logConfig.consoleLevel = 4
        cfg.logConfig.decor = 0
        cfg.medConfig.clockRate = 8000
        cfg.medConfig.sndClockRate = 8000
        cfg.medConfig.channelCount = 1
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        ep.libInit(cfg)
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP, "tls": pj.PJSIP_TRANSPORT_TLS}
        tcfg = pj.TransportConfig()
        tcfg.port = 0
        ep.transportCreate(kinds[transport], tcfg)
        ep.audDevManager().setNullDev()
        ep.libStart()
        # prefer G.711 µ-law, then A-law
        for codec in ep.codecEnum2():
            prio = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}.get(codec.codecId, 0)
            ep.codecSetPriority(codec.codecId, prio)

        self.audio = audio = _Audio()
        if echo_db is not None:
            audio.echo_gain = 10 ** (echo_db / 20)
            audio.echo_frames = max(0, echo_delay_ms // FRAME_MS)
        self.state = state = {"confirmed": False, "disconnected": False, "media": False, "local_hangup": False}

        class Port(pj.AudioMediaPort):
            def onFrameRequested(self, frame):
                frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
                frame.buf = pj.ByteVector(audio.next_tx())
                frame.size = FRAME * 2

            def onFrameReceived(self, frame):
                data = bytes(frame.buf)
                if data:
                    audio.received(np.frombuffer(data, dtype="<i2").copy())

        self.port = port = Port()
        fmt = pj.MediaFormatAudio()
        fmt.type = pj.PJMEDIA_TYPE_AUDIO
        fmt.clockRate = 8000
        fmt.channelCount = 1
        fmt.bitsPerSample = 16
        fmt.frameTimeUsec = 20000
        port.createPort("frontdesk-caller", fmt)

        class Call(pj.Call):
            def onCallState(self, prm):
                ci = self.getInfo()
                if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
                    state["confirmed"] = True
                    result.answered = True
                    result.sip_status = 200
                elif ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                    state["disconnected"] = True
                    if not result.answered:
                        result.sip_status = ci.lastStatusCode
                    if result.ended_by is None:
                        result.ended_by = "caller" if state["local_hangup"] else "agent"

            def onCallMediaState(self, prm):
                ci = self.getInfo()
                for mi in ci.media:
                    if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                        am = self.getAudioMedia(mi.index)
                        am.startTransmit(port)
                        port.startTransmit(am)
                        state["media"] = True

            def onDtmfDigit(self, prm):
                result.dtmf_received += prm.digit

            def onCallTransferRequest(self, prm):
                result.transfer = prm.dstUri.strip().lstrip("<").split(">")[0]
                prm.statusCode = 603 if refuse_transfer else 202

        self.acc = acc = pj.Account()
        acfg = pj.AccountConfig()
        acfg.idUri = f"sip:{caller_id}@127.0.0.1"
        acfg.mediaConfig.transportConfig.port = 41000  # its own RTP range, away from the server's
        acfg.mediaConfig.transportConfig.portRange = 2000
        if srtp:  # SDES SRTP, mandatory: pjsua offers RTP/SAVP with a=crypto
            acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
            acfg.mediaConfig.srtpSecureSignaling = 0
        acc.create(acfg)
        self.call = Call(acc)
        self.target = uri if transport == "udp" or "transport=" in uri else f"{uri};transport={transport}"
        self.t_start = time.monotonic()

    def dial(self, answer_timeout: float) -> bool:
        """Place the call; True once it is answered and its media is up."""
        self.call.makeCall(self.target, self.pj.CallOpParam(True))
        self.pump(answer_timeout, lambda: self.state["confirmed"] or self.state["disconnected"])
        if not self.state["confirmed"]:
            self.result.error = None if self.state["disconnected"] else f"no answer within {answer_timeout:.0f} s"
            return False
        self.pump(5.0, lambda: self.state["media"] or self.state["disconnected"])
        try:
            self.result.sip_call_id = self.call.getInfo().callIdString
        except self.pj.Error:
            pass
        return True

    def pump(self, seconds: float, until=None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.ep.libHandleEvents(10)
            if until is not None and until():
                return True
        return until() if until is not None else True

    @property
    def up(self) -> bool:
        return not self.state["disconnected"]

    def rx_ms(self) -> int:
        return self.audio.rx_frames * FRAME_MS

    def wait_agent(self, after_frame: int, timeout: float) -> tuple[int, int] | None:
        """Wait for an agent segment that starts at or after after_frame and has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.up:
            self.pump(0.1)
            segs = _agent_segments(self.audio.rx_audio(), after_frame)
            if segs and self.audio.rx_frames - segs[0][1] >= AGENT_DONE_SILENCE_MS // FRAME_MS:
                return segs[0]
        segs = _agent_segments(self.audio.rx_audio(), after_frame)
        return segs[0] if segs else None

    def speak(self, pcm: np.ndarray, extra_s: float = 5.0) -> None:
        self.audio.speak(pcm)
        self.pump(pcm.size / 8000 + extra_s, lambda: not self.audio.speaking or not self.up)

    def dtmf(self, digits: str) -> None:
        self.call.dialDtmf(digits)
        self.pump(0.2 * len(digits) + 0.5)

    def hangup(self) -> None:
        if self.up:
            self.state["local_hangup"] = True
            self.call.hangup(self.pj.CallOpParam(True))
        self.pump(10.0, lambda: self.state["disconnected"] and (self.result.ended_by != "caller"
                                                                or self.result.bye_status is not None))

    def close(self, teardown: bool) -> np.ndarray:
        """End the call and the endpoint; returns everything the caller received."""
        self.result.duration_ms = int((time.monotonic() - self.t_start) * 1000)
        received = self.audio.rx_audio()
        self.ep.hangupAllCalls()
        self.pump(0.3)
        if teardown:
            # calls and ports go before libDestroy, or pjmedia aborts in pjmedia_conf_remove_port
            del self.call
            del self.port
            self.acc.shutdown()
            del self.acc
            self.ep.libDestroy()
        else:
            # The CLI exits with os._exit right after printing: pjsua2's destructors racing its
            # media clock thread have crashed (SIGSEGV) at teardown, after the call was over.
            _KEEP.extend([self.ep, self.acc, self.call, self.port, self.writer])
        return received


def caller_asr():
    from asr.whisper import WhisperASR
    from models.store import default_models_dir, model_for_role

    return WhisperASR(str(model_for_role("asr").path(default_models_dir())))


def place_call(uri: str, says: list[str], dtmf: str = "", transport: str = "udp",
               answer_timeout: float = 30.0, reply_timeout: float = 45.0, transcribe: bool = True,
               debug_log: list[str] | None = None, caller_id: str = "caller",
               refuse_transfer: bool = False, teardown: bool = True, barge_in_ms: int | None = None,
               echo_db: float | None = None, echo_delay_ms: int = 100, hold_after: int | None = None,
               hold_s: float = 3.0, srtp: bool = False) -> CallResult:
    from tts.hibari import HibariTTS

    voice = HibariTTS(sample_rate=8000)
    lines = [(re.sub(r"\s*\[pause \d+\]\s*", " ", text).strip(), _speech(voice, text)) for text in says]
    phone = Phone(uri, transport=transport, caller_id=caller_id, refuse_transfer=refuse_transfer, srtp=srtp,
                  echo_db=echo_db, echo_delay_ms=echo_delay_ms, debug_log=debug_log)
    result, audio, pj = phone.result, phone.audio, phone.pj
    caller_turns: list[dict] = []
    try:
        if phone.dial(answer_timeout):
            if barge_in_ms is None:
                phone.wait_agent(0, reply_timeout)  # the greeting
            else:  # talk over the greeting, barge_in_ms after it starts
                phone.pump(reply_timeout, lambda: bool(_agent_segments(audio.rx_audio())) or not phone.up)
                segs = _agent_segments(audio.rx_audio())
                greeting_start = segs[0][0] * FRAME_MS if segs else 0
                phone.pump(max(0.0, (greeting_start + barge_in_ms - phone.rx_ms()) / 1000))
            for index, (text, pcm) in enumerate(lines):
                if not phone.up:
                    break
                start = phone.rx_ms()
                if index == 0 and barge_in_ms is not None:  # from the caller's first sound
                    onset = _agent_segments(pcm.copy())
                    result.barge_in = {"caller_start_ms": start + (onset[0][0] * FRAME_MS if onset else 0)}
                phone.speak(pcm)
                voiced = _agent_segments(pcm.copy())
                speech_end = start + (voiced[-1][1] * FRAME_MS if voiced else pcm.size // 8)
                caller_turns.append({"speaker": "caller", "text": text, "start_ms": start, "end_ms": speech_end})
                seg = phone.wait_agent(speech_end // FRAME_MS, reply_timeout)
                result.latency_ms.append(seg[0] * FRAME_MS - speech_end if seg else None)
                if hold_after is not None and index + 1 == hold_after and phone.up:
                    # hold (re-INVITE a=sendonly), wait, resume (re-INVITE a=sendrecv)
                    phone.call.setHold(pj.CallOpParam(True))
                    phone.pump(hold_s)
                    prm = pj.CallOpParam(True)
                    prm.opt.flag = pj.PJSUA_CALL_UNHOLD
                    phone.call.reinvite(prm)
                    phone.pump(1.0)
                    result.holds.append({"held_s": hold_s})
            if dtmf and phone.up:
                start = phone.rx_ms()
                phone.dtmf(dtmf)
                phone.pump(0.5)
                caller_turns.append({"speaker": "caller", "text": f"[DTMF {dtmf}]", "start_ms": start, "end_ms": phone.rx_ms()})
                phone.wait_agent(phone.rx_ms() // FRAME_MS, 10.0)
            phone.hangup()
    except pj.Error as exc:
        result.error = f"pjsua2: {exc.info()}"
    finally:
        received = phone.close(teardown)

    if result.barge_in is not None:
        # when the agent's audio stopped after the caller began: the start of the first 500 ms
        # of silence (longer than the pauses inside its speech)
        start = result.barge_in["caller_start_ms"] // FRAME_MS
        quiet = 0
        for i in range(start, received.size // FRAME):
            quiet = quiet + 1 if frame_energy_db(received[i * FRAME:(i + 1) * FRAME]) <= VOICED_DB else 0
            if quiet == 25:
                result.barge_in["agent_stopped_ms"] = (i - 24) * FRAME_MS
                result.barge_in["stop_after_ms"] = (i - 24 - start) * FRAME_MS
                break
    agent_turns = [{"speaker": "agent", "text": "", "start_ms": a * FRAME_MS, "end_ms": b * FRAME_MS, "_audio": (a, b)}
                   for a, b in _agent_segments(received)]
    if transcribe and agent_turns:
        asr = caller_asr()
        for turn in agent_turns:
            a, b = turn["_audio"]
            turn["text"] = asr.transcribe(received[a * FRAME:b * FRAME], 8000).text
    for turn in agent_turns:
        turn.pop("_audio")
    result.turns = sorted(agent_turns + caller_turns, key=lambda t: t["start_ms"])
    return result


def write_result(result: CallResult, path: str | None) -> None:
    data = asdict(result)
    data["ok"] = result.ok
    if path:
        with open(path, "w") as f:
            json.dump(data, f, indent=2)


def print_transcript(result: CallResult) -> None:
    status = "answered" if result.answered else f"not answered (SIP {result.sip_status})"
    print(f"call to {result.uri}: {status}")
    latencies = iter(result.latency_ms)
    for turn in result.turns:
        when = f"{turn['start_ms'] / 1000:6.1f}s"
        extra = ""
        if turn["speaker"] == "caller" and not turn["text"].startswith("[DTMF"):
            lat = next(latencies, None)
            extra = f"   (agent answered after {lat} ms)" if lat is not None else "   (no reply heard)"
        print(f"  {when} {turn['speaker']:>6}: {turn['text']}{extra}")
    if result.transfer:
        print(f"  transferred to {result.transfer}")
    bye = f", BYE answered {result.bye_status}" if result.bye_status else ""
    print(f"ended by {result.ended_by or 'nobody'}{bye}; {'OK' if result.ok else 'FAILED'}"
          + (f": {result.error}" if result.error else ""))
