"""SIP request text used by the tests."""

SDP_PCMU = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n")


def request(method: str, *, call_id: str = "c1@test", branch: str = "z9hG4bK-1", cseq: int = 1,
            to_tag: str | None = None, from_tag: str = "ft1", body: str = "", port: int = 5099,
            extra: str = "", uri: str = "sip:frontdesk@127.0.0.1:5060") -> bytes:
    to = "<sip:frontdesk@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    ctype = "Content-Type: application/sdp\r\n" if body and "Content-Type" not in extra else ""
    text = (f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f'From: "Test Caller" <sip:caller@127.0.0.1>;tag={from_tag}\r\n'
            f"To: {to}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {method if method != 'CANCEL' else 'CANCEL'}\r\n"
            f"Contact: <sip:caller@127.0.0.1:{port}>\r\n"
            f"{extra}{ctype}Content-Length: {len(body.encode())}\r\n\r\n{body}")
    return text.encode()
