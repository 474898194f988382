from pathlib import Path

import pytest

from media.sip.message import Response, parse, parse_name_addr
from media.sip.useragent import (
    T1, CallConfirmed, CallEnded, IncomingCall, MessageRejected, UserAgent,
)

from ..conftest import SHARED
from ..helpers.sipmsgs import SDP_PCMU, request

PEER = ("127.0.0.1", 5099)


def responses(ua: UserAgent) -> list[Response]:
    return [parse(o.data) for o in ua.take_outgoing()]


def new_call(ua: UserAgent, now: float = 0.0) -> IncomingCall:
    ua.receive(request("INVITE", body=SDP_PCMU), PEER, now)
    out = responses(ua)
    assert [r.status for r in out] == [100]
    (ev,) = ua.take_events()
    assert isinstance(ev, IncomingCall)
    return ev


def confirmed_call(ua: UserAgent) -> tuple[IncomingCall, str]:
    ev = new_call(ua)
    ua.answer(ev.call_id, b"v=0\r\n", now=0.0)
    tag = to_tag(responses(ua)[0])
    ua.receive(request("ACK", branch="z9hG4bK-ack", to_tag=tag), PEER, 0.1)
    ua.take_events()
    return ev, tag


def to_tag(resp: Response) -> str:
    return parse_name_addr(resp.headers.get("To")).tag


def test_answer_retransmits_200_until_ack():
    ua = UserAgent("127.0.0.1", 5060)
    ev = new_call(ua)
    assert ev.offer.startswith(b"v=0") and ev.caller_uri == "sip:caller@127.0.0.1" and ev.caller_name == "Test Caller"
    ua.ringing(ev.call_id, now=0.0)
    ua.answer(ev.call_id, b"v=0\r\n", now=0.0)
    r180, r200 = responses(ua)
    assert (r180.status, r200.status) == (180, 200)
    assert to_tag(r180) == to_tag(r200)
    assert r200.headers.get("Contact") and r200.body == b"v=0\r\n"
    assert "rport=5099" in r200.headers.get("Via")
    # retransmissions at T1, 2*T1, 4*T1 ...
    times = []
    now = 0.0
    while len(times) < 3:
        now = ua.next_timer()
        ua.handle_timers(now)
        if [r.status for r in responses(ua)] == [200]:
            times.append(round(now, 3))
    assert times == [T1, 3 * T1, 7 * T1]
    ua.receive(request("ACK", branch="z9hG4bK-ack", to_tag=to_tag(r200)), PEER, now)
    assert isinstance(ua.take_events()[0], CallConfirmed)
    assert ua.next_timer() is None or ua.next_timer() > now + 10


def test_retransmitted_invite_is_absorbed():
    ua = UserAgent("127.0.0.1", 5060)
    ev = new_call(ua)
    ua.receive(request("INVITE", body=SDP_PCMU), PEER, 0.1)
    assert [r.status for r in responses(ua)] == [100]
    assert ua.take_events() == []
    ua.answer(ev.call_id, b"v=0\r\n", now=0.2)
    responses(ua)
    ua.receive(request("INVITE", body=SDP_PCMU), PEER, 0.3)
    assert [r.status for r in responses(ua)] == [200]


def test_no_ack_ends_the_call_with_bye():
    ua = UserAgent("127.0.0.1", 5060)
    ev = new_call(ua)
    ua.answer(ev.call_id, b"v=0\r\n", now=0.0)
    ua.take_outgoing()
    ua.handle_timers(64 * T1)
    sent = [parse(o.data) for o in ua.take_outgoing()]
    assert any(getattr(m, "method", "") == "BYE" for m in sent)


def test_cancel_before_answer_gives_487():
    ua = UserAgent("127.0.0.1", 5060)
    ev = new_call(ua)
    ua.receive(request("CANCEL"), PEER, 1.0)
    statuses = sorted((r.status, r.cseq[1]) for r in responses(ua))
    assert statuses == [(200, "CANCEL"), (487, "INVITE")]
    ended = ua.take_events()
    assert isinstance(ended[0], CallEnded) and ended[0].reason == "CANCEL" and ended[0].call_id == ev.call_id
    ua.receive(request("ACK"), PEER, 1.1)  # ACK for the 487 stops its retransmission
    ua.handle_timers(1.1 + T1)
    assert responses(ua) == []


