"""A local chat model through llama-cpp-python, with grammar-constrained JSON output.

The Llama object keeps the KV cache of the last prompt, so a stable system prompt is only
evaluated once: later turns pay only for their new tokens.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("frontdesk.llm")


class LlamaLLM:
    def __init__(self, model_path: str, *, n_ctx: int = 2048, n_threads: int = 2):
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads,
                         n_threads_batch=n_threads, n_batch=512, verbose=False)
        self._grammars: dict[str, Any] = {}

    def _grammar(self, schema: dict):
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def complete_json(self, messages: list[dict], schema: dict, *, max_tokens: int = 96) -> dict:
        """One grammar-constrained completion; returns the parsed object (or raises ValueError)."""
        out = self.llm.create_chat_completion(
            messages=messages, grammar=self._grammar(schema), temperature=0.0, max_tokens=max_tokens,
        )
        text = out["choices"][0]["message"]["content"] or ""
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"model output is not JSON: {text[:120]!r}") from exc
        if not isinstance(value, dict):
            raise ValueError("model output is not a JSON object")
        return value

    def warm(self, messages: list[dict]) -> None:
        """Evaluate a prompt once so that its prefix is cached for the first call."""
        self.llm.create_chat_completion(messages=messages, temperature=0.0, max_tokens=1)
