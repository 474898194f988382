"""Speech pieces and the fixed-phrase cache.

A reply is spoken piece by piece: sentences, and the first sentence split at a comma when it is
long, so that the first audio leaves as soon as the first clause is synthesized. Fixed phrases
(greeting, prompts, fillers) are synthesized once and kept on disk, keyed by the voice and the
text, so that they cost nothing at call time. Only phrases the application declares fixed are
stored: a piece with a caller's name or number in it is never written to disk.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np

log = logging.getLogger("frontdesk.tts")

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
FIRST_CLAUSE_MIN_WORDS = 4


def split_pieces(text: str) -> list[str]:
    """Sentences; a long first sentence is split after its first comma-ended clause."""
    sentences = [s for s in _SENTENCE.split(text.strip()) if s]
    if not sentences:
        return []
    first = sentences[0]
    m = re.search(r",\s+", first)
    if m:
        head, tail = first[:m.start() + 1], first[m.end():]
        if len(head.split()) >= FIRST_CLAUSE_MIN_WORDS and len(tail.split()) >= 3:
            return [head, tail, *sentences[1:]]
    return sentences


class PhraseCache:
    """int16 audio per (voice, text): in memory, and on disk under ``directory`` when given."""

    def __init__(self, voice_id: str, directory: Path | None = None):
        self.voice_id = voice_id
        self.directory = Path(directory) / voice_id if directory else None
        self._mem: dict[str, np.ndarray] = {}
        self.hits = 0
        self.misses = 0

    def _path(self, text: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / (hashlib.sha256(text.encode()).hexdigest()[:32] + ".npy")

    def get(self, text: str) -> np.ndarray | None:
        pcm = self._mem.get(text)
        if pcm is None:
            self.misses += 1
        else:
            self.hits += 1
        return pcm

    def load_or_make(self, text: str, make) -> np.ndarray:
        """The cached audio for a fixed phrase, from disk or made now (and stored)."""
        if text in self._mem:
            return self._mem[text]
        path = self._path(text)
        pcm = None
        if path is not None and path.exists():
            try:
                pcm = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                log.warning("TTS cache: unreadable %s (%s); synthesizing again", path, exc)
        if pcm is None:
            pcm = make(text)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, pcm, allow_pickle=False)
                tmp.replace(path)
        self._mem[text] = pcm
        return pcm
