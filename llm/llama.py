"""A local chat model through llama-cpp-python, used to choose among closed options.

Nothing is generated: `score` evaluates the chat prompt and reads the next-token logits of the
options' first tokens, one forward pass over the tokens the KV cache does not already hold. The
Llama object keeps the cache of the last prompt, so a stable system prompt and its examples are
evaluated once and later turns pay only for their own words (about 10 ms a token for the 0.5B
model on 2 cores; a grammar-constrained answer cost about 23 ms per output token on top).
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
        self.last_stats: dict = {}
        self._prompt_cache: dict[str, list[int]] = {}
        self._formatter = None

    # -- choosing among options from one forward pass ------------------------------------

    def _chat_tokens(self, messages: list[dict], assistant_prefix: str = "") -> list[int]:
        """The chat prompt as the model's template renders it, ready for the assistant's answer."""
        key = json.dumps(messages, sort_keys=True) + "\x00" + assistant_prefix
        cached = self._prompt_cache.get(key)
        if cached is not None:
            return cached
        template = self.llm.metadata.get("tokenizer.chat_template")
        if template:
            if self._formatter is None:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter
                self._formatter = Jinja2ChatFormatter(template=template, eos_token="", bos_token="")
            text = self._formatter(messages=messages).prompt
        else:
            text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"
        tokens = self.llm.tokenize((text + assistant_prefix).encode(), add_bos=False, special=True)
        if len(self._prompt_cache) > 256:
            self._prompt_cache = {}
        self._prompt_cache[key] = tokens
        return tokens

    def option_tokens(self, options: list[str], after_prefix: bool) -> dict[str, int]:
        """Each option's first token (with a leading space when it follows a prefix word); the
        options must begin with different tokens."""
        out: dict[str, int] = {}
        for opt in options:
            tok = self.llm.tokenize(((" " if after_prefix else "") + opt).encode(), add_bos=False, special=False)[0]
            if tok in out.values():
                raise ValueError(f"options {opt!r} and {[k for k, v in out.items() if v == tok]} begin with the same token")
            out[opt] = tok
        return out

    def score(self, messages: list[dict], options: list[str], *, assistant_prefix: str = "") -> dict[str, float]:
        """The model's probability for each option as the next word of its answer, renormalised
        over the options, from one forward pass over the turn's new tokens (the system prompt
        and anything else already evaluated comes from the KV cache)."""
        tokens = self._chat_tokens(messages, assistant_prefix)
        firsts = self.option_tokens(options, bool(assistant_prefix))
        llm = self.llm
        reuse = 0
        limit = min(llm.n_tokens, len(tokens) - 1)  # evaluate at least the last token for its logits
        ids = llm.input_ids
        while reuse < limit and ids[reuse] == tokens[reuse]:
            reuse += 1
        llm.n_tokens = reuse
        llm.eval(tokens[reuse:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
        picked = np.array([logits[firsts[o]] for o in options], dtype=np.float64)
        p = np.exp(picked - picked.max())
        p /= p.sum()
        self.last_stats = {"prompt_tokens": len(tokens), "reused_tokens": reuse, "output_tokens": 0}
        return dict(zip(options, p.tolist()))

    def warm(self, messages: list[dict]) -> None:
        """Evaluate a prompt once so that its prefix (system prompt, examples) is cached for the
        first call."""
        self.score(messages, ["yes", "no"])
