"""Deterministic understanding that does not depend on the language model: what the caller wants
(intents), asides and FAQ topics; emergencies are in emergency.py. The values in a turn (names,
numbers, dates) are in parse.py, names.py and yesno.py; understand.py runs them all on every turn.

One module on purpose (about 450 lines): the phrasings of each intent are read against each
other (a reschedule is not a booking, a what-if is not a request, a complaint is not billing).
"""

from __future__ import annotations

import re

from .emergency import PAST, is_emergency  # noqa: F401  (rules.is_emergency, as before)


def normalize(text: str) -> str:
    t = text.lower().replace("’", "'")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]", " ", t)).strip()


# ---- what the caller wants ------------------------------------------------------------------

_HUMAN = re.compile(
    r"\b(real person|live person|actual person|a human|human being|speak to a human|talk to a human|receptionist|"
    r"operator|representative|somebody real|someone real|"
    r"(speak|talk|chat)( \w+)? (to|with) (a |the |an |some |your )?(person|someone|somebody|staff|staff member|manager|"
    r"office manager|front desk|desk|human|people|nurse|hygienist|reception|doctor|dentist|dr\.? \w+)|a manager|the manager|"
    r"(someone|somebody|person) (at|in|from) the (front desk|desk|office|clinic|practice)|"
    r"transfer me|transferred|put me through|connect me|get me (a|someone|somebody)|"
    r"(a|any|real) (person|human|one|body) (i|we) (can|could) (talk|speak)|(is it|are you) (just )?(a|the) (robot|machine|"
    r"computer|bot)|is (anyone|anybody|someone) real|(anyone|someone|somebody) (there )?(i|we) (can|could) "
    r"(speak|talk))\b", re.I)
_BILLING = re.compile(
    r"\b(my bill|the bill|a bill|billing|billed|invoice|charged|charge on|overcharg\w*|double charg\w*|refund\w*|"
    r"complain\w*|dispute|insurance claim|my statement|my balance|outstanding balance|collections?|"
    r"not happy|unhappy|rude|terrible service|my payment|a payment (didn'?t|did not|that)|reimburs\w*|"
    r"(account|bill|balance|payment|invoice) (is |was )?(overdue|past due|in arrears)|i owe|amount due|ridiculous|"
    r"unacceptable)\b", re.I)
_ADVICE = re.compile(
    r"\b(should i (take|stop|use|keep|be worried|worry|go to|put|rinse|ice)|what (medicine|medication|antibiotic|"
    r"painkiller|pain killer|pills?) (should|can|do)|is (it|this|that) (safe|normal|serious|infected|bad) |"
    r"is (it|this|that) (safe|normal|serious|infected)\b|can i (take|drink|eat|mix) |"
    r"is it (ok|okay|alright|all right) to (take|eat|drink|brush|smoke|exercise)|how (much|many) (ibuprofen|tylenol|advil|"
    r"aspirin|pills|painkillers|mg)|diagnos\w*|prescri\w*|dosage|legal advice|lawyer|sue\b|financial advice|"
    r"do i need (antibiotics|a root canal|to go to)|what (do|should) i do (about|for|with) (the|my|this)|"
    r"what can i (take|do) for|(is|are) (that|this|these) (a )?(sign|symptom)|what (could|might|would) (that|this|it) be|"
    r"what causes|why (does|is) my|how long (does|will) (the|it|this|my) (numb\w*|pain|swelling|bleeding|soreness)|"
    r"(should|do) i (still )?(come in|cancel|tell|do anything|be worried)|(tell|warn) the dentist|"
    r"(if|whether) (that'?s|it'?s|this is|that is) normal|how long does (it|that|this) (usually )?last)", re.I)
_CANCEL = re.compile(r"\b(cancel(?!lation (fee|policy|charge))\w*|call off|call it off|(can'?t|cannot|won'?t|not going to|"
                     r"unable to|not able to) (make|come to|attend|keep) (it|my|the)\b|get out of (it|my|the) (\w+ ){0,2}appointment|"
                     r"(don'?t|do not|no longer) need (it|my|the) (\w+ ){0,2}appointment|take (it|me) off the (books|"
                     r"calendar|schedule)|won'?t be (able to )?(coming|making it)|(scrap|delete|drop) (my|the) (\w+ ){0,2}appointment)\b", re.I)
