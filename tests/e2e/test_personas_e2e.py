"""A fixed subset of the simulated callers end to end: `frontdesk call --persona` (pjsua2, the
caller's own voice and ears) against `frontdesk serve` with the real models and calendar, judged
by what the clinic database holds afterwards. The whole suite is bench/personas.py."""

import json
from pathlib import Path

import pytest

from frontdesk.persona.suite import place

from ..conftest import Server

pytestmark = pytest.mark.e2e
PERSONAS = Path(__file__).parents[1] / "personas"
# one per goal, and a caller who keys in its number (no caller ID)
SUBSET = ["aminata-sesay", "chen-mei-ling", "tomasz-grzelak", "khaled-mansour", "emeka-okafor"]


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("personas"))
    yield server
    server.stop()


@pytest.mark.parametrize("name", SUBSET)
def test_a_simulated_caller_reaches_its_goal(clinic, name, tmp_path):
    out = tmp_path / f"{name}.json"
    result = place(clinic.uri, str(PERSONAS / f"{name}.yaml"), out, config=None, data_dir=str(clinic.data))
    transcript = "\n".join(f"{t['start_ms'] / 1000:6.1f}s {t['speaker']:>6}: {t['text']}" for t in result.get("turns", []))
    assert result.get("answered"), result.get("error") or transcript
    assert result.get("ok"), f"the call did not end cleanly: {result.get('error')}\n{transcript}"
    verdict = result["verdict"]
    assert verdict.get("checked", True), verdict
    assert verdict["goal_reached"], f"{json.dumps(verdict, indent=1, default=str)}\n{transcript}"
    assert verdict["all_fields_right"], f"{json.dumps(verdict['fields'], indent=1, default=str)}\n{transcript}"
    # every turn but the last (the caller's goodbye may end the call) got a reply, though it may have
    # begun over the caller's last words (counted as agent_over_caller by bench/personas.py)
    last = len(result["latency_ms"]) - 1
    assert not [i for i in result["unanswered"] if i != last], transcript
