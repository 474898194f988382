"""Callers' names: found in what they say, and spelled letter by letter.

Speech recognition at 8 kHz gets about half of uncommon surnames wrong, and no prompt fixes
that, so the agent asks new callers to spell their last name (and a first name it does not
know) and stores what was spelled. This module finds a name in a turn ("this is Ngozi Obiora",
"first name Arjun, last name Mehta", or a bare name when one was asked for), refuses words that
are not names ("thanks", "yes", "calling"), and reads spellings as Whisper writes them: "O K O
N", "O-K-O-N", "O as in Oscar", "double L", "B for boy".

One module on purpose (about 470 lines): finding a name and reading a spelling share their word
lists (what is not a name, letter words, the spelling alphabets), and each is tuned against
the other (a spelled "S" is not the name "Es")."""

from __future__ import annotations

import difflib
import re
from difflib import SequenceMatcher

_FILLERS = {"um", "uh", "er", "erm", "uhm", "hmm", "mm", "ah", "oh", "well", "so", "yeah", "yes", "okay", "ok", "sure",
            "like", "right", "hi", "hello", "hey", "sorry", "officially", "actually", "basically"}
# words that end a name ("this is Ann Lee and I'd like..."): function words, verbs, call talk
_NOT_NAME = set("""
a about after again against all also am an and any appointment appointments are around as at available back be
because been before being below between book booking both but by call called calling can cancel cancelling check
checkup cleaning clinic could dentist dental did do does doing don't down during each emergency exam few filling
for from further get getting go going good had has have having he her here hers him his how i i'd i'll i'm i've if
in into is it it's its just last like looking made make me mine monday more morning afternoon evening most my myself
name need needed next no nor not now number of off on once one only or other our out over own patient phone please
really reschedule same schedule see she should so some such sunday saturday than thank thanks that the their them
then there these they this those through thursday to today tomorrow too tuesday under until up very visit want
wanted was we wednesday week were what when where which while who why will with would you your yours friday
hoping trying wondering interested calling looking speaking new existing fine great just still here there
cell mobile home work email address insurance tooth teeth time day days weekend please hi hello hey yes yeah yep
okay ok sure sorry excuse pardon morning evening afternoon son daughter wife husband mother father mom dad child kid
surname first last family name spelled spelt under put booked officially that's thats calling
prefer free wondering number's phone's cell's she's he's they're we're you're i've i'll i'd that'd it'd would
driving walking working tired busy distracted outside waiting running late sick afraid glad happy apologies names
lovely wonderful brilliant perfect ideal nice grand excellent amazing super smashing fantastic terrific helpful
let's lets let
upper lower left top bottom front side hurt hurts hurting pain painful ache aching sore broken broke cracked chipped
swollen bleeding hole gum gums jaw mouth
""".split())
# contractions are no names: "Doesn't hurt." answering "Can I have your name?"
_CONTRACTION = re.compile(r"[a-z]+(n't|'re|'ve|'ll|'d|'m)$")
# introductions, strongest first: the words after one are the name
_INTROS = [(re.compile(r"\b(?:my name is|my name's|my names|name is|name's|the name is|the name's|his name is|her name is|"
                       r"their name is|the patient is|patient's name is|you can call me|call me|speaking with|"
                       r"you're speaking with|you are speaking with|under the name of|under the name|put it under|"
                       r"booked under|it's under|for my (?:son|daughter|wife|husband|child|kid|mother|mom|father|dad|"
                       r"partner|grandmother|grandfather|boy|girl),?|my (?:son|daughter|wife|husband|child|kid|mother|mom|"
                       r"father|dad|partner)'?s name(?: is|'s)?,?)[\s,]+(?=(\S.*))", re.I), True),
           (re.compile(r"\b(?:that'?d be|that would be|it'?d be|it would be|it will be|it'?ll be)[\s,]+(?=(\S.*))", re.I), True),
           (re.compile(r"\b(?:this is|it is|it's|its|i am|i'm|im)[\s,]+(?=(\S.*))", re.I), False)]
# "first name's", also written "first names" by the recogniser
_FIRST_LAST = re.compile(r"\bfirst names?(?: is|'s)?\s+([a-z'\-]+)[\s,.]+(?:and\s+)?(?:my\s+)?(?:last names?|surname|family name)"
                         r"(?: is|'s)?\s+([a-z'\-]+(?:\s+[a-z'\-]+)?)", re.I)