_RESCHEDULE = re.compile(
    r"\b(reschedul\w*|re-schedul\w*|re schedul\w*|re-?book\w*|postpon\w*|"
    r"put (off )?(my|the) (\w+ ){0,2}(appointment|appt|visit|booking|cleaning|checkup|check up|filling|exam)( off)?|"
    # "The checkup appointment I've got booked clashes with work now."
    r"(my|the) (\w+ ){0,2}(appointment|appt|booking|visit)\b.{0,40}\b(clash(es|ing)?|conflicts?|collides?) with|"
    r"(move|switch|change|push|shift|bump|swap|rearrange) (my|the|our|his|her|that|this) (\w+ ){0,2}(appointment|appt|visit|"
    r"booking|time|slot|cleaning|checkup|check up|filling|exam|day|date)|"
    r"(move|push|shift|bump) (it|that)( \w+){0,2} (to|back|forward|later|earlier)|"
    r"(can|could) (i|we|you) (move|change|switch|reschedule|push) (it|that)\b|(move|change) it instead|"
    r"change the (day|time|date) of|different (time|day|date) for (my|the)|another (time|day|date) for (my|the)|"
    r"(do|have|move) (it|that|this) (on|to|for) (another|a different|a new|some other) (day|time|date)|"
    r"(a |find a )?new (time|day|date) for (my|the|our)|"
    r"(can'?t|cannot|can not) make (it|my (\w+ ){0,2}appointment).{0,60}\b(another|different|instead|later|other|next)\b|"
    # "I've got my filling appointment booked. But the time doesn't work anymore."
    r"(my|the) (\w+ ){0,2}(appointment|appt|booking)\b.{0,60}\b(the )?(time|day|date|it|that)\b,? (doesn'?t|does not|won'?t|"
    r"will not|no longer) (work|suit)s?\b|"
    r"(time|day|date) (of|for) my (\w+ ){0,2}(appointment|appt)\b.{0,20}\b(doesn'?t|does not|won'?t|no longer) (work|suit)|"
    r"my (\w+ ){0,2}(appointment|appt)( (on|at|for) [\w:]+( \w+)?)? (doesn'?t|does not|won'?t|no longer) (work|suit)s?)", re.I)
_BOOK = re.compile(
    r"\b(book|booking|schedule|make an? (appointment|appt)|set up an? (appointment|visit)|an appointment|appointment|"
    r"come in|get in|fit me in|squeeze me in|see (the|a|your) (dentist|doctor|hygienist)|get (my|a|the) (teeth|tooth)|"
    r"(teeth|tooth) (cleaned|checked|looked at|fixed|seen)|openings?|availability|available (slot|time|appointment)|"
    r"a (slot|visit|spot)|register as a (new )?patient|sign up|need (a|an|my) (cleaning|checkup|check up|filling|exam)|"
    r"get seen|be seen|looked at|see (me|her|him|them|us|my \w+)|get me in|fit me|any openings|come by|"
    r"(can|could|may) (i|we|you) (get|have|book|schedule|come|make|grab|squeeze)|"
    r"(do|would) you have (anything|any|something|an opening|openings|availability|a slot|time|room)|"
    r"is there (anything|any|something|a slot|an opening) (available|free|open|for|on|next|this|tomorrow))\b", re.I)
_GREETING_WORDS = {"hi", "hello", "hey", "hiya", "howdy", "yes", "yeah", "yep", "good", "morning", "afternoon",
                   "evening", "day", "um", "uh", "er", "erm", "hmm", "oh", "ah", "so", "okay", "ok", "there", "hallo",
                   "yo", "well", "right", "alright", "thanks", "thank", "you", "for", "picking", "up", "how", "are",
                   "doing", "is", "this", "the", "dentist", "dentist's", "office", "clinic", "and", "sorry", "mm",
                   "calling", "i'm", "im", "today", "dear", "uhh", "umm", "it's", "me", "again", "morning's", "g'day",
                   "anyone", "anybody", "someone", "guys", "everyone", "can", "hear", "hiya", "hey there"}
