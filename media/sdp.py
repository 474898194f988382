"""SDP (RFC 4566) parsing and the offer/answer negotiation (RFC 3264) for G.711 audio."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .srtp import SUITES, Crypto, new_key, parse_crypto

STATIC_PAYLOADS = {0: ("PCMU", 8000), 8: ("PCMA", 8000)}
SUPPORTED_CODECS = ("PCMU", "PCMA")
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


class SdpError(ValueError):
    """Malformed SDP, or an offer we cannot accept (the SIP layer answers 488)."""


@dataclass
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str | None = None
    ptime: int | None = None
    attributes: list[str] = field(default_factory=list)


@dataclass
class SessionDescription:
    origin: str = ""
    connection: str | None = None
    media: list[MediaDescription] = field(default_factory=list)
    direction: str = "sendrecv"


def parse_sdp(text: str | bytes) -> SessionDescription:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    sd = SessionDescription()
    current: MediaDescription | None = None
    saw_version = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"malformed SDP line {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "v":
            saw_version = True
        elif kind == "o":
            sd.origin = value
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN":
                raise SdpError(f"bad c= line {value[:40]!r}")
            addr = parts[2].split("/")[0]
            if current is None:
                sd.connection = addr
            else:
                current.connection = addr
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdecimal():
                raise SdpError(f"bad m= line {value[:40]!r}")
            port = int(parts[1].split("/")[0])
            if port > 65535:
                raise SdpError(f"bad port in m= line {value[:40]!r}")
            current = MediaDescription(parts[0], port, parts[2], parts[3:])
            sd.media.append(current)
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in _DIRECTIONS:
                if current is None:
                    sd.direction = name
                else:
                    current.direction = name
            elif current is None:
                continue
            elif name == "rtpmap":
                pt, _, enc = arg.partition(" ")
                enc_parts = enc.split("/")
                if pt.isdecimal() and len(enc_parts) >= 2 and enc_parts[1].isdecimal():
                    current.rtpmap[int(pt)] = (enc_parts[0], int(enc_parts[1]))
            elif name == "fmtp":
                pt, _, params = arg.partition(" ")
                if pt.isdecimal():
                    current.fmtp[int(pt)] = params
            elif name == "ptime" and arg.strip().isdecimal():
                current.ptime = int(arg.strip())
            else:
                current.attributes.append(value)
    if not saw_version:
        raise SdpError("SDP without v= line")
    return sd


@dataclass
class NegotiatedAudio:
    """The result of accepting an offer: what to send, where, and the answer SDP."""

    codec: str
    payload_type: int
    dtmf_payload_type: int | None
    remote_host: str
    remote_port: int
    direction: str  # of our answer: recvonly or inactive means the peer put us on hold
    answer: str
    session_id: int = 0
    crypto: Crypto | None = None  # the peer's SDES key (SRTP), None for plain RTP
    local_key: bytes | None = None  # ours, sent in the answer

    @property
    def we_may_send(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")


def _encoding(md: MediaDescription, pt: int) -> tuple[str, int] | None:
    if pt in md.rtpmap:
        name, rate = md.rtpmap[pt]
        return name.upper(), rate
    return STATIC_PAYLOADS.get(pt)


def negotiate(offer: SessionDescription, local_host: str, local_port: int,
              codecs: tuple[str, ...] = SUPPORTED_CODECS, session_id: int | None = None,
              version: int = 1, srtp: str = "optional", local_key: bytes | None = None) -> NegotiatedAudio:
    """Pick the first offered codec we support (the offerer's preference order).

    ``srtp``: "optional" answers SDES keys when offered (RTP/SAVP, or a=crypto on RTP/AVP),
    "required" refuses an offer without them, "off" refuses RTP/SAVP and ignores a=crypto."""
    audio = [m for m in offer.media if m.media == "audio" and m.port != 0]
    if not audio:
        raise SdpError("no audio stream offered")
    md = audio[0]
    proto = md.proto.upper()
    if proto not in ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"):
        raise SdpError(f"unsupported media transport {md.proto}")
    secure = "SAVP" in proto
    crypto = None
    if srtp != "off":
        offered = [c for c in (parse_crypto(a) for a in md.attributes) if c is not None]
        offered.sort(key=lambda c: list(SUITES).index(c.suite))
        crypto = offered[0] if offered else None
    if secure and crypto is None:
        raise SdpError("SRTP offered without a usable a=crypto line (need AES_CM_128_HMAC_SHA1_80 or _32)"
                       if srtp != "off" else "SRTP offered but sip.srtp is off")
    if crypto is None and srtp == "required":
        raise SdpError("plain RTP offered but sip.srtp requires SRTP")
    chosen: tuple[int, str] | None = None
    dtmf: int | None = None
    for fmt in md.formats:
        if not fmt.isdecimal():
            continue
        pt = int(fmt)
        enc = _encoding(md, pt)
        if enc is None:
            continue
        name, rate = enc
        if chosen is None and name in codecs and rate == 8000:
            chosen = (pt, name)
        elif dtmf is None and name == "TELEPHONE-EVENT" and rate == 8000:
            dtmf = pt
    if chosen is None:
        raise SdpError("none of the offered codecs is supported (need PCMU or PCMA)")
    host = md.connection or offer.connection
    if not host:
        raise SdpError("no connection address in offer")
    direction = _ANSWER_DIRECTION[md.direction or offer.direction or "sendrecv"]
    pt, name = chosen
    sid = session_id if session_id is not None else random.randint(1, 2**31)
    if host in ("0.0.0.0", "::"):  # RFC 2543 style hold: "don't send to me"
        direction = "inactive" if direction in ("recvonly", "inactive") else "recvonly"
    answer_crypto = None
    if crypto is not None:
        local_key = local_key if local_key is not None and len(local_key) == SUITES[crypto.suite] else new_key(crypto.suite)
        answer_crypto = Crypto(crypto.tag, crypto.suite, local_key)
    answer = build_sdp(local_host, local_port, [(pt, name)], dtmf, direction, sid, version,
                       proto="RTP/SAVP" if secure else "RTP/AVP", crypto=answer_crypto)
    return NegotiatedAudio(name, pt, dtmf, host, md.port, direction, answer, sid, crypto,
                           answer_crypto.key if answer_crypto else None)


def build_sdp(host: str, port: int, codecs: list[tuple[int, str]], dtmf_pt: int | None,
              direction: str = "sendrecv", session_id: int = 1, version: int = 1, proto: str = "RTP/AVP",
              crypto: Crypto | None = None) -> str:
    ip_ver = "IP6" if ":" in host else "IP4"
    fmts = [str(pt) for pt, _ in codecs] + ([str(dtmf_pt)] if dtmf_pt is not None else [])
    lines = [
        "v=0",
        f"o=frontdesk {session_id} {version} IN {ip_ver} {host}",
        "s=frontdesk",
        f"c=IN {ip_ver} {host}",
        "t=0 0",
        f"m=audio {port} {proto} {' '.join(fmts)}",
    ]
    if crypto is not None:
        lines.append(f"a={crypto.line()}")
    for pt, name in codecs:
        lines.append(f"a=rtpmap:{pt} {name}/8000")
    if dtmf_pt is not None:
        lines.append(f"a=rtpmap:{dtmf_pt} telephone-event/8000")
        lines.append(f"a=fmtp:{dtmf_pt} 0-16")
    lines.append("a=ptime:20")
    lines.append(f"a={direction}")
    return "\r\n".join(lines) + "\r\n"
