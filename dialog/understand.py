"""Understanding one caller turn: every extractor, whatever was asked.

`read(text, ctx)` runs them all (safety, the request, service, day and time, name, spelling,
phone digits, date of birth, email, yes/no, the slot picked, new patient, insurance, FAQ
topics) and returns a Reading: the intent of the turn and every value found in it. Nothing the
caller said is thrown away: the policy (conversation.py) takes what it needs. What was asked
(ctx.asked) only breaks ties: a bare "Kwame Mensah" is a name when a name was asked for, a bare
"yes" answers the question that is open. The model is asked only when the rules find nothing
(see conversation.py), and its proposals go through the same parsers.

One module on purpose (about 440 lines): which extractor wins when two read the same words (a
time or a pick, a name or a service) is decided here, in one place; the extractors themselves
are in rules.py, parse.py, names.py and yesno.py."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date

from . import names, parse, rules
from .faq import FaqEntry, match_faq
from .states import State
from .yesno import yes_no

INTENTS = ("book", "cancel", "reschedule", "check", "faq", "human", "billing", "advice", "emergency", "yes", "no",
           "choose_slot", "give_info", "greeting", "goodbye", "other", "unknown")
YES_NO_ASKS = (State.CONFIRM, State.BOOK_OFFER, State.EMAIL_CHECK, State.PHONE_CONFIRM, State.SPELLING_CHECK,
               State.CANCEL_CONFIRM, State.ANYTHING_ELSE, State.PHONE_CHECK, State.KNOWN_CALLER, State.CALLBACK_OFFER,
               State.NEW_PATIENT, State.LOOKUP_RETRY, State.WAITLIST_OFFER, State.REMINDER_CONSENT)


@dataclass
class Context:
    asked: str = "open"
    today: date = field(default_factory=date.today)
    services: list = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    insurance: list[str] = field(default_factory=list)
    faq: list[FaqEntry] = field(default_factory=list)
    offered: list = field(default_factory=list)  # objects with .local_start (aware) and .provider


@dataclass
class Reading:
    intent: str = "unknown"
    slots: dict = field(default_factory=dict)
    source: str = "rule"
    text: str = ""

    @property
    def understood(self) -> bool:
        return self.intent not in ("unknown",) or bool(self.slots)


def _phone(text: str) -> str | None:
    digits = parse.spoken_digits(text)
    if len(digits) < 10:
        return None
    return parse.parse_phone(text)


_EMAIL_RX = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}")


_EMAIL_STOP = {"it's", "its", "it", "is", "my", "email", "e-mail", "address", "sure", "yeah", "yes", "um", "uh", "so",
               "that's", "thats", "the", "at", "ok", "okay", "oh", "and", "well", "mail"}


def parse_email(text: str) -> str | None:
    """An address as people say it: "priya r 1988 at gmail dot com", "siobhan underscore o s at
    yahoo dot com", "camila ortega all one word at gmail dot com"."""
    t = text.lower().replace("’", "'")
    t = re.sub(r"\b(all )?(one word|no spaces?|together)\b", " ", t)
    t = re.sub(r"\s+(at)\s+", " @ ", t)
    t = re.sub(r"\s*\b(dot|period|point)\b\s*", ".", t)
    t = re.sub(r"\s*\b(underscore|under score)\b\s*", "_", t)
    t = re.sub(r"\s*\b(dash|hyphen)\b\s*", "-", t)
    # letters spelled out, "a-n-n-l-e-e" or "a, n, n": one word
    t = re.sub(r"\b[a-z0-9](?:[-, ]+[a-z0-9]\b)+", lambda m: re.sub(r"[-, ]", "", m.group(0)), t)
    m = re.search(r"@\s*([a-z0-9.\-]+\.[a-z]{2,})", t)
    if not m:
        return None
    domain = m.group(1).strip(".")
    before = re.split(r"[,;:]", t[:m.start()])
    # the user part: the words just before "@", back to the first word that is not part of it
    words = before[-1].split()
    user: list[str] = []
    for w in reversed(words):
        w = w.strip(".'\"")
        if not w or w in _EMAIL_STOP or not re.fullmatch(r"[a-z0-9._\-]+", w):
            break
        user.insert(0, w)
    name = "".join(user)
    k = len(before) - 2
    while name[:1] in ("-", "_", ".") and k >= 0:
        # "fatima, f a t i m a, dash alsayed": the part before the connector, said and then spelled
        chunk = [w for w in before[k].split() if w not in _EMAIL_STOP]
        spelled = "".join(chunk) if chunk and all(len(w) == 1 for w in chunk) else ""
        if spelled and k >= 1 and "".join(w for w in before[k - 1].split() if w not in _EMAIL_STOP) == spelled:
            k -= 1
        word = "".join(w for w in before[k].split() if w not in _EMAIL_STOP)
        if not re.fullmatch(r"[a-z0-9._]+", word or "-"):
            break
        name = word + name
        k -= 1
    return f"{name}@{domain}" if re.fullmatch(r"[a-z0-9._\-]+", name or "") else None


