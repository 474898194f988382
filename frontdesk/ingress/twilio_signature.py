"""X-Twilio-Signature: how Twilio signs its webhook and Media Streams WebSocket requests.

The signature is base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value, sorted
by name)). The URL is the one Twilio requested, as configured in Twilio (the public URL), with
its query string. Twilio may or may not include the port, so the URL is also checked without
its port and with the scheme's default one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit


def compute(auth_token: str, url: str, params: dict[str, str | list[str]] | None = None) -> str:
    data = url
    for key in sorted(params or {}):
        values = (params or {})[key]
        for value in sorted(values if isinstance(values, list) else [values]):
            data += key + value
    digest = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _port_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port."""
    parts = urlsplit(url)
    default = {"https": 443, "wss": 443, "http": 80, "ws": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = userinfo + "@" if userinfo else ""
    out = [url, urlunsplit(parts._replace(netloc=prefix + host))]
    if default is not None:
        out.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return list(dict.fromkeys(out))


def valid(auth_token: str, url: str, params: dict[str, str | list[str]] | None, signature: str | None) -> bool:
    if not auth_token or not signature:
        return False
    return any(hmac.compare_digest(compute(auth_token, u, params), signature) for u in _port_variants(url))