def test_bye_from_caller_and_481_for_unknown_dialog():
    ua = UserAgent("127.0.0.1", 5060)
    ev, tag = confirmed_call(ua)
    ua.receive(request("BYE", branch="z9hG4bK-bye", cseq=2, to_tag="nope"), PEER, 1.0)
    assert [r.status for r in responses(ua)] == [481]
    ua.receive(request("BYE", branch="z9hG4bK-bye2", cseq=2, to_tag=tag), PEER, 1.0)
    assert [r.status for r in responses(ua)] == [200]
    events = [e for e in ua.take_events() if isinstance(e, CallEnded)]
    assert events and events[0].by == "remote"
    # a retransmitted BYE gets the same 200 again
    ua.receive(request("BYE", branch="z9hG4bK-bye2", cseq=2, to_tag=tag), PEER, 1.5)
    assert [r.status for r in responses(ua)] == [200]


def test_agent_hangup_sends_bye_and_reports_its_final_status():
    ua = UserAgent("127.0.0.1", 5060)
    ev, tag = confirmed_call(ua)
    ua.hangup(ev.call_id, now=5.0, reason="goodbye")
    (out,) = ua.take_outgoing()
    bye = parse(out.data)
    assert bye.method == "BYE" and out.addr == PEER and bye.uri == "sip:caller@127.0.0.1:5099"
    assert parse_name_addr(bye.headers.get("From")).tag == tag
    # retransmitted until answered
    ua.handle_timers(5.0 + T1)
    assert len(ua.take_outgoing()) == 1
    ok = (f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\nFrom: {bye.headers.get('From')}\r\n"
          f"To: {bye.headers.get('To')}\r\nCall-ID: {bye.call_id}\r\nCSeq: {bye.headers.get('CSeq')}\r\n"
          "Content-Length: 0\r\n\r\n").encode()
    ua.receive(ok, PEER, 5.6)
    (ended,) = ua.take_events()
    assert isinstance(ended, CallEnded) and ended.by == "local" and ended.status == 200
    assert ua.active_calls == 0


@pytest.mark.parametrize("method,status", [("OPTIONS", 200), ("FOO", 501), ("REGISTER", 405), ("BYE", 481), ("INFO", 481)])
def test_out_of_dialog_requests(method, status):
    ua = UserAgent("127.0.0.1", 5060)
    ua.receive(request(method), PEER, 0.0)
    (resp,) = responses(ua)
    assert resp.status == status
    if status in (200, 405, 501):
        assert "INVITE" in resp.headers.get("Allow")
    assert resp.headers.get("Server").startswith("frontdesk")


def test_unknown_uri_scheme_and_unknown_require():
    ua = UserAgent("127.0.0.1", 5060)
    ua.receive(request("OPTIONS", uri="mailto:x@example.com"), PEER, 0.0)
    assert responses(ua)[0].status == 416
    ua.receive(request("OPTIONS", branch="z9hG4bK-2", extra="Require: foo-ext\r\n"), PEER, 0.0)
    r = responses(ua)[0]
    assert r.status == 420 and r.headers.get("Unsupported") == "foo-ext"


def test_malformed_request_gets_400_and_garbage_is_dropped():
    ua = UserAgent("127.0.0.1", 5060)
    ua.receive(request("INVITE").replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), PEER, 0.0)
    (out,) = ua.take_outgoing()
    assert out.data.startswith(b"SIP/2.0 400 Bad Request (bad CSeq") and out.addr == PEER
    ua.receive(b"\x00\xff garbage \r\n\r\n", PEER, 0.0)
    assert responses(ua) == []
    assert any(isinstance(e, MessageRejected) for e in ua.take_events())


