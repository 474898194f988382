# One call's plain-RTP media path in C: the socket's datagrams are read at each 20 ms tick (with
# the kernel's arrival time, so reading late changes nothing the jitter buffer sees), checked,
# latched, counted, decoded and filed in the jitter buffer; one frame is played out to the app;
# one packet is encoded and sent. media/rtp_session.py's NativeRtpSession drives it; its
# RtpSession is the same logic in Python (and what SRTP calls use). Included by native.pyx.

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        sa_family_t sa_family
    struct sockaddr_storage:
        sa_family_t ss_family
    struct iovec:
        void* iov_base
        size_t iov_len
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    cmsghdr* CMSG_FIRSTHDR(msghdr*)
    cmsghdr* CMSG_NXTHDR(msghdr*, cmsghdr*)
    unsigned char* CMSG_DATA(cmsghdr*)
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    int recvmmsg(int, mmsghdr*, unsigned int, int, timespec*)
    ssize_t sendto(int, const void*, size_t, int, const sockaddr*, socklen_t)
    int MSG_DONTWAIT
    int SOL_SOCKET
    int SCM_TIMESTAMPNS

cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        unsigned int s_addr
    struct sockaddr_in:
        sa_family_t sin_family
        unsigned short sin_port
        in_addr sin_addr
    struct in6_addr:
        unsigned char s6_addr[16]
    struct sockaddr_in6:
        sa_family_t sin6_family
        unsigned short sin6_port
        in6_addr sin6_addr
    unsigned short htons(unsigned short)
    unsigned short ntohs(unsigned short)
    int AF_INET
    int AF_INET6

cdef extern from "<arpa/inet.h>" nogil:
    int inet_pton(int, const char*, void*)
    const char* inet_ntop(int, const void*, char*, socklen_t)

cdef extern from "<string.h>" nogil:
    int memcmp(const void*, const void*, size_t)

cdef enum:
    LATENESS_LOG = 3000
    TICK_OUT = 1  # the tick's result: the session sends this tick's packet (from Python)
    TICK_RTCP = 2  # ... and it is time for an RTCP report
    DRAIN_MAX = 64  # datagrams read per tick at most (a flood waits in the kernel, and drops there)
    BATCH = 8  # datagrams per recvmmsg call
    MAX_DATAGRAM = 2048
    CODEC_PCMU = 0
    CODEC_PCMA = 1
    RTCP_INTERVAL = 250  # frames: a report every 5 s (RFC 3550's minimum interval)

cdef int16_t ULAW_DEC[256]
cdef int16_t ALAW_DEC[256]
cdef uint8_t ULAW_ENC[65536]
cdef uint8_t ALAW_ENC[65536]


def _load_tables():
    from media import g711
    cdef int i
    for i in range(256):
        ULAW_DEC[i] = g711._ULAW_DEC[i]
        ALAW_DEC[i] = g711._ALAW_DEC[i]
    for i in range(65536):
        ULAW_ENC[i] = g711._ULAW_ENC_U16[i]
        ALAW_ENC[i] = g711._ALAW_ENC_U16[i]


_load_tables()
log = logging.getLogger("frontdesk.rtp")
_DIGITS = "0123456789*#ABCD"


def codec_number(str codec):
    codec = codec.upper()
    if codec == "PCMU":
        return CODEC_PCMU
    if codec == "PCMA":
        return CODEC_PCMA
    raise ValueError(f"the native lane has no codec {codec}")


cdef int _set_address(sockaddr_storage* out, socklen_t* out_len, object address) except -1:
    host, port = address[0], int(address[1])
    encoded = host.encode()
    cdef sockaddr_in* v4 = <sockaddr_in*>out
    cdef sockaddr_in6* v6 = <sockaddr_in6*>out
    memset(out, 0, sizeof(sockaddr_storage))
    if inet_pton(AF_INET, encoded, &v4.sin_addr) == 1:
        v4.sin_family = AF_INET
        v4.sin_port = htons(port)
        out_len[0] = sizeof(sockaddr_in)
        return 0
    if inet_pton(AF_INET6, encoded, &v6.sin6_addr) == 1:
        v6.sin6_family = AF_INET6
        v6.sin6_port = htons(port)
        out_len[0] = sizeof(sockaddr_in6)
        return 0
    raise ValueError(f"not a numeric IP address: {host!r}")


