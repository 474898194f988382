"""G.711 µ-law and A-law codecs in numpy.

Bit-exact with CPython's ``audioop`` (the Sun reference algorithm): the encoders are
computed over all 65,536 16-bit inputs once into lookup tables, the decoders over all
256 codes. Encoding and decoding a frame is then a single table lookup.

Where ``audioop`` itself is importable (CPython up to 3.12, or the ``audioop-lts`` package), a
20 ms frame goes through it instead: the same codes, in C, 0.6 µs against 3-5 µs for numpy's
lookup. Per call that is once each way every 20 ms, the media loop's hottest path. A decoded
frame owns its samples (a copy, not a view of a bytearray): a view would hold a memoryview, an
object the garbage collector tracks, for as long as the frame lives (seconds, in an utterance),
and tens of thousands of them make its passes, which stop every call, long.
"""

from __future__ import annotations

import numpy as np

from .pcm import as_int16
from .pcm import audioop as _audioop

__all__ = ["ulaw_encode", "ulaw_decode", "alaw_encode", "alaw_decode", "encoder", "decoder"]

_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _segment(values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    # index of the first segment end >= value (8 when above every end)
    return np.searchsorted(ends, values, side="left")


def _ulaw_from_linear(pcm: np.ndarray) -> np.ndarray:
    val = pcm.astype(np.int32) >> 2  # 14-bit range, arithmetic shift
    mask = np.where(val < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(val), 8159) + (0x84 >> 2)
    seg = _segment(mag, _SEG_UEND)
    safe_seg = np.minimum(seg, 7)
    code = (safe_seg << 4) | ((mag >> (safe_seg + 1)) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_from_linear(pcm: np.ndarray) -> np.ndarray:
    val = pcm.astype(np.int32) >> 3  # 13-bit range
    mask = np.where(val >= 0, 0xD5, 0x55)
    mag = np.where(val >= 0, val, -val - 1)
    seg = _segment(mag, _SEG_AEND)
    safe_seg = np.minimum(seg, 7)
    shift = np.where(safe_seg < 2, 1, safe_seg)
    code = (safe_seg << 4) | ((mag >> shift) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _linear_from_ulaw(codes: np.ndarray) -> np.ndarray:
    u = (~codes.astype(np.int32)) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _linear_from_alaw(codes: np.ndarray) -> np.ndarray:
    a = codes.astype(np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ALL_PCM = np.arange(-32768, 32768, dtype=np.int32)
_ALL_CODES = np.arange(256, dtype=np.int32)
_ULAW_ENC = _ulaw_from_linear(_ALL_PCM)
_ALAW_ENC = _alaw_from_linear(_ALL_PCM)
_ULAW_DEC = _linear_from_ulaw(_ALL_CODES)
_ALAW_DEC = _linear_from_alaw(_ALL_CODES)
# the encoder tables again, indexed by the sample's 16 bits read as unsigned (0..32767, then the
# negative values): a frame encodes with one lookup and no arithmetic
_ULAW_ENC_U16 = np.concatenate([_ULAW_ENC[32768:], _ULAW_ENC[:32768]])
_ALAW_ENC_U16 = np.concatenate([_ALAW_ENC[32768:], _ALAW_ENC[:32768]])


def _as_u16(samples: np.ndarray | bytes) -> np.ndarray:
    if isinstance(samples, (bytes, bytearray, memoryview)):
        return np.frombuffer(samples, dtype="<u2")
    return np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)


def _pcm16(samples: np.ndarray | bytes):
    """Native int16 samples as a buffer audioop takes (bytes pass through)."""
    if isinstance(samples, (bytes, bytearray, memoryview)):
        return samples
    return as_int16(samples)


def _np_ulaw_encode(samples: np.ndarray | bytes) -> bytes:
    return _ULAW_ENC_U16[_as_u16(samples)].tobytes()


def _np_alaw_encode(samples: np.ndarray | bytes) -> bytes:
    return _ALAW_ENC_U16[_as_u16(samples)].tobytes()


def _np_ulaw_decode(payload: bytes) -> np.ndarray:
    return _ULAW_DEC[np.frombuffer(payload, dtype=np.uint8)]


def _np_alaw_decode(payload: bytes) -> np.ndarray:
    return _ALAW_DEC[np.frombuffer(payload, dtype=np.uint8)]


def ulaw_encode(samples: np.ndarray | bytes) -> bytes:
    """16-bit linear PCM (array or little-endian bytes) to µ-law bytes."""
    if _audioop is None:
        return _np_ulaw_encode(samples)
    return _audioop.lin2ulaw(_pcm16(samples), 2)


def alaw_encode(samples: np.ndarray | bytes) -> bytes:
    """16-bit linear PCM (array or little-endian bytes) to A-law bytes."""
    if _audioop is None:
        return _np_alaw_encode(samples)
    return _audioop.lin2alaw(_pcm16(samples), 2)


def ulaw_decode(payload: bytes) -> np.ndarray:
    """µ-law bytes to int16 samples (a writable array)."""
    if _audioop is None:
        return _np_ulaw_decode(payload)
    return np.frombuffer(_audioop.ulaw2lin(payload, 2), dtype=np.int16).copy()


def alaw_decode(payload: bytes) -> np.ndarray:
    """A-law bytes to int16 samples (a writable array)."""
    if _audioop is None:
        return _np_alaw_decode(payload)
    return np.frombuffer(_audioop.alaw2lin(payload, 2), dtype=np.int16).copy()


_ENCODERS = {"PCMU": ulaw_encode, "PCMA": alaw_encode}
_DECODERS = {"PCMU": ulaw_decode, "PCMA": alaw_decode}


def encoder(codec: str):
    """The encode function for an SDP encoding name (PCMU or PCMA)."""
    return _ENCODERS[codec.upper()]


def decoder(codec: str):
    """The decode function for an SDP encoding name (PCMU or PCMA)."""
    return _DECODERS[codec.upper()]
