"""Deterministic understanding of what callers say: numbers, phone numbers, dates of birth,
dates and times, and choices among offered slots. Speech recognition at 8 kHz mishears, so
every parser accepts the forms Whisper produces ("2 p.m.", "two thirty", "five five five").

One module on purpose (about 500 lines): the spoken-number vocabulary and ``clean`` (units,
tens, ordinals, "half nine", a dropped colon) are shared by the phone, birth-date, date and time
parsers, and a change to one of them must be read against the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

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


_HOURS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12}


def _clock_phrases(t: str) -> str:
    """"half past ten" -> "10:30", "quarter to four" -> "3:45", "quarter past 9" -> "9:15"."""
    def hour(w: str) -> int | None:
        return int(w) if w.isdigit() and 1 <= int(w) <= 12 else _HOURS.get(w)

    def past(m):
        h = hour(m.group(3))
        return m.group(0) if h is None else f"{h}:{30 if m.group(1) == 'half' else 15:02d}"

    def to(m):
        h = hour(m.group(2))
        return m.group(0) if h is None else f"{12 if h == 1 else h - 1}:45"
    t = re.sub(r"\b(half|quarter) (past|after) (\w+)", past, t)
    t = re.sub(r"\b(half) ()(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|1[0-2]|[1-9])\b(?! (hour|day|week))",
               past, t)  # "half nine": 9:30, as said in Britain and Ireland
    return re.sub(r"\bquarter (to|of|till|til) (\w+)", to, t)


def clean(text: str) -> str:
    t = text.lower().replace("’", "'")
    t = re.sub(r"\b([ap])\.\s?m\.?", r"\1m", t)
    t = re.sub(r"\b(1[0-2]|0?[1-9])\.([0-5]\d)(?!\d)", r"\1:\2", t)  # "9.30"
    # "130 in the afternoon", "930am": the recogniser dropped the colon
    t = re.sub(r"\b(1[0-2]|[1-9]):?([0-5]\d) ?(am|pm|in the (?:morning|afternoon|evening)|o'?clock)\b", r"\1:\2 \3", t)
    # "the 945 one", "the 945-1", "the 1030 slot": an offered time with its colon dropped
    t = re.sub(r"\bthe (1[0-2]|[1-9])([0-5]\d)(?:-1\b| (?=one|slot|appointment|option|time)\b)", r"the \1:\2 ", t)
    t = re.sub(r"[^a-z0-9':# ]", " ", t)
    return _clock_phrases(re.sub(r"\s+", " ", t).strip())


# ---- numbers and phone numbers -------------------------------------------------------

def spoken_digits(text: str) -> str:
    """Digits from speech or DTMF: '555 0143', 'five five five oh one four three', 'double five'."""
    t = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", " ", clean(text).replace("-", " "))  # "om202"
    out: list[str] = []
    repeat = 1
    words = t.split()

    def numeric(j: int) -> bool:
        return 0 <= j < len(words) and (words[j].isdigit() or (words[j] in UNITS and UNITS[words[j]] < 10
                                                               and words[j] not in ("oh", "o")))
    for i, word in enumerate(words):
        if word in ("double", "triple"):
            repeat = 2 if word == "double" else 3
            continue
        if word in ("oh", "o") and not (numeric(i - 1) or numeric(i + 1) or (i + 1 < len(words) and words[i + 1] in ("oh", "o"))):
            repeat = 1
            continue  # "Oh, right, so..." is not a zero
        if word == "one" and repeat == 1 and not (numeric(i - 1) or numeric(i + 1) or
                                                  {words[j] for j in (i - 1, i + 1) if 0 <= j < len(words)} & {"oh", "o"}):
            continue  # "that's the best one", "this one"
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


# ---- dates and times -----------------------------------------------------------------

@dataclass
class When:
    day_from: date | None = None
    day_to: date | None = None
    after: time | None = None
    before: time | None = None
    at: time | None = None
    weekdays: frozenset | None = None  # only these days of the week (0 = Monday)
    flexible: bool = False  # "any time", "whenever", "the soonest": the earliest openings

    @property
    def empty(self) -> bool:
        return (self.day_from is None and self.after is None and self.before is None and self.at is None
                and self.weekdays is None)

    def merged(self, newer: "When") -> "When":
        """A caller's later words refine the earlier ones: "next week" then "mornings"."""
        if newer.empty:
            return When(**{**self.__dict__, "flexible": self.flexible or newer.flexible})
        keep_days = newer.day_from is None and newer.weekdays is None
        keep_times = newer.after is None and newer.before is None and newer.at is None
        return When(day_from=self.day_from if keep_days else newer.day_from,
                    day_to=self.day_to if keep_days else newer.day_to,
                    after=self.after if keep_times else newer.after, before=self.before if keep_times else newer.before,
                    at=self.at if keep_times else newer.at,
                    weekdays=self.weekdays if keep_days else newer.weekdays, flexible=newer.flexible)


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


