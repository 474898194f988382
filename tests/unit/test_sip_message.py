import pytest

from media.sip.message import (
    MAX_MESSAGE_BYTES, Request, Response, SipParseError, parse, parse_name_addr, parse_uri, parse_via,
)

from ..helpers.sipmsgs import SDP_PCMU, request


def test_parse_invite_and_round_trip():
    msg = parse(request("INVITE", body=SDP_PCMU))
    assert isinstance(msg, Request)
    assert msg.method == "INVITE" and msg.uri == "sip:frontdesk@127.0.0.1:5060"
    assert msg.cseq == (1, "INVITE")
    assert msg.body == SDP_PCMU.encode()
    again = parse(msg.serialize())
    assert again.headers.get("call-id") == "c1@test"
    assert list(again.headers) == list(msg.headers)


def test_compact_forms_folding_and_multi_value_headers():
    raw = (b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n"
           b"v: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-a, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-b\r\n"
           b"f: <sip:b@127.0.0.1>;tag=1\r\nt: <sip:a@127.0.0.1>\r\ni: abc\r\n"
           b"CSeq: 7 OPTIONS\r\nSubject: a folded\r\n   subject line\r\n"
           b"X-Unknown-Header: kept\r\nl: 0\r\n\r\n")
    msg = parse(raw)
    assert msg.call_id == "abc"
    assert len(msg.headers.get_all("Via")) == 2
    assert parse_via(msg.headers.get_all("via")[1]).branch == "z9hG4bK-b"
    assert msg.headers.get("SUBJECT") == "a folded subject line"
    assert msg.headers.get("x-unknown-header") == "kept"
    assert b"X-Unknown-Header: kept" in msg.serialize()


def test_quoted_display_names_with_commas_and_escapes():
    na = parse_name_addr('"Doe, John \\"JD\\"" <sip:jd@example.com;transport=tcp>;tag=xyz')
    assert na.display == 'Doe, John "JD"'
    assert na.uri == "sip:jd@example.com;transport=tcp"
    assert na.tag == "xyz"
    assert parse_uri(na.uri).params == {"transport": "tcp"}


def test_response_parse():
    raw = (b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
           b"To: <sip:b@h>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    msg = parse(raw)
    assert isinstance(msg, Response) and msg.status == 180 and msg.reason == "Ringing"


@pytest.mark.parametrize("raw,why", [
    (b"", "empty"),
    (b"INVITE\r\n\r\n", "request line"),
    (request("INVITE").replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE"), "CSeq"),
    (request("INVITE").replace(b"CSeq: 1 INVITE", b"CSeq: 1 BYE"), "match"),
    (request("INVITE").replace(b"Call-ID: c1@test\r\n", b""), "Call-ID"),
    (request("INVITE", body="abc").replace(b"Content-Length: 3", b"Content-Length: 99"), "shorter"),
    (request("INVITE").replace(b"SIP/2.0\r\n", b"SIP/7.0\r\n", 1), "version"),
    (request("INVITE").replace(b"Max-Forwards: 70", b"Max Forwards 70"), "header"),
])
def test_malformed_messages_raise(raw, why):
    with pytest.raises(SipParseError) as exc:
        parse(raw)
    assert why.lower() in str(exc.value).lower()


def test_size_and_header_bomb_limits():
    with pytest.raises(SipParseError, match="too large"):
        parse(b"X" * (MAX_MESSAGE_BYTES + 1))
    bomb = request("OPTIONS").replace(b"Max-Forwards: 70\r\n", b"X-A: 1\r\n" * 500)
    with pytest.raises(SipParseError, match="too many headers"):
        parse(bomb)
