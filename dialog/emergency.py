"""Emergencies, by what is happening, said plainly, indirectly, or as speech recognition writes it
at 8 kHz ("chess pain", "can't breed", "a lergic"). An emergency missed is the worst failure there
is, so these lean towards recall; a false alarm costs a callback. Measured on
tests/nlu/emergency.yaml (`bench/nlu.py --file emergency`)."""

from __future__ import annotations

import re

_BREATH = r"(breath\w*|breeth\w*|breed|bread|air|wheez\w*|choking|choke)"
_EMERGENCY_PARTS = [
    # bleeding that does not stop
    r"(bleed\w*|blood\w*)\W+(?:\w+\W+){0,12}?(won'?t|wont|want|will not|doesn'?t|does not|not|isn'?t|haven'?t|hasn'?t|can'?t|cannot)"
    r"\W+(?:\w+\W+){0,2}?(stop\w*|quit|clot\w*|slow\w*)",
    r"(won'?t|wont|will not|can'?t|not) stop(ping)? bleeding",
    r"(hasn'?t|has not|haven'?t|have not|won'?t|isn'?t|doesn'?t|never|not) (\w+ ){0,2}(stopp?ed|stopping|stop|slowed) "
    r"(\w+ ){0,2}bleed",
    r"\bthrough (\w+ ){0,4}gauze|\bsoak\w* (through )?(\w+ ){0,3}gauze|\bgauze\W+(?:\w+\W+){0,6}?(soak\w*|blood\w*|red)",
    r"\bblood\W+(every\W*where|all over|pouring|gushing|is pouring|keeps (coming|pouring))",
    r"(bleeding|blood)\W+(?:\w+\W+){0,5}?(a lot|heavily|badly|so much|really bad|everywhere|pouring|gushing|soak\w*)",
    r"(soak\w*|filling up|full of|mouthful of|spitting( out)?) (\w+ ){0,3}(blood|gauze)",
    # breathing, swallowing, swelling that spreads
    rf"(can'?t|cannot|can not|hard to|trouble|struggling to|difficulty|barely|hardly|not able to|unable to|short of) "
    rf"(\w+ ){{0,2}}{_BREATH}",
    rf"\b(not|isn'?t|stopped|barely|hardly) breath\w*",
    r"(can'?t|cannot|hard to|trouble|struggling to|difficulty|barely|hardly|unable to|not able to) (\w+ ){0,5}swallow\w*",
    r"\bfever\W+(?:\w+\W+){0,12}?(swell\w*|swollen)|\b(swell\w*|swollen)\W+(?:\w+\W+){0,12}?fever",
    r"\bwheez\w*|\bweez\w*|\bweas(in|ing)\b",
    r"\b(camp|kant|cant|can'?t|cannot|can not) (breeze|breed|breathe|breath|brief)\b",
    r"\bswell\w*\W+(?:\w+\W+){0,10}?(eye|eyes|throat|neck|breath\w*|swallow\w*|spread\w*|tongue|airway|wheez\w*)",
    r"\b(eye|throat|neck|tongue|lips?|face)\W+(?:\w+\W+){0,6}?(swell\w*|swallow\w*|swollen|puff\w*|closing|tight)",
    r"\bthroat (is |feels )?(closing|tight|swelling|swollen)",
    r"\bface is (swelling|swallowing|swollen|puffed|puffing)",
    r"\bchoking\b",
    r"\b(lips?|face|skin|fingers?)\W+(?:\w+\W+){0,3}?(turn\w*|going|gone|look\w*) (blue|grey|gray|purple)",
    r"\b(throw\w* up|vomit\w*|cough\w* up|spit\w* up) (\w+ ){0,2}blood",
    # trauma, losing consciousness
    r"\b(pass(ed|es|ing)? out|black(ed)? out|faint(ed|ing)?|collaps\w*|unconscious|unresponsive|not respond\w*|"
    r"knock(ed)? out cold|not waking|won'?t wake|isn'?t waking|can'?t wake|not moving|barely conscious|seizure|fitting|convuls\w*)",
    r"\b(hit|bang\w*|smash\w*|knock\w*|bump\w*) (\w+ ){0,2}head",
    r"\bhead (injury|wound|is bleeding|pounding)",
    r"\b(car (accident|crash)|broken jaw|jaw is broken|concussion)",
    r"\b(confused|dazed|not making (any )?sense|throwing up|vomit\w*)\b(?=.*\b(head|fell|hit|fall|accident)\b)",
    # heart, stroke
    r"\b(chest|chess|chested)\W+(?:\w+\W+){0,4}?(pain\w*|hurt\w*|tight\w*|pressure|crush\w*|ache\w*|squeez\w*)",
    r"\b(pain|pressure|tightness|crushing|crushing feeling|squeezing) in (my |his |her )?(chest|chess)",
    r"\bheart attack|\bcardiac",
    r"\bstroke\b",
    r"\b(face|mouth|lip)\W+(?:\w+\W+){0,4}?(droop\w*|drop\w*|fall\w* down|numb)",
    r"\bdroop\w*",
    r"\bslur\w*",
    r"\b(can'?t|cannot|can not|unable to) (lift|move|feel|raise) (his|her|my|their) (\w+ )?(arm|leg|hand|side)",
    r"\b(arm|side|hand)\W+(?:\w+\W+){0,3}?(numb|weak|dead|going numb)",
    r"\b(talking funny|words (are )?(coming out )?(wrong|slurred|jumbled)|can'?t (speak|talk) properly)",
    # poisoning, allergic reactions
    r"\boverdos\w*",
    r"\b(too many|to many|two many|too much|whole (bottle|pack|box)|hole bottle|bunch of|handful of|all (my|the) pills)\W+"
    r"(?:\w+\W+){0,4}?(pill\w*|pain ?killers?|tablets?|tylenol|ibuprofen|advil|oxy\w*|medic\w*|codeine|paracetamol|"
    r"acetaminophen|aspirin|extra strength)",
    r"\bswallowed (a bunch|some|all|the|a lot)\W+(?:\w+\W+){0,3}?(pill\w*|tablets?|medic\w*)",
    r"\b(allergic|allergy|a lergic) reaction|\banaphyla\w*|\bhives\b|\b(having|had) a reaction|"
    r"\b(allergic|a lergic)\b(?=.*\b(swell\w*|swollen|breath\w*|itch\w*|rash|throat|puffy|hives|wheez\w*))",
    # suicide and self-harm, direct and indirect
    r"\bsuicid\w*|\bkill (my|him|her|them)sel(f|ves)|\bend(ing)? (my|his|her) (own )?life|\btake (my|his|her) (own )?life",
    r"\bend(ing)? (it|it all|things|everything)\b",
    r"\b(don'?t|do not|doesn'?t) want to (be (here|alive|around)|live|wake up|go on)",
    r"\b(no|any) (reason|point) (to|in) (keep )?(living|live|going on|being here)|\bno point (anymore|any more)",
    r"\bbetter off (dead|without me)|\bwon'?t be around (much )?(longer|anymore)",
    r"\b(hurt|harm|cut\w*) (my|him|her)sel(f|ves)",
    r"\b(never|not) wak(e|ing) up\b",
    r"\btaking all (my|the) pills",
    # said outright
    r"\b(emergency room|call(ed)? (an )?ambulance|911|nine one one|it'?s an emergency|this is an emergency|"
    r"medical emergency|life or death|dying(?! to\b)|(he|she|they|someone|somebody)'?s? (is )?dying)\b",
]
_EMERGENCY = re.compile("|".join(f"(?:{p})" for p in _EMERGENCY_PARTS), re.I)
# "No chest pain, just a chipped tooth", "I had chest pain last year": not happening now
_NOT_NOW = re.compile(r"\b(no|not|never|without|nothing like|isn'?t an?)\s+(\w+\s+){0,2}$", re.I)
PAST = re.compile(r"\b(last (year|month|week|time)|years ago|months ago|a while ago|back in|used to|in the past|history of|"
                   r"when i was (a kid|young|little)|once before)\b", re.I)
_MILD = re.compile(r"\b(a little|a bit|slightly|little bit|mild\w*|kind of|tiny bit)\s+(\w+\s+)?(puff\w*|swell\w*|swollen)", re.I)


def is_emergency(text: str) -> bool:
    t = text.replace("’", "'")
    for m in _EMERGENCY.finditer(t):
        before = t[:m.start()]
        if _NOT_NOW.search(before[-30:]):
            continue
        sentence = re.split(r"[.;!?]", before)[-1] + " " + re.split(r"[.;!?]", t[m.start():])[0]
        if PAST.search(sentence):
            continue
        if _MILD.search(sentence) and not re.search(r"breath|swallow|eye|throat|fever|bleed", sentence, re.I):
            continue
        if re.search(r"\bnot an emergency|\bno emergency|\bisn'?t an emergency|\bnothing urgent", t, re.I) and \
                not re.search(r"bleed|breath|swallow|unconscious|chest", m.group(0), re.I):
            continue
        return True
    return False
