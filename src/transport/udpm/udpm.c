// udpm.c: the UDP multicast transport, "udpm://" (DESIGN.md decisions 1 and
// 9; docs/spec/wire.md, "Groups").
//
// Every type has its own group, computed from its type id; the control
// channel is 239.255.0.1 (ff15::4454:0:1 for IPv6). All groups share one
// port. Receiving uses a pool of sockets bound to that port, each holding
// at most UDPM_GROUPS_PER_SOCKET memberships (Linux allows 20 per socket by
// default, net.ipv4.igmp_max_memberships) and each with IP_MULTICAST_ALL
// off, so a socket only sees the groups it joined. Sending uses one
// unbound socket with the TTL, loopback and interface of the config.
// Batches go through sendmmsg and recvmmsg. Runs of equal-sized datagrams
// (a large message's fragments) go down the stack as one buffer that the
// kernel cuts into the same datagrams (UDP GSO, UDP_SEGMENT), and receive
// sockets accept such runs whole (UDP GRO), cut again here by the segment
// size the kernel reports: on the wire they are ordinary datagrams, each a
// whole dts fragment, so peers without GSO see no difference.
#define _GNU_SOURCE
#include <dts/transport.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/sock_diag.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/log.h"
#include "transport/registry.h"

#define UDPM_GROUPS_PER_SOCKET 20
#define UDPM_MAX_SOCKETS 64
#define UDPM_RECV_BATCH 8
#define UDPM_DGRAM_MAX 65507
#define UDPM_RX_BUF 65536  // one received datagram, or one GRO run of them
#define UDPM_GSO_SEGS 64   // datagrams one GSO send carries at most (the kernel's limit)
#define UDPM_SEND_IOV 1024 // pieces of one sendmmsg batch (IOV_MAX)
#define UDPM_RCVBUF (64 * 1024 * 1024)
#define UDPM_SNDBUF (16 * 1024 * 1024)
#define UDPM_MAX_GROUPS (UDPM_GROUPS_PER_SOCKET * UDPM_MAX_SOCKETS)
// Placed receives (udpm_place): one guessed datagram per buffer, each in up
// to three iovecs.
#define UDPM_RX_IOV (3 * UDPM_RECV_BATCH)

typedef struct udpm udpm;

typedef struct udpm_sock {
    int fd;
    uv_poll_t poll;
    int n_groups;
    udpm *owner;
    uint64_t backlog_checked_ms; // udpm_check_backlog: when, and what was queued then
    uint32_t backlog_last;
    size_t gro_seg; // segment size of the GRO runs received lately, 0 when none (udpm_place)
} udpm_sock;

// The receive side of placement (udpm_place), allocated once: guesses, the
// iovecs that put them, and which were made and which were right; guess i
// is for buffer i.
typedef struct udpm_rx {
    dts_rx_place pl[UDPM_RECV_BATCH];
    size_t k; // guesses made, for buffers 0..k-1
    unsigned char ok[UDPM_RECV_BATCH];
    struct iovec iov[UDPM_RX_IOV];
} udpm_rx;

// One joined group; channels that hash to the same group share it.
typedef struct udpm_group {
    struct sockaddr_storage addr;
    int refs;
    int sock; // index in socks
} udpm_group;

struct udpm {
    dts_transport_host host;
    int ipv6;
    uint16_t port;
    int ttl;
    int loopback;
    char iface_name[IF_NAMESIZE];
    unsigned ifindex;       // 0: let the kernel choose by route
    struct in_addr if_addr; // IPv4 address of the interface, or INADDR_ANY
    int send_fd;
    udpm_sock *socks[UDPM_MAX_SOCKETS];
    int n_socks;
    udpm_group *groups;
    int n_groups, cap_groups;
    uint8_t *rx_bufs; // UDPM_RECV_BATCH x UDPM_RX_BUF, allocated once
    udpm_rx *rx;      // placement, when the core asks for it
    int gso;          // the kernel took UDP_SEGMENT sends (cleared when it refuses one)
    struct sockaddr_storage src_addr; // the last sender and its text (udpm_src)
    char src_text[64];
    size_t max_dgram; // from the path MTU (udpm_path_mtu)
    int closing;
    void (*close_done)(void *);
    void *close_arg;
    int pending_closes;
};

// ---------------------------------------------------------------------------
// Groups

