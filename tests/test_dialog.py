import pytest

from dialog import rules
from dialog.conversation import Conversation
from dialog.hours import describe_hours
from frontdesk.config import load_config

CLINIC = load_config().clinic


def test_hours_are_spoken_in_words():
    text = describe_hours(CLINIC.hours)
    assert text.startswith("We're open Monday to Wednesday from 8 AM to 5 PM, Thursday from 8 AM to 7 PM")
    assert text.endswith("We're closed on weekends.")


def test_rules():
    assert rules.is_goodbye("Okay, goodbye.") and rules.is_goodbye("no thank you, that's all")
    assert not rules.is_goodbye("I'd like to book a cleaning, bye the way it hurts when I chew on the left side a lot")
    assert rules.is_emergency("my father has chest pain") and not rules.is_emergency("I need a cleaning")
    assert rules.match_service("can I get my teeth cleaning done", CLINIC.services) == "cleaning"
    assert rules.match_service("I have a cavity", CLINIC.services) == "filling"
    assert rules.match_service("hello there", CLINIC.services) is None


def test_rule_turns_need_no_model():
    conv = Conversation(CLINIC, model=None)
    greet = conv.greeting()
    assert "Maple Street Dental" in greet.text and CLINIC.disclosure in greet.text
    bye = conv.on_caller("Thanks, bye!")
    assert bye.hangup and bye.intent == "goodbye"
    emergency = conv.on_caller("I can't breathe")
    assert "911" in emergency.text and not emergency.hangup
    assert conv.on_caller("   ").intent == "unclear"
    # with no model, a named service still routes to booking
    assert conv.on_caller("I need a filling").intent == "book"


def test_model_failure_falls_back_gracefully():
    def broken(messages, schema):
        raise RuntimeError("model crashed")
    conv = Conversation(CLINIC, model=broken)
    turn = conv.on_caller("blorp fizzle wump")
    assert turn.source == "fallback" and turn.intent == "other" and not turn.hangup


@pytest.mark.parametrize("text,intent", [
    ("What time do you open on Thursday?", "hours"),
    ("I need to cancel my appointment for tomorrow.", "cancel"),
    ("Where are you located?", "location"),
    ("I'd like to make an appointment for a checkup.", "book"),
])
def test_real_model_proposes_the_intent(llm, text, intent):
    conv = Conversation(CLINIC, model=llm.complete_json)
    turn = conv.on_caller(text)
    assert turn.source == "llm"
    assert turn.intent == intent, turn
