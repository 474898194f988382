"""16-bit PCM helpers in C where the interpreter has them.

``audioop`` (CPython's, up to 3.12; the ``audioop-lts`` package after) does per-frame work in C
that numpy does with several calls' overhead: G.711 (media.g711) and a frame's RMS level (the
jitter buffer's pause test and the endpointer's energy gate, both once per call every 20 ms).
Without it, numpy gives the same results.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

with warnings.catch_warnings():  # deprecated since 3.11, removed in 3.13
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # pragma: no cover - Python 3.13+ without audioop-lts
        audioop = None
if sys.byteorder != "little":  # pragma: no cover - audioop works in native order, the wire is not
    audioop = None

__all__ = ["audioop", "as_int16", "rms"]


def as_int16(samples: np.ndarray):
    """Contiguous native int16 samples (the array itself when it already is)."""
    if samples.dtype != np.int16 or not samples.flags.c_contiguous:
        samples = np.ascontiguousarray(samples, dtype=np.int16)
    return samples


def rms(frame: np.ndarray) -> float:
    """Root mean square of int16 samples (0.0 for an empty frame)."""
    if not frame.size:
        return 0.0
    if audioop is not None:
        return float(audioop.rms(as_int16(frame), 2))  # rounded down to an integer, as audioop does
    x = frame.astype(np.float32)
    return math.sqrt(float(np.dot(x, x)) / x.size)
