import pytest

from media.dtmf import DtmfDetector, build_event, parse_event
from media.jitter import JitterBuffer
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


def test_jitter_buffer_reorders_conceals_and_drops_duplicates():
    jb: JitterBuffer[int] = JitterBuffer(depth=2)
    out = []
    for seq in [10, 12, 12, 11, 13, 15, 16, 17, 18]:
        out += jb.push(seq, seq)
    assert out == [10, 11, 12, 13, None, 15, 16, 17, 18]
    assert jb.duplicates == 1 and jb.lost == 1
    assert jb.push(9, 9) == [] and jb.late == 1


def test_jitter_buffer_wraps_and_resyncs():
    jb: JitterBuffer[int] = JitterBuffer(depth=2)
    assert jb.push(65535, 1) == [1]
    assert jb.push(0, 2) == [2]
    assert jb.push(30000, 3) == [3]  # a jump: resynchronise instead of concealing 30,000 frames


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