_LAST_FIRST = re.compile(r"\b(?:last names?|surname|family name)(?: is|'s)?\s+([a-z'\-]+)[\s,.]+(?:and\s+)?(?:my\s+)?"
                         r"first names?(?: is|'s)?\s+(?:(?:in|an|on|a)\s+(?=[a-z'\-]{3,}))?([a-z'\-]+)", re.I)
_GIVEN_THEN_LAST = re.compile(r"\b((?:[A-Za-z'\-]+\s+){0,2}[A-Za-z'\-]+)[,.]?\s+(?:and\s+)?(?:my\s+)?(?:surname|last name|"
                              r"family name)(?: is|'s)?\s+([A-Za-z'\-]+)", re.I)
_HERE = re.compile(r"\b((?:[A-Za-z][\w'\-]+\s+){0,2}[A-Za-z][\w'\-]+)\s+(?:here|speaking)\b")
_PARTICLES = {"al", "el", "de", "del", "della", "da", "di", "van", "von", "der", "den", "la", "le", "ni", "nic", "mac",
              "mc", "o", "bin", "ibn", "ben", "dos", "das", "du", "st", "ter", "ten", "abu", "bint"}

# First names speech recognition already writes correctly; any other first name is spelled.
COMMON_FIRST = set("""
aaron abigail adam adrian aisha alan albert alex alexander alexandra alice alicia alison amanda amber amy andrea
andrew angela anita ann anna anne anthony antonio arthur ashley barbara ben benjamin beth betty bill billy bob
bonnie brad bradley brandon brenda brian bruce bryan carl carlos carol caroline carolyn catherine charles charlie
cheryl chris christina christine christopher cindy claire craig crystal cynthia dan daniel danielle david dean
deborah debra denise dennis diana diane donald donna doris dorothy douglas dylan edward elizabeth ellen emily emma
eric erica ethan eugene evelyn frances frank fred gary george gerald gloria grace gregory hannah harold harry heather
helen henry isaac jack jacob james jamie jane janet janice jason jean jeff jeffrey jennifer jeremy jerry jesse
jessica jim jimmy joan joe joel john johnny jonathan jordan jose joseph joshua joyce juan judith judy julia julie
justin karen katherine kathleen kathryn kathy keith kelly kenneth kevin kim kimberly kyle larry laura lauren lawrence
leah lee linda lisa logan lori louis lucy luis luke margaret maria marie marilyn mark martha martin mary matthew
megan melissa michael michelle mike nancy natalie nathan nicholas nicole noah oliver olivia pamela patricia patrick
paul peter philip rachel ralph randy raymond rebecca richard rick robert robin roger ronald rose roy russell ruth
ryan samantha samuel sandra sara sarah scott sean sharon shirley sophia stephanie stephen steve steven susan teresa
terry theresa thomas timothy tina todd tom tony tracy tyler victoria vincent virginia walter wayne william zachary
""".split())

# spelling words: NATO and the everyday "B for boy" kind, by first letter
_SPELL_WORDS = {"alpha": "A", "alfa": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E", "foxtrot": "F",
                "golf": "G", "hotel": "H", "india": "I", "juliet": "J", "juliett": "J", "kilo": "K", "lima": "L",
                "mike": "M", "november": "N", "oscar": "O", "papa": "P", "quebec": "Q", "romeo": "R", "sierra": "S",
                "tango": "T", "uniform": "U", "victor": "V", "whiskey": "W", "xray": "X", "x-ray": "X", "yankee": "Y",
                "zulu": "Z"}
# how Whisper may write a letter said on its own
_LETTER_WORDS = {"ay": "A", "aye": "A", "bee": "B", "be": "B", "cee": "C", "see": "C", "sea": "C", "dee": "D",
                 "ee": "E", "eff": "F", "ef": "F", "gee": "G", "jee": "G", "aitch": "H", "haitch": "H", "eye": "I",
                 "jay": "J", "kay": "K", "el": "L", "ell": "L", "em": "M", "en": "N", "oh": "O", "owe": "O",
                 "pee": "P", "pea": "P", "cue": "Q", "queue": "Q", "ar": "R", "are": "R", "arr": "R", "ess": "S",
                 "es": "S", "tee": "T", "tea": "T", "you": "U", "yu": "U", "vee": "V", "ex": "X", "why": "Y",
                 "wye": "Y", "zee": "Z", "zed": "Z"}


