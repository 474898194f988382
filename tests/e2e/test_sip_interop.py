"""SIP against independent stacks: in-call offers (hold, resume, codec change) from sipp and from
pjsua2, session timers in both roles, and the RTP timeout."""

import json
import re
import socket
import shutil
import subprocess
from pathlib import Path

import pytest

from frontdesk.config import DEMO_CONFIG

from ..conftest import FRONTDESK, Server, free_port

pytestmark = pytest.mark.e2e
SCENARIOS = Path(__file__).parents[1] / "sipp"


def sipp(scenario: str, port: int, tmp_path, timeout: float = 90) -> subprocess.CompletedProcess:
    exe = shutil.which("sipp")
    assert exe, "sipp (Debian sip-tester) must be installed: make test installs it"
    return subprocess.run([exe, "-sf", str(SCENARIOS / scenario), "-m", "1", "-timeout", str(int(timeout)), "-nostdin",
                           "-i", "127.0.0.1", "-p", "0", "-mp", "42000", "-trace_err", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=timeout + 30, cwd=tmp_path)


def passed(proc: subprocess.CompletedProcess) -> bool:
    return proc.returncode == 0 and bool(re.search(r"Successful call\s+\|\s+\d+\s+\|\s+1", proc.stdout))


def details(proc, tmp_path, server) -> str:
    errors = "".join(p.read_text()[-3000:] for p in tmp_path.glob("*_errors.log"))
    return proc.stdout[-2500:] + errors + server.output()[-3000:]


@pytest.fixture(scope="module")
def timer_server(tmp_path_factory):
    """The demo clinic with a short minimum session interval and RTP timeout, for quick tests,
    and SIP over TLS with a self-signed certificate made here."""
    tmp = tmp_path_factory.mktemp("timers")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
                   check=True, capture_output=True)
    tls_port = free_port(socket.SOCK_STREAM)
    text = DEMO_CONFIG.read_text()
    text = text.replace('transport = "udp"', f'transport = "udp,tls"\ntls_port = {tls_port}\n'
                        f'tls_certificate = "{tmp / "cert.pem"}"\ntls_private_key = "{tmp / "key.pem"}"', 1)
    text = re.sub(r"^session_expires_min_s = \d+$", "session_expires_min_s = 4", text, flags=re.M)
    text = re.sub(r"^rtp_timeout_s = \d+$", "rtp_timeout_s = 12", text, flags=re.M)
    text = re.sub(r"^answer_delay_ms = \d+$", "answer_delay_ms = 1500", text, flags=re.M)
    assert "session_expires_min_s = 4" in text and "rtp_timeout_s = 12" in text
    cfg = tmp / "clinic.toml"
    cfg.write_text(text)
    server = Server(tmp, config=str(cfg))
    server.tls_port = tls_port
    yield server
    server.stop()


def test_sipp_hold_resume_and_codec_change_by_reinvite(server, tmp_path):
    before = len(server.calls())
    proc = sipp("reinvite_hold.xml", server.port, tmp_path)
    assert passed(proc), details(proc, tmp_path, server)
    record = server.wait_calls(before + 1)[-1]
    assert [h["hold"] for h in record["holds"]] == [True, False], record
    assert record["codec"] == "PCMA", record  # the resume offered only A-law


def test_pjsua_hold_and_resume(server, tmp_path):
    before = len(server.calls())
    out = tmp_path / "call.json"
    proc = subprocess.run([FRONTDESK, "call", server.uri, "--json", str(out), "--hold-after", "1", "--hold-s", "3",
                           "--say", "Hi, I'd like to book a cleaning.", "--say", "My name is John Smith."],
                          capture_output=True, text=True, timeout=300)
    record = server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1) + json.dumps(record["holds"])
    assert proc.returncode == 0, context
    assert [h["hold"] for h in record["holds"]] == [True, False], context
    # the conversation went on after the resume: the name was taken
    assert record["qualification"]["caller_name"] == "John Smith", context
    # RTCP both ways: pjsua2's receiver reports about our stream give the round-trip time
    rtp = record["rtp"]
    assert rtp["rtcp_out"] >= 2 and rtp["rtcp_in"] >= 1, rtp
    assert rtp["peer_report"].get("rtt_ms") is not None and rtp["peer_report"]["rtt_ms"] < 200, rtp
    assert rtp["expected_in"] >= rtp["packets_in"] - 5 and rtp["lost_in"] == 0, rtp


