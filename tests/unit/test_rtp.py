import random

import numpy as np
import pytest

from media.dtmf import DtmfDetector, build_event, parse_event
from media.jitter import AUDIO, CONCEAL, SILENCE, AdaptiveJitterBuffer
from media.plc import G711Concealer
from media.rtp import RtpError, RtpPacket, parse_rtp


def test_rtp_round_trip_with_csrc_extension_and_padding():
    pkt = RtpPacket(0, 65535, 2**32 - 1, 0xDEADBEEF, b"\xff" * 160, marker=True, csrc=(1, 2))
    again = parse_rtp(pkt.serialize())
    assert again == pkt
    raw = bytearray(RtpPacket(8, 1, 2, 3, b"abcd").serialize())
    raw[0] |= 0x10 | 0x20  # extension + padding
    raw[12:12] = b"\xbe\xde\x00\x01" + b"\x00" * 4
    raw += b"\x00\x00\x03"
    got = parse_rtp(bytes(raw))
    assert got.payload == b"abcd"


@pytest.mark.parametrize("data", [b"", b"\x80" * 5, b"\x00" * 12, bytes([0x8F]) + b"\x00" * 11,
                                  bytes([0xA0, 0, 0, 0]) + b"\x00" * 7 + b"\xff",
                                  bytes([0x80, 200]) + b"\x00" * 10])
def test_garbage_rtp_is_rejected(data):
    with pytest.raises(RtpError):
        parse_rtp(data)


def _feed(jb, packets, ticks, start=0.0):
    """packets: (arrival_s, seq, payload); returns what each 20 ms tick played."""
    packets = sorted(packets)
    out, k = [], 0
    for n in range(ticks):
        t = start + n * 0.020
        while k < len(packets) and packets[k][0] <= t:
            arrival, seq, payload = packets[k]
            jb.put(seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, payload, arrival)
            k += 1
        p = jb.get(t)
        out.append(p.payload if p.kind == AUDIO else p.kind)
    return out


def test_jitter_buffer_reorders_conceals_and_drops_duplicates():
    jb: AdaptiveJitterBuffer[int] = AdaptiveJitterBuffer(initial_delay_ms=40)
    arrivals = {10: 0.000, 11: 0.035, 12: 0.030, 13: 0.060, 15: 0.100, 16: 0.120, 17: 0.140, 18: 0.160}
    packets = [(t, seq, seq) for seq, t in arrivals.items()] + [(0.031, 12, 12)]  # 12 twice, 14 lost
    played = [x for x in _feed(jb, packets, 14) if x != SILENCE]
    assert played[:6] == [10, 11, 12, 13, CONCEAL, 15], played
    assert played[6:9] == [16, 17, 18]
    assert jb.stats.duplicates == 1 and jb.stats.lost == 1
    jb.put(9, 9 * 160, 9, 0.5)
    assert jb.stats.late == 1


def test_jitter_buffer_wraps_and_resyncs():
    jb: AdaptiveJitterBuffer[int] = AdaptiveJitterBuffer(initial_delay_ms=20)
    played = _feed(jb, [(0.0, 65535, 1), (0.02, 65536, 2), (0.04, 30000, 3)], 6)
    assert [x for x in played if x not in (SILENCE, CONCEAL)] == [1, 2, 3], played  # a jump: resync, not 30,000 frames lost
    assert jb.stats.resyncs == 1 and jb.stats.lost == 0


def test_jitter_buffer_target_follows_the_measured_jitter():
    rng = random.Random(1)
    calm: AdaptiveJitterBuffer[int] = AdaptiveJitterBuffer()
    _feed(calm, [(i * 0.02 + rng.uniform(0, 0.002), i, i) for i in range(300)], 320)
    rough: AdaptiveJitterBuffer[int] = AdaptiveJitterBuffer()
    played = _feed(rough, [(i * 0.02 + rng.uniform(0, 0.060), i, i) for i in range(300)], 320)
    assert calm.target_s <= 0.030 and 0.050 <= rough.target_s <= 0.075, (calm.target_s, rough.target_s)
    assert rough.stats.late <= 6 and played.count(CONCEAL) <= 8  # ~97% of the jitter is covered
    assert calm.stats.mean_delay_ms < 45 and rough.stats.mean_delay_ms < 75


def test_jitter_buffer_shrinks_and_grows_in_pauses_under_clock_drift():
    quiet = lambda payload: payload < 0  # noqa: E731  (negative payloads stand for silent frames)
    for rate in (1.01, 0.99):  # the sender's clock 1% fast, then 1% slow
        jb: AdaptiveJitterBuffer[int] = AdaptiveJitterBuffer(quiet=quiet)
        # talkspurts of 1 s with 0.4 s pauses
        packets = [(i * 0.02 / rate, i, i if (i % 70) < 50 else -1) for i in range(3000)]
        played = _feed(jb, packets, 3000)
        speech = [x for x in played if isinstance(x, int) and x >= 0]
        assert speech == sorted(speech) and len(speech) >= 0.99 * sum(1 for p in packets if p[2] >= 0)
        assert jb.stats.concealed <= 3 and jb.level_frames <= jb.target_frames + 3, (rate, jb.stats)
        if rate > 1:
            assert jb.stats.shrinks >= 20  # 30 frames too many over 60 s, skipped in pauses
        else:
            assert jb.stats.grows >= 20


def test_concealment_continues_the_pitch_and_fades_out():
    t = np.arange(8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 200 * t)).astype(np.int16)  # 200 Hz: a 40-sample period
    plc = G711Concealer()
    for i in range(0, 1600, 160):
        plc.good(tone[i:i + 160])
    first = plc.conceal(160)
    expected = tone[1600:1760].astype(float)
    assert np.corrcoef(first[:80], expected[:80])[0, 1] > 0.95  # the waveform goes on in phase
    later = [plc.conceal(160) for _ in range(3)]
    assert np.abs(later[-1]).max() == 0  # silent after 60 ms
    resumed = plc.good(tone[2400:2560])
    assert np.abs(resumed[-80:].astype(int) - tone[2480:2560]).max() <= 1


def test_dtmf_events_give_one_digit_each():
    det = DtmfDetector()
    digits = []
    for ts, digit in [(1000, "5"), (2000, "#")]:
        for dur, end in [(160, False), (320, False), (480, True), (480, True), (480, True)]:
            d = det.feed(ts, build_event(digit, end, dur))
            if d:
                digits.append(d)
    assert digits == ["5", "#"]
    assert parse_event(build_event("A", True, 800)).digit == "A"
    assert det.feed(3000, b"\x01") is None
