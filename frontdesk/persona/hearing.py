"""The simulated caller's ears: what did the agent just ask?

The caller knows only what it heard (the agent's audio transcribed at the caller's side, with
Whisper's mistakes), never the server's state. This module turns that text into an Ask: the kind
of question, plus what the caller needs to check (a number or a spelling read back, the offered
times, the details of a read-back). It is the caller's own parser, written apart from the agent's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "to": "2", "too": "2", "for": "4", "ate": "8"}
_SMALL = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
          "eleven": 11, "twelve": 12}
_ORD = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
        "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
        "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
        "thirtieth": 30}
# NATO and common spelling words, as the agent may read a spelling back
_PHONETIC = {"alpha": "A", "alfa": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E", "foxtrot": "F",
             "golf": "G", "engulf": "G", "hotel": "H", "india": "I", "juliet": "J", "juliett": "J", "kilo": "K",
             "lima": "L", "mike": "M", "november": "N", "oscar": "O", "papa": "P", "quebec": "Q", "romeo": "R",
             "sierra": "S", "tango": "T", "uniform": "U", "victor": "V", "whiskey": "W", "xray": "X", "yankee": "Y",
             "zulu": "Z"}


@dataclass
class Offer:
    text: str
    weekday: str | None = None
    month: int | None = None
    day: int | None = None
    at: time | None = None
    provider: str | None = None


@dataclass
class Ask:
    kind: str  # see classify()
    text: str = ""
    digits: str = ""  # a number read back
    letters: str = ""  # a spelling read back (the longest run)
    runs: list[str] = field(default_factory=list)  # every spelled run (first and last name)
    offers: list[Offer] = field(default_factory=list)
    detail: Offer | None = None  # what a read-back says (day, date, time, provider)
    callback: bool = False  # the agent said someone will call back
    emergency: bool = False  # the agent told the caller to dial the emergency number
    transfer: bool = False  # the agent said it is transferring the call
    answered: str = ""  # the statement part before the question (an FAQ answer)


def norm(text: str) -> str:
    t = text.lower().replace("’", "'")
    t = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", t)
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9':@.\- ]", " ", t)).strip()


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.?!])\s+", text.strip())
    return [p for p in parts if p.strip()]


def digits_in(text: str) -> str:
    """Every digit the agent said, in order ("two zero two, 555-0143" -> 2025550143)."""
    t = norm(text).replace("-", " ").replace(".", " ").replace(",", " ")
    words = t.split()

    def numeric(j: int) -> bool:
        return 0 <= j < len(words) and (words[j].isdigit() or words[j] in _DIGIT_WORDS and words[j] not in _SOUNDALIKE)
    out = []
    for i, w in enumerate(words):
        if w.isdigit():
            out.append(w)
        elif w in _DIGIT_WORDS and (w not in _SOUNDALIKE or numeric(i - 1) or numeric(i + 1)):
            out.append(_DIGIT_WORDS[w])  # "to zero to" beside digits is "two zero two"
    return "".join(out)


_SOUNDALIKE = ("to", "too", "for", "o", "ate")


def _code_word(word: str) -> str | None:
    """A spelling alphabet word heard a little wrong ("Tando", "Romero", "Charli"): its letter."""
    from difflib import SequenceMatcher

    if len(word) < 4 or not word.isalpha():
        return None
    best = max(_PHONETIC, key=lambda k: SequenceMatcher(None, word, k).ratio())
    if best[0] == word[0] and SequenceMatcher(None, word, best).ratio() >= 0.7:
        return _PHONETIC[best]
    return None


def letters_in(text: str) -> str:
    """A spelling read back: the longest run of spoken letters ("O-K-O-N-K-W-O", "O K O N...",
    "O as in Oscar", "double L"); single words like "I" or "a" in a sentence are not a run."""
    runs = letter_runs(text)
    return max(runs, key=len, default="")


def letter_runs(text: str) -> list[str]:
    """Every run of two or more spoken letters, in order: "O-K-O", "O K O", "OKONKWO" (the
    recogniser joins letters into a capitalised word), "double L", and "B as in Bravo", where the
    example word decides the letter ("C is in Zulu" is a Z heard wrong)."""
    t = re.sub(r"[-,.;:!?\"]", " ", text)
    words = t.split()
    runs: list[str] = []
    cur = ""
    i = 0
    mult = 1
    while i < len(words):
        w = words[i]
        lw = w.lower().strip("'")
        if lw in ("double", "triple"):
            mult = 2 if lw == "double" else 3
            i += 1
            continue
        # "<letter> as in <word>" (also heard "is in", "as an", "is an"): the word says the letter
        if i + 3 <= len(words) and words[i + 1].lower() in ("as", "is") and i + 2 < len(words) and \
                words[i + 2].lower() in ("in", "an", "and") and i + 3 < len(words) and \
                (words[i + 3].lower() in _PHONETIC or _code_word(words[i + 3].lower())):
            cur += (_PHONETIC.get(words[i + 3].lower()) or _code_word(words[i + 3].lower())) * mult
            i += 4
            mult = 1
            continue
        letter = None
        if len(lw) == 1 and lw.isalpha():
            letter = lw.upper()
        elif lw in _PHONETIC or _code_word(lw):
            letter = _PHONETIC.get(lw) or _code_word(lw)
        elif len(w) >= 3 and w.isalpha() and w.isupper():
            letter = w
        if letter:
            cur += letter * mult if len(letter) == 1 else letter
        else:
            if cur:
                runs.append(cur)
            cur = ""
        i += 1
        mult = 1
    if cur:
        runs.append(cur)
    return [r for r in runs if len(r) >= 2]


def parse_time_words(text: str) -> time | None:
    t = norm(text)
    if re.search(r"\bnoon\b", t):
        return time(12)
    m = re.search(r"\b(\d{1,2})(?:[:.]?(\d{2}))?\s*(am|pm)\b", t) or re.search(r"\b(\d{1,2}) (\d{2})\s*(am|pm)\b", t)
    if m:
        h, mi, ap = int(m.group(1)), int(m.group(2) or 0), m.group(3)
    else:
        words = "|".join(_SMALL)
        m = re.search(rf"\b({words})(?:\s+(fifteen|thirty|forty five|forty-five))?\s*(am|pm|in the morning|in the afternoon)\b", t)
        if not m:
            return None
        h = _SMALL[m.group(1)]
        mi = {"fifteen": 15, "thirty": 30}.get(m.group(2) or "", 45 if m.group(2) else 0)
        ap = "am" if m.group(3) in ("am", "in the morning") else "pm"
    if not (1 <= h <= 12 and 0 <= mi < 60):
        return None
    if ap == "pm" and h < 12:
        h += 12
    if ap == "am" and h == 12:
        h = 0
    return time(h, mi)


def parse_offer(text: str) -> Offer:
    t = norm(text)
    o = Offer(text=text.strip())
    o.weekday = next((d for d in WEEKDAYS if re.search(rf"\b{d}\b", t)), None)
    m = re.search(rf"\b({'|'.join(MONTHS)})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", t)
    if m:
        o.month, o.day = MONTHS.index(m.group(1)) + 1, int(m.group(2))
    else:
        m = re.search(rf"\b({'|'.join(MONTHS)})\s+(?:the\s+)?(twenty |thirty )?({'|'.join(_ORD)})\b", t)
        if m:
            o.month = MONTHS.index(m.group(1)) + 1
            o.day = _ORD[m.group(3)] + (20 if m.group(2) == "twenty " else 30 if m.group(2) == "thirty " else 0)
    o.at = parse_time_words(t)
    m = re.search(r"\b(?:dr|doctor)\.?\s+([a-z]+)", t)
    if m:
        o.provider = "Dr. " + m.group(1).capitalize()
    return o


def _split_offers(text: str) -> list[Offer]:
    """ "I have Tuesday, December 8th at 2 PM with Dr. Kim, or Wednesday ... Which would you prefer?" """
    body = re.split(r"(?i)\b(which (one )?would you|which do you|does (that|either|one of those) work|would (that|either|one of those) work|do any of)", text)[0]
    parts = re.split(r"(?i),?\s+\bor\b\s+", body)
    offers = [o for o in (parse_offer(p) for p in parts) if o.at is not None]
    for prev, o in zip(offers, offers[1:]):  # "Tuesday, December 8th at 10 AM, or at 11:30 AM": the same day
        if o.weekday is None and o.day is None:
            o.weekday, o.month, o.day = prev.weekday, prev.month, prev.day
    shared = re.search(r"(?i)\b(both|all|each)\s+(are\s+)?with\s+(dr|doctor)\.?\s+([a-z]+)", body)
    if shared:  # "..., both with Dr. Patel"
        for o in offers:
            o.provider = "Dr. " + shared.group(4).capitalize()
    starts = [m.start() for m in re.finditer(rf"(?i)\b({'|'.join(WEEKDAYS)})\b", body)]
    if len(offers) < 2 and len(starts) >= 2:  # the "or" was heard as something else ("..., from Monday")
        pieces = [body[a:b] for a, b in zip(starts, starts[1:] + [len(body)])]
        by_day = [o for o in (parse_offer(p) for p in pieces) if o.at is not None]
        if len(by_day) > len(offers):
            return by_day
    return offers


_Q = {
    "spell": r"\bspell\b|\bspelled\b|\bspelling\b|letter by letter",
    "dob": r"date of birth|birth ?date|birthday|when were you born|born",
    "email": r"\be-?mail\b",
    "name": r"\bname\b",
    "new_patient": r"new patient|been (here|to us|in|to see us) before|visited us before|first (visit|time)",
    "insurance": r"\binsurance\b|\binsured\b|\bcoverage\b",
    "service": r"what (kind|type|sort) of (appointment|visit)|what (do you need|would you like) done|which service|what service",
    "reason": r"reason for (the|your) visit|what('s| is) the reason",
    "when": r"what day|which day|what time|day and time|days? (and|or) times?|when would|when works|when is good|when are you|"
            r"what works (best )?for you|would suit you|prefer a day",
    "anything_else": r"anything else|something else|what else|help with anything",
    "open": r"how can i help|how may i help|what can i do for you|how can i assist",
}


def classify(text: str) -> Ask:
    """What the agent's turn (as heard) asks of the caller."""
    t = norm(text)
    ask = Ask(kind="unknown", text=text)
    ask.callback = bool(re.search(r"call you back|give you a call|call you as soon|get back to you|someone will call|reach out to you", t))
    ask.emergency = bool(re.search(r"\b(9[ -]?1[ -]?1|nine one one|emergency services|emergency room)\b", t))
    ask.transfer = bool(re.search(r"\btransfer(ring)? you\b|put you through|connect you", t))
    sents = sentences(text)
    questions = [s for s in sents if s.rstrip().endswith("?")]
    last_q = norm(questions[-1]) if questions else ""
    ask.answered = " ".join(s for s in sents if not s.rstrip().endswith("?"))
    if not t:
        ask.kind = "silence"
        return ask
    if re.search(r"\bgood ?bye\b|\bbye\b", t) and not questions:
        ask.kind = "goodbye"
        return ask
    if not questions and re.fullmatch(r"(one moment|just a moment|one second|just a second|bear with me|let me (check|see|look))[^?]*",
                                      t.strip(" .")):  # "One moment, please. And could you spell...?" asks
        ask.kind = "wait"
        return ask
    q = last_q or norm(sents[-1] if sents else text)
    sorry = re.search(r"didn'?t (catch|get|understand|hear)|say that again|could you repeat|can you repeat|"
                      r"line (was|is) unclear|having trouble understanding|sorry\?$|pardon", t)
    # read-backs first: they contain words ("name", "number") that would read as plain questions
    if re.search(r"\bcancel\b", q) and (re.search(r"shall i|should i|do you want|would you like|want me to", q) or
                                        re.search(r"\bcancel (it|that|this)\b", q) and parse_time_words(t) is not None):
        ask.kind = "cancel_confirm"
        ask.detail = parse_offer(text)
        return ask
    if re.search(r"to confirm|shall i (go ahead|book|make|put|move)|should i (go ahead|book)|want me to (book|go ahead)|"
                 r"is that (all )?correct\?$|book (that|it) for you|go ahead and book", t) and parse_time_words(t) is not None:
        ask.kind = "confirm"
        ask.detail = parse_offer(text)
        return ask
    if re.search(r"am i (speaking|talking) (with|to)|is this \w+|are you \w+ \w+\?$|speaking with \w+ \w+\?", q):
        ask.kind = "identity_check"
        return ask
    if re.search(r"calling from", t) and len(digits_in(t)) >= 7:
        ask.kind = "phone_confirm"
        ask.digits = digits_in(t)
        return ask
    spelled = letters_in(text)
    if len(spelled) >= 3 and re.search(r"right|correct|is that|did i get", q) and not re.search(_Q["spell"] + r"|please spell", q):
        ask.kind = "spelling_check"
        ask.letters = spelled
        ask.runs = letter_runs(text)
        return ask
    if len(digits_in(t)) >= 7 and re.search(r"right|correct|is that|did i get|got that", q or t):
        ask.kind = "phone_check"
        ask.digits = digits_in(t)
        return ask
    offers = _split_offers(text)
    if offers and re.search(r"which|prefer|work for you|works for you|does that work|would that work|either|suit", t):
        ask.kind = "offer"
        ask.offers = offers
        return ask
    if re.search(r"(would you like|do you want|shall i|should i|can i have|want me to|like me to)\b.{0,60}\b(call you|call back|get back to you|contact you)", q) \
            or (ask.callback and re.search(r"^(would you like|do you want|shall i|should i)\b.{0,12}(that|this|it)?\W*$", q)):
        ask.kind = "callback_offer"
        return ask
    if sorry and not questions:
        ask.kind = "pardon"
        return ask
    if re.search(r"\band then\W*$", t):  # "5 1 2, 5 5 5, and then?": the agent has part of it and asks for the rest
        if digits_in(t):
            ask.kind = "phone"
            return ask
        if letters_in(text) or re.match(r"^([a-z]\W+)+and then", t):
            ask.kind = "spell"
            return ask
    if re.search(_Q["spell"], q):
        ask.kind = "spell"
        return ask
    for kind in ("dob", "email"):
        if re.search(_Q[kind], q):
            ask.kind = kind
            return ask
    if re.search(r"\bnumber\b|\bphone\b|reach you|call you back on|contact you", q) and not re.search(r"insurance|member", q):
        ask.kind = "phone"
        return ask
    for kind in ("name", "new_patient", "insurance", "service", "reason", "when", "anything_else", "open"):
        if re.search(_Q[kind], q):
            ask.kind = kind
            return ask
    if sorry:
        ask.kind = "pardon"
        return ask
    if re.search(r"\bgood ?bye\b", t):
        ask.kind = "goodbye"
        return ask
    if ask.callback or ask.emergency or ask.transfer:
        ask.kind = "handoff"
        return ask
    return ask


