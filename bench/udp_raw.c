// udp_raw.c: the raw-UDP limit that dts figures are compared with.
//
//   udp_raw recv --size N --seconds S [--port P] [--plain]
//   udp_raw send --size N --seconds S [--port P] [--plain]
//   udp_raw pong --size N [--port P]            (echoes datagrams back)
//   udp_raw ping --size N --count K [--port P]  (round trips)
//
// One message per datagram (messages over 65507 bytes are cut into
// 65507-byte datagrams with no header: the receiver counts bytes), to the
// multicast group 239.255.200.1 on the loopback route of the private
// namespace the caller made (bench/run). The sender sends as fast as it can
// (sendmmsg, 64 per call; --plain: one sendto per datagram) for S seconds,
// then a few end markers; the receiver (recvmmsg; --plain: one recv per
// datagram) prints one JSON line with
// delivered messages/s, MB/s and loss, measured between the first and the
// last datagram it received. No pacing: this is the limit of the system
// calls and the kernel, with whatever it drops.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GROUP "239.255.200.1"
#define DGRAM_MAX 65507
#define BATCH 64

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int
sock_open(int port, int recv)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 8 << 20, one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, recv ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, &big, sizeof big);
    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &zero, sizeof zero);
    if (recv) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) perror("bind");
        struct ip_mreqn m = {.imr_multiaddr.s_addr = inet_addr(GROUP)};
        if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) != 0) perror("join");
    }
    return fd;
}

static int
run_recv(size_t size, double seconds, int port, int plain)
{
    int fd = sock_open(port, 1);
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t dg = size < DGRAM_MAX ? size : DGRAM_MAX;
    uint8_t *bufs = malloc(BATCH * DGRAM_MAX);
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint64_t bytes = 0, dgrams = 0, sent = 0;
    double first = 0, last = 0, end = now_s() + seconds + 10;
    int done = 0;
    while (!done && now_s() < end) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){bufs + (size_t)i * DGRAM_MAX, DGRAM_MAX};
            msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
        }
        int n;
        if (plain) {
            ssize_t r = recv(fd, bufs, DGRAM_MAX, 0);
            msgs[0].msg_len = r > 0 ? (unsigned)r : 0;
            n = r >= 0 ? 1 : -1;
        } else {
            n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        }
        for (int i = 0; i < n; i++) {
            if (msgs[i].msg_len == 8) { // end marker: the count of datagrams sent
                memcpy(&sent, iov[i].iov_base, 8);
                done = 1;
                continue;
            }
            if (!first) first = now_s();
            last = now_s();
            bytes += msgs[i].msg_len;
            dgrams++;
        }
    }
    double dt = last > first ? last - first : 1e-9;
    double per_msg = (double)size / (double)dg;
    double msgs_delivered = (double)dgrams / per_msg;
    double loss = sent ? 100.0 * (1.0 - (double)dgrams / (double)sent) : 0;
    printf(
        "{\"tool\":\"udp_raw\",\"size\":%zu,\"sent_datagrams\":%llu,\"delivered_datagrams\":%llu,"
        "\"delivered_per_s\":%.0f,\"mb_per_s\":%.1f,\"loss_pct\":%.2f,\"peak_rss_kb\":%ld}\n",
        size, (unsigned long long)sent, (unsigned long long)dgrams, msgs_delivered / dt,
        (double)bytes / dt / 1e6, loss < 0 ? 0 : loss, peak_rss_kb());
    free(bufs);
    return dgrams ? 0 : 1;
}

