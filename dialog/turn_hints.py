"""What the words say about the turn, for the call session (a mixin of Conversation). How long to
wait for the caller to go on, from the transcript of their speech so far (asked during the
end-of-turn silence): inside a phone number or a spelling, after "and", "um" or a lead-in ("You
know, [pause] that works for me"), or after only a greeting, wait; a whole answer to what was
asked may end the turn at a short pause. Whether words said over the agent are a backchannel
("mhm") that lets it go on, and whether a turn is only an aside ("sorry, long day")."""

from __future__ import annotations

import re

from . import names, parse, rules, yesno
from .prompts import _UNFINISHED
from .states import State
from .understand import read


class TurnHints:
    def is_backchannel(self, heard: str, confidence: float, *, speaking: str, short: bool, asked_yes_no: bool,
                       agent_done: bool, any_word_interrupts: bool = False) -> bool:
        """Words the caller said over the agent's turn ``speaking`` (or in its echo tail): True when
        they are a backchannel ("mhm", "right") and the agent goes on. What is left of the agent's own
        words in them is echo. A ``short`` burst is a word or two at most, and Whisper makes things up
        from a murmur ("uh-huh" came back as "It has."): only a word that takes the turn counts. An
        early "yes" to a yes/no question the agent has just finished asking is an answer."""
        own = set(rules.normalize(speaking).split())
        words = [w for w in rules.normalize(heard).split() if w not in own]
        if any_word_interrupts and words:
            return False
        if self.state in (State.SPELLING, State.SPELLING_FIRST, State.SPELLING_CHECK) and words and \
                all(len(w) == 1 and w.isalpha() for w in words) and len(words) <= 3:
            # "K, H, A, L, E, [pause] D" with the reply to "K, H, A, L, E" begun: the last letters,
            # not a murmur (they take the turn, and the session joins them to the spelling)
            return False
        backchannel = rules.is_backchannel(" ".join(words)) or (short and (confidence < 0.45 or not rules.takes_turn(words)))
        if backchannel and agent_done and asked_yes_no and (yesno.is_yes(heard) or yesno.is_no(heard)):
            return False
        return backchannel

    def is_aside(self, text: str) -> bool:
        """"Sorry, it's been a long day.": the turn answers nothing and asks nothing."""
        return rules.is_aside(text)

    def greeting_first(self, text: str) -> bool:
        """"Hello?" alone at an open question, or a whole turn that is only a lead-in ("I'll go with.",
        "I'd say.", "Can I?": the recogniser's early transcript came after the turn had ended): what
        the caller means comes next."""
        return rules.is_greeting_only(text) and self.state in (State.OPEN, State.ANYTHING_ELSE) or _lead_in(text)

    def wait_for_more(self, partial: str) -> int:
        """From a transcript of the caller's speech so far: how long (ms) to wait for more when
        they pause mid-answer: inside a phone number, a spelling, after "and", "um", or after only
        a greeting ("Hi. [pause] This is..."). 0: done."""
        if self.state in (State.PHONE, State.PHONE_CHECK):
            digits = parse.spoken_digits(partial)
            if self.state == State.PHONE and 0 < len(digits) and \
                    len(self._phone_digits + digits + (self._phone_tail if len(digits) == 3 else "")) >= 10:
                return 0  # the rest of a number begun in an earlier turn ("202" ... "555 0137"), or its middle
            # half a number, also in a correction ("no, it's 202 555, [pause] 0143")
            if 0 < len(digits) < 10 and (not rules.normalize(partial).startswith("no") or len(digits) >= 3):
                return 2500
        if self.state in (State.SPELLING, State.SPELLING_FIRST):
            # "Sure, it's... [pause]": wait for the letters; mid-spelling, wait unless as many letters
            # as the name heard have come (the end of a spelling looks like its middle)
            so_far = len(re.sub(r"[^A-Z]", "", names.parse_spelling(partial, letter_words=True) or ""))
            heard = self.first_name if self.state == State.SPELLING_FIRST else self.last_name
            if so_far == 0:
                # "Sure, it's... [pause]" waits for the letters; a sentence with no letters in it
                # ("I come every six months.", the name said again) is a turn of its own
                return 1500 if _before_spelling(partial) else 0
            # the name as heard before, or as said just now before its letters ("Keohane: K, E, O, H,
            # [pause] A, N, E"), however garbled, tells about how many letters are coming
            expected = max(len(re.sub(r"[^A-Za-z]", "", heard)), len(names.said_before_letters(partial)))
            if so_far < max(3, expected) or re.search(r"\b[A-Za-z][,-]\s*$", partial):
                # short of the name, or the letters end on a comma ("M, A, N, S, O, U, [pause 1.2 s] R"
                # for Mansour): people pause to think of the next letter. (1.6 s cost persona run 12
                # 23 replies over 1.5 s; a letter that comes after the next question is still taken:
                # spelling.py, _goes_on_last)
                return 1300
            return 0
        if self.state in ACK_STATES and is_bare_ack(partial):
            return 1500  # "What day would suit you?" "Sure. [pause] Whatever you have next week"
        if _spelling_goes_on(partial):  # "no, it's K, E, O, H, A, [pause] N..." at a read-back
            return 1000
        if rules.is_greeting_only(partial) and self.state in (State.OPEN, State.ANYTHING_ELSE) or rules.announces_question(partial):
            return 1500
        if self.state == State.OPEN and not self.task and re.fullmatch(
                r"(my name is|my name's|name's|this is|it's|i'm|i am)\s+[\w'-]+(\s+[\w'-]+){0,3}[.!]?",
                rules.strip_greetings(partial).strip(), re.I):
            return 1200  # "Hi. My name is Abdulrahman Al-Qahtani. [pause] I'd like to book...": the request is next
        if _sounds_unfinished(partial):
            return 1500 if _lead_in(partial) else 1200  # "I'll take [pause 1.4 s] the 9:30 one"
        return 0

    def answer_complete(self, partial: str) -> bool:
        """From a transcript of the caller's speech so far: it is already a whole answer to what
        was asked (a full phone number, a first and last name, a day or time, one of the offers),
        so a short pause may end the turn. Not for yes/no questions: "yes, [pause] but make it
        Friday" must not book."""
        t = partial.strip()
        words = rules.normalize(t).split()
        if not words or _sounds_unfinished(t) or self.wait_for_more(t):
            return False
        r = read(t, self.context())
        if self.state == State.PHONE:
            return "phone" in r.slots
        if self.state == State.NAME:
            name = r.slots.get("name")
            return bool(name and name[0] and name[1]) and len(words) <= 8
        if self.state == State.OFFER:
            return "choice" in r.slots and r.intent in ("choose_slot", "give_info", "yes")
        if self.state == State.WHEN:
            when = r.slots.get("when")
            return bool(when and not when.empty) and r.intent in ("give_info", "book", "unknown")
        return False


