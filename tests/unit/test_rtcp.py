"""RTCP reports and receiver statistics (RFC 3550), sans-IO."""

import pytest

from media.rtcp import (
    RTCP_RR, RTCP_SR, ReceiverStats, RtcpError, build_report, ntp_middle, parse_reports, round_trip_ms,
)


def test_loss_and_jitter_of_an_incoming_stream():
    stats = ReceiverStats()
    t = 1000.0
    for i in range(100):
        if i % 10 == 3:  # 10% loss
            continue
        jitter = 0.004 if i % 2 else 0.0  # arrivals alternate 0 and 4 ms late
        stats.on_packet((65500 + i) & 0xFFFF, 160 * i, t + 0.02 * i + jitter)
    assert stats.expected == 100 and stats.received == 90 and stats.cumulative_lost == 10
    assert stats.extended_max == 65500 + 99  # across the sequence wrap
    assert 25 <= stats.jitter <= 35  # ~4 ms = 32 timestamp units
    block = stats.block(0x1234, t + 2)
    assert block.fraction_lost == (10 << 8) // 100 and block.cumulative_lost == 10
    assert stats.block(0x1234, t + 3).fraction_lost == 0  # nothing new since the last report


def test_a_report_round_trips_and_gives_the_rtt():
    peer = ReceiverStats()
    for i in range(50):
        peer.on_packet(i, 160 * i, 2000.0 + 0.02 * i)
    # we send an SR at t=2001.0; the peer answers 0.25 s later with an RR about us
    sr = build_report(0xAAAA, 2001.0, rtp_timestamp=8000, packets_sent=50, octets_sent=8000, block=peer.block(0xBBBB, 2001.0))
    (ours,) = parse_reports(sr)  # SDES after it is skipped
    assert ours.kind == RTCP_SR and ours.ssrc == 0xAAAA and ours.packets_sent == 50
    assert ours.blocks[0].ssrc == 0xBBBB
    them = ReceiverStats()
    them.on_packet(1, 160, 2001.0)
    them.on_sender_report(ours, 2001.05)  # it arrives after 50 ms
    rr = build_report(0xBBBB, 2001.3, rtp_timestamp=0, packets_sent=0, octets_sent=0, block=them.block(0xAAAA, 2001.3))
    (theirs,) = parse_reports(rr)
    assert theirs.kind == RTCP_RR and theirs.blocks[0].lsr == ntp_middle(2001.0)
    rtt = round_trip_ms(theirs.blocks[0], 2001.35)
    assert 99 <= rtt <= 101  # 50 ms there, 250 ms held, 50 ms back: 100 ms on the wire


@pytest.mark.parametrize("junk", [b"", b"\x80\xc8", b"\x00" * 12, b"\x81\xc9\x00\x09" + b"\x00" * 8])
def test_garbage_is_rejected_not_crashing(junk):
    with pytest.raises(RtcpError):
        parse_reports(junk)