_BACKCHANNEL = {"uh huh", "uh-huh", "mm hm", "mm-hm", "mhm", "mm", "hmm", "hm", "uh", "um", "ok", "okay", "right",
                "yeah", "yep", "sure", "alright", "all right", "i see", "got it", "oh", "ah", "mm hmm", "uh huh okay",
                "ic", "i c", "mmhmm", "mhmm", "uhhuh", "yup", "gotcha", "okay okay", "yes yes"}
_TAKE_TURN = {"no", "nope", "stop", "wait", "sorry", "hold", "hang", "excuse", "actually", "hello", "hey", "cancel",
              "hi", "what", "pardon", "repeat", "operator", "person", "human", "emergency", "help"}
_GOODBYE = re.compile(
    r"\b(good ?bye|bye|bye bye|that'?s all|that is all|that'?s everything|nothing else|no,? thank(s| you)|have a (good|nice|great) "
    r"(day|one|evening|afternoon|weekend)|cheers|take care|talk (to you )?later|ta-?ra|cheerio|see ya|see you|"
    r"i'?ll (call|ring|phone|try) (you )?(back|again)( \w+){0,2}|i'?ll (call|ring) (another|some other) (time|day))\b", re.I)
_FAQ = {
    "hours": re.compile(r"\b(hours|opening times|are you open|you open|(you|you guys|y'?all) (open|close)|close on|"
                        r"(are|is) (you|the (office|clinic)) (\w+ )?open|open (in the )?(evening|evenings|morning|mornings|late)|"
                        r"open (on|at|until|till|til|late|early|today|tomorrow|"
                        r"this|saturday|sunday|weekend)|open on|do you (open|close)|you close|closing time|closed on|"
                        r"are you closed|what time do you|how late|how early|(on|at) (the )?weekends?|saturdays?|sundays?|"
                        r"until what time|till what time)\b", re.I),
    "parking": re.compile(r"\b(park|parking|car park|parking lot|garage)\b", re.I),
    "address": re.compile(r"\b(address|where are you|where you are|where is the (office|clinic)|where'?s the (office|clinic)|"
                          r"located|location|directions|find you|get there|get to you|which street|what street|"
                          r"where exactly|are you (still |now )?(on|at|in) [\w ]*(street|st|road|rd|avenue|ave|lane|"
                          r"drive|boulevard|square|place)|(what|which) (street )?number is (it|that|the (office|clinic))|"
                          r"(have|did) you (moved|move))\b", re.I),
    "insurance": re.compile(r"\b(insurance|insurances|insured|in network|in-network|out of network|coverage|covered|"
                            r"accept .*(plan|coverage)|take .*(plan|coverage)|medicaid|medicare|delta|aetna|cigna|"
                            r"metlife|met life|blue cross|guardian|humana|united ?health\w*)\b", re.I),
}
_QUESTION = re.compile(
    r"^(do|does|did|can|could|would|will|what|what's|whats|where|where's|when|how|why|is|are|who|which|any|"
    r"have you|has|may)\b|\?|\b(i was wondering|wondering (if|whether|about)|i wanted to (ask|know|check)|"
    r"quick question|a question|do you (do|have|offer|take|accept|see|treat|provide|know)|"
    r"can you (tell|let me know)|is there|are there|i need to know|curious)", re.I)
_NO_TEXTS = re.compile(r"\b(don'?t|do not|no|stop) (text|texting|send (me )?(a )?text)|no (text messages|texts|sms)\b", re.I)


def is_backchannel(text: str) -> bool:
    """A listener's "uh-huh" or "okay": not a request to take the turn."""
    words = normalize(text.replace("-", " "))
    return not words or words in _BACKCHANNEL or all(w in {"uh", "huh", "mm", "hm", "okay", "ok", "yeah", "right", "mhm"}
                                                    for w in words.split())


def takes_turn(words: list[str]) -> bool:
    """A word that, said over the agent, asks it to stop ("no", "wait", "sorry")."""
    return any(w in _TAKE_TURN for w in words)