_HOUR_WORDS = "|".join(["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])
_CLOCK = (rf"(?:(\d{{1,2}})(?::(\d{{2}}))?(?!\d|st\b|nd\b|rd\b|th\b)|({_HOUR_WORDS})\b(?:[ -](fifteen|thirty|forty[ -]five|o'?clock))?)"
          r"(?:\s*o'?clock)?(?:\s*(am|pm|in the morning|in the afternoon|in the evening))?")


def _clock(m: re.Match, offset: int = 0) -> time | None:
    """A clock time from _CLOCK's groups (at ``offset``): "2", "2:30", "two thirty", "ten am"."""
    g = [m.group(offset + i) for i in range(1, 6)]
    if g[0]:
        hour, minute = int(g[0]), int(g[1] or 0)
    elif g[2]:
        hour = UNITS[g[2]]
        minute = {"fifteen": 15, "thirty": 30}.get((g[3] or "").replace("-", " "), 45 if g[3] and "forty" in g[3] else 0)
    else:
        return None
    ampm = g[4] or ""
    if not 0 <= hour <= 23 or not 0 <= minute < 60:
        return None
    if ("pm" in ampm or "afternoon" in ampm or "evening" in ampm) and hour < 12:
        hour += 12
    elif ("am" in ampm or "morning" in ampm) and hour == 12:
        hour = 0
    elif not ampm and 1 <= hour <= 6:
        hour += 12  # "at 2" in a clinic means the afternoon
    return time(hour, minute)


def parse_time(text: str) -> time | None:
    """An exact time asked for: "at 2 pm", "around ten thirty", "3 o'clock", "noon"."""
    t = clean(text)
    if re.search(r"\bnoon\b|\bmidday\b", t):
        return time(12)
    m = re.search(rf"\b(?:at|around|about|by|for|say|maybe|like|make it|should be|rather)\s+(?:the\s+)?{_CLOCK}", t)
    if m and not re.match(r"\s*(st|nd|rd|th)\b", t[m.end():]) and (m.group(1) or m.group(3)):
        return _clock(m)
    for m in re.finditer(rf"\b{_CLOCK}", t):
        has_marker = m.group(5) or "clock" in m.group(0)
        if (m.group(1) or m.group(3)) and (has_marker or m.group(2) or (m.group(3) and m.group(4))):
            return _clock(m)
    return None


_DAY_RX = r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?"


def _weekday_dates(today: date, names: list[str], nxt: bool) -> tuple[date, date]:
    targets = sorted(WEEKDAYS.index(n) for n in names)
    if nxt:
        start = today + timedelta(days=7 - today.weekday())
        dates = [start + timedelta(days=d) for d in targets]
    else:
        dates = [today + timedelta(days=(d - today.weekday()) % 7 or 7) for d in targets]
    return min(dates), max(dates)


# the caller corrects themselves: what follows replaces the day and time said before it
_CORRECTION = re.compile(r"\b(actually|i mean|sorry|no wait|wait|scratch that|make (it|that)|rather|"
                         r"on second thought|(looking at|got) the wrong (calendar|day|week|diary))\b")


def _corrected(t: str) -> str:
    """"Monday around nine. Sorry, I was looking at the wrong calendar, Tuesday late morning": the
    words after the last correction, when both they and the words before it name a day or time."""
    marks = list(_CORRECTION.finditer(t))
    if not marks:
        return t
    head, tail = t[:marks[-1].start()], t[marks[-1].end():]
    names = rf"\b{_DAY_RX}\b|\b(morning|afternoon|evening|noon|tomorrow|today|week)\b|\d"
    if not (re.search(names, head) and re.search(names, tail)):
        return t
    return re.sub(r"^\W*((no|nope|not that)\b\W*)+", "", tail)  # "actually no, Tuesday": the no is for Monday


def parse_when(text: str, today: date) -> When:
    """A caller's day and time preference, relative to today in the clinic's time zone."""
    t = _corrected(clean(text))
    w = When()
    days = [d for d in re.findall(rf"\b{_DAY_RX}\b", t)]
    days = list(dict.fromkeys(days))
    dated = _dates_named(t, today)
    if dated:  # "Monday the 14th": the date says which Monday
        w.day_from, w.day_to = min(dated), max(dated)
        if len(dated) > 1:
            w.weekdays = None
        days = []
    nxt_week = re.search(r"\bnext week\b|\bthe following week\b", t)
    if w.day_from is not None:
        pass
    elif re.search(r"\bday after tomorrow\b", t):
        w.day_from = today + timedelta(days=2)
    elif re.search(r"\btomorrow\b", t):
        w.day_from = today + timedelta(days=1)
    elif re.search(r"\b(a|one|two|three|\d) (week|weeks|day|days) from (today|now)\b", t):
        m = re.search(r"\b(a|one|two|three|\d) (week|weeks|day|days)", t)
        n = {"a": 1, "one": 1, "two": 2, "three": 3}.get(m.group(1)) or int(m.group(1))
        w.day_from = today + timedelta(days=n * (7 if m.group(2).startswith("week") else 1))
    elif re.search(r"\btoday\b|\bthis (afternoon|morning|evening)\b|\btonight\b|\bright now\b", t):
        w.day_from = today
    if w.day_from is None and re.search(r"\bweekdays?\b|\bany ?day (of the week|during the week)\b|\bmonday to friday\b", t) and not days:
        w.weekdays = frozenset(range(5))
    elif w.day_from is None and re.search(r"\b(on )?(the )?weekends?\b|\bsaturday or sunday\b", t) and not days:
        w.weekdays = frozenset((5, 6))  # "weekends are best": the search says when the clinic is open instead
    m = re.search(rf"\b{_DAY_RX}\s+(?:to|through|thru|until|till)\s+{_DAY_RX}\b", t)
    if w.day_from is None and m:  # "Monday to Wednesday"
        a, b = WEEKDAYS.index(m.group(1)), WEEKDAYS.index(m.group(2))
        w.weekdays = frozenset(range(a, b + 1)) if a <= b else None
        days = []
    neg = re.findall(rf"\b(?:not|except|but not|but|other than|apart from|no)\s+(?:on\s+)?{_DAY_RX}", t)
    if w.day_from is None and days:
        keep = [d for d in days if d not in neg]
        if neg and not keep:
            w.weekdays = frozenset(i for i in range(5) if WEEKDAYS[i] not in neg)
        elif len(keep) == 1:
            nxt = bool(re.search(rf"\bnext\s+{keep[0]}", t)) or bool(nxt_week)
            plural = bool(re.search(rf"\b{keep[0]}s\b", t))
            if plural:
                w.weekdays = frozenset([WEEKDAYS.index(keep[0])])
                if nxt_week:
                    w.day_from, w.day_to = _weekday_dates(today, keep, True)
            else:
                w.day_from, w.day_to = _weekday_dates(today, keep, nxt)
        elif keep:
            w.weekdays = frozenset(WEEKDAYS.index(d) for d in keep)
            if nxt_week or re.search(r"\bnext\b", t):
                start = today + timedelta(days=7 - today.weekday())
                w.day_from, w.day_to = start, start + timedelta(days=6)
    if w.day_from is None and w.weekdays is None:
        if nxt_week:
            start = today + timedelta(days=7 - today.weekday())
            w.day_from, w.day_to = start, start + timedelta(days=4)
        elif re.search(r"\bweek after next\b|\bthe week after\b(?! (the|this|that|\w+day))", t):
            start = today + timedelta(days=14 - today.weekday())
            w.day_from, w.day_to = start, start + timedelta(days=4)
        elif re.search(r"\bthis week\b|\bend of the week\b|\blater this week\b", t):
            w.day_from, w.day_to = today, today + timedelta(days=max(0, 4 - today.weekday()))
    if w.day_from is None and w.weekdays is None:
        m = re.search(r"\bin (\w+) (day|days|week|weeks)\b", t)
        if m:
            n, _ = _number_word([m.group(1)], 0)
            if m.group(1) in ("a", "one"):
                n = 1
            if n:
                w.day_from = today + timedelta(days=n * (7 if m.group(2).startswith("week") else 1))
    if False:  # dates are read by _dates_named above
        month = next((i + 1 for i, name in enumerate(MONTHS) if re.search(rf"\b{name}\b", t)), None)
        day_num = None
        m = re.search(r"\b(\d{1,2})(st|nd|rd|th)\b", t) or (re.search(rf"\b(?:{'|'.join(MONTHS)})\s+(\d{{1,2}})\b", t) if month else None)
        if m:
            day_num = int(m.group(1))
        else:
            for word, val in ORDINALS.items():
                if re.search(rf"\b(the |twenty |thirty )?{word}\b", t) and (month or re.search(rf"\bthe (twenty |thirty )?{word}\b", t)):
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
    _parse_times(t, w)
    if re.search(r"\b(any ?time|anytime|whenever|soonest|earliest|as soon as|asap|first available|next available|"
                 r"flexible|any day|whatever (you have|works)|doesn'?t matter|don'?t mind|either is fine)\b", t):
        w.flexible = True
    if w.day_from and not w.day_to:
        w.day_to = w.day_from
    return w


def _dates_named(t: str, today: date) -> list[date]:
    """Days of the month a caller names: "the 14th", "December 14", "the sixteenth or seventeenth"."""
    month = next((i + 1 for i, name in enumerate(MONTHS) if re.search(rf"\b{name}\b", t)), None)
    nums = [int(x) for x in re.findall(r"\b(\d{1,2})(?:st|nd|rd|th)\b", t)]
    if month:
        nums += [int(x) for x in re.findall(rf"\b(?:{'|'.join(MONTHS)})\s+(?:the\s+)?(\d{{1,2}})\b(?!:)", t)]
    for m in re.finditer(rf"\b(twenty |thirty )?({'|'.join(ORDINALS)})\b", t):
        word = m.group(2)
        prefix = t[max(0, m.start() - 8):m.start()]
        if month or re.search(r"\b(the|or|and|on)\s+$", prefix) or m.group(1):
            if word in ("first", "second", "third", "last") and not month and not m.group(1):
                continue  # "the second" is a choice more often than a date
            nums.append(ORDINALS[word] + (20 if m.group(1) == "twenty " else 30 if m.group(1) == "thirty " else 0))
    out = []
    for n in dict.fromkeys(nums):
        if not 1 <= n <= 31:
            continue
        y, mo = today.year, month or today.month
        for _ in range(13):
            try:
                cand = date(y, mo, n)
            except ValueError:
                cand = None
            if cand and cand >= today:
                out.append(cand)
                break
            if month:
                y += 1
            else:
                mo = mo % 12 + 1
                y += 1 if mo == 1 else 0
    return sorted(out)


def _parse_times(t: str, w: When) -> None:
    """The time of day: parts of the day, before / after / between, an exact time."""
    tc = re.sub(r"\b(noon|midday)\b", "12 pm", t)  # "between 9 and noon", "before noon": a clock time there
    m = re.search(rf"\b(?:between\s+{_CLOCK}\s+and|from\s+{_CLOCK}\s+(?:to|till|until))\s+{_CLOCK}", tc)
    if m:
        a, b = _clock(m, 0) or _clock(m, 5), _clock(m, 10)
        if a and b:
            if b <= a and b.hour < 12:
                b = time(b.hour + 12, b.minute)
            w.after, w.before = a, b
            return
    m = re.search(rf"\b(?:work|working|at work|busy|in class|at school|on shift|on duty)\s+(?:till|until|til|to)\s+{_CLOCK}", t)
    if m and (m.group(1) or m.group(3)):  # "I work till five, so after that": after five, not before it
        a = _clock(m)
        w.after = time(a.hour + 12, a.minute) if a is not None and a.hour < 8 else a
        t = t[:m.start()] + " " + t[m.end():]
        tc = re.sub(r"\b(noon|midday)\b", "12 pm", t)
    m = re.search(rf"\b(?:after|from|not before|no earlier than|any time after|anytime after|(?<!no )later than)\s+{_CLOCK}", tc)
    if m and (m.group(1) or m.group(3)):
        w.after = _clock(m)
    m = re.search(rf"\b(?:(?<!not )before|by|until|till|no later than|not after|earlier than|up to)\s+{_CLOCK}", tc)
    if m and (m.group(1) or m.group(3)):
        b = _clock(m)
        if b is not None and b.hour < 8:
            b = time(b.hour + 12, b.minute)
        w.before = b
    # "the one with Dr. Patel" is an offer, not one o'clock
    t = re.sub(r"\b(the|that|this|which|either|each|any|other|first|second|last|earlier|later) one\b"
               r"(?!\s*(o'?clock|pm|am|p m|a m|thirty|fifteen|forty|in the))", " ", t)
    # "that's too early" judges an offer; it asks for no time of day
    t = re.sub(r"\b(too|a (bit|little)( too)?|rather|quite|way too|much too) (early|late|soon)\b", " ", t)
    if w.after is None and w.before is None:
        if re.search(r"\b(first thing|early morning|early in the morning|early|crack of dawn|before work)\b", t) and \
                not re.search(r"\bearly (afternoon|evening)\b", t):
            w.before = time(10)
        elif re.search(r"\b(late|later|mid|middle of the) ?(in the )?mornings?\b", t):
            w.after, w.before = time(10), time(12)
        elif re.search(r"\bmornings?\b|\bam\b(?! \d)|\ba\.m\b", t) and \
                not re.search(rf"\b(\d{{1,2}}(:\d\d)?|{_HOUR_WORDS}|(\d{{1,2}}|{_HOUR_WORDS}) (fifteen|thirty|forty five))\s*am\b|"
                              rf"\b({_HOUR_WORDS}|\d{{1,2}}) in the morning", t):
            w.before = time(12)
        elif re.search(r"\bearly afternoon\b", t):
            w.after, w.before = time(12), time(15)
        elif re.search(r"\blate afternoon\b", t):
            w.after = time(15)
        elif re.search(r"\bafternoons?\b", t):
            w.after = time(12)
        elif re.search(r"\b(evenings?|after work|after school|end of the day|late in the day|late)\b", t):
            w.after = time(16)
        elif re.search(r"\b(lunch ?times?|lunch|around lunch|midday)\b", t):
            w.after, w.before = time(11, 30), time(13, 30)
    if w.after is None and w.before is None:
        w.at = parse_time(t)


def parse_ordinal_choice(text: str, n: int) -> int | None:
    """Which of n offered options: 'the first', 'second one', 'the last', 'the later one'."""
    t = re.sub(r"\b(on )?second thoughts?\b|\bfirst (of all|thing)\b|\bat first\b", " ", clean(text))
    if re.search(r"\b(first|former|earlier|earliest|1st|option one|number one)\b", t):
        return 0
    if n >= 2 and re.search(r"\b(second|2nd|option two|number two)\b", t):
        return 1
    if n >= 3 and re.search(r"\b(third|3rd|option three|number three)\b", t):
        return 2
    if re.search(r"\b(last|latter|later|latest)\b", t):
        return n - 1
    return None


def _numbers_in_words(t: str) -> str:
    """Spoken numbers as digits: "nineteen eighty five" -> "1985", "twenty fourth" -> "24th",
    "oh seven" -> "07", "ninety two" -> "92"."""
    tokens = t.split()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        w = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if w in ("nineteen", "twenty") and nxt and (nxt in TENS or nxt in UNITS or nxt.startswith("oh")) and \
                not (w == "twenty" and nxt in ORDINALS):
            val, used = _number_word(tokens, i + 1)
            if nxt == "oh" and i + 2 < len(tokens) and tokens[i + 2] in UNITS:
                val, used = UNITS[tokens[i + 2]], 2
            if val is not None and val < 100 and not (w == "twenty" and val < 10 and nxt != "oh"):
                out.append(str((1900 if w == "nineteen" else 2000) + val))
                i += 1 + used
                continue
        if w == "two" and nxt == "thousand":
            j = i + 2 + (1 if i + 2 < len(tokens) and tokens[i + 2] == "and" else 0)
            val, used = _number_word(tokens, j) if j < len(tokens) else (None, 0)
            out.append(str(2000 + (val or 0)))
            i = j + used
            continue
        if w in ("twenty", "thirty") and nxt in ORDINALS and ORDINALS[nxt] < 10:
            out.append(f"{TENS[w] + ORDINALS[nxt]}th")
            i += 2
            continue
        if w in ORDINALS:
            out.append(f"{ORDINALS[w]}th")
            i += 1
            continue
        if w == "oh" and nxt in UNITS and UNITS[nxt] < 10:
            out.append(f"0{UNITS[nxt]}")
            i += 2
            continue
        val, used = _number_word(tokens, i) if (w in TENS or w in UNITS) and w not in ("oh", "o") else (None, 0)
        if val is not None:
            out.append(str(val))
            i += used
            continue
        out.append(w)
        i += 1
    return " ".join(out)


def parse_birth_date(text: str, today: date) -> date | None:
    """A date of birth: '3/14/1985', 'March 14th 1985', 'the fourteenth of March, nineteen
    eighty-five', 'October 5th, '83', 'nineteen fifty nine, february second', 'oh seven fifteen
    ninety two' (month, day, year as numbers)."""
    raw = text.lower().replace("’", "'")
    raw = re.sub(r"'(\d{2})\b", r"\1", raw)  # '83
    t = _numbers_in_words(clean(raw).replace("-", " "))
    month_rx = "|".join(MONTHS)
    y = mo = d = None

    def year(v: int) -> int:
        return v if v >= 100 else v + (1900 if v > today.year % 100 else 2000)
    if m := re.search(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})\b", raw):
        mo, d, y = int(m.group(1)), int(m.group(2)), year(int(m.group(3)))
    elif m := re.search(rf"\b({month_rx})\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(\d{{4}}|\d{{2}})\b", t):
        mo, d, y = MONTHS.index(m.group(1)) + 1, int(m.group(2)), year(int(m.group(3)))
    elif m := re.search(rf"\b(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({month_rx})\s+(\d{{4}}|\d{{2}})\b", t):
        d, mo, y = int(m.group(1)), MONTHS.index(m.group(2)) + 1, year(int(m.group(3)))
    elif m := re.search(rf"\b(\d{{4}})\s+({month_rx})\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\b", t):
        y, mo, d = int(m.group(1)), MONTHS.index(m.group(2)) + 1, int(m.group(3))
    elif m := re.fullmatch(r"(?:\D*?\s)?(\d{1,2})\s+(\d{1,2})(?:th)?\s+(\d{4}|\d{2})(?:\s\D*)?", t):
        mo, d, y = int(m.group(1)), int(m.group(2)), year(int(m.group(3)))
    if y is None:
        return None
    try:
        found = date(y, mo, d)
    except ValueError:
        return None
    if not (today.year - 120 <= found.year) or found > today:
        return None
    return found
