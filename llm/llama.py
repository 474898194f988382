"""A local chat model through llama-cpp-python, with grammar-constrained JSON output.

The Llama object keeps the KV cache of the last prompt, so a stable system prompt is only
evaluated once: later turns pay only for their new tokens.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

log = logging.getLogger("frontdesk.llm")


class LlamaLLM:
    def __init__(self, model_path: str, *, n_ctx: int = 2048, n_threads: int = 2):
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads,
                         n_threads_batch=n_threads, n_batch=512, verbose=False)
        self._grammars: dict[str, Any] = {}
        self.last_stats: dict = {}

    def _grammar(self, schema: dict):
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def complete_json(self, messages: list[dict], schema: dict, *, max_tokens: int = 96,
                      confidence_field: str | None = "action") -> dict:
        """One grammar-constrained completion; returns the parsed object (or raises ValueError).

        When the schema has an enum-valued ``confidence_field``, the result carries
        ``_confidence``: the model's probability for the value it chose, renormalised over the
        first tokens of the allowed values at the step where the value begins. Clear requests
        score 0.75 and more; nonsense spreads the mass and scores well under 0.5.
        """
        probe = self._confidence_probe(schema, confidence_field)
        kwargs = {}
        if probe is not None:
            from llama_cpp import LogitsProcessorList
            kwargs["logits_processor"] = LogitsProcessorList([probe])
        cached = list(self.llm.input_ids[:self.llm.n_tokens])
        out = self.llm.create_chat_completion(
            messages=messages, grammar=self._grammar(schema), temperature=0.0, max_tokens=max_tokens, **kwargs,
        )
        prompt_tokens = int(out.get("usage", {}).get("prompt_tokens", 0))
        reused = 0
        for a, b in zip(cached, self.llm.input_ids[:prompt_tokens]):
            if a != b:
                break
            reused += 1
        # the system prompt and clinic facts come from the KV cache; only the turn is evaluated
        self.last_stats = {"prompt_tokens": prompt_tokens, "reused_tokens": reused,
                           "output_tokens": int(out.get("usage", {}).get("completion_tokens", 0))}
        text = out["choices"][0]["message"]["content"] or ""
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"model output is not JSON: {text[:120]!r}") from exc
        if not isinstance(value, dict):
            raise ValueError("model output is not a JSON object")
        if probe is not None and probe.probs is not None and isinstance(value.get(confidence_field), str):
            first = self._first_token(value[confidence_field])
            value["_confidence"] = float(probe.probs.get(first, 0.0))
        value["_tokens"] = dict(self.last_stats)
        return value

    def _first_token(self, text: str) -> int:
        return self.llm.tokenize(text.encode(), add_bos=False, special=False)[0]

    def _confidence_probe(self, schema: dict, field: str | None):
        values = (schema.get("properties", {}).get(field or "", {}) or {}).get("enum")
        if not field or not values:
            return None
        firsts = sorted({self._first_token(v) for v in values})
        llm = self.llm
        marker = f'"{field}":"'

        class Probe:
            def __init__(self):
                self.prompt_len: int | None = None
                self.probs: dict[int, float] | None = None

            def __call__(self, input_ids, scores):
                if self.prompt_len is None:
                    self.prompt_len = len(input_ids)
                if self.probs is None:
                    generated = llm.detokenize(list(input_ids[self.prompt_len:])).decode("utf-8", "replace")
                    if generated.replace(" ", "").endswith(marker):
                        logits = np.array([scores[i] for i in firsts], dtype=np.float64)
                        p = np.exp(logits - logits.max())
                        p /= p.sum()
                        self.probs = dict(zip(firsts, p.tolist()))
                return scores

        return Probe()

    def warm(self, messages: list[dict]) -> None:
        """Evaluate a prompt once so that its prefix is cached for the first call."""
        self.llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=1)
