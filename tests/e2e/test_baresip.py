"""baresip (Debian's baresip, an independent SIP and RTP stack) calls frontdesk over loopback UDP.

The callee is `frontdesk serve --app echo` (no models): it answers, plays a 0.4 s beep, then plays
each caller utterance back. baresip reads the caller's speech from a WAV (aufile), records what it
hears (the sndfile filter's decoder dump) and hangs up after a fixed time (-t). The test checks the
server's call record and that baresip's recording holds the beep and then the echo of its own
speech (a quarter second at a time, sample for sample up to the G.711 round trip).
"""

import re
import shutil
import socket
import subprocess

import numpy as np
import pytest

from ..conftest import best_match, free_port, wav_read, wav_write

pytestmark = pytest.mark.e2e

RATE = 8000
LEAD_S = 1.5  # silence in the caller's WAV before it speaks
CALL_S = 10  # baresip quits (BYE) this long after it starts


def baresip_config(dir, sip_port: int, source_wav, record_dir) -> None:
    """A config with no device modules: aufile as the source, aubridge as a player nobody listens
    to, the sndfile filter dumping what is sent and received, G.711 only, loopback only."""
    (dir / "config").write_text(f"""\
poll_method		epoll
sip_listen		127.0.0.1:{sip_port}
net_interface		127.0.0.1
call_local_timeout	30
call_max_calls		1
audio_source		aufile,{source_wav}
audio_player		aubridge,nil
audio_alert		aubridge,nil
ausrc_srate		{RATE}
auplay_srate		{RATE}
ausrc_channels		1
auplay_channels		1
audio_buffer		20-160
rtp_ports		46000-46998
rtcp_mux		no
jitter_buffer_delay	1-10
rtp_stats		yes
module_path		/usr/lib/baresip/modules
module			g711.so
module			sndfile.so
module			aufile.so
module			aubridge.so
module_tmp		account.so
module_app		menu.so
snd_path		{record_dir}
statmode_default	off
""")
    (dir / "accounts").write_text(f"<sip:baresip@127.0.0.1:{sip_port}>;regint=0;audio_codecs=pcmu,pcma;answermode=manual\n")


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x ** 2) / 32768 ** 2 + 1e-12)


def test_baresip_calls_the_echo_app(echo_server, caller_voice, tmp_path):
    exe = shutil.which("baresip")
    assert exe, "baresip (Debian) must be installed: make test installs it"
    speech = caller_voice.synthesize_all("Hello, this is a test call from baresip.").astype(np.float64)
    voiced = np.flatnonzero(np.abs(speech) > 300)
    speech = speech[voiced[0]:voiced[-1] + 1]  # the voiced part: what the echo must contain
    source = tmp_path / "say.wav"
    wav_write(source, np.concatenate([np.zeros(int(LEAD_S * RATE)), speech, np.zeros(CALL_S * RATE)]))
    conf, rec = tmp_path / "baresip", tmp_path / "rec"
    conf.mkdir()
    rec.mkdir()
    sip_port = free_port(socket.SOCK_DGRAM)
    baresip_config(conf, sip_port, source, rec)

    before = len(echo_server.calls())
    proc = subprocess.run([exe, "-f", str(conf), "-s", "-t", str(CALL_S), "-e", f"/dial {echo_server.uri}"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CALL_S + 30, cwd=tmp_path)
    log = proc.stdout + proc.stderr
    calls = echo_server.wait_calls(before + 1)
    record = calls[-1] if len(calls) > before else None
    context = log[-6000:] + "\n" + echo_server.output()[-2000:] + f"\nrecord: {record}"
    assert proc.returncode == 0, context
    assert "Call established" in log and re.search(r"Call with \S+ terminated", log), context
    # baresip's BYE (on -t) was answered 200: the -s trace prints each message after "UDP a -> b"
    messages = re.split(r"\bUDP \S+ -> \S+\n", log)[1:]
    assert any(m.startswith("BYE sip:") for m in messages), context
    assert any(m.startswith("SIP/2.0 200") and re.search(r"^CSeq: \d+ BYE", m, re.M) for m in messages), context

    # the server's record: answered, PCMU, ended by the caller's BYE, one utterance heard
    assert record is not None, context
    assert record["caller"].startswith("sip:baresip@127.0.0.1"), context
    assert record["outcome"] == "echo" and record["codec"] == "PCMU", context
    assert record["answered_at"] and record["ended_by"] == "caller" and record["end_reason"] == "BYE", context
    heard = [int(m.group(1)) for t in record["turns"] if (m := re.fullmatch(r"\[(\d+) ms of speech\]", t["text"]))]
    assert len(heard) == 1 and abs(heard[0] - speech.size * 1000 / RATE) < 800, context
    rtp = record["rtp"]
    assert rtp["packets_in"] >= (CALL_S - 2) * 50 and rtp["packets_out"] >= (CALL_S - 2) * 50, rtp
    assert rtp["lost_in"] == 0 and rtp["bad_packets"] == 0 and rtp["rtcp_in"] >= 1, rtp

    # what baresip sent (encoder dump) and heard (decoder dump)
    sent, rate_sent = wav_read(next(rec.glob("*-enc.wav")))
    got, rate_got = wav_read(next(rec.glob("*-dec.wav")))
    assert rate_sent == rate_got == RATE
    assert got.size >= (CALL_S - 2) * RATE, got.size
    # the beep: a 440 Hz tone in the first half second
    beep = got[:int(0.4 * RATE)]
    spectrum = np.abs(np.fft.rfft(beep))
    assert db(beep) > -30 and abs(np.argmax(spectrum) * RATE / beep.size - 440) < 10, (db(beep), context)
    # the echo: baresip's own speech comes back after it stopped speaking. Compared a quarter second
    # at a time: frontdesk's adaptive jitter buffer may conceal a late frame and play the rest one
    # frame later, so the echo is the speech up to such small shifts (and G.711 twice: identical
    # samples otherwise)
    at_sent, score_sent = best_match(sent, speech)
    assert score_sent > 0.99, (score_sent, at_sent)
    chunk = RATE // 4
    pieces = [i for i in range(0, speech.size - chunk + 1, chunk) if db(speech[i:i + chunk]) > -45]
    found = [(i, *best_match(got, speech[i:i + chunk])) for i in pieces]
    good = [(i, at) for i, at, score in found if score > 0.9]
    assert len(pieces) >= 5 and len(good) >= 0.8 * len(pieces), (found, context)
    starts = [at - i for i, at in good]  # where each piece puts the start of the echo
    assert max(starts) - min(starts) <= RATE // 5, (found, context)  # one echo, stretched by 200 ms at most
    assert all(a <= b for a, b in zip([at for _, at in good], [at for _, at in good][1:])), found
    at_got = min(starts)
    delay = (at_got - at_sent) / RATE
    assert speech.size / RATE < delay < speech.size / RATE + 3.0, (delay, context)
    echo = got[at_got:at_got + speech.size]
    assert abs(db(echo) - db(speech)) < 3, (db(echo), db(speech))
    # and nothing but low-level noise between the beep and the echo
    assert db(got[int(0.6 * RATE):at_got - RATE // 10]) < -60, context