# The response each RFC 4475 message must get from a UAS, from the index's "expected handling"
# column (../shared/sip-torture/rfc4475/INDEX.tsv). None: silently discarded. "ok": anything but an
# error about the message itself (400/505/415/406); a dialog-less INVITE is answered normally.
TORTURE_EXPECTED = {
    "wsinv": "ok", "intmeth": {501, 405}, "esc01": "ok", "escnull": "ok", "esc02": "ok", "lwsdisp": "ok",
    "longreq": "ok", "dblreq": "ok", "semiuri": "ok", "transports": "ok", "mpart01": "ok", "unreason": None,
    "noreason": None, "badinv01": {400}, "clerr": {400}, "ncl": {400}, "scalar02": {400}, "scalarlg": None,
    "quotbal": {400}, "ltgtruri": {400}, "lwsruri": {400}, "lwsstart": {400, "ok"}, "trws": {400, "ok"},
    "escruri": {400}, "baddate": {400, "ok"}, "regbadct": {400}, "badaspec": {400}, "baddn": {400},
    "badvers": {505}, "mismatch01": {400}, "mismatch02": {501, 400}, "bigcode": None, "badbranch": {400, "ok"},
    "insuf": {400}, "unkscm": {416}, "novelsc": {416, 404}, "unksm2": "ok", "bext01": {420}, "invut": {415},
    "regaut01": "ok", "multi01": {400}, "mcl01": {400}, "bcast": None, "zeromf": "ok", "cparam01": "ok",
    "cparam02": "ok", "regescrt": "ok", "sdp01": {406, 400}, "inv2543": "ok",
}


def test_rfc4475_torture_messages_get_the_expected_handling():
    folder = SHARED / "sip-torture" / "rfc4475"
    if not folder.exists():
        pytest.skip("../shared/sip-torture is not beside this checkout")
    names = [line.split("\t")[0] for line in (folder / "INDEX.tsv").read_text().splitlines()
             if line and not line.startswith("#")]
    assert sorted(names) == sorted(TORTURE_EXPECTED)
    wrong = []
    for name in names:
        ua = UserAgent("127.0.0.1", 5060)
        ua.receive((folder / f"{name}.dat").read_bytes(), PEER, 0.0)
        out = ua.take_outgoing()
        for o in out:
            assert o.addr == PEER  # always answer to the source, never to a Via/Contact host
        first = out[0].data.split(b" ", 2)[1] if out else None
        status = int(first) if first else None
        expected = TORTURE_EXPECTED[name]
        if expected is None:
            ok = status is None
        else:
            allowed = {expected} if isinstance(expected, str) else expected
            ok = status in allowed or ("ok" in allowed and status is not None and status not in (400, 505, 415, 406))
        if not ok:
            wrong.append((name, status, expected))
        ua.handle_timers(100.0)  # and nothing breaks afterwards
    assert not wrong, wrong


def answer_to(req, status: int) -> bytes:
    return (f"SIP/2.0 {status} X\r\nVia: {req.headers.get('Via')}\r\nFrom: {req.headers.get('From')}\r\n"
            f"To: {req.headers.get('To')}\r\nCall-ID: {req.call_id}\r\nCSeq: {req.headers.get('CSeq')}\r\n"
            "Content-Length: 0\r\n\r\n").encode()


def test_blind_transfer_with_refer_and_notify_sipfrag():
    from media.sip.useragent import TransferProgress
    ua = UserAgent("127.0.0.1", 5060)
    ev, tag = confirmed_call(ua)
    ua.refer(ev.call_id, "sip:desk@127.0.0.1:5070", now=1.0)
    (out,) = ua.take_outgoing()
    refer = parse(out.data)
    assert refer.method == "REFER" and refer.headers.get("Refer-To") == "<sip:desk@127.0.0.1:5070>"
    assert refer.headers.get("Referred-By") == "<sip:frontdesk@127.0.0.1>"
    ua.receive(answer_to(refer, 202), PEER, 1.1)
    assert ua.take_events() == [TransferProgress(ev.call_id, 202, False, True)]
    notify = request("NOTIFY", branch="z9hG4bK-n1", cseq=2, to_tag=tag, extra="Event: refer\r\nSubscription-State: terminated\r\nContent-Type: message/sipfrag\r\n",
                     body="SIP/2.0 200 OK\r\n")
    trying = request("NOTIFY", branch="z9hG4bK-n0", cseq=2, to_tag=tag, extra="Event: refer\r\nContent-Type: message/sipfrag\r\n",
                     body="SIP/2.0 100 Trying\r\n")
    ua.receive(trying, PEER, 1.5)
    assert [r.status for r in responses(ua)] == [200]
    assert ua.take_events() == [TransferProgress(ev.call_id, 100, False, True)]
    ua.receive(notify.replace(b"CSeq: 2 NOTIFY", b"CSeq: 3 NOTIFY"), PEER, 2.0)
    assert [r.status for r in responses(ua)] == [200]
    assert ua.take_events() == [TransferProgress(ev.call_id, 200, True, True)]