void
dtsi_udpm_group(uint64_t channel, int ipv6, char *buf, size_t cap)
{
    if (ipv6) {
        uint32_t low = channel == 0 ? 1 : (uint32_t)channel;
        if (channel != 0 && low == 1) low ^= 0x100;
        snprintf(buf, cap, "ff15::4454:%x:%x", low >> 16, low & 0xffff);
        return;
    }
    uint32_t a = dtsi_udpm_group_v4(channel);
    snprintf(buf, cap, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

uint32_t
dtsi_udpm_group_v4(uint64_t channel)
{
    if (channel == 0) return 0xefff0001u; // 239.255.0.1
    uint32_t x = 1 + (uint32_t)(channel % 255), y = 1 + (uint32_t)((channel >> 8) % 254);
    return 0xefff0000u | x << 8 | y; // 239.255.x.y
}

// udpm_group_addr gives the socket address of a channel's group; an IPv4
// one without formatting and parsing its text (every send call asks).
static void
udpm_group_addr(udpm *u, uint64_t channel, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (u->ipv6) {
        char text[64];
        dtsi_udpm_group(channel, u->ipv6, text, sizeof text);
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(u->port);
        inet_pton(AF_INET6, text, &a->sin6_addr);
        // udpm_fallback_lo may set it on the loop thread while a publishing
        // thread sends (dts_transport_ops.send).
        a->sin6_scope_id = __atomic_load_n(&u->ifindex, __ATOMIC_RELAXED);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(u->port);
        a->sin_addr.s_addr = htonl(dtsi_udpm_group_v4(channel));
    }
}

static int
udpm_addr_eq(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

// udpm_addr_text formats an address as IP:PORT. A datagram from 0.0.0.0 was
// sent on this host by a socket that had no address for the interface the
// route chose (multicast routed through lo: 127.0.0.1 is too narrow in
// scope for it), so it is shown as 127.0.0.1, which reaches the same socket.
static void
udpm_addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        struct in_addr ia = a->sin_addr;
        if (ia.s_addr == htonl(INADDR_ANY)) ia.s_addr = htonl(INADDR_LOOPBACK);
        inet_ntop(AF_INET, &ia, ip, sizeof ip);
        snprintf(buf, cap, "%s:%u", ip, ntohs(a->sin_port));
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(buf, cap, "[%s]:%u", ip, ntohs(a->sin6_port));
    }
}

// ---------------------------------------------------------------------------
// Interface selection

// udpm_log_interfaces lists the interfaces that exist, so that a user who
// mistyped one sees the right names (event "unknown-interface").
static void
udpm_log_interfaces(const char *wanted)
{
    struct if_nameindex *ifs = if_nameindex();
    char list[512] = "";
    size_t off = 0;
    for (struct if_nameindex *i = ifs; i && i->if_name; i++) {
        int n = snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "", i->if_name);
        if (n < 0 || (size_t)n >= sizeof list - off) break;
        off += (size_t)n;
    }
    if (ifs) if_freenameindex(ifs);
    DTSI_LOG(DTS_LOG_ERROR, DTS_CAT_TRANSPORT, "unknown-interface",
             "no interface named or addressed '%s'; interfaces here: %s", wanted, list);
}

// udpm_resolve_iface accepts an interface name or one of its IPv4
// addresses and fills ifindex, if_addr and iface_name.
static dts_err
udpm_resolve_iface(udpm *u, const char *want)
{
    struct in_addr asaddr;
    int by_addr = inet_pton(AF_INET, want, &asaddr) == 1;
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0) return DTS_ESYS;
    int found = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_name) continue;
        int v4 = i->ifa_addr && i->ifa_addr->sa_family == AF_INET;
        struct in_addr a = v4 ? ((struct sockaddr_in *)i->ifa_addr)->sin_addr : (struct in_addr){0};
        int match = by_addr ? (v4 && a.s_addr == asaddr.s_addr) : strcmp(i->ifa_name, want) == 0;
        if (!match) continue;
        found = 1;
        snprintf(u->iface_name, sizeof u->iface_name, "%s", i->ifa_name);
        u->ifindex = if_nametoindex(i->ifa_name);
        if (v4) u->if_addr = a;
        if (v4) break;
    }
    freeifaddrs(ifa);
    if (!found) {
        udpm_log_interfaces(want);
        return DTS_ENOENT;
    }
    return DTS_OK;
}

// ---------------------------------------------------------------------------
// Sockets

static void udpm_on_readable(uv_poll_t *h, int status, int events);

static int
udpm_setsockopt(int fd, int level, int opt, int val, const char *what)
{
    if (setsockopt(fd, level, opt, &val, sizeof val) == 0) return 0;
    DTSI_LOG(DTS_LOG_WARN, DTS_CAT_TRANSPORT, "socket-option", "setsockopt %s: %s", what,
             strerror(errno));
    return -1;
}

