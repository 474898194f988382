"""The C media path (media/_native) against the Python modules that state its algorithms, on the
same input; and a native RTP session over real loopback sockets."""

import asyncio
import random
import socket
import struct
import time

import numpy as np
import pytest

from media import g711
from media.dtmf import build_event
from media.jitter import AUDIO, AdaptiveJitterBuffer
from media.pcm import rms
from media.playout import Playout
from media.plc import G711Concealer
from media.rtcp import ReceiverStats
from media.rtp import build_rtp, parse_rtp
from media.rtp_native import NativeRtpSession
from media.rtp_session import PortAllocator, RtpSession
from media.vad import PythonEndpointer

native = pytest.importorskip("media._native.native", reason="frontdesk's C media extension is not built")


@pytest.fixture(scope="module")
def speech(caller_voice):
    parts = []
    for text in ("Hello, I would like to book a cleaning for next Tuesday.", "My number is five five five, one two.",
                 "Yes, that works for me. Thank you."):
        parts += [np.asarray(caller_voice.synthesize_all(text), np.int16), np.zeros(4000, np.int16)]
    pcm = np.concatenate(parts)
    noise = np.random.default_rng(1).normal(0, 40, pcm.size)
    pcm = np.clip(pcm + noise, -32768, 32767).astype(np.int16)
    return pcm[:pcm.size // 160 * 160]


def trace(kind: str, n: int, seed: int) -> list[tuple[float, int]]:
    """(arrival, frame index) of the packets that arrive, in arrival order."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        send, jitter = i * 0.020, 0.0
        if kind == "loss_jitter":
            if rng.random() < 0.05:
                continue
            jitter = rng.uniform(0, 0.060)
        elif kind == "bursts":
            if rng.random() < 0.03:
                jitter = 0.25  # a stall: a burst arrives at once
            jitter += rng.uniform(0, 0.120)
        elif kind == "reorder":
            jitter = rng.uniform(0, 0.005) + (rng.uniform(0.03, 0.05) if rng.random() < 0.1 else 0.0)
        elif kind == "drift":
            send, jitter = i * 0.020 / 1.005, rng.uniform(0, 0.020)
        out.append((send + 0.010 + jitter, i + 65000))  # the sequence numbers wrap
    return sorted(out)


class FloorQuiet:
    """RtpSession's pause test for the Python jitter buffer (the native one has it built in)."""

    def __init__(self):
        self.floor, self.age = 1e9, 0

    def __call__(self, pcm):
        level = rms(pcm)
        self.age += 1
        if level < self.floor or self.age > 150:
            self.floor, self.age = max(level, 1.0), 0
        return level < max(100.0, 2.0 * self.floor)


@pytest.mark.parametrize("kind", ["clean", "loss_jitter", "bursts", "reorder", "drift"])
def test_the_c_jitter_buffer_plays_exactly_what_the_python_one_plays(speech, kind):
    frames = [speech[i:i + 160] for i in range(0, speech.size, 160)]
    for seed in range(2):
        arrivals = trace(kind, len(frames), seed)
        py, c = AdaptiveJitterBuffer(quiet=FloorQuiet()), native.JitterCore()
        played_py, played_c = [], []
        t, k = arrivals[0][0] + 0.005, 0
        for _ in range(len(frames) + 40):
            while k < len(arrivals) and arrivals[k][0] <= t:
                arrival, i = arrivals[k]
                for jb in (py, c):
                    jb.put(i & 0xFFFF, (i * 160) & 0xFFFFFFFF, frames[i - 65000], arrival)
                k += 1
            p = py.get(t)
            played_py.append((p.kind, p.payload.tobytes() if p.kind == AUDIO else None))
            kind_c, pcm = c.get(t)
            played_c.append(({0: "silence", 1: "audio", 2: "conceal"}[kind_c], pcm.tobytes() if kind_c == 1 else None))
            t += 0.020
        assert played_c == played_py
        st = py.stats
        assert (c.played, c.lost, c.late, c.shrinks, c.grows, c.underruns, c.concealed) == \
            (st.played, st.lost, st.late, st.shrinks, st.grows, st.underruns, st.concealed)
        assert c.target_s == pytest.approx(py.target_s, abs=1e-9)
        assert st.played > len(frames) * 0.8


def test_the_c_concealment_matches_the_python_one(speech):
    """Erasures of 1 to 8 frames (past the 60 ms fade to silence) at random places in speech: the
    same samples, to within one step of rounding (the pitch search sums in another order)."""
    rng = random.Random(5)
    py, c = G711Concealer(), native.Concealer()
    frames = [speech[i:i + 160] for i in range(0, speech.size, 160)]
    erased, worst = 0, 0
    for frame in frames:
        if erased == 0 and rng.random() < 0.08:
            erased = rng.randint(1, 8)
        if erased:
            a, b = py.conceal(160), c.conceal(160)
            erased -= 1
        else:
            a, b = py.good(frame.copy()), c.good(frame.copy())
        worst = max(worst, int(np.abs(a.astype(np.int32) - b).max()))
    assert worst <= 1 and c.concealed_frames == py.concealed_frames > 50


def test_the_c_playout_queue_gives_the_python_ones_frames():
    rng = random.Random(2)
    py, c = Playout(), native.Playout()
    for step in range(400):
        op, size = rng.random(), rng.randint(0, 700)
        if 0.15 <= op < 0.18:
            assert py.clear() == c.clear()
        for q in (py, c):
            if op < 0.15:
                q.play(np.arange(size, dtype=np.int16) + step)
            elif 0.18 <= op < 0.22:
                q.hold()
            elif op < 0.30:
                q.resume()
        a, b = py.next_frame(paused=op > 0.95), c.next_frame(paused=op > 0.95)
        assert (a is None) == (b is None) and (a is None or a.tolist() == b.tolist())
        assert (py.playing, py.queued_samples, py.played_samples, py.held) == \
            (c.playing, c.queued_samples, c.played_samples, c.held)
        assert (py.first_audio_out_at is None) == (c.first_audio_out_at is None)
    assert py.played_samples > 50 * 160


def test_the_c_endpointer_gives_the_python_ones_events(speech):
    audio = np.concatenate([np.zeros(8000, np.int16), speech, speech[:16000]])
    py, c = PythonEndpointer(end_silence_ms=550), native.Endpointer(end_silence_ms=550)
    events = {id(py): [], id(c): []}
    for n, i in enumerate(range(0, audio.size, 160)):
        frame = audio[i:i + 160]
        for ep in (py, c):
            if n == 300:
                ep.hold_open(1500)
            if n == 600:
                ep.set_end_silence(700)
            if n in (450, 750, 900):
                ep.end_after(300)  # a whole answer: a shorter pause ends it
            for e in ep.feed(frame):
                events[id(ep)].append((type(e).__name__, e.start_ms, getattr(e, "end_ms", None),
                                       e.audio.tobytes() if hasattr(e, "audio") else None))
        assert c.last_voiced == py.last_voiced and c.in_speech == py.in_speech
    assert events[id(c)] == events[id(py)]
    kinds = [e[0] for e in events[id(py)]]
    assert kinds.count("Utterance") >= 3 and "SpeechPaused" in kinds
    # a frame of another size, and an empty one, do not upset it
    assert c.feed(np.zeros(80, np.int16)) == py.feed(np.zeros(80, np.int16))
    assert c.feed(np.zeros(0, np.int16)) == py.feed(np.zeros(0, np.int16))


def test_the_c_receiver_statistics_match_rfc_3550_in_python():
    rng = random.Random(3)
    py, c = ReceiverStats(), native.ReceiverStats()
    seq, ts, t = 65000, 4_294_960_000, 100.0
    for n in range(3000):
        if rng.random() < 0.03:
            seq += 2  # a loss
        s = (seq + (1 if rng.random() < 0.02 else 0)) & 0xFFFF  # now and then out of order
        for stats in (py, c):
            stats.on_packet(s, ts & 0xFFFFFFFF, t + rng.uniform(0, 0.03) * 0, timing=n % 50 != 7)
        seq, ts, t = seq + 1, ts + 160, t + 0.020 + rng.uniform(-0.004, 0.004)
        if n % 500 == 499:
            assert c.block(1, t) == py.block(1, t)
    assert (c.expected, c.cumulative_lost, c.extended_max, c.received) == \
        (py.expected, py.cumulative_lost, py.extended_max, py.received)
    assert c.jitter == pytest.approx(py.jitter)
    c.reset()
    assert c.expected == 0 and c.base_seq is None


class Peer:
    """A plain UDP socket that plays a caller's RTP to the session's port."""

    def __init__(self, port: int, ssrc: int = 0x1234):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port, self.ssrc, self.seq = port, ssrc, 100

    def send(self, payload: bytes, pt: int = 0, ts: int | None = None, marker: bool = False) -> None:
        self.sock.sendto(build_rtp(pt, self.seq, ts if ts is not None else self.seq * 160, self.ssrc, payload, marker),
                         ("127.0.0.1", self.port))
        self.seq += 1

    def received(self) -> list:
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(parse_rtp(self.sock.recv(2048)))
        except BlockingIOError:
            return out
        finally:
            self.sock.settimeout(0.5)


def test_a_native_session_over_loopback_latches_counts_and_echoes(speech):
    asyncio.run(_native_session(speech))


async def _native_session(speech):
    allocator = PortAllocator(33000, 33100)
    heard, digits = [], []
    session = await RtpSession.open(allocator, "127.0.0.1", codec="PCMU", payload_type=0, dtmf_payload_type=101,
                                    remote=("127.0.0.1", 9), on_frame=heard.append, on_dtmf=digits.append)
    assert isinstance(session, NativeRtpSession)
    peer, stranger = Peer(session.port), Peer(session.port, ssrc=0x9999)
    frames = [speech[i:i + 160] for i in range(0, 160 * 60, 160)]
    due = time.monotonic()
    for n, frame in enumerate(frames):
        peer.send(g711.ulaw_encode(frame))
        if n == 10:
            stranger.send(b"\xff" * 160)  # another source while the stream is live: dropped
            peer.sock.sendto(b"\x80garbage", ("127.0.0.1", session.port))  # not RTP: counted, dropped
        if n == 20:
            peer.send(build_event("5", False, 160), pt=101, ts=7000)
            peer.send(build_event("5", True, 320), pt=101, ts=7000)  # the same event: one digit
        due += 0.020  # the ticks keep real time: the jitter buffer measures with the clock
        time.sleep(max(0.0, due - time.monotonic()))
        session.tick(due)
    session.play(speech[:1600])  # 200 ms of agent audio, then silence
    for _ in range(15):
        due += 0.020
        time.sleep(max(0.0, due - time.monotonic()))
        session.tick(due)
    time.sleep(0.05)
    out = peer.received()
    assert session.remote == peer.sock.getsockname()  # symmetric RTP: answered where the stream came from
    assert session.packets_in == 62 and session.foreign_packets == 1 and session.bad_packets == 1
    assert digits == ["5"]
    # the frames played in order, bit-exact through G.711 (a frame after a concealed one is
    # cross-faded, and this test's own timing on a busy machine may make the buffer adapt)
    sent = [g711.ulaw_decode(g711.ulaw_encode(f)).tobytes() for f in frames]
    exact = [sent.index(f) for f in (f.tobytes() for f in heard) if f in sent]
    assert len(exact) >= 50 and exact == sorted(exact), session.jitter_stats()
    assert len(out) == 75 and all(p.ssrc == out[0].ssrc for p in out)
    assert [(p.sequence - out[0].sequence) & 0xFFFF for p in out] == list(range(75))
    agent = [p for p in out if p.payload != b"\xff" * 160]
    assert len(agent) == 10 and agent[0].marker and not agent[1].marker
    assert g711.ulaw_decode(b"".join(p.payload for p in agent)).tolist() == \
        g711.ulaw_decode(g711.ulaw_encode(speech[:1600])).tolist()
    stats = session.stats()
    assert stats["packets_in"] == 62 and stats["expected_in"] == 62 and stats["lost_in"] == 0
    assert stats["jitter_buffer"]["played"] >= 40 and stats["send_pacing"]["n"] == 75
    # a new SSRC (the PBX bridged the call elsewhere) starts the stream afresh
    other = Peer(session.port, ssrc=0x4242)
    other.sock.close()
    peer.ssrc = 0x4242
    peer.send(b"\xff" * 160)
    time.sleep(0.01)
    session.tick(due)
    assert session.ssrc_changes == 1 and session.rx_stats.expected == 1
    session.close()
    stranger.sock.close()
    peer.sock.close()


class PythonRtpSession(RtpSession):
    """RtpSession as it runs for SRTP, Twilio and WebRTC calls: every packet in Python (RtpSession.open
    picks the native session only for RtpSession itself)."""


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_the_native_session_and_the_python_one_do_the_same_on_the_wire(speech, codec):
    """One script of a call's media events, played to both sessions over loopback: what each
    delivers (digits, counters, latching, SSRC changes, the caller's frames) and every packet each
    sends (audio, silence, markers, RFC 4733 digits, hold, a codec change, a new address) must agree."""
    native_run = asyncio.run(_scripted_call(RtpSession, speech, codec))
    python_run = asyncio.run(_scripted_call(PythonRtpSession, speech, codec))
    assert native_run["kind"] == "NativeRtpSession" and python_run["kind"] == "PythonRtpSession"
    for key in ("digits", "counters", "remote_latched", "ssrc_changes", "sent", "sent_after_move"):
        assert native_run[key] == python_run[key], key
    # the caller's frames: the same in the same order (timing differs by microseconds between the
    # two ways of reading the socket, so the jitter buffer may place a frame one tick apart)
    for run in (native_run, python_run):
        assert len(run["exact"]) >= 50 and run["exact"] == sorted(run["exact"]), run["kind"]
    assert abs(len(native_run["exact"]) - len(python_run["exact"])) <= 3


async def _scripted_call(cls, speech, codec: str) -> dict:
    pt = 0 if codec == "PCMU" else 8
    encode, decode = g711.encoder(codec), g711.decoder(codec)
    allocator = PortAllocator(33200, 33300)
    heard, digits = [], []
    session = await cls.open(allocator, "127.0.0.1", codec=codec, payload_type=pt, dtmf_payload_type=101,
                             remote=("127.0.0.1", 9), on_frame=heard.append, on_dtmf=digits.append)
    peer, stranger = Peer(session.port), Peer(session.port, ssrc=0x9999)
    frames = [speech[i:i + 160] for i in range(0, 160 * 60, 160)]
    due = time.monotonic()

    async def ticks(n: int) -> None:
        nonlocal due
        for _ in range(n):
            due += 0.020
            # an asyncio sleep, not time.sleep: the Python session reads its socket on the loop
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            session.tick(due)

    for n, frame in enumerate(frames):
        peer.send(encode(frame), pt=pt)
        if n == 10:
            stranger.send(b"\xff" * 160, pt=pt)  # another source while the stream is live: dropped
            peer.sock.sendto(b"\x80garbage", ("127.0.0.1", session.port))  # not RTP: counted, dropped
        if n == 20:
            peer.send(build_event("7", False, 160), pt=101, ts=7000)
            peer.send(build_event("7", True, 320), pt=101, ts=7000)  # the same event: one digit
        await ticks(1)
    latched = session.remote == peer.sock.getsockname()
    peer.received()  # what was sent so far is silence: compared below from here on
    session.play(speech[:1600])  # 200 ms of the agent, then silence
    await ticks(12)
    session.send_dtmf("4")  # in place of audio while it lasts
    await ticks(8)
    session.update(codec=codec, payload_type=pt, dtmf_payload_type=101, remote=session.remote, may_send=False)
    session.play(speech[1600:3200])
    await ticks(5)  # on hold: nothing goes out, the audio waits
    session.update(codec=codec, payload_type=pt, dtmf_payload_type=101, remote=session.remote, may_send=True)
    await ticks(12)
    other = "PCMA" if codec == "PCMU" else "PCMU"
    session.update(codec=other, payload_type=8 if other == "PCMA" else 0, dtmf_payload_type=101,
                   remote=session.remote, may_send=True)
    session.play(speech[3200:4000])
    await ticks(6)
    await asyncio.sleep(0.05)
    sent = _relative(peer.received())
    # the call moves to another address (a re-INVITE): packets go there, and latch to its stream
    mover = Peer(session.port, ssrc=0x4242)
    session.update(codec=other, payload_type=8 if other == "PCMA" else 0, dtmf_payload_type=101,
                   remote=mover.sock.getsockname(), may_send=True)
    mover.send(b"\xd5" * 160, pt=8 if other == "PCMA" else 0)
    await ticks(3)
    await asyncio.sleep(0.05)
    sent_after_move = _relative(mover.received())
    counters = {k: getattr(session, k) for k in ("packets_in", "foreign_packets", "bad_packets")}
    result = {"kind": cls.__name__ if cls is not RtpSession else type(session).__name__, "digits": digits,
              "counters": counters, "remote_latched": latched, "ssrc_changes": session.ssrc_changes,
              "sent": sent, "sent_after_move": sent_after_move}
    wire = [decode(encode(f)).tobytes() for f in frames]
    result["exact"] = [wire.index(f) for f in (h.tobytes() for h in heard) if f in wire]
    session.close()
    for p in (peer, stranger, mover):
        p.sock.close()
    return result


def _relative(packets: list) -> list[tuple]:
    """Packets as (payload type, marker, sequence and timestamp from the first, payload): the same
    whatever random start the session picked."""
    if not packets:
        return []
    seq0, ts0 = packets[0].sequence, packets[0].timestamp
    return [(p.payload_type, p.marker, (p.sequence - seq0) & 0xFFFF, (p.timestamp - ts0) & 0xFFFFFFFF, p.payload)
            for p in packets]
