"""The understanding corpus (tests/nlu/*.yaml) through the same understanding a call uses:
accuracy per intent and per slot, emergency recall, and how often the model was asked.

    .venv/bin/python bench/nlu.py [--no-model] [--json] [--show-errors] [--file emergency]

Without --no-model it loads the installed language model (the one `frontdesk serve` uses) and
asks it where the rules find nothing, exactly as on a call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.nlu.corpus import conversation_factory, load, run, scores  # noqa: E402


DIGITS = ["oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def said_as(text: str) -> str:
    """A written line as a caller says it: digit groups of phone numbers digit by digit ("0111" is
    "oh one one one"; a voice reading the digits would say "one hundred eleven")."""
    import re

    def digits(m):
        return " ".join(DIGITS[int(c)] for c in m.group(0))
    return re.sub(r"\b\d{3}[\s-]+\d{3}[\s-]+\d{2,4}\b|\b\d{3}[\s-]+\d{4}\b|\b0\d{2,3}\b",
                  lambda m: re.sub(r"\d+", digits, m.group(0)), text)


EXPECT = {"spelling": "spelling", "spelling_first": "spelling", "phone": "number", "phone_check": "number"}


def spoken(items, asr_path: str | None):
    """Each item's words as the agent would hear them: the caller's voice (hibari-tts), G.711
    µ-law both ways, then the recogniser with the prompt a call uses for what was asked."""
    import hashlib

    import numpy as np

    from asr.whisper import WhisperASR
    from dialog.prompts import recognition_prompt
    from frontdesk.config import load_config
    from media.g711 import ulaw_decode, ulaw_encode
    from models.store import default_models_dir, model_for_role
    from tts.hibari import HibariTTS

    clinic = load_config().clinic
    cache = Path.home() / ".cache" / "frontdesk" / "nlu-audio"
    cache.mkdir(parents=True, exist_ok=True)
    voice = None
    asr = WhisperASR(asr_path or str(model_for_role("asr").path(default_models_dir())))
    heard = {}
    for it in items:
        words = said_as(it.say)
        f = cache / (hashlib.sha256(words.encode()).hexdigest()[:20] + ".npy")
        if f.exists():
            pcm = np.load(f)
        else:
            voice = voice or HibariTTS(sample_rate=8000)
            pcm = ulaw_decode(ulaw_encode(voice.synthesize_all(words).astype(np.int16)))
            np.save(f, pcm)
        heard[it.say] = asr.transcribe(pcm, 8000, recognition_prompt(clinic, EXPECT.get(it.asked, "open"))).text
    return heard


def load_model():
    from llm.llama import LlamaLLM
    from models.store import default_models_dir, model_for_role
    return LlamaLLM(str(model_for_role("llm").path(default_models_dir())))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-model", action="store_true", help="the rules alone")
    ap.add_argument("--file", help="only this corpus file (e.g. emergency)")
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--audio", action="store_true", help="speak each line (caller voice, G.711) and recognise it first")
    ap.add_argument("--asr", help="recogniser directory for --audio (default: the installed default)")
    args = ap.parse_args()
    items = load()
    if args.file:
        items = [i for i in items if i.file == args.file]
    model = None if args.no_model else load_model()
    if args.audio:
        heard = spoken(items, args.asr)
        for it in items:
            it.heard = heard[it.say]
    results = run(items, conversation_factory(model))
    s = scores(results)
    if args.json:
        print(json.dumps({"scores": s, "results": results}, indent=2, default=str))
        return 0
    print(f"{s['items']} utterances; intent right {100 * s['intent_accuracy']:.1f}%; "
          f"emergencies caught {s['emergency_recall'][0]}/{s['emergency_recall'][1]}, false alarms {s['emergency_false_alarms']}; "
          f"model asked on {s['model_turns']}; median {s['ms_p50']:.1f} ms per utterance")
    print(f"\n{'intent':14} {'right':>6} {'of':>4} {'%':>6}")
    for k, (ok, n) in s["intents"].items():
        print(f"{k:14} {ok:6} {n:4} {100 * ok / n:6.1f}")
    print(f"\n{'slot':14} {'right':>6} {'of':>4} {'%':>6}")
    for k, (ok, n) in s["slots"].items():
        print(f"{k:14} {ok:6} {n:4} {100 * ok / n:6.1f}")
    if args.show_errors:
        print()
        for r in results:
            bad = [f"{k}: {v['label']!r} got {v['got']!r}" for k, v in r["slots"].items() if not v["ok"]]
            if not r["intent_ok"] or bad:
                print(f"[{r['file']}/{r['asked']}] {r['say']!r}\n    intent {r['intent']} got {r['got']} ({r['source']})"
                      + "".join(f"\n    {b}" for b in bad))
    return 0


if __name__ == "__main__":
    sys.exit(main())
