"""frontdesk behind Kamailio (Debian's kamailio, configured here): it registers with Digest auth,
receives a call routed through the proxy (Record-Route), and its BYE follows the route set. With a
wrong password it says so in its log."""

import json
import re
import shutil
import subprocess
import time

import pytest

from frontdesk.config import DEMO_CONFIG

from ..conftest import FRONTDESK, EchoServer, Server, free_port

pytestmark = pytest.mark.e2e

KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
mpath="{modules}"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "text://{db}")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
{auth_params}

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("REGISTER")) {{
        if (!auth_check("$fd", "subscriber", "1")) {{ auth_challenge("$fd", "1"); exit; }}
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE")) {{ record_route(); }}
    if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
    xlog("L_INFO", "routing $rm for $tu to $ru\\n");
    t_relay();
}}
"""


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    yield from run_kamailio(tmp_path_factory.mktemp("kamailio"))


@pytest.fixture(scope="module")
def kamailio_sha256(tmp_path_factory):
    yield from run_kamailio(tmp_path_factory.mktemp("kamailio256"), 'modparam("auth", "algorithm", "SHA-256")')


def run_kamailio(tmp, auth_params: str = ""):
    exe = shutil.which("kamailio") or "/usr/sbin/kamailio"
    assert shutil.which(exe), "kamailio (Debian) must be installed: make test installs it"
    db = tmp / "db"
    db.mkdir()
    (db / "version").write_text("id(int,auto) table_name(string) table_version(int) \n0:subscriber:7\n0:location:9\n")
    (db / "subscriber").write_text("id(int,auto) username(string) domain(string) password(string) ha1(string,null) ha1b(string,null) \n"
                                   "1:frontdesk:127.0.0.1:s3cret-pass:::\n")
    port = free_port()
    modules = next(p for p in ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/aarch64-linux-gnu/kamailio/modules",
                               "/usr/lib/kamailio/modules") if __import__("os").path.isdir(p))
    cfg = tmp / "kamailio.cfg"
    cfg.write_text(KAMAILIO_CFG.format(port=port, modules=modules, db=db, auth_params=auth_params))
    log = open(tmp / "kamailio.log", "w")
    proc = subprocess.Popen([exe, "-DD", "-E", "-f", str(cfg), "-Y", str(tmp), "-P", str(tmp / "pid")],
                            stdout=log, stderr=subprocess.STDOUT)
    time.sleep(1.5)
    assert proc.poll() is None, (tmp / "kamailio.log").read_text()[-3000:]
    yield port, tmp / "kamailio.log"
    proc.terminate()
    proc.wait(10)
    log.close()


def frontdesk_registered_to(tmp, kport: int, password: str, server=Server, registrar: str = "") -> Server:
    registrar = registrar or f"sip:127.0.0.1:{kport}"
    text = DEMO_CONFIG.read_text().replace('transport = "udp"', 'transport = "udp,tcp"', 1)
    text += (f'\n[sip.register]\nregistrar = "{registrar}"\nusername = "frontdesk"\n'
             f'password = "{password}"\naor = "sip:frontdesk@127.0.0.1"\nexpires = 120\n')
    cfg = tmp / "clinic.toml"
    cfg.write_text(text)
    return server(tmp, config=str(cfg))


def wait_for(server: Server, pattern: str, timeout: float = 20.0) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = server.output()
        if re.search(pattern, out):
            return out
        time.sleep(0.2)
    return server.output()


def test_register_then_take_a_call_routed_by_the_proxy(kamailio, tmp_path):
    kport, klog = kamailio
    server = frontdesk_registered_to(tmp_path, kport, "s3cret-pass")
    try:
        out = wait_for(server, r"registered with sip:127\.0\.0\.1:\d+ for \d+ s")
        assert re.search(r"registered with sip:127\.0\.0\.1:\d+ for 120 s", out), out[-3000:] + klog.read_text()[-2000:]
        result_file = tmp_path / "call.json"
        proc = subprocess.run([FRONTDESK, "call", f"sip:frontdesk@127.0.0.1:{kport}", "--json", str(result_file),
                               "--no-transcribe", "--say", "Goodbye."], capture_output=True, text=True, timeout=300)
        record = server.wait_calls(1)[-1]
        context = proc.stdout + proc.stderr + server.output()[-3000:] + klog.read_text()[-3000:]
        assert proc.returncode == 0, context
        assert "routing INVITE" in klog.read_text(), context  # it came through the proxy
        # the agent hung up: its BYE followed the Record-Route through Kamailio and was answered
        assert record["ended_by"] == "agent" and record["bye_status"] == 200, context
    finally:
        server.stop()


def test_a_wrong_password_is_reported(kamailio, tmp_path):
    kport, _ = kamailio
    server = frontdesk_registered_to(tmp_path, kport, "not-the-password")
    try:
        out = wait_for(server, r"registration with .* failed")
        assert re.search(r"registration with sip:127\.0\.0\.1:\d+ failed: credentials rejected", out), out[-3000:]
    finally:
        server.stop()


def test_sha256_digest_over_tcp_to_a_registrar_by_name(kamailio_sha256, tmp_path):
    """Kamailio challenges with algorithm=SHA-256 (RFC 8760) only. The no-model app finds it by DNS
    name, registers over TCP, and takes a call the proxy routes to it over TCP."""
    kport, klog = kamailio_sha256
    server = frontdesk_registered_to(tmp_path, kport, "s3cret-pass", server=EchoServer,
                                     registrar=f"sip:localhost:{kport};transport=tcp")
    try:
        out = wait_for(server, r"registered with sip:localhost:\d+;transport=tcp for \d+ s|registration with .* failed")
        assert re.search(r"registered with sip:localhost:\d+;transport=tcp for 120 s", out), out[-3000:] + klog.read_text()[-2000:]
        assert re.search(r"resolves to 127\.0\.0\.1:\d+", out), out[-3000:]
        proc = subprocess.run([FRONTDESK, "call", f"sip:frontdesk@127.0.0.1:{kport}", "--no-transcribe",
                               "--say", "Hello there."], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr + server.output()[-3000:] + klog.read_text()[-3000:]
        assert "routing INVITE" in klog.read_text()
        record = server.wait_calls(1)[-1]
        assert record["transport"] == "TCP", record  # the proxy reached us at the TCP contact
    finally:
        server.stop()
