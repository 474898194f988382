/* The per-packet half of bench/media_capacity.py's load generator, in C (loaded with ctypes; the
 * bench builds it with the system's cc into a temporary folder). Python keeps the SIP, the phases
 * and the statistics; per 2 ms slot it calls send_slot() for that slot's calls and read_ready() for
 * whatever came back. At 500 calls the Python version spent about 23 µs per packet sent and
 * received, most of a core on this machine, and shared the CPUs with the server it measures.
 *
 *     cc -O2 -shared -fPIC -o rtp_load.so bench/rtp_load.c
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#define FRAME 160

typedef struct {  /* one call; the Python side fills fd, remote and up (numpy structured array) */
    int32_t fd;
    uint32_t ip;  /* remote address and port, network byte order */
    uint16_t port;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    int32_t frame;  /* the next frame of the looped caller signal */
    int32_t up;  /* 1: send media */
    int64_t sent;
} call_t;

typedef struct {  /* one datagram received */
    double t;  /* kernel receive time (CLOCK_REALTIME), s */
    int32_t call;
    uint16_t seq;
    uint8_t voice;  /* the payload is not µ-law silence */
    uint8_t payload_type;
} record_t;

/* Send the next frame on each listed call that is up. */
int send_slot(call_t *calls, const int32_t *idx, int n, const uint8_t *payloads, const uint8_t *markers,
              int nframes) {
    uint8_t packet[12 + FRAME];
    int sent = 0;
    for (int k = 0; k < n; k++) {
        call_t *c = &calls[idx[k]];
        if (!c->up)
            continue;
        packet[0] = 0x80;
        packet[1] = markers[c->frame];  /* 0x80 at a talkspurt's start, payload type 0 (PCMU) */
        packet[2] = c->seq >> 8, packet[3] = c->seq & 0xFF;
        packet[4] = c->ts >> 24, packet[5] = (c->ts >> 16) & 0xFF, packet[6] = (c->ts >> 8) & 0xFF, packet[7] = c->ts & 0xFF;
        packet[8] = c->ssrc >> 24, packet[9] = (c->ssrc >> 16) & 0xFF, packet[10] = (c->ssrc >> 8) & 0xFF,
        packet[11] = c->ssrc & 0xFF;
        memcpy(packet + 12, payloads + (size_t)c->frame * FRAME, FRAME);
        struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = c->port};
        to.sin_addr.s_addr = c->ip;
        if (sendto(c->fd, packet, sizeof packet, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof to) >= 0) {
            c->sent++;
            sent++;
        }
        c->seq++;
        c->ts += FRAME;
        c->frame = (c->frame + 1) % nframes;
    }
    return sent;
}

/* Read what the calls' sockets hold (registered in epfd with the call's index as data): up to
 * `rounds` datagrams per socket, each with its kernel receive time, appended to out[*count..cap).
 * RTP with payload type 0 or 101 only (an RTCP packet can reach a socket whose port is another
 * call's RTP port + 1). Returns the records added. */
int read_ready(int epfd, int rounds, record_t *out, int64_t *count, int64_t cap) {
    struct epoll_event evs[1024];
    uint8_t data[2048];
    char control[64];
    int added = 0;
    for (int r = 0; r < rounds; r++) {
        int n = epoll_wait(epfd, evs, 1024, 0);
        if (n <= 0)
            break;
        for (int i = 0; i < n; i++) {
            struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
            struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                                 .msg_controllen = sizeof control};
            int fd_call = (int)evs[i].data.u64;  /* low 32 bits: fd, high: call index */
            int call = (int)(evs[i].data.u64 >> 32);
            ssize_t size = recvmsg(fd_call, &msg, MSG_DONTWAIT);
            if (size < 12 || data[0] >> 6 != 2)
                continue;
            int pt = data[1] & 0x7F;
            if (pt != 0 && pt != 101)
                continue;
            double t = 0;
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(cm), sizeof ts);
                    t = ts.tv_sec + ts.tv_nsec * 1e-9;
                }
            }
            if (t == 0) {
                struct timespec now;
                clock_gettime(CLOCK_REALTIME, &now);
                t = now.tv_sec + now.tv_nsec * 1e-9;
            }
            int voice = 0;
            for (ssize_t k = 12; k < size; k++) {
                if (data[k] != 0xFF) {
                    voice = 1;
                    break;
                }
            }
            if (*count >= cap)
                return added;  /* full: the caller sized it for the whole run */
            record_t *rec = &out[(*count)++];
            rec->t = t;
            rec->call = call;
            rec->seq = (data[2] << 8) | data[3];
            rec->voice = voice;
            rec->payload_type = pt;
            added++;
        }
    }
    return added;
}

/* Watch a call's socket: its index goes with its fd in the event's data. */
int watch(int epfd, int fd, int call) {
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = ((uint64_t)(uint32_t)call << 32) | (uint32_t)fd;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}
