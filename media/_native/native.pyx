# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""frontdesk's per-packet media work in C (built from this Cython source when frontdesk is installed).

Each part is a drop-in for the Python module that states the algorithm, and gives the same
results (tests/unit/test_native_media.py replays the same input through both):

- ``jitter.pxi``: ``JitterCore``, media/jitter.py's adaptive jitter buffer for 160-sample frames;
- ``plc.pxi``: ``Concealer``, media/plc.py's G.711 packet loss concealment;
- ``playout.pxi``: ``Playout``, media/playout.py's queue of the agent's audio;
- ``endpointer.pxi``: ``Endpointer``, media/vad.py's endpointer;
- ``rxstats.pxi``: ``ReceiverStats``, media/rtcp.py's RFC 3550 receiver statistics;
- ``lane.pxi``: ``RtpLane``, one call's socket and receive path (media/rtp_session.py's
  NativeRtpSession drives it; RtpSession is the same in Python, and runs SRTP calls);
- ``ticker.pxi``: ``tick_slot``, media/clock.py's loop over one slot's calls.
"""

import logging
from collections import deque

import numpy as np

cimport numpy as cnp
from libc.math cimport ceil, fabs, log10, sqrt
from libc.stdint cimport int16_t, uint8_t, uint16_t
from libc.stdlib cimport llabs
from libc.string cimport memcpy, memmove, memset

cnp.import_array()

cdef enum:
    FRAME = 160  # samples in 20 ms at 8 kHz

cdef extern from "<time.h>" nogil:
    struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(int, timespec*)
    int CLOCK_MONOTONIC
    int CLOCK_REALTIME


cdef inline double _clock(int which) noexcept nogil:
    cdef timespec t
    clock_gettime(which, &t)
    return t.tv_sec + t.tv_nsec * 1e-9

include "jitter.pxi"
include "plc.pxi"
include "playout.pxi"
include "endpointer.pxi"
include "rxstats.pxi"
include "lane.pxi"
include "ticker.pxi"
