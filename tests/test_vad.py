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
