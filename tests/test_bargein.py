import numpy as np

from frontdesk.session import heard_text
from media.bargein import BargeInDetector


def tone(db: float, n: int = 160) -> np.ndarray:
    amp = 32768 * 10 ** (db / 20) * np.sqrt(2)
    return (amp * np.sin(np.arange(n) * 2 * np.pi * 300 / 8000)).astype(np.int16)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(8000 * seconds)
    carrier = sum(np.sin(2 * np.pi * f * np.arange(n) / 8000 + rng.uniform(0, 6)) for f in rng.uniform(150, 2500, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(n) / 8000)
    return (carrier * envelope * 2500).astype(np.int16)


def test_sustained_caller_speech_interrupts_after_the_minimum():
    det = BargeInDetector(min_speech_ms=400)
    agent, caller = speech_like(1.0, 1), speech_like(1.0, 3)
    fired_at = None
    for n, i in enumerate(range(0, 8000 - 160, 160)):
        det.on_sent(agent[i:i + 160])
        if det.on_received(caller[i:i + 160], voiced=True, playing=True) and fired_at is None:
            fired_at = n
    assert 19 <= fired_at <= 21  # 400 ms of speech, give or take a quiet frame


def test_echo_of_the_agent_at_minus_10_db_does_not_interrupt_but_double_talk_does():
    from media import g711
    agent = speech_like(3.0, 1)
    caller = (speech_like(3.0, 2) * 0.4).astype(np.int16)  # the caller is 8 dB quieter than the agent
    for delay_ms in (0, 100, 300):
        det = BargeInDetector(min_speech_ms=400)
        d = delay_ms * 8
        fired = False
        for i in range(0, agent.size - 160, 160):
            det.on_sent(agent[i:i + 160])
            j = i - d
            echo = agent[j:j + 160] * 10 ** (-10 / 20) if j >= 0 else np.zeros(160)
            line = g711.ulaw_decode(g711.ulaw_encode(echo.astype(np.int16)))  # through the codec
            fired |= det.on_received(line, voiced=True, playing=True)
        assert not fired, delay_ms
        det = BargeInDetector(min_speech_ms=400)
        at = None
        for n, i in enumerate(range(0, agent.size - 160, 160)):
            det.on_sent(agent[i:i + 160])
            j = i - d
            echo = agent[j:j + 160] * 10 ** (-10 / 20) if j >= 0 else np.zeros(160)
            mixed = np.clip(echo + caller[i:i + 160], -32768, 32767).astype(np.int16)
            if det.on_received(g711.ulaw_decode(g711.ulaw_encode(mixed)), voiced=True, playing=True) and at is None:
                at = n
        assert at is not None and at * 20 <= 600, (delay_ms, at)


def test_backchannels_and_silence_do_not_interrupt():
    det = BargeInDetector(min_speech_ms=400)
    for i in range(100):
        det.on_sent(tone(-20))
        talking = (i % 25) < 15  # 300 ms "uh-huh" bursts with pauses
        assert not det.on_received(tone(-15) if talking else np.zeros(160, np.int16), voiced=talking, playing=True)
    assert not det.on_received(tone(-15), voiced=True, playing=False)


def test_heard_text_keeps_what_played():
    text = "Thank you for calling. I can help with that. How can I help?"
    assert heard_text(text, [800, 800, 800], 800 + 400) == "Thank you for calling. I can"
    assert heard_text(text, [800, 800, 800], 10_000) == text
    assert heard_text(text, [1000], 500).split()[:3] == ["Thank", "you", "for"]
