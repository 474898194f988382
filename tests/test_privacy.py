"""Privacy controls: redaction, encryption at rest, retention purge, no PHI in logs, recording with
consent, the report. The end-to-end test is a real call over SIP with the real models."""

import json
import os
import re
import subprocess
import time
import tracemalloc
import wave
from datetime import timedelta

import pytest

from frontdesk.config import DEMO_CONFIG
from tools.crypto import ContentCipher, KeyError_, new_key
from tools.db import make_engine
from tools.records import AuditEvent, RecordStore, utcnow
from tools.redact import redact_record, redact_text

from .conftest import FRONTDESK, Server


@pytest.mark.parametrize("text,gone", [
    ("call me at 202-555-0143 please", "555"),
    ("my number is (202) 555 0143", "555"),
    ("it's +1 202 555 0143", "555"),
    ("two zero two five five five zero one four three", "five five"),
    ("email jane.doe@example.org", "jane.doe"),
    ("born 04/12/1990", "1990"),
    ("I was born on April 12th, 1990.", "1990"),
    ("from sip:+12025550143@10.0.0.1", "2025550143"),
])
def test_redaction_masks_numbers_emails_and_birth_dates(text, gone):
    out = redact_text(text)
    assert gone not in out, out
    assert "[" in out


def test_redaction_keeps_ordinary_words_times_and_addresses():
    for text in ("Tuesday at 10:30 for a cleaning", "SIP from 127.0.0.1:5060 rejected", "RTP from 10.20.30.40:20000"):
        assert redact_text(text) == text


def _record(call_id: str, started: float, text: str = "My name is John Smith, 202-555-0143.") -> dict:
    return {"call_id": call_id, "started_at": started, "answered_at": started + 1, "ended_at": started + 61,
            "caller": "sip:+12025550143@10.0.0.1", "caller_number": "+12025550143", "outcome": "booked",
            "turns": [{"speaker": "caller", "text": text, "t_ms": 1000}],
            "qualification": {"caller_name": "John Smith", "phone_number": "+12025550143", "handoff_reason": ""},
            "latency": [{"total_ms": 700}, {"total_ms": 900}], "misunderstandings": 1,
            "tool_calls": [{"name": "book", "args": {"name": "John Smith"}, "result": "ok"}]}


def test_encrypted_content_is_not_in_the_database_file_and_needs_the_key(tmp_path):
    db = tmp_path / "f.db"
    key = new_key().encode()
    store = RecordStore(make_engine(f"sqlite:///{db}"), ContentCipher(key))
    store.save(_record("c1", 1.8e9))
    store.engine.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"Smith" not in raw and b"555-0143" not in raw
    row = store.get("c1")
    assert "John Smith" in store.content(row)["turns"][0]["text"]
    with pytest.raises(KeyError_):
        RecordStore(store.engine, ContentCipher(new_key().encode())).content(row)
    with pytest.raises(KeyError_):
        RecordStore(store.engine).content(row)


def test_redacted_storage_and_purge_keeps_the_measures(tmp_path):
    store = RecordStore(make_engine(f"sqlite:///{tmp_path / 'f.db'}"), redact_content=True)
    now = time.time()
    store.save(_record("old", now - 100 * 86400))
    store.save(_record("new", now - 3600))
    new = store.content(store.get("new"))
    assert "555" not in json.dumps(new) and new["qualification"]["caller_name"] == "[caller_name]"
    before = store.report()
    assert store.purge(90) == 1
    after = store.report()
    assert after == before  # the counts, rates and latency stay
    old = store.get("old")
    assert old.content == "" and old.purged_at is not None and "0143" not in old.caller
    assert store.content(store.get("new"))["turns"]  # within retention: kept
    assert any(e.action == "purge" for e in store.audit_log())
    assert store.purge(90) == 0  # nothing left to do


def test_report_measures(tmp_path):
    store = RecordStore(make_engine(f"sqlite:///{tmp_path / 'f.db'}"))
    t = time.time() - 600
    store.save(_record("a", t))
    callback = _record("b", t + 1)
    callback.update(outcome="callback", qualification={"handoff_reason": "asked for a person"})
    store.save(callback)
    store.save({"call_id": "c", "started_at": t + 2, "outcome": "failed", "turns": []})  # never answered
    r = store.report()
    assert r["calls"] == 3 and r["answered"] == 2 and r["answer_rate"] == round(2 / 3, 3)
    assert r["outcomes"]["booked"] == 1 and r["handoff_rate"] == round(1 / 3, 3)
    assert r["booking_completion_rate"] == 1.0 and r["latency_p50_ms"] == 700 and r["latency_p95_ms"] == 900
    since = store.report(utcnow() - timedelta(minutes=1))
    assert since["calls"] == 0