# how a letter's name begins when the recogniser writes it as a word ("Anna the Nancy" for "N as in Nancy")
_SOUNDS = {"F": ("ef",), "L": ("el", "al"), "M": ("em", "am"), "N": ("en", "an", "in"), "S": ("es", "ass"),
           "X": ("ex",), "R": ("ar", "are"), "H": ("aitch", "age", "each"), "Y": ("why",)}


def _clean_words(text: str) -> list[str]:
    t = re.sub(r"[^A-Za-z'\- ,.]", " ", text.replace("’", "'"))
    return [w for w in re.split(r"[\s,.]+", t) if w]


def _title(word: str) -> str:
    if re.fullmatch(r"[A-Za-z]{2,}'[sS]", word):
        word = word.replace("'", "")  # "Milo's": the recogniser's apostrophe in "Milos"
    parts = re.split(r"([\-'])", word)
    out = []
    for p in parts:
        out.append(p[:1].upper() + p[1:].lower() if p not in ("-", "'") else p)
    name = "".join(out)
    if re.match(r"^(Mc|Mac)[a-z]", name) and len(name) > 4:
        name = name[:2] + name[2].upper() + name[3:] if name.startswith("Mc") else name
    return name


def _name_words(words: list[str], asked: bool = False) -> list[str]:
    """The run of name words at the start of ``words`` (fillers skipped, stops at a non-name;
    "Olu, well, Oluwaseun Adeyemi" keeps what follows the self-correction)."""
    out: list[str] = []
    for k, w in enumerate(words):
        lw = w.lower().strip("'-")
        if not lw:
            continue
        if asked and not out and lw in ("in", "an", "and", "en") and w.islower() and k + 2 < len(words) and \
                words[k + 1].istitle() and words[k + 2].istitle():
            continue  # asked the name, "this is in Gozy, Obera": the start of "Ngozi" written as a word
        if lw in _FILLERS or lw in ("i mean", "sorry"):
            if out and lw in ("well", "sorry", "actually"):
                out = []  # "It's Olu, well, Oluwaseun": the name starts again
            continue
        if lw in _NOT_NAME and lw not in _PARTICLES or _CONTRACTION.fullmatch(lw):
            break
        if len(lw) == 1 and lw not in ("o",) or re.fullmatch(r"[a-z](-[a-z])+", lw):  # spelled letters
            break
        if out and lw == out[-1].lower():
            continue  # "Ciaran, Ciaran Doherty"
        out.append(w.strip("'"))
        if len(out) == 6:
            break
    while out and out[-1].lower() in _PARTICLES:
        out.pop()
    if len(out) >= 3 and out[0].lower() == out[-1].lower():
        out = out[1:]  # "Castaneda, Yesenia Castaneda": the surname first, then the whole name
    first = out[0].lower() if out else ""
    again = [i for i, w in enumerate(out) if i and w.lower() == first]
    if again:  # "Fatima Zahra. Fatima Zahra Benali": the fuller second saying
        out = out[again[-1]:]
    return out


def split_name(words: list[str]) -> tuple[str, str] | None:
    if not words:
        return None
    if len(words) == 1:
        return _title(words[0]), ""
    first = _title(words[0])
    rest = words[1:]
    # "Maria Jose Ibarguengoitia": two given names before the surname are kept as the first name
    last = " ".join(_title(w) if w.lower() not in _PARTICLES else w.lower() for w in rest)
    last = last[:1].upper() + last[1:]
    return first, last


def extract_name(text: str, asked: bool = False) -> tuple[str, str] | None:
    """(first, last) from a turn, or None. ``asked``: the agent has just asked for the name, so
    a bare name ("Kwame Mensah.") counts; otherwise an introduction must say it is a name."""
    name = _extract_name(text, asked)
    if name is None and asked:
        # "Names for Nando. Fernando Quintanilla.": a start the recogniser garbled, then the name again
        for sentence in reversed(re.split(r"(?<=[.!?])\s+", text.strip())[1:]):
            name = _extract_name(sentence, asked)
            if name:
                break
    if name and not name[1]:
        # "It's Anne with an E. Anne Lee.": a sentence with the whole name says more
        for sentence in re.split(r"(?<=[.!?])\s+", text.strip())[1:]:
            fuller = _extract_name(sentence, asked)
            if fuller and fuller[1] and (fuller[0].lower() == name[0].lower() or not asked):
                return fuller
    return name


