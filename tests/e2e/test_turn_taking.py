"""Barge-in over a real call: the caller talks over the greeting and the agent stops and listens;
the agent's own echo coming back on the line does not stop it."""

import json
import subprocess

import pytest

from ..conftest import FRONTDESK

pytestmark = pytest.mark.e2e


def call(server, tmp_path, *args, says=()):
    out = tmp_path / "call.json"
    cmd = [FRONTDESK, "call", server.uri, "--json", str(out), *args]
    for line in says:
        cmd += ["--say", line]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return proc, json.loads(out.read_text())


def test_caller_interrupts_the_greeting(server, tmp_path):
    before = len(server.calls())
    proc, result = call(server, tmp_path, "--barge-in-ms", "2500", says=["I'd like to book a cleaning please."])
    record = server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1)
    assert proc.returncode == 0, context
    greeting = record["turns"][0]
    assert greeting["speaker"] == "agent" and greeting.get("interrupted") is True, context
    assert len(greeting["heard"]) < len(greeting["text"]) and greeting["heard"].startswith("Thank you"), context
    # the agent stopped soon after the caller began (400 ms of speech to decide, then one packet)
    assert result["barge_in"]["stop_after_ms"] <= 1000, result["barge_in"]
    # and it answered what the caller said
    caller = [t for t in record["turns"] if t["speaker"] == "caller"]
    assert caller and "cleaning" in caller[0]["text"].lower(), context
    assert record["turns"][record["turns"].index(caller[0]) + 1]["intent"] == "name", context


def test_line_echo_of_the_agent_does_not_interrupt(server, tmp_path):
    before = len(server.calls())
    proc, result = call(server, tmp_path, "--echo-db", "-10", "--echo-delay-ms", "200", says=["Goodbye."])
    record = server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1)
    assert proc.returncode == 0, context
    agent = [t for t in record["turns"] if t["speaker"] == "agent"]
    assert not any(t.get("interrupted") for t in agent), context
    assert agent[-1]["intent"] == "goodbye", context


def test_a_backchannel_does_not_interrupt(server, tmp_path):
    before = len(server.calls())
    proc, result = call(server, tmp_path, "--barge-in-ms", "2500", says=["Uh-huh."])
    record = server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1) + json.dumps(record.get("barge_in"))
    assert proc.returncode == 0, context
    greeting = record["turns"][0]
    assert greeting["intent"] == "greeting" and not greeting.get("interrupted"), context
    # the agent held its audio for a moment and went on; "uh-huh" was not taken as a turn
    assert record["barge_in"]["pauses"] >= 1 and record["barge_in"]["resumes"] >= 1, context
    assert not [t for t in record["turns"] if t["speaker"] == "caller"], context


def test_a_long_pause_inside_a_phone_number_does_not_end_the_turn(server, tmp_path):
    before = len(server.calls())
    proc, result = call(server, tmp_path, "--caller-id", "anonymous",
                        says=["I'd like to book a cleaning.", "My name is John Smith.",
                              "Two zero two, five five five. [pause 1000] Zero one four three."])
    record = server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1)
    assert proc.returncode == 0, context
    # about 1.6 s of silence with the voice's own pauses: twice what ends a turn after a number question
    callers = [t["text"] for t in record["turns"] if t["speaker"] == "caller"]
    assert len(callers) == 3, context  # one turn for the whole number, not two
    digits = "".join(c for c in callers[2] if c.isdigit())
    assert digits.startswith("202") and digits.endswith("143"), context  # both halves, however Whisper spells them


def test_a_correction_after_a_read_back_is_not_cut_at_the_yes_no_pause(server, tmp_path):
    """After "Is that right?" a short pause ends a yes or no; a caller who goes on to correct
    the number and pauses inside it keeps the turn."""
    before = len(server.calls())
    proc, result = call(server, tmp_path, "--caller-id", "anonymous",
                        says=["I'd like to book a cleaning.", "My name is John Smith.",
                              "Two zero two, five five five, zero one four four.",
                              "No, you got it wrong, it's two zero two, five five five, [pause 600] zero one four three."])
    record = server.wait_calls(before + 1)[-1]
    context = proc.stdout + proc.stderr + json.dumps(record["turns"], indent=1)
    assert proc.returncode == 0, context
    callers = [t["text"] for t in record["turns"] if t["speaker"] == "caller"]
    assert len(callers) == 4, context  # the correction in one turn
    digits = "".join(c for c in callers[3] if c.isdigit())
    assert digits.endswith("143"), context


def test_rtp_pacing_holds_while_three_calls_run_the_models(server, tmp_path):
    """Three calls at once keep Whisper, the LLM and Piper busy; the agent's packets still leave
    on the 20 ms clock."""
    before = len(server.calls())
    lines = ["Hi, I'd like to book a cleaning.", "My name is John Smith.", "What are your hours?", "Goodbye."]
    procs = []
    for i in range(3):
        cmd = [FRONTDESK, "call", server.uri, "--caller-id", f"+1202555017{i}", "--json", str(tmp_path / f"p{i}.json"),
               "--no-transcribe"]
        for line in lines:
            cmd += ["--say", line]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=400)[0] for p in procs]
    records = server.wait_calls(before + 3)[before:]
    context = "\n".join(outputs) + json.dumps([r["rtp"] for r in records], indent=1)
    assert all(p.returncode == 0 for p in procs), context
    for rec in records:
        pacing = rec["rtp"]["send_pacing"]
        assert pacing["n"] > 500, context  # seconds of audio, not a handful of packets
        # The 5 ms goal is measured by bench/latency.py; on this shared 2-core machine a test
        # allows 10 ms, which still fails at once if inference ever blocks the media loop.
        assert pacing["p99_ms"] <= 10.0 and pacing["max_ms"] <= 60.0, context
        assert rec["latency"] and all(t["intent"] for t in rec["latency"]), context
