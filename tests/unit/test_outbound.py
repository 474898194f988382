"""Placing a call (media/sip/outbound.py), sans-IO: the user agent's INVITE client transaction and
early dialog, fed the responses a trunk or phone sends; then against sipp as a real phone."""

import socket
import subprocess
import time
from pathlib import Path

import pytest

from media.sip.events import CallEnded
from media.sip.message import Headers, Request, Response, parse
from media.sip.outbound import OutboundAnswered, OutboundCall, OutboundFailed, OutboundRinging
from media.sip.useragent import UserAgent

from ..conftest import free_port

SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
PHONE = ("127.0.0.1", 5070)


def placed(**kw) -> tuple[UserAgent, OutboundCall, Request]:
    ua = UserAgent("127.0.0.1", 5060)
    call = OutboundCall(target="sip:+12025550143@127.0.0.1:5070", from_uri="<sip:frontdesk@127.0.0.1>",
                        contact="<sip:frontdesk@127.0.0.1:5060>", offer=SDP, address=PHONE, **kw)
    ua.dial(call, 0.0)
    (out,) = ua.take_outgoing()
    return ua, call, parse(out.data)


def answer(req: Request, status: int, *, tag: str | None = "ph1", extra=(), body: bytes = b"",
           to_tag_from: Request | None = None) -> bytes:
    h = Headers()
    for via in req.headers.get_all("Via"):
        h.add("Via", via)
    h.add("From", req.headers.get("From"))
    h.add("To", req.headers.get("To") + (f";tag={tag}" if tag else ""))
    h.add("Call-ID", req.call_id)
    h.add("CSeq", req.headers.get("CSeq"))
    for name, value in extra:
        h.add(name, value)
    return Response(headers=h, status=status, reason="X", body=body).serialize()


def test_an_answered_call_is_acknowledged_at_its_contact_and_hangs_up_as_any_dialog():
    ua, call, invite = placed()
    assert invite.method == "INVITE" and invite.uri == "sip:+12025550143@127.0.0.1:5070" and invite.body == SDP
    assert invite.headers.get("Content-Type") == "application/sdp" and ";tag=" in invite.headers.get("From")
    ua.receive(answer(invite, 180), PHONE, 0.2)
    assert [type(e) for e in ua.take_events()] == [OutboundRinging]
    ua.handle_timers(5.0)
    assert ua.take_outgoing() == []  # a provisional response stops the INVITE's retransmissions
    ok = answer(invite, 200, body=b"v=0 answer", extra=[("Contact", "<sip:phone@127.0.0.1:5071>"),
                                                         ("Record-Route", "<sip:127.0.0.1:5072;lr>")])
    ua.receive(ok, PHONE, 6.0)
    (ev,) = ua.take_events()
    assert isinstance(ev, OutboundAnswered) and ev.answer == b"v=0 answer"
    (ack,) = ua.take_outgoing()
    req = parse(ack.data)
    assert req.method == "ACK" and req.uri == "sip:phone@127.0.0.1:5071" and ack.addr == ("127.0.0.1", 5072)
    assert req.headers.get("Route") == "<sip:127.0.0.1:5072;lr>" and req.cseq == (invite.cseq[0], "ACK")
    assert "branch=" in req.headers.get("Via") and req.headers.get("Via") != invite.headers.get("Via")  # its own
    ua.receive(ok, PHONE, 6.5)  # the 200 again (our ACK was lost): the same ACK again
    assert [parse(o.data).method for o in ua.take_outgoing()] == ["ACK"] and ua.take_events() == []
    ua.hangup(call.call_id, now=10.0, reason="done")
    (bye,) = ua.take_outgoing()
    bye_req = parse(bye.data)
    assert bye_req.method == "BYE" and bye_req.uri == "sip:phone@127.0.0.1:5071" and ";tag=ph1" in bye_req.headers.get("To")
    assert bye_req.cseq[0] == invite.cseq[0] + 1
    ua.receive(answer(bye_req, 200, tag=None), PHONE, 10.1)
    (ended,) = ua.take_events()
    assert isinstance(ended, CallEnded) and ended.by == "local" and ended.status == 200


def test_the_phone_hanging_up_ends_the_call():
    ua, call, invite = placed()
    ua.receive(answer(invite, 200, extra=[("Contact", "<sip:phone@127.0.0.1:5070>")]), PHONE, 1.0)
    ua.take_events(), ua.take_outgoing()
    h = Headers()
    h.add("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKbye1")
    h.add("From", "<sip:+12025550143@127.0.0.1:5070>;tag=ph1")
    h.add("To", invite.headers.get("From"))
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", "7 BYE")
    ua.receive(Request(headers=h, method="BYE", uri="sip:frontdesk@127.0.0.1:5060").serialize(), PHONE, 2.0)
    assert parse(ua.take_outgoing()[0].data).status == 200
    (ended,) = ua.take_events()
    assert isinstance(ended, CallEnded) and ended.by == "remote"