static int
run_send(size_t size, double seconds, int port, int plain)
{
    int fd = sock_open(port, 0);
    struct sockaddr_in g = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    g.sin_addr.s_addr = inet_addr(GROUP);
    size_t dg = size < DGRAM_MAX ? size : DGRAM_MAX;
    uint8_t *buf = calloc(1, DGRAM_MAX);
    struct mmsghdr msgs[BATCH];
    struct iovec iov = {buf, dg};
    for (int i = 0; i < BATCH; i++)
        msgs[i].msg_hdr = (struct msghdr){
            .msg_name = &g, .msg_namelen = sizeof g, .msg_iov = &iov, .msg_iovlen = 1};
    uint64_t sent = 0;
    double end = now_s() + seconds;
    usleep(300000); // the receiver binds first (bench/run starts it before us)
    while (now_s() < end) {
        if (plain) {
            if (sendto(fd, buf, dg, 0, (struct sockaddr *)&g, sizeof g) > 0) sent++;
        } else {
            int n = sendmmsg(fd, msgs, BATCH, 0);
            if (n > 0) sent += (uint64_t)n;
        }
    }
    usleep(200000);
    for (int i = 0; i < 5; i++) { // end markers carry the count
        sendto(fd, &sent, 8, 0, (struct sockaddr *)&g, sizeof g);
        usleep(20000);
    }
    fprintf(stderr, "udp_raw send: %llu datagrams of %zu bytes\n", (unsigned long long)sent, dg);
    free(buf);
    return 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// run_ping measures round trips of one datagram through an echoing pong on
// group+1 port: it sends on port, the pong answers on port + 1.
static int
run_ping(size_t size, long count, int port)
{
    int tx = sock_open(port, 0), rx = sock_open(port + 1, 1);
    struct timeval tv = {1, 0};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in g = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    g.sin_addr.s_addr = inet_addr(GROUP);
    uint8_t buf[DGRAM_MAX] = {0};
    double *rtt = calloc((size_t)count, sizeof *rtt);
    long got = 0;
    usleep(300000);
    for (long i = 0; i < count + 100; i++) { // 100 warm-up round trips
        double t0 = now_s();
        sendto(tx, buf, size, 0, (struct sockaddr *)&g, sizeof g);
        if (recv(rx, buf, sizeof buf, 0) <= 0) continue;
        if (i >= 100) rtt[got++] = (now_s() - t0) * 1e6;
    }
    qsort(rtt, (size_t)got, sizeof *rtt, cmp_double);
    if (got == 0) return 1;
    printf("{\"tool\":\"udp_raw\",\"size\":%zu,\"round_trips\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,"
           "\"p99_us\":%.1f,\"max_us\":%.1f,\"peak_rss_kb\":%ld}\n",
           size, got, rtt[got / 2], rtt[got * 9 / 10], rtt[got * 99 / 100], rtt[got - 1],
           peak_rss_kb());
    sendto(tx, "quit", 4, 0, (struct sockaddr *)&g, sizeof g);
    free(rtt);
    return 0;
}

static int
run_pong(int port)
{
    int rx = sock_open(port, 1), tx = sock_open(port + 1, 0);
    struct sockaddr_in g = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(port + 1))};
    g.sin_addr.s_addr = inet_addr(GROUP);
    uint8_t buf[DGRAM_MAX];
    for (;;) {
        ssize_t n = recv(rx, buf, sizeof buf, 0);
        if (n == 4 && memcmp(buf, "quit", 4) == 0) return 0;
        if (n > 0) sendto(tx, buf, (size_t)n, 0, (struct sockaddr *)&g, sizeof g);
    }
}

int
main(int argc, char **argv)
{
    size_t size = 64;
    double seconds = 3;
    long count = 10000;
    int port = 5600, plain = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--port") && i + 1 < argc)
            port = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--plain"))
            plain = 1;
        else
            argc = 0;
    }
    if (argc < 2 || size < 9 || count < 1) {
        fprintf(stderr, "usage: udp_raw recv|send|ping|pong --size N [--seconds S] [--count K] "
                        "[--port P] [--plain]\n");
        return 2;
    }
    if (!strcmp(argv[1], "recv")) return run_recv(size, seconds, port, plain);
    if (!strcmp(argv[1], "send")) return run_send(size, seconds, port, plain);
    if (!strcmp(argv[1], "ping")) return run_ping(size, count, port);
    if (!strcmp(argv[1], "pong")) return run_pong(port);
    fprintf(stderr, "udp_raw: unknown mode %s\n", argv[1]);
    return 2;
}
