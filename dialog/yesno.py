"""Yes and no as people say them on the phone.

A caller rarely says a bare "yes": "that is right", "yep, go for it", "mm-hm, that's the one",
"I don't see why not", "no no, it's with a K". Each answer is read as a sequence of markers
(strong and weak, for and against); a correction ("no wait", "actually, no") and the last strong
marker decide. Negated affirmations ("not right", "not quite") count against, "no problem" and
"no worries" count for. Returns "yes", "no" or None (not a yes/no answer).
"""

from __future__ import annotations

import re

from .rules import normalize

# (pattern, polarity, strength): strength 2 = says it outright, 1 = agreement words that also
# appear in other talk ("okay", "fine", "right")
_MARKERS: list[tuple[str, str, int]] = [
    # against
    (r"not (right|correct|quite|exactly|it|that|the one|what i said|really|so much|this one|that one|now)", "no", 2),
    (r"(is|was|that'?s|thats|it'?s) (not|n't) (right|correct|it|the one)", "no", 2),
    (r"(isn'?t|wasn'?t|doesn'?t|don'?t|didn'?t) (right|correct|work|sound right|look right)", "no", 2),
    (r"\b(no|nope|nah|naw|nay|negative|wrong|incorrect|uh uh|uh-uh|nuh uh)\b", "no", 2),
    (r"\b(don'?t|do not|please don'?t|dont) (book|cancel|do|go ahead|bother|need|want)", "no", 2),
    (r"\b(i'?ll pass|pass on|i'?d rather not|rather not|not for me|not for now|never ?mind|changed my mind|"
     r"leave it|keep it|hold off|not yet|maybe later|not today)\b", "no", 2),
    (r"\b(neither|none of (those|them|these))\b", "no", 2),
    (r"\b(i'?m (good|fine|all set|okay|ok)|all set|((i'?m|we'?re|that'?s|it'?s) )?all good|that'?s (all|everything|it for (today|now))|nothing (else|more)|"
     r"that will be all|that'?ll be all|that is all|that is everything|we'?re done|i'?m done|no more|that'?s it|"
     r"that covers (it|everything)|(that'?s|i'?m|we'?re) (all )?covered|"
     r"have a (good|nice|great) (day|one))\b", "done", 2),
    (r"\b(close,? but|almost,? but|not exactly)\b", "no", 2),
    (r"\b(not|no) a chance\b|\bno chance\b|^(it|that) (is not|isn'?t)( it)?$|^(it'?s|that'?s) not( it)?$", "no", 2),
    (r"^(yes )?(it is|that is|it does|i do|i am|they are|it was|i did|i have)$", "yes", 2),
    (r"\b(definitely|certainly|absolutely|of course|surely|really|totally) not\b|\bnot at all\b|"
     r"\b(not|won'?t be|isn'?t|that'?s not) (necessary|needed)\b|\bi don'?t think so\b", "no", 2),
    (r"\b(unfortunately|sadly|i'?m afraid|afraid|probably|i think|i guess|maybe|hopefully) not\b|"
     r"\bnot (this|that) (time|one|number)\b", "no", 2),
    # the offered time does not suit: "I'm busy then", "I can't make that", "those don't suit me" (weak:
    # "yes please, I can't make it" cancels)
    (r"\b(i'?m|i am|i'?ll be|i will be) (busy|working|at work|not free|not available|unavailable|away|tied up|"
     r"out of town|travell?ing)( then| at that time| at those times| that (day|morning|afternoon))?\b", "no", 1),
    (r"\b(can'?t|cannot|can not|won'?t be able to|couldn'?t) (make|do|manage|come( in)?|attend)( it| that| those| then| "
     r"either( of them)?| at that time)?\b", "no", 1),
    (r"\b(that|those|these|neither|it|they)( times?| days?| slots?| ones?)? (won'?t|don'?t|doesn'?t|wouldn'?t) "
     r"(work|suit)\b|\btoo (early|late|soon)\b", "no", 1),
    # for
    (r"\b(yes|yeah|yea|yep|yup|yah|ya|aye|yess|yesss|yessir|affirmative|affirm|correct|exactly|absolutely|definitely|"
     r"certainly|indeed|precisely|spot on|bang on|100 percent|a hundred percent|hundred percent|roger|copy that|aye aye)\b", "yes", 2),
    (r"\b(that'?s|that is|it'?s|thats|is|you'?re|you are) (right|correct|it|the one|fine|good|perfect|great|"
     r"the best one|my (cell|number|mobile|phone|cell phone|home number)|the number|the best number)\b", "yes", 2),
    (r"\b(please do|go ahead|go for it|do it|book it|book that|lock it in|sounds (good|great|perfect|fine|right|lovely)|"
     r"works for me|that works|that'?ll work|that would work|that'?d work|that'?ll do|that will do|you got it|you bet|"
     r"of course|by all means|why not|i don'?t see why not|for sure|sure thing|mm ?hmm|mhm|mm hm|uh huh|uh-huh|"
     r"i think so|i guess so|i believe so|i suppose so|i reckon so|yes please|that one|that'?d be (great|good|perfect|lovely)|"
     r"that would be (great|good|perfect|lovely)|all good|all correct|confirm(ed)?|go on then|"
     r"you can reach me|reach me (there|on (this|that))|text me there|call me (there|on (this|that))|"
     r"(this|that) (number|one)'?s? (is )?(fine|good|best|great|okay|ok)|will do|totally|yes ma'?am|yes sir|"
     r"(i'?ll|i will|i'?d|let'?s|we'?ll) (take|have|do|go with|grab) (that|it|this)|(that|this) (time|slot|one),? (i think|please)|"
     r"book me (in )?(for|into) (that|it)|put me (down )?for (that|it)|(i|we) can (do|make) (that|it|this|then))\b", "yes", 2),
    (r"\b(ok|okay|okey|alright|all right|fine|good|great|perfect|lovely|brilliant|excellent|wonderful|grand|"
     r"sure|right|cool|awesome|nice|righto|dope)\b", "yes", 1),
    # "no problem", "no worries": agreement
    (r"\bno (problem|worries|doubt|bother)\b", "yes", 3),
]
_COMPILED = [(re.compile(p), pol, s) for p, pol, s in _MARKERS]
_FAREWELL = re.compile(r"\b(bye|goodbye|take care|cheers|see you|have a (good|nice|great|lovely) (day|one|evening|"
                       r"afternoon|weekend))\b")