def _extract_name(text: str, asked: bool) -> tuple[str, str] | None:
    text = re.sub(r"^(\W*([Uu]m|[Uu]h|[Ss]o|[Yy]eah|[Ss]ure|[Oo]h),?\s+)*[Nn]ames?\b[,.]?\s+(?=[A-Z])", "Name's ",
                  text.strip())  # "Names Fernando": the recogniser's "Name's"
    # a sentence of its own that starts "Names ..." after a greeting: "Hello, yes, hi. Names fallacyd, ..."
    text = re.sub(r"(?<=[.!?]\s)[Nn]ames\b,?\s+(?=(?!(are|is|were|was|of|and|the|for)\b)[a-z]+[,.\s])", "Name's ", text)
    # titles are not names: "Mrs. Patricia Nguyen", "It's Dr. Susan Lee"
    text = re.sub(r"\b(Mr|Mrs|Ms|Miss|Mx|Dr|Doctor|Prof|Professor)\b\.?\s+(?=[A-Z])", "", text)
    m = _FIRST_LAST.search(text)
    if m:
        return _title(m.group(1)), " ".join(_title(w) for w in m.group(2).split() if w.lower() not in _NOT_NAME)
    m = _LAST_FIRST.search(text)
    if m:
        return _title(m.group(2)), _title(m.group(1))
    m = _GIVEN_THEN_LAST.search(text)
    if m and m.group(2).lower() not in _NOT_NAME:
        given = m.group(1).split()
        while given and (given[0].lower() in _NOT_NAME or given[0].lower() in _FILLERS):
            given = given[1:]
        if given:
            return " ".join(_title(w) for w in given), _title(m.group(2))
    for rx, strong in _INTROS:
        for m in rx.finditer(text):
            words = _name_words(_clean_words(m.group(1)), asked)
            if not words:
                continue
            if not strong and not asked:
                # "it's for a cleaning", "I'm calling": a name only when it looks like one
                capitalised = all(w[:1].isupper() for w in words)
                if not (capitalised or len(words) >= 2):
                    continue
                if m.group(0)[:4].lower() in ("i am", "i'm ", "im ") and not capitalised:
                    continue
            return split_name(words)
    m = _HERE.search(text)
    if m:
        words = _name_words(_clean_words(m.group(1)))
        if words and all(w[:1].isupper() for w in words):
            return split_name(words)
    if not asked:
        return None
    statements = [p for p in re.split(r"(?<=[.!?])\s+", text) if p and not p.rstrip().endswith("?")]
    words = _clean_words(" ".join(statements))
    name = _name_words(words, asked=True)
    if not name:
        return None
    return split_name(name)


def same_person(stored: str, heard: str) -> bool:
    """Whether a name heard on the phone is the name on file, allowing for how speech recognition
    spells it ("Maria Gonzales" for "Maria Gonzalez"): the last names alike and, where both have
    one, the first names alike. A shared first name alone is not enough (a family on one number)."""
    s, h = _clean_words(stored), _clean_words(heard)
    if not s or not h:
        return False
    if not _alike(s[-1], h[-1]):
        return False
    return len(s) == 1 or len(h) == 1 or _alike(s[0], h[0])


def heard_as_one(text: str, name: str) -> bool:
    """The name said back ("That'd be Yaw Darko"), its words run together by the recogniser
    ("That be Yadarko."): the letters after the lead-in are the name's letters, or nearly."""
    t = re.sub(r"^\W*((yes|yeah|yep|that'?d be|that be|that'?s|that is|it'?s|it is|this is|i'?m|i am|speaking|"
               r"correct|right|uh|um|so)\W+)*", "", text.strip(), flags=re.I)
    heard, want = letters(t).lower(), letters(name).lower()
    return len(heard) >= 4 and heard[0] == want[0] and SequenceMatcher(None, heard, want).ratio() >= 0.8


def _alike(a: str, b: str) -> bool:
    a, b = letters(a), letters(b)
    if a == b:
        return True
    return min(len(a), len(b)) >= 3 and a[0] == b[0] and SequenceMatcher(None, a, b).ratio() >= 0.8


def is_common_first_name(first: str) -> bool:
    return first.lower() in COMMON_FIRST


_BEFORE_LETTERS = {"it's", "its", "it", "is", "spelled", "spelt", "that's", "name's", "so", "um", "uh", "okay", "ok",
                   "yes", "yeah", "sure"}  # words said just before the first letter of a spelling


