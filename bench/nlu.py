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


def load_model(path: str | None = None):
    from llm.llama import LlamaLLM
    from models.store import default_models_dir, model_for_role
    return LlamaLLM(path or str(model_for_role("llm").path(default_models_dir())))


_ASKED = {"open": "How can I help you today?", "offer": "I have Tuesday at 9 AM or Thursday at 2 PM. Which would you prefer?",
          "confirm": "To confirm, I'll book a cleaning on Tuesday at 9 AM. Shall I go ahead?",
          "phone_confirm": "Is the number you're calling from the best number to reach you?",
          "spelling_check": "I have S, M, I, T, H. Is that right?", "cancel_confirm": "Shall I cancel it?"}


def model_alone(items, model) -> dict:
    """The model's intent for every utterance, as if the rules had found nothing: how good a
    backstop it is (the call asks it only when they do)."""
    import time

    from dialog import model as llm_prompt
    from dialog.model import INTENT_WORDS
    from dialog.prompts import PROMPTS
    from frontdesk.config import load_config

    clinic = load_config().clinic
    faq_ids = [e["id"] for e in getattr(clinic, "faq", []) if isinstance(e, dict)] or \
        [getattr(e, "id", "") for e in getattr(clinic, "faq", [])]
    right, ms, per = 0, [], {}
    expressible = set(INTENT_WORDS.values()) | {"unknown"}
    items = [it for it in items if set(it.intent) & expressible]  # not "choose_slot", "greeting": rules only
    for it in items:
        asked = _ASKED.get(it.asked) or PROMPTS.get(it.asked) or "How can I help you today?"
        t0 = time.perf_counter()
        pick = llm_prompt.choose(model, llm_prompt.messages(clinic, faq_ids, asked, it.heard or it.say), list(INTENT_WORDS))
        ms.append((time.perf_counter() - t0) * 1000)
        got = INTENT_WORDS[pick[0]] if pick else "none"
        want = it.intent if isinstance(it.intent, list) else [it.intent]
        ok = got in want or (got == "other" and "unknown" in want)
        right += ok
        for w in want[:1]:
            a, n = per.get(w, (0, 0))
            per[w] = (a + ok, n + 1)
    ms.sort()
    return {"items": len(items), "right": right, "per_intent": per, "ms_p50": ms[len(ms) // 2],
            "ms_p95": ms[int(len(ms) * 0.95)]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-model", action="store_true", help="the rules alone")
    ap.add_argument("--file", help="only this corpus file (e.g. emergency)")
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--audio", action="store_true", help="speak each line (caller voice, G.711) and recognise it first")
    ap.add_argument("--asr", help="recogniser directory for --audio (default: the installed default)")
    ap.add_argument("--llm", help="a GGUF to use instead of the installed language model")
    ap.add_argument("--model-alone", action="store_true",
                    help="ask the model for every utterance's intent (no rules) and print its accuracy and time")
    args = ap.parse_args()
    items = load()
    if args.file:
        items = [i for i in items if i.file == args.file]
    model = None if args.no_model else load_model(args.llm)
    if args.model_alone:
        m = model_alone(items, model)
        if args.json:
            print(json.dumps(m, indent=2))
            return 0
        print(f"model alone: intent right on {m['right']}/{m['items']} ({100 * m['right'] / m['items']:.1f}%), "
              f"{m['ms_p50']:.0f} ms median, {m['ms_p95']:.0f} ms p95 per utterance")
        for k, (ok, n) in sorted(m["per_intent"].items()):
            print(f"  {k:14} {ok:4}/{n:<4}")
        return 0
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
