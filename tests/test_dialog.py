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
    emergency = Conversation(CLINIC, model=None).on_caller("I can't breathe")
    assert "911" in emergency.text and not emergency.hangup
    assert conv.on_caller("   ").intent == "reprompt"
    # with no model, a named service still starts a booking
    conv = Conversation(CLINIC, model=None)
    conv.greeting()
    assert conv.on_caller("I need a filling").intent == "name" and conv.q.appointment_type == "filling"


def test_model_failure_falls_back_gracefully():
    def broken(messages, schema):
        raise RuntimeError("model crashed")
    conv = Conversation(CLINIC, model=broken)
    conv.greeting()
    turn = conv.on_caller("blorp fizzle wump")
    assert turn.source == "fallback" and turn.intent == "reprompt" and not turn.hangup


def test_rules_catch_what_the_small_model_misses():
    assert rules.request_kind("Can you move my visit to a later date?") == "reschedule"
    assert rules.request_kind("Could I switch my appointment to a different day?") == "reschedule"
    assert rules.is_billing("I'm not happy with the service I got.")
    assert rules.wants_advice("Is it okay to take aspirin before a filling?")
    assert rules.faq_topic("Where is the office?") == "address"
    assert rules.faq_topic("Do you have parking?") == "parking"


# What the 0.5B model gets right on its own (it got 6 of 14 keyword-free paraphrases; see the README).
@pytest.mark.parametrize("text,action", [
    ("I'd like to come in for my teeth to be looked at sometime.", "book"),
    ("I can't make it to my appointment so please take it off the calendar.", "cancel"),
    ("I want to talk to somebody at the front desk.", "human"),
    ("I think I was charged twice.", "billing"),
])
def test_real_model_proposes_the_action(llm, text, action):
    conv = Conversation(CLINIC, model=llm.complete_json)
    proposal = llm.complete_json(conv.prompt_messages(text), conv.schema())
    assert proposal["action"] == action, proposal
    assert set(proposal) == {"action", "service", "slot", "_confidence", "_tokens"}
    assert proposal["_confidence"] >= 0.6


def test_the_system_prompt_is_evaluated_once_and_reused(llm):
    """Every turn shares the system prompt (clinic facts, actions): it comes from the KV cache, so
    a turn evaluates only its own few tokens."""
    conv = Conversation(CLINIC, model=llm.complete_json)
    llm.complete_json(conv.prompt_messages("I need a cleaning."), conv.schema())
    proposal = llm.complete_json(conv.prompt_messages("Can I talk to someone at the desk?"), conv.schema())
    tokens = proposal["_tokens"]
    assert tokens["prompt_tokens"] > 200
    assert tokens["reused_tokens"] >= tokens["prompt_tokens"] - 40, tokens


@pytest.mark.parametrize("text", ["Blurks is a lump quandary.", "Zipper Zabber-Flim-Flam.", "Hmm, purple monkey dishwasher."])
def test_nonsense_gets_low_model_confidence_and_is_not_acted_on(llm, text):
    conv = Conversation(CLINIC, model=llm.complete_json)
    conv.greeting()
    proposal = llm.complete_json(conv.prompt_messages(text), conv.schema())
    assert proposal["_confidence"] < 0.6, proposal
    assert conv.on_caller(text).intent == "reprompt"


def test_clear_requests_get_high_model_confidence(llm):
    conv = Conversation(CLINIC, model=llm.complete_json)
    conv.greeting()
    proposal = llm.complete_json(conv.prompt_messages("I want to talk to somebody at the front desk."), conv.schema())
    assert proposal["action"] == "human" and proposal["_confidence"] > 0.75


def test_a_transcript_the_recogniser_doubts_is_not_guessed_at():
    def must_not_be_asked(messages, schema):
        raise AssertionError("the model was asked to guess at a low-confidence transcript")

    conv = Conversation(CLINIC, model=must_not_be_asked)
    conv.greeting()
    turn = conv.on_caller("Blurks lump quandary.", confidence=0.2)
    assert turn.intent == "reprompt" and turn.text.startswith("Sorry, the line was unclear.")
