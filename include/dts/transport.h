// transport.h: the interface a transport implements (DESIGN.md decision 8),
// and dts_transport_register, which makes one available to nodes. For
// plug-in authors; applications only use dts.h.
//
// A transport moves datagrams between nodes on channels. Channel 0 is the
// control channel (discovery); every other channel is the 64-bit id of a
// type, which the transport maps to its own addressing (udpm: a multicast
// group computed from it; docs/spec/wire.md, "Groups"). A transport may
// deliver datagrams of channels the node did not join (shared groups); the
// core filters by type id. It must never deliver a datagram longer than it
// received, and it must not reorder bytes within a datagram.
#ifndef DTS_TRANSPORT_H
#define DTS_TRANSPORT_H

#include <stddef.h>
#include <sys/uio.h>
#include <stdint.h>

#include <dts/dts.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DTS_CHANNEL_CONTROL 0
#define DTS_TRANSPORT_DGRAM_MIN 512   // smallest max_dgram a transport may give
#define DTS_TRANSPORT_DGRAM_MAX 65507 // largest: a UDP datagram's payload

// Where the core would have part of a received datagram land (rx_place):
// bytes [at, at + len) of the datagram straight into dst.
typedef struct dts_rx_place {
    size_t at;
    uint8_t *dst;
    size_t len;
} dts_rx_place;

// What the core gives a transport when it opens it.
typedef struct dts_transport_host {
    void *loop; // uv_loop_t* the transport registers its handles on
    void *ctx;  // passed back to on_recv
    // on_recv hands one received datagram to the core. data is borrowed
    // until on_recv returns; src is the sender's address as text. Loop
    // thread only; the transport calls it for each datagram of a batch.
    void (*on_recv)(void *ctx, const uint8_t *data, size_t len, const char *src);
    // on_recv_run, when not NULL, takes the datagrams of one receive that
    // came as a run of equal-sized ones (UDP GRO): the first len bytes of
    // data cut every seg bytes (the last may be shorter), in one call
    // instead of one on_recv each. Loop thread only.
    void (*on_recv_run)(void *ctx, const uint8_t *data, size_t len, size_t seg, const char *src);
    // on_batch, called (when not NULL) before the datagrams of one receive
    // batch (one system call), lets the core read the clock once for the
    // batch instead of once per datagram. A transport that never calls it
    // gets the clock read per datagram. Loop thread only.
    void (*on_batch)(void *ctx);
    // on_backlog, called (when not NULL) after a receive batch when the
    // socket still holds more than a quarter of its buffer, and more than at the
    // last check: the core is
    // falling behind and asks the publishers to slow down before datagrams
    // are dropped (docs/spec/wire.md, "Flow control"). queued and capacity
    // are in bytes. Loop thread only.
    void (*on_backlog)(void *ctx, size_t queued, size_t capacity);
    // rx_place, rx_check and on_recv_placed (all three set, or a transport
    // ignores them) receive the data of large messages straight where the
    // core reassembles them, without a copy. Before a receive of up to n
    // datagrams the transport may call rx_place, which fills p[0..k) and
    // returns k <= n: datagram i < k of that receive is wanted with its
    // bytes [p[i].at, p[i].at + p[i].len) in p[i].dst and its other bytes
    // where they would be without it (that range of the transport's buffer
    // left unwritten). p is a guess, made before the datagrams are seen. So
    // once they are received, and before it hands any of them on, the
    // transport calls rx_check(ctx, i, data, len) for each datagram i < k
    // (udpm counts a buffer that received a UDP GRO run of several as a
    // wrong guess): 1 means the guess was right, and the transport hands it to
    // on_recv_placed(ctx, i, data, len, src), where data is its buffer with
    // the placed range unwritten; 0 means wrong, and the transport copies
    // what landed in p[i].dst back into its buffer and hands the datagram to
    // on_recv as any other. Loop thread only.
    size_t (*rx_place)(void *ctx, dts_rx_place *p, size_t n);
    int (*rx_check)(void *ctx, size_t i, const uint8_t *data, size_t len);
    void (*on_recv_placed)(void *ctx, size_t i, const uint8_t *data, size_t len, const char *src);
} dts_transport_host;

typedef struct dts_transport_config {
    const char *url;   // as given to the node ("udpm://", "mem://bus")
    const char *iface; // interface name or IPv4 address, or NULL
    uint16_t port;
    int ttl;
    int loopback;
    int ipv6;
} dts_transport_config;

// One datagram to send: len bytes at data or, when iov is not NULL, the
// iovcnt pieces of iov one after the other (len is then their total); the
// core gathers messages that share a datagram this way instead of copying.
typedef struct dts_dgram {
    const void *data;
    size_t len;
    const struct iovec *iov;
    size_t iovcnt;
} dts_dgram;

typedef struct dts_transport_ops {
    // URL scheme this transport serves ("udpm").
    const char *scheme;
    // open creates the transport on host->loop. Loop thread (or before the
    // loop runs). On success *tp is owned by the core until close. Returns
    // DTS_ENOENT for an unknown interface, DTS_ETRANSPORT for socket errors.
    dts_err (*open)(const dts_transport_config *cfg, const dts_transport_host *host, void **tp);
    // close releases everything; handles close asynchronously and done(arg)
    // runs on the loop thread when the last one has closed. Loop thread.
    void (*close)(void *tp, void (*done)(void *arg), void *arg);
    // join and leave start and stop receiving a channel. Loop thread.
    // join may return DTS_ETRANSPORT (for example out of memberships).
    dts_err (*join)(void *tp, uint64_t channel);
    dts_err (*leave)(void *tp, uint64_t channel);
    // send transmits n datagrams on a channel without blocking, batching
    // system calls where it can. The buffers are borrowed for the call.
    // Returns how many were sent in *sent; a datagram that could not be sent
    // (socket buffer full, error) ends the batch. Loop thread, or a thread
    // publishing a large value (dts_publish_wait): never two sends at once,
    // nor one concurrently with close, but one may run while the loop thread
    // joins or leaves, so what send reads must not change then (or be
    // atomic).
    dts_err (*send)(void *tp, uint64_t channel, const dts_dgram *d, size_t n, size_t *sent);
    // max_dgram is the largest datagram this transport can carry, from
    // DTS_TRANSPORT_DGRAM_MIN to DTS_TRANSPORT_DGRAM_MAX bytes (a node does
    // not open on a transport that says otherwise: DTS_ETRANSPORT).
    size_t (*max_dgram)(void *tp);
    // describe writes a one-line human description ("udpm eth0 10.0.0.2
    // port 5555 ttl 1") for `dts doctor` and logs. Any thread.
    void (*describe)(void *tp, char *buf, size_t cap);
} dts_transport_ops;

// dts_transport_register makes a transport available to the nodes this
// process opens with a URL of its scheme (ops->scheme "tcp" serves
// "tcp://..."), beside the built-in udpm:// and mem://. The scheme is
// [a-z][a-z0-9+.-]*, at most 31 characters; open, close, join, leave, send
// and max_dgram must be set (describe may be NULL). ops is borrowed for the
// life of the process: a transport cannot be unregistered. Any thread;
// register before opening the nodes that use it. Errors: DTS_EINVAL (NULL,
// bad scheme, missing function), DTS_EEXIST (the scheme is served
// already), DTS_ENOMEM (DTS_TRANSPORT_REGISTER_MAX registered already).
#define DTS_TRANSPORT_REGISTER_MAX 16
dts_err dts_transport_register(const dts_transport_ops *ops);

#ifdef __cplusplus
}
#endif
#endif
