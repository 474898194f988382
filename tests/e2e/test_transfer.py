"""Handoff by SIP REFER during open hours: the pjsua2 caller is transferred to a front desk played
by a second pjsua2 endpoint (tests/helpers/pj_desk.py, its own process), which receives and answers the
transferred call; when the caller refuses the REFER, the agent falls back to a callback task."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from frontdesk.config import DEMO_CONFIG
from tools.calendar import Calendar
from tools.db import make_engine

from ..conftest import FRONTDESK, Server, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    desk_port = free_port()
    text = DEMO_CONFIG.read_text()
    # open around the clock, so that a handoff is a transfer whenever the test runs
    text = re.sub(r'^(mon|tue|wed|thu|fri|sat|sun) = "[^"]*"$', r'\1 = "00:00-23:59"', text, flags=re.M)
    text = text.replace('front_desk_uri = ""', f'front_desk_uri = "sip:desk@127.0.0.1:{desk_port}"')
    cfg = tmp / "clinic.toml"
    cfg.write_text(text)
    server = Server(tmp, config=str(cfg))
    yield server, desk_port
    server.stop()


def start_desk(port: int, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    """The front desk phone (tests/helpers/pj_desk.py) on 127.0.0.1:port, once it listens; ``extra``:
    more of its options."""
    seen = tmp_path / "desk.json"
    log = open(tmp_path / "desk.log", "w")
    desk = subprocess.Popen([sys.executable, str(Path(__file__).parents[1] / "helpers" / "pj_desk.py"), "--port", str(port),
                             "--json", str(seen), "--rtp-port", "43200", "--timeout", "400", *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.time() + 20
    while not seen.exists():
        assert desk.poll() is None and time.time() < deadline, (tmp_path / "desk.log").read_text()[-3000:]
        time.sleep(0.1)
    return desk, seen


def test_transfer_to_the_front_desk_by_refer(desk_server, tmp_path):
    server, desk_port = desk_server
    desk, desk_json = start_desk(desk_port, tmp_path)
    try:
        before = len(server.calls())
        out = tmp_path / "call.json"
        proc = subprocess.run([FRONTDESK, "call", server.uri, "--caller-id", "+12025550160", "--json", str(out),
                               "--say", "Can I talk to a real person, please?"], capture_output=True, text=True, timeout=300)
        result = json.loads(out.read_text())
        record = server.wait_calls(before + 1)[-1]
        context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1)
        assert proc.returncode == 0, context
        assert result["transfer"] == f"sip:desk@127.0.0.1:{desk_port}", context
        assert result["ended_by"] == "agent", context
        assert record["outcome"] == "transferred" and record["transfer"]["ok"] is True, context
        assert any("transfer you" in t["text"] for t in record["turns"] if t["speaker"] == "agent")
    finally:
        try:
            desk.wait(60)
        except subprocess.TimeoutExpired:
            desk.kill()
            desk.wait()
    # the desk received the transferred call: from the caller's own account (pjsua2 placed the
    # new call as RFC 3515 asks), answered and confirmed, with media, then ended by one side
    desk_log = (tmp_path / "desk.log").read_text()[-3000:]
    seen = json.loads(desk_json.read_text())
    context = json.dumps(seen, indent=1) + desk_log
    assert desk.returncode == 0 and seen["exit"] == "ok", context
    assert seen["invites"] == 1 and seen["confirmed"] and seen["media_active"], context
    assert seen["from_user"] == "+12025550160" and "+12025550160" in seen["remote_uri"], context
    assert seen["user_agent"] == "frontdesk-test-caller (pjsua2)", context
    assert seen["states"][-2:] == ["CONFIRMED", "DISCONNECTED"] and seen["ended_by"] in ("caller", "desk"), context
    # pjsua2 copies the REFER's Referred-By (frontdesk's URI) into the new INVITE
    assert seen["referred_by"] and "frontdesk@" in seen["referred_by"], context


def test_refused_transfer_falls_back_to_a_callback(desk_server, tmp_path):
    server, _ = desk_server
    before = len(server.calls())
    out = tmp_path / "call.json"
    proc = subprocess.run([FRONTDESK, "call", server.uri, "--caller-id", "+12025550161", "--json", str(out), "--refuse-transfer",
                           "--say", "I want to speak to the receptionist.", "--say", "No, that's all. Goodbye."],
                          capture_output=True, text=True, timeout=300)
    record = server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1)
    assert proc.returncode == 0, context
    assert record["transfer"]["ok"] is False and record["outcome"] == "callback", context
    cal = Calendar(make_engine(f"sqlite:///{(server.data / 'frontdesk.db').resolve()}"), "America/New_York")
    assert any(t.phone == "+12025550161" for t in cal.callbacks()), context
    assert any("couldn't reach the front desk" in t["text"] for t in record["turns"] if t["speaker"] == "agent"), context
