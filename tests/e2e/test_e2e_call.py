"""End to end: a real pjsua2 caller (`frontdesk call`) and sipp against `frontdesk serve` with the real models."""

import difflib
import json
import os
import re
import shutil
import socket
import subprocess
import textwrap

import pytest

from ..conftest import BIN, FRONTDESK, finished_calls
from ..helpers.sipmsgs import request

pytestmark = pytest.mark.e2e
LINE = "Hi, I'd like to book a cleaning."


def norm(text: str) -> str:
    return re.sub(r"[^a-z ]", "", text.lower())


def similar(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, norm(a), norm(b)).ratio()


def run_call(uri: str, out, *says, timeout=240):
    cmd = [FRONTDESK, "call", uri, "--json", str(out)]
    for s in says:
        cmd += ["--say", s]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return proc, json.loads(out.read_text())


def check_call(result: dict, proc, server_calls: list[dict]):
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result["answered"] and result["sip_status"] == 200
    agent = [t for t in result["turns"] if t["speaker"] == "agent"]
    assert agent, result
    # the greeting, as heard and transcribed at the caller, names the clinic
    assert "maple street dental" in norm(agent[0]["text"]), agent[0]
    # the call ended with BYE and a 200
    assert result["ended_by"] == "caller" and result["bye_status"] == 200
    record = server_calls[-1]
    caller_turns = [t for t in record["turns"] if t["speaker"] == "caller"]
    assert caller_turns and similar(caller_turns[0]["text"], LINE) > 0.7, record["turns"]
    # an agent reply followed the caller's line, on the server and at the caller
    idx = record["turns"].index(caller_turns[0])
    assert any(t["speaker"] == "agent" for t in record["turns"][idx + 1:])
    assert len(agent) >= 2 and agent[1]["start_ms"] > [t for t in result["turns"] if t["speaker"] == "caller"][0]["end_ms"]
    assert result["latency_ms"][0] is not None and result["latency_ms"][0] > 0
    assert record["ended_by"] == "caller" and record["end_reason"] == "BYE"


def test_real_call_through_every_layer(server, tmp_path):
    before = len(server.calls())
    proc, result = run_call(server.uri, tmp_path / "out.json", LINE)
    calls = server.wait_calls(before + 1)
    check_call(result, proc, calls)
    assert "agent:" in proc.stdout and "caller:" in proc.stdout  # the readable transcript


def test_sipp_uac_completes_5_of_5(server, tmp_path):
    sipp = shutil.which("sipp")
    assert sipp, "sipp (Debian sip-tester) must be installed: make test installs it"
    proc = subprocess.run([sipp, "-sn", "uac", "-m", "5", "-r", "5", "-timeout", "60", "-nostdin",
                           "-i", "127.0.0.1", "-p", "0",
                           f"127.0.0.1:{server.port}"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"Successful call\s+\|\s+\d+\s+\|\s+5", proc.stdout), proc.stdout[-3000:]


def sip_exchange(port: int, data: bytes, expect: int = 1) -> list[bytes]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    my_port = s.getsockname()[1]
    s.sendto(data.replace(b"127.0.0.1:5099", f"127.0.0.1:{my_port}".encode()), ("127.0.0.1", port))
    out = []
    try:
        while len(out) < expect:
            out.append(s.recv(65535))
    finally:
        s.close()
    return out


def test_server_answers_488_400_and_stays_up(server):
    g729 = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n")
    replies = sip_exchange(server.port, request("INVITE", call_id="g729@test", body=g729), expect=2)
    assert replies[0].startswith(b"SIP/2.0 100") and replies[1].startswith(b"SIP/2.0 488")
    bad = request("OPTIONS", call_id="bad@test").replace(b"CSeq: 1 OPTIONS", b"CSeq: banana")
    assert sip_exchange(server.port, bad)[0].startswith(b"SIP/2.0 400")
    assert sip_exchange(server.port, request("OPTIONS", call_id="ok@test"))[0].startswith(b"SIP/2.0 200")


@pytest.mark.skipif(os.geteuid() != 0 and shutil.which("unshare") is None, reason="needs unshare")
def test_call_inside_an_offline_network_namespace(tmp_path):
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode().strip()}")
    script = tmp_path / "netns.sh"
    script.write_text(textwrap.dedent(f"""\
        set -eu
        ip link set lo up
        # only loopback exists: nothing can reach for the network
        test "$(ip -o link show | wc -l)" = 1
        {BIN}/frontdesk serve --port 0 --dashboard-port 0 --ready-file {tmp_path}/ready --data-dir {tmp_path}/var > {tmp_path}/serve.log 2>&1 &
        SERVER=$!
        for i in $(seq 1 900); do [ -s {tmp_path}/ready ] && break; sleep 0.2; done
        PORT=$(cat {tmp_path}/ready)
        set +e
        {BIN}/frontdesk call sip:frontdesk@127.0.0.1:$PORT --say "{LINE}" --json {tmp_path}/out.json > {tmp_path}/call.log 2>&1
        RC=$?
        sleep 1
        kill $SERVER; wait $SERVER
        exit $RC
        """))
    proc = subprocess.run(["unshare", "-n", "bash", str(script)], capture_output=True, text=True, timeout=400)
    call_log = (tmp_path / "call.log").read_text() if (tmp_path / "call.log").exists() else ""
    assert proc.returncode == 0, proc.stderr + call_log + (tmp_path / "serve.log").read_text()[-3000:]
    result = json.loads((tmp_path / "out.json").read_text())
    calls = finished_calls(tmp_path / "var")
    check_call(result, proc, calls)