def parse_spelling(text: str, letter_words: bool = False) -> str | None:
    """Letters a caller spelled: "O K O N K W O", "O-K-O-N-K-W-O", "M as in Mike", "double L",
    "B for boy". None when the turn holds fewer than two spelled letters."""
    t = text.replace("’", "'")
    t = re.sub(r"\b([A-Za-z])\.(?=\s|$)", r"\1", t)
    # "T as in Tom" run together by the recogniser: "T-Asantom", "T Asintom"
    t = re.sub(r"\b([A-Z])[- ]?[Aa]s[- ]?(?:in|an|en)[- ]?([A-Za-z]{3,})\b", r"\1 as in \2", t)
    # "M as in Mike" heard "Emma's and Mike": the letter's sound with the "as" run into it
    t = re.sub(r"\b([A-Za-z]{1,5})'s\s+(?=(?:in|and|an)\s+([A-Z][a-z]{2,}))",
               lambda m: f"{m.group(1)} as " if m.group(1).lower() in _LETTER_WORDS or m.group(1).lower() in ("emma", "ella")
               or len(m.group(1)) == 1 else m.group(0), t)
    tokens = [w for w in re.split(r"[\s,;:.!?]+|(?<=[A-Za-z])-(?=[A-Za-z](?:\b|-))", t) if w]
    letters: list[str] = []
    runs: list[str] = []
    mult = 1
    i = 0
    while i < len(tokens):
        w = tokens[i]
        lw = w.lower().strip("'\"")
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
        if lw in ("double", "triple"):
            mult = 2 if lw == "double" else 3
            i += 1
            continue
        letter = None
        # "<letter> as in <word>" with the letter itself misheard ("I was in Alpha", "and as in
        # Nancy"): a spelling-alphabet word decides
        example = tokens[i + 3] if i + 3 < len(tokens) else ""
        if nxt in ("as", "is", "was", "has") and i + 2 < len(tokens) and tokens[i + 2].lower() in ("in", "an") and \
                (example.lower() in _SPELL_WORDS or example.istitle() and example.isalpha() and len(example) >= 3) \
                and (len(lw) <= 3 or lw in _LETTER_WORDS):
            letters.append((_SPELL_WORDS.get(example.lower()) or example[0].upper()) * mult)
            mult = 1
            i += 4
            continue
        # "B as in Bravo" (heard "B is in Bravo", "C as an Charlie", "G. S. N. George"): the
        # example word decides the letter
        if len(lw) <= 5 and lw.isalpha():
            j = i + 1
            while j < len(tokens) and j - i <= 2 and (tokens[j].lower() in ("as", "is", "s", "in", "an", "and", "n",
                                                                             "like", "for", "isn't", "was", "the")
                                                      or tokens[j].lower() == "a" and tokens[j - 1].lower() in ("is", "as")):
                j += 1  # "N is a Nancy", "N the Nancy": "as in" misheard
            example = tokens[j] if j < len(tokens) and j > i + 1 else ""
            head = lw[:1].upper() if len(lw) == 1 else _LETTER_WORDS.get(lw, "")
            # a letter heard as a word ("Anna the Nancy" for "N as in Nancy"): only a spelling-alphabet word decides
            known = len(lw) <= 2 or lw in _LETTER_WORDS or example.lower() in _SPELL_WORDS or \
                example.istitle() and lw.startswith(_SOUNDS.get(example[:1].upper(), "\0"))
            if known and not head and example.istitle():
                head = example[0].upper()
            if known and len(example) >= 3 and example.isalpha() and (example.lower() in _SPELL_WORDS or example[0].upper() == head):
                letters.append((_SPELL_WORDS.get(example.lower()) or example[0].upper()) * mult)
                mult = 1
                i = j + 1
                continue
        if len(lw) == 1 and lw.isalpha():
            letter = lw.upper()
        elif re.fullmatch(r"[a-z](-[a-z])+", lw):  # "o-k-o"
            letter = lw.replace("-", "").upper()
        elif lw in _SPELL_WORDS:
            letter = _SPELL_WORDS[lw]
        elif lw in ("as", "ass", "es", "ess") and len(nxt) == 1 and nxt.isalpha() and not letters and \
                (i == 0 or tokens[i - 1].lower() in _BEFORE_LETTERS) and i + 2 < len(tokens) and len(tokens[i + 2]) == 1:
            letter = "S"  # "It's S, A, D, H, B, H" heard "It's as a D H B H": the letter said "ess"
        elif w.isupper() and 2 <= len(w) <= 4 and w.isalpha() and letters and i + 1 < len(tokens) and \
                tokens[i + 1].isupper() and tokens[i + 1].isalpha() and 2 <= len(tokens[i + 1]) <= 4 and \
                tokens[i + 1].lower() not in _LETTER_WORDS:
            letter = w  # "M as in Mike AR, IA, J-O": letters run together, before others run together
        elif lw in _LETTER_WORDS and (letter_words or nxt in ("as", "for") or _letter_context(tokens, i)):
            letter = _LETTER_WORDS[lw]
        elif w.isupper() and w.isalpha() and (len(lw) >= 3 and not letters or 2 <= len(lw) <= 4 and letters or
                                              len(lw) == 2 and i + 1 < len(tokens) and tokens[i + 1].isupper()
                                              and tokens[i + 1].isalpha() and len(tokens[i + 1]) >= 2 or
                                              letters and len(letters[-1]) >= 2 and len(lw) <= 8 or
                                              len(lw) == 2 and lw not in ("ok", "no", "so", "hi", "oh", "ah") and
                                              i + 1 < len(tokens) and len(tokens[i + 1]) == 1 and
                                              tokens[i + 1].isupper()):  # "LA KSHMI", "PR, C, Y, B..."
            letter = w.upper()  # "OKONKWO", "ARJ UN": the recogniser joined letters
        if letter is not None:
            letters.append(letter * mult if len(letter) == 1 else letter)
            mult = 1
            # "O as in Oscar", "B for boy", "M like Mike": skip the example word
            if nxt in ("as", "is", "for", "like") and i + 2 < len(tokens):
                skip = 3 if nxt in ("as", "is") and i + 3 < len(tokens) and tokens[i + 2].lower() in ("in", "a") else 2
                example = tokens[i + skip].lower() if i + skip < len(tokens) else ""
                if example[:1].upper() == letters[-1][-1:] or example in _SPELL_WORDS:
                    i += skip + 1
                    continue
            i += 1
            continue
        if lw in ("dash", "hyphen") and letters:
            letters.append("-")
        elif lw in ("apostrophe",) and letters:
            letters.append("'")
        elif letters and lw not in ("capital", "then", "uh", "um"):
            runs.append("".join(letters))
            letters = []
        i += 1
        mult = 1
    if letters:
        runs.append("".join(letters))
    best = max(runs, key=len, default="")
    best = best.strip("-'")
    # the recogniser looping ("Z as in Zebra. Y as in Yellow. Z as in Zebra. Y as in Yellow..."): once;
    # nothing but the loop ("A. S. A. S. A. S. ..." for a spelled A, S, A, N, T, E...) is no spelling
    if re.fullmatch(r"([A-Z]{1,3})\1{3,}[A-Z]{0,2}", best.replace("-", "")):
        return None
    best = re.sub(r"([A-Z]{2,3})\1{2,}", r"\1", best)
    best = re.sub(r"([A-Z])\1{2,}", r"\1", best)  # "D, D, D, D, D...": no name has a letter three times running
    if best.startswith("ABCD"):
        best = best[4:]  # the recogniser's prompt ("A, B, C, D") written back instead of what was said
    return best if len(re.sub(r"[^A-Z]", "", best)) >= 2 else None


