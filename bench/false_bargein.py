"""False and true barge-in rates: the agent speaks (Piper) while the caller's line carries office
noise, music on hold, the agent's own echo, a backchannel, or a real interruption.

The audio runs through the call's own turn-taking code (frontdesk.session.CallSession with the
real endpointer, barge-in detector and Whisper for short bursts), frame by frame through G.711,
with a stand-in for the RTP socket that plays the agent's audio and honours hold/resume/clear.
Time is frozen while Whisper runs, so results do not depend on this machine's speed.

    .venv/bin/python bench/false_bargein.py [--trials 30] [--json]

A false interruption is a trial where the agent's turn was cut or the sound was taken as the
caller's turn while the agent spoke. A pause is the agent holding its audio for a moment and then
going on. "Turns outside" counts background speech taken as a caller turn while the agent was
silent (before or after its turn): not a barge-in, but reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections import deque

import numpy as np

from dialog.conversation import Conversation
from frontdesk.calllog import CallRecord
from frontdesk.config import load_config
from frontdesk.engines import Engines
from frontdesk.session import CallSession
from media import g711
from media.vad import FRAME_SAMPLES, frame_energy_db
from tts.hibari import HibariTTS
from tts.phrases import split_pieces

AGENT_LINES = [
    "Thank you for calling Riverside Dental. This call is answered by an automated assistant. How can I help you today?",
    "I have Tuesday at ten in the morning with Doctor Patel, or Wednesday at two thirty with Doctor Lee. Which would you like?",
    "To confirm, I'll book a cleaning with Doctor Patel on Tuesday the first of December at ten in the morning. Shall I go ahead?",
    "We're open Monday to Friday from eight in the morning to five in the afternoon, and Saturday mornings. Is there anything else?",
]
BACKCHANNELS = ["Uh-huh.", "Okay.", "Mm-hm.", "Right.", "Yeah.", "I see."]
INTERRUPTIONS = ["Wait, that's not the right day.", "Sorry, I need to cancel instead.", "Actually, can I do Thursday?",
                 "Hold on, I have a question about my bill.", "No, no, that's the wrong doctor.", "Excuse me, can you repeat that?"]


class Line:
    """Stands in for the RTP socket: the agent's queued audio, held or dropped on request."""

    def __init__(self, audio: np.ndarray):
        self.queue = audio
        self.pos = 0
        self.held = False
        self.cleared = False
        self.played_samples = 0
        self.on_sent = None
        self.last_audio_out_at = 0.0

    @property
    def playing(self) -> bool:
        return self.pos < self.queue.size

    def hold(self) -> None:
        self.held = True

    def resume(self) -> None:
        self.held = False

    def clear(self) -> int:
        left = self.queue.size - self.pos
        self.pos = self.queue.size
        self.cleared = True
        self.held = False
        return left

    def next_frame(self) -> np.ndarray | None:
        if not self.playing or self.held:
            frame = None
        else:
            frame = self.queue[self.pos:self.pos + FRAME_SAMPLES]
            frame = np.pad(frame, (0, FRAME_SAMPLES - frame.size))
            self.pos += FRAME_SAMPLES
            self.played_samples += FRAME_SAMPLES
        if self.on_sent is not None:
            self.on_sent(frame)
        return frame


def pink(n: int, rng, db: float) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(size=n))
    spectrum /= np.sqrt(np.arange(1, spectrum.size + 1))
    x = np.fft.irfft(spectrum, n)
    return x / (np.sqrt(np.mean(x * x)) + 1e-9) * 32768 * 10 ** (db / 20)


