"""The RFC 4475 torture messages sent over UDP to a live `frontdesk serve`, inside a network
namespace with only loopback: each gets the handling the index gives, and the server keeps running."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from ..conftest import BIN, SHARED
from ..unit.test_useragent import TORTURE_EXPECTED

pytestmark = pytest.mark.e2e


@pytest.mark.skipif(os.geteuid() != 0 and shutil.which("unshare") is None, reason="needs unshare")
def test_rfc4475_over_the_wire(tmp_path):
    folder = SHARED / "sip-torture" / "rfc4475"
    if not folder.exists():
        pytest.skip("../shared/sip-torture is not beside this checkout")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode().strip()}")
    sender = os.path.join(os.path.dirname(__file__), "..", "helpers", "torture_sender.py")
    script = tmp_path / "netns.sh"
    script.write_text(textwrap.dedent(f"""\
        set -eu
        ip link set lo up
        test "$(ip -o link show | wc -l)" = 1
        {BIN}/frontdesk serve --port 0 --ready-file {tmp_path}/ready --data-dir {tmp_path}/var > {tmp_path}/serve.log 2>&1 &
        SERVER=$!
        for i in $(seq 1 900); do [ -s {tmp_path}/ready ] && break; sleep 0.2; done
        set +e
        {sys.executable} {sender} $(cat {tmp_path}/ready) {folder} > {tmp_path}/result.json
        RC=$?
        kill -0 $SERVER || RC=99
        kill $SERVER; wait $SERVER
        exit $RC
        """))
    proc = subprocess.run(["unshare", "-n", "bash", str(script)], capture_output=True, text=True, timeout=400)
    log = (tmp_path / "serve.log").read_text()[-4000:]
    assert proc.returncode == 0, proc.stderr + log
    result = json.loads((tmp_path / "result.json").read_text())
    assert result.pop("_alive") == 200, log  # still answering after all of them
    assert "Traceback" not in (tmp_path / "serve.log").read_text(), log
    wrong = []
    for name, status in result.items():
        expected = TORTURE_EXPECTED[name]
        if expected is None:
            ok = status is None
        else:
            allowed = {expected} if isinstance(expected, str) else expected
            ok = status in allowed or ("ok" in allowed and status is not None and status not in (400, 505, 415, 406))
        if not ok:
            wrong.append((name, status, expected))
    assert not wrong, (wrong, log)