def _letter_context(tokens: list[str], i: int) -> bool:
    """A letter word ("bee", "you") counts only between other single letters."""
    def single(j: int) -> bool:
        return 0 <= j < len(tokens) and len(tokens[j]) == 1 and tokens[j].isalpha()
    return single(i - 1) and single(i + 1)


# letters the phone's 8 kHz band makes sound alike ("see" and "zee"): read back with a word, so
# that a caller hears which one was written (persona runs 8 and 9: a Z stored as C four times)
_SAY_WITH_WORD = {"C": "C as in Charlie", "Z": "Z as in Zebra"}


def spell_out(name: str) -> str:
    """A name read back letter by letter, the way the agent says it: "O, K, O, N, K, W, O"; a C or
    Z with its word ("N, G, O, Z as in Zebra, I")."""
    letters = [_SAY_WITH_WORD.get(c.upper(), c.upper()) for c in name if c.isalpha()]
    return ", ".join(letters)


def letters(name: str) -> str:
    return re.sub(r"[^A-Z]", "", name.upper())


def reconcile(spelled: str, heard: str) -> str:
    """The name to store from what was spelled and the name as first heard. Speech recognition
    drops spelled letters ("A" sounds like the article) more often than it invents them: when the
    spelled letters all appear, in order, in the heard name, and most of it, the heard name is the
    fuller spelling; otherwise the spelling wins."""
    s, h = letters(spelled), letters(heard)
    if not h or not s or s == h:
        return spelled
    if h[0] in "AI" and s[0] != h[0] and len(h) - 3 <= len(s) <= len(h) + 2 and \
            difflib.SequenceMatcher(None, h[0] + s, h).ratio() >= difflib.SequenceMatcher(None, s, h).ratio() + 0.05:
        # "it's A, B, D, U..." heard as "at day B, D, U...": a first letter A or I taken for a word
        spelled, s = h[0] + spelled[:1].lower() + spelled[1:], h[0] + s
    # "Z" and "C" ("zee", "see") sound alike on the line: a spelled C where the name as said has a Z
    # ("Ngozi" heard "Gozy", spelled "N, G, O, C, I") is the Z
    ops = difflib.SequenceMatcher(None, s, h, autojunk=False).get_opcodes()
    zs = [i1 + k for tag, i1, i2, j1, j2 in ops if tag == "replace" for k in range(min(i2 - i1, j2 - j1))
          if s[i1 + k] == "C" and h[j1 + k] == "Z"]
    if zs:
        chars = list(spelled)
        at = [i for i, ch in enumerate(chars) if ch.isalpha()]  # letter positions in the spelled string
        for z in zs:
            chars[at[z]] = "Z" if chars[at[z]].isupper() else "z"
        spelled, s = "".join(chars), letters("".join(chars))
    it = iter(h)
    in_order = all(c in it for c in s)
    if in_order and len(s) >= 0.6 * len(h) and (h[0] == s[0] or h.endswith(s)):
        return heard  # letters dropped, inside the name or at its start ("it's L, A, K..." heard "it's KSHMI")
    return spelled