cdef object _address(const sockaddr_storage* sa):
    cdef char text[64]
    cdef const sockaddr_in* v4 = <const sockaddr_in*>sa
    cdef const sockaddr_in6* v6 = <const sockaddr_in6*>sa
    if sa.ss_family == AF_INET:
        inet_ntop(AF_INET, &v4.sin_addr, text, 64)
        return (text.decode(), ntohs(v4.sin_port))
    if sa.ss_family == AF_INET6:
        inet_ntop(AF_INET6, &v6.sin6_addr, text, 64)
        return (text.decode(), ntohs(v6.sin6_port))
    return None


cdef bint _same_address(const sockaddr_storage* a, const sockaddr_storage* b) noexcept nogil:
    cdef const sockaddr_in* a4 = <const sockaddr_in*>a
    cdef const sockaddr_in* b4 = <const sockaddr_in*>b
    cdef const sockaddr_in6* a6 = <const sockaddr_in6*>a
    cdef const sockaddr_in6* b6 = <const sockaddr_in6*>b
    if a.ss_family != b.ss_family:
        return False
    if a.ss_family == AF_INET:
        return a4.sin_port == b4.sin_port and a4.sin_addr.s_addr == b4.sin_addr.s_addr
    if a.ss_family == AF_INET6:
        return a6.sin6_port == b6.sin6_port and memcmp(&a6.sin6_addr, &b6.sin6_addr, 16) == 0
    return False