# small talk that says nothing of what the caller wants: removed before a turn is judged a greeting
_SMALL_TALK = re.compile(
    r"\b(how'?s it going|how is it going|how are (you|ya|things)( doing| going)?( today| this (morning|afternoon))?|"
    r"how (are )?you doing( today)?|how do you do|how have you been|(i )?hope (you'?re|you are|all is) (well|good)|"
    r"good (day|morning|afternoon|evening) to (you|ya)|thanks? (you )?for (picking up|answering|taking my call)|"
    r"nice to (talk|speak) (to|with) (you|someone)|(is )?(this|that) (the )?\w+ (street|road|avenue|dental|dentistry|"
    r"clinic|surgery|practice)( dental| clinic)?|(hello|hi|hey|morning),? \w+ (street|road|avenue|dental|dentistry|"
    r"clinic|surgery|practice)( dental| clinic)?|so high|irm|erm)\b")
_ASKS_HOW = re.compile(r"\b(how'?s it going|how is it going|how are (you|ya|things)|how (are )?you doing|how do you do|"
                       r"how have you been)\b")
_ANNOUNCE = re.compile(r"^(so |well |um |uh |and |also |okay |oh )*((i'?ve|i have) (got )?(a|one|two|a couple of|a few|some|"
                       r"another|one more) (quick |little |small )?(questions?|things?)( for you| to ask)?|(a |one )?quick question|"
                       r"(two|a couple of|a couple|a few|couple of) (quick |more |other )?(questions|things)( actually)?|"
                       r"(my|the) question is( this)?|one more thing|(one|another) (other )?thing|i was wondering|actually|"
                       r"((there'?s |there is )?(one|another|the other|one more|a) thing |something )?"
                       r"(i (wanted|want|would like|'?d like|need|needed|meant) to (check|ask|know|find out)( about)?)|"
                       r"first of all|before (i forget|that|we start)|by the way)$")


def is_greeting_only(text: str) -> bool:
    """"Hello?", "Good morning", "Yeah, hi", "Hey there, how's it going?", "Hello, Maple Street.":
    the caller has not said what they want yet."""
    t = _SMALL_TALK.sub(" ", normalize(text.replace("-", " ")))
    words = t.split()
    return bool(normalize(text)) and all(w in _GREETING_WORDS for w in words) and len(words) <= 8


def asks_how_we_are(text: str) -> bool:
    return bool(_ASKS_HOW.search(normalize(text)))


def announces_question(text: str) -> bool:
    """"I've got a couple of questions.", "My question is this, one more thing.": what they want
    comes next."""
    parts = [p.strip() for p in re.split(r"[.,!?;]+", text.lower().replace("’", "'")) if p.strip()]
    parts = [normalize(strip_greetings(p)) for p in parts]
    parts = [p for p in parts if p and not is_greeting_only(p)]
    return bool(parts) and all(_ANNOUNCE.match(p) for p in parts) and any(p != "actually" for p in parts)


def strip_greetings(text: str) -> str:
    """The turn without its greeting clauses ("Good morning! ...", "Hi, morning. ..."), so that a
    greeting's "morning" is not taken for a time of day."""
    clauses = re.split(r"(?<=[.,!?;])\s+", text.strip())
    kept = [c for c in clauses if not is_greeting_only(c)]
    out = " ".join(kept)
    return re.sub(r"\bgood (morning|afternoon|evening|day)\b", " ", out, flags=re.I)


_REPEAT = re.compile(
    r"\b(repeat|(say|see|said) (that|it|this|those|them)( \w+)? again|say again|come again|one more time|once more|"
    r"(what|how) (was|were) (that|it)|what did you (just )?say|what was the (last|first|\w+ again)|"
    r"what did you (need|want|ask|say)|what do you need|"
    r"(missed|didn't (catch|hear|get|understand)|did not (catch|hear|get|understand)|couldn't (hear|catch)|"
    r"could not (hear|catch)|can't hear) (that|it|you|what|the|all|everything|most)|you (cut|broke) (out|up)|"
    r"(cut|broke) (out|up) (a bit|there|a little)|(breaking|breaks) up|line('s| is) (bad|breaking)|slower|too fast)\b")
