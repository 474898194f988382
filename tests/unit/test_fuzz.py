"""A short, fixed-seed pass of the fuzzing that `make fuzz` runs long: hypothesis properties on the
parsers, and a few seconds of atheris per target (coverage-guided, then blind)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.targets import TARGETS, seeds
from media.sip.message import SipParseError, parse

ROOT = Path(__file__).resolve().parents[2]
FIXED = settings(derandomize=True, max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"), min_size=1, max_size=12)
value = st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF, blacklist_characters="\r\n"), max_size=40)


@FIXED
@given(method=st.sampled_from(["INVITE", "OPTIONS", "BYE", "FOO"]), user=token, headers=st.lists(st.tuples(token, value), max_size=8),
       body=st.binary(max_size=200), compact=st.booleans())
def test_sip_round_trip_is_stable(method, user, headers, body, compact):
    lines = [f"{method} sip:{user}@example.com SIP/2.0", "Via: SIP/2.0/UDP h:5060;branch=z9hG4bK1",
             f"{'f' if compact else 'From'}: <sip:a@b>;tag=1", "To: <sip:c@d>", "Call-ID: x", f"CSeq: 1 {method}"]
    lines += [f"X-{name}: {val}" for name, val in headers]
    data = ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    try:
        msg = parse(data)
    except SipParseError:
        return
    once = msg.serialize()
    assert parse(once).serialize() == once
    assert msg.body == body


@pytest.mark.parametrize("name", sorted(TARGETS))
@FIXED
@given(data=st.binary(max_size=600))
def test_targets_accept_any_bytes(name, data):
    TARGETS[name](data)


@pytest.mark.parametrize("name", sorted(TARGETS))
@FIXED
@given(cut=st.integers(0, 400), flip=st.integers(0, 400), byte=st.integers(0, 255))
def test_targets_survive_damaged_seeds(name, cut, flip, byte):
    for seed in seeds(name):
        damaged = bytearray(seed[:max(cut, 1) * 4])
        if damaged:
            damaged[flip % len(damaged)] = byte
        TARGETS[name](bytes(damaged))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_atheris_short_run(name, tmp_path):
    counts = []
    for extra in ([], ["--no-coverage"]):
        proc = subprocess.run([sys.executable, str(ROOT / "fuzz" / "run.py"), name, "--seconds", "3", "--corpus",
                               str(tmp_path), *extra], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr[-4000:]
        counts.append(int(re.search(r"Done (\d+) runs", proc.stderr).group(1)))
    print(f"fuzz {name}: {counts[0]} executions with coverage + {counts[1]} blind, 0 crashes")
    assert counts[0] > 100 and counts[1] > 1000