def _new_patient(text: str, asked: str) -> bool | None:
    t = rules.normalize(text)
    if re.search(r"\b(new patient|first time|never been|not a patient|haven'?t been|never visited|first visit|"
                 r"i'?m new|new here|not been (there|in|to you|to your)|never come|haven'?t come|not yet a patient)\b", t):
        return True
    if re.search(r"\b(existing patient|been (there|here|in|to you|coming|before)|returning|regular|already a patient|"
                 r"(came|come|was|been|visited)( \w+)? (once|before|years ago|a while (ago|back)|last year)|"
                 r"i'?m a patient|seen (dr|doctor)|was there|came in|last (visit|time|cleaning|checkup)|"
                 r"i'?m not new|not new|see (dr|doctor) \w+ (already|before)|existing)\b", t):
        return False
    if asked == State.NEW_PATIENT:
        yn = yes_no(text)
        if yn is not None:
            return yn == "yes"  # "are you a new patient?" "yes"
    return None


# dental insurers callers name, besides the clinic's own list (a plan the clinic does not take
# is still the caller's plan: staff see it)
INSURERS = ["Blue Cross Blue Shield", "Blue Cross", "Blue Shield", "Anthem", "Guardian", "Humana", "United Concordia",
            "UnitedHealthcare", "United Healthcare", "Ameritas", "Principal", "Sun Life", "Careington", "DentaQuest",
            "Medicaid", "Medicare", "Tricare", "Lincoln Financial", "Spirit Dental", "Renaissance", "Physicians Mutual",
            "Kaiser", "Denti-Cal", "MetLife", "Delta Dental", "Aetna", "Cigna"]


def _insurance(text: str, plans: list[str], asked: str) -> str | None:
    t = rules.normalize(text)
    for plan in [*plans, *INSURERS]:
        p = rules.normalize(plan)
        if p and (re.search(rf"\b{re.escape(p)}\b", t) or (len(p) > 6 and p.replace(" ", "") in t.replace(" ", ""))):
            return plan
    for plan in [*plans, *INSURERS]:  # "Delta through work": the plan's first word, when no other plan has it
        first = rules.normalize(plan).split()[0] if rules.normalize(plan) else ""
        if len(first) >= 5 and re.search(rf"\b{re.escape(first)}\b", t) and \
                len({rules.normalize(q) for q in [*plans, *INSURERS] if rules.normalize(q).split()[:1] == [first]}) == 1:
            return plan
    m = re.search(r"\b(?:take|accept|with|have|on|through|covered by|insurance is)\s+(\w{3,})", t)
    if m:  # "do you take itna?": Aetna as the 8 kHz line wrote it (the same consonants, vowels aside)
        said = _sound_key(m.group(1))
        sounds = {rules.normalize(plan): plan for plan in [*INSURERS, *plans] if rules.normalize(plan)
                  and _sound_key(rules.normalize(plan).split()[0]) == said and len(said) >= 3}
        if len(sounds) == 1:
            return next(iter(sounds.values()))
    if asked == State.INSURANCE and re.search(r"\b(not sure|don'?t know|no idea|can'?t remember|through (my|his|her) "
                                          r"(husband|wife|partner|work|job|employer|parents?))\b", t):
        return "not sure"  # "I'm not sure, it's through my husband's job": staff ask at the visit
    if asked == State.INSURANCE and re.fullmatch(r"(none|nothing|no|nope|no insurance|not really|i don'?t)", t):
        return "none"
    if asked == State.INSURANCE and re.fullmatch(r"(cash|card|credit card|self pay|private|private pay)", t):
        return "none"
    if re.search(r"\b(no insurance|don'?t have (any )?insurance|not insured|uninsured|self[ -]?pay|pay (cash|myself|"
                 r"out of pocket)|paying (cash|myself|out of pocket)|out of pocket|no coverage)\b", t):
        return "none"
    m = re.search(r"\b(?:i have|i've got|i'm with|i'm on|it's|its|through|with|on|insurance is|covered by)\s+"
                  r"([a-z][a-z ]{2,30}?)(?:\s+(insurance|dental|plan|coverage))\b", t)
    if m and asked == State.INSURANCE:
        return m.group(1).strip().title()
    if asked == State.INSURANCE:  # a bare plan name: "United Concordia"
        words = [w for w in t.split() if w not in ("um", "uh", "it's", "its", "i", "have", "think", "yeah", "so")]
        if 1 <= len(words) <= 4 and not any(w in ("what", "do", "you", "which", "sorry") for w in words):
            return " ".join(words).title()
    return None


