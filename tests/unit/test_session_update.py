"""In-call offers (re-INVITE and UPDATE: hold, resume, codec change) and session timers
(RFC 4028) in the sans-IO user agent."""

from media.sip.message import parse
from media.sip.useragent import CallEnded, SessionOffer, UserAgent

from ..helpers.sipmsgs import SDP_PCMU, request
from .test_useragent import PEER, responses, to_tag

HOLD = SDP_PCMU.replace("o=- 1 1", "o=- 1 2") + "a=sendonly\r\n"


def answered(ua: UserAgent, extra: str = "") -> tuple[str, str, object]:
    ua.receive(request("INVITE", body=SDP_PCMU, extra=extra), PEER, 0.0)
    responses(ua)
    (ev,) = ua.take_events()
    ua.answer(ev.call_id, b"v=0\r\no=frontdesk 1 1 IN IP4 127.0.0.1\r\n", now=0.0)
    (ok,) = responses(ua)
    tag = to_tag(ok)
    ua.receive(request("ACK", branch="z9hG4bK-ack", to_tag=tag), PEER, 0.1)
    ua.take_events()
    return ev.call_id, tag, ok


def test_reinvite_with_a_new_offer_waits_for_the_app_and_retransmits_the_answer():
    ua = UserAgent("127.0.0.1", 5060)
    call_id, tag, _ = answered(ua)
    ua.receive(request("INVITE", branch="z9hG4bK-re", cseq=2, to_tag=tag, body=HOLD), PEER, 1.0)
    assert [r.status for r in responses(ua)] == [100]
    (offer,) = ua.take_events()
    assert isinstance(offer, SessionOffer) and b"a=sendonly" in offer.offer and offer.method == "INVITE"
    ua.receive(request("INVITE", branch="z9hG4bK-re", cseq=2, to_tag=tag, body=HOLD), PEER, 1.1)  # retransmission
    assert [r.status for r in responses(ua)] == [100] and ua.take_events() == []
    ua.accept_offer(call_id, b"v=0\r\na=recvonly\r\n", now=1.2)
    (ok,) = responses(ua)
    assert ok.status == 200 and ok.body.endswith(b"a=recvonly\r\n")
    ua.handle_timers(1.2 + 0.5)
    assert [r.status for r in responses(ua)] == [200]  # until the ACK
    ua.receive(request("ACK", branch="z9hG4bK-ack2", cseq=2, to_tag=tag), PEER, 1.8)
    ua.handle_timers(3.0)
    assert responses(ua) == []


def test_an_unacceptable_offer_gets_488_and_a_second_offer_while_one_is_pending_491():
    ua = UserAgent("127.0.0.1", 5060)
    call_id, tag, _ = answered(ua)
    ua.receive(request("UPDATE", branch="z9hG4bK-u1", cseq=2, to_tag=tag, body=HOLD), PEER, 1.0)
    assert isinstance(ua.take_events()[0], SessionOffer)
    ua.receive(request("INVITE", branch="z9hG4bK-u2", cseq=3, to_tag=tag, body=HOLD), PEER, 1.1)
    assert [r.status for r in responses(ua)] == [491]
    ua.reject_offer(call_id, 488, now=1.2, warning="no common codec")
    (r,) = responses(ua)
    assert r.status == 488 and "no common codec" in r.headers.get("Warning")


def test_422_when_the_session_interval_is_too_small():
    ua = UserAgent("127.0.0.1", 5060)
    ua.receive(request("INVITE", body=SDP_PCMU, extra="Supported: timer\r\nSession-Expires: 30\r\n"), PEER, 0.0)
    (r,) = responses(ua)
    assert r.status == 422 and r.headers.get("Min-SE") == "90"
    assert ua.take_events() == [] or all(not isinstance(e, SessionOffer) for e in ua.take_events())


def test_refreshee_ends_the_call_when_no_refresh_comes():
    ua = UserAgent("127.0.0.1", 5060, min_session_expires=10)
    call_id, tag, ok = answered(ua, "Supported: timer\r\nSession-Expires: 10;refresher=uac\r\n")
    assert ok.headers.get("Session-Expires") == "10;refresher=uac" and ok.headers.get("Require") == "timer"
    # a refresh (UPDATE, no body) at 5 s resets the clock
    ua.receive(request("UPDATE", branch="z9hG4bK-r1", cseq=2, to_tag=tag, extra="Session-Expires: 10;refresher=uac\r\n"), PEER, 5.0)
    (r,) = responses(ua)
    assert r.status == 200 and r.headers.get("Session-Expires") == "10;refresher=uac"
    ua.handle_timers(11.0)
    assert responses(ua) == []  # 5 + 10 - 10/3: not yet
    now = ua.next_timer()
    assert 11.6 < now < 11.7
    ua.handle_timers(now)
    (bye,) = [parse(o.data) for o in ua.take_outgoing()]
    assert bye.method == "BYE" and "session timer expired" in bye.headers.get("Reason")
    ua.receive(b"SIP/2.0 200 OK\r\n" + _echo_headers(bye), PEER, now + 0.1)
    assert any(isinstance(e, CallEnded) and e.reason == "session timer expired" for e in ua.take_events())


def test_refresher_sends_a_reinvite_at_half_time_and_acks_the_answer():
    ua = UserAgent("127.0.0.1", 5060, min_session_expires=10)
    call_id, tag, ok = answered(ua, "Session-Expires: 10;refresher=uas\r\n")
    assert ok.headers.get("Session-Expires") == "10;refresher=uas"
    assert ua.next_timer() == 5.0
    ua.handle_timers(5.0)
    (refresh,) = [parse(o.data) for o in ua.take_outgoing()]
    assert refresh.method == "INVITE" and refresh.body.startswith(b"v=0")  # the peer did not allow UPDATE
    assert refresh.headers.get("Session-Expires") == "10;refresher=uac"
    ua.receive(b"SIP/2.0 200 OK\r\n" + _echo_headers(refresh, body=b"v=0\r\n"), PEER, 5.1)
    (ack,) = [parse(o.data) for o in ua.take_outgoing()]
    assert ack.method == "ACK" and ack.headers.get("CSeq").split()[0] == refresh.headers.get("CSeq").split()[0]
    assert ua.next_timer() == 10.1  # the next refresh


def test_a_failed_refresh_ends_the_call():
    ua = UserAgent("127.0.0.1", 5060, min_session_expires=10)
    answered(ua, "Allow: INVITE, ACK, BYE, UPDATE\r\nSession-Expires: 10;refresher=uas\r\n")
    ua.handle_timers(5.0)
    (refresh,) = [parse(o.data) for o in ua.take_outgoing()]
    assert refresh.method == "UPDATE" and not refresh.body
    ua.receive(b"SIP/2.0 481 Call Does Not Exist\r\n" + _echo_headers(refresh), PEER, 5.1)
    (bye,) = [parse(o.data) for o in ua.take_outgoing()]
    assert bye.method == "BYE" and "481" in bye.headers.get("Reason")


def _echo_headers(req, body: bytes = b"") -> bytes:
    """The headers a peer copies from a request into its response."""
    lines = [f"{name}: {req.headers.get(name)}" for name in ("Via", "From", "Call-ID", "CSeq")]
    lines.append(f"To: {req.headers.get('To')};tag=peer")
    ctype = ["Content-Type: application/sdp"] if body else []
    return ("\r\n".join(lines + ctype + [f"Content-Length: {len(body)}", "", ""])).encode() + body