# a whole turn of only these words, with one that asks ("Sorry?", "Pardon me?", "Huh?", "What's that, dear?")
_REPEAT_WORDS = {"sorry", "hmm", "um", "uh", "oh", "what", "what's", "is", "that", "huh", "pardon", "me", "excuse",
                 "dear", "again", "hello", "i'm", "im", "well", "so", "a", "who", "now"}


def asks_repeat(text: str) -> bool:
    """"Sorry, what was that?", "Could you repeat that?", "You cut out": the caller wants the
    agent's last turn again. A turn that also answers ("sorry, what? oh, Tuesday") is not one."""
    t = normalize(text)
    words = t.split()
    if not words or len(words) > 14 or re.search(r"\buh huh\b", t):
        return False
    if len(words) <= 5 and set(words) <= _REPEAT_WORDS and (set(words) & {"what", "what's", "huh", "pardon", "sorry", "excuse"}
                                                            or words == ["who", "now"]) \
            and words != ["sorry"] * len(words) or words in (["sorry"], ["sorry", "sorry"]) and text.strip().endswith("?"):
        return True
    if not _REPEAT.search(t):
        return False
    return not re.search(r"\b(yes|yeah|no|cancel|book|appointment|\d)\b", t) or bool(
        re.search(r"\b(repeat|say (that|it) again|missed|didn't (catch|hear|get))\b", t) and
        not re.search(r"\b(book|cancel|appointment|\d)\b", t))


_ASIDE_PARTS = [
    r"(oh|um|uh|oops|ah|ahh|okay|ok|right)",
    r"((i'm|i am) )?((so|very|really) )?sorry( about that| for that| for the (noise|wait|delay))?",
    r"(my apologies|apologies|excuse me|pardon me|my bad|my mistake)",
    r"(it's|it has|it is|i've|i have) been a (long|busy|hard|rough|crazy|hectic) (day|week|morning)",
    r"i'm (a (bit|little) |so |just )?(tired|distracted|driving|at work|in the car|on the bus|on the train|walking|outside)",
    r"(the|my) (kids|dog|baby|kid|son|daughter) (is|are|was|were|keeps|keep) (screaming|crying|shouting|yelling|barking|"
    r"fighting|being loud|making noise|playing up|distracting me)( in the background)?",
    r"(i|i've|i was|i got) (got )?distracted",
    r"(it's|it is) (so )?(loud|noisy) (here|in here)",
    r"(the|my) (line|phone|signal)('s| is| was) (bad|terrible|awful|not great)",
    r"(hold on|hang on|bear with me|wait)( (a|one) (second|sec|moment|minute))?",
    r"(one|just a|give me a|gimme a|wait a) (second|sec|moment|minute)( please)?",
    r"let me (think|see|check|look)( (my|the) (calendar|diary|schedule|planner|phone))?",
    r"let me (get|grab|find) (a pen|my (diary|calendar|card|glasses|phone))",
]
_ASIDE = re.compile(r"^((" + "|".join(_ASIDE_PARTS) + r")( |$))+$")


def is_aside(text: str) -> bool:
    """"Sorry, it's been a long day.", "Hold on, let me check my calendar.": an apology or a
    pause that answers nothing and asks nothing; the agent says "no problem" and asks again."""
    t = normalize(text)
    return bool(t) and len(t.split()) <= 16 and not is_emergency(text) and not set(t.split()) <= {"oh", "um", "uh", "ah", "ahh", "okay", "ok", "right"} \
        and bool(_ASIDE.match(t))


_KEY_IN = re.compile(r"\b((i'll|i will|let me|i can|i'm going to|i'm gonna|i'd rather|i'll just|can i) (just )?"
                     r"(type|key|punch|tap|enter|dial|press)( it| them| the number| that| my number| the digits)?( in| out)?|"
                     r"(on|with|using) the (keypad|keys|buttons|dial pad|number pad))\b")


def will_key_in(text: str) -> bool:
    """"I'll type it in.": the number comes on the keypad."""
    t = normalize(text)
    return bool(_KEY_IN.search(t)) and not re.search(r"\d", t) and len(t.split()) <= 14


def without_asides(text: str) -> str:
    """The turn without its asides ("A-Life. Sorry, it's been a long day." -> "A-Life."); a turn
    that is only an aside stays as it is."""
    sentences = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    kept = [p for p in sentences if not is_aside(p)]
    return " ".join(kept) if kept and len(kept) < len(sentences) else text.strip()


