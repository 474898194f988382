"""Fuzz targets: each takes arbitrary bytes. Expected rejections (the parsers' own error types)
are fine; any other exception, a hang or unbounded memory is a bug. Used by the atheris harness
(`fuzz/run.py`, `make fuzz`) and by the hypothesis tests in `tests/unit/test_fuzz.py`."""

from __future__ import annotations

import tomllib

from frontdesk.config import ConfigError, loads_config
from media import dtmf
from media.rtcp import RtcpError, parse_reports
from media.rtp import RtpError, parse_rtp
from media.sdp import SdpError, negotiate, parse_sdp
from media.sip.message import SipParseError, parse, parse_name_addr, parse_uri, parse_via
from media.srtp import SrtpContext, SrtpError, parse_crypto

_SRTP = SrtpContext("AES_CM_128_HMAC_SHA1_80", bytes(range(30)), bytes(range(30, 60)))


def sip(data: bytes) -> None:
    """parse -> serialize -> parse is stable; header values parse or are rejected cleanly."""
    try:
        msg = parse(data)
    except SipParseError:
        return
    once = msg.serialize()
    again = parse(once)  # what we wrote must parse
    assert again.serialize() == once, "serialize(parse(serialize(m))) differs"
    for name in ("From", "To", "Contact"):
        for value in msg.headers.get_all(name):
            try:
                parse_name_addr(value)
            except SipParseError:
                pass
    for value in msg.headers.get_all("Via"):
        try:
            parse_via(value)
        except SipParseError:
            pass
    if hasattr(msg, "uri"):
        try:
            parse_uri(msg.uri)
        except SipParseError:
            pass


def sdp(data: bytes) -> None:
    try:
        offer = parse_sdp(data)
        negotiate(offer, "127.0.0.1", 20000)
    except SdpError:
        return


def rtp(data: bytes) -> None:
    try:
        pkt = parse_rtp(data)
    except RtpError:
        return
    assert parse_rtp(pkt.serialize()).payload == pkt.payload


def rtcp(data: bytes) -> None:
    try:
        parse_reports(data)
    except RtcpError:
        return


def telephone_event(data: bytes) -> None:
    det = dtmf.DtmfDetector()
    for i in range(0, len(data), 4):
        det.feed(i, data[i:i + 4])


def srtp(data: bytes) -> None:
    try:
        _SRTP.unprotect(data)
    except SrtpError:
        pass
    try:
        _SRTP.unprotect_rtcp(data)
    except SrtpError:
        pass
    parse_crypto(data.decode("latin-1"))


def config(data: bytes) -> None:
    try:
        loads_config(data.decode("utf-8", "replace"))
    except ConfigError:
        return
    except tomllib.TOMLDecodeError:  # pragma: no cover - loads_config wraps it
        raise


TARGETS = {"sip": sip, "sdp": sdp, "rtp": rtp, "rtcp": rtcp, "dtmf": telephone_event, "srtp": srtp, "config": config}


def seeds(name: str) -> list[bytes]:
    """A few valid inputs per target to start from (the fuzzer mutates them)."""
    from pathlib import Path

    from frontdesk.config import DEMO_CONFIG
    from media.rtcp import build_report
    from media.rtp import RtpPacket

    sdp_offer = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                 "m=audio 4000 RTP/SAVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
                 "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^20\r\n"
                 "a=sendonly\r\na=ptime:20\r\n")
    invite = ("INVITE sip:frontdesk@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport\r\n"
              "Max-Forwards: 70\r\nFrom: \"A\" <sip:+12025550143@10.0.0.1>;tag=1\r\nTo: <sip:frontdesk@127.0.0.1>\r\n"
              "Call-ID: x@y\r\nCSeq: 1 INVITE\r\nContact: <sip:a@10.0.0.1>\r\nContent-Type: application/sdp\r\n"
              f"Content-Length: {len(sdp_offer)}\r\n\r\n{sdp_offer}")
    pkt = RtpPacket(0, 1, 160, 42, b"\xff" * 160, marker=True).serialize()
    report = build_report(42, 1.8e9, rtp_timestamp=160, packets_sent=10, octets_sent=1600, block=None)
    out = {
        "sip": [invite.encode(), b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nCall-ID: c\r\n"
                                 b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"],
        "sdp": [sdp_offer.encode()],
        "rtp": [pkt],
        "rtcp": [report],
        "dtmf": [dtmf.build_event("5", False, 160) + dtmf.build_event("5", True, 800)],
        "srtp": [SrtpContext("AES_CM_128_HMAC_SHA1_80", bytes(range(30, 60)), bytes(30)).protect(pkt)],
        "config": [Path(DEMO_CONFIG).read_bytes()],
    }
    return out[name]
