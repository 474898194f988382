import numpy as np

from media.vad import FRAME_SAMPLES, Endpointer, SpeechStarted, Utterance


def feed_all(ep: Endpointer, audio: np.ndarray):
    events = []
    for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        events += ep.feed(audio[i:i + FRAME_SAMPLES])
    return events


def test_endpointer_finds_real_speech_and_ignores_noise(caller_voice):
    rng = np.random.default_rng(0)
    speech = caller_voice.synthesize_all("Hi, I'd like to book a cleaning for next week.")
    noise = lambda n: (rng.normal(0, 60, n)).astype(np.int16)  # quiet line noise
    audio = np.concatenate([noise(8000), speech + noise(speech.size), noise(16000)])
    ep = Endpointer(end_silence_ms=700)
    events = feed_all(ep, audio)
    starts = [e for e in events if isinstance(e, SpeechStarted)]
    utts = [e for e in events if isinstance(e, Utterance)]
    assert len(starts) == 1 and len(utts) == 1
    u = utts[0]
    assert 700 <= u.start_ms <= 1300
    speech_ms = speech.size // 8
    assert abs(u.end_ms - (1000 + speech_ms)) < 600
    assert u.detected_ms - u.end_ms >= 700


def test_silence_and_noise_only_give_nothing():
    rng = np.random.default_rng(1)
    ep = Endpointer()
    assert feed_all(ep, np.zeros(80000, np.int16)) == []
    assert feed_all(ep, rng.normal(0, 80, 80000).astype(np.int16)) == []


def test_a_pause_starts_recognition_early_and_can_be_held_open(caller_voice):
    """SpeechPaused comes 120 ms into the silence with the speech so far; a listener that finds
    the answer unfinished (half a phone number) holds the utterance open across a longer pause."""
    from media.vad import SpeechPaused

    part1 = caller_voice.synthesize_all("two zero two, five five five.")
    part2 = caller_voice.synthesize_all("zero one four three.")
    gap = np.zeros(8 * 1000, np.int16)  # a pause mid-number (1.8 s with the voice's own silences)
    audio = np.concatenate([np.zeros(4000, np.int16), part1, gap, part2, np.zeros(16000, np.int16)])
    plain = feed_all(Endpointer(end_silence_ms=1200), audio)
    assert len([e for e in plain if isinstance(e, Utterance)]) == 2  # without help the pause splits it

    ep = Endpointer(end_silence_ms=1200)
    events = []
    for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        for e in ep.feed(audio[i:i + FRAME_SAMPLES]):
            events.append(e)
            if isinstance(e, SpeechPaused) and part1.size * 0.7 <= e.audio.size <= part1.size + gap.size:
                ep.hold_open(2000)  # "two zero two five five five" is not a whole number
    utts = [e for e in events if isinstance(e, Utterance)]
    paused = [e for e in events if isinstance(e, SpeechPaused)]
    assert len(utts) == 1 and len(paused) >= 2
    assert paused[-1].end_ms == utts[0].end_ms  # the last early transcript is the final one
    assert utts[0].audio.size >= part1.size + part2.size



def test_a_whole_answer_ends_at_a_shorter_pause_and_a_hold_wins_over_it(caller_voice):
    from media.vad import SpeechPaused

    speech = caller_voice.synthesize_all("Two zero two, five five five, zero one four three.")
    audio = np.concatenate([np.zeros(4000, np.int16), speech, np.zeros(16000, np.int16)])

    def pause_at_end(action) -> int:
        ep = Endpointer(end_silence_ms=850)
        for i in range(0, audio.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            for e in ep.feed(audio[i:i + FRAME_SAMPLES]):
                if isinstance(e, SpeechPaused) and e.audio.size >= speech.size * 0.8:  # the last pause
                    action(ep)
                if isinstance(e, Utterance) and e.audio.size >= speech.size * 0.8:
                    return e.detected_ms - e.end_ms
        raise AssertionError("no utterance")

    plain = pause_at_end(lambda ep: None)
    short = pause_at_end(lambda ep: ep.end_after(300))
    held = pause_at_end(lambda ep: (ep.hold_open(1200), ep.end_after(300)))
    assert plain >= 840 and 280 <= short <= 320 and held >= 1180, (plain, short, held)