_WHY_ASKED = re.compile(r"\b(why (do|would|did) you (need|want|ask)|what (do|would) you need (it|that|my \w+|this) for|"
                        r"(is|why is) (that|it|this) (necessary|needed|required)|do you (really )?need (that|it|my \w+)|"
                        r"what'?s (it|that) for|do i have to (give|tell|say))\b", re.I)


def asks_why(text: str) -> bool:
    """"Why do you need my name?", "Is that necessary?": the caller asks why the question is asked."""
    return bool(_WHY_ASKED.search(text)) and len(normalize(text).split()) <= 14


def is_goodbye(text: str) -> bool:
    return bool(_GOODBYE.search(text)) and len(normalize(text).split()) <= 14


def wants_human(text: str) -> bool:
    return bool(_HUMAN.search(text))


def is_billing(text: str) -> bool:
    return bool(_BILLING.search(text))


_COMPLAINT = re.compile(r"\b(complain\w*|not happy|unhappy|rude|terrible service|ridiculous|unacceptable|disappointed|"
                        r"(very|really|so) (upset|annoyed|frustrated)|worst)\b", re.I)


def is_complaint(text: str) -> bool:
    """"I want to make a complaint", "your hygienist was rude": staff call back about it (a task
    of its own, counted in the report), whatever else the turn says about a bill."""
    return bool(_COMPLAINT.search(text))


def wants_advice(text: str) -> bool:
    return bool(_ADVICE.search(text))


_LEAD = re.compile(r"^\W*((yeah|yes|yep|so|um|uh|and|oh|okay|ok|well|hi|hello|hey|also|actually|sorry|one more thing|"
                   r"quick question|oh and|right|great|thanks|thank you)\W+)+", re.I)
_ASK_LEAD = (r"(i (just )?(wanted|want|would like|'d like|was going) to (know|ask|check)|i was wondering|i wonder|"
             r"i have a question|quick question|real quick|quickly|(one|the|a) (last|more|other|final) (thing|question)|"
             r"last thing|before anything( else)?|first of all|first off|also|actually|um|uh|so|oh|well)")
_ONLY_ASK_LEAD = re.compile(rf"^\W*{_ASK_LEAD}(\W+{_ASK_LEAD})*\W*$", re.I)  # "I wanted to know, last thing," (the question follows)
_NOT_A_QUESTION = re.compile(r"^\W*(can|could|would|will) (you|u) (help|assist)( me)?\W*$|^\W*(can|could|may) i (ask|get help)"
                             r"\b[^?]*\W*$|^\W*(are|is) (you|this) (there|still there)\W*$", re.I)


def question_clauses(text: str) -> list[str]:
    """The questions in a turn, one clause each ("do you take Aetna? And is there parking?"),
    without greetings ("how are you?") or requests for help ("can you help me?")."""
    text = re.sub(r"\b((?:[A-Za-z]\.){2,})", lambda m: m.group(1).replace(".", ""), text)  # "D.O.B. is ..." is one sentence
    parts = re.split(r"(?<=[?.!])\s+|\s+[—–-]+\s+|;\s*|,?\s+and then\s+|,?\s+and also\s+|,?\s+also,?\s+|"
                     r"(?:,\s*|\s+and\s+)(?=(?:and )?(?:(?:um|uh|so|also) )?(?:do|does|is|are|can|could|what|where|when|how)\s+"
                     r"(?:you|your|i|there|they|it)\b)|(?<!\bwhat time)(?<!\bwhat)(?<!\bwhen)(?<!\bwhere)(?<!\bhow)(?<!\bwhy)"
                     r"\s+(?=(?:do|does|is|are)\s+(?:you|your)\b)",
                     text.strip(), flags=re.I)
    out = []
    for p in parts:
        p = p.strip(" ,")
        if not p or is_greeting_only(p) or _NOT_A_QUESTION.search(p) or _ONLY_ASK_LEAD.match(p) or announces_question(p):
            continue  # "One thing I wanted to check, first of all, [are you taking new patients?]": the question is next
        core = _LEAD.sub("", p)
        if re.match(r"^\W*(how (do|should|shall|can) i (say|put) (it|this|that)?|what'?s the word|how to say)\b", core, re.I):
            continue  # "How do I say, [pause] morning?": the caller looking for words, not a question
        stem = p[:p.rfind(",")]
        if re.search(r",\s*(right|okay|ok|yeah|yes|you know|correct)\?$", p, re.I) and not _QUESTION.search(stem) and \
                not re.search(r"\b(you|your|you're|y'all|they|there|clinic|office|dentist|doctor|dr)\b", stem, re.I):
            continue  # "My name's Maria Jose, right?": about the caller, with a tag; "you're open Saturdays, right?" asks
        if (_QUESTION.search(core) or p.endswith("?")) and not re.match(r"^\W*(how are you|how'?s it going|how do you do)\b", core, re.I):
            out.append(p)
    return out