// udpm_check_buf warns, naming the sysctl, when the kernel granted less
// buffer than asked for.
static void
udpm_check_buf(int fd, int opt, int wanted, const char *sysctl)
{
    int got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(fd, SOL_SOCKET, opt, &got, &len) != 0) return;
    if (got / 2 < wanted / 2) {
        DTSI_LOG(DTS_LOG_INFO, DTS_CAT_TRANSPORT, "small-socket-buffer",
                 "kernel granted %d of %d bytes; raise it with: sysctl -w %s=%d", got / 2, wanted,
                 sysctl, wanted);
    }
}

static int
udpm_recv_socket_open(udpm *u)
{
    int fam = u->ipv6 ? AF_INET6 : AF_INET;
    int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    udpm_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
    // SO_RCVBUFFORCE passes net.core.rmem_max when we may (CAP_NET_ADMIN).
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int){UDPM_RCVBUF}, sizeof(int)) == 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){UDPM_RCVBUF}, sizeof(int)) == 0)
        udpm_check_buf(fd, SO_RCVBUF, UDPM_RCVBUF, "net.core.rmem_max");
    // Runs of datagrams arrive whole where the kernel can (udpm_on_readable
    // cuts them); an older kernel without UDP_GRO delivers them one by one.
    (void)setsockopt(fd, SOL_UDP, UDP_GRO, &(int){1}, sizeof(int));
    if (u->ipv6) {
        udpm_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY");
#ifdef IPV6_MULTICAST_ALL
        udpm_setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL");
#endif
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(u->port)};
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) goto fail;
    } else {
        udpm_setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL");
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(u->port)};
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) goto fail;
    }
    udpm_sock *s = calloc(1, sizeof *s);
    if (!s) goto fail;
    s->fd = fd;
    s->owner = u;
    if (uv_poll_init(u->host.loop, &s->poll, fd) != 0) {
        free(s);
        goto fail;
    }
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, udpm_on_readable);
    u->socks[u->n_socks] = s;
    return u->n_socks++;
fail:
    DTSI_LOG(DTS_LOG_ERROR, DTS_CAT_TRANSPORT, "socket-failed", "receive socket on port %u: %s",
             u->port, strerror(errno));
    close(fd);
    return -1;
}

static int
udpm_send_socket_open(udpm *u)
{
    int fam = u->ipv6 ? AF_INET6 : AF_INET;
    int fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int){UDPM_SNDBUF}, sizeof(int)) == 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){UDPM_SNDBUF}, sizeof(int)) == 0)
        udpm_check_buf(fd, SO_SNDBUF, UDPM_SNDBUF, "net.core.wmem_max");
    int ok = 0;
    // Never let IP fragment what we send (DESIGN.md decision 5): a datagram
    // over the path MTU fails with EMSGSIZE instead.
    if (u->ipv6)
        udpm_setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO, "IPV6_MTU_DISCOVER");
    else
        udpm_setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");
    if (u->ipv6) {
        ok |= udpm_setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, u->ttl, "IPV6_MULTICAST_HOPS");
        ok |= udpm_setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, u->loopback,
                              "IPV6_MULTICAST_LOOP");
        if (u->ifindex)
            ok |= udpm_setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, (int)u->ifindex,
                                  "IPV6_MULTICAST_IF");
    } else {
        ok |= udpm_setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, u->ttl, "IP_MULTICAST_TTL");
        ok |= udpm_setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, u->loopback, "IP_MULTICAST_LOOP");
        if (u->ifindex) {
            struct ip_mreqn m = {.imr_address = u->if_addr, .imr_ifindex = (int)u->ifindex};
            if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0) ok = -1;
        }
    }
    if (ok != 0) {
        close(fd);
        return -1;
    }
    u->send_fd = fd;
    u->gso = 1; // until the kernel refuses a UDP_SEGMENT send
    return 0;
}

// udpm_membership joins (add 1) or leaves (add 0) a group on a socket.
static int
udpm_membership(udpm *u, int fd, const struct sockaddr_storage *g, int add)
{
    if (u->ipv6) {
        struct ipv6_mreq m = {.ipv6mr_interface = u->ifindex};
        m.ipv6mr_multiaddr = ((const struct sockaddr_in6 *)g)->sin6_addr;
        return setsockopt(fd, IPPROTO_IPV6, add ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m, sizeof m);
    }
    struct ip_mreqn m = {.imr_address = u->if_addr, .imr_ifindex = (int)u->ifindex};
    m.imr_multiaddr = ((const struct sockaddr_in *)g)->sin_addr;
    return setsockopt(fd, IPPROTO_IP, add ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m, sizeof m);
}