def test_the_report_does_not_load_the_call_history_into_memory(tmp_path):
    """/metrics asks for the report every few seconds; a clinic's history grows without end. Loading
    every row for it made the server's memory grow with each call it had ever taken."""
    store = RecordStore(make_engine(f"sqlite:///{tmp_path / 'f.db'}"))
    t = time.time() - 86400
    store.save_many([_record(f"c{i}", t + i, text="a caller's long sentence " * 40) for i in range(3000)])
    assert store.report()["calls"] == 3000  # warm the statement caches
    tracemalloc.start()
    try:
        r = store.report()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r["calls"] == 3000 and r["outcomes"]["booked"] == 3000 and r["latency_p50_ms"] == 700
    assert peak < 512 * 1024, f"the report allocated {peak} bytes at its peak for 3000 calls"


@pytest.fixture(scope="module")
def private_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("private")
    key_file = tmp / "data.key"
    subprocess.run([FRONTDESK, "keygen", "--file", str(key_file)], check=True, capture_output=True)
    text = DEMO_CONFIG.read_text()
    text = text.replace("[storage]", f'[privacy]\nencrypt = true\nencryption_key_file = "{key_file}"\n'
                                     f'log_format = "json"\nretention_days = 30\n\n[recording]\nenabled = true\n\n[storage]', 1)
    assert "encrypt = true" in text
    cfg = tmp / "clinic.toml"
    cfg.write_text(text)
    os.environ["FRONTDESK_DATA_KEY"] = key_file.read_text().strip()  # for this test process's reads
    server = Server(tmp, config=str(cfg))
    yield server, cfg
    server.stop()
    del os.environ["FRONTDESK_DATA_KEY"]


@pytest.mark.e2e
def test_a_real_call_leaves_no_phi_in_logs_and_none_readable_at_rest(private_server, tmp_path):
    server, cfg = private_server
    proc = subprocess.run([FRONTDESK, "call", server.uri, "--caller-id", "+12025550177", "--json", str(tmp_path / "c.json"),
                           "--no-transcribe", "--say", "Hi, I'd like to book a cleaning.", "--say", "My name is John Smith.",
                           "--say", "No, that's all. Goodbye."], capture_output=True, text=True, timeout=300)
    record = server.wait_calls(1)[-1]
    context = proc.stdout + proc.stderr + server.output()[-3000:]
    assert proc.returncode == 0, context
    said = " ".join(t["text"] for t in record["turns"] if t["speaker"] == "caller")
    assert "Smith" in said, said  # the name was heard, so the checks below mean something
    assert record["turns"][0]["intent"] == "recording_notice"  # the consent prompt came first
    # 1. the server's log (JSON lines) carries neither the name nor the number
    log = server.output()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines and all({"ts", "level", "logger", "msg"} <= set(entry) for entry in lines)
    for needle in ("Smith", "John", "2025550177", "555-0177", "555 0177"):
        assert needle not in log, f"{needle!r} in the server log"
    # 2. at rest: the database and the recording are encrypted
    data = server.data
    for path in data.glob("frontdesk.db*"):
        raw = path.read_bytes()
        assert b"like to book" not in raw and b"My name is" not in raw, path  # the transcript
    recording = [p for p in (data / "recordings").iterdir()]
    assert len(recording) == 1 and recording[0].suffix == ".enc" and record["recording"] == str(recording[0])
    wav = ContentCipher(os.environ["FRONTDESK_DATA_KEY"].encode()).open_bytes(recording[0].read_bytes())
    (tmp_path / "call.wav").write_bytes(wav)
    with wave.open(str(tmp_path / "call.wav")) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000 and w.getnframes() > 8000 * 5
    # 3. the report reads the measures (the key comes from the environment or the key file)
    out = subprocess.run([FRONTDESK, "report", "--json", "--config", str(cfg), "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["calls"] >= 1 and report["answered"] >= 1 and report["latency_p50_ms"] is not None
    # 4. purge now: the transcript and the recording go, the counts stay
    out = subprocess.run([FRONTDESK, "purge", "--days", "0", "--config", str(cfg), "--data-dir", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and re.search(r"purged .* of [1-9]\d* call", out.stdout), out.stdout + out.stderr
    assert not recording[0].exists()
    store = RecordStore(make_engine(f"sqlite:///{data / 'frontdesk.db'}"))
    assert store.get(record["call_id"]).content == "" and store.report()["calls"] == report["calls"]
    assert any(isinstance(e, AuditEvent) and e.action == "purge" for e in store.audit_log())
