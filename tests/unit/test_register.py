"""Digest authentication (RFC 2617 / RFC 7616 vectors) and outbound registration, sans-IO."""

from media.sip.digest import Challenge, authorization, best_challenge, parse_challenge
from media.sip.message import parse
from media.sip.register import Registered, Registration, RegistrationFailed
from media.sip.useragent import UserAgent


def test_rfc2617_md5_vector():
    ch = Challenge("testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "MD5", ("auth",),
                   "5ccc069c403ebaf9f0171e9517f40e41")
    value = authorization(ch, method="GET", uri="/dir/index.html", username="Mufasa", password="Circle Of Life",
                          nc=1, cnonce="0a4f113b")
    assert 'response="6629fae49393a05397450978507c4ef1"' in value and "nc=00000001" in value


def test_rfc7616_sha256_vector():
    ch = parse_challenge('Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
                         'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"')
    value = authorization(ch, method="GET", uri="/dir/index.html", username="Mufasa", password="Circle of Life",
                          nc=1, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")
    assert 'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"' in value


def test_sha256_is_preferred_over_md5():
    ch = best_challenge(['Digest realm="x", nonce="1", algorithm=MD5', 'Digest realm="x", nonce="2", algorithm=SHA-256'])
    assert ch.algorithm == "SHA-256"


def reply(req, status: int, extra: str = "") -> bytes:
    lines = [f"SIP/2.0 {status} X"] + [f"{h}: {req.headers.get(h)}" for h in ("Via", "From", "To", "Call-ID", "CSeq")]
    return ("\r\n".join(lines) + "\r\n" + extra + "Content-Length: 0\r\n\r\n").encode()


def registration(**kw) -> tuple[UserAgent, Registration]:
    ua = UserAgent("127.0.0.1", 5060)
    reg = Registration("sip:127.0.0.1:5070", "sip:frontdesk@127.0.0.1", "<sip:frontdesk@127.0.0.1:5060>",
                       username="frontdesk", password="secret", expires=120, **kw)
    ua.add_registration(reg)
    return ua, reg


def test_register_answers_the_challenge_and_refreshes_before_expiry():
    ua, reg = registration()
    ua.handle_timers(0.0)
    (first,) = ua.take_outgoing()
    assert first.addr == ("127.0.0.1", 5070)
    req = parse(first.data)
    assert req.method == "REGISTER" and "Authorization" not in req.headers
    ua.receive(reply(req, 401, 'WWW-Authenticate: Digest realm="pbx", nonce="n1", qop="auth", algorithm=MD5\r\n'),
               ("127.0.0.1", 5070), 0.1)
    (second,) = ua.take_outgoing()
    req2 = parse(second.data)
    assert 'username="frontdesk"' in req2.headers.get("Authorization") and req2.cseq[0] == req.cseq[0] + 1
    ua.receive(reply(req2, 200, "Contact: <sip:frontdesk@127.0.0.1:5060>;expires=120\r\n"), ("127.0.0.1", 5070), 0.2)
    assert ua.take_events() == [Registered("sip:127.0.0.1:5070", 120)]
    assert ua.next_timer() == 60.2  # refresh at half-time
    ua.handle_timers(60.2)
    assert parse(ua.take_outgoing()[0].data).method == "REGISTER"


def test_wrong_password_says_so_and_retries_later():
    ua, reg = registration()
    ua.handle_timers(0.0)
    req = parse(ua.take_outgoing()[0].data)
    challenge = 'WWW-Authenticate: Digest realm="pbx", nonce="n1", algorithm=MD5\r\n'
    ua.receive(reply(req, 401, challenge), ("127.0.0.1", 5070), 0.1)
    req2 = parse(ua.take_outgoing()[0].data)
    ua.receive(reply(req2, 401, challenge), ("127.0.0.1", 5070), 0.2)  # same nonce again: rejected
    (ev,) = ua.take_events()
    assert isinstance(ev, RegistrationFailed) and "credentials rejected" in ev.reason and ev.status == 401
    assert ua.take_outgoing() == [] and ua.next_timer() == 0.2 + ev.retry_in


def test_no_answer_times_out_and_retries():
    ua, reg = registration()
    ua.handle_timers(0.0)
    ua.take_outgoing()
    sent = 0
    now = 0.0
    while not (events := ua.take_events()):
        now = ua.next_timer()
        ua.handle_timers(now)
        sent += len(ua.take_outgoing())
    assert isinstance(events[0], RegistrationFailed) and "timeout" in events[0].reason and sent >= 6