def from_spelling(letters: str) -> str:
    """Spelled letters as a stored name: "OKONKWO" -> "Okonkwo", "AL-HASHIMI" -> "Al-Hashimi"."""
    return _title(letters.lower())


# what people say before the letters of a spelling: "Sure, it's...", "Okay, so my last name is..."
PRE_SPELLING = {"sure", "yes", "yeah", "yep", "ok", "okay", "alright", "right", "so", "well", "um", "uh", "er", "hmm",
                 "oh", "it's", "its", "it", "is", "that's", "that", "my", "last", "first", "name", "surname", "family",
                 "spelled", "spelt", "spell", "spells", "of", "course", "no", "problem", "ready", "let", "me", "see",
                 "i", "the", "and", "certainly", "absolutely", "here", "goes", "we", "go", "then", "'s"}

def said_before_letters(text: str) -> str:
    """The word(s) said just before the first run of spelled letters, other than "sure, it's" and the
    like: "Keohane. K, E, O, H" -> "Keohane"; "Sure, it's K, E" -> ""."""
    words = re.findall(r"[A-Za-z']+", text)
    for i in range(len(words) - 1):
        if len(words[i]) == 1 and len(words[i + 1]) == 1:
            return "".join(w for w in words[:i] if w.lower() not in PRE_SPELLING)
    return ""


def lone_letter(text: str) -> str | None:
    """One letter given with its example word and nothing more yet ("my first name is F as in
    Frank" before a pause): the start of a spelling."""
    found = re.findall(r"\b([A-Za-z])\.?,?\s+(?:as|is|was)\s+(?:in|an|a)\s+([A-Za-z]{3,})", text)
    if not found:
        # "Okay, so that's J." / "It starts with A.": a capital letter alone after a lead-in
        m = re.fullmatch(r"\W*(?:(?:okay|ok|so|sure|right|yes|yeah|well|um|uh)\W+)*(?:it'?s|that'?s|it is|that is|"
                         r"(?:it )?starts with)\s+([A-Z])\W*", text.strip(), re.I)
        if m and m.group(1).isupper():
            return m.group(1)
        return None
    if len(found) != 1:
        return None
    letter, example = found[0]
    word = _SPELL_WORDS.get(example.lower())
    if word:
        return word
    return letter.upper() if example[0].lower() == letter.lower() else None