def test_a_challenge_is_answered_once_with_the_trunks_credentials():
    ua, call, invite = placed(username="desk", password="s3cret")
    challenge = 'Digest realm="pbx", nonce="n1", qop="auth", algorithm=MD5'
    ua.receive(answer(invite, 407, extra=[("Proxy-Authenticate", challenge)]), PHONE, 0.1)
    ack, again = [parse(o.data) for o in ua.take_outgoing()]
    assert ack.method == "ACK" and ack.cseq == (invite.cseq[0], "ACK") and ack.headers.get("Via") == invite.headers.get("Via")
    assert again.method == "INVITE" and again.cseq[0] == invite.cseq[0] + 1
    auth = again.headers.get("Proxy-Authorization")
    assert auth.startswith("Digest ") and 'username="desk"' in auth and 'realm="pbx"' in auth and "response=" in auth
    assert ua.take_events() == []
    ua.receive(answer(again, 407, extra=[("Proxy-Authenticate", challenge)]), PHONE, 0.2)  # same nonce: wrong password
    (failed,) = ua.take_events()
    assert isinstance(failed, OutboundFailed) and failed.status == 407 and failed.reason == "credentials rejected"


@pytest.mark.parametrize("status, reason", [(486, "busy"), (480, "no answer"), (603, "declined"), (404, "no such number")])
def test_a_refusal_is_acknowledged_and_reported(status, reason):
    ua, call, invite = placed()
    ua.receive(answer(invite, status), PHONE, 0.1)
    assert [parse(o.data).method for o in ua.take_outgoing()] == ["ACK"]
    (failed,) = ua.take_events()
    assert isinstance(failed, OutboundFailed) and failed.reason == reason
    ua.receive(answer(invite, status), PHONE, 0.6)  # retransmitted: acknowledged again, reported once
    assert [parse(o.data).method for o in ua.take_outgoing()] == ["ACK"] and ua.take_events() == []
    ua.handle_timers(40.0)
    assert ua.pending_transactions() == 0 and ua._dialling == {}


def test_nobody_answers_the_ringing_is_cancelled_and_silence_times_out():
    ua, call, invite = placed(ring_timeout_s=20.0)
    for t in (0.5, 1.5, 3.5):  # Timer A: 0.5, 1, 2 s ...
        ua.handle_timers(t)
        assert [parse(o.data).method for o in ua.take_outgoing()] == ["INVITE"]
    ua.receive(answer(invite, 180), PHONE, 4.0)
    ua.take_events()
    ua.handle_timers(20.0)  # rang for 20 s
    (cancel,) = [parse(o.data) for o in ua.take_outgoing()]
    assert cancel.method == "CANCEL" and cancel.cseq == (invite.cseq[0], "CANCEL") and "tag=" not in cancel.headers.get("To")
    assert cancel.headers.get("Via") == invite.headers.get("Via")  # the INVITE's transaction
    ua.receive(answer(cancel, 200), PHONE, 20.1)
    assert ua.take_events() == []
    ua.receive(answer(invite, 487), PHONE, 20.2)
    assert [parse(o.data).method for o in ua.take_outgoing()] == ["ACK"]
    (failed,) = ua.take_events()
    assert isinstance(failed, OutboundFailed) and failed.reason == "no answer"
    ua2, call2, _ = placed()  # nothing answers at all: Timer B
    ua2.handle_timers(40.0)
    ua2.take_outgoing()
    (failed,) = ua2.take_events()
    assert isinstance(failed, OutboundFailed) and failed.status is None and "unreachable" in failed.reason


def test_answered_as_we_cancelled_is_acknowledged_and_hung_up():
    ua, call, invite = placed()
    ua.receive(answer(invite, 180), PHONE, 0.1)
    ua.take_events()
    ua.cancel_dial(call.call_id, 1.0)
    ua.take_outgoing()
    ua.receive(answer(invite, 200, extra=[("Contact", "<sip:phone@127.0.0.1:5070>")]), PHONE, 1.1)
    assert [parse(o.data).method for o in ua.take_outgoing()] == ["ACK", "BYE"]
    (failed,) = ua.take_events()
    assert isinstance(failed, OutboundFailed) and failed.status == 200


UAS_ANSWERS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a phone that rings, answers, and hangs up after 1 s">
  <recv request="INVITE">
    <action>
      <ereg regexp=";tag=([^;> \r\n]+)" search_in="hdr" header="From:" assign_to="junk,ftag" />
      <ereg regexp="sip:[^>; \r\n]+" search_in="hdr" header="Contact:" assign_to="contact" />
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:phone@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 0

]]></send>
  <recv request="ACK" />
  <pause milliseconds="1000" />
  <send retrans="500"><![CDATA[
BYE [$contact] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:+12025550143@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To: <sip:frontdesk@127.0.0.1>;tag=[$ftag]
[last_Call-ID:]
CSeq: 2 BYE
Content-Length: 0

]]></send>
  <recv response="200" />
  <Reference variables="junk" />
