"""Names spelled letter by letter (a mixin of Conversation): taking a spelling given in one
turn or across several, telling the first name's letters from the rest of the last name, and
answering questions about the spelling question itself."""

from __future__ import annotations

import difflib
import re

from . import names, rules
from .prompts import PROMPTS, AgentTurn
from .states import State
from .understand import Reading

MAX_SPELL_ATTEMPTS = 2


class Spelling:
    def _spelling_read_back(self) -> AgentTurn:
        from .conversation import spell_readback
        return self._ask(f"Thank you. I have {spell_readback(self.first_name, self.last_name, self.first_spelled)}. "
                         "Is that right?", "spelling_check", state=State.SPELLING_CHECK, expect="yes_no")

    @staticmethod
    def _about_spelling(text: str) -> str | None:
        """A question about the spelling question, or "it's spelled like it sounds": the answer."""
        t = rules.normalize(text)
        if re.search(r"\b(do i have to|do i need to|is (that|it|this) (necessary|needed)|why do you need|what'?s (it|that) for|"
                     r"why)\b", t):
            return "It helps us get your name exactly right in our records. Just say the letters one at a time, " \
                   "like S as in Sam."
        if re.search(r"\b(how (do|should|would) (you want|i)|what do you mean|keypad|type it|key it|text it)\b", t):
            return "Just say each letter, one at a time, like S as in Sam, M as in Mary."
        if re.search(r"\b(like it sounds|how it sounds|(usual|normal|regular|standard|common) (spelling|way)|"
                     r"spelled (normally|the normal way|as it sounds))\b", t):
            return "So that I get it exactly right, could you say the letters one at a time?"
        return None

    @staticmethod
    def _means_first(text: str) -> bool:
        return "first" in rules.normalize(text).split()

    def _take_spelling(self, r: Reading, text: str, first: bool) -> AgentTurn | None:
        spelled = r.slots.get("spelled")
        if not spelled:  # the recogniser wrote the spelled letters as one word ("Okonkwo")
            words = [w for w in rules.normalize(text).split() if w not in ("it's", "its", "that's", "um", "uh", "sure")]
            if len(words) == 1 and len(words[0]) >= 2 and words[0].isalpha():
                spelled = words[0].upper()
            elif first and self.state == State.SPELLING_FIRST and re.fullmatch(r"\W*[A-Z]\W*", text):
                lone = re.sub(r"\W", "", text)  # "R." alone: the last letter of the last name, after a pause,
                heard_first = names.letters(self._heard_name[0])  # or the first letter of the first name
                if not self._goes_on_last(lone):
                    if not self._spell_prefix and names.letters(self.last_name).endswith(lone) and \
                            heard_first[:1] not in ("", lone):  # the name as heard had it already
                        return self._ask(f"Thank you. {PROMPTS['spelling_first']}", "spelling",
                                         state=State.SPELLING_FIRST, expect="spelling")
                    return self._spelling_begun(self._spell_prefix + lone, first=True)
                spelled = lone
        prefix, self._spell_prefix = self._spell_prefix, ""
        if spelled:
            heard_first = names.letters(self._heard_name[0]) if first else ""
            if prefix and not spelled.startswith(prefix) and not (
                    heard_first and _like(prefix + spelled, heard_first) < _like(spelled, heard_first) >= 0.8):
                spelled = prefix + spelled  # "F as in Frank" [pause] "E, R, N, A, N, D, O"; not "R" [pause] "Khaled"
            if first and self.state == State.SPELLING_FIRST and self.name_spelled and \
                    names.letters(spelled) == names.letters(self.last_name) and \
                    names.letters(self._heard_name[0]) != names.letters(spelled):
                # the last name again, for "spell it": ask for the first name by name
                heard = self._heard_name[0] or self.first_name
                return self._ask(f"That's your last name, thank you. And your first name{', ' + heard if heard else ''}: "
                                 "could you spell that for me?", "spelling", state=State.SPELLING_FIRST, expect="spelling")
            if first and self.state == State.SPELLING_FIRST and not self.first_spelled and self._goes_on_last(spelled):
                # "A, L" [pause, the agent asks for the first name] "Q, A, H, T, A, N, I": the last name went on
                self.last_name = names.from_spelling(names.letters(self.last_name) + spelled)
                return self._ask(f"Thank you. {PROMPTS['spelling_first']}", "spelling", state=State.SPELLING_FIRST,
                                 expect="spelling")
            said = names.said_before_letters(text)
            if not first and len(said) >= 3:
                # "It's Mansour: M, A, N, S, O, U": the name said with its letters is the freshest hearing
                self._heard_name = (self._heard_name[0], said)
                if not self.last_name:  # the spelling is checked against it as against a name heard before
                    self.last_name = names.from_spelling(names.letters(said))
            heard = names.letters(self._heard_name[0 if first else 1] or (self.first_name if first else self.last_name))
            rest = heard[len(spelled):] if heard.startswith(spelled.upper()) else ""
            if len(rest) >= 3 and re.search(rf"\b{rest}\b", text, re.I):
                spelled = heard  # "A, that's WHIT field" for Whitfield: the letters, then the rest said as a word
            self._set_spelled(spelled, first=first)
            return None
        letter = names.lone_letter(text)
        if letter:
            return self._spelling_begun(prefix + letter, first=first)
        return None

    def _goes_on_last(self, spelled: str) -> bool:
        """Letters given for the first name that read as the rest of the last name: with them the
        spelled last name comes much closer to the name as heard, and they are nothing like the
        first name as heard."""
        heard_first, heard_last = (names.letters(n) for n in self._heard_name)
        so_far, more = names.letters(self.last_name), names.letters(spelled)
        if not heard_last or not so_far or len(so_far) >= len(heard_last):
            return False
        if len(more) <= 2 and so_far + more == heard_last:
            return True  # "M, A, N, S, O, U, [pause] R" for Mansour, the R after the next question
        return _like(so_far + more, heard_last) >= _like(so_far, heard_last) + 0.25 and \
            _like(more, heard_first) < 0.5 and _like(so_far + more, heard_last) >= 0.6

    _heard_name = ("", "")

    def _spelling_begun(self, letters: str, first: bool) -> AgentTurn:
        """The first letter(s) of a spelling, then a pause: keep them and let the caller go on."""
        self._spell_prefix = letters
        return self._ask(f"{', '.join(letters)}, and then?", "spelling_partial",
                         state=State.SPELLING_FIRST if first else "spelling", expect="spelling")

    _spell_prefix = ""
    _spell_misses = 0

    def _set_spelled(self, letters: str, first: bool) -> None:
        value = names.from_spelling(letters)
        if first:
            words = self.first_name.split()
            lead = names.letters(words[0]) if len(words) > 1 else ""
            if lead and letters.upper().startswith(lead) and len(letters) - len(lead) >= 2:
                # "Fatima Zahra" spelled in one run: the words stay apart as they were heard
                value = f"{names.from_spelling(lead)} {names.from_spelling(letters[len(lead):])}"
            self.first_name, self.first_spelled = names.reconcile(value, self.first_name), True
            return
        heard = self.last_name.split()
        if len(heard) > 1 and names.reconcile(value, heard[-1]) == heard[-1]:
            # "Fatima Zahra Benali": the spelled last name is the final word; the rest is given names
            self.first_name = " ".join([self.first_name, *heard[:-1]]).strip()
            self.last_name = heard[-1]
        self.last_name, self.name_spelled = names.reconcile(value, self.last_name or value), True


def _like(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.upper(), b.upper()).ratio()