def is_question(text: str) -> bool:
    return bool(question_clauses(text))


def no_texts(text: str) -> bool:
    """The caller opts out of text messages."""
    return bool(_NO_TEXTS.search(text))


_OWN_APPOINTMENT = re.compile(r"\b(my|the) (\w+ ){0,2}(appointment|booking|visit)\b", re.I)
_NEW_APPOINTMENT = re.compile(r"\b(another|new|second|also|too|as well|book|schedule|make|set up)\b", re.I)


def about_own_appointment(text: str) -> bool:
    """"It's for my cleaning appointment": the caller points at the appointment they already have
    (on a cancel or reschedule call), not a request for a new one."""
    return bool(_OWN_APPOINTMENT.search(text)) and not _NEW_APPOINTMENT.search(text)


_CHECK = re.compile(
    r"\b((confirm|check( on)?|double[ -]?check|verify|make sure (of|about)?) (my|our|his|her|the) (\w+ ){0,2}"
    r"(appointment|appt|booking|visit)|(when|what (time|day)) is my (\w+ ){0,2}(appointment|appt|booking|visit|cleaning|"
    r"checkup|check up|check-up|filling|exam)|"
    r"(do|did) i (have|still have) (an|my|a) (\w+ ){0,2}(appointment|booking)|"
    r"(is|was) my (\w+ ){0,2}(appointment|booking) (still )?(on|booked|confirmed|for)|"
    r"(forgot|forgotten|don'?t remember|can'?t remember) (when|what time|what day) my (\w+ ){0,2}(appointment|visit) is)\b",
    re.I)
# dental trauma and infection: the clinic's emergency visit, today if it can (not 911)
_URGENT_DENTAL = (r"\bknock\w* (\w+ ){0,3}(tooth|teeth)( \w+){0,2} out\b|\b(tooth|teeth) (\w+ ){0,2}(knocked out|hanging|dangling|"
                  r"pushed (in|back)|came out)\b|\bpus\b|\babscess\w*|\b(swollen|swelling) (gum|gums|cheek|jaw)|"
                  r"\b(can'?t|cannot) (open|close) my (mouth|jaw)|\bjaw is (locked|stuck)")


def urgent_dental(text: str) -> bool:
    return bool(re.search(_URGENT_DENTAL, text, re.I))


# symptoms and treatments said instead of a request: "my gums bleed when I brush", "I think I need a root canal"
_SYMPTOM = re.compile(
    r"\b(my|a|the|one of my) (\w+ ){0,2}(tooth|teeth|gum|gums|jaw|filling|crown|molar|wisdom tooth|mouth|bridge|denture|"
    r"dentures|brace|braces|implant)\b.{0,40}\b(hurts?|hurting|aches?|aching|killing me|sore|sensitive|bleed\w*|"
    r"swollen|swelling|broke|broken|chipped|cracked|loose|wobbly|fell (out|off)|came (out|off)|throbbing|painful|"
    r"black|dark|stained|yellow|hole)\b|\b(i )?(think i |probably |might )?need (a|an|my|some) (root canal|crown|"
    r"filling|extraction|x-?ray|deep clean\w*|tooth out|tooth pulled|wisdom teeth out|night guard)\b|"
    r"\b(toothache|tooth ache|cavity|abscess)\b|" + _URGENT_DENTAL, re.I)


