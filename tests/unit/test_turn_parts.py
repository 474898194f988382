"""The pieces of fast turn-taking that need no model: speech pieces, the phrase cache, the
priority workers, backchannels, and held playback."""

import threading
import time

import numpy as np

from dialog.rules import is_backchannel
from frontdesk.workers import FIRST_AUDIO, LATER, SPECULATIVE, TURN, Overloaded, PriorityWorker
from tts.phrases import PhraseCache, split_pieces


def test_a_long_first_sentence_is_split_at_its_first_clause():
    text = "Thank you for calling Riverside Dental, this is the virtual receptionist. How can I help you today?"
    assert split_pieces(text) == ["Thank you for calling Riverside Dental,", "this is the virtual receptionist.",
                                  "How can I help you today?"]
    assert split_pieces("Sorry, I didn't catch that. What's your name?") == ["Sorry, I didn't catch that.", "What's your name?"]
    assert split_pieces("  ") == []


def test_fixed_phrases_are_made_once_and_kept_on_disk(tmp_path):
    made = []

    def make(text):
        made.append(text)
        return np.full(800, len(text), np.int16)

    cache = PhraseCache("voice-1", tmp_path)
    assert cache.get("Hello.") is None
    a = cache.load_or_make("Hello.", make)
    assert cache.get("Hello.") is a and made == ["Hello."]
    again = PhraseCache("voice-1", tmp_path)  # a restart: read back from disk, not synthesized
    assert np.array_equal(again.load_or_make("Hello.", make), a) and made == ["Hello."]
    other = PhraseCache("voice-2", tmp_path)  # another voice never gets this voice's audio
    other.load_or_make("Hello.", make)
    assert made == ["Hello.", "Hello."]


def test_workers_run_the_most_urgent_job_first_and_refuse_when_full():
    worker = PriorityWorker("test", max_pending=4)
    gate = threading.Event()
    order = []
    blocker = worker.submit(TURN, gate.wait)
    time.sleep(0.05)  # the blocker is running; the rest queue behind it
    jobs = [worker.submit(p, order.append, name) for p, name in
            [(SPECULATIVE, "speculative"), (LATER, "later"), (FIRST_AUDIO, "first"), (TURN, "turn")]]
    try:
        worker.submit(TURN, order.append, "one too many")
        raise AssertionError("a full queue must refuse work")
    except Overloaded:
        pass
    jobs[0].cancel()  # the caller spoke again: the speculative transcript is not needed
    gate.set()
    for job in jobs[1:]:
        job.result(timeout=5)
    blocker.result(timeout=5)
    assert order == ["first", "turn", "later"]
    worker.close()


def test_backchannels():
    for text in ("Uh-huh.", "Okay.", "Mm-hm.", "yeah", "Right.", ""):
        assert is_backchannel(text), text
    for text in ("No.", "Stop.", "Wait, that's wrong.", "Tuesday", "yes please"):
        assert not is_backchannel(text), text


def test_a_fault_in_the_dialog_code_costs_one_sorry_not_the_call():
    """A bug in the dialog on one caller turn (an IndexError, say): the call is put back as it was
    and the caller hears "Sorry, I didn't catch that", on the real model worker thread."""
    import asyncio
    import types

    from dialog.conversation import Conversation
    from frontdesk.calllog import CallRecord
    from frontdesk.config import load_config
    from frontdesk.engines import Engines
    from frontdesk.session import CallSession

    class Faulty(Conversation):
        fail = True

        def on_caller(self, text, confidence=1.0):
            if self.fail:
                self.fail = False
                self.state = "half-changed"
                raise IndexError("list index out of range")
            return super().on_caller(text, confidence)

    conv = Faulty(load_config(None).clinic, model=None)
    conv.greeting()
    worker = PriorityWorker("llm", max_pending=4)
    session = CallSession.__new__(CallSession)
    session.engines = types.SimpleNamespace(llm_worker=worker, run_llm=lambda fn, *a: Engines.run_llm(session.engines, fn, *a))
    session.conversation, session.dialog_errors = conv, 0
    session.record = CallRecord(external_id="x", caller="", called="", remote="", transport="udp")
    try:
        turn = asyncio.run(session._understand("Hi, I'd like a cleaning.", 1.0, conv.snapshot()))
        assert turn.text.startswith("Sorry, I didn't catch that") and conv.state == "open" and session.dialog_errors == 1
        turn = asyncio.run(session._understand("Hi, I'd like a cleaning.", 1.0, conv.snapshot()))
        assert conv.task == "book" and "name" in turn.text
    finally:
        worker.close()


def test_an_aside_over_a_cut_reply_is_answered_on_its_own_and_words_are_joined():
    """A reply cut in its first seconds joins the caller's two turns; "Sorry, it's been a long
    day" over it is answered on its own ("No problem. <the question>"), not joined to the turn
    before it (which had already got "Sorry, I didn't catch that")."""
    import asyncio
    import types

    import numpy as np

    from asr.whisper import Transcript
    from dialog.conversation import Conversation
    from frontdesk.calllog import CallRecord
    from frontdesk.config import load_config
    from frontdesk.engines import Engines
    from frontdesk.session import CallSession
    from frontdesk.turns import Heard
    from media.vad import Utterance

    def said(text):
        return Heard(Utterance(np.zeros(800, np.int16), 0, 100, 400), Transcript(text, 0.9, 0.0, 1.0))

    worker = PriorityWorker("llm", max_pending=8)
    try:
        for before, new, reply, joined in [("See that agin.", "Sorry, it's been a long day.", "No problem. Can I have", 0),
                                           ("It's Ann", "Lee.", "Thanks, Ann.", 1)]:
            conv = Conversation(load_config(None).clinic, model=None)
            conv.greeting()
            conv.on_caller("Hi, I'd like a cleaning.")
            snapshot = conv.snapshot()
            conv.on_caller(before)  # its reply is cut by the caller within its first seconds
            engines = types.SimpleNamespace(llm_worker=worker)
            engines.run_llm = lambda fn, *a, e=engines: Engines.run_llm(e, fn, *a)
            s = CallSession(CallRecord(external_id="x", caller="", called="", remote="", transport="udp"), engines,
                            conv, 15.0, 550, hangup=lambda why: None)
            s._rejoin = (snapshot, before, 0.9)  # its reply is cut by the caller within its first seconds
            turn = asyncio.run(s._reply(said(new), {}))
            assert turn.text.startswith(reply) and s.joined == joined, (before, new, turn.text)
    finally:
        worker.close()
