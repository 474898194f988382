"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616 / RFC 8760 SHA-256)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)\s*,?')
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class DigestError(ValueError):
    pass


@dataclass
class Challenge:
    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False


def parse_challenge(value: str) -> Challenge:
    """One WWW-Authenticate / Proxy-Authenticate header value."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"unsupported authentication scheme {scheme!r}")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        raw = m.group(2)
        params[m.group(1).lower()] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
    if "nonce" not in params:
        raise DigestError("challenge without a nonce")
    algorithm = params.get("algorithm", "MD5").upper()
    return Challenge(params.get("realm", ""), params["nonce"], algorithm,
                     tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()),
                     params.get("opaque"), params.get("stale", "").lower() == "true")


def best_challenge(values: list[str]) -> Challenge:
    """The strongest challenge we can answer: SHA-256 before MD5."""
    usable = []
    for value in values:
        try:
            ch = parse_challenge(value)
        except DigestError:
            continue
        if ch.algorithm in _HASHES:
            usable.append(ch)
    if not usable:
        raise DigestError("no Digest challenge with MD5 or SHA-256")
    return sorted(usable, key=lambda c: c.algorithm != "SHA-256")[0]


def authorization(ch: Challenge, *, method: str, uri: str, username: str, password: str, nc: int = 1,
                  cnonce: str | None = None) -> str:
    """The Authorization header value answering ``ch`` (qop=auth when offered)."""
    h = _HASHES[ch.algorithm]

    def H(text: str) -> str:
        return h(text.encode()).hexdigest()

    ha1 = H(f"{username}:{ch.realm}:{password}")
    ha2 = H(f"{method}:{uri}")
    parts = [f'username="{username}"', f'realm="{ch.realm}"', f'nonce="{ch.nonce}"', f'uri="{uri}"']
    if "auth" in ch.qop:
        cnonce = cnonce or secrets.token_hex(8)
        ncv = f"{nc:08x}"
        response = H(f"{ha1}:{ch.nonce}:{ncv}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', f"algorithm={ch.algorithm}", f'cnonce="{cnonce}"', "qop=auth", f"nc={ncv}"]
    else:
        response = H(f"{ha1}:{ch.nonce}:{ha2}")
        parts += [f'response="{response}"', f"algorithm={ch.algorithm}"]
    if ch.opaque is not None:
        parts.append(f'opaque="{ch.opaque}"')
    return "Digest " + ", ".join(parts)
