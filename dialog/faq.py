"""Questions the clinic has answered: the built-in topics (hours, address, parking, insurance)
and the entries it configures (`[[clinic.faq]]`: an id, question variants, the answer).

A question is matched to an entry by the content words (and keywords) it shares with the
entry's variants. (Letting the 0.5B model pick an entry by id when the words don't decide was
measured on tests/nlu/ and picked no right entry the words had missed, so it was taken out.) A
question with no configured answer gets an honest "I don't have that information" and a
callback offer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .rules import normalize

BUILT_IN = ("hours", "address", "parking", "insurance")
_STOP = set("""
a about an and any are at be can could did do does for from get have how i if in is it its me my of on or our
please should so that the there this to us we what when where which who will with would you your yours do does
doing tell know wondering question quick just also really one kind sort type clinic office practice dentist
there's is there are there any can i could i am i i'm see take accept offer have need want
got go going does did
""".split())


@dataclass
class FaqEntry:
    id: str
    questions: list[str]
    answer: str
    keywords: set = field(default_factory=set)  # words or phrases that mean this topic

    def __post_init__(self):
        self.keywords = {normalize(k) for k in self.keywords if normalize(k)}
        self.words = {stem(w) for q in self.questions for w in normalize(q).split() if w not in _STOP and len(w) > 2}
        self.words |= {stem(k) for k in self.keywords if " " not in k}
        self.phrases = {k for k in self.keywords if " " in k}


def stem(word: str) -> str:
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def match_faq(text: str, entries: list[FaqEntry]) -> list[str]:
    """Configured entries a turn asks about, best first: a keyword phrase it contains counts
    twice, each content word shared with the entry's keywords and question variants once."""
    norm = normalize(text)
    words = {stem(w) for w in norm.split() if w not in _STOP and len(w) > 2}
    scored = []
    for e in entries:
        # a keyword the clinic listed counts twice, a word from a question variant once; one
        # shared common word ("patients") is not enough
        score = len(words & e.words) + len(words & {stem(k) for k in e.keywords if " " not in k}) + \
            2 * sum(f" {p} " in f" {norm} " for p in e.phrases)
        if score >= 2:
            scored.append((score / (1 + 0.05 * len(e.words)), e.id))
    scored.sort(reverse=True)
    return [i for _, i in scored]


def parse_entries(raw: list) -> list[FaqEntry]:
    """From the config's [[clinic.faq]] tables (checked by the config loader)."""
    out = []
    for item in raw or []:
        if isinstance(item, FaqEntry):
            out.append(item)
            continue
        out.append(FaqEntry(id=str(item["id"]), questions=[str(q) for q in item.get("questions", [])],
                            answer=str(item["answer"]), keywords=set(item.get("keywords", []))))
    return out


def valid_id(value: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z0-9_]{1,30}", value)) and value not in BUILT_IN