def _sound_key(word: str) -> str:
    """A word as it sounds, roughly: a leading vowel as "a", then its consonants ("aetna", "itna" -> "atn")."""
    w = re.sub(r"[^a-z]", "", word.lower())
    return ("a" if w[:1] in "aeiouy" else w[:1]) + re.sub(r"[aeiouyh]", "", w[1:]) if w else ""


def _choice(text: str, offered: list, today: date | None = None) -> int | None:
    """Which offered slot (0-based) the caller picked, by position, time, day, date, part of
    the day or provider; None when they ask for something else ("anything Tuesday instead?")."""
    if not offered:
        return None
    t = parse.clean(text)
    idx = parse.parse_ordinal_choice(text, len(offered))
    if idx is not None and re.search(r"\b(anything|something|any|else|instead|other|another)\b", t) and \
            re.search(r"\b(later|earlier)\b", t):
        idx = None  # "is there anything later that day?" asks for more, it picks nothing
    if idx is not None and not re.search(r"\b(not|n't) (\w+ ){0,2}(first|second|third|last|earlier|later)\b|"
                                         r"\b(first|second|third|last)( one)? (doesn'?t|won'?t|isn'?t|is no)", t):
        return idx
    # times the caller turns down ("I don't want to be there at 8") are not their pick
    # (found in the words as said, where a full stop ends what "not" applies to: "Unfortunately not.
    # I'm only free Monday, from half nine" turns the offers down and names other days)
    said = text.lower()
    for m in re.finditer(r"\b(don'?t|do not|not|can'?t|cannot|too early|too late)\b[^,.;!?]{0,40}", said):
        said = said.replace(m.group(0), " ")
    kept = parse.clean(said)
    if re.search(r"\b(anything|instead|other|another|different|else|neither|none)\b", kept) or not kept.strip():
        return None
    t = kept

    def time_and_one(m: re.Match) -> str:
        h, mm = int(m.group(1)), int(m.group(2))
        if any(o.local_start.hour % 12 == h % 12 and o.local_start.minute == mm for o in offered):
            return f"{h}:{m.group(2)} one"
        return m.group(0)

    # "the 11:15 one" written "the 11151" or "the 12-15-1"
    t = re.sub(r"\b(1[0-2]|[1-9])[- :]?([0-5][05])[- ]?1\b", time_and_one, t)
    if len(offered) == 3 and re.search(r"\b(middle|in between)\b", t):
        return 1
    if today is not None:
        named = parse.parse_when(t, today)
        if named.day_from is not None and named.day_from == named.day_to:
            by_date = [i for i, o in enumerate(offered) if o.local_start.date() == named.day_from]
            at = named.at
            if at is not None:
                by_date = [i for i in by_date if offered[i].local_start.time().replace(tzinfo=None) == at] or by_date
            if len(by_date) == 1:
                return by_date[0]
    part = "am" if re.search(r"\bmorning\b|\bearly\b|\bbefore lunch\b", t) else \
        "pm" if re.search(r"\bafternoon\b|\bevening\b|\blater\b|\bafter lunch\b", t) else None
    at = parse.parse_time(t)
    if at is None:  # "the 1:30 one" written "the 131", "130 in the afternoon" written "130"
        m = re.search(r"\b([1-9]|1[0-2])([0-5])([0-9])\b(?!\s*(st|nd|rd|th|dollars|%))", t)
        if m:
            h, tens, last = int(m.group(1)), m.group(2), m.group(3)
            for mm in (int(tens + last), int(tens + "0")):  # "131": 1:31, or 1:30 and "one"
                hits = [o for o in offered if o.local_start.hour % 12 == h % 12 and o.local_start.minute == mm]
                if hits:
                    at = hits[0].local_start.time().replace(tzinfo=None)
                    break
            near = [o for o in offered if o.local_start.hour % 12 == h % 12
                    and abs(o.local_start.minute - int(tens + last)) <= 5]
            if at is None and len(near) == 1:  # "the 211" for 2:15 (a digit misheard): the one offered near it
                at = near[0].local_start.time().replace(tzinfo=None)
    if at is None:  # "the two thirty", "the 9", "two o'clock one"
        m = re.search(r"\bthe\s+(\d{1,2}(?::\d\d)?|" + "|".join(list(parse.UNITS)[:13]) + r")(\s+(thirty|fifteen|forty five))?\b(?!\s*(st|nd|rd|th))", t)
        if m and not (m.group(1) == "one" and not m.group(2)):  # "the one with Dr. Kim" is not 1 o'clock
            at = parse.parse_time("at " + m.group(0)[4:])
    days = [d for d in parse.WEEKDAYS if re.search(rf"\b{d}\b", t)]
    cands = list(range(len(offered)))
    if at is not None:
        by_time = [i for i in cands if offered[i].local_start.time().replace(tzinfo=None) == at]
        if not by_time:  # "the nine" for 9:00 or 21:00, "the two" for 14:00
            by_time = [i for i in cands if offered[i].local_start.hour % 12 == at.hour % 12
                       and offered[i].local_start.minute == at.minute]
        if by_time:
            cands = by_time
        else:
            return None
    if days:
        by_day = [i for i in cands if parse.WEEKDAYS[offered[i].local_start.weekday()] in days]
        if by_day:
            cands = by_day
        elif at is not None or len(days) == 1:
            return None
    if part is not None:
        by_part = [i for i in cands if (offered[i].local_start.hour < 12) == (part == "am")]
        if by_part:
            cands = by_part
    last = _provider_named(t, [offered[i].provider for i in cands])
    if last:
        cands = [j for j in cands if offered[j].provider.split()[-1].lower() == last]
    if len(cands) == 1 and (len(cands) < len(offered) or at is not None or days or part):
        return cands[0]
    if len(offered) == 1 and (at is not None or days) and cands:
        return 0
    return None


