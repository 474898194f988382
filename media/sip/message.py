"""SIP message model, parser and serializer (RFC 3261 §7, §20, §25).

Sans-IO: bytes in, :class:`Request` / :class:`Response` out, and back. Header names are
case-insensitive, compact forms are expanded, folded lines are unfolded, unknown headers
are kept in order, and size limits bound the memory a hostile message can take.

One module on purpose (about 440 lines): the parser and the serializer are one grammar (start
line, header fields, compact forms, name-addr and Via values, body framing, limits), read
against each other."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

MAX_MESSAGE_BYTES = 64 * 1024
MAX_HEADERS = 200
MAX_HEADER_LINE = 8 * 1024

COMPACT_FORMS = {
    "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
    "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To",
    "v": "Via", "o": "Event", "r": "Refer-To", "b": "Referred-By", "x": "Session-Expires",
    "u": "Allow-Events", "a": "Accept-Contact", "j": "Reject-Contact",
    "d": "Request-Disposition", "y": "Identity", "n": "Identity-Info",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow", "Allow-Events",
        "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
        "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
        "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "In-Reply-To",
        "Max-Forwards", "Min-Expires", "Min-SE", "MIME-Version", "Organization",
        "P-Asserted-Identity", "Priority", "Proxy-Authenticate", "Proxy-Authorization",
        "Proxy-Require", "Reason", "Record-Route", "Refer-To", "Referred-By", "Reply-To",
        "Require", "Retry-After", "Route", "RSeq", "Server", "Session-Expires", "Subject",
        "Subscription-State", "Supported", "Timestamp", "To", "Unsupported", "User-Agent",
        "Via", "Warning", "WWW-Authenticate",
    )
}
# Headers whose values are comma-separated lists (RFC 3261 §7.3.1).
LIST_HEADERS = frozenset(
    {"via", "contact", "route", "record-route", "allow", "supported", "require",
     "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language"}
)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS_LINE_RE = re.compile(r"^SIP/(\d+\.\d+) (\d{3}) ?(.*)$")


class SipParseError(ValueError):
    """A message that cannot be parsed. ``headers`` holds what was read before the error,
    so the caller can still answer 400 when Via, From, To, Call-ID and CSeq were readable."""

    def __init__(self, reason: str, headers: "Headers | None" = None, start_line: str = "", status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.headers = headers
        self.start_line = start_line
        self.status = status  # the response it deserves: 400, or 505 for another SIP version


def canonical_name(name: str) -> str:
    low = name.strip().lower()
    if low in COMPACT_FORMS:
        return COMPACT_FORMS[low]
    if low in _CANONICAL:
        return _CANONICAL[low]
    return "-".join(part[:1].upper() + part[1:] for part in name.strip().split("-"))


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, ignoring commas inside quotes and <...>."""
    items, buf, quoted, angle, escaped = [], [], False, 0, False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
            continue
        if quoted and ch == "\\":
            buf.append(ch)
            escaped = True
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">" and angle:
            angle -= 1
        elif ch == "," and not quoted and not angle:
            items.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    items.append("".join(buf).strip())
    return [item for item in items if item]