# a preposition that ends a phrase, not a sentence cut short: "spot on", "I'll type it in"
_PARTICLE_BEFORE = {"spot", "bang", "dead", "right", "hold", "go", "come", "carry", "keep", "it", "me", "that", "them",
                    "this", "log", "pop", "fit", "squeeze", "type", "key", "punch", "put", "drop", "count"}


def _before_spelling(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    return len(words) <= 6 and all(w in names.PRE_SPELLING for w in words)


# a turn of only these words has not got to its point yet ("You know, [pause] that works for me")
_LEAD_INS = {"you know", "i'd say", "i would say", "let's see", "let me see", "how do i say", "how do i say it",
             "i'll take", "i'll have", "i'd like", "i would like", "i'll go with", "i'll go for", "i want", "i'd prefer",
             "can i", "could i", "can i have", "could i have", "i'll do", "give me", "let me have", "i'd like the",
             "i'll take the", "let me think", "what else", "and also", "and then", "the thing is", "here's the thing",
             "i'll go", "i will go", "let's go", "let's go with", "i'd go", "i'd go with", "i'll have the",
             # a question announced: "I'd like to know, first of all, [pause] are you taking new patients?"
             "i'd like to know", "i would like to know", "i want to know", "i wanted to know", "i was wondering",
             "i'm wondering", "i wonder", "i wanted to ask", "i'd like to ask", "can i ask", "could i ask",
             "quick question", "one more thing", "one more question", "another thing", "another question"}
# said after a lead-in without finishing it: "I'd like to know, first of all."
_LEAD_TAIL = re.compile(r"( (first of all|actually|also|too|as well|by the way|real quick|quickly|though|then))+$")


# questions a bare "Sure." does not answer: it only says the answer is coming
ACK_STATES = (State.WHEN, State.NAME, State.PHONE, State.EMAIL, State.DOB, State.SERVICE, State.REASON, State.INSURANCE)
_BARE_ACK = re.compile(r"((sure|okay|ok|yeah|yes|yep|right|alright|all right|of course|certainly|no problem|"
                       r"sure thing|um|uh|so|well)\s*)+")


def is_bare_ack(text: str) -> bool:
    """ "Sure.", "Okay, sure.", "Yeah, of course.": an acknowledgment with nothing after it."""
    t = rules.normalize(text)
    return bool(t) and bool(_BARE_ACK.fullmatch(t + " "))


def _lead_in(text: str) -> bool:
    words = rules.normalize(text).split()
    lead = re.sub(r"^((oh|um|uh|so|well|okay|ok|right|hmm|yeah|and|also|actually) )+", "", " ".join(words))
    lead = _LEAD_TAIL.sub("", lead)
    return lead in _LEAD_INS or bool(words) and words[-1] in ("take", "prefer")


def _sounds_unfinished(text: str) -> bool:
    """The words so far stop mid-sentence: on "and", "um", "with", a comma or a dash, or they are
    only a lead-in ("You know.", "I'll take.", "Can I?")."""
    t = text.rstrip()
    if t.endswith((",", "-", "...")):
        return True
    if _lead_in(t):
        return True
    words = rules.normalize(t).split()
    if not words or words[-1] not in _UNFINISHED:
        return False
    return not (words[-1] in ("on", "in") and len(words) >= 2 and words[-2] in _PARTICLE_BEFORE)


def _spelling_goes_on(text: str) -> bool:
    """The words so far end in a run of spelled letters ("... K, E, O, H, A")."""
    words = re.findall(r"[A-Za-z']+", text)
    if len(words) >= 3 and all(len(w) == 1 for w in words[-3:]):
        return True
    # "... my first name is F as in Frank, [pause]": a letter with its example word
    return bool(re.search(r"\b[A-Za-z]\.?,?\s+(as|is|was)\s+(in|an|a)\s+[A-Za-z]+[,.]?\s*$", text))
