"""Redaction of phone numbers, email addresses, dates of birth and the caller's own name, for logs and
stored transcripts."""

from __future__ import annotations

import copy
import logging
import re

PHONE = re.compile(r"(?<![\w])(?:\+?\d[\d\s().\-]{6,}\d)(?![\w])")
EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# 1990-04-12, 04/12/1990, 12.04.90, and spoken forms such as "April 12th, 1990"
DATE_NUMERIC = re.compile(r"\b(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4})\b")
MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
DATE_SPOKEN = re.compile(rf"\b(?:{MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:nineteen|twenty|\d{{4}})[\w\s-]*?(?=[.,;!?]|$)", re.I)
SIP_USER = re.compile(r"(sips?:)(\+?\d{5,})@")
DIGIT_WORDS = re.compile(r"\b(?:(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)[\s,-]+){6,}"
                         r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)\b", re.I)

# fields of the qualification that are personal
PERSONAL_FIELDS = ("caller_name", "phone_number", "date_of_birth", "email", "insurance_member_id")


IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


def redact_text(text: str) -> str:
    if not text:
        return text
    # IPv4 addresses look like dotted numbers; keep them out of the number patterns
    addresses: list[str] = []

    def keep(m: re.Match) -> str:
        addresses.append(m.group(0))
        return f"\x00{len(addresses) - 1}\x00"

    text = IPV4.sub(keep, text)
    text = _redact(text)
    return re.sub("\x00(\\d+)\x00", lambda m: addresses[int(m.group(1))], text) if addresses else text


def _redact(text: str) -> str:
    text = EMAIL.sub("[email]", text)
    text = SIP_USER.sub(r"\1[phone]@", text)
    text = DATE_NUMERIC.sub("[date]", text)
    text = DATE_SPOKEN.sub("[date]", text)
    text = DIGIT_WORDS.sub("[number]", text)
    text = PHONE.sub("[phone]", text)
    return text


def redact_record(record: dict) -> dict:
    """A copy of a call record with the transcript and personal fields redacted."""
    out = copy.deepcopy(record)
    names = _known_names(out)
    for turn in out.get("turns", []):
        if isinstance(turn.get("text"), str):
            turn["text"] = redact_text(turn["text"])
            if names:
                turn["text"] = names.sub("[name]", turn["text"])
    qual = out.get("qualification") or {}
    for key in PERSONAL_FIELDS:
        if qual.get(key):
            qual[key] = f"[{key}]"
    for call in out.get("tool_calls", []):
        for part in ("args", "result"):
            if isinstance(call.get(part), (dict, list, str)):
                call[part] = _redact_any(call[part])
    for key in ("caller", "caller_number", "called"):
        if isinstance(out.get(key), str) and out[key]:
            out[key] = redact_text(out[key])
    return out


def _known_names(record: dict) -> re.Pattern | None:
    """The caller's name as the call learned it (qualification, booking arguments): each part of it
    is masked wherever the transcript says it, "My name is John Smith" -> "My name is [name] [name]"."""
    found: list[str] = []
    qual = record.get("qualification") or {}
    if isinstance(qual.get("caller_name"), str):
        found.append(qual["caller_name"])
    for call in record.get("tool_calls", []):
        args = call.get("args")
        if isinstance(args, dict):
            found += [v for k, v in args.items() if k in ("name", "caller_name") and isinstance(v, str)]
    parts = {p for name in found for p in re.findall(r"[^\W\d_]{2,}(?:['-][^\W\d_]+)*", name)}
    if not parts:
        return None
    alternatives = "|".join(re.escape(p) for p in sorted(parts, key=len, reverse=True))
    return re.compile(rf"(?<![\w'-])(?:{alternatives})(?![\w'-])", re.I)


def _redact_any(value):
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: ("[redacted]" if k in PERSONAL_FIELDS or k in ("name", "phone", "email") else _redact_any(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_any(v) for v in value]
    return value


CALL_ID = re.compile(r"(?<=\bcall )\S+")


class RedactingFilter(logging.Filter):
    """Installed on every handler: log lines never carry numbers, emails or birth dates. Call-IDs
    ("call <id>") are kept as they are: operators need them to find a call."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        ids: list[str] = []

        def keep(m: re.Match) -> str:
            ids.append(m.group(0))
            return f"\x01{len(ids) - 1}\x01"

        message = redact_text(CALL_ID.sub(keep, message))
        record.msg = re.sub("\x01(\\d+)\x01", lambda m: ids[int(m.group(1))], message) if ids else message
        record.args = None
        return True