def _provider_named(t: str, providers: list[str]) -> str | None:
    """The last name of the provider the caller names: said as offered, or heard a little
    differently after "Dr."/"doctor" ("Dr. Patil" for Patel, "doctor Kin" for Kim)."""
    lasts = sorted({p.split()[-1].lower() for p in providers})
    # "with Dr. Kim, not Dr. Patel": the one turned down is not the one named
    t = re.sub(r"\b(not|no|never|rather not|instead of|other than|anyone but|don'?t want)\s+(with\s+|see\s+)?"
               r"((dr|doctor)\.?\s+)?[a-z]+", " ", t)
    for last in lasts:
        if re.search(rf"\b{re.escape(last)}\b", t):
            return last
    m = re.search(r"\b(?:dr|doctor)\.?\s+([a-z]+)", t)
    if not m:
        return None
    score = sorted(((difflib.SequenceMatcher(None, m.group(1), last).ratio(), last) for last in lasts), reverse=True)
    if score and score[0][0] >= 0.6 and (len(score) == 1 or score[0][0] - score[1][0] >= 0.2):
        return score[0][1]
    return None


def read(text: str, ctx: Context) -> Reading:
    """Every intent and value in one caller turn (rules only; see conversation.py for the model)."""
    r = Reading(text=text)
    t = text.strip()
    norm = rules.normalize(t)
    if not norm or rules.is_aside(t):
        return r  # "Hold on, let me check my calendar": no "Hold", no checkup
    asked = ctx.asked
    slots = r.slots
    # values, whatever was asked
    service = rules.match_service(t, ctx.services)
    if not service and rules.urgent_dental(t):  # "I knocked my front tooth out": the emergency visit
        service = next((s.name for s in ctx.services if re.search(r"emergenc|urgent", s.name, re.I)), None)
    if service:
        slots["service"] = service
    elif ctx.asked == State.SERVICE and rules.names_treatment(t):
        slots["faq"] = ["unknown"]  # "Teeth whitening." when it is not a service here: a callback, not "sorry?"
    when = parse.parse_when(t if asked in (State.WHEN, State.OFFER, State.CONFIRM) else rules.strip_greetings(t), ctx.today)
    if not when.empty or when.flexible:
        slots["when"] = when
    phone = _phone(t)
    if phone:
        slots["phone"] = phone
    email = parse_email(t)
    if email:
        slots["email"] = email
    dob = parse.parse_birth_date(t, ctx.today)
    if dob:
        slots["dob"] = dob
        if "when" in slots and slots["when"].day_from and slots["when"].day_from.day == dob.day:
            del slots["when"]  # "March 14th 1990" is not a day to book
    spelling_asked = asked in (State.SPELLING, State.SPELLING_FIRST)
    spelled = None if "email" in slots else names.parse_spelling(t, letter_words=spelling_asked) \
        if spelling_asked or asked in (State.SPELLING_CHECK, State.NAME, State.LOOKUP_RETRY) or re.search(r"\b(spell\w*|as in|double [a-z]\b)", t, re.I) \
        or re.search(r"\b([A-Za-z][ ,-]+){3,}[A-Za-z]\b", t) else None
    if spelled:
        slots["spelled"] = spelled
    name = names.extract_name(t, asked=asked in (State.NAME,))
    if name and not (spelled and asked in (State.SPELLING, State.SPELLING_FIRST)):
        slots["name"] = name
    np_ = _new_patient(t, asked)
    if np_ is not None:
        slots["new_patient"] = np_
    plan = _insurance(t, ctx.insurance, asked)
    if plan:
        slots["insurance"] = plan
    named = _provider_named(norm, ctx.providers) if re.search(r"\b(dr|doctor|with|see)\b", norm) else None
    for p in ctx.providers:
        if named and p.split()[-1].lower() == named and re.search(rf"\b{re.escape(named)}\b", norm):
            slots["provider"] = p
            break
    choice = _choice(t, ctx.offered, ctx.today) if asked == State.OFFER else None
    if choice is not None:
        slots["choice"] = choice
        if "when" in slots:  # "Friday" when a Friday was offered means that Friday
            picked = ctx.offered[choice].local_start
            w = slots["when"]
            if w.day_from is not None or w.weekdays is not None:
                w.day_from = w.day_to = picked.date()
                w.weekdays = None
    topics: list[str] = []
    questions = rules.question_clauses(rules.strip_greetings(t))
    answered: list[str] = []
    for clause in questions:
        priced = re.search(r"\b(how much|cost|costs|price|prices|pricing|charge for|fee|fees|how long does)\b", clause, re.I)
        found = [] if priced else [*rules.faq_topics(clause), *match_faq(clause, ctx.faq)[:1]]
        if not found and not priced and re.search(r"\b(take|accept)\b", clause, re.I) and \
                _insurance(clause, ctx.insurance, asked) not in (None, "none", "not sure"):
            found = ["insurance"]  # "do you take itna?": a plan by its sound, asked about
        if not found and not priced and len(questions) == 1:
            # "My mom is in a wheelchair. Can she get in the door?": the question leans on the sentence before
            found = match_faq(t, ctx.faq)[:1]
        offered_service = rules.match_service(clause, ctx.services)
        if not found and offered_service and asked in (State.OPEN, State.ANYTHING_ELSE) and re.search(
                r"\b(do|does|can|could) (you|y'?all|the (clinic|dentist|practice)|your \w+) (do|offer|provide|have|take care of|"
                r"handle|book)\b|\bis (it|that) something you\b", clause, re.I):
            found = [f"service:{offered_service}"]  # "Do you do cleanings?": yes, and would they like one
        if found:
            answered.append(clause)
        elif not rules.request_kind(clause) and asked in (State.OPEN, State.ANYTHING_ELSE, State.CALLBACK_OFFER) and \
                len(rules.normalize(clause).split()) >= 3:
            found = ["unknown"]  # a question the clinic has no answer for
            answered.append(clause)
        topics += [x for x in found if x not in topics]
    if topics:
        slots["faq"] = topics
    # the intent: safety first, then what was asked, then what the words say
    rest = t
    for clause in answered:  # "are there stairs to get in?" asks about access, not to book
        rest = rest.replace(clause, " ")
    kind = rules.request_kind(rest)
    yn = yes_no(t, done_means_no=asked in (State.ANYTHING_ELSE, State.CALLBACK_OFFER)) if asked in YES_NO_ASKS else None
    if asked == State.EMAIL and "email" not in slots and re.search(r"\b(text|txt|sms|message) me\b|\bjust (text|the text)|"
                                                              r"\b(don'?t|do not|no)\b.{0,20}\b(use|have|do)\b.{0,10}e-?mail|"
                                                              r"\bno e-?mail\b|\brather not\b", norm):
        yn = "no"
    if yn == "yes" and asked in (State.PHONE_CONFIRM, State.PHONE_CHECK) and "phone" in slots:
        yn = "no"  # "please use 773 555 0152 instead": another number
    if rules.is_emergency(t):
        r.intent = "emergency"
    elif rules.wants_human(t):
        r.intent = "human"
    elif rules.is_billing(t) and not (asked in (State.NAME, State.SPELLING) and "name" in slots):
        r.intent = "billing"
    elif rules.wants_advice(t):
        r.intent = "advice"
    elif asked == State.OFFER and "choice" in slots:
        r.intent = "choose_slot"
    elif asked == State.OFFER and yes_no(t) == "yes" and len(ctx.offered) == 1 and \
            (not kind or kind == "book" and not ({"when", "service", "provider"} & slots.keys())):  # "book me in for that"
        r.intent = "choose_slot"
        slots["choice"] = 0
    elif yn is not None and not (kind and kind != "book" and asked != State.CANCEL_CONFIRM):
        r.intent = yn
        if asked == State.ANYTHING_ELSE and yn == "no":
            r.intent = "goodbye" if re.search(r"\b(good ?bye|bye|have a (good|nice|great)|take care|cheers|see y|"
                                              r"talk (to you )?later|cheerio|ta ?ra)\b", norm) else "no"
        elif asked == State.ANYTHING_ELSE and yn == "yes" and (kind or "faq" in slots):
            r.intent = kind or "faq"
        elif asked == State.ANYTHING_ELSE and yn == "yes" and rules.is_goodbye(t):
            r.intent = "goodbye"  # "okay, bye": an okay that closes, not a yes to "anything else?"
    elif kind == "book" and asked in (State.SERVICE, State.REASON) and "service" in slots:
        r.intent = "give_info"
    elif kind and not (kind == "book" and asked not in (State.OPEN, State.ANYTHING_ELSE, State.SERVICE) and _is_answer(slots, asked)):
        r.intent = kind
    elif service and asked in (State.OPEN, State.ANYTHING_ELSE) and ("faq" not in slots or rules.match_service(rest, ctx.services)
                                                             or kind == "book" or "when" in slots):
        # "do you take Aetna? And I'd like a checkup next week": the question answered, and a booking
        r.intent = "book"  # "just my routine exam": naming a service is asking for it
    elif "faq" in slots:
        r.intent = "faq"
    elif asked == State.OFFER and (yes_no(t) == "no" or re.search(r"\b(other|else|different|later|earlier|another)\b", norm)):
        r.intent = "no"
    elif rules.is_goodbye(t):
        r.intent = "goodbye"
    elif _is_answer(slots, asked):
        r.intent = "give_info"
    elif rules.is_greeting_only(t):
        r.intent = "greeting"
    elif slots:
        r.intent = "give_info"
    return r


def _is_answer(slots: dict, asked: str) -> bool:
    wanted = {"name": ("name", "spelled"), "spelling": ("spelled", "name"), "spelling_first": ("spelled", "name"),
              "phone": ("phone",), "dob": ("dob",), "email": ("email",), "service": ("service",),
              "reason": ("service",), "when": ("when",), "new_patient": ("new_patient",), "insurance": ("insurance",)}
    return any(k in slots for k in wanted.get(asked, ())) or any(
        k in slots for k in ("name", "phone", "dob", "email", "when", "spelled", "insurance", "new_patient"))