def request_kind(text: str) -> str | None:
    """book / cancel / reschedule / check (is my appointment still on?) when the words say so."""
    if _RESCHEDULE.search(text):
        return "reschedule"
    if _CANCEL.search(text):
        return "cancel"
    if _CHECK.search(text):
        return "check"
    # "what time do you close, in case I need to come in": a what-if is not a request
    text = _WHAT_IF.sub(" ", text)
    if _BOOK.search(text) or _SYMPTOM.search(text):
        return "book"
    return None


_WHAT_IF = re.compile(r"\b(in case|just in case|if ever|if i ever|should i ever) (i|we|you|he|she|they)?\s*"
                      r"(need|have|want|had|needed|wanted)( to)? (come in|get in|be seen|book|see|stop by)\b", re.I)


def faq_topics(text: str) -> list[str]:
    """Every built-in FAQ topic a turn asks about, in the order they are asked."""
    found = [(m.start(), topic) for topic, rx in _FAQ.items() for m in [rx.search(text)] if m]
    return [topic for _, topic in sorted(found)]


def faq_topic(text: str) -> str | None:
    topics = faq_topics(text)
    return topics[0] if topics else None


def _clause(text: str, phrase: str) -> str:
    """The clause of ``text`` that says ``phrase`` (for "I had chest pain last year")."""
    for part in re.split(r"[,.;!?]| but ", text.lower()):
        if phrase in normalize(part):
            return part
    return ""


def _negated(norm: str, phrase: str) -> bool:
    """ "nothing is hurting", "no pain", "doesn't hurt": the caller says what is not the case."""
    i = norm.find(f" {phrase}")
    if i < 0:
        return False
    before = norm[:i].split()[-3:]
    return any(w in ("no", "not", "nothing", "never", "without", "isn't", "doesn't", "don't", "aren't", "wasn't", "zero")
               or w.endswith("n't") for w in before)


def _stem(word: str) -> str:
    for suffix in ("ings", "ing", "ed", "es", "s", "ups", "up"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def match_service(text: str, services) -> str | None:
    """The configured service a caller named, by name or alias (longest match wins), also in
    another form of the word ("teeth cleaned" for cleaning, "checked" for checkup)."""
    norm = f" {normalize(text)} "
    best: tuple[int, int, str] | None = None  # the first service named wins ("a scale and polish, I come yearly")
    for service in services:
        for phrase in [service.name, *service.aliases]:
            p = normalize(phrase)
            if not p:
                continue
            m = re.search(rf" {re.escape(p)}s? ", norm)
            if m and not _negated(norm, p) and not PAST.search(_clause(text, p)):
                key = (m.start(), -len(p), service.name)
                if best is None or key < best:
                    best = key
    if best:
        return best[2]
    words = norm.split()
    # a verb is no service: "I wanted to check, are you..." is not a checkup; "get checked" is
    stems = {_stem(w) for i, w in enumerate(words) if not _negated(norm, w) and not (
        i and words[i - 1] == "to" or i + 1 < len(words) and words[i + 1] in ("if", "whether", "that", "with", "about", "what"))}
    for service in services:
        for phrase in [service.name, *service.aliases]:
            words = normalize(phrase).split()
            if len(words) == 1 and len(words[0]) >= 5 and _stem(words[0]) in stems:
                return service.name
    for service in services:  # "emergency, sort of" for "emergency visit"
        words = normalize(service.name).split()
        if len(words) > 1 and len(words[0]) >= 6 and _stem(words[0]) in stems:
            return service.name
    return None


# treatments a caller may ask for by name; one the clinic has not configured gets a callback offer
_TREATMENT = re.compile(r"\b(whiten\w*|bleach\w*|invisalign|aligners?|braces|orthodont\w*|implants?|veneers?|crowns?|bridges?|"
                        r"dentures?|extractions?|root canals?|botox|bonding|sealants?|x-?rays?|consult\w*|night guard|"
                        r"mouth guard|gum (graft|surgery)|wisdom teeth|oral surgery|sedation|deep clean\w*)\b", re.I)


def names_treatment(text: str) -> bool:
    return bool(_TREATMENT.search(text))