// udpm_path_mtu finds the MTU towards the control group: that of the
// chosen interface, else of the interface the route picks (a connected
// socket's IP_MTU). The largest datagram is that minus the IP and UDP
// headers. Falls back to 1500 when neither is known.
static void
udpm_path_mtu(udpm *u)
{
    int mtu = 0;
    int fd = socket(u->ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && u->iface_name[0]) {
        struct ifreq ifr = {0};
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", u->iface_name);
        if (ioctl(fd, SIOCGIFMTU, &ifr) == 0) mtu = ifr.ifr_mtu;
    } else if (fd >= 0) {
        struct sockaddr_storage g;
        udpm_group_addr(u, 0, &g);
        socklen_t gl = u->ipv6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        socklen_t ml = sizeof mtu;
        if (connect(fd, (struct sockaddr *)&g, gl) != 0 ||
            getsockopt(fd, u->ipv6 ? IPPROTO_IPV6 : IPPROTO_IP, u->ipv6 ? IPV6_MTU : IP_MTU, &mtu,
                       &ml) != 0)
            mtu = 0;
    }
    if (fd >= 0) close(fd);
    if (mtu < 1280) mtu = 1500;
    size_t hdrs = u->ipv6 ? 48 : 28;
    u->max_dgram = (size_t)mtu - hdrs;
    if (u->max_dgram > UDPM_DGRAM_MAX) u->max_dgram = UDPM_DGRAM_MAX;
}

// ---------------------------------------------------------------------------
// Receive

// udpm_src gives the text of a sender's address, formatted again only when
// the sender changes (a datagram of a busy stream costs no formatting).
static const char *
udpm_src(udpm *u, const struct sockaddr_storage *from)
{
    size_t len =
        from->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!u->src_text[0] || memcmp(&u->src_addr, from, len) != 0) {
        memcpy(&u->src_addr, from, len);
        udpm_addr_text(from, u->src_text, sizeof u->src_text);
    }
    return u->src_text;
}

// udpm_gro_size returns the segment size the kernel reports for a run of
// datagrams received as one (UDP_GRO), or 0 for a single datagram.
static size_t
udpm_gro_size(struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            return v > 0 ? (size_t)v : 0;
        }
    }
    return 0;
}

// udpm_check_backlog tells the core (on_backlog) when, after a full batch of
// reads, the socket holds more than a quarter of its buffer and more than at
// the last check (or more than three quarters); at most once a millisecond
// per socket (SO_MEMINFO is a system call). A quarter, because a pacing
// burst alone may fill a twelfth, and because the reader may lose its core
// for a few milliseconds on a busy machine while the sender goes on: at
// half, a 16 KiB stream over a 1500-byte MTU that a faster reader had
// brought to the edge overflowed in 3 of 6 runs (each after 170-550
// SLOWs); at a quarter, 0 of 12.
static void
udpm_check_backlog(udpm *u, udpm_sock *s)
{
    if (!u->host.on_backlog) return;
    uint64_t now = uv_hrtime() / 1000000u;
    if (now == s->backlog_checked_ms) return;
    s->backlog_checked_ms = now;
    uint32_t mi[SK_MEMINFO_VARS];
    socklen_t len = sizeof mi;
    if (getsockopt(s->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) != 0 ||
        len < (SK_MEMINFO_RCVBUF + 1) * sizeof *mi)
        return;
    uint32_t queued = mi[SK_MEMINFO_RMEM_ALLOC], last = s->backlog_last;
    s->backlog_last = queued;
    // Only a backlog that still grows: one that shrinks is being caught up
    // with, and asking again then would slow the sender for nothing; unless
    // a quarter of the buffer is all that is left, which a burst may fill.
    uint32_t cap = mi[SK_MEMINFO_RCVBUF];
    if (queued > cap / 4 && (queued > last || queued > cap / 4 * 3))
        u->host.on_backlog(u->host.ctx, queued, cap);
}