def test_session_timer_caller_refreshes_then_stops(timer_server, tmp_path):
    before = len(timer_server.calls())
    proc = sipp("session_timer_uac.xml", timer_server.port, tmp_path)
    assert passed(proc), details(proc, tmp_path, timer_server)
    record = timer_server.wait_calls(before + 1)[-1]
    assert record["ended_by"] == "agent" and record["end_reason"] == "session timer expired", record


def test_session_timer_frontdesk_refreshes(timer_server, tmp_path):
    before = len(timer_server.calls())
    proc = sipp("session_timer_uas.xml", timer_server.port, tmp_path)
    assert passed(proc), details(proc, tmp_path, timer_server)
    record = timer_server.wait_calls(before + 1)[-1]
    assert record["ended_by"] == "caller", record


def test_a_call_without_rtp_is_ended(timer_server, tmp_path):
    before = len(timer_server.calls())
    proc = sipp("no_rtp.xml", timer_server.port, tmp_path)
    assert passed(proc), details(proc, tmp_path, timer_server)
    record = timer_server.wait_calls(before + 1)[-1]
    assert record["end_reason"] == "no RTP for 12 s", record


def test_call_over_tls_with_srtp(timer_server, tmp_path):
    """TLS signalling and SDES-keyed SRTP media, as Twilio Secure Trunking uses: the agent must hear
    and answer the caller's words through the encryption both ways."""
    before = len(timer_server.calls())
    out = tmp_path / "call.json"
    uri = f"sip:frontdesk@127.0.0.1:{timer_server.tls_port};transport=tls"
    proc = subprocess.run([FRONTDESK, "call", uri, "--transport", "tls", "--srtp", "--json", str(out), "--no-transcribe",
                           "--say", "What are your hours?", "--say", "Goodbye."], capture_output=True, text=True, timeout=300)
    record = timer_server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + timer_server.output()[-2000:]
    assert proc.returncode == 0, context
    assert record["transport"] == "TLS" and record["ended_by"] == "agent" and record["bye_status"] == 200, context
    assert record["codec"].endswith("/SRTP") and record["rtp"]["srtp"] == "AES_CM_128_HMAC_SHA1_80", record["rtp"]
    assert record["rtp"]["srtp_auth_failures"] == 0 and record["rtp"]["bad_packets"] == 0, record["rtp"]
    assert [t["intent"] for t in record["turns"] if t["speaker"] == "agent"][-1] == "goodbye", context
    assert json.loads(out.read_text())["latency_ms"][0] is not None  # the caller heard the agent's reply


def test_cancel_while_it_rings(timer_server, tmp_path):
    before = len(timer_server.calls())
    proc = sipp("cancel.xml", timer_server.port, tmp_path)
    assert passed(proc), details(proc, tmp_path, timer_server)
    assert len(timer_server.calls()) == before  # never answered: no call record, the RTP port freed


def test_options_ping(server, tmp_path):
    proc = sipp("options.xml", server.port, tmp_path)
    assert passed(proc), details(proc, tmp_path, server)


def test_a_caller_that_never_acks_gets_a_bye(server, tmp_path):
    before = len(server.calls())
    proc = sipp("no_ack.xml", server.port, tmp_path)
    assert passed(proc), details(proc, tmp_path, server)
    record = server.wait_calls(before + 1)[-1]
    # sipp ignored the 200 and its retransmissions and got a BYE: from the no-ACK timer (64*T1) or
    # from the agent giving up on a silent caller first, whichever came first on this machine
    assert record["ended_by"] == "agent", record
    assert record["end_reason"] in ("no ACK for 200 OK", "agent ended the call"), record
