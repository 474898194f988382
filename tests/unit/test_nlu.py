"""The understanding corpus (tests/nlu/, 500 labelled caller utterances written apart from the
agent's rules) through the same understanding a call uses, with the real model: the thresholds of
the understanding issue. `bench/nlu.py` prints the per-intent and per-slot table."""

import pytest

from tests.nlu.corpus import conversation_factory, load, run, scores

INTENT_GOAL = 0.95
SLOT_GOAL = 0.90


@pytest.fixture(scope="module")
def corpus_scores(llm):
    results = run(load(), conversation_factory(llm))
    return scores(results), results


def test_every_emergency_in_the_corpus_is_caught(corpus_scores):
    s, results = corpus_scores
    missed = [r["say"] for r in results if "emergency" in r["intent"] and r["got"] != "emergency"]
    assert not missed, missed
    assert s["emergency_recall"][1] >= 70


def test_intent_is_right_on_95_percent(corpus_scores):
    s, _ = corpus_scores
    assert s["items"] >= 300
    assert s["intent_accuracy"] >= INTENT_GOAL, s["intents"]


@pytest.mark.parametrize("slot", ["service", "when", "name", "spelled", "phone", "dob", "email", "choice", "faq",
                                  "insurance", "new_patient"])
def test_each_slot_is_right_on_90_percent(corpus_scores, slot):
    s, results = corpus_scores
    ok, n = s["slots"][slot]
    wrong = [(r["say"], r["slots"][slot]["got"]) for r in results if slot in r["slots"] and not r["slots"][slot]["ok"]]
    assert n >= 5 and ok / n >= SLOT_GOAL, wrong
