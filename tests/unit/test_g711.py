import warnings

import numpy as np

from media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_PCM = np.arange(-32768, 32768, dtype="<i2").tobytes()
ALL_CODES = bytes(range(256))


# the numpy tables (what runs where audioop is gone, Python 3.13+) and the public functions
# (audioop where present) against the reference

def test_ulaw_encode_bit_exact_on_all_65536_inputs():
    assert g711._np_ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)
    assert g711.ulaw_encode(ALL_PCM) == audioop.lin2ulaw(ALL_PCM, 2)


def test_alaw_encode_bit_exact_on_all_65536_inputs():
    assert g711._np_alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
    assert g711.alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)


def test_ulaw_decode_bit_exact_on_all_256_codes():
    assert g711._np_ulaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert g711.ulaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_bit_exact_on_all_256_codes():
    assert g711._np_alaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.alaw2lin(ALL_CODES, 2)
    assert g711.alaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.alaw2lin(ALL_CODES, 2)


def test_non_int16_and_strided_arrays_encode_like_their_int16_values():
    x = (np.sin(np.arange(320) / 7) * 20000)
    for enc in (g711.ulaw_encode, g711.alaw_encode):
        assert enc(x.astype(np.int32)) == enc(x.astype(np.int16))
        assert enc(x.astype(np.int16)[::2]) == enc(np.ascontiguousarray(x.astype(np.int16)[::2]))
    decoded = g711.ulaw_decode(g711.ulaw_encode(x.astype(np.int16)))
    decoded[0] = 1  # writable, as the numpy path's arrays are


def test_array_and_bytes_inputs_agree_and_codec_lookup():
    pcm = (np.sin(np.arange(160) / 5) * 12000).astype(np.int16)
    assert g711.encoder("pcmu")(pcm) == g711.ulaw_encode(pcm.tobytes())
    assert g711.decoder("PCMA")(g711.alaw_encode(pcm)).shape == (160,)


def test_a_decoded_frame_holds_no_object_the_garbage_collector_tracks():
    # a frame can live for seconds (an utterance, the concealment history): an object the collector
    # tracks per frame (a memoryview of a bytearray) made its passes, which stop every call, long
    import gc

    payload = bytes(range(0, 256, 2)) + bytes(32)
    for decode in (g711.ulaw_decode, g711.alaw_decode):
        frame = decode(payload)
        assert frame.base is None or not gc.is_tracked(frame.base)
