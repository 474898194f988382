"""Settings staff may change from the dashboard (admin only), stored in the database and laid over
the config file's values. Each has a validator; the next call uses the new value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .config import Config


@dataclass(frozen=True)
class SettingSpec:
    key: str
    label: str
    kind: str  # text | longtext | bool | int
    help: str
    get: Callable[[Config], Any]
    set: Callable[[Config, Any], None]
    check: Callable[[Any], str | None] = lambda v: None  # an error message, or None


def _uri_error(v: str) -> str | None:
    if v and not re.match(r"^sips?:\S+$|^tel:\+?[\d\-]+$", v):
        return "expected a sip:, sips: or tel: URI (or empty for callback tasks only)"
    return None


def _nonempty(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


def _days(v: int) -> str | None:
    return None if 1 <= v <= 3650 else "expected 1 to 3650 days"


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("clinic.name", "Clinic name", "text", "How the agent names the clinic.",
                lambda c: c.clinic.name, lambda c, v: setattr(c.clinic, "name", v), _nonempty),
    SettingSpec("clinic.address", "Address", "text", "Read to callers who ask where the clinic is.",
                lambda c: c.clinic.address, lambda c, v: setattr(c.clinic, "address", v)),
    SettingSpec("clinic.phone", "Clinic phone", "text", "The main number, for callbacks and texts.",
                lambda c: c.clinic.phone, lambda c, v: setattr(c.clinic, "phone", v)),
    SettingSpec("clinic.parking", "Parking", "longtext", "The answer to parking questions.",
                lambda c: c.clinic.parking, lambda c, v: setattr(c.clinic, "parking", v)),
    SettingSpec("clinic.disclosure", "AI disclosure", "longtext",
                "Said in the greeting: callers must know they are talking to a computer.",
                lambda c: c.clinic.disclosure, lambda c, v: setattr(c.clinic, "disclosure", v), _nonempty),
    SettingSpec("recording.enabled", "Record calls", "bool",
                "Store each call as WAV, after the consent prompt is played.",
                lambda c: c.recording.enabled, lambda c, v: setattr(c.recording, "enabled", v)),
    SettingSpec("recording.consent_prompt", "Recording consent prompt", "longtext",
                "Played first on every call while recording is on.",
                lambda c: c.recording.consent_prompt, lambda c, v: setattr(c.recording, "consent_prompt", v), _nonempty),
    SettingSpec("privacy.retention_days", "Retention (days)", "int",
                "Transcripts and recordings older than this are deleted; the call counts stay.",
                lambda c: c.privacy.retention_days, lambda c, v: setattr(c.privacy, "retention_days", v), _days),
    SettingSpec("handoff.front_desk_uri", "Handoff URI", "text",
                "Where calls are transferred (REFER) during open hours; empty: callback tasks only.",
                lambda c: c.handoff.front_desk_uri, lambda c, v: setattr(c.handoff, "front_desk_uri", v), _uri_error),
)
BY_KEY = {s.key: s for s in SETTINGS}


def parse_form(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Form strings -> (typed values, errors by key). Unchecked checkboxes are absent: False."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in SETTINGS:
        raw = form.get(spec.key)
        if spec.kind == "bool":
            value: Any = raw in ("on", "true", "1", "yes")
        elif spec.kind == "int":
            try:
                value = int(str(raw).strip())
            except (TypeError, ValueError):
                errors[spec.key] = "expected a whole number"
                continue
        else:
            value = (raw or "").strip()
            if len(value) > 2000:
                errors[spec.key] = "too long (2000 characters at most)"
                continue
        problem = spec.check(value)
        if problem:
            errors[spec.key] = problem
        else:
            values[spec.key] = value
    return values, errors


def current(cfg: Config) -> dict[str, Any]:
    return {spec.key: spec.get(cfg) for spec in SETTINGS}


def apply(cfg: Config, overrides: dict[str, Any]) -> None:
    """Lay stored overrides over the config (unknown or invalid keys are ignored)."""
    for key, value in overrides.items():
        spec = BY_KEY.get(key)
        if spec is not None and spec.check(value) is None:
            spec.set(cfg, value)
