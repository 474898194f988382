import numpy as np

from frontdesk.session import heard_text
from media.bargein import BargeIn, BargeInDetector


def tone(db: float, n: int = 160) -> np.ndarray:
    amp = 32768 * 10 ** (db / 20) * np.sqrt(2)
    return (amp * np.sin(np.arange(n) * 2 * np.pi * 300 / 8000)).astype(np.int16)


def speech_like(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(8000 * seconds)
    carrier = sum(np.sin(2 * np.pi * f * np.arange(n) / 8000 + rng.uniform(0, 6)) for f in rng.uniform(150, 2500, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(n) / 8000)
    return (carrier * envelope * 2500).astype(np.int16)


def run(det, agent, line, delay=0):
    """Feed the detector what the agent sent and what came back; the decisions by frame."""
    out = []
    for n, i in enumerate(range(0, agent.size - 160, 160)):
        det.on_sent(agent[i:i + 160])
        decision = det.on_received(line[i:i + 160], voiced=bool(np.any(line[i:i + 160])), playing=True)
        if decision is not None:
            out.append((n, decision))
    return out


def test_sustained_caller_speech_pauses_at_once_and_interrupts_after_the_minimum():
    det = BargeInDetector(pause_ms=60, min_speech_ms=600)
    decisions = run(det, speech_like(1.5, 1), speech_like(1.5, 3))
    assert decisions[0] == (2, BargeIn.PAUSE)  # 60 ms: the agent goes quiet now
    assert decisions[1][1] is BargeIn.INTERRUPT and 28 <= decisions[1][0] <= 36  # ~600 ms: its turn is over
    assert len(decisions) == 2


def test_a_short_burst_pauses_then_resumes():
    det = BargeInDetector(pause_ms=60, min_speech_ms=600, resume_gap_ms=160)
    line = np.zeros(8000 * 2, np.int16)
    line[1600:1600 + 2800] = speech_like(0.35, 4)  # a 350 ms "uh-huh" 200 ms in
    decisions = run(det, speech_like(2.0, 1), line)
    kinds = [d for _, d in decisions]
    assert kinds == [BargeIn.PAUSE, BargeIn.RESUME], decisions
    assert decisions[1][0] * 20 - 550 <= 200  # it plays on within 200 ms of the burst's end


def test_echo_of_the_agent_at_minus_10_db_does_not_interrupt_but_double_talk_does():
    from media import g711
    agent = speech_like(3.0, 1)
    caller = (speech_like(3.0, 2) * 0.4).astype(np.int16)  # the caller is 8 dB quieter than the agent
    for delay_ms in (0, 100, 300):
        d = delay_ms * 8
        echo = np.concatenate([np.zeros(d), agent[:agent.size - d]]) * 10 ** (-10 / 20)
        line = g711.ulaw_decode(g711.ulaw_encode(echo.astype(np.int16)))  # through the codec
        assert run(BargeInDetector(), agent, line) == [], delay_ms
        mixed = np.clip(echo + caller, -32768, 32767).astype(np.int16)
        decisions = run(BargeInDetector(), agent, g711.ulaw_decode(g711.ulaw_encode(mixed)))
        assert decisions and decisions[0][1] is BargeIn.PAUSE and decisions[0][0] * 20 <= 200, (delay_ms, decisions)
        assert decisions[-1][1] is BargeIn.INTERRUPT and decisions[-1][0] * 20 <= 1000, (delay_ms, decisions)


def test_clicks_and_silence_do_not_pause():
    det = BargeInDetector()
    for i in range(100):
        det.on_sent(tone(-20))
        click = i % 10 == 0  # a 20 ms click every 200 ms
        assert det.on_received(tone(-15) if click else np.zeros(160, np.int16), voiced=click, playing=True) is None
    assert det.on_received(tone(-15), voiced=True, playing=False) is None


def test_heard_text_keeps_what_played():
    pieces = [("Thank you for calling.", 800), ("I can help with that.", 800), ("How can I help?", 800)]
    assert heard_text(pieces, 800 + 400) == "Thank you for calling. I can"
    assert heard_text(pieces, 10_000) == "Thank you for calling. I can help with that. How can I help?"
    assert heard_text(pieces[:1], 400).split() == ["Thank", "you"]
