"""`frontdesk serve --drain`: the running node finishes its live call, answers new calls and OPTIONS
probes with 503, and stops when the last call ends."""

import subprocess
import time

import pytest

from ..conftest import FRONTDESK, EchoServer
from ..helpers.sipmsgs import SDP_PCMU, request
from .test_hostile import options_answered

pytestmark = pytest.mark.e2e


def _send(port: int, data: bytes) -> bytes:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(data, ("127.0.0.1", port))
        reply = s.recv(65535)
        while reply.startswith(b"SIP/2.0 100"):
            reply = s.recv(65535)
        return reply


def test_drain_finishes_the_live_call_refuses_new_ones_and_stops(tmp_path):
    server = EchoServer(tmp_path)
    try:
        live = subprocess.Popen([FRONTDESK, "call", server.uri, "--no-transcribe", "--say", "Hello. [pause 12000] Still here."],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        while "answering with" not in server.output() and time.time() < deadline:
            time.sleep(0.2)
        drain = subprocess.Popen([FRONTDESK, "serve", "--drain", "--data-dir", str(server.data)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30  # the drain command's start-up (imports) is slow on a busy machine
        while "draining: 1 live call" not in server.output() and time.time() < deadline:
            time.sleep(0.2)
        assert not options_answered(server.port)  # the probe now gets 503
        assert _send(server.port, request("OPTIONS", call_id="probe", branch="z9hG4bK-p")).startswith(b"SIP/2.0 503")
        refused = _send(server.port, request("INVITE", call_id="new", branch="z9hG4bK-new", body=SDP_PCMU))
        assert refused.startswith(b"SIP/2.0 503") and b"Retry-After" in refused
        out, _ = live.communicate(timeout=120)
        assert live.returncode == 0, out  # the live call went on to its end
        drain_out, _ = drain.communicate(timeout=60)
        assert drain.returncode == 0 and "drained and stopped" in drain_out, drain_out
        assert server.proc.wait(30) == 0
        assert "draining: 1 live call" in server.output()
    finally:
        server.stop()


def test_max_calls_sends_the_next_call_elsewhere(tmp_path):
    from frontdesk.config import DEMO_CONFIG

    cfg = tmp_path / "one-call.toml"
    text = DEMO_CONFIG.read_text()
    assert "max_calls = 0" in text
    cfg.write_text(text.replace("max_calls = 0", "max_calls = 1"))
    server = EchoServer(tmp_path, config=str(cfg))
    try:
        assert options_answered(server.port)  # no call yet: in rotation
        live = subprocess.Popen([FRONTDESK, "call", server.uri, "--no-transcribe", "--say", "Hello. [pause 4000] Still here."],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        while "answering with" not in server.output() and time.time() < deadline:
            time.sleep(0.2)
        refused = _send(server.port, request("INVITE", call_id="second", branch="z9hG4bK-2nd", body=SDP_PCMU))
        assert refused.startswith(b"SIP/2.0 503") and b"at capacity" in refused and b"Retry-After: 5" in refused
        assert not options_answered(server.port)  # a load balancer's probe takes it out of rotation
        out, _ = live.communicate(timeout=120)
        assert live.returncode == 0, out
        time.sleep(0.5)
        assert options_answered(server.port)  # the call ended: back in rotation
    finally:
        server.stop()


def test_an_invite_the_server_was_too_far_behind_to_read_in_time_gets_503(tmp_path):
    """Overload control: the server stopped (SIGSTOP stands in for a process far behind its work)
    while an INVITE waited in its UDP receive queue. Read 0.8 s later (sip.overload_backlog_ms is
    300), the INVITE is refused at once with 503, and the node goes on answering promptly."""
    import os
    import signal
    import socket

    server = EchoServer(tmp_path)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                s.sendto(request("INVITE", call_id="queued", branch="z9hG4bK-q", body=SDP_PCMU), ("127.0.0.1", server.port))
                time.sleep(0.8)
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            reply = s.recv(65535)
            assert reply.startswith(b"SIP/2.0 503 Service Unavailable (overloaded)") and b"Retry-After: 5" in reply, reply
        assert options_answered(server.port)  # not taken out of rotation: it is prompt again
        deadline = time.time() + 5
        while "1 new call(s) refused with 503" not in server.output() and time.time() < deadline:
            time.sleep(0.2)
        assert "overloaded: 1 new call(s) refused with 503" in server.output()
        assert "answering" not in server.output()  # no call, no RTP port, was set up for it
    finally:
        server.stop()


def test_a_stopped_server_reports_its_media_clock_fell_behind_and_why(tmp_path):
    """A live call, and the server process stopped (SIGSTOP) for 0.5 s: its media clock counts the
    stall as the process not running, logs it, and /metrics has the count by cause."""
    import os
    import re
    import signal
    import urllib.request

    server = EchoServer(tmp_path)
    try:
        live = subprocess.Popen([FRONTDESK, "call", server.uri, "--no-transcribe", "--say", "Hello. [pause 6000] Bye."],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 30
        while "answering with" not in server.output() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(0.5)
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        deadline = time.time() + 10
        while "media clock" not in server.output() and time.time() < deadline:
            time.sleep(0.2)
        assert re.search(r"media clock \d+ ms behind with 1 calls: the process got \d+% of the CPU", server.output()), \
            server.output()[-2000:]
        port = int((tmp_path / "ready.dashboard").read_text())
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        stalls = dict(re.findall(r'^frontdesk_media_clock_stalls_total\{cause="(\w+)"\} (\S+)$', text, re.M))
        assert float(stalls["off_cpu"]) >= 1 and "busy" in stalls, stalls
        out = live.communicate(timeout=60)[0]
        assert live.returncode == 0, out  # the call went on after the stall
    finally:
        server.stop()
