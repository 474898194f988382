"""Twilio Programmable Voice into the same agent: a test peer (tests/helpers/twilio_peer.py) plays Twilio's
side of the webhook and Media Streams protocol against `frontdesk serve` with the real models,
streaming real caller speech (the hibari voice) in real time."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from frontdesk.config import DEMO_CONFIG
from tools.calendar import Calendar, CallerInfo
from tools.db import make_engine

from ..conftest import Server, scripted_config
from ..helpers.twilio_peer import TwilioPeer, post, sign

pytestmark = pytest.mark.e2e
TOKEN = "f3a1c0ffee0ddba11deadbeefcafe123"
PUBLIC = "https://clinic.example.test"
CALLER = "+12025550143"
BOOKING = ["Hi, I'd like to book a cleaning next Tuesday afternoon.", "My name is Maria Gonzalez.",
           "Yes, that's right.", "The first one, please.", "Yes, please book it.", "No, that's all. Goodbye."]


@pytest.fixture(scope="module")
def twilio_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("twilio")
    text = DEMO_CONFIG.read_text()
    # open around the clock, so that a handoff is a <Dial> whenever the test runs
    text = re.sub(r'^(mon|tue|wed|thu|fri|sat|sun) = "[^"]*"$', r'\1 = "00:00-23:59"', text, flags=re.M)
    text = text.replace('front_desk_uri = ""', 'front_desk_uri = "tel:+15550100"')
    text += f'\n[twilio]\nenabled = true\npublic_url = "{PUBLIC}"\nauth_token = "{TOKEN}"\n'
    server = Server(tmp, config=scripted_config(tmp, text))
    server.web = f"http://127.0.0.1:{int(Path(str(server.ready) + '.dashboard').read_text())}"
    yield server
    server.stop()


def record_for(server, call_sid: str, timeout: float = 30.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for c in server.calls():
            if c.get("external_id") == call_sid and c.get("ended_at"):
                return c
        time.sleep(0.3)
    raise AssertionError(f"no record for {call_sid}:\n" + server.output()[-3000:])


def test_requests_without_a_valid_signature_are_refused(twilio_server):
    import websockets

    web = twilio_server.web
    params = {"CallSid": "CA" + "9" * 32, "From": CALLER, "To": "+15550001111"}
    assert post(web, PUBLIC, "/twilio/voice", params, None)[0] == 403  # unsigned
    assert post(web, PUBLIC, "/twilio/voice", params, None, signature=sign("wrong-token", PUBLIC + "/twilio/voice", params))[0] == 403
    # signed for other parameters than those sent
    assert post(web, PUBLIC, "/twilio/voice", params, None,
                signature=sign(TOKEN, PUBLIC + "/twilio/voice", {**params, "From": "+19990000000"}))[0] == 403
    assert post(web, PUBLIC, "/twilio/after", params, None)[0] == 403
    status, body = post(web, PUBLIC, "/twilio/voice", params, TOKEN)
    assert status == 200 and "<Connect" in body and "wss://clinic.example.test/twilio/stream" in body

    async def ws_refused(headers):
        try:
            async with websockets.connect(web.replace("http", "ws") + "/twilio/stream", additional_headers=headers) as ws:
                await ws.recv()
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
        return None

    assert asyncio.run(ws_refused({})) in (403, 1008)
    assert asyncio.run(ws_refused({"X-Twilio-Signature": sign(TOKEN, "wss://elsewhere.example/twilio/stream")})) in (403, 1008)
    assert "bad X-Twilio-Signature" in twilio_server.output()


def test_booking_over_a_media_stream(twilio_server, caller_voice):
    cal = Calendar(make_engine(f"sqlite:///{(twilio_server.data / 'frontdesk.db').resolve()}"), "America/New_York")
    cal.add_caller(CallerInfo(name="Maria Gonzalez", phone=CALLER, email="maria@example.com"))
    before = len(cal.bookings(status="booked"))
    peer = TwilioPeer(twilio_server.web, PUBLIC, TOKEN, caller=CALLER, call_sid="CA" + "1" * 32)
    stream_url, action, params = peer.voice_webhook()
    assert stream_url == "wss://clinic.example.test/twilio/stream" and action == PUBLIC + "/twilio/after"
    assert params == {"From": CALLER, "To": "+15550001111", "CallSid": peer.call_sid}
    lines = [caller_voice.synthesize_all(line) for line in BOOKING]
    # a stray binary-looking and a malformed message on the wire must not end the call
    res = asyncio.run(peer.stream(stream_url, params, lines, reply_timeout=60,
                                  extra=['{"event": "media", "media": {"payload": "%%%"}}', "not json"]))
    status, after = peer.after(action)
    assert status == 200 and "<Hangup/>" in after, after
    rec = record_for(twilio_server, peer.call_sid)
    log = twilio_server.output()
    assert rec["ingress"] == "twilio" and rec["transport"] == "WebSocket" and rec["caller_number"] == CALLER, rec
    assert rec["outcome"] == "booked", (rec["outcome"], [(t["speaker"], t["text"]) for t in rec["turns"]], log[-3000:])
    assert len(cal.bookings(status="booked")) == before + 1
    assert res.closed_by == "server" and rec["ended_by"] == "agent"  # the agent said goodbye and ended the stream
    # every stretch of agent audio ended with a mark; the peer played it and echoed it, and the
    # server waited for those echoes (its count of confirmed marks matches what was echoed)
    media = rec["rtp"]
    assert res.marks_received >= 6 and res.marks_echoed == res.marks_received, res
    assert media["marks_confirmed"] >= res.marks_echoed - 1 and media["marks_lost"] == 0, media
    assert media["bad_messages"] == 2 and media["frames_in"] > 500, media
    assert "maple street dental" in " ".join(t["text"].lower() for t in rec["turns"] if t["speaker"] == "agent")


def test_barge_in_clears_twilios_buffer(twilio_server, caller_voice):
    peer = TwilioPeer(twilio_server.web, PUBLIC, TOKEN, caller="+12025550177", call_sid="CA" + "2" * 32)
    stream_url, action, params = peer.voice_webhook()
    line = caller_voice.synthesize_all("Hi, I would like to book a cleaning appointment for next week, please.")
    res = asyncio.run(peer.stream(stream_url, params, [line], barge_in_ms=1200, reply_timeout=40))
    assert res.clears, "no clear after the caller talked over the greeting"
    # the clear came while the caller was talking, soon after they began
    assert 0 < (res.clears[0] - res.speech_starts[0]) * 20 < 2500, (res.clears, res.speech_starts)
    rec = record_for(twilio_server, peer.call_sid)
    assert rec["rtp"]["clears"] >= 1 and rec["barge_in"], rec["rtp"]
    greeting = next(t for t in rec["turns"] if t["speaker"] == "agent")
    assert greeting.get("interrupted"), greeting
    caller = [t for t in rec["turns"] if t["speaker"] == "caller"]
    assert caller and "clean" in caller[0]["text"].lower(), rec["turns"]


def test_handoff_dials_the_front_desk(twilio_server, caller_voice):
    peer = TwilioPeer(twilio_server.web, PUBLIC, TOKEN, caller="+12025550166", call_sid="CA" + "3" * 32)
    stream_url, action, params = peer.voice_webhook()
    lines = [caller_voice.synthesize_all("Can I talk to a real person, please?")]
    res = asyncio.run(peer.stream(stream_url, params, lines, reply_timeout=60, hang_up_after=False))
    assert res.closed_by == "server" and res.close_code == 1000
    status, after = peer.after(action)
    assert status == 200 and "<Dial><Number>+15550100</Number></Dial>" in after, after
    rec = record_for(twilio_server, peer.call_sid)
    assert rec["outcome"] == "transferred" and rec["transfer"]["ok"], (rec["outcome"], rec["transfer"])
    assert json.dumps(rec["transfer"]).count("+15550100") == 1
