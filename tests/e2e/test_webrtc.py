"""The dashboard's "Test call": Debian's Chromium, driven by Playwright, calls the agent over WebRTC
with a fake microphone that plays recorded caller speech; the server's aiortc peer bridges it into
the same call session a SIP call gets, with the real models.

The server and the browser run in a network namespace made by the test, with a veth pair for
addresses: WebRTC gathers no candidates on loopback, and no packet leaves the namespace."""

from __future__ import annotations

import os
import re
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from ..conftest import Server
from ..unit.test_dashboard import CHROMIUM, _add_user

pytestmark = pytest.mark.e2e
LINE = "Hi, I'd like to book a cleaning."


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def netns():
    name = f"fdrtc{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", name, "link", "add", "fdv0", "type", "veth", "peer", "name", "fdv1")
        for dev, addr in (("fdv0", "10.213.0.1/24"), ("fdv1", "10.213.0.2/24")):
            _ip("-n", name, "addr", "add", addr, "dev", dev)
            _ip("-n", name, "link", "set", dev, "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def ns_server(netns, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webrtc")
    server = Server(tmp, prefix=["ip", "netns", "exec", netns])
    yield server
    server.stop()


def _caller_wav(path: Path, voice) -> None:
    """10 s of quiet (the greeting plays), the caller's line, then 30 s of quiet (Chromium loops the file)."""
    speech = voice.synthesize_all(LINE).astype(np.float64)
    pcm = np.concatenate([np.zeros(80000), speech, np.zeros(240000)])
    pcm48 = np.clip(resample_poly(pcm, 6, 1), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm48.tobytes())


def test_browser_test_call_reaches_the_agent(netns, ns_server, caller_voice, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium must be installed (make test installs it)"
    wav = tmp_path / "caller.wav"
    _caller_wav(wav, caller_voice)
    browser_in_ns = tmp_path / "chromium-in-netns"
    browser_in_ns.write_text(f'#!/bin/sh\nexec ip netns exec {netns} {CHROMIUM} "$@"\n')
    browser_in_ns.chmod(0o755)
    _add_user(ns_server.data, "rtc-staff", "staff-password-rtc", "staff")
    base = f"http://127.0.0.1:{int(Path(str(ns_server.ready) + '.dashboard').read_text())}"
    before = len(ns_server.calls())
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(browser_in_ns), args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(base + "/login")
        page.fill("input[name=username]", "rtc-staff")
        page.fill("input[name=password]", "staff-password-rtc")
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(base + "/calls")
        page.click("nav a[href='/test-call']")
        page.wait_for_url(base + "/test-call")
        page.click("#call-start")
        expect(page.locator("#call-status")).to_have_text(re.compile("^Connected"), timeout=30000)
        call_id = page.get_attribute("#test-call", "data-call-id")
        assert call_id and call_id.startswith("webrtc-")
        # the greeting, the caller's line at 10 s into the recording, and the agent's reply
        deadline = time.time() + 90
        while time.time() < deadline and "caller said" not in ns_server.output():
            page.wait_for_timeout(500)
        page.wait_for_timeout(8000)
        stats = page.evaluate("""async () => {
            const out = {};
            (await window.frontdeskCall.getStats()).forEach(r => {
                if (r.type === 'inbound-rtp' && r.kind === 'audio') {
                    out.samples = r.totalSamplesReceived; out.energy = r.totalAudioEnergy; out.packets = r.packetsReceived;
                }
                if (r.type === 'outbound-rtp' && r.kind === 'audio') { out.sent = r.packetsSent; }
            });
            return out;
        }""")
        page.click("#call-end")
        expect(page.locator("#call-status")).to_have_text("Call ended.")
        browser.close()
    calls = ns_server.wait_calls(before + 1, timeout=30)
    rec = next((c for c in calls if c.get("external_id") == call_id), None)
    assert rec is not None, ns_server.output()[-3000:]
    assert rec["ingress"] == "webrtc" and rec["codec"] == "opus" and rec["transport"] == "DTLS-SRTP", rec
    agent = [t for t in rec["turns"] if t["speaker"] == "agent"]
    caller = [t for t in rec["turns"] if t["speaker"] == "caller"]
    assert agent and "Maple Street Dental" in agent[0]["text"], rec["turns"]
    assert caller and "clean" in caller[0]["text"].lower(), (rec["turns"], ns_server.output()[-3000:])
    assert len(agent) >= 2  # the agent answered the caller
    # the browser received the agent's audio (the greeting, then the reply), with sound in it
    assert stats.get("packets", 0) > 300 and stats.get("energy", 0) > 0.01, stats
    assert stats.get("sent", 0) > 300, stats
    assert rec["rtp"]["frames_out"] > 200 and rec["rtp"]["frames_in"] > 500, rec["rtp"]
    assert rec["ended_by"] == "caller", rec
    assert not [p for p in problems if "favicon" not in p], problems