class Headers:
    """Ordered, case-insensitive multi-map of SIP headers."""

    def __init__(self, items: list[tuple[str, str]] | None = None):
        self._items: list[tuple[str, str]] = []
        for name, value in items or []:
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        self._items.append((canonical_name(name), str(value)))

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical_name(name).lower()
        for n, v in self._items:
            if n.lower() == key:
                return v
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of a header; list-valued headers are split on commas."""
        key = canonical_name(name).lower()
        out: list[str] = []
        for n, v in self._items:
            if n.lower() == key:
                out.extend(split_list(v) if key in LIST_HEADERS else [v])
        return out

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        key = canonical_name(name).lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> "Headers":
        h = Headers()
        h._items = list(self._items)
        return h


@dataclass
class Message:
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = "SIP/2.0"

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.headers.get("CSeq") or "")

    def serialize(self) -> bytes:
        lines = [self.start_line()]
        for name, value in self.headers:
            if name == "Content-Length":
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def start_line(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass
class Request(Message):
    method: str = ""
    uri: str = ""

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"


@dataclass
class Response(Message):
    status: int = 0
    reason: str = ""

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"


def parse_cseq(value: str) -> tuple[int, str]:
    parts = value.split()
    if len(parts) != 2 or not parts[0].isdecimal() or len(parts[0]) > 10:
        raise SipParseError(f"bad CSeq {value!r}")
    number = int(parts[0])
    if number >= 2**31:
        raise SipParseError(f"CSeq number out of range {value!r}")
    return number, parts[1]


def _unfold(head: str) -> list[str]:
    lines: list[str] = []
    for raw in re.split(r"\r\n|\n", head):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] = lines[-1].rstrip() + " " + raw.strip()
        else:
            lines.append(raw)
    return lines


def parse(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one SIP message. ``stream`` (TCP/TLS) requires Content-Length."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("message too large")
    data = data.lstrip(b"\r\n")
    sep = data.find(b"\r\n\r\n")
    if sep >= 0:
        head, body = data[:sep], data[sep + 4:]
    else:
        sep = data.find(b"\n\n")
        if sep < 0:
            head, body = data, b""
        else:
            head, body = data[:sep], data[sep + 2:]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    lines = _unfold(text)
    if not lines or not lines[0].strip():
        raise SipParseError("empty message")
    start = lines[0]
    headers = Headers()
    for line in lines[1:]:
        if len(headers) >= MAX_HEADERS:
            raise SipParseError("too many headers", headers, start)
        if len(line) > MAX_HEADER_LINE:
            raise SipParseError("header line too long", headers, start)
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or not _TOKEN_RE.match(name.strip()):
            raise SipParseError(f"malformed header line {line[:60]!r}", headers, start)
        headers.add(name, value.strip())

    msg: Request | Response
    status = _STATUS_LINE_RE.match(start)
    if status:
        if status.group(1) != "2.0":
            raise SipParseError(f"unsupported SIP version {status.group(1)}", headers, start)
        msg = Response(headers=headers, status=int(status.group(2)), reason=status.group(3))
    else:
        parts = start.split(" ")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise SipParseError(f"malformed request line {start[:80]!r}", headers, start)
        method, uri, version = parts
        if not _TOKEN_RE.match(method):
            raise SipParseError(f"malformed method {method[:20]!r}", headers, start)
        if version.upper() != "SIP/2.0":
            status_code = 505 if re.fullmatch(r"SIP/\d+\.\d+", version.upper()) else 400
            raise SipParseError(f"unsupported version {version[:20]!r}", headers, start, status_code)
        msg = Request(headers=headers, method=method, uri=uri)

    length_value = headers.get("Content-Length")
    if length_value is None:
        if stream:
            raise SipParseError("missing Content-Length on a stream transport", headers, start)
        length = len(body)
    else:
        if not length_value.strip().isdecimal():
            raise SipParseError(f"bad Content-Length {length_value!r}", headers, start)
        length = int(length_value.strip())
        if length > len(body):
            raise SipParseError("body shorter than Content-Length", headers, start)
    msg.body = body[:length]
    for required in ("Via", "Call-ID", "CSeq", "From", "To"):
        if required not in headers:
            raise SipParseError(f"missing {required} header", headers, start)
    try:
        number, method = parse_cseq(headers.get("CSeq") or "")
    except SipParseError as exc:
        raise SipParseError(exc.reason, headers, start) from None
    if isinstance(msg, Request) and method.upper() != msg.method.upper():
        raise SipParseError("CSeq method does not match the request method", headers, start)
    return msg


# ---- header value helpers -------------------------------------------------------------

def parse_params(text: str) -> dict[str, str | None]:
    """Parse ``;name=value;flag`` parameters (keys lower-cased, quotes removed)."""
    params: dict[str, str | None] = {}
    for part in _split_unquoted(text, ";"):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        val = value.strip() if eq else None
        if val and len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        params[name.strip().lower()] = val
    return params


def _split_unquoted(text: str, sep: str) -> list[str]:
    out, buf, quoted = [], [], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    out.append("".join(buf))
    return out


@dataclass
class NameAddr:
    """A From/To/Contact/Route value: display name, URI and header parameters."""

    uri: str
    display: str = ""
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def __str__(self) -> str:
        out = f'"{self.display}" <{self.uri}>' if self.display else f"<{self.uri}>"
        for k, v in self.params.items():
            out += f";{k}" if v is None else f";{k}={v}"
        return out


def parse_name_addr(value: str) -> NameAddr:
    value = value.strip()
    lt = -1
    quoted = False
    for i, ch in enumerate(value):
        if ch == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif ch == "<" and not quoted:
            lt = i
            break
    if lt >= 0:
        gt = value.find(">", lt)
        if gt < 0:
            raise SipParseError(f"unterminated <URI> in {value[:60]!r}")
        display = value[:lt].strip()
        if len(display) >= 2 and display[0] == display[-1] == '"':
            display = display[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return NameAddr(uri=value[lt + 1:gt].strip(), display=display,
                        params=parse_params(value[gt + 1:].lstrip(";")) if ";" in value[gt:] else {})
    uri, _, rest = value.partition(";")
    return NameAddr(uri=uri.strip(), params=parse_params(rest))


@dataclass
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        out = f"SIP/2.0/{self.transport} {host}" + (f":{self.port}" if self.port else "")
        for k, v in self.params.items():
            out += f";{k}" if v is None else f";{k}={v}"
        return out


_VIA = re.compile(r"^\s*SIP\s*/\s*([^\s/]+)\s*/\s*([A-Za-z0-9._-]+)\s+(.*)$", re.I | re.S)


def parse_via(value: str) -> Via:
    """One Via value; LWS is allowed around the "/" of the sent-protocol and around ";" and "="."""
    m = _VIA.match(value)
    if not m:
        raise SipParseError(f"bad Via {value[:60]!r}")
    sent_by, _, params = m.group(3).strip().partition(";")
    host, port = split_hostport(sent_by.strip())
    if not host:
        raise SipParseError(f"bad Via {value[:60]!r}")
    return Via(transport=m.group(2).upper(), host=host, port=port, params=parse_params(params))


def split_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1:]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.partition(":")
    if port and (not port.isdecimal() or not 0 < int(port) < 65536):
        raise SipParseError(f"bad port in {text[:60]!r}")
    return host, int(port) if port else None


@dataclass
class SipUri:
    scheme: str
    user: str
    host: str
    port: int | None
    params: dict[str, str | None]

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        out = f"{self.scheme}:" + (f"{self.user}@" if self.user else "") + host
        if self.port:
            out += f":{self.port}"
        for k, v in self.params.items():
            out += f";{k}" if v is None else f";{k}={v}"
        return out


def parse_uri(uri: str) -> SipUri:
    scheme, colon, rest = uri.strip().partition(":")
    if not colon:
        raise SipParseError(f"bad URI {uri[:60]!r}")
    scheme = scheme.lower()
    if scheme not in ("sip", "sips"):
        return SipUri(scheme=scheme, user="", host="", port=None, params={})
    rest, _, _headers = rest.partition("?")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        hostpart, userinfo = rest, ""
    hostport, _, params = hostpart.partition(";")
    host, port = split_hostport(hostport)
    if not host:
        raise SipParseError(f"URI without host {uri[:60]!r}")
    user = userinfo.partition(":")[0]
    return SipUri(scheme=scheme, user=user, host=host, port=port, params=parse_params(params))