// udpm_place sets up the buffers of one recvmmsg. Without placement, buffer
// i takes datagram i. With it (the core's rx_place), buffer i expects
// guess i: its bytes [at, at + len) go to its dst and the others to where
// they would be in the buffer, so that it reads as the datagram with a hole
// where the guessed data is. A datagram longer than guessed spills on into
// the buffer, and udpm_unplace puts it together again. While the socket's
// datagrams come in UDP GRO runs (gro_seg), nothing is guessed: cutting a
// run of 1500-byte-MTU fragments into three pieces each for the kernel,
// one run per system call, cost the subscriber more than copying them out
// of runs read eight at a time (docs/PERFORMANCE.md).
static void
udpm_place(udpm *u, udpm_sock *s, struct mmsghdr *msgs)
{
    udpm_rx *rx = u->rx;
    if (!rx) return;
    size_t k = s->gro_seg ? 0 : u->host.rx_place(u->host.ctx, rx->pl, UDPM_RECV_BATCH);
    for (size_t i = 0; i < k; i++) {
        const dts_rx_place *p = &rx->pl[i];
        if (p->at + p->len > UDPM_RX_BUF) { // does not fit: no more guesses
            k = i;
            break;
        }
        uint8_t *b = u->rx_bufs + i * UDPM_RX_BUF;
        struct iovec *v = rx->iov + 3 * i;
        size_t nv = 0;
        v[nv++] = (struct iovec){b, p->at};
        v[nv++] = (struct iovec){p->dst, p->len};
        if (p->at + p->len < UDPM_RX_BUF)
            v[nv++] = (struct iovec){b + p->at + p->len, UDPM_RX_BUF - p->at - p->len};
        msgs[i].msg_hdr.msg_iov = v;
        msgs[i].msg_hdr.msg_iovlen = nv;
    }
    rx->k = k;
}

// udpm_unplace checks the guess of buffer i, which received len bytes cut
// in segments of seg (0 for one datagram), with the core (rx_check), and
// copies the bytes of a wrong guess back where they belong in the buffer.
// All buffers of a recvmmsg are checked before any datagram is handed on,
// since handing one on may write where another was guessed.
static void
udpm_unplace(udpm *u, size_t i, size_t len, size_t seg)
{
    udpm_rx *rx = u->rx;
    if (i >= rx->k) return;
    const dts_rx_place *p = &rx->pl[i];
    uint8_t *b = u->rx_bufs + i * UDPM_RX_BUF;
    rx->ok[i] = len > 0 && !seg && u->host.rx_check(u->host.ctx, i, b, len);
    if (!rx->ok[i] && p->at < len) {
        size_t n_back = len - p->at < p->len ? len - p->at : p->len;
        memcpy(b + p->at, p->dst, n_back);
    }
}

// udpm_deliver hands the datagrams of buffer i (len bytes, segments of
// seg, 0 for one datagram) to the core, a placed one as such.
static void
udpm_deliver(udpm *u, size_t i, size_t len, size_t seg, const char *src)
{
    udpm_rx *rx = u->rx;
    const uint8_t *d = u->rx_bufs + i * UDPM_RX_BUF;
    if (rx && i < rx->k && rx->ok[i]) {
        u->host.on_recv_placed(u->host.ctx, i, d, len, src);
        return;
    }
    if (!seg || seg >= len) seg = len;
    if (seg < len && u->host.on_recv_run) {
        u->host.on_recv_run(u->host.ctx, d, len, seg, src);
        return;
    }
    for (size_t off = 0; off < len && !u->closing; off += seg)
        u->host.on_recv(u->host.ctx, d + off, len - off < seg ? len - off : seg, src);
}

