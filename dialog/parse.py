"""Deterministic understanding of what callers say: yes/no, numbers, phone numbers, names,
dates and times, and choices among offered slots. Speech recognition at 8 kHz mishears, so
every parser accepts the forms Whisper produces ("2 p.m.", "two thirty", "five five five").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

_YES = re.compile(r"^(yes|yeah|yep|yup|ya|sure|correct|right|that'?s right|that'?s correct|that works|sounds good|"
                  r"perfect|okay|ok|please do|go ahead|absolutely|definitely|of course|confirm(ed)?|book it|"
                  r"that one|great|fine|alright|all right|uh huh|mm hmm)\b", re.I)
_YES_ANY = re.compile(r"\b(yes|yeah|yep|correct|that works|sounds good|please do|go ahead|book it|confirm)\b", re.I)
_NO = re.compile(r"\b(no|nope|nah|not really|don'?t|do not|wrong|incorrect|neither|none|cancel that|wait|actually|"
                 r"change|different|another)\b", re.I)

UNITS = {"zero": 0, "oh": 0, "o": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
         "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
         "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
            "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
            "twentieth": 20, "thirtieth": 30}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]


def clean(text: str) -> str:
    t = text.lower().replace("’", "'")
    t = re.sub(r"\b([ap])\.\s?m\.?", r"\1m", t)
    t = re.sub(r"[^a-z0-9':# ]", " ", t)
    return re.sub(r"\s+", " ", t).strip()


def is_yes(text: str) -> bool:
    t = clean(text)
    if not t:
        return False
    if re.search(r"\b(no|not|don'?t|nope|wait|actually|change)\b", t) and not re.match(r"^(yes|yeah)\b", t):
        return False
    return bool(_YES.match(t) or _YES_ANY.search(t))


def is_no(text: str) -> bool:
    t = clean(text)
    return bool(t) and not re.match(r"^(yes|yeah|yep|sure)\b", t) and bool(_NO.search(t))


# ---- numbers and phone numbers -------------------------------------------------------

def spoken_digits(text: str) -> str:
    """Digits from speech or DTMF: '555 0143', 'five five five oh one four three', 'double five'."""
    t = clean(text).replace("-", " ")
    out: list[str] = []
    repeat = 1
    for word in t.split():
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
            continue
        if word.isdigit():
            out.append(word * repeat if len(word) == 1 else word)
        elif word in UNITS and UNITS[word] < 10:
            out.append(str(UNITS[word]) * repeat)
        elif word in TENS:
            out.append(str(TENS[word]))
        repeat = 1
    return "".join(out)


def parse_phone(text: str, region: str = "US") -> str | None:
    """An E.164 number from speech or keypad digits, or None if it is not a valid number."""
    import phonenumbers

    digits = spoken_digits(text)
    if len(digits) < 7:
        return None
    for candidate in (digits, "+" + digits):
        try:
            num = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return None


def caller_id_phone(uri_user: str, region: str = "US") -> str | None:
    """The caller's number from the From URI's user part (e.g. +12025550143 or 2025550143)."""
    import phonenumbers

    digits = re.sub(r"[^\d+]", "", uri_user or "")
    if len(digits.lstrip("+")) < 7:
        return None
    try:
        num = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def speak_phone(e164: str) -> str:
    """Read a number back digit by digit, grouped as people say it."""
    d = e164.lstrip("+")
    if len(d) == 11 and d.startswith("1"):
        d = d[1:]
    groups = [d[:3], d[3:6], d[6:]] if len(d) == 10 else [d]
    return ", ".join(" ".join(g) for g in groups)


# ---- names ---------------------------------------------------------------------------

_NAME_INTRO = re.compile(r"\b(?:my name is|my name's|name is|this is|it's|it is|i am|i'm|call me)\s+(.+)", re.I)
_NOT_NAME = {"calling", "looking", "trying", "wondering", "hoping", "interested", "here", "not", "just", "a", "the",
             "sorry", "fine", "good", "new", "an", "existing", "sure", "yes", "no", "okay", "ok"}


_QUESTION = re.compile(r"^(do|does|did|can|could|would|will|what|where|when|how|why|is|are|who|which)\b", re.I)


def parse_name(text: str) -> str | None:
    if "?" in text or _QUESTION.match(text.strip()):
        return None
    raw = re.sub(r"[^A-Za-z' \-]", " ", text).strip()
    m = _NAME_INTRO.search(raw)
    if not m and len(raw.split()) > 4:
        return None
    candidate = m.group(1) if m else raw
    words = [w for w in candidate.split() if w.lower() not in ("and", "uh", "um", "er")]
    # spelled names: "M A R I A"
    if len(words) >= 3 and all(len(w) == 1 for w in words):
        return "".join(words).capitalize()
    words = words[:3]
    if not words or words[0].lower() in _NOT_NAME or len(words) > 3:
        return None
    if any(w.lower() in ("appointment", "book", "cleaning", "cancel", "help", "phone", "number") for w in words):
        return None
    return " ".join(w[:1].upper() + w[1:].lower() for w in words)


# ---- dates and times -----------------------------------------------------------------

@dataclass
class When:
    day_from: date | None = None
    day_to: date | None = None
    after: time | None = None
    before: time | None = None
    at: time | None = None

    @property
    def empty(self) -> bool:
        return self.day_from is None and self.after is None and self.before is None and self.at is None


def _number_word(tokens: list[str], i: int) -> tuple[int | None, int]:
    """A number spelled as words starting at tokens[i]: returns (value, tokens used)."""
    w = tokens[i]
    if w.isdigit():
        return int(w), 1
    if w in TENS:
        if i + 1 < len(tokens) and tokens[i + 1] in UNITS and 0 < UNITS[tokens[i + 1]] < 10:
            return TENS[w] + UNITS[tokens[i + 1]], 2
        return TENS[w], 1
    if w in UNITS:
        return UNITS[w], 1
    return None, 0


def parse_time(text: str) -> time | None:
    t = clean(text)
    if re.search(r"\bnoon\b", t):
        return time(12)
    m = re.search(r"\b(\d{1,2})(?::(\d{2}))?\s*(am|pm)\b", t) or re.search(r"\b(?:at|around|about|by)\s+(\d{1,2})(?::(\d{2}))?\b(?!\s*(?:st|nd|rd|th))", t)
    hour = minute = None
    ampm = None
    if m:
        hour, minute = int(m.group(1)), int(m.group(2) or 0)
        ampm = m.group(3) if m.lastindex and m.lastindex >= 3 else None
    else:
        tokens = t.split()
        for i, tok in enumerate(tokens):
            if tok in ("at", "around", "about") and i + 1 < len(tokens):
                val, used = _number_word(tokens, i + 1)
                if val is not None and 1 <= val <= 12:
                    hour = val
                    rest = tokens[i + 1 + used:]
                    if rest:
                        mval, _ = _number_word(rest, 0)
                        if rest[0] == "thirty" or (mval is not None and 10 <= mval < 60):
                            minute = mval or 30
                        elif rest[0] in ("am", "pm"):
                            ampm = rest[0]
                        if len(rest) > 1 and rest[1] in ("am", "pm"):
                            ampm = rest[1]
                    break
        if hour is None:
            m2 = re.search(r"\b(\w+)\s*(?:o'?clock)\b", t)
            if m2:
                val, _ = _number_word([m2.group(1)], 0)
                hour = val
    if hour is None or not 0 <= hour <= 23 or not 0 <= (minute or 0) < 60:
        return None
    minute = minute or 0
    if ampm == "pm" and hour < 12:
        hour += 12
    elif ampm == "am" and hour == 12:
        hour = 0
    elif ampm is None and 1 <= hour <= 6:
        hour += 12  # "at 2" in a clinic means the afternoon
    return time(hour, minute)


def parse_when(text: str, today: date) -> When:
    """A caller's day and time preference, relative to today in the clinic's time zone."""
    t = clean(text)
    w = When()
    if re.search(r"\bday after tomorrow\b", t):
        w.day_from = today + timedelta(days=2)
    elif re.search(r"\btomorrow\b", t):
        w.day_from = today + timedelta(days=1)
    elif re.search(r"\btoday\b|\bthis (afternoon|morning|evening)\b", t):
        w.day_from = today
    m = re.search(r"\b(this|next|coming)?\s*(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b", t)
    if w.day_from is None and m:
        target = WEEKDAYS.index(m.group(2))
        if m.group(1) == "next":  # that day in next week (Monday to Sunday)
            w.day_from = today + timedelta(days=7 - today.weekday() + target)
        else:  # the coming one
            w.day_from = today + timedelta(days=(target - today.weekday()) % 7 or 7)
    if w.day_from is None:
        m = re.search(r"\bnext week\b", t)
        if m:
            start = today + timedelta(days=7 - today.weekday())
            w.day_from, w.day_to = start, start + timedelta(days=4)
        elif re.search(r"\bthis week\b", t):
            w.day_from, w.day_to = today, today + timedelta(days=max(0, 4 - today.weekday()))
    if w.day_from is None:
        m = re.search(r"\bin (\w+) (day|days|week|weeks)\b", t)
        if m:
            n, _ = _number_word([m.group(1)], 0)
            if m.group(1) in ("a", "one"):
                n = 1
            if n:
                w.day_from = today + timedelta(days=n * (7 if m.group(2).startswith("week") else 1))
    if w.day_from is None:
        month = next((i + 1 for i, name in enumerate(MONTHS) if re.search(rf"\b{name}\b", t)), None)
        day_num = None
        m = re.search(r"\b(\d{1,2})(st|nd|rd|th)\b", t) or (re.search(r"\b(\d{1,2})\b", t) if month else None)
        if m:
            day_num = int(m.group(1))
        else:
            for word, val in ORDINALS.items():
                if re.search(rf"\b(twenty |thirty )?{word}\b", t):
                    day_num = val + (20 if "twenty " + word in t else 30 if "thirty " + word in t else 0)
                    break
        if day_num and 1 <= day_num <= 31:
            y, mo = today.year, month or today.month
            for _ in range(13):
                try:
                    cand = date(y, mo, day_num)
                except ValueError:
                    cand = None
                if cand and cand >= today:
                    w.day_from = cand
                    break
                if month:
                    y += 1
                else:
                    mo = mo % 12 + 1
                    y += 1 if mo == 1 else 0
    if re.search(r"\bmorning\b", t):
        w.before = time(12)
    elif re.search(r"\bafternoon\b", t):
        w.after = time(12)
    elif re.search(r"\bevening\b|\bafter work\b|\blate\b", t):
        w.after = time(16)
    elif re.search(r"\bearly\b", t):
        w.before = time(10)
    w.at = parse_time(t)
    if w.day_from and not w.day_to:
        w.day_to = w.day_from
    return w


def parse_ordinal_choice(text: str, n: int) -> int | None:
    """Which of n offered options: 'the first', 'second one', 'the last', 'the later one'."""
    t = clean(text)
    if re.search(r"\b(first|former|earlier|earliest|1st|option one|number one)\b", t):
        return 0
    if n >= 2 and re.search(r"\b(second|2nd|option two|number two)\b", t):
        return 1
    if n >= 3 and re.search(r"\b(third|3rd|option three|number three)\b", t):
        return 2
    if re.search(r"\b(last|latter|later|latest)\b", t):
        return n - 1
    return None


def parse_birth_date(text: str, today: date) -> date | None:
    """A date of birth: '3/14/1985', 'March 14th 1985', 'the fourteenth of March, nineteen eighty-five'."""
    t = clean(text).replace("-", " ")
    m = re.search(r"\b(nineteen|twenty|two thousand(?: and)?)\s+(\w+)(?:\s+(\w+))?", t)
    if m:
        base = 1900 if m.group(1) == "nineteen" else 2000
        tokens = [w for w in (m.group(2), m.group(3)) if w]
        val, used = _number_word(tokens, 0)
        if val is not None and val < 100:
            t = t.replace(" ".join([m.group(1)] + tokens[:used]), str(base + val), 1)
    for word, val in sorted(ORDINALS.items(), key=lambda kv: -len(kv[0])):
        t = re.sub(rf"\b(twenty |thirty )?{word}\b",
                   lambda mm, v=val: str(v + (20 if mm.group(1) == "twenty " else 30 if mm.group(1) == "thirty " else 0)), t)
    month_rx = "|".join(MONTHS)
    y = mo = d = None
    if m := re.search(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b", text):
        mo, d, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if y < 100:
            y += 1900 if y > today.year % 100 else 2000
    elif m := re.search(rf"\b({month_rx})\s+(\d{{1,2}})(?:st|nd|rd|th)?\s+(\d{{4}})\b", t):
        mo, d, y = MONTHS.index(m.group(1)) + 1, int(m.group(2)), int(m.group(3))
    elif m := re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({month_rx})\s+(\d{{4}})\b", t):
        d, mo, y = int(m.group(1)), MONTHS.index(m.group(2)) + 1, int(m.group(3))
    if y is None:
        return None
    try:
        found = date(y, mo, d)
    except ValueError:
        return None
    if not (today.year - 120 <= found.year) or found > today:
        return None
    return found
