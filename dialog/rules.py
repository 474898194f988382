"""Deterministic understanding that does not depend on the language model."""

from __future__ import annotations

import re

_GOODBYE = re.compile(
    r"\b(good ?bye|bye|that'?s all|that is all|nothing else|no,? thank(s| you)|have a (good|nice) (day|one))\b", re.I)
_EMERGENCY = re.compile(
    r"\b(chest pains?|can'?t breathe|cannot breathe|not breathing|unconscious|heart attack|stroke|"
    r"bleeding (heavily|a lot|badly|won'?t stop)|severe (bleeding|swelling)|suicid\w*|overdose|emergency room|"
    r"face is swelling|swelling .*(eye|throat))\b", re.I)
_HUMAN = re.compile(r"\b(real person|human|receptionist|operator|someone (real|at the (front )?desk)|speak to (a|the) (person|staff|doctor|dentist))\b", re.I)


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", text.lower())).strip()


def is_goodbye(text: str) -> bool:
    return bool(_GOODBYE.search(text)) and len(normalize(text).split()) <= 12


def is_emergency(text: str) -> bool:
    return bool(_EMERGENCY.search(text))


def wants_human(text: str) -> bool:
    return bool(_HUMAN.search(text))


def match_service(text: str, services) -> str | None:
    """The configured service a caller named, by name or alias (longest match wins)."""
    norm = f" {normalize(text)} "
    best: tuple[int, str] | None = None
    for service in services:
        for phrase in [service.name, *service.aliases]:
            p = normalize(phrase)
            if p and f" {p} " in norm or (p and f" {p}s " in norm):
                if best is None or len(p) > best[0]:
                    best = (len(p), service.name)
    return best[1] if best else None
