"""The deployment files are checked here, since no Docker engine runs on this machine: hadolint on
the Dockerfile, `docker-compose config` on both compose profiles, Kamailio's own config check on the
load balancer config, and the node configs through frontdesk's loader."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from frontdesk.config import load_config

DOCKER = Path(__file__).resolve().parents[2] / "docker"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "kamailio/Dockerfile"])
def test_dockerfile_passes_hadolint(dockerfile):
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    proc = subprocess.run([exe, str(DOCKER / dockerfile)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("profile,services", [("single", {"frontdesk"}),
                                              ("cluster", {"postgres", "node1", "node2", "kamailio"})])
def test_compose_file_is_valid(profile, services):
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose (Debian) must be installed: make test installs it"
    proc = subprocess.run([exe, "-f", str(DOCKER / "compose.yaml"), "--profile", profile, "config", "--services"],
                          capture_output=True, text=True, cwd=DOCKER)
    assert proc.returncode == 0, proc.stderr
    assert services <= set(proc.stdout.split())  # (compose v1 lists every profile's services)


def test_kamailio_dispatcher_config_passes_kamailio_check(tmp_path):
    exe = shutil.which("kamailio") or "/usr/sbin/kamailio"
    cfg = (DOCKER / "kamailio" / "kamailio.cfg").read_text()
    modules = next(p for p in ("/usr/lib/x86_64-linux-gnu/kamailio/modules/", "/usr/lib/aarch64-linux-gnu/kamailio/modules/",
                               "/usr/lib/kamailio/modules/") if os.path.isdir(p))
    cfg = cfg.replace("/etc/kamailio/dispatcher.list", str(DOCKER / "kamailio" / "dispatcher.list"))
    cfg = cfg.replace('mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"', f'mpath="{modules}"')
    (tmp_path / "k.cfg").write_text(cfg)
    proc = subprocess.run([exe, "-c", "-f", str(tmp_path / "k.cfg")], capture_output=True, text=True)
    assert proc.returncode == 0 and "config file ok" in proc.stdout + proc.stderr, proc.stderr[-2000:]


def test_node_configs_load(monkeypatch):
    single = load_config(DOCKER / "frontdesk.toml")
    assert single.sip.listen == "0.0.0.0" and str(single.data_dir) == "/var/lib/frontdesk"
    monkeypatch.setenv("FRONTDESK_SIP_PUBLIC_ADDRESS", "10.77.0.12")
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", "postgresql+psycopg://frontdesk:x@10.77.0.5/frontdesk")
    node = load_config(DOCKER / "frontdesk-cluster.toml")
    assert node.sip.public_address == "10.77.0.12" and node.database_url.startswith("postgresql")
