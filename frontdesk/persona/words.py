"""How a simulated caller says its facts out loud: numbers, dates, emails and spellings."""

from __future__ import annotations

import random
from datetime import date

DIGIT = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NATO = {"A": "Alpha", "B": "Bravo", "C": "Charlie", "D": "David", "E": "Echo", "F": "Frank", "G": "George", "H": "Henry",
        "I": "India", "J": "John", "K": "Kilo", "L": "Lima", "M": "Mike", "N": "Nancy", "O": "Oscar", "P": "Peter",
        "Q": "Queen", "R": "Romeo", "S": "Sam", "T": "Tom", "U": "Uniform", "V": "Victor", "W": "William",
        "X": "X-ray", "Y": "Yellow", "Z": "Zebra"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
ORDINAL = {1: "first", 2: "second", 3: "third", 5: "fifth", 8: "eighth", 9: "ninth", 12: "twelfth", 20: "twentieth",
           30: "thirtieth"}


def national(e164: str) -> str:
    d = e164.lstrip("+")
    return d[1:] if len(d) == 11 and d.startswith("1") else d


def groups(e164: str) -> list[str]:
    d = national(e164)
    return [d[:3], d[3:6], d[6:]] if len(d) == 10 else [d]


def say_digits(digits: str, zero: str) -> str:
    return " ".join(zero if c == "0" else DIGIT[int(c)] for c in digits)


def say_phone(e164: str, style: str, rng: random.Random, zero: str = "zero") -> list[str | int]:
    """The number as speech parts: strings, and ints for pauses in ms (style with_pauses)."""
    gs = groups(e164)
    if style == "one_by_one":
        return [say_digits("".join(gs), zero)]
    if style == "with_pauses":
        out: list[str | int] = []
        for i, g in enumerate(gs):
            if i:
                out.append(rng.randint(900, 1600))
            out.append(say_digits(g, zero))
        return out
    return [", ".join(say_digits(g, zero) for g in gs)]


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def say_dob(d: date, rng: random.Random) -> str:
    forms = [f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",
             f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
             f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
             f"{d.month}/{d.day}/{d.year}"]
    return rng.choice(forms)


def say_email(email: str, rng: random.Random) -> str:
    user, _, domain = email.partition("@")
    def part(s: str) -> str:
        return s.replace(".", " dot ").replace("_", " underscore ").replace("-", " dash ")
    return f"{part(user)} at {part(domain)}".replace("  ", " ").strip()


def spell(name: str, style: str, rng: random.Random) -> str:
    """A name letter by letter: "O, K, O, N", "O as in Oscar, K as in Kilo", "double L"."""
    letters = [c.upper() for c in name if c.isalpha()]
    out: list[str] = []
    i = 0
    while i < len(letters):
        c = letters[i]
        doubled = i + 1 < len(letters) and letters[i + 1] == c
        phonetic = style == "phonetic" or (style == "mixed" and c in "BDFMNPSTV")
        word = f"{c} as in {NATO[c]}" if phonetic else c
        if doubled and rng.random() < 0.6:
            out.append(f"double {c}" if not phonetic else f"double {c}, as in {NATO[c]}")
            i += 2
            continue
        out.append(word)
        i += 1
    return ", ".join(out)
