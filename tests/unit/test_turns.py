"""frontdesk/turns.py: when the caller's turn ends, with early recognition on synthesized speech."""

import numpy as np

from media.vad import FRAME_SAMPLES, Utterance


def test_a_transcript_of_an_earlier_pause_arriving_after_the_caller_went_on_holds_nothing_open(caller_voice):
    """Turn-taking's side: "915 555" transcribed late, while the caller is already saying "0191",
    must not hold the end of the whole number open for 2.5 s (a hold wins over a whole answer)."""
    import types
    from concurrent.futures import Future

    from dialog.conversation import Conversation
    from dialog.states import State
    from frontdesk.config import load_config
    from frontdesk.turns import TurnTaking, _Speculation
    from frontdesk.workers import PriorityWorker
    from media.vad import SpeechPaused

    parts = [caller_voice.synthesize_all(t) for t in ("My cell is nine one five.", "five five five.", "zero one nine one.")]
    gap = np.zeros(4000, np.int16)
    audio = np.concatenate([gap, parts[0], gap, parts[1], parts[2], np.zeros(40000, np.int16)])  # a short 2nd pause
    said = ["My cell is 915.", "My cell is 915 555.", "My cell is 915 555 0191."]
    conv = Conversation(load_config(None).clinic, model=None)
    conv.state = State.PHONE
    worker = PriorityWorker("llm", max_pending=8)
    session = TurnTaking("t", types.SimpleNamespace(llm_worker=worker), conv, end_silence_ms=1200,
                         deliver=lambda utterance: None, interrupted=lambda: None, prompt=lambda: "", barge_in_ms=0)
    pauses: list = []
    late: list = []
    utterances: list = []
    try:
        for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            for e in session.endpointer.feed(audio[i:i + FRAME_SAMPLES]):
                if isinstance(e, SpeechPaused):
                    pauses.append(e)
                    heard = said[min(len(pauses), 3) - 1]  # one pause after each part
                    session._speculation = _Speculation(e.end_ms, Future())
                    if heard == said[1]:
                        late.append((e.end_ms, heard))  # this transcript comes late
                    else:
                        session._partial(e.end_ms, heard)
                elif isinstance(e, Utterance):
                    utterances.append(e)
            if late and session.endpointer.last_voiced and (i + FRAME_SAMPLES) // 8 > late[0][0] + 600:
                # "915 555" sounds unfinished (it would hold 2500 ms), but the caller is saying "0191" by now
                session._partial(*late.pop())
        assert len(pauses) >= 3 and not late and len(utterances) == 1
        waited = utterances[0].detected_ms - utterances[0].end_ms
        assert waited < 1500, waited  # the whole number ends the turn; a late hold would have made it 2500
    finally:
        worker.close()


def test_a_caller_who_went_on_after_a_long_pause_keeps_the_turn_through_the_next_such_pause(caller_voice):
    """"Can I book a cleaning? [1.2 s] I come every six months. [1.3 s] Next week, after twelve.":
    the first pause ended the turn and a reply began; once the caller is seen to go on after such a
    pause, the next one of that length does not end the turn they are going on with (one reply for
    the whole of it); the turn after that ends as usual, and yes/no and pick-one answers keep their
    short pause."""
    import types

    from dialog.conversation import Conversation
    from frontdesk.config import load_config
    from frontdesk.turns import PACE_MARGIN_MS, PACE_MAX_MS, TurnTaking

    conv = Conversation(load_config(None).clinic, model=None)
    session = TurnTaking("t", types.SimpleNamespace(), conv, end_silence_ms=560, deliver=lambda u: None,
                         interrupted=lambda: None, prompt=lambda: "", barge_in_ms=0)
    def trimmed(text: str) -> np.ndarray:  # the words without the synthesizer's leading and trailing silence
        pcm = np.asarray(caller_voice.synthesize_all(text), np.int16)
        loud = np.flatnonzero(np.abs(pcm) > 500)
        return pcm[loud[0]:loud[-1] + 1]

    parts = [trimmed(t) for t in ("I come every six months.", "I was hoping for next week.")]
    pause = np.zeros(8 * 1200, np.int16)  # 1.2 s between the two sentences
    audio = np.concatenate([np.zeros(4000, np.int16), parts[0], pause, parts[1], np.zeros(16000, np.int16)])

    def utterances() -> int:
        session.endpointer.reset()
        found = 0
        for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            for e in session.endpointer.feed(audio[i:i + FRAME_SAMPLES]):
                if isinstance(e, Utterance):
                    found += 1
                    session._utterance(e)  # as the media path reports it
        return found

    session.asked("open")
    assert utterances() == 2  # before: each sentence is a turn of its own
    session.learn_pause(1250, "open")  # the caller went on 1.25 s after their last words
    assert session.end_silence_for("open") == 1550 and session.end_silence_for("yes_no") < 560
    assert utterances() == 1  # the turn they went on with: one turn
    session.asked("open")  # the agent answered it and asked again: the next turn ends as usual
    assert session.end_silence_for("open") == 560 and utterances() == 2
    session.learn_pause(1250, "open")
    assert utterances() == 1 and session.end_silence_for("open") == 560  # one-shot, even before the next question
    session.learn_pause(5000, "open")
    assert session.end_silence_for("open") == 560  # a pause longer than any worthwhile wait changes nothing
    session.learn_pause(PACE_MAX_MS - PACE_MARGIN_MS, "open")
    assert session.end_silence_for("open") == PACE_MAX_MS