_UNSURE = re.compile(r"\b(i'?m |i am )?(not (so |too |really |quite |entirely |a hundred percent |100 percent )?(sure|certain|"
                     r"positive)|unsure|(i )?don'?t (really )?know|no idea|hard to say|who knows)\b")
_CORRECTION = re.compile(r"\b(no,? wait|wait,? no|actually,? no|hold on,? no|oh no|sorry,? no|no no)\b")


def markers(text: str, done: bool = True) -> list[tuple[int, str, int]]:
    t = normalize(text.replace("-", " "))
    found: list[tuple[int, int, str, int]] = []
    for rx, pol, strength in _COMPILED:
        if pol == "done" and not done:
            continue
        for m in rx.finditer(t):
            found.append((m.start(), m.end(), pol, strength))
    # a longer marker hides the shorter ones inside it ("not right" hides "right", "no problem" hides "no")
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    kept: list[tuple[int, int, str, int]] = []
    for f in found:
        if any(k[0] <= f[0] and f[1] <= k[1] and (k[1] - k[0]) > (f[1] - f[0]) for k in kept):
            continue
        if any(k[0] <= f[0] < k[1] and k[3] >= f[3] for k in kept):
            continue
        kept.append(f)
    return [(s, pol, strength) for s, _, pol, strength in sorted(kept)]


def yes_no(text: str, *, done_means_no: bool = False) -> str | None:
    """"yes", "no" or None. ``done_means_no``: "I'm all set", "that's all" answer "anything
    else?" with a no (at a read-back they are not an answer)."""
    t = normalize(text.replace("-", " "))
    if not t:
        return None
    t = re.sub(r"\bgood bye\b", "goodbye", t)  # a farewell, not a "good"
    # "No." written "Number." by the recogniser after "actually" or "I don't think so"
    t = re.sub(r"\b(actually|think so|oh|well|um|uh|so|nah) number$", r"\1 no", t)
    if _CORRECTION.search(t):
        return "no"
    if text.strip().endswith("?") and re.match(r"(is|are|was|does|do|did|should) ", t) and len(t.split()) <= 3 and \
            not re.search(r"\b(yes|yeah|yep|no|nope|nah)\b", t):
        return None  # "Is it?", "Does it?": a question back, not an answer
    unsure = _UNSURE.search(t)
    if unsure:  # "I'm not sure": neither, unless a plain yes or no is said as well ("not sure, no")
        rest = (t[:unsure.start()] + " " + t[unsure.end():]).strip()
        return yes_no(rest, done_means_no=done_means_no) if re.search(r"\b(yes|yeah|yep|no|nope|nah)\b", rest) else None
    found = markers(t, done=done_means_no)
    if done_means_no and any(f[1] == "done" for f in found):
        return "no"  # "anything else?" "I think that's everything, yeah, no, I'm good"
    if not done_means_no:
        its_it = re.compile(r"(that'?s|that is|thats) it\b(?! for)|all good\b")
        done = [f for f in markers(t) if f[1] == "done" and not its_it.match(t[f[0]:])]
        strong_yes = [t[f[0]:] for f in found if f[1] == "yes" and f[2] >= 2]
        vague = all(re.match(r"(that'?s|that is|thats) it\b|all good\b", y) for y in strong_yes)
        if (done and vague or _FAREWELL.search(t) and strong_yes and vague) and \
                not any(f[1] == "no" and f[2] >= 2 for f in found):
            # "I think that's it. Thanks, bye." / "Nothing else, thank you. Good day." at a read-back:
            # the caller is winding up, which is not a yes
            return None
    found = [(s, "no" if pol == "done" else pol, strength) for s, pol, strength in found]
    if not found:
        return None
    strong = [f for f in found if f[2] >= 2]
    if not done_means_no and _FAREWELL.search(t) and any(f[1] == "no" for f in strong):
        return "no"  # "No, all good. Take care, bye." at a read-back: a no, and goodbye
    if strong:
        return strong[-1][1]
    return found[-1][1]


def is_yes(text: str) -> bool:
    return yes_no(text, done_means_no=False) == "yes"


def is_no(text: str) -> bool:
    return yes_no(text, done_means_no=True) == "no"
