import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
FRONTDESK = str(BIN / "frontdesk")
SHARED = ROOT.parent / "shared"


def free_port(kind=socket.SOCK_DGRAM) -> int:
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A real `frontdesk serve` process on a free port."""

    def __init__(self, tmp: Path, config: str | None = None, extra_env: dict | None = None):
        self.tmp = tmp
        self.ready = tmp / "ready"
        self.data = tmp / "var"
        self.log_path = tmp / "serve.log"
        cmd = [FRONTDESK, "serve", "--port", "0", "--ready-file", str(self.ready), "--data-dir", str(self.data)]
        if config:
            cmd += ["--config", config]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(extra_env or {})})
        deadline = time.time() + 180
        while not self.ready.exists():
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("frontdesk serve did not start:\n" + self.log_path.read_text()[-3000:])
            time.sleep(0.2)
        time.sleep(0.1)
        self.port = int(self.ready.read_text().strip())
        self.uri = f"sip:frontdesk@127.0.0.1:{self.port}"

    def calls(self) -> list[dict]:
        import json
        path = self.data / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def wait_calls(self, n: int, timeout: float = 20.0) -> list[dict]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            calls = self.calls()
            if len(calls) >= n:
                return calls
            time.sleep(0.2)
        return self.calls()

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("serve"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def llm():
    from llm.llama import LlamaLLM
    from models.store import default_models_dir, model_for_role

    return LlamaLLM(str(model_for_role("llm").path(default_models_dir())))


@pytest.fixture(scope="session")
def asr():
    from asr.whisper import WhisperASR
    from models.store import default_models_dir, model_for_role

    return WhisperASR(str(model_for_role("asr").path(default_models_dir())))


@pytest.fixture(scope="session")
def caller_voice():
    from tts.hibari import HibariTTS

    return HibariTTS(sample_rate=8000)
