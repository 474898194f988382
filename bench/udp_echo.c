/* The C variant of bench/udp_floor.py's echo: N UDP sockets on loopback (even ports from BASE),
 * epoll, and every datagram sent straight back. What is left of its CPU is the kernel's work per
 * packet (and the syscalls): the floor under any media plane on this machine, Python or not.
 *
 *     cc -O2 -o udp_echo bench/udp_echo.c && ./udp_echo N BASE      (udp_floor.py builds and runs it)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s N BASE_PORT\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), base = atoi(argv[2]);
    int ep = epoll_create1(0);
    if (n < 1 || base < 1 || base + 2 * n > 65536 || ep < 0) {
        fprintf(stderr, "bad arguments, or no epoll\n");
        return 2;
    }
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(base + 2 * i)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            perror("bind");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);
    struct epoll_event evs[256];
    char buf[2048];
    for (;;) {
        int k = epoll_wait(ep, evs, 256, 1000);
        for (int j = 0; j < k; j++) {
            int fd = evs[j].data.fd;
            for (;;) {
                struct sockaddr_in from;
                socklen_t len = sizeof from;
                ssize_t got = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
                if (got < 0)
                    break; /* EAGAIN: this socket is drained */
                sendto(fd, buf, (size_t)got, 0, (struct sockaddr *)&from, len);
            }
        }
    }
}
