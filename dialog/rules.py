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


_BACKCHANNEL = {"uh huh", "uh-huh", "mm hm", "mm-hm", "mhm", "mm", "hmm", "hm", "uh", "um", "ok", "okay", "right",
                "yeah", "yep", "sure", "alright", "all right", "i see", "got it", "oh", "ah", "mm hmm", "uh huh okay",
                "ic", "i c", "mmhmm", "mhmm", "uhhuh", "yup", "gotcha", "okay okay", "yes yes"}


def is_backchannel(text: str) -> bool:
    """A listener's "uh-huh" or "okay": not a request to take the turn."""
    words = normalize(text.replace("-", " "))
    return not words or words in _BACKCHANNEL or all(w in {"uh", "huh", "mm", "hm", "okay", "ok", "yeah", "right", "mhm"}
                                                    for w in words.split())


_TAKE_TURN = {"no", "nope", "stop", "wait", "sorry", "hold", "hang", "excuse", "actually", "hello", "hey", "cancel",
              "hi", "what", "pardon", "repeat", "operator", "person", "human", "emergency", "help"}


def takes_turn(words: list[str]) -> bool:
    """A word that, said over the agent, asks it to stop ("no", "wait", "sorry")."""
    return any(w in _TAKE_TURN for w in words)


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


_BILLING = re.compile(r"\b(bill|billing|billed|invoice|charge[ds]?|overcharged|refund|payment|complain\w*|dispute|"
                      r"insurance claim|statement|balance|collections?|not happy|unhappy|rude|terrible service)\b", re.I)
_ADVICE = re.compile(r"\b(should i (take|stop|use)|what (medicine|medication|antibiotic|painkiller)|is it (safe|normal|serious)|"
                     r"can i (take|drink|eat)|is it (ok|okay|alright) to (take|eat|drink)|diagnos\w*|prescri\w*|dosage|legal advice|lawyer|sue|"
                     r"financial advice)\b", re.I)
_CANCEL = re.compile(r"\b(cancel|call off)\b", re.I)
_RESCHEDULE = re.compile(r"\b(reschedul\w*|(move|switch|change|push|shift) (my|the|our) (appointment|visit|booking|cleaning|checkup)|"
                         r"change the (day|time|date) of my|different (time|day) for my)\b", re.I)
_BOOK = re.compile(r"\b(book|schedule|make an? appointment|set up an? appointment|an appointment|come in|get in|see (the|a) (dentist|doctor))\b", re.I)
_FAQ = {
    "hours": re.compile(r"\b(hours|open|opening|close|closing|closed)\b", re.I),
    "parking": re.compile(r"\b(park|parking)\b", re.I),
    "address": re.compile(r"\b(address|where are you|where is the (office|clinic)|where's the (office|clinic)|located|location|"
                          r"directions|find you|get there)\b", re.I),
    "insurance": re.compile(r"\b(insurance|insurances|accept .*(plan|coverage)|in network|medicaid|medicare|delta|aetna|cigna|metlife)\b", re.I),
}


def is_billing(text: str) -> bool:
    return bool(_BILLING.search(text))


def wants_advice(text: str) -> bool:
    return bool(_ADVICE.search(text))


def request_kind(text: str) -> str | None:
    """book / cancel / reschedule when the words say so."""
    if _RESCHEDULE.search(text):
        return "reschedule"
    if _CANCEL.search(text):
        return "cancel"
    if _BOOK.search(text):
        return "book"
    return None


def faq_topic(text: str) -> str | None:
    for topic, rx in _FAQ.items():
        if rx.search(text):
            return topic
    return None


_NO_TEXTS = re.compile(r"\b(don'?t|do not|no|stop) (text|texting|send (me )?(a )?text)|no (text messages|texts|sms)\b", re.I)


def no_texts(text: str) -> bool:
    """The caller opts out of text messages."""
    return bool(_NO_TEXTS.search(text))
