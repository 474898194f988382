"""The simulated caller's mind: from what it heard to what it says (sans-IO, no audio).

`PersonaCaller.hear(text)` takes one agent turn as the caller heard it and returns the caller's
reply: speech parts (text, pauses, keypad digits) and whether to hang up. Every choice of phrasing
comes from one seeded random generator, so a run repeats exactly when it hears the same things.
The caller checks what the agent reads back (numbers, spellings, day and time) against its own
facts and corrects it, as a careful person would.

One module on purpose (about 740 lines): the answers to each kind of agent question read and
update the same facts and progress, and the persona suite's results compare across runs only if
this instrument changes as little as possible; the phrasings are in phrasebank.yaml, the hearing
in hearing.py, the facts in spec.py.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml

from . import words
from .hearing import WEEKDAYS, Ask, Offer, classify, digits_in, spelling_heard_as
from .spec import Persona

BANK_PATH = Path(__file__).with_name("phrasebank.yaml")
MAX_TURNS = 30
_FALLBACK = {  # used only when the phrase bank lacks an act
    "greeting": ["Hi."], "hesitation": ["um"], "book_request": ["I'm calling because {need}."],
    "book_request_plain": ["I'd like to make an appointment."], "cancel_request": ["I need to cancel my {existing}."],
    "reschedule_request": ["I need to move my {existing}."], "question_intro": ["I have a question."],
    "ask_question": ["{question}"], "two_questions": ["{question} And {question2}"],
    "person_request": ["Can I speak to someone at the front desk?"], "emergency_request": ["{emergency}"],
    "name": ["It's {full}."], "name_volunteer": ["This is {full}."], "spell_intro": ["It's"],
    "spell_full": ["{last}: {spelled}."], "phone": ["{phone}."], "phone_volunteer": ["My number is {phone}."],
    "phone_use_caller_id": ["The number I'm calling from."], "dob": ["{dob}."], "dob_volunteer": ["I was born {dob}."],
    "email": ["{email}."], "when": ["{when}."], "when_volunteer": ["{when} would be good."],
    "correction": ["Actually, make that {when}."], "choose": ["{choice}, please."],
    "decline_offers": ["Neither of those works."], "decline_offers_with_when": ["Neither works. {when}?"],
    "yes": ["Yes."], "no": ["No."], "no_correction": ["No, that's not right."], "yes_and_thanks": ["Yes, thanks."],
    "no_and_goodbye": ["No, that's all, goodbye."], "anything_else_no": ["No, that's all."], "goodbye": ["Bye."],
    "thanks": ["Thank you."], "backchannel": ["Mm-hm."], "pardon": ["Sorry, what was that?"],
    "new_patient_yes": ["Yes, I'm new."], "new_patient_no": ["No, I've been before."],
    "insurance": ["I have {insurance}."], "insurance_none": ["I don't have insurance."],
    "accept_callback": ["Yes, please have someone call me."], "decline_callback": ["No, that's okay."],
    "wait_ok": ["Sure."], "no_email": ["I'd rather not give an email."], "no_dob": ["I'd rather not say."],
    "keypad": ["I'll type it in."], "chatter": ["Sorry, it's been a long day."],
}
_ANSWERABLE = ("name", "spell", "phone", "dob", "email", "new_patient", "insurance", "service", "reason", "when", "offer")


def load_bank(path: Path = BANK_PATH) -> dict[str, list[str]]:
    bank = dict(_FALLBACK)
    if path.exists():
        data = yaml.safe_load(path.read_text()) or {}
        for act, lines in data.items():
            if isinstance(lines, list) and lines and all(isinstance(x, str) for x in lines):
                bank[act] = lines
    return bank


@dataclass
class Part:
    text: str = ""
    pause_ms: int = 0
    dtmf: str = ""


@dataclass
class Reply:
    act: str
    parts: list[Part] = field(default_factory=list)
    hangup: bool = False

    @property
    def text(self) -> str:
        out = []
        for p in self.parts:
            if p.text:
                out.append(p.text)
            elif p.pause_ms:
                out.append(f"[pause {p.pause_ms}]")
            elif p.dtmf:
                out.append(f"[DTMF {p.dtmf}]")
        return " ".join(out)

    @property
    def spoken(self) -> str:
        return " ".join(p.text for p in self.parts if p.text)


@dataclass
class Progress:
    """What the caller knows of how its call is going, from what it heard."""
    given: set = field(default_factory=set)
    reasked: list = field(default_factory=list)  # facts the agent asked for again after they were given
    chosen: Offer | None = None
    confirmed: bool = False  # said yes to a read-back
    booked_heard: bool = False  # heard that it is booked / moved / cancelled
    cancel_confirmed: bool = False
    answered: list = field(default_factory=list)  # questions whose answer was heard
    asked_questions: int = 0
    callback_heard: bool = False
    emergency_heard: bool = False
    transfer_heard: bool = False
    declines: int = 0
    pardons: int = 0  # the agent said it did not understand
    unknown: int = 0  # the caller did not understand the agent
    corrected: bool = False
    gave_up: str = ""
    spell_requests: dict = field(default_factory=dict)


class PersonaCaller:
    clinic_words = ""  # the clinic's name and dentists, as the caller knows them (for its ear)

    def __init__(self, persona: Persona, today: date, bank: dict[str, list[str]] | None = None):
        self.p = persona
        self.f = persona.facts
        self.s = persona.style
        self.today = today
        self.bank = bank or load_bank()
        self.rng = random.Random(persona.seed)
        self.zero = self.rng.choice(["zero", "oh"])
        self.progress = Progress()
        self.turns = 0
        self.last: Reply | None = None
        self.log: list[tuple[str, str, str]] = []  # (ask kind, heard, said)
        self._opened = False
        self._pending_questions = list(self.f.questions)

    # -- phrasing -------------------------------------------------------------------------

    def phrase(self, act: str, **values) -> str:
        pool = self.s.phrases.get(act) or self.bank.get(act) or _FALLBACK.get(act) or [""]
        template = self.rng.choice(pool)
        vals = {"first": self.f.first_name, "last": self.f.last_name, "full": self.f.full_name,
                "need": self.f.service_words or self.f.service, "service": self.f.service or "appointment",
                "when": self.f.when.words, "insurance": self.f.insurance, "existing": self._existing_words(),
                "emergency": self.f.emergency_words, "question": "", "question2": "", "choice": "", "phone": "",
                "dob": "", "email": "", "spelled": "", **values}
        try:
            text = template.format(**vals)
        except (KeyError, IndexError, ValueError):
            text = (_FALLBACK.get(act) or [""])[0].format(**vals)
        return re.sub(r"\s+", " ", text).strip()

    def _existing_words(self) -> str:
        e = self.f.existing
        return f"{e.service} appointment" if e else "appointment"

    def _styled(self, act: str, text: str, hesitate: bool = True) -> list[Part]:
        """One sentence in this caller's style: a hesitation, a pause inside it."""
        parts: list[Part] = []
        if hesitate and self.s.hesitation and self.rng.random() < self.s.hesitation:
            h = self.phrase("hesitation")
            if h:
                text = f"{h[:1].upper()}{h[1:]}, {text[:1].lower()}{text[1:]}" if not text.startswith("I ") else f"{h[:1].upper()}{h[1:]}, {text}"
        if self.s.pauses and self.rng.random() < self.s.pauses and len(text.split()) >= 5:
            cut = [m.end() for m in re.finditer(r",\s", text)] or [len(" ".join(text.split()[:len(text.split()) // 2])) + 1]
            at = self.rng.choice(cut)
            first, rest = text[:at].strip(), text[at:].strip()
            if first and rest:
                return [Part(first), Part(pause_ms=self.rng.randint(600, 1500)), Part(rest)]
        parts.append(Part(text))
        return parts

    def _say(self, act: str, *sentences: str | list[Part], hangup: bool = False, hesitate: bool = True) -> Reply:
        parts: list[Part] = []
        for i, s in enumerate(sentences):
            if isinstance(s, list):
                parts.extend(s)
            elif s:
                parts.extend(self._styled(act, s, hesitate=hesitate and i == 0))
        if self.s.verbosity == "chatty" and act not in ("backchannel", "goodbye") and self.rng.random() < 0.2:
            parts.append(Part(self.phrase("chatter")))
        return Reply(act, parts, hangup)

    # -- facts as speech ----------------------------------------------------------------

    def _phone_parts(self, intro_act: str = "phone") -> list[Part]:
        number = self.p.callback_number or ""
        if self.s.digits == "keypad":
            return [Part(self.phrase("keypad")), Part(pause_ms=400), Part(dtmf=words.national(number) + "#")]
        pieces = words.say_phone(number, self.s.digits, self.rng, self.zero)
        spoken = [p for p in pieces if isinstance(p, str)]
        if len(pieces) == 1:
            return self._styled(intro_act, self.phrase(intro_act, phone=spoken[0]))
        # with pauses: the intro then the groups, pause between
        out = [Part(self.phrase(intro_act, phone=spoken[0]))]
        for p in pieces[1:]:
            out.append(Part(pause_ms=p) if isinstance(p, int) else Part(p))
        return out

    def _spelling(self) -> str:
        return words.spell(self.f.last_name, self.s.spelling, self.rng)

    def _when_text(self) -> tuple[str, bool]:
        """What the caller says for its preferred time; with corrections on, the decoy first."""
        w = self.f.when
        if self.s.corrections and w.decoy and not self.progress.corrected:
            if self.rng.random() < 0.5:  # corrects itself in the same breath
                self.progress.corrected = True
                return f"{w.decoy}. " + self.phrase("correction"), True
            return w.decoy, False
        return w.words, True

    # -- the opening ----------------------------------------------------------------------

    def _request_sentence(self) -> str:
        g = self.p.goal
        if g == "book":
            return self.phrase("book_request") if self.rng.random() < 0.8 else self.phrase("book_request_plain") + " " + self.f.service_words
        if g == "cancel":
            return self.phrase("cancel_request")
        if g == "reschedule":
            return self.phrase("reschedule_request")
        if g == "person":
            return self.phrase("person_request")
        if g == "emergency":
            return self.phrase("emergency_request")
        return self._question_sentence(intro=True)

    def _question_sentence(self, intro: bool = False) -> str:
        qs = self._pending_questions
        if not qs:
            return ""
        if self.s.questions == "together" and len(qs) >= 2:
            a, b = qs[0], qs[1]
            self._pending_questions = qs[2:]
            self.progress.asked_questions += 2
            text = self.phrase("two_questions", question=a.ask, question2=b.ask)
        else:
            q = qs[0]
            self._pending_questions = qs[1:]
            self.progress.asked_questions += 1
            text = self.phrase("ask_question", question=q.ask)
        if intro and self.rng.random() < 0.5:
            text = self.phrase("question_intro") + " " + text
        return text

    def opening(self) -> Reply:
        self._opened = True
        sentences: list[str | list[Part]] = []
        split = self.s.opening == "split"
        greet = self.phrase("greeting") if self.s.greeting else ""
        vol = self.s.volunteer if self.s.opening in ("all", "split") else []
        facts: list[str | list[Part]] = []
        for v in vol:
            if v == "name":
                facts.append(self.phrase("name_volunteer"))
                self.progress.given.add("name")
            elif v == "phone" and self.p.callback_number and self.s.digits != "keypad":
                facts.append(self._phone_parts("phone_volunteer"))
                self.progress.given.add("phone")
            elif v == "when":
                text, _ = self._when_text()
                facts.append(self.phrase("when_volunteer", when=text))
                self.progress.given.add("when")
            elif v == "dob" and self.f.dob:
                facts.append(self.phrase("dob_volunteer", dob=words.say_dob(self.f.dob, self.rng)))
                self.progress.given.add("dob")
            elif v == "email" and self.f.email:
                facts.append(self.phrase("email", email=words.say_email(self.f.email, self.rng)))
                self.progress.given.add("email")
            elif v == "insurance" and self.f.insurance:
                facts.append(self.phrase("insurance", insurance=self.f.insurance) if self.f.insurance != "none"
                             else self.phrase("insurance_none"))
                self.progress.given.add("insurance")
            elif v == "new_patient" and self.f.new_patient is not None:
                facts.append(self.phrase("new_patient_yes" if self.f.new_patient else "new_patient_no"))
                self.progress.given.add("new_patient")
        request = self._request_sentence()
        self.progress.given.add("service")
        name_first = [f for f in facts[:1]] if vol and vol[0] == "name" else []
        rest = facts[1:] if name_first else facts
        if split:
            # a greeting, a pause, who is calling, a pause, what they need (three short sentences)
            order = [greet, *name_first, request, *rest]
            parts: list[Part] = []
            for i, s in enumerate(x for x in order if x):
                if i:
                    parts.append(Part(pause_ms=self.rng.randint(900, 1500)))
                parts.extend(s if isinstance(s, list) else self._styled("open", sentence(s), hesitate=i == 0))
            return self._record("open", "", Reply("open", parts))
        # one breath: the facts joined into the request with commas
        clauses = [c for c in [*name_first, request, *rest] if c]
        parts: list[Part] = []
        if greet:
            parts.extend(self._styled("open", sentence(greet)))
        text_run: list[str] = []
        for c in clauses:
            if isinstance(c, list):  # a number said with pauses: flush the words, then the parts
                if text_run:
                    parts.extend(self._styled("open", sentence(", ".join(text_run)), hesitate=not parts))
                    text_run = []
                parts.extend(c)
            else:
                text_run.append(c.rstrip(".!"))
        if text_run:
            parts.extend(self._styled("open", sentence(", ".join(text_run)), hesitate=not parts))
        return self._record("open", "", Reply("open", parts))

    # -- hearing --------------------------------------------------------------------------

    def done(self) -> bool:
        """Whether the caller's goal is reached, as far as it can tell from what it heard."""
        pr = self.progress
        g = self.p.goal
        if g in ("book", "reschedule"):
            core = pr.booked_heard
        elif g == "cancel":
            core = pr.booked_heard
        elif g == "question":
            core = not self._pending_questions
        elif g == "person":
            core = pr.callback_heard or pr.transfer_heard
        else:
            core = pr.emergency_heard
        return core and not self._pending_questions

    def hear(self, text: str) -> Reply | None:
        """One agent turn as heard; None: nothing to say (keep listening)."""
        ask = classify(text)
        pr = self.progress
        pr.callback_heard |= ask.callback
        pr.emergency_heard |= ask.emergency
        pr.transfer_heard |= ask.transfer
        self._check_answers(text)
        if pr.confirmed and re.search(r"all set|you'?re (already |now )?booked|is booked|is moved|been (booked|moved|scheduled)|"
                                      r"appointment is (moved|booked|confirmed)|see you (on|then)|confirmation", text, re.I):
            pr.booked_heard = True
        if pr.cancel_confirmed and re.search(r"cancell?ed", text, re.I):
            pr.booked_heard = True
        self.turns += 1
        if self.turns > MAX_TURNS:
            pr.gave_up = pr.gave_up or "the call went on too long"
            return self._record(ask.kind, text, self._say("goodbye", self.phrase("goodbye"), hangup=True))
        if self.p.goal == "emergency" and pr.emergency_heard:
            return self._record(ask.kind, text, self._say("thanks", self.phrase("thanks"), hangup=True))
        handler = getattr(self, f"_on_{ask.kind}", None)
        reply = handler(ask) if handler else self._on_unknown(ask)
        if reply is not None and ask.kind != "unknown":
            pr.unknown = 0
        return self._record(ask.kind, text, reply) if reply is not None else None

    def _record(self, kind: str, heard: str, reply: Reply) -> Reply:
        self.log.append((kind, heard, reply.text))
        if kind not in ("pardon",):
            self.last = reply
        return reply

    def _check_answers(self, text: str) -> None:
        t = text.lower()
        for q in self.f.questions:
            if q.ask in self.progress.answered:
                continue
            if q.answer_has and any(_heard_word(w, t) for w in q.answer_has):
                self.progress.answered.append(q.ask)

    def _note_asked(self, fact: str) -> None:
        if fact in self.progress.given:
            self.progress.reasked.append(fact)
        self.progress.given.add(fact)

    # -- one handler per kind of question ---------------------------------------------------

    def _on_open(self, ask: Ask) -> Reply:
        if not self._opened:
            return self.opening()
        return self._next_goal_step()

    def _next_goal_step(self) -> Reply:
        if self._pending_questions:
            return self._say("ask_question", self._question_sentence())
        if self.done():
            return self._say("anything_else_no", self.phrase("no_and_goodbye"))
        return self._say("open", self._request_sentence())

    def _on_name(self, ask: Ask) -> Reply:
        self._note_asked("name")
        return self._say("name", self.phrase("name"))

    def _on_spell(self, ask: Ask) -> Reply:
        first = bool(re.search(r"first name", ask.text, re.I)) and not re.search(r"last name", ask.text, re.I)
        self._note_asked("spelling_first" if first else "spelling")
        name = self.f.first_name if first else self.f.last_name
        # a second request for the same spelling: slower and with words, as people do
        again = self.progress.spell_requests.get(first, 0)
        self.progress.spell_requests[first] = again + 1
        style = self.s.spelling
        if style == "letters" and (again or re.search(r"\bas in\b|word for each", ask.text, re.I) and self.rng.random() < 0.7):
            style = "phonetic"  # most people do as asked: "with a word for each letter, like S as in Sam"
        spelled = words.spell(name, style, self.rng)
        if first:
            return self._say("spell", f"{self.phrase('spell_intro')} {spelled}.")
        if self.rng.random() < 0.5:
            return self._say("spell", self.phrase("spell_full", spelled=spelled))
        return self._say("spell", f"{self.phrase('spell_intro')} {spelled}.")

    def _on_spelling_check(self, ask: Ask) -> Reply:
        last = re.sub(r"[^A-Z]", "", self.f.last_name.upper())
        first = re.sub(r"[^A-Z]", "", self.f.first_name.upper())
        runs = ask.runs or ([ask.letters] if ask.letters else [])
        joined = "".join(runs)
        last_ok = any(spelling_heard_as(r, last) for r in runs) or spelling_heard_as(joined, first + last)
        first_ok = any(spelling_heard_as(r, first) for r in runs) or spelling_heard_as(joined, first + last) or \
            bool(re.search(rf"\b{re.escape(self.f.first_name)}\b", ask.text, re.I))
        if last_ok and first_ok:
            return self._say("yes", self.phrase("yes"))
        # say which name is wrong, and spell it again, more carefully (with words for the letters)
        if last_ok:
            return self._say("no", self.phrase("no_correction"),
                             f"My first name is {words.spell(self.f.first_name, 'mixed', self.rng)}.")
        return self._say("no", self.phrase("no_correction"),
                         f"My last name is {words.spell(self.f.last_name, 'mixed', self.rng)}.")

    def spelling_prompt(self) -> str:
        """What the caller's recogniser is told to expect when its spelling is read back: its own
        letters (a person listening for their name hears it; a letter that differs still shows)."""
        first = ", ".join(c for c in self.f.first_name.upper() if c.isalpha())
        last = ", ".join(c for c in self.f.last_name.upper() if c.isalpha())
        return f"Spelling, letter by letter. First name {first}. Last name {last}."

    def expects_spelling(self) -> bool:
        """The caller has just spelled its name: what comes back is likely letters."""
        return bool(self.log) and self.log[-1][0] in ("spell", "spelling_check")

    def _on_identity_check(self, ask: Ask) -> Reply:
        heard = re.sub(r"[^a-z ]", "", ask.text.lower())
        if self.f.last_name.lower() in heard or self.f.first_name.lower() in heard:
            return self._say("yes", self.phrase("yes"))
        # one's own name heard run together or a little off ("you all dark" for Yaw Darko), as a listener hears it
        said = re.sub(r"^.*?\b(speaking with|talking to|talking with|is this|are you)\s+", "", heard).replace(" ", "")
        mine = re.sub(r"[^a-z]", "", (self.f.first_name + self.f.last_name).lower())
        from difflib import SequenceMatcher
        if said and SequenceMatcher(None, said, mine).ratio() >= 0.6:
            return self._say("yes", self.phrase("yes"))
        return self._say("no", self.phrase("no"), self.phrase("name"))

    def _on_phone(self, ask: Ask) -> Reply:
        self._note_asked("phone")
        if self.p.caller_id and self.p.callback_number == self.p.caller_id and self.s.digits != "keypad" \
                and self.rng.random() < 0.15:
            return self._say("phone", self.phrase("phone_use_caller_id"))
        return Reply("phone", self._phone_parts())

    def _number_matches(self, digits: str) -> bool:
        """The number read back is ours. The caller's own recogniser drops repeated digits
        ("555" heard as "55"), so one digit missing or extra is a match; a different digit is not."""
        mine = words.national(self.p.callback_number or "")
        heard = digits[-11:] if len(digits) > 10 and not digits.endswith(mine) else digits
        if not mine:
            return False
        if heard.endswith(mine):
            return True
        if abs(len(heard) - len(mine)) == 1:
            longer, shorter = (heard, mine) if len(heard) > len(mine) else (mine, heard)
            return any(longer[:i] + longer[i + 1:] == shorter for i in range(len(longer)))
        return False

    def _on_phone_confirm(self, ask: Ask) -> Reply:
        if self._number_matches(ask.digits):
            return self._say("yes", self.phrase("yes"))
        self.progress.given.add("phone")
        return Reply("no", [*self._styled("no", self.phrase("no")), *self._phone_parts()])

    def _on_phone_check(self, ask: Ask) -> Reply:
        if self._number_matches(ask.digits):
            return self._say("yes", self.phrase("yes"))
        return Reply("no", [*self._styled("no", self.phrase("no_correction")), *self._phone_parts()])

    def _on_dob(self, ask: Ask) -> Reply:
        self._note_asked("dob")
        if not self.f.dob:
            return self._say("dob", self.phrase("no_dob"))
        return self._say("dob", self.phrase("dob", dob=words.say_dob(self.f.dob, self.rng)))

    def _on_email(self, ask: Ask) -> Reply:
        self._note_asked("email")
        if not self.f.email:
            return self._say("email", self.phrase("no_email"))
        return self._say("email", self.phrase("email", email=words.say_email(self.f.email, self.rng)))

    def _on_new_patient(self, ask: Ask) -> Reply:
        self._note_asked("new_patient")
        new = self.f.new_patient if self.f.new_patient is not None else False
        return self._say("new_patient", self.phrase("new_patient_yes" if new else "new_patient_no"))

    def _on_insurance(self, ask: Ask) -> Reply:
        self._note_asked("insurance")
        if not self.f.insurance or self.f.insurance.lower() == "none":
            return self._say("insurance", self.phrase("insurance_none"))
        return self._say("insurance", self.phrase("insurance", insurance=self.f.insurance))

    def _on_service(self, ask: Ask) -> Reply:
        self._note_asked("service")
        if self.p.goal in ("cancel", "reschedule"):
            return self._say("service", self._request_sentence())
        return self._say("service", self.f.service_words or self.f.service)

    _on_reason = _on_service

    def _on_when(self, ask: Ask) -> Reply:
        self._note_asked("when")
        if self.s.corrections and self.f.when.decoy and "when_decoy_said" in self.progress.given and not self.progress.corrected:
            self.progress.corrected = True
            return self._say("correction", self.phrase("correction"))
        text, final = self._when_text()
        if not final:
            self.progress.given.add("when_decoy_said")
        return self._say("when", self.phrase("when", when=text))

    # -- offers and read-backs --------------------------------------------------------------

    def offer_date(self, o: Offer) -> date | None:
        if o.month and o.day:
            for year in (self.today.year, self.today.year + 1):
                try:
                    d = date(year, o.month, o.day)
                except ValueError:
                    return None
                if d >= self.today - timedelta(days=1):
                    return d
            return None
        if o.weekday:
            target = WEEKDAYS.index(o.weekday)
            return self.today + timedelta(days=(target - self.today.weekday()) % 7 or 7)
        return None

    def fits(self, o: Offer) -> bool:
        w = self.f.when
        d = self.offer_date(o)
        if d is None or o.at is None:
            return False
        if not day_fits(d, w.days, self.today):
            return False
        if w.after and o.at < w.after:
            return False
        if w.before and o.at >= w.before:
            return False
        if self.f.provider and o.provider and not same_provider(o.provider, self.f.provider):
            return False
        return True

    def _choice_words(self, o: Offer, offers: list[Offer]) -> str:
        idx = offers.index(o)
        forms = [["the first one", "the first", "the earlier one"], ["the second one", "the second", "the later one"]]
        options: list[str] = []
        if idx < 2 and len(offers) > 1:
            options.append(self.rng.choice(forms[idx]))
        if o.at is not None and sum(x.at == o.at for x in offers) == 1:
            h = o.at.hour % 12 or 12
            t = f"{h}" if o.at.minute == 0 else f"{h}:{o.at.minute:02d}"
            ampm = "in the morning" if o.at.hour < 12 else "in the afternoon"
            options += [f"the {t} o'clock" if o.at.minute == 0 else f"the {t} one", f"{t} {ampm}"]
        if o.weekday and sum(x.weekday == o.weekday for x in offers) == 1:
            options += [f"the {o.weekday.capitalize()} one", f"{o.weekday.capitalize()}"]
        if o.provider and sum(x.provider == o.provider for x in offers) == 1:
            options.append(f"the one with {o.provider}")
        if len(offers) == 1:
            options = ["that one", "that", "that time"]
        return self.rng.choice(options or ["the first one"])

    def _on_offer(self, ask: Ask) -> Reply:
        pr = self.progress
        if self.s.corrections and self.f.when.decoy and not pr.corrected:
            pr.corrected = True
            return self._say("correction", self.phrase("correction"))
        fitting = [o for o in ask.offers if self.fits(o)]
        if not fitting:
            pr.declines += 1
            if pr.declines > 3:
                pr.gave_up = "no offer in the caller's window"
                return self._say("goodbye", self.phrase("decline_offers"), self.phrase("goodbye"), hangup=True)
            wrong_provider = self.f.provider and any(o.provider and not same_provider(o.provider, self.f.provider)
                                                     for o in ask.offers)
            if wrong_provider:  # the times may be fine; the provider is not
                return self._say("decline_offers", self.phrase("decline_offers"), f"I'd like to see {self.f.provider}.")
            return self._say("decline_offers", self.phrase("decline_offers_with_when", when=self.f.when.words))
        pick = fitting[-1] if self.f.accept == "last" else (self.rng.choice(fitting) if self.f.accept == "any" else fitting[0])
        pr.chosen = pick
        choice = self._choice_words(pick, ask.offers)
        return self._say("choose", self.phrase("choose", choice=choice))

    def _matches_choice(self, detail: Offer | None) -> bool:
        if detail is None:
            return False
        chosen = self.progress.chosen
        if chosen is not None:
            same_time = detail.at is None or chosen.at is None or detail.at == chosen.at
            same_day = (detail.day is None or chosen.day is None or detail.day == chosen.day) and \
                       (detail.weekday is None or chosen.weekday is None or detail.weekday == chosen.weekday)
            return same_time and same_day
        return self.fits(detail)  # the agent went straight to a read-back: is it in the window?

    def _on_confirm(self, ask: Ask) -> Reply:
        if self.p.goal == "cancel" and re.search(r"cancel", ask.text, re.I):
            return self._on_cancel_confirm(ask)
        service_ok = True
        if self.f.service and self.p.goal == "book":
            heard = ask.text.lower()
            services = ("cleaning", "checkup", "check-up", "filling", "emergency visit")
            named = [s for s in services if s in heard]
            service_ok = not named or any(self.f.service.lower().replace("-", "") in s.replace("-", "") for s in named)
        if self._matches_choice(ask.detail) and service_ok:
            self.progress.confirmed = True
            act = "yes_and_thanks" if self.rng.random() < 0.3 else "yes"
            return self._say("yes", self.phrase(act))
        self.progress.chosen = None
        if not service_ok:
            return self._say("no", self.phrase("no_correction"), self.f.service_words or self.f.service)
        return self._say("no", self.phrase("no_correction"), self.phrase("when", when=self.f.when.words))

    def _on_cancel_confirm(self, ask: Ask) -> Reply:
        e = self.f.existing
        if self.p.goal == "cancel" and e is not None:
            d = ask.detail
            ok = d is None or d.at is None or d.at == e.time
            if ok:
                self.progress.cancel_confirmed = True
                return self._say("yes", self.phrase("yes"))
            return self._say("no", self.phrase("no_correction"))
        return self._say("no", self.phrase("no"), self._request_sentence())

    def _on_anything_else(self, ask: Ask) -> Reply:
        if self._pending_questions:
            return self._say("ask_question", self._question_sentence())
        if not self.done() and self.p.goal in ("book", "reschedule", "cancel") and not self.progress.gave_up:
            # the agent moved on but the caller's business is not done: ask again
            return self._say("open", self._request_sentence())
        return self._say("anything_else_no", self.phrase("no_and_goodbye" if self.rng.random() < 0.6 else "anything_else_no"))

    def _on_callback_offer(self, ask: Ask) -> Reply:
        if self.f.then == "decline_callback":
            return self._say("decline_callback", self.phrase("decline_callback"))
        self.progress.callback_heard = True
        return self._say("accept_callback", self.phrase("accept_callback"))

    def _on_handoff(self, ask: Ask) -> Reply:
        if self.p.goal == "emergency" or ask.emergency:
            return self._say("thanks", self.phrase("thanks"), hangup=True)
        if ask.callback and self.f.then == "decline_callback":
            return self._say("decline_callback", self.phrase("decline_callback"))
        return self._say("thanks", self.phrase("thanks"), self.phrase("goodbye"), hangup=True)

    def _on_goodbye(self, ask: Ask) -> Reply:
        return self._say("goodbye", self.phrase("goodbye"), hangup=True, hesitate=False)

    def _on_wait(self, ask: Ask) -> Reply | None:
        return None

    def _on_silence(self, ask: Ask) -> Reply | None:
        return None

    def _on_pardon(self, ask: Ask) -> Reply:
        self.progress.pardons += 1
        if self.last is None:
            return self.opening()
        # say it again, in other words where the act allows
        redo = {"open": self._next_goal_step if self._opened else self.opening}.get(self.last.act)
        if redo is not None:
            return redo()
        return Reply(self.last.act, list(self.last.parts))

    def _on_unknown(self, ask: Ask) -> Reply | None:
        pr = self.progress
        pr.unknown += 1
        if self.p.goal == "emergency" and pr.emergency_heard:
            return self._say("thanks", self.phrase("thanks"), hangup=True)
        if not ask.text.rstrip().endswith("?") and pr.unknown == 1:
            return None  # a statement with no question: wait for more (see nudge)
        if pr.unknown >= 3:
            pr.unknown = 0
            return self._next_goal_step()
        return self._say("pardon", self.phrase("pardon"))

    def nudge(self) -> Reply:
        """The agent said something that asked nothing, then went quiet: carry on with the goal."""
        self.progress.unknown = 0
        return self._record("nudge", "", self._next_goal_step())

    def wants_talk_over(self) -> bool:
        return self.s.talk_over > 0 and self.rng.random() < self.s.talk_over

    def can_answer_early(self, partial: str) -> bool:
        return classify(partial).kind in _ANSWERABLE

    def backchannel(self) -> Reply | None:
        if self.s.backchannel and self.rng.random() < self.s.backchannel:
            return Reply("backchannel", [Part(self.phrase("backchannel"))])
        return None


def same_provider(heard: str, wanted: str) -> bool:
    """ "Dr. Ken" as the caller heard it is the Dr. Kim it asked for (same initial, about as long)."""
    from difflib import SequenceMatcher

    a, b = heard.lower().split()[-1], wanted.lower().split()[-1]
    if a == b:
        return True
    return a[:1] == b[:1] and abs(len(a) - len(b)) <= 1 and (len(b) <= 4 or SequenceMatcher(None, a, b).ratio() >= 0.6)


def sentence(text: str) -> str:
    """A clause as a spoken sentence: a capital first letter and an end."""
    text = text.strip()
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


def day_fits(d: date, days, today: date) -> bool:
    if days == "any":
        return True
    if days == "tomorrow":
        return d == today + timedelta(days=1)
    if days == "this_week":
        return today <= d <= today + timedelta(days=6 - today.weekday())
    if days == "next_week":
        start = today + timedelta(days=7 - today.weekday())
        return start <= d <= start + timedelta(days=6)
    return WEEKDAYS[d.weekday()] in days


def heard_digits(text: str) -> str:
    return digits_in(text)


def _heard_word(word: str, text: str) -> bool:
    """A word of the answer in what the caller heard, allowing for its own recogniser running words
    together or changing a letter ("Delpadental" for "Delta Dental"), as a listener would."""
    word = word.lower()
    if word in text:
        return True
    if len(word) < 4:
        return False
    from difflib import SequenceMatcher
    return any(SequenceMatcher(None, word, token[:len(word)]).ratio() >= 0.8
               for token in re.findall(r"[a-z']+", text) if len(token) >= len(word))
