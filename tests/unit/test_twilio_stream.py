"""Twilio Media Streams and request signatures, without sockets (media/twilio_stream.py,
frontdesk/ingress/twilio_signature.py), and StreamMedia's playback confirmation."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest

from media import g711
from media.stream_media import StreamMedia
from frontdesk.ingress.twilio_signature import compute, valid
from media.twilio_stream import (MAX_MESSAGE, Connected, Dtmf, MarkPlayed, Media, Started, Stopped, TwilioStream,
                                 TwilioStreamError)

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
          "Caller": "+14158675309"}


def started() -> TwilioStream:
    s = TwilioStream()
    s.receive(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    s.receive(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": SID, "start": {
        "accountSid": "AC1", "streamSid": SID, "callSid": "CA1", "tracks": ["inbound"],
        "customParameters": {"From": "+12025550143"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    return s


def media(chunk: int, pcm: np.ndarray, track: str = "inbound") -> str:
    return json.dumps({"event": "media", "sequenceNumber": str(chunk + 1), "streamSid": SID, "media": {
        "track": track, "chunk": str(chunk), "timestamp": str(chunk * 20),
        "payload": base64.b64encode(g711.ulaw_encode(pcm)).decode()}})


def test_a_stream_as_twilio_documents_it():
    s = TwilioStream()
    (ev,) = s.receive('{"event": "connected", "protocol": "Call", "version": "1.0.0"}')
    assert isinstance(ev, Connected) and ev.protocol == "Call"
    (ev,) = s.receive(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": SID, "start": {
        "accountSid": "AC1", "streamSid": SID, "callSid": "CA9", "tracks": ["inbound"],
        "customParameters": {"From": "+12025550143", "To": "+15550001111"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}))
    assert isinstance(ev, Started) and ev.call_sid == "CA9" and ev.parameters["From"] == "+12025550143"
    tone = (np.sin(np.arange(160) / 5) * 8000).astype(np.int16)
    (ev,) = s.receive(media(1, tone))
    assert isinstance(ev, Media) and ev.pcm.size == 160 and np.abs(ev.pcm.astype(int) - tone).max() < 300
    s.receive(media(4, tone))
    assert s.chunks_missing == 2  # chunks 2 and 3 never came
    assert s.receive(media(5, tone, track="outbound")) == []  # only the caller's side feeds the agent
    (ev,) = s.receive(json.dumps({"event": "dtmf", "streamSid": SID, "sequenceNumber": "9",
                                  "dtmf": {"track": "inbound_track", "digit": "7"}}))
    assert ev == Dtmf("7")
    (ev,) = s.receive(json.dumps({"event": "mark", "streamSid": SID, "sequenceNumber": "10", "mark": {"name": "m1"}}))
    assert ev == MarkPlayed("m1")
    (ev,) = s.receive(json.dumps({"event": "stop", "streamSid": SID, "sequenceNumber": "11",
                                  "stop": {"accountSid": "AC1", "callSid": "CA9"}}))
    assert ev == Stopped("CA9") and s.state == "stopped"
    with pytest.raises(TwilioStreamError):
        s.receive(media(6, tone))


def test_outgoing_messages():
    s = started()
    out = json.loads(s.media(np.zeros(160, np.int16)))
    assert out["event"] == "media" and out["streamSid"] == SID and len(base64.b64decode(out["media"]["payload"])) == 160
    name, text = s.mark()
    assert json.loads(text) == {"event": "mark", "streamSid": SID, "mark": {"name": name}}
    assert s.mark()[0] != name
    assert json.loads(s.clear()) == {"event": "clear", "streamSid": SID}


@pytest.mark.parametrize("message", [
    "not json", "[]", '{"event": "bogus"}', '{"event": "media", "media": {"payload": "x"}}',
    json.dumps({"event": "media", "streamSid": SID, "media": {"payload": "!!not base64!!"}}),
    json.dumps({"event": "media", "streamSid": "MZother", "media": {"payload": ""}}),
    json.dumps({"event": "dtmf", "streamSid": SID, "dtmf": {"digit": "X"}}),
    json.dumps({"event": "mark", "streamSid": SID, "mark": "m1"}),
    json.dumps({"event": "media", "streamSid": SID, "media": {"payload": "", "chunk": "one"}}),
    "x" * (MAX_MESSAGE + 1),
])
def test_bad_messages_are_errors_not_crashes(message):
    s = started()
    with pytest.raises(TwilioStreamError):
        s.receive(message)
    s.receive(media(1, np.zeros(160, np.int16)))  # the stream goes on


def test_order_and_format_are_enforced():
    s = TwilioStream()
    with pytest.raises(TwilioStreamError, match="before start"):
        s.receive(media(1, np.zeros(160, np.int16)))
    with pytest.raises(TwilioStreamError, match="start before connected"):
        s.receive(json.dumps({"event": "start", "start": {"streamSid": SID}}))
    s.receive('{"event": "connected"}')
    with pytest.raises(TwilioStreamError, match="only audio/x-mulaw"):
        s.receive(json.dumps({"event": "start", "start": {"streamSid": SID, "mediaFormat": {
            "encoding": "audio/l16", "sampleRate": 16000, "channels": 1}}}))


def test_signatures_match_twilios_published_examples():
    # the vectors of Twilio's own request-validator tests
    assert compute("12345", URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert compute("12345", URL, {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234"]}) == \
        "IK+Dwps556ElfBT0I3Rgjkr1wJU="
    assert valid("12345", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert valid("12345", URL.replace(".com", ".com:1234"), PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert valid("12345", URL, PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w=")  # signed with :443
    assert valid("12345", URL.replace("https", "http"), PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=")  # with :80
    assert not valid("12345", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8")
    assert not valid("12345", URL, {**PARAMS, "Digits": "1235"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not valid("54321", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not valid("12345", URL, PARAMS, None) and not valid("", URL, PARAMS, "x")


def test_stream_media_waits_for_the_far_end_to_play_the_audio():
    async def run():
        frames, marks = [], []
        m = StreamMedia("twilio", on_frame=frames.append, on_dtmf=lambda d: None)
        sent = []
        m.send = sent.append
        m.on_drained = lambda: (marks.append(1), m.expect_confirmation())
        m.start()
        m.play(np.ones(480, np.int16))  # 60 ms
        await asyncio.sleep(0.15)
        assert m.playing and marks == [1]  # all sent, not yet confirmed
        waiter = asyncio.ensure_future(m.wait_played())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        m.confirmed()
        await asyncio.wait_for(waiter, 1)
        assert not m.playing and m.stats()["marks_confirmed"] == 1
        assert sum(f is not None for f in sent) == 3
        m.receive(np.zeros(400, np.int16))  # 2.5 frames: two go to the session now
        assert len(frames) == 2 and all(f.size == 160 for f in frames)
        m.receive(np.zeros(80, np.int16))
        assert len(frames) == 3
        m.play(np.ones(1600, np.int16))
        await asyncio.sleep(0.05)
        assert m.clear() > 0 and not m.playout.playing
        m.close()

    asyncio.run(run())