def office(n: int, rng, babble: list[np.ndarray]) -> np.ndarray:
    x = pink(n, rng, rng.uniform(-50, -42))
    for _ in range(n // 4000):  # keyboard clicks
        at = rng.integers(0, n - 80)
        x[at:at + 80] += rng.normal(0, 32768 * 10 ** (-30 / 20), 80) * np.hanning(80)
    talk = babble[rng.integers(len(babble))]  # a colleague talking across the room
    at = rng.integers(0, max(1, n - talk.size))
    seg = talk[:n - at].astype(np.float64) * 10 ** (rng.uniform(-24, -18) / 20)
    x[at:at + seg.size] += seg
    return x


def music(n: int, rng) -> np.ndarray:
    t = np.arange(n) / 8000
    x = np.zeros(n)
    roots = [220.0, 246.9, 261.6, 293.7, 329.6, 349.2, 392.0]
    note = 2000  # 250 ms notes
    for start in range(0, n, note):
        f = roots[rng.integers(len(roots))]
        seg = slice(start, min(n, start + note))
        env = np.exp(-3 * (t[seg] - t[start]))
        for h, a in ((1, 1.0), (2, 0.5), (3, 0.3), (1.5, 0.4)):
            x[seg] += a * env * np.sin(2 * np.pi * f * h * t[seg])
    return x / (np.sqrt(np.mean(x * x)) + 1e-9) * 32768 * 10 ** (rng.uniform(-30, -22) / 20)


def first_voiced(x: np.ndarray) -> int:
    for i in range(0, x.size - FRAME_SAMPLES, FRAME_SAMPLES):
        if frame_energy_db(x[i:i + FRAME_SAMPLES]) > -45:
            return i // FRAME_SAMPLES
    return 0


async def trial(engines, cfg, agent: np.ndarray, background: np.ndarray, event: np.ndarray | None, event_at: int,
                echo_db: float | None, echo_delay_ms: int) -> dict:
    conv = Conversation(cfg.clinic, None)
    conv.greeting()
    session = CallSession(CallRecord("bench", "", "", "", "UDP"), engines, conv, 15.0, cfg.dialog.end_silence_ms,
                          hangup=lambda reason: None, barge_in_ms=cfg.dialog.barge_in_ms,
                          barge_in_pause_ms=cfg.dialog.barge_in_pause_ms,
                          backchannels_interrupt=cfg.dialog.backchannels_interrupt)
    lead = 2 * 8000 // FRAME_SAMPLES  # the line noise starts 2 s before the agent speaks
    line = Line(np.zeros(0, np.int16))
    session.attach(line)  # type: ignore[arg-type]
    sent: deque[np.ndarray] = deque([np.zeros(FRAME_SAMPLES)] * 20, maxlen=20)
    delay_frames = echo_delay_ms // 20
    n_frames = background.size // FRAME_SAMPLES
    onset = event_at + first_voiced(event) if event is not None else None
    stopped_at = None
    taken_over_agent = False
    turns_outside = 0  # background speech taken as a turn while the agent was silent (not a barge-in)
    for i in range(n_frames):
        if i == lead:
            line.queue = agent
        frame = line.next_frame()
        if frame is None and onset is not None and i >= onset and stopped_at is None and (line.held or line.cleared):
            stopped_at = i
        sent.append(np.zeros(FRAME_SAMPLES) if frame is None else frame.astype(np.float64))
        rx = background[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES].astype(np.float64).copy()
        if echo_db is not None:
            rx += sent[-1 - delay_frames] * 10 ** (echo_db / 20)
        if event is not None and event_at <= i < event_at + event.size // FRAME_SAMPLES:
            j = (i - event_at) * FRAME_SAMPLES
            rx += event[j:j + FRAME_SAMPLES]
        pcm = g711.ulaw_decode(g711.ulaw_encode(np.clip(rx, -32768, 32767).astype(np.int16)))
        queued = session.inbox.qsize()
        speaking = line.playing
        session.on_frame(pcm)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:  # Whisper on a short burst: time stands still until it answers
            await asyncio.gather(*pending)
        if session.inbox.qsize() > queued:
            if speaking or line.cleared:
                taken_over_agent = True
            else:
                turns_outside += 1
    return {"interrupted": line.cleared or taken_over_agent, "paused": session.turns.pauses > 0,
            "turns_outside": turns_outside,
            "stop_ms": (stopped_at - onset) * 20 if stopped_at is not None and onset is not None else None}


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else None


async def run(trials: int) -> dict:
    cfg = load_config(None)
    engines = Engines(cfg)
    rng = np.random.default_rng(7)
    caller = HibariTTS(sample_rate=8000)
    agent_audio = [np.concatenate([engines._synthesize_piece(p) for p in split_pieces(t)]) for t in AGENT_LINES]
    backchannels = [caller.synthesize_all(t) for t in BACKCHANNELS]
    interruptions = [caller.synthesize_all(t) for t in INTERRUPTIONS]
    babble = [caller.synthesize_all(t) for t in INTERRUPTIONS]
    results: dict[str, list[dict]] = {k: [] for k in ("office noise", "music on hold", "agent echo", "backchannel", "interruption")}
    for k in range(trials):
        for kind in results:
            agent = agent_audio[rng.integers(len(agent_audio))]
            n = (2 * 8000 + agent.size + 2 * 8000) // FRAME_SAMPLES * FRAME_SAMPLES
            quiet = pink(n, rng, -60)
            echo_db, delay = float(rng.uniform(-20, -10)), int(rng.integers(0, 16)) * 20
            event, event_at = None, 0
            if kind == "office noise":
                background, echo_db = office(n, rng, babble), None
            elif kind == "music on hold":
                background, echo_db = music(n, rng), None
            elif kind == "agent echo":
                background, echo_db = quiet, -10.0
            else:
                background = quiet
                pool = backchannels if kind == "backchannel" else interruptions
                event = pool[rng.integers(len(pool))].astype(np.float64) * 10 ** (rng.uniform(-3, 3) / 20)
                lead = 2 * 8000 // FRAME_SAMPLES
                event_at = lead + int(rng.integers(25, max(26, agent.size // FRAME_SAMPLES - 60)))
            row = await trial(engines, cfg, agent, background, event, event_at, echo_db, delay)
            results[kind].append(row)
            if row["interrupted"] != (kind == "interruption"):
                logging.getLogger("bench").info("%s trial %d went wrong: %s", kind, k, row)
    out = {}
    for kind, rows in results.items():
        stops = [r["stop_ms"] for r in rows if r["stop_ms"] is not None]
        out[kind] = {"trials": len(rows), "interrupted": sum(r["interrupted"] for r in rows),
                     "paused": sum(r["paused"] for r in rows),
                     "turns_outside_agent": sum(r["turns_outside"] for r in rows),
                     "rate": round(sum(r["interrupted"] for r in rows) / len(rows), 3),
                     "stop_ms_p50": pct(stops, 0.5), "stop_ms_p95": pct(stops, 0.95)}
    false = [r for k in ("office noise", "music on hold", "agent echo", "backchannel") for r in results[k]]
    out["false_interruption_rate"] = round(sum(r["interrupted"] for r in false) / len(false), 4)
    out["false_pause_rate"] = round(sum(r["paused"] for r in false) / len(false), 4)
    out["true_interruption_rate"] = out["interruption"]["rate"]
    engines.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=25, help="trials per condition (5 conditions)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="log each barge-in decision")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    out = asyncio.run(run(args.trials))
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{'condition':16} {'trials':>6} {'interrupted':>11} {'paused':>6} {'stop p50':>8} {'stop p95':>8}"
          f" {'turns outside':>13}")
    for kind, row in out.items():
        if isinstance(row, dict):
            print(f"{kind:16} {row['trials']:6} {row['interrupted']:11} {row['paused']:6} "
                  f"{row['stop_ms_p50'] if row['stop_ms_p50'] is not None else '-':>8} "
                  f"{row['stop_ms_p95'] if row['stop_ms_p95'] is not None else '-':>8} {row['turns_outside_agent']:13}")
    print(f"\nfalse interruptions {out['false_interruption_rate']:.1%} (goal ≤ 1%), "
          f"false pauses {out['false_pause_rate']:.1%}, true interruptions {out['true_interruption_rate']:.1%} (goal ≥ 99%)")
    return 0


def _exit(code: int) -> None:
    """Leave without the native libraries' teardown, which has printed noise after the results."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit(main())
