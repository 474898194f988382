"""A persona file: the facts and the style of one simulated caller (tests/personas/README.md).

Loading checks every field and says which one is wrong, so that a clinic writing its own
personas gets a clear error instead of a caller that misbehaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

import yaml

GOALS = ("book", "cancel", "reschedule", "question", "person", "emergency")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_WORDS = ("any", "tomorrow", "this_week", "next_week")
OPENINGS = ("request", "all", "split", "one_at_a_time")
VOLUNTEERABLE = ("name", "phone", "when", "dob", "email", "service", "insurance", "new_patient")


class PersonaError(ValueError):
    """A persona file that cannot be used, with the field that is wrong."""


@dataclass
class When:
    words: str = "whenever you have something"
    days: str | list[str] = "any"
    after: time | None = None
    before: time | None = None
    decoy: str | None = None


@dataclass
class Question:
    ask: str
    answer_has: list[str] = field(default_factory=list)


@dataclass
class Existing:
    service: str
    provider: str | None = None
    in_days: int = 5
    time: time = time(10)


@dataclass
class Facts:
    first_name: str
    last_name: str
    phone: str = "caller_id"
    dob: date | None = None
    email: str = ""
    new_patient: bool | None = None
    insurance: str = ""
    service: str = ""
    service_words: str = ""
    provider: str | None = None
    when: When = field(default_factory=When)
    accept: str = "first"
    existing: Existing | None = None
    questions: list[Question] = field(default_factory=list)
    then: str = "accept_callback"
    emergency_words: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class Style:
    greeting: bool = True
    opening: str = "request"
    volunteer: list[str] = field(default_factory=list)
    hesitation: float = 0.0
    pauses: float = 0.0
    corrections: bool = False
    backchannel: float = 0.0
    talk_over: float = 0.0
    digits: str = "grouped"
    spelling: str = "letters"
    verbosity: str = "normal"
    questions: str = "one_by_one"
    phrases: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Persona:
    id: str
    goal: str
    facts: Facts
    style: Style
    seed: int = 0
    caller_id: str | None = None
    about: str = ""
    path: str = ""

    @property
    def callback_number(self) -> str | None:
        """The E.164 number the caller wants to be called back on."""
        if self.facts.phone == "caller_id":
            return self.caller_id
        return self.facts.phone


def _time(value, where: str) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, int):  # YAML reads 12:00 unquoted as sexagesimal minutes
        return time(value // 60, value % 60)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise PersonaError(f"{where}: expected HH:MM, got {value!r}")
    return time(int(m.group(1)), int(m.group(2)))


def _prob(value, where: str) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise PersonaError(f"{where}: expected a number from 0 to 1, got {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise PersonaError(f"{where}: expected a number from 0 to 1, got {value!r}")
    return p


def _choice(value, allowed: tuple, where: str) -> str:
    if value not in allowed:
        raise PersonaError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _e164(value, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\+\d{8,15}", value.replace(" ", "")):
        raise PersonaError(f"{where}: expected a number like +13125550181, got {value!r}")
    return value.replace(" ", "")


def _dict(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PersonaError(f"{where}: expected a mapping")
    return value


def _when(raw: dict) -> When:
    days = raw.get("days", "any")
    if isinstance(days, str):
        if days.lower() in WEEKDAYS:
            days = [days.lower()]
        else:
            _choice(days, DAY_WORDS, "facts.when.days")
    elif isinstance(days, list):
        days = [str(d).lower() for d in days]
        for d in days:
            _choice(d, WEEKDAYS, "facts.when.days")
    else:
        raise PersonaError("facts.when.days: expected any, tomorrow, this_week, next_week or a list of weekdays")
    return When(words=str(raw.get("words") or "whenever you have something"), days=days,
                after=_time(raw.get("after"), "facts.when.after"), before=_time(raw.get("before"), "facts.when.before"),
                decoy=raw.get("decoy") or None)


def parse_persona(data: dict, path: str = "") -> Persona:
    if not isinstance(data, dict):
        raise PersonaError("a persona file holds a mapping (id, goal, facts, style)")
    pid = str(data.get("id") or Path(path).stem or "persona")
    goal = _choice(data.get("goal", "book"), GOALS, "goal")
    f = _dict(data.get("facts"), "facts")
    for key in ("first_name", "last_name"):
        if not isinstance(f.get(key), str) or not f[key].strip():
            raise PersonaError(f"facts.{key}: required")
    caller_id = data.get("caller_id")
    caller_id = _e164(str(caller_id), "caller_id") if caller_id not in (None, "", "null") else None
    phone = f.get("phone", "caller_id")
    if phone != "caller_id":
        phone = _e164(str(phone), "facts.phone")
    elif caller_id is None:
        raise PersonaError("facts.phone: caller_id, but this caller withholds its number (caller_id: null)")
    dob = f.get("dob")
    if dob is not None and not isinstance(dob, date):
        try:
            dob = date.fromisoformat(str(dob))
        except ValueError:
            raise PersonaError(f"facts.dob: expected YYYY-MM-DD, got {dob!r}") from None
    existing = None
    if f.get("existing"):
        e = _dict(f["existing"], "facts.existing")
        if not e.get("service"):
            raise PersonaError("facts.existing.service: required")
        existing = Existing(service=str(e["service"]), provider=e.get("provider"), in_days=int(e.get("in_days", 5)),
                            time=_time(e.get("time", "10:00"), "facts.existing.time") or time(10))
    if goal in ("cancel", "reschedule") and existing is None:
        raise PersonaError(f"facts.existing: a {goal} caller needs the appointment it already has")
    questions = []
    for i, q in enumerate(f.get("questions") or []):
        q = _dict(q, f"facts.questions[{i}]")
        if not q.get("ask"):
            raise PersonaError(f"facts.questions[{i}].ask: required")
        questions.append(Question(ask=str(q["ask"]), answer_has=[str(w).lower() for w in q.get("answer_has") or []]))
    if goal == "question" and not questions:
        raise PersonaError("facts.questions: a question caller needs at least one question")
    if goal == "emergency" and not f.get("emergency_words"):
        raise PersonaError("facts.emergency_words: an emergency caller needs to say what is happening")
    if goal == "book" and not f.get("service"):
        raise PersonaError("facts.service: a booking caller needs the service it wants")
    new_patient = f.get("new_patient")
    if new_patient is not None and not isinstance(new_patient, bool):
        raise PersonaError("facts.new_patient: expected true or false")
    facts = Facts(
        first_name=f["first_name"].strip(), last_name=f["last_name"].strip(), phone=phone, dob=dob,
        email=str(f.get("email") or "").strip().lower(), new_patient=new_patient,
        insurance=str(f.get("insurance") or ""), service=str(f.get("service") or ""),
        service_words=str(f.get("service_words") or f.get("service") or ""), provider=f.get("provider") or None,
        when=_when(_dict(f.get("when"), "facts.when")),
        accept=_choice(f.get("accept", "first"), ("first", "last", "any"), "facts.accept"),
        existing=existing, questions=questions,
        then=_choice(f.get("then", "accept_callback"), ("accept_callback", "decline_callback"), "facts.then"),
        emergency_words=str(f.get("emergency_words") or ""),
    )
    s = _dict(data.get("style"), "style")
    volunteer = [str(v) for v in s.get("volunteer") or []]
    for v in volunteer:
        _choice(v, VOLUNTEERABLE, "style.volunteer")
    # YAML 1.1 reads an unquoted yes: / no: key as a boolean
    phrases = {({True: "yes", False: "no"}.get(k, k) if isinstance(k, bool) else str(k)): v
               for k, v in _dict(s.get("phrases"), "style.phrases").items()}
    for act, lines in phrases.items():
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines) or not lines:
            raise PersonaError(f"style.phrases.{act}: expected a list of strings")
    style = Style(
        greeting=bool(s.get("greeting", True)), opening=_choice(s.get("opening", "request"), OPENINGS, "style.opening"),
        volunteer=volunteer, hesitation=_prob(s.get("hesitation", 0.0), "style.hesitation"),
        pauses=_prob(s.get("pauses", 0.0), "style.pauses"), corrections=bool(s.get("corrections", False)),
        backchannel=_prob(s.get("backchannel", 0.0), "style.backchannel"),
        talk_over=_prob(s.get("talk_over", 0.0), "style.talk_over"),
        digits=_choice(s.get("digits", "grouped"), ("grouped", "one_by_one", "with_pauses", "keypad"), "style.digits"),
        spelling=_choice(s.get("spelling", "letters"), ("letters", "phonetic", "mixed"), "style.spelling"),
        verbosity=_choice(s.get("verbosity", "normal"), ("terse", "normal", "chatty"), "style.verbosity"),
        questions=_choice(s.get("questions", "one_by_one"), ("one_by_one", "together"), "style.questions"),
        phrases={k: list(v) for k, v in phrases.items()},
    )
    if style.corrections and not facts.when.decoy:
        raise PersonaError("facts.when.decoy: style.corrections needs what the caller says first")
    return Persona(id=pid, goal=goal, facts=facts, style=style, seed=int(data.get("seed", 0)), caller_id=caller_id,
                   about=str(data.get("about") or ""), path=path)


def load_persona(path: str | Path) -> Persona:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PersonaError(f"{path}: {exc}") from None
    try:
        return parse_persona(data, str(path))
    except PersonaError as exc:
        raise PersonaError(f"{path}: {exc}") from None


def load_personas(folder: str | Path) -> list[Persona]:
    files = sorted(Path(folder).glob("*.yaml"))
    if not files:
        raise PersonaError(f"{folder}: no *.yaml persona files")
    return [load_persona(p) for p in files]
