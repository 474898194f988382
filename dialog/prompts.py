"""What the agent says word for word, and the shape of one agent turn."""

from __future__ import annotations

from dataclasses import dataclass

PROMPTS = {
    "name": "Can I have your first and last name, please?",
    "spelling": "Could you spell your last name for me, with a word for each letter, like S as in Sam?",
    "spelling_first": "And could you spell your first name for me, the same way?",
    "phone": "What's the best number to reach you? You can say it, or key it in and press pound.",
    "email": "What email address should I send the confirmation to?",
    "dob": "What's your date of birth?",
    "insurance": "Which dental insurance do you have, if any?",
    "reason": "Briefly, what's the reason for the visit?",
    "new_patient": "Are you a new patient, or have you been here before?",
    "when": "What day and time would work best for you?",
    "anything_else": "Is there anything else I can help with?",
}
FILLER = "One moment, please."
FAILED = ("I'm sorry, I'm having technical trouble right now. I've asked a member of our staff to call you back "
          "as soon as possible. Goodbye.")
_UNFINISHED = {"and", "or", "but", "so", "because", "the", "a", "an", "to", "for", "at", "on", "in", "with", "my", "your",
               "um", "uh", "er", "like", "is", "it's", "i'm", "i", "of", "about", "maybe", "then", "next"}
SORRY = "Sorry, I didn't catch that."
UNCLEAR_LINE = "Sorry, the line was unclear."


@dataclass
class AgentTurn:
    text: str
    hangup: bool = False
    intent: str = ""
    source: str = "rule"  # rule | llm | fallback
    transfer_to: str | None = None
    expect: str = "open"  # open | yes_no | choice | name | number | spelling (endpointing hint)

SPELLING_HINT = "Spelling, letter by letter: A, B, C, D. M as in Mike."


def recognition_prompt(clinic, expect: str = "open") -> str:
    """Whisper's prompt for a caller turn: the words this line hears that a general model would
    miss (the clinic, its services and providers), or letters when a name is being spelled. (A
    phone-number example in the prompt made Whisper write "[phone]" for spoken digits.)"""
    base = (f"{clinic.name}. " + ", ".join(s.name for s in clinic.services) + ". "
            + ", ".join(p.name for p in getattr(clinic, "providers", [])) + ".")
    if expect == "spelling":
        return SPELLING_HINT
    return base