cdef class RtpLane:
    """One call's RTP socket and receive path (see the top of this file)."""
    cdef object __weakref__
    cdef int fd
    cdef public int codec, payload_type, dtmf_payload_type  # dtmf -1: none negotiated
    cdef sockaddr_storage remote_sa, latched_sa
    cdef socklen_t remote_len
    cdef bint latched, has_remote_ssrc, heard_any, has_dtmf_ts
    cdef unsigned int remote_ssrc_, dtmf_ts
    cdef public JitterCore jitter
    cdef public ReceiverStats rx_stats
    cdef public Concealer concealer
    cdef public object on_frame, on_dtmf
    cdef public object on_tick  # called with the tick's TICK_OUT | TICK_RTCP bits when not 0
    cdef public long long packets_in, bad_packets, foreign_packets, ssrc_changes, lost_before
    cdef public long long packets_out, octets_out, send_errors
    cdef public double last_packet_at
    cdef public unsigned int seq, ts, ssrc
    cdef uint8_t silence[FRAME]
    # the tick: python_out set while the session sends from Python (agent audio queued, DTMF, hold,
    # a listener to what is sent); otherwise the lane sends silence itself
    cdef public bint python_out
    cdef public bint talking  # the last packet carried agent audio (the next one's marker bit)
    cdef public Playout playout
    cdef public int frames_to_report
    cdef float lateness[LATENESS_LOG]  # the last minute of pacing error (ms), a ring
    cdef long long lateness_n

    def __init__(self, int fd, *, str codec, int payload_type, dtmf_payload_type, remote, on_frame, on_dtmf,
                 Playout playout, unsigned int seq, unsigned int ts, unsigned int ssrc):
        self.fd = fd
        self.set_codec(codec, payload_type, dtmf_payload_type)
        _set_address(&self.remote_sa, &self.remote_len, remote)
        self.on_frame, self.on_dtmf = on_frame, on_dtmf
        self.concealer = Concealer()
        self.playout = playout
        self.jitter = JitterCore()
        self.rx_stats = ReceiverStats()
        self.seq, self.ts, self.ssrc = seq & 0xFFFF, ts, ssrc
        self.last_packet_at = _clock(CLOCK_MONOTONIC)
        self.frames_to_report = RTCP_INTERVAL // 2

    def set_codec(self, str codec, int payload_type, dtmf_payload_type):
        self.codec = codec_number(codec)
        self.payload_type = payload_type
        self.dtmf_payload_type = -1 if dtmf_payload_type is None else dtmf_payload_type
        cdef int16_t zero = 0
        cdef int i
        for i in range(FRAME):
            self.silence[i] = ULAW_ENC[<uint16_t>zero] if self.codec == CODEC_PCMU else ALAW_ENC[<uint16_t>zero]

    @property
    def remote(self):
        return _address(&self.remote_sa)

    def relatch(self, remote):
        """A new address from the peer's SDP: send there, and latch again to where the stream comes from."""
        _set_address(&self.remote_sa, &self.remote_len, remote)
        self.has_remote_ssrc = False
        self.latched = False

    @property
    def lost(self):
        return self.lost_before + self.jitter.lost

    @property
    def remote_ssrc(self):
        """The SSRC of the stream we latched to (None before the first packet)."""
        return self.remote_ssrc_ if self.has_remote_ssrc else None

    def close(self):
        self.fd = -1
        self.on_frame = self.on_dtmf = self.on_tick = None

    # -- receiving -----------------------------------------------------------------------

    def drain(self):
        """Read what the socket holds (at most DRAIN_MAX datagrams) into the jitter buffer: one
        recvmmsg call per BATCH datagrams."""
        cdef uint8_t data[BATCH][MAX_DATAGRAM]
        cdef char control[BATCH][64]
        cdef sockaddr_storage source[BATCH]
        cdef iovec iov[BATCH]
        cdef mmsghdr msgs[BATCH]
        cdef cmsghdr* cm
        cdef timespec* stamp
        cdef double mono, offset, arrival
        cdef int got, i, total = 0
        if self.fd < 0:
            return
        mono = _clock(CLOCK_MONOTONIC)
        offset = _clock(CLOCK_REALTIME) - mono
        while total < DRAIN_MAX:
            memset(msgs, 0, sizeof(msgs))
            for i in range(BATCH):
                iov[i].iov_base = data[i]
                iov[i].iov_len = MAX_DATAGRAM
                msgs[i].msg_hdr.msg_name = &source[i]
                msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
                msgs[i].msg_hdr.msg_iov = &iov[i]
                msgs[i].msg_hdr.msg_iovlen = 1
                msgs[i].msg_hdr.msg_control = control[i]
                msgs[i].msg_hdr.msg_controllen = 64
            got = recvmmsg(self.fd, msgs, BATCH, MSG_DONTWAIT, NULL)
            if got <= 0:
                return  # nothing more (or an ICMP error queued on the socket: the next read goes on)
            for i in range(got):
                arrival = mono
                cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr)
                while cm != NULL:
                    if cm.cmsg_level == SOL_SOCKET and cm.cmsg_type == SCM_TIMESTAMPNS:
                        stamp = <timespec*>CMSG_DATA(cm)
                        arrival = min(mono, stamp.tv_sec + stamp.tv_nsec * 1e-9 - offset)
                    cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)
                self._datagram(data[i], msgs[i].msg_len, &source[i], arrival)
            total += got
            if got < BATCH:
                return

    cdef int _datagram(self, const uint8_t* data, ssize_t size, sockaddr_storage* source, double now) except -1:
        cdef int first, second, pt, cc, offset, end, pad, seq, n, i
        cdef unsigned int ts, ssrc
        cdef int16_t pcm[FRAME]
        cdef const int16_t* table
        if size < 12:
            self.bad_packets += 1
            return 0
        first, second = data[0], data[1]
        pt = second & 0x7F
        offset, end = 12, size
        if first >> 6 != 2 or 72 <= pt <= 76:  # not RTP version 2, or RTCP on the RTP port
            self.bad_packets += 1
            return 0
        if first != 0x80:
            cc = first & 0x0F
            offset += 4 * cc
            if first & 0x10:  # header extension
                if size < offset + 4:
                    self.bad_packets += 1
                    return 0
                offset += 4 + 4 * ((data[offset + 2] << 8) | data[offset + 3])
            if first & 0x20:  # padding
                pad = data[size - 1]
                if pad == 0 or offset + pad > end:
                    self.bad_packets += 1
                    return 0
                end -= pad
            if offset > end:
                self.bad_packets += 1
                return 0
        seq = (data[2] << 8) | data[3]
        ts = (<unsigned int>data[4] << 24) | (data[5] << 16) | (data[6] << 8) | data[7]
        ssrc = (<unsigned int>data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11]
        if self.latched and not _same_address(source, &self.latched_sa):
            # RTP from somewhere else than the stream we latched to: an injection attempt or a
            # stray stream. Only when the latched source has been silent for 2 s do we move.
            if now - self.last_packet_at < 2.0:
                self.foreign_packets += 1
                return 0
            log.info("RTP: the stream moved from %s:%s to %s:%s", *_address(&self.latched_sa), *_address(source))
            self.has_remote_ssrc = False
        self.packets_in += 1
        self.last_packet_at = now
        if not self.has_remote_ssrc:
            self.has_remote_ssrc = True
            self.remote_ssrc_ = ssrc
            # symmetric RTP: answer where the media actually comes from (NAT)
            memcpy(&self.remote_sa, source, sizeof(sockaddr_storage))
            self.remote_len = sizeof(sockaddr_in) if source.ss_family == AF_INET else sizeof(sockaddr_in6)
            memcpy(&self.latched_sa, source, sizeof(sockaddr_storage))
            self.latched = True
        elif ssrc != self.remote_ssrc_:
            # a new source (the PBX bridged us elsewhere, or the sender restarted): start afresh
            self.remote_ssrc_ = ssrc
            self.ssrc_changes += 1
            self.lost_before += self.jitter.lost
            self.jitter = JitterCore()
            self.concealer = Concealer()
            self.has_dtmf_ts = False
            self.rx_stats.reset()
        if pt == self.dtmf_payload_type:
            self.rx_stats.on_packet_c(seq, ts, now, False)
            # RFC 4733: one digit per event timestamp, at its first packet (redundant ends ignored)
            if end - offset >= 4 and data[offset] < 16 and not (self.has_dtmf_ts and ts == self.dtmf_ts):
                self.has_dtmf_ts = True
                self.dtmf_ts = ts
                self.on_dtmf(_DIGITS[data[offset]])
            return 0
        if pt != self.payload_type:
            self.bad_packets += 1
            return 0
        self.rx_stats.on_packet_c(seq, ts, now, True)  # jitter: differences of arrival times
        n = min(end - offset, FRAME)
        table = &ULAW_DEC[0] if self.codec == CODEC_PCMU else &ALAW_DEC[0]
        for i in range(n):
            pcm[i] = table[data[offset + i]]
        self.jitter.put_c(seq, ts, pcm, n, now)
        self.heard_any = True
        return 0

    def play_in(self):
        """One 20 ms frame out of the jitter buffer (concealed where a packet is missing) to the app."""
        cdef cnp.npy_intp dims[1]
        cdef int kind
        cdef int16_t* pcm
        if not self.heard_any:
            return
        dims[0] = FRAME
        frame = cnp.PyArray_SimpleNew(1, dims, cnp.NPY_INT16)
        pcm = <int16_t*>cnp.PyArray_DATA(frame)
        kind = self.jitter.get_c(_clock(CLOCK_MONOTONIC), pcm)
        if kind == PLAY_CONCEAL:
            self.concealer.conceal_c(pcm, FRAME)
        else:
            if kind != PLAY_AUDIO:
                memset(pcm, 0, FRAME * sizeof(int16_t))
            self.concealer.good_c(pcm, FRAME)
        self.on_frame(frame)

    cpdef tick(self, double due):
        """One 20 ms step (its frame due at ``due``, monotonic time): note how late it runs, read
        the socket, play a frame in, and (unless python_out) send the playout's next frame or
        silence. When the session has work in Python (TICK_OUT, TICK_RTCP), ``on_tick`` gets the bits."""
        cdef int result = 0
        cdef double late_s = _clock(CLOCK_MONOTONIC) - due
        cdef uint8_t packet[12 + FRAME]
        cdef int16_t pcm[FRAME]
        cdef const uint8_t* table = &ULAW_ENC[0] if self.codec == CODEC_PCMU else &ALAW_ENC[0]
        cdef int i
        self.lateness[self.lateness_n % LATENESS_LOG] = max(0.0, late_s * 1000)
        self.lateness_n += 1
        self.drain()
        self.play_in()
        if self.python_out:
            result = TICK_OUT
        elif self.playout.next_frame_c(pcm):
            for i in range(FRAME):
                packet[12 + i] = table[<uint16_t>pcm[i]]
            self._send(packet, FRAME, not self.talking, self.payload_type, self.ts)
            self.talking = True
        else:
            self._send_silence()
            self.talking = False
        self.frames_to_report -= 1
        if self.frames_to_report <= 0:
            self.frames_to_report = RTCP_INTERVAL
            result |= TICK_RTCP
        if result and self.on_tick is not None:
            self.on_tick(result)

    def lateness_ms(self):
        """The pacing errors logged (ms), the last minute at most."""
        cdef cnp.npy_intp dims[1]
        dims[0] = min(self.lateness_n, LATENESS_LOG)
        out = cnp.PyArray_SimpleNew(1, dims, cnp.NPY_FLOAT32)
        memcpy(cnp.PyArray_DATA(out), self.lateness, dims[0] * sizeof(float))
        return out

    # -- sending -------------------------------------------------------------------------

    cdef void _send_silence(self):
        cdef uint8_t packet[12 + FRAME]
        memcpy(&packet[12], self.silence, FRAME)
        self._send(packet, FRAME, False, self.payload_type, self.ts)

    def send_frame(self, frame, bint marker):
        """Encode 160 samples (None: silence) and send them as the next packet."""
        cdef uint8_t packet[12 + FRAME]
        cdef const int16_t* pcm
        cdef const uint8_t* table = &ULAW_ENC[0] if self.codec == CODEC_PCMU else &ALAW_ENC[0]
        cdef int i
        if frame is None:
            self._send_silence()
            return
        frame = _as_samples(frame)
        if cnp.PyArray_SIZE(frame) != FRAME:
            raise ValueError("a frame is 160 samples")
        pcm = <const int16_t*>cnp.PyArray_DATA(frame)
        for i in range(FRAME):
            packet[12 + i] = table[<uint16_t>pcm[i]]
        self._send(packet, FRAME, marker, self.payload_type, self.ts)

    def send_payload(self, const uint8_t[::1] payload, bint marker, int payload_type, unsigned int timestamp):
        """Send a ready payload (an RFC 4733 event) as the next packet, with its own timestamp."""
        cdef uint8_t packet[12 + 64]
        if payload.shape[0] > 64:
            raise ValueError("payload too long")
        memcpy(&packet[12], &payload[0], payload.shape[0])
        self._send(packet, payload.shape[0], marker, payload_type, timestamp)

    cdef void _send(self, uint8_t* packet, int length, bint marker, int payload_type, unsigned int timestamp):
        packet[0] = 0x80
        packet[1] = (0x80 if marker else 0) | (payload_type & 0x7F)
        packet[2], packet[3] = (self.seq >> 8) & 0xFF, self.seq & 0xFF
        packet[4], packet[5], packet[6], packet[7] = timestamp >> 24, (timestamp >> 16) & 0xFF, (timestamp >> 8) & 0xFF, timestamp & 0xFF
        packet[8], packet[9], packet[10], packet[11] = self.ssrc >> 24, (self.ssrc >> 16) & 0xFF, (self.ssrc >> 8) & 0xFF, self.ssrc & 0xFF
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = self.ts + FRAME  # unsigned: wraps at 2^32
        if self.fd < 0:
            return
        # a datagram the kernel drops counts as sent, as loss
        if sendto(self.fd, packet, 12 + length, MSG_DONTWAIT, <sockaddr*>&self.remote_sa, self.remote_len) < 0:
            self.send_errors += 1
        self.packets_out += 1
        self.octets_out += length

    def advance(self):
        """Time passes without a packet: the timestamp moves on, the sequence number does not."""
        self.ts = self.ts + FRAME