// udpm_on_readable drains a socket with recvmmsg, UDPM_RECV_BATCH buffers
// per system call, for a bounded number of calls so one busy socket cannot
// starve the loop. A buffer holding a GRO run is cut at the segment size
// into the datagrams that were sent. Truncated datagrams (larger than the
// buffer) are handed on cut, and the core rejects them by their length
// fields.
static void
udpm_on_readable(uv_poll_t *h, int status, int events)
{
    udpm_sock *s = h->data;
    udpm *u = s->owner;
    if (status < 0 || u->closing) return;
    struct mmsghdr msgs[UDPM_RECV_BATCH];
    struct iovec iov[UDPM_RECV_BATCH];
    struct sockaddr_storage from[UDPM_RECV_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl[UDPM_RECV_BATCH];
    // At most 96 buffers (8 full batches) per call, so that one busy socket
    // cannot starve the loop.
    for (int bufs = 0; bufs < 8 * UDPM_RECV_BATCH;) {
        for (int i = 0; i < UDPM_RECV_BATCH; i++) {
            iov[i] = (struct iovec){u->rx_bufs + (size_t)i * UDPM_RX_BUF, UDPM_RX_BUF};
            msgs[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
                                              .msg_namelen = sizeof from[i],
                                              .msg_iov = &iov[i],
                                              .msg_iovlen = 1,
                                              .msg_control = ctl[i].buf,
                                              .msg_controllen = sizeof ctl[i].buf};
        }
        udpm_place(u, s, msgs);
        int n = recvmmsg(s->fd, msgs, UDPM_RECV_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        bufs += n;
        if (u->host.on_batch) u->host.on_batch(u->host.ctx);
        size_t seg[UDPM_RECV_BATCH];
        for (int i = 0; i < n; i++) {
            size_t len = msgs[i].msg_len;
            seg[i] = udpm_gro_size(&msgs[i].msg_hdr);
            if (seg[i] >= len) seg[i] = 0;
            if (u->rx) udpm_unplace(u, (size_t)i, len, seg[i]);
            // Runs come: guess nothing (udpm_place), until a lone datagram
            // longer than their segments says otherwise.
            if (seg[i])
                s->gro_seg = seg[i];
            else if (len > s->gro_seg)
                s->gro_seg = 0;
        }
        for (int i = 0; i < n && !u->closing; i++)
            udpm_deliver(u, (size_t)i, msgs[i].msg_len, seg[i], udpm_src(u, &from[i]));
        if (n < UDPM_RECV_BATCH) return;
        udpm_check_backlog(u, s); // a full batch: is more waiting than we read?
    }
}

// ---------------------------------------------------------------------------
// Ops

static dts_err
udpm_open(const dts_transport_config *cfg, const dts_transport_host *host, void **tp)
{
    udpm *u = calloc(1, sizeof *u);
    if (!u) return DTS_ENOMEM;
    u->host = *host;
    u->ipv6 = cfg->ipv6;
    u->port = cfg->port;
    u->ttl = cfg->ttl;
    u->loopback = cfg->loopback;
    u->send_fd = -1;
    const char *iface = cfg->iface;
    const char *rest = cfg->url ? strstr(cfg->url, "://") : NULL;
    if (rest && rest[3]) iface = rest + 3; // "udpm://eth0"
    dts_err err = DTS_OK;
    if (iface && *iface) err = udpm_resolve_iface(u, iface);
    if (err == DTS_OK) u->rx_bufs = malloc((size_t)UDPM_RECV_BATCH * UDPM_RX_BUF);
    if (err == DTS_OK && host->rx_place && host->rx_check && host->on_recv_placed)
        u->rx = malloc(sizeof *u->rx); // without it, receives are not placed
    if (err == DTS_OK && !u->rx_bufs) err = DTS_ENOMEM;
    if (err == DTS_OK && udpm_send_socket_open(u) != 0) err = DTS_ETRANSPORT;
    if (err == DTS_OK && udpm_recv_socket_open(u) < 0) err = DTS_ETRANSPORT;
    if (err == DTS_OK) udpm_path_mtu(u);
    if (err != DTS_OK) {
        if (u->send_fd >= 0) close(u->send_fd);
        free(u->rx_bufs);
        free(u->rx);
        free(u);
        return err;
    }
    *tp = u;
    return DTS_OK;
}

static void
udpm_sock_closed(uv_handle_t *h)
{
    udpm_sock *s = h->data;
    udpm *u = s->owner;
    close(s->fd);
    free(s);
    if (--u->pending_closes == 0) {
        void (*done)(void *) = u->close_done;
        void *arg = u->close_arg;
        free(u->groups);
        free(u->rx_bufs);
        free(u->rx);
        free(u);
        if (done) done(arg);
    }
}

static void
udpm_close(void *tp, void (*done)(void *), void *arg)
{
    udpm *u = tp;
    u->closing = 1;
    u->close_done = done;
    u->close_arg = arg;
    if (u->send_fd >= 0) close(u->send_fd);
    u->send_fd = -1;
    u->pending_closes = u->n_socks;
    for (int i = 0; i < u->n_socks; i++) {
        uv_poll_stop(&u->socks[i]->poll);
        uv_close((uv_handle_t *)&u->socks[i]->poll, udpm_sock_closed);
    }
}

static int
udpm_group_find(udpm *u, const struct sockaddr_storage *g)
{
    for (int i = 0; i < u->n_groups; i++)
        if (udpm_addr_eq(&u->groups[i].addr, g)) return i;
    return -1;
}

// udpm_pick_socket returns a socket with room for one more membership,
// opening a new one when all are full.
static int
udpm_pick_socket(udpm *u)
{
    for (int i = 0; i < u->n_socks; i++)
        if (u->socks[i]->n_groups < UDPM_GROUPS_PER_SOCKET) return i;
    if (u->n_socks >= UDPM_MAX_SOCKETS) return -1;
    return udpm_recv_socket_open(u);
}

// udpm_fallback_lo handles a host with no route for multicast and no
// interface chosen: it keeps to the loopback interface, so processes on
// this host still talk, and says how to reach the LAN (event
// "no-multicast-route"; `dts doctor` explains more).
static int
udpm_fallback_lo(udpm *u)
{
    unsigned lo = if_nametoindex("lo");
    if (lo == 0) return -1;
    __atomic_store_n(&u->ifindex, lo, __ATOMIC_RELAXED); // read by sends on other threads
    u->if_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(u->iface_name, sizeof u->iface_name, "lo");
    if (u->ipv6) {
        setsockopt(u->send_fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &(int){(int)lo}, sizeof(int));
    } else {
        struct ip_mreqn m = {.imr_address = u->if_addr, .imr_ifindex = (int)lo};
        setsockopt(u->send_fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
    }
    DTSI_LOG(DTS_LOG_WARN, DTS_CAT_TRANSPORT, "no-multicast-route",
             "no route for multicast: using interface lo only, so only this host is reached; "
             "add one with: ip route add 224.0.0.0/4 dev IFACE (see dts doctor)");
    return 0;
}

static dts_err
udpm_join(void *tp, uint64_t channel)
{
    udpm *u = tp;
    struct sockaddr_storage g;
    udpm_group_addr(u, channel, &g);
    int gi = udpm_group_find(u, &g);
    if (gi >= 0) {
        u->groups[gi].refs++;
        return DTS_OK;
    }
    if (u->n_groups == u->cap_groups) {
        int cap = u->cap_groups ? 2 * u->cap_groups : 16;
        if (cap > UDPM_MAX_GROUPS) cap = UDPM_MAX_GROUPS;
        if (cap == u->n_groups) return DTS_ETRANSPORT;
        udpm_group *ng = realloc(u->groups, (size_t)cap * sizeof *ng);
        if (!ng) return DTS_ENOMEM;
        u->groups = ng;
        u->cap_groups = cap;
    }
    int si = udpm_pick_socket(u);
    if (si < 0) return DTS_ETRANSPORT;
    int rc = udpm_membership(u, u->socks[si]->fd, &g, 1);
    if (rc != 0 && errno == ENODEV && u->ifindex == 0 && udpm_fallback_lo(u) == 0)
        rc = udpm_membership(u, u->socks[si]->fd, &g, 1);
    if (rc != 0) {
        char text[80];
        udpm_addr_text(&g, text, sizeof text);
        DTSI_LOG(DTS_LOG_ERROR, DTS_CAT_TRANSPORT, "join-failed", "join %s: %s", text,
                 strerror(errno));
        return DTS_ETRANSPORT;
    }
    u->socks[si]->n_groups++;
    u->groups[u->n_groups++] = (udpm_group){.addr = g, .refs = 1, .sock = si};
    return DTS_OK;
}

static dts_err
udpm_leave(void *tp, uint64_t channel)
{
    udpm *u = tp;
    struct sockaddr_storage g;
    udpm_group_addr(u, channel, &g);
    int gi = udpm_group_find(u, &g);
    if (gi < 0) return DTS_ENOENT;
    if (--u->groups[gi].refs > 0) return DTS_OK;
    udpm_sock *s = u->socks[u->groups[gi].sock];
    udpm_membership(u, s->fd, &g, 0);
    s->n_groups--;
    u->groups[gi] = u->groups[--u->n_groups];
    return DTS_OK;
}

// udpm_run counts the datagrams from d[0] that one GSO send can carry:
// all of d[0]'s size except perhaps a shorter last one, at most
// UDPM_GSO_SEGS of them and UDPM_DGRAM_MAX bytes in all, and pieces that
// fit the iovecs left. Returns 0 when d[0] itself does not fit them.
static size_t
udpm_run(const udpm *u, const dts_dgram *d, size_t n, size_t iov_left)
{
    size_t k = 0, total = 0, pieces = 0;
    while (k < n && k < UDPM_GSO_SEGS) {
        size_t p = d[k].iov ? d[k].iovcnt : 1;
        if (k && (d[k].len > d[0].len || total + d[k].len > UDPM_DGRAM_MAX)) break;
        if (pieces + p > iov_left) break;
        total += d[k].len;
        pieces += p;
        k++;
        if (!u->gso || d[k - 1].len < d[0].len) break; // a shorter one ends a run
    }
    return k;
}

// One sendmmsg call's worth of messages: each is one datagram or one GSO
// run of them (counts), over the pieces in iov.
enum { UDPM_SEND_BATCH = 64 };
typedef struct udpm_batch {
    struct mmsghdr msgs[UDPM_SEND_BATCH];
    size_t counts[UDPM_SEND_BATCH], k;
    struct iovec iov[UDPM_SEND_IOV];
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t))];
        struct cmsghdr align;
    } ctl[UDPM_SEND_BATCH];
} udpm_batch;

