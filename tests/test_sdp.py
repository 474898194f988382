import pytest

from media.sdp import SdpError, negotiate, parse_sdp


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


def test_srtp_only_offer_is_refused_and_direction_is_answered():
    with pytest.raises(SdpError):
        negotiate(parse_sdp(offer("0", proto="RTP/SAVP")), "127.0.0.1", 1)
    got = negotiate(parse_sdp(offer("0", "a=sendonly\r\n")), "127.0.0.1", 1)
    assert got.direction == "recvonly"


def test_malformed_sdp():
    with pytest.raises(SdpError):
        parse_sdp("garbage")
    with pytest.raises(SdpError):
        parse_sdp("v=0\r\nm=audio notaport RTP/AVP 0\r\n")