def test_refer_rejected_or_unanswered_reports_failure():
    from media.sip.useragent import TransferProgress
    ua = UserAgent("127.0.0.1", 5060)
    ev, tag = confirmed_call(ua)
    ua.refer(ev.call_id, "sip:desk@127.0.0.1", now=1.0)
    refer = parse(ua.take_outgoing()[0].data)
    ua.receive(answer_to(refer, 603), PEER, 1.1)
    assert ua.take_events() == [TransferProgress(ev.call_id, 603, True, False)]
    ua.refer(ev.call_id, "sip:desk@127.0.0.1", now=2.0)
    ua.take_outgoing()
    ua.handle_timers(2.0 + 64 * T1)
    assert ua.take_events() == [TransferProgress(ev.call_id, 408, True, False)]


def test_sources_outside_the_allowed_networks_get_403_and_no_state():
    ua = UserAgent("127.0.0.1", 5060, allowed=lambda host: host.startswith("10."))
    for method in ("INVITE", "OPTIONS", "REGISTER"):
        ua.receive(request(method, branch=f"z9hG4bK-{method}", body=SDP_PCMU if method == "INVITE" else ""), PEER, 0.0)
        (r,) = responses(ua)
        assert r.status == 403, method
    assert ua.active_calls == 0
    assert all(isinstance(e, MessageRejected) and e.status == 403 for e in ua.take_events())
    ua.receive(request("INVITE", body=SDP_PCMU), ("10.1.2.3", 5060), 0.1)  # an allowed PBX
    assert [r.status for r in responses(ua)] == [100]


@pytest.mark.parametrize("action", ["reject", "drop"])
def test_a_flood_from_one_source_is_rate_limited_and_others_still_get_in(action):
    from media.sip.ratelimit import RateLimiter

    ua = UserAgent("127.0.0.1", 5060, limiter=RateLimiter(5, 10), flood_action=action)
    flood = ("10.9.9.9", 5060)
    statuses = []
    for i in range(100):  # 100 INVITEs in one second
        ua.receive(request("INVITE", call_id=f"f{i}", branch=f"z9hG4bK-f{i}", body=SDP_PCMU), flood, i * 0.01)
        statuses += [r.status for r in responses(ua)]
    assert statuses.count(100) == 14  # the burst of 10, plus 5 per second refilled
    if action == "reject":
        assert statuses.count(503) == 86
    else:
        assert statuses.count(503) == 0 and len(statuses) == 14
    ua.receive(request("INVITE", call_id="pbx", branch="z9hG4bK-pbx", body=SDP_PCMU), ("10.1.2.3", 5060), 1.0)
    assert [r.status for r in responses(ua)] == [100]  # another source is not affected
    ua.receive(request("OPTIONS", call_id="o2", branch="z9hG4bK-o2"), flood, 3.5)  # tokens came back
    assert [r.status for r in responses(ua)] == [200]


