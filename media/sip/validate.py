"""Request validation: what RFC 3261 (and RFC 4475's torture cases) make a UAS refuse in a request
that parsed. Pure functions of the message; the user agent answers with the status they give."""

from __future__ import annotations

import re

from .message import Request, SipParseError, parse_via

_EMPTY_PARAM = re.compile(r";\s*(;|,|$)")
_DISPLAY_TOKENS = re.compile(r"[A-Za-z0-9\-.!%*_+`'~ \t]+")


def name_addr_problem(value: str) -> str | None:
    """Why a From/To/Contact value is malformed (RFC 3261 §20.10, §25.1), or None."""
    v = value.strip()
    if v == "*":
        return None
    if re.sub(r"\\.", "", v).count('"') % 2:
        return "unbalanced quotes"
    if "<" in v:
        i = v.index("<")
        j = v.find(">", i)
        if j < 0:
            return "missing >"
        display = v[:i].strip()
        if display and not (display.startswith('"') and display.endswith('"')) and not _DISPLAY_TOKENS.fullmatch(display):
            return "a display name with such characters must be quoted"
        inner = v[i + 1:j]
        if not inner or inner != inner.strip():
            return "spaces inside <>"
        params = v[j + 1:]
    else:
        addr, sep, rest = v.partition(";")
        if any(c in addr.strip() for c in " ?,"):
            return "an address with spaces, ? or , must be in <>"
        params = sep + rest
    if params.strip() and _EMPTY_PARAM.search(params):
        return "empty parameter"
    return None


SINGLE_VALUED = ("Call-ID", "From", "To", "CSeq", "Max-Forwards", "Content-Length", "Content-Type")


def check_request(req: Request, method: str) -> tuple[int, str, list[tuple[str, str]]] | None:
    """What RFC 3261 (and RFC 4475's torture cases) make a UAS refuse in a parseable request."""
    for name in SINGLE_VALUED:
        if len(req.headers.get_all(name)) > 1:
            return 400, f"Bad Request (more than one {name})", []
    if req.cseq[1].upper() != method:
        return 400, "Bad Request (CSeq method does not match the request)", []
    for value in req.headers.get_all("Via"):
        try:
            parse_via(value)
        except SipParseError:
            return 400, "Bad Request (malformed Via)", []
        if _EMPTY_PARAM.search(value):
            return 400, "Bad Request (empty Via parameter)", []
    for name in ("From", "To", "Contact"):
        for value in req.headers.get_all(name):
            why = name_addr_problem(value)
            if why:
                return 400, f"Bad Request ({name}: {why})", []
    if method == "INVITE":
        if "?" in req.uri:
            return 400, "Bad Request (headers in the Request-URI)", []
        ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if req.body and ctype != "application/sdp":
            return 415, "Unsupported Media Type", [("Accept", "application/sdp")]
        accept = req.headers.get_all("Accept")
        if req.body and accept and not any("application/sdp" in a.lower() or "*/*" in a for a in accept):
            return 406, "Not Acceptable", [("Warning", '399 frontdesk "the answer would be application/sdp"')]
    return None
