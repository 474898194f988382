import base64

import pytest

from media.sdp import SdpError, negotiate, parse_sdp
from media.srtp import parse_crypto


def offer(formats: str, extra: str = "", proto: str = "RTP/AVP") -> str:
    return ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio 4000 {proto} {formats}\r\n{extra}")


def test_pcmu_chosen_when_offered_first():
    got = negotiate(parse_sdp(offer("0 8 101", "a=rtpmap:101 telephone-event/8000\r\n")), "127.0.0.1", 20000)
    assert (got.codec, got.payload_type, got.dtmf_payload_type) == ("PCMU", 0, 101)
    assert "m=audio 20000 RTP/AVP 0 101" in got.answer
    assert "a=rtpmap:101 telephone-event/8000" in got.answer


def test_offerer_preference_order_is_followed():
    got = negotiate(parse_sdp(offer("8 0")), "127.0.0.1", 20000)
    assert got.codec == "PCMA"


def test_pcma_when_it_is_the_only_codec():
    got = negotiate(parse_sdp(offer("8")), "127.0.0.1", 20000)
    assert (got.codec, got.payload_type, got.dtmf_payload_type) == ("PCMA", 8, None)


def test_dynamic_payload_names_are_honoured():
    got = negotiate(parse_sdp(offer("96 97", "a=rtpmap:96 opus/48000/2\r\na=rtpmap:97 PCMU/8000\r\n")), "127.0.0.1", 1)
    assert (got.codec, got.payload_type) == ("PCMU", 97)


def test_neither_codec_raises():
    with pytest.raises(SdpError):
        negotiate(parse_sdp(offer("18 9", "a=rtpmap:18 G729/8000\r\n")), "127.0.0.1", 20000)


def test_srtp_without_a_usable_key_is_refused_and_direction_is_answered():
    with pytest.raises(SdpError):
        negotiate(parse_sdp(offer("0", proto="RTP/SAVP")), "127.0.0.1", 1)
    mki = "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(bytes(30)).decode() + "|2^20|1:4\r\n"
    with pytest.raises(SdpError):  # an MKI, which we do not carry
        negotiate(parse_sdp(offer("0", mki, proto="RTP/SAVP")), "127.0.0.1", 1)
    got = negotiate(parse_sdp(offer("0", "a=sendonly\r\n")), "127.0.0.1", 1)
    assert got.direction == "recvonly"


KEY = base64.b64encode(bytes(range(30))).decode()


def test_sdes_offer_is_answered_with_our_own_key():
    extra = (f"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{KEY}\r\n"
             f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31\r\na=crypto:3 F8_128_HMAC_SHA1_80 inline:{KEY}\r\n")
    got = negotiate(parse_sdp(offer("0", extra, proto="RTP/SAVP")), "127.0.0.1", 1)
    assert got.crypto is not None and got.crypto.tag == 2 and got.crypto.key == bytes(range(30))
    assert "m=audio 1 RTP/SAVP 0" in got.answer
    line = [x for x in got.answer.split("\r\n") if x.startswith("a=crypto:")]
    assert len(line) == 1 and line[0].startswith("a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:")
    ours = parse_crypto(line[0][2:])
    assert ours is not None and ours.key == got.local_key and ours.key != got.crypto.key
    again = negotiate(parse_sdp(offer("0", extra, proto="RTP/SAVP")), "127.0.0.1", 1, local_key=got.local_key)
    assert again.local_key == got.local_key  # a re-INVITE keeps our key


def test_srtp_policy_required_and_off():
    plain = parse_sdp(offer("0"))
    with pytest.raises(SdpError):
        negotiate(plain, "127.0.0.1", 1, srtp="required")
    best_effort = parse_sdp(offer("0", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n"))
    got = negotiate(best_effort, "127.0.0.1", 1)  # RTP/AVP with a=crypto: SRTP if we can
    assert got.crypto is not None and "RTP/AVP" in got.answer
    off = negotiate(best_effort, "127.0.0.1", 1, srtp="off")
    assert off.crypto is None and "a=crypto" not in off.answer
    with pytest.raises(SdpError):
        negotiate(parse_sdp(offer("0", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}\r\n", proto="RTP/SAVP")),
                  "127.0.0.1", 1, srtp="off")


def test_srtp_round_trip_and_bad_tags_are_rejected():
    from media.rtp import RtpPacket
    from media.srtp import SrtpContext, SrtpError, new_key
    ours, theirs = new_key(), new_key()
    tx = SrtpContext("AES_CM_128_HMAC_SHA1_80", ours, theirs)
    rx = SrtpContext("AES_CM_128_HMAC_SHA1_80", theirs, ours)
    for seq in range(3):
        pkt = RtpPacket(0, seq, seq * 160, 42, bytes([seq]) * 160).serialize()
        protected = tx.protect(pkt)
        assert protected != pkt and len(protected) == len(pkt) + 10
        if seq == 1:
            with pytest.raises(SrtpError):
                rx.unprotect(protected[:-1] + bytes([protected[-1] ^ 1]))  # a bad auth tag
        assert rx.unprotect(protected) == pkt
    assert rx.auth_failures == 1


def test_malformed_sdp():
    with pytest.raises(SdpError):
        parse_sdp("garbage")
    with pytest.raises(SdpError):
        parse_sdp("v=0\r\nm=audio notaport RTP/AVP 0\r\n")
