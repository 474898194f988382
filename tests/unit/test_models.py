import os
import subprocess

from models import store

from ..conftest import FRONTDESK


def test_manifest_entries_are_complete():
    models = store.load_manifest()
    assert {m.role for m in models} == {"asr", "tts", "llm"}
    for m in models:
        assert m.packages and m.license and m.provenance
        for f in m.files:
            assert len(f.sha256) == 64 and f.size > 0 and f.sources


def test_default_models_verify():
    assert store.verify() == []


def test_verify_detects_a_corrupted_and_a_missing_file(tmp_path):
    env = {**os.environ, "FRONTDESK_MODELS": str(tmp_path)}
    proc = subprocess.run([FRONTDESK, "models", "install"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([FRONTDESK, "models", "verify"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    voice = tmp_path / "piper-joe-medium" / "en_US-joe-medium.onnx"
    with open(voice, "r+b") as f:  # flip one byte in the middle, keep the size
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0xFF]))
    (tmp_path / "whisper-tiny.en" / "vocabulary.txt").unlink()
    proc = subprocess.run([FRONTDESK, "models", "verify"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert f"sha256 mismatch: {voice}" in proc.stderr
    assert "missing: " in proc.stderr and "vocabulary.txt" in proc.stderr
    # install repairs both (the stamp no longer matches the changed file)
    os.utime(voice, None)
    proc = subprocess.run([FRONTDESK, "models", "install"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert store.verify(tmp_path) == []
