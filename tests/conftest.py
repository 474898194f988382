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


def finished_calls(data_dir: Path) -> list[dict]:
    from tools.crypto import ContentCipher, load_key
    from tools.db import make_engine
    from tools.records import Filters, RecordStore

    db = data_dir / "frontdesk.db"
    if not db.exists():
        return []
    engine = make_engine(f"sqlite:///{db}")
    try:
        store = RecordStore(engine, ContentCipher(load_key()))
        rows = [r for r in store.list(Filters(limit=10**6)) if r.ended_at is not None]
        return [store.content(r) for r in reversed(rows)]
    finally:
        engine.dispose()


def scripted_config(tmp: Path, text: str | None = None) -> str:
    """The demo clinic (or `text`) for callers that read fixed lines: such a caller cannot hear its
    spelling read back, so names are taken as heard (booking.spell_names off). The spelling dialog
    is measured with simulated callers (tests/e2e/test_personas_e2e.py) and in tests/unit/test_booking_flow.py."""
    from frontdesk.config import DEMO_CONFIG

    text = text if text is not None else DEMO_CONFIG.read_text()
    assert "spell_names = true" in text
    path = tmp / "clinic.toml"
    path.write_text(text.replace("spell_names = true", "spell_names = false", 1))
    return str(path)


class Server:
    """A real `frontdesk serve` process on a free port."""

    app = "agent"

    def __init__(self, tmp: Path, config: str | None = None, extra_env: dict | None = None,
                 prefix: list[str] | None = None, sip_port: int = 0):
        self.tmp = tmp
        self.ready = tmp / "ready"
        self.data = tmp / "var"
        self.log_path = tmp / "serve.log"
        cmd = [*(prefix or []), FRONTDESK, "serve", "--app", self.app, "--port", str(sip_port), "--ready-file", str(self.ready),
               "--data-dir", str(self.data), "--dashboard-port", "0"]
        if config:
            cmd += ["--config", config]
        for stale in (self.ready, tmp / "ready.dashboard"):  # from an earlier server on this data (a restart)
            stale.unlink(missing_ok=True)
        self.log = open(self.log_path, "a")
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
        """Finished calls' records, from the server's database, in the order the calls started."""
        return finished_calls(self.data)

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
    tmp = tmp_path_factory.mktemp("serve")
    srv = Server(tmp, config=scripted_config(tmp))
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


class Radicale:
    """A real Radicale CalDAV server on loopback."""

    def __init__(self, tmp: Path):
        self.port = free_port(socket.SOCK_STREAM)
        self.tmp = tmp
        self.proc = None
        self.start()
        self.url = f"http://127.0.0.1:{self.port}/clinic/"

    def start(self) -> None:
        self.log = open(self.tmp / "radicale.log", "a")
        (self.tmp / "radicale-users").write_text("clinic:secret\n")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", f"--storage-filesystem-folder={self.tmp}/collections",
             f"--server-hosts=127.0.0.1:{self.port}", "--auth-type=htpasswd", "--auth-htpasswd-encryption=plain",
             f"--auth-htpasswd-filename={self.tmp}/radicale-users", "--rights-type=owner_only",
             "--logging-level=warning"], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("radicale did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


class Smtp:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                import email
                outer.messages.append(email.message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port(socket.SOCK_STREAM)
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def radicale(tmp_path):
    srv = Radicale(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def smtp():
    srv = Smtp()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A private PostgreSQL server (Debian's postgresql package) on a free loopback port."""
    import glob
    import pwd
    bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bindirs:
        pytest.fail("PostgreSQL is not installed (make test installs the Debian package postgresql)")
    import shutil
    import tempfile
    bindir = Path(bindirs[-1])
    tmp = Path(tempfile.mkdtemp(prefix="frontdesk-pg-"))  # outside pytest's root-only tmp tree
    runas: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        runas = ["runuser", "-u", "postgres", "--"]
        pw = pwd.getpwnam("postgres")
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    data, port = tmp / "data", free_port(socket.SOCK_STREAM)
    subprocess.run(runas + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "frontdesk"],
                   check=True, capture_output=True)
    subprocess.run(runas + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(tmp / "pg.log"), "-w", "-o",
                            f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c max_connections=200", "start"],
                   check=True, capture_output=True)
    yield f"postgresql+psycopg://frontdesk@127.0.0.1:{port}/postgres"
    subprocess.run(runas + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)


class EchoServer(Server):
    """A real `frontdesk serve --app echo` process (no models: it answers, beeps for 0.4 s, then
    plays each caller utterance and RFC 4733 digit back) on a free port."""

    app = "echo"


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory):
    srv = EchoServer(tmp_path_factory.mktemp("echo"))
    yield srv
    srv.stop()


def wav_write(path: Path, pcm, rate: int = 8000) -> None:
    """16-bit mono WAV."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def wav_read(path: Path):
    """(samples as float64, sample rate) of a 16-bit mono WAV."""
    import wave

    import numpy as np

    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, (path, w.getparams())
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64), w.getframerate()


def best_match(haystack, needle) -> tuple[int, float]:
    """Where needle occurs in haystack (sample offset) and the normalized correlation there (1.0:
    the same samples, up to a gain)."""
    import numpy as np

    if haystack.size < needle.size:
        haystack = np.concatenate([haystack, np.zeros(needle.size - haystack.size)])
    n = 1 << int(np.ceil(np.log2(haystack.size + needle.size)))
    corr = np.fft.irfft(np.fft.rfft(haystack, n) * np.conj(np.fft.rfft(needle, n)), n)[:haystack.size - needle.size + 1]
    # normalize by the energy of each window of the haystack
    csum = np.concatenate([[0.0], np.cumsum(haystack ** 2)])
    window = csum[needle.size:] - csum[:-needle.size]
    score = corr / np.sqrt(np.maximum(window, 1e-9) * np.sum(needle ** 2))
    k = int(np.argmax(score))
    return k, float(score[k])