// udpm_batch_fill puts as many of the n datagrams d into b as fit, to the
// group g; returns how many, 0 when d[0] alone has more pieces than a
// message may.
static size_t
udpm_batch_fill(const udpm *u, udpm_batch *b, const dts_dgram *d, size_t n,
                struct sockaddr_storage *g, socklen_t glen)
{
    size_t at = 0, used = 0;
    b->k = 0;
    while (b->k < UDPM_SEND_BATCH && at < n && used < UDPM_SEND_IOV) {
        size_t c = udpm_run(u, d + at, n - at, UDPM_SEND_IOV - used), first = used;
        if (c == 0) break;
        for (size_t j = 0; j < c; j++) {
            const dts_dgram *dj = &d[at + j];
            if (dj->iov) {
                memcpy(&b->iov[used], dj->iov, dj->iovcnt * sizeof *b->iov);
                used += dj->iovcnt;
            } else if (used > first &&
                       (const uint8_t *)b->iov[used - 1].iov_base + b->iov[used - 1].iov_len ==
                           dj->data) {
                b->iov[used - 1].iov_len += dj->len; // one piece: the kernel copies it faster
            } else {
                b->iov[used++] = (struct iovec){(void *)dj->data, dj->len};
            }
        }
        struct msghdr *mh = &b->msgs[b->k].msg_hdr;
        *mh = (struct msghdr){.msg_name = g,
                              .msg_namelen = glen,
                              .msg_iov = &b->iov[first],
                              .msg_iovlen = used - first};
        if (c > 1) {
            struct cmsghdr *cm = (struct cmsghdr *)b->ctl[b->k].buf;
            *cm = (struct cmsghdr){.cmsg_level = SOL_UDP,
                                   .cmsg_type = UDP_SEGMENT,
                                   .cmsg_len = CMSG_LEN(sizeof(uint16_t))};
            uint16_t seg = (uint16_t)d[at].len;
            memcpy(CMSG_DATA(cm), &seg, sizeof seg);
            mh->msg_control = b->ctl[b->k].buf;
            mh->msg_controllen = sizeof b->ctl[b->k].buf;
        }
        b->counts[b->k++] = c;
        at += c;
    }
    return at;
}