</scenario>
"""


UAS_NEVER_ANSWERS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a phone that rings and is never picked up">
  <recv request="INVITE" />
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="CANCEL" />
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [cseq] INVITE
Content-Length: 0

]]></send>
  <recv request="ACK" />
</scenario>
"""


def uas_challenges(status: int) -> str:
    """A trunk or PBX that challenges the INVITE (401 as a PBX does, 407 as a proxy does), checks
    the Digest response itself (sipp's verifyauth, password "s3cret"), then answers and hangs up.
    A wrong response gets a 403, and the scenario then waits for a BYE that never comes: it fails."""
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    answers = UAS_ANSWERS.split("\n", 2)[2]  # its INVITE onwards
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a trunk that challenges, checks the credentials and answers">
  <recv request="INVITE" />
  <send><![CDATA[
SIP/2.0 {status} Authentication Required
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag00[call_number]
[last_Call-ID:]
[last_CSeq:]
{header}: Digest realm="trunk.example", nonce="5f1d2c3b4a", algorithm=MD5
Content-Length: 0

]]></send>
  <recv request="ACK" />
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="desk" password="s3cret" />
      <ereg regexp=";tag=([^;> \r\n]+)" search_in="hdr" header="From:" assign_to="junk,ftag" />
      <ereg regexp="sip:[^>; \r\n]+" search_in="hdr" header="Contact:" assign_to="contact" />
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="good" />
  <send><![CDATA[
SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK" />
  <recv request="BYE" timeout="500" />
  <label id="good" />
""" + answers.split("</recv>", 1)[1]


def with_sipp(tmp_path, scenario: str, ring_timeout_s: float = 30.0, **credentials) -> list:
    """Place one call to sipp playing ``scenario``; the user agent's events, once the call is over."""
    path = tmp_path / "phone.xml"
    path.write_text(scenario)
    port = free_port()
    sipp = subprocess.Popen(["sipp", "-sf", str(path), "-i", "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin",
                             "-timeout", "30"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    ua = UserAgent("127.0.0.1", sock.getsockname()[1])
    call = OutboundCall(target=f"sip:+12025550143@127.0.0.1:{port}", from_uri="<sip:frontdesk@127.0.0.1>",
                        contact=f"<sip:frontdesk@127.0.0.1:{sock.getsockname()[1]}>", offer=SDP,
                        address=("127.0.0.1", port), ring_timeout_s=ring_timeout_s, **credentials)
    events: list = []
    try:
        time.sleep(0.5)
        ua.dial(call, time.monotonic())
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(isinstance(e, (CallEnded, OutboundFailed)) for e in events):
            for out in ua.take_outgoing():
                sock.sendto(out.data, out.addr)
            try:
                data, addr = sock.recvfrom(65535)
                ua.receive(data, addr, time.monotonic())
            except socket.timeout:
                pass
            ua.handle_timers(time.monotonic())
            events += ua.take_events()
        for out in ua.take_outgoing():
            sock.sendto(out.data, out.addr)
        deadline = time.monotonic() + 10
        while sipp.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        sock.close()
        if sipp.poll() is None:
            sipp.kill()
    assert sipp.returncode == 0  # sipp saw every message it expected, in order
    return events


def test_sipp_as_a_phone_that_answers_and_hangs_up(tmp_path):
    events = with_sipp(tmp_path, UAS_ANSWERS)
    assert [type(e).__name__ for e in events] == ["OutboundRinging", "OutboundAnswered", "CallEnded"], events
    assert events[-1].by == "remote"


def test_sipp_as_a_phone_that_never_answers(tmp_path):
    events = with_sipp(tmp_path, UAS_NEVER_ANSWERS, ring_timeout_s=2.0)
    assert [type(e).__name__ for e in events] == ["OutboundRinging", "OutboundFailed"], events
    assert events[-1].status == 487 and events[-1].reason == "no answer"


def test_sipp_as_a_pbx_that_checks_the_digest_credentials(tmp_path):
    """sipp's verifyauth reads only an Authorization header, the answer to a 401; the answer to a
    proxy's 407 (Proxy-Authorization, the same Digest) is checked in
    test_a_challenge_is_answered_once_with_the_trunks_credentials."""
    events = with_sipp(tmp_path, uas_challenges(401), username="desk", password="s3cret")
    assert [type(e).__name__ for e in events] == ["OutboundRinging", "OutboundAnswered", "CallEnded"], events


def test_sipp_as_a_pbx_refuses_a_wrong_password(tmp_path):
    with pytest.raises(AssertionError):  # sipp's own check fails the call: the response was wrong
        with_sipp(tmp_path, uas_challenges(401), username="desk", password="wrong")