def test_an_unavailable_node_answers_probes_and_new_calls_with_503():
    ua = UserAgent("127.0.0.1", 5060)
    state = {"why": None}
    ua.unavailable = lambda: state["why"]
    ua.receive(request("OPTIONS", branch="z9hG4bK-o1"), PEER, 0.0)
    assert [r.status for r in responses(ua)] == [200]
    state["why"] = "overloaded"  # model queues nearly full: the balancer should prefer another node
    ua.receive(request("OPTIONS", branch="z9hG4bK-o2", call_id="o2"), PEER, 0.1)
    (r,) = responses(ua)
    assert r.status == 503 and r.headers.get("Retry-After") == "30"
    ua.receive(request("INVITE", body=SDP_PCMU), PEER, 0.2)
    assert [r.status for r in responses(ua)] == [100]  # overloaded still takes a call it is sent
    state["why"] = "draining"
    ua.receive(request("INVITE", call_id="c2", branch="z9hG4bK-i2", body=SDP_PCMU), PEER, 0.3)
    assert [r.status for r in responses(ua)] == [503]


def test_an_invite_that_waited_too_long_in_the_receive_queue_gets_503_at_once():
    ua = UserAgent("127.0.0.1", 5060, max_backlog_s=0.3)
    ua.receive(request("INVITE", call_id="late", branch="z9hG4bK-late", body=SDP_PCMU), PEER, 5.0, waited_s=0.8)
    (r,) = responses(ua)
    assert r.status == 503 and "overloaded" in r.reason and r.headers.get("Retry-After") == "5"
    assert ua.take_events() == [] and ua.overload_rejected == 1  # no call state, no RTP port for it
    ua.receive(request("INVITE", call_id="late", branch="z9hG4bK-late", body=SDP_PCMU), PEER, 5.5, waited_s=0.1)
    assert [r.status for r in responses(ua)] == [503]  # its retransmission: the same answer, from the transaction
    ua.receive(request("ACK", call_id="late", branch="z9hG4bK-late", to_tag=to_tag(r)), PEER, 5.6)
    assert responses(ua) == [] and ua.take_events() == []
    # in-dialog requests of calls already up are never shed; a prompt INVITE is a call
    ev, tag = confirmed_call(ua)
    ua.receive(request("BYE", call_id=ev.call_id, branch="z9hG4bK-bye", to_tag=tag, cseq=2), PEER, 6.0, waited_s=2.0)
    assert [r.status for r in responses(ua)] == [200]
    ua.receive(request("INVITE", call_id="prompt", branch="z9hG4bK-p", body=SDP_PCMU), PEER, 7.0, waited_s=0.05)
    assert [r.status for r in responses(ua)] == [100]
    off = UserAgent("127.0.0.1", 5060)  # 0: off
    off.receive(request("INVITE", body=SDP_PCMU), PEER, 0.0, waited_s=10.0)
    assert [r.status for r in responses(off)] == [100]


def test_a_tls_dialog_names_the_tls_port_in_its_contact_so_the_callers_bye_arrives():
    """The caller sends its BYE to our Contact: over TLS that must be the TLS port, not the UDP one."""
    ua = UserAgent("127.0.0.1", 5060)
    ua.transport_ports["TLS"] = 5061
    invite = request("INVITE", body=SDP_PCMU).replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS")
    ua.receive(invite, PEER, 0.0, transport="TLS")
    responses(ua)
    (ev,) = ua.take_events()
    ua.answer(ev.call_id, b"v=0\r\n", now=0.0)
    (r200,) = responses(ua)
    assert r200.headers.get("Contact") == "<sip:frontdesk@127.0.0.1:5061;transport=tls>"
    ua.receive(request("ACK", branch="z9hG4bK-ack", to_tag=to_tag(r200)).replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS"),
               PEER, 0.1, transport="TLS")
    ua.take_events()
    ua.hangup(ev.call_id, now=1.0)
    (bye,) = [parse(o.data) for o in ua.take_outgoing()]
    assert bye.method == "BYE" and "SIP/2.0/TLS 127.0.0.1:5061;" in bye.headers.get("Via")
    # a UDP dialog on the same agent keeps the UDP port
    ua.receive(request("INVITE", call_id="c2@test", branch="z9hG4bK-2", body=SDP_PCMU), PEER, 2.0)
    responses(ua)
    (ev2,) = ua.take_events()
    ua.answer(ev2.call_id, b"v=0\r\n", now=2.0)
    assert responses(ua)[0].headers.get("Contact") == "<sip:frontdesk@127.0.0.1:5060>"
