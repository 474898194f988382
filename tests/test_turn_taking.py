"""Barge-in over a real call: the caller talks over the greeting and the agent stops and listens;
the agent's own echo coming back on the line does not stop it."""

import json
import subprocess

import pytest

from .conftest import FRONTDESK

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
