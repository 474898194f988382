"""SRTP keyed by SDES (RFC 4568 a=crypto lines), over libsrtp (pylibsrtp).

The SDP side (parsing and writing a=crypto) is pure; ``SrtpContext`` protects what we send with
our key and unprotects what arrives with the peer's key. A packet that fails authentication is
an ``SrtpError``: the caller drops and counts it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

# the suites we answer, in our order of preference, with their master key + salt length
SUITES = {"AES_CM_128_HMAC_SHA1_80": 30, "AES_CM_128_HMAC_SHA1_32": 30}


class SrtpError(ValueError):
    """An SRTP/SRTCP packet failed authentication or replay checks, or could not be protected."""


@dataclass
class Crypto:
    """One a=crypto line: tag, suite, and the inline master key + salt."""

    tag: int
    suite: str
    key: bytes

    def line(self) -> str:
        return f"crypto:{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


def parse_crypto(value: str) -> Crypto | None:
    """``crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|lifetime][|MKI:len]`` -> Crypto, or None for a
    line we cannot use (unknown suite, MKI, several keys, session parameters, a bad key)."""
    name, _, rest = value.partition(":")
    if name != "crypto":
        return None
    parts = rest.split()
    if len(parts) != 3 or not parts[0].isdecimal() or parts[1] not in SUITES:
        return None  # unknown suites and session parameters (e.g. UNENCRYPTED_SRTP) are not for us
    if not parts[2].startswith("inline:") or ";" in parts[2]:
        return None
    fields = parts[2][len("inline:"):].split("|")
    if any(":" in f for f in fields[1:]):
        return None  # an MKI: libsrtp's single-key policy here cannot carry it
    try:
        key = base64.b64decode(fields[0], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(key) != SUITES[parts[1]]:
        return None
    return Crypto(int(parts[0]), parts[1], key)


def new_key(suite: str = "AES_CM_128_HMAC_SHA1_80") -> bytes:
    return os.urandom(SUITES[suite])


class SrtpContext:
    def __init__(self, suite: str, local_key: bytes, remote_key: bytes):
        import pylibsrtp

        self._lib = pylibsrtp
        self.suite = suite
        self.local_key = local_key
        self.remote_key = remote_key
        self._profile = {"AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
                         "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32}[suite]
        self._tx = pylibsrtp.Session(self._policy(local_key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
        self._rx = pylibsrtp.Session(self._policy(remote_key, pylibsrtp.Policy.SSRC_ANY_INBOUND))
        self.auth_failures = 0

    def _policy(self, key: bytes, direction: int):
        policy = self._lib.Policy(key=key, ssrc_type=direction, srtp_profile=self._profile)
        policy.allow_repeat_tx = True  # the same packet may be sent again (e.g. RFC 4733 end packets)
        return policy

    def set_remote_key(self, key: bytes) -> None:
        """The peer re-keyed in a new offer."""
        if key != self.remote_key:
            self.remote_key = key
            self._rx = self._lib.Session(self._policy(key, self._lib.Policy.SSRC_ANY_INBOUND))

    def protect(self, packet: bytes) -> bytes:
        try:
            return self._tx.protect(packet)
        except self._lib.Error as exc:
            raise SrtpError(f"cannot protect RTP: {exc}") from None

    def unprotect(self, packet: bytes) -> bytes:
        try:
            return self._rx.unprotect(packet)
        except self._lib.Error as exc:
            self.auth_failures += 1
            raise SrtpError(f"SRTP packet rejected: {exc}") from None

    def protect_rtcp(self, packet: bytes) -> bytes:
        try:
            return self._tx.protect_rtcp(packet)
        except self._lib.Error as exc:
            raise SrtpError(f"cannot protect RTCP: {exc}") from None

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        try:
            return self._rx.unprotect_rtcp(packet)
        except self._lib.Error as exc:
            self.auth_failures += 1
            raise SrtpError(f"SRTCP packet rejected: {exc}") from None
