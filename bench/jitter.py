"""Jitter buffer quality: frontdesk's adaptive buffer + G.711 concealment against aiortc's JitterBuffer.

The same seeded packet traces (real speech from the hibari voice, 20 ms G.711 µ-law frames) are
replayed through both. A playout clock ticks every 20 ms and plays one frame per tick: frontdesk's
buffer says what to play (a packet, a concealed frame, silence); aiortc's releases frames as it
assembles them (capacity 16, prefetch 4, as its audio receiver uses it), and the clock plays the
oldest released frame or silence when there is none (aiortc has no G.711 concealment).

Reported per trace, as the median over the seeds: narrowband PESQ (ITU-T P.862, PyPI `pesq`) of
the played-out speech against the clean decoded reference; the share of frames concealed (ours) or
played as silence in a gap (aiortc); and the mean added delay: how long a played packet waited in
the buffer (WebRTC's jitterBufferDelay).

Traces (network delay = 10 ms + a uniform jitter of up to J ms per packet, so packets reorder):
  clean                no loss, no jitter
  loss5_jitter60       5% random loss, J = 60 ms
  burst10_jitter120    10% loss in bursts (Gilbert-Elliott, mean burst 3 packets), J = 120 ms
  reorder              10% of packets held 30-50 ms (overtaken by the next ones), J = 5 ms
  drift                the sender's clock 0.5% fast, J = 20 ms (not in aiortc's goal; shows drift handling)

    .venv/bin/python bench/jitter.py [--seeds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media import g711  # noqa: E402
from media.jitter import AUDIO, CONCEAL, AdaptiveJitterBuffer  # noqa: E402
from media.plc import G711Concealer  # noqa: E402

FRAME = 160
TICK = 0.020
SENTENCES = ["Thank you for calling Riverside Dental, this is the virtual receptionist.",
             "I can book, move or cancel an appointment for you.",
             "Our next opening for a cleaning is Tuesday at ten in the morning.",
             "Could you spell your last name for me, please?",
             "Your appointment is confirmed, and a text message is on its way."]
TRACES = ("clean", "loss5_jitter60", "burst10_jitter120", "reorder", "drift")


def speech() -> np.ndarray:
    from tts.hibari import HibariTTS
    voice = HibariTTS(sample_rate=8000)
    parts = []
    for text in SENTENCES:
        pcm = np.asarray(voice.synthesize_all(text), dtype=np.int16)
        parts += [pcm, np.zeros(int(0.6 * 8000), np.int16)]
    pcm = np.concatenate(parts)
    return pcm[: pcm.size - pcm.size % FRAME]


def trace(kind: str, n: int, seed: int) -> list[tuple[float, int]]:
    """(arrival time, frame index) for each packet that arrives, in arrival order."""
    rng = random.Random(seed)
    arrivals = []
    bad = False
    for i in range(n):
        send = i * TICK
        jitter = 0.0
        if kind == "clean":
            pass
        elif kind == "loss5_jitter60":
            if rng.random() < 0.05:
                continue
            jitter = rng.uniform(0, 0.060)
        elif kind == "burst10_jitter120":
            # Gilbert-Elliott: leave the bad state with p 1/3 (bursts of 3), enter it so 10% is lost
            bad = (rng.random() < 2 / 3) if bad else (rng.random() < 0.1 * (1 / 3) / 0.9)
            if bad:
                continue
            jitter = rng.uniform(0, 0.120)
        elif kind == "reorder":
            jitter = rng.uniform(0, 0.005) + (rng.uniform(0.030, 0.050) if rng.random() < 0.10 else 0.0)
        elif kind == "drift":
            send = i * TICK / 1.005
            jitter = rng.uniform(0, 0.020)
        arrivals.append((send + 0.010 + jitter, i))
    arrivals.sort()
    return arrivals


def _quiet(payload: bytes) -> bool:
    pcm = g711.ulaw_decode(payload).astype(np.float64)
    return float(np.sqrt(np.mean(pcm * pcm))) < 100.0  # below -50 dBFS


def play_frontdesk(frames: list[bytes], arrivals: list[tuple[float, int]]) -> tuple[np.ndarray, dict]:
    jb: AdaptiveJitterBuffer[bytes] = AdaptiveJitterBuffer(quiet=_quiet)
    plc = G711Concealer()
    out = []
    t = arrivals[0][0] + 0.005
    k = 0
    for _ in range(len(frames) + 40):
        while k < len(arrivals) and arrivals[k][0] <= t:
            arrival, i = arrivals[k]
            jb.put(i & 0xFFFF, (i * FRAME) & 0xFFFFFFFF, frames[i], arrival)
            k += 1
        p = jb.get(t)
        if p.kind == AUDIO:
            out.append(plc.good(g711.ulaw_decode(p.payload)))
        elif p.kind == CONCEAL:
            out.append(plc.conceal(FRAME))
        else:
            out.append(plc.good(np.zeros(FRAME, np.int16)))
        t += TICK
    st = jb.stats
    return np.concatenate(out), {"gap_share": st.concealed / len(frames), "delay_ms": st.mean_delay_ms,
                                 "late": st.late, "shrinks": st.shrinks, "grows": st.grows}


def play_aiortc(frames: list[bytes], arrivals: list[tuple[float, int]]) -> tuple[np.ndarray, dict]:
    from aiortc.jitterbuffer import JitterBuffer
    from aiortc.rtp import RtpPacket

    jb = JitterBuffer(capacity=16, prefetch=4)
    released: list[tuple[bytes, float]] = []
    arrival_of = {}
    out, delays = [], []
    gaps = 0
    t = arrivals[0][0] + 0.005
    k = 0
    started = False
    for _ in range(len(frames) + 40):
        while k < len(arrivals) and arrivals[k][0] <= t:
            arrival, i = arrivals[k]
            pkt = RtpPacket(payload_type=0, sequence_number=i & 0xFFFF, timestamp=(i * FRAME) & 0xFFFFFFFF,
                            payload=frames[i])
            pkt._data = frames[i]  # what its receiver sets after depayloading
            arrival_of[pkt.timestamp] = arrival
            _, frame = jb.add(pkt)
            if frame is not None:
                released.append((frame.data, arrival_of.get(frame.timestamp, arrival)))
            k += 1
        if released:
            data, arrival = released.pop(0)
            out.append(g711.ulaw_decode(data[:FRAME]))
            delays.append(t - arrival)
            started = True
        else:
            out.append(np.zeros(FRAME, np.int16))
            gaps += started and k < len(arrivals)
        t += TICK
    return np.concatenate(out), {"gap_share": gaps / len(frames),
                                 "delay_ms": 1000 * statistics.mean(delays) if delays else 0.0}


def score(reference: np.ndarray, degraded: np.ndarray) -> float:
    from pesq import pesq
    n = reference.size + 8000
    ref = np.zeros(n, np.float32)
    ref[:reference.size] = reference
    deg = np.zeros(n, np.float32)
    deg[:min(n, degraded.size)] = degraded[:n]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(pesq(8000, ref / 32768, deg / 32768, "nb"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = ap.parse_args()
    pcm = speech()
    frames = [g711.ulaw_encode(pcm[i:i + FRAME]) for i in range(0, pcm.size, FRAME)]
    reference = np.concatenate([g711.ulaw_decode(f) for f in frames])
    rows = []
    for kind in TRACES:
        runs: dict[str, list[dict]] = {"frontdesk": [], "aiortc": []}
        for seed in range(args.seeds):
            arrivals = trace(kind, len(frames), seed)
            for name, player in (("frontdesk", play_frontdesk), ("aiortc", play_aiortc)):
                audio, info = player(frames, arrivals)
                info["pesq"] = score(reference, audio)
                runs[name].append(info)
        row = {"trace": kind, "seeds": args.seeds, "speech_s": round(pcm.size / 8000, 1)}
        for name, infos in runs.items():
            row[name] = {key: round(statistics.median(i[key] for i in infos), 3) for key in ("pesq", "gap_share", "delay_ms")}
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'trace':<19} {'PESQ ours':>9} {'aiortc':>7}   {'gaps ours':>9} {'aiortc':>7}   "
          f"{'delay ours':>10} {'aiortc':>7}")
    for r in rows:
        a, b = r["frontdesk"], r["aiortc"]
        print(f"{r['trace']:<19} {a['pesq']:>9.2f} {b['pesq']:>7.2f}   {100 * a['gap_share']:>8.1f}% {100 * b['gap_share']:>6.1f}%"
              f"   {a['delay_ms']:>8.0f}ms {b['delay_ms']:>5.0f}ms")
    print(f"\nmedian of {args.seeds} seeds, {rows[0]['speech_s']} s of speech per run; gaps: concealed frames (ours), "
          "silent gap frames (aiortc); delay: mean time a played packet waited in the buffer")


if __name__ == "__main__":
    main()
