"""The no-model echo app (`frontdesk serve --app echo`) against the pjsua2 test caller: the line
check without models. Speech comes back to the caller, and RFC 4733 DTMF goes both ways: pjsua2
sends digits, frontdesk detects them and sends them back, and pjsua2 receives them."""

import json
import re
import subprocess

import pytest

from ..conftest import FRONTDESK

pytestmark = pytest.mark.e2e


def test_pjsua_speech_and_dtmf_both_ways(echo_server, tmp_path):
    before = len(echo_server.calls())
    out = tmp_path / "call.json"
    proc = subprocess.run([FRONTDESK, "call", echo_server.uri, "--no-transcribe", "--say", "Hello there.",
                           "--dtmf", "12#", "--json", str(out)], capture_output=True, text=True, timeout=120)
    calls = echo_server.wait_calls(before + 1)
    record = calls[-1] if len(calls) > before else None
    context = proc.stdout + proc.stderr + echo_server.output()[-2000:] + f"\nrecord: {record}"
    assert proc.returncode == 0, context
    result = json.loads(out.read_text())
    assert result["answered"] and result["ended_by"] == "caller" and result["bye_status"] == 200, context

    # DTMF: frontdesk detected the caller's digits, and the caller received them back (RFC 4733)
    assert record is not None, context
    assert "".join(record["dtmf"]) == "12#", context
    assert result["dtmf_received"] == "12#", context

    # speech: the echo app heard one utterance and played it back after the caller finished
    assert record["outcome"] == "echo" and record["ended_by"] == "caller", context
    assert [t["speaker"] for t in record["turns"]] == ["caller"], context
    assert re.fullmatch(r"\[\d+ ms of speech\]", record["turns"][0]["text"]), context
    said = next(t for t in result["turns"] if t["speaker"] == "caller" and t["text"] == "Hello there.")
    heard = [t for t in result["turns"] if t["speaker"] == "agent"]
    assert heard and heard[0]["start_ms"] < said["start_ms"], context  # the beep, before the caller spoke
    echo = [t for t in heard if t["start_ms"] >= said["end_ms"]]
    assert echo, context
    # about as long as what was said (the caller's turn ends at the end of its voiced audio)
    assert abs((echo[0]["end_ms"] - echo[0]["start_ms"]) - (said["end_ms"] - said["start_ms"])) < 600, context
    rtp = record["rtp"]
    assert rtp["packets_in"] > 50 and rtp["packets_out"] > 50 and rtp["lost_in"] == 0, rtp