// udpm_send sends n datagrams with sendmmsg, each run of equal-sized ones
// as one UDP_SEGMENT message while the kernel takes them (udpm_run).
static dts_err
udpm_send(void *tp, uint64_t channel, const dts_dgram *d, size_t n, size_t *sent)
{
    udpm *u = tp;
    *sent = 0;
    if (u->send_fd < 0) return DTS_ECLOSED;
    struct sockaddr_storage g;
    udpm_group_addr(u, channel, &g);
    socklen_t glen = u->ipv6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    udpm_batch b;
    while (*sent < n) {
        if (udpm_batch_fill(u, &b, d + *sent, n - *sent, &g, glen) == 0) return DTS_EINVAL;
        int r = sendmmsg(u->send_fd, b.msgs, (unsigned)b.k, MSG_DONTWAIT);
        if (r < 0 && b.counts[0] > 1 &&
            (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP ||
             errno == EMSGSIZE)) {
            // The kernel or the device refused GSO: send one by one from now on.
            DTSI_LOG(DTS_LOG_INFO, DTS_CAT_TRANSPORT, "gso-off", "UDP_SEGMENT refused (%s)",
                     strerror(errno));
            u->gso = 0;
            continue;
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) return DTS_EQUEUE;
            DTSI_LOG(DTS_LOG_WARN, DTS_CAT_TRANSPORT, "send-failed", "sendmmsg: %s",
                     strerror(errno));
            return DTS_ETRANSPORT;
        }
        for (int i = 0; i < r; i++) *sent += b.counts[i];
        if ((size_t)r < b.k) return DTS_EQUEUE;
    }
    return DTS_OK;
}

static size_t
udpm_max_dgram(void *tp)
{
    return ((udpm *)tp)->max_dgram;
}

static void
udpm_describe(void *tp, char *buf, size_t cap)
{
    udpm *u = tp;
    char ip[INET_ADDRSTRLEN] = "any";
    if (u->if_addr.s_addr) inet_ntop(AF_INET, &u->if_addr, ip, sizeof ip);
    snprintf(buf, cap,
             "udpm %s iface=%s addr=%s port=%u ttl=%d loopback=%s max_datagram=%zu groups=%d "
             "sockets=%d",
             u->ipv6 ? "ipv6" : "ipv4", u->iface_name[0] ? u->iface_name : "(route)", ip, u->port,
             u->ttl, u->loopback ? "on" : "off", u->max_dgram, u->n_groups, u->n_socks);
}

const dts_transport_ops dtsi_udpm_ops = {
    .scheme = "udpm",
    .open = udpm_open,
    .close = udpm_close,
    .join = udpm_join,
    .leave = udpm_leave,
    .send = udpm_send,
    .max_dgram = udpm_max_dgram,
    .describe = udpm_describe,
};
