"""Sends each RFC 4475 message, byte for byte, to a live server over UDP and prints the first
response status per message as JSON (run by tests/e2e/test_torture_wire.py inside a network namespace
that has only loopback, because the messages name other hosts)."""

import json
import re
import socket
import sys
from pathlib import Path


def call_id(message: bytes) -> bytes | None:
    m = re.search(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", message, re.I | re.M)
    return m.group(1) if m else None


def main(port: int, folder: Path) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.6)
    names = [line.split("\t")[0] for line in (folder / "INDEX.tsv").read_text().splitlines()
             if line and not line.startswith("#")]
    result: dict[str, int | None] = {}
    for name in names:
        message = (folder / f"{name}.dat").read_bytes()
        want = call_id(message)
        sock.sendto(message, ("127.0.0.1", port))
        status = None
        sock.settimeout(0.6)
        try:
            while status is None:  # answers to earlier calls (200 retransmissions) are not this one's
                data, _ = sock.recvfrom(65535)
                parts = data.split(b" ", 2)
                if call_id(data) == want and len(parts) > 1 and parts[1].isdigit():
                    status = int(parts[1])
        except socket.timeout:
            pass
        result[name] = status
    ping = (f"OPTIONS sip:frontdesk@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sock.getsockname()[1]};"
            "branch=z9hG4bK-alive;rport\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:frontdesk@127.0.0.1>\r\n"
            "Call-ID: alive@test\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    sock.settimeout(3)
    sock.sendto(ping.encode(), ("127.0.0.1", port))
    try:
        result["_alive"] = int(sock.recvfrom(65535)[0].split(b" ", 2)[1])
    except (socket.timeout, ValueError):
        result["_alive"] = None
    print(json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