# letters a telephone line and a recogniser confuse with each other (the "e-set" and friends)
_CONFUSABLE = [set("BCDEGPTVZ"), set("MN"), set("FSX"), set("AHJK"), set("IY"), set("QUW"), set("LR")]


def _alike(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _CONFUSABLE)


def spelling_heard_as(heard: str, mine: str) -> bool:
    """Whether a spelling read back (as this caller's recogniser wrote it) is the caller's own: a
    person on the phone hears the letters; the recogniser drops some and mixes up "B" and "V".
    Dropped letters and look-alike letters pass; a different letter, or letters too many, do not."""
    heard, mine = heard.upper(), mine.upper()
    if heard == mine:
        return True
    if not heard or len(heard) > len(mine) + 1:
        return False
    # align heard into mine, skipping letters of mine the recogniser dropped
    n, m = len(heard), len(mine)
    best = [[-1] * (m + 1) for _ in range(n + 1)]  # exact matches of the best alignment
    best[0] = [0] * (m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            skip = best[i][j - 1]
            take = best[i - 1][j - 1] + (heard[i - 1] == mine[j - 1]) if best[i - 1][j - 1] >= 0 and \
                _alike(heard[i - 1], mine[j - 1]) else -1
            best[i][j] = max(skip, take)
    exact = best[n][m]
    return exact >= 0 and n >= 0.7 * m and exact >= 0.6 * m
