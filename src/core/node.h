// node.h: the node's internal state, shared by node.c (lifecycle, publish,
// receive, dispatch, queries, introspection) and disc.c (discovery).
//
// Locking: one recursive mutex (node->mu) guards everything below. The loop
// thread holds it while it handles a datagram or a timer tick, and calls
// application callbacks with it held, so a callback may call back into the
// API, and dts_sub_close from another thread waits for a running callback.
// Transport ops are only called on the loop thread.
#ifndef DTSI_NODE_H
#define DTSI_NODE_H

#include <dts/dts.h>
#include <dts/transport.h>

#include <pthread.h>
#include <uv.h>

#include "wire/frag.h"
#include "wire/wire.h"

// Bounds on what the network can make a node remember (STYLE.md: every
// bound is a named constant).
#define DTSI_TYPES_MAX 4096        // types known at once
#define DTSI_PEERS_MAX 1024        // nodes known at once
#define DTSI_PEER_MEMBERS_MAX 1024 // members remembered per peer
#define DTSI_SENDERS_PER_TYPE 256  // publishers tracked for sequence numbers
#define DTSI_SEQ_WINDOW 1024       // sequence numbers remembered per publisher
#define DTSI_MISSING_MAX 1024      // missing messages asked for, per reliable publisher
#define DTSI_NACK_DELAY_MS 20      // wait this long for reordering before asking
#define DTSI_NACK_INTERVAL_MS 60   // between two NACKs for the same loss
#define DTSI_NACK_TRIES 20         // then the loss stays counted
// A publisher sends each part of a message again at most once in this long
// (rel_limit): half of DTSI_NACK_INTERVAL_MS, so that a receiver's next
// NACK for a repair it lost (60-100 ms on; 55 ms at the least where the
// publisher of tests/mp/large_reliable.sh saw them) is answered, while the
// receivers that lost one datagram and ask within it share one repair.
#define DTSI_REPAIR_WINDOW_MS (DTSI_NACK_INTERVAL_MS / 2)
// Message bytes one NACK may have sent again (rel_limit): a message as
// large as the default history is repaired in 16 rounds of NACKs, within
// DTSI_NACK_TRIES.
#define DTSI_REPAIR_NACK_BYTES (DTS_HISTORY_BYTES / 16)
// A type's REPLYs carry at most this many bytes a second, in bursts of as
// much or of one value, each counting at least DTSI_REPLY_COST_MIN
// (node_answer_query): a QUERY is 64 bytes from anyone, its REPLY the whole
// last value, up to 64 MiB.
#define DTSI_REPLY_BYTES_PER_S (32u << 20)
#define DTSI_REPLY_COST_MIN 4096
#define DTSI_HISTORY_MAX_MSGS 8192 // messages in a reliable publisher's history
#define DTSI_HINT_ACTIVE_MS 2000   // a publisher sends HINTs this long after publishing
#define DTSI_SCHEMA_CACHE_MAX (4u * 1024 * 1024) // bytes of learned schemas
#define DTSI_QUERIES_MAX 64                      // queries waiting for answers at once
#define DTSI_QUERY_ANSWERS_MAX 256               // publishers whose repeated answers are dropped
#define DTSI_TYPE_BUCKETS 1024
#define DTSI_TICK_MS 50
#define DTSI_TICK_IDLE_MS 1000    // the tick of a node with nothing due soon (node_tick_interval)
#define DTSI_ACTIVE_MS 2500       // data sent or received this recently keeps the fast tick
#define DTSI_IDLE_PUBLISH_US 20   // a publish this long after the previous one may go at once
#define DTSI_CLOSE_FLUSH_MS 2000  // dts_node_close waits this long for the queue
#define DTSI_DESC_STEADY_MS 10000 // steady re-description of a type
#define DTSI_CONTROL_PAYLOAD_MAX 1200 // control frames fit a 1500-byte MTU
// Of DTSI_TYPES_MAX, the types learned from the network alone (TYPES) take
// at most this many, so that the application always has room for a quarter
// (dtsi_type_learn).
#define DTSI_TYPES_REMOTE_MAX (DTSI_TYPES_MAX / 4 * 3)
// A peer's lease is cut to this (disc_on_heartbeat): a forged heartbeat
// holds a slot of the peer table for a minute at most, not an hour.
#define DTSI_PEER_LEASE_MAX_MS 60000

// A message of a reliable publisher that never arrived, to be asked for.
typedef struct dtsi_missing {
    uint64_t seq;
    int64_t due_ms; // next NACK
    uint32_t tries;
} dtsi_missing;

typedef struct dtsi_sender {
    uint64_t instance;
    uint64_t last;                         // highest sequence number seen
    uint64_t window[DTSI_SEQ_WINDOW / 64]; // bit seq % DTSI_SEQ_WINDOW: seen
    int64_t seen_ms;
    int64_t prev_seen_ms;  // seen_ms before the last message (0: none)
    int reliable;          // its frames carry DTSI_FLAG_RELIABLE
    dtsi_missing *missing; // DTSI_MISSING_MAX entries once needed
    size_t n_missing;
    uint64_t host;
    uint64_t reply_seq; // the last initial value (REPLY) delivered from it, 0: none
    // Per-publisher counters (dts_type_publishers).
    uint64_t delivered, gaps, late, dups, incomplete, repaired, bytes;
} dtsi_sender;

// One message in a reliable publisher's history: the frame as first sent.
typedef struct dtsi_hist {
    uint64_t seq;
    uint8_t *buf; // from dtsi_frame_get (pool number pooled)
    size_t len;
    int pooled;
    // Its repairs since rep_ms (rel_repair), in fragments (a message of one
    // datagram is one): rep_n sent, the last run rep_first .. rep_end - 1.
    uint32_t rep_n, rep_first, rep_end;
    int64_t rep_ms;
} dtsi_hist;

typedef struct dtsi_type {
    struct dtsi_type *next; // hash chain
    uint64_t id;
    int remote;                  // created by dtsi_type_learn and not used locally since
    char name[DTS_NAME_MAX + 1]; // "" until known
    int format;                  // dts_format or DTSI_FORMAT_UNKNOWN
    uint64_t schema_id;
    // Local publisher state.
    int declared;
    uint8_t *schema;
    size_t schema_len;
    uint64_t next_seq;
    // Last-value cache (dtsi_lvc_store): the value is last_len bytes at
    // last_buf + last_off; last_cap > 0 for a copy of its own, 0 for a frame
    // adopted from the send queue (of buffer class last_pool - 1);
    // last_pending: the value is still in the send queue.
    uint8_t *last_buf;
    size_t last_off, last_len, last_cap;
    int last_pool, last_pending;
    const uint8_t *last_borrowed; // the pending value, in its publisher's buffer while
                                  // that thread copies it here (node_lvc_copy_borrowed)
    uint64_t last_seq;
    int64_t last_sent_ns;
    dts_query_handler qh;
    void *qh_ud;
    int64_t reply_tokens, reply_ms; // node_answer_query: bytes it may still answer with
    // Compression of what this node publishes (dts_type_set_opts).
    int compress, compress_level;
    size_t compress_threshold;
    // Reliable mode (reliable.c).
    int reliable;
    dtsi_hist *hist; // ring of DTSI_HISTORY_MAX_MSGS
    size_t hist_head, hist_n, hist_bytes, hist_max_bytes;
    int64_t last_pub_ms;
    // Channel membership: wanted (refs from subscriptions, declaration and
    // queries) and actually joined on the transport.
    int want_refs_query;
    int joined;         // the data channel (t->id): subscriptions and queries
    int joined_back;    // the back channel (dtsi_back_channel): declared types
    uint32_t join_corr; // query id of the initial-value query (node_initial_query)
    // Subscriptions matching this type, cached per subscription generation.
    struct dts_sub **subs;
    size_t n_subs, cap_subs;
    uint64_t subs_gen;
    // Counters, mismatch, senders.
    dts_type_counters c;
    int mismatch;
    uint64_t mismatch_schema_id;
    int mismatch_format; // that schema's format (a DTSI_FORMAT_*), when a description said
    dtsi_sender *senders;
    size_t n_senders;
    uint64_t rate_prev_msgs, rate_prev_bytes;
    double msgs_per_s, bytes_per_s;
    // Discovery schedule of our description of it.
    int64_t desc_due_ms;
    uint32_t desc_interval_ms;
    int64_t schema_said_ms;    // its schema was last sent in answer to a request, or heard
                               // from another node, then (disc_on_schema_req)
    int64_t schema_ans_due_ms; // a requested answer goes then, unless heard first; 0: none
} dtsi_type;

struct dts_sub {
    struct dts_sub *next;
    dts_node *node;
    char pattern[DTS_NAME_MAX + 1];
    int exact;        // pattern has no wildcard
    uint64_t type_id; // when exact
    dts_msg_cb cb;
    void *ud;
    int closed; // written under the node's lock, read also without it (node_run_callbacks)
};

// One subscription callback to make: sub with message msg of cb_msgs.
typedef struct dtsi_cb_call {
    struct dts_sub *sub;
    size_t msg;
} dtsi_cb_call;

typedef struct dtsi_peer_member {
    uint8_t role;
    uint64_t type_id;
    char pattern[DTS_NAME_MAX + 1];
} dtsi_peer_member;

typedef struct dtsi_peer {
    uint64_t instance;
    uint64_t host;
    char hostname[DTSI_HOSTNAME_MAX + 1];
    uint32_t pid;
    char addr[64];
    int64_t last_seen_ms; // monotonic
    int64_t last_seen_ns; // wall clock
    uint32_t lease_ms;
    uint32_t generation;      // of the members we hold
    uint32_t want_generation; // announced in its heartbeat
    uint16_t want_members;
    int64_t members_req_ms; // when we last asked for its members
    uint8_t members_reqs;   // MEMBERS_REQ sent for want_generation (disc_members_req_due)
    int members_heard;      // it sent MEMBERS at least once
    dtsi_peer_member *members;
    size_t n_members;
} dtsi_peer;

typedef struct dtsi_schema {
    struct dtsi_schema *next;
    uint64_t id;
    int format;
    char name[DTS_NAME_MAX + 1];
    uint8_t *bytes;
    size_t len;
} dtsi_schema;

#define DTSI_SCHEMA_REQS 16
typedef struct dtsi_schema_req {
    uint64_t id;
    int64_t ms;
} dtsi_schema_req;

typedef struct dtsi_query {
    uint32_t corr;
    uint64_t type_id;
    dts_msg_cb cb;
    void *ud;
    size_t answers;
    int active;
    uint64_t answered[DTSI_QUERY_ANSWERS_MAX]; // answered: later copies dropped
    size_t n_answered;
    int64_t resend_ms; // the query is sent again then (loss), twice at most
    int resends;
} dtsi_query;

// One message waiting to be sent: header and payload, contiguous. A message
// longer than one datagram (frag) leaves as fragments; next_off is how far
// it has gone.
typedef struct dtsi_out {
    uint64_t channel;
    size_t len;
    uint8_t *buf;
    int frag;
    size_t next_off; // of the message: how far it has gone
    size_t end_off;  // of the message: where to stop (a repair may be partial)
    int repair;      // a copy sent again in reliable mode
    size_t base;     // of the message: where buf's payload starts (a repair of some
                     // fragments holds only their bytes, base = next_off), else 0
    size_t charged;  // counted in q_bytes (queue_append)
    int pooled;      // buf came from the node's buffer pool of class pooled - 1; 0: malloc
    int lvc;         // may become its type's last value when it leaves (dtsi_lvc_store)
    uint64_t seq;    // the frame's sequence number
    // by_caller: the publishing thread sends this message itself
    // (dtsi_send_borrowed); only ever at the head of the queue, which the
    // loop thread leaves alone meanwhile. borrowed: the payload, when it is
    // still in that thread's buffer (buf then holds only the header).
    int by_caller;
    const uint8_t *borrowed;
} dtsi_out;

// Values at least this large are kept in the last-value cache by adopting
// their frame when it leaves the send queue, instead of by a copy.
#define DTSI_LVC_BY_REF 4096

// Frame buffers are pooled in size classes of 128 bytes << c (c below
// DTSI_POOL_CLASSES, so up to 64 KiB, one datagram); each class keeps up to
// DTSI_POOL_BURST_BYTES of freed buffers (at least 16), and DTSI_POOL_KEEP_BYTES
// once a tick went by without one taken (dtsi_pool_trim).
#define DTSI_POOL_MIN 128
#define DTSI_CB_MSGS 64    // messages whose callbacks wait to run without the lock
#define DTSI_LOCK_SPIN 200 // tries before a thread sleeps on the node's mutex (dtsi_lock)

// dtsi_lock takes a mutex, trying a while before sleeping on it: the node's
// mutex is held for short spells, and a sleep and a wake-up cost far more
// than the wait (a context switch each way, on a virtual machine through
// the hypervisor).
// dtsi_cpu_relax tells the processor that this thread is spinning.
static inline void
dtsi_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

// dtsi_prefetch_write asks for the cache line at p with the right to write
// it, ahead of the store.
static inline void
dtsi_prefetch_write(const void *p)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

static inline void
dtsi_lock(pthread_mutex_t *m)
{
    for (int i = 0; i < DTSI_LOCK_SPIN; i++) {
        if (pthread_mutex_trylock(m) == 0) return;
        dtsi_cpu_relax();
    }
    pthread_mutex_lock(m);
}
#define DTSI_COPY_UNLOCKED 4096 // publish copies payloads this large without the lock
// dts_publish_wait and dts_publish_loan (with a timeout) send values this
// large (and fragmented) on the caller's thread, dts_publish_wait from the
// caller's buffer, when nothing is queued before them (dtsi_send_borrowed).
#define DTSI_BORROW_MIN (128 * 1024)
// A publisher that waits for room (dts_publish_wait, dts_publish_loan with a
// timeout) waits while this much is queued, with the loop on its own
// thread: more would not keep the loop busier, and the frames it sends
// would no longer be in the cache (measured: a 16 KiB stream filled the
// whole DTS_QUEUE_MAX_BYTES, 85 MiB resident, at 150-175 k msg/s over a
// 1500-byte MTU; with this bound 250 k at 5 MiB; 2 MiB gave 230 k, 512 KiB
// 196-260 k, 256 KiB 160 k).
#define DTSI_WAIT_QUEUE_BYTES (1024 * 1024)
#define DTSI_POOL_CLASSES 10
#define DTSI_POOL_KEEP_BYTES (1024 * 1024)
// A waiting publisher's queue holds up to DTSI_WAIT_QUEUE_BYTES of payload
// in buffers up to twice their frame: the pool keeps all of them, else the
// frames freed as the queue drains are allocated again as it fills (counted
// 2026-12-04: one allocation per 1.3 to 3 messages of 4-64 KiB, and
// glibc gave the heap's top back with brk, each time a TLB shootdown).
#define DTSI_POOL_BURST_BYTES (2 * DTSI_WAIT_QUEUE_BYTES)
// Larger frames come from up to DTSI_LARGE_KEEP kept buffers (pool number
// DTSI_POOL_LARGE), DTSI_LARGE_KEEP_BYTES in all (two frames of the
// default largest message, whose 16,000 pages a fresh buffer would fault
// in again for every message), sized in steps of DTSI_LARGE_STEP and given
// back after DTSI_LARGE_IDLE_MS unused. The count holds twice a waiting
// publisher's queue of the smallest of them (a mebibyte is 16 frames of
// 128 KiB, and the publisher's next and the last-value cache take two
// more): with 8, a stream of 64 KiB values allocated (mmap) one frame per
// message. Of each size, they keep what a stream of that size needs:
// buffers of that size or smaller hold at most DTSI_POOL_BURST_BYTES and two
// buffers of the size (large_put), so that a burst of 1-4 MiB values does
// not leave 34 of them kept (up to 128 MiB) for DTSI_LARGE_IDLE_MS, while a
// stream of 64 MiB values keeps its two.
#define DTSI_POOL_LARGE (DTSI_POOL_CLASSES + 1)
#define DTSI_LARGE_KEEP (DTSI_POOL_BURST_BYTES / DTSI_LARGE_STEP + 2)
#define DTSI_LARGE_KEEP_BYTES (2 * (DTS_PAYLOAD_MAX_DEFAULT + DTSI_LARGE_STEP))
#define DTSI_LARGE_STEP 65536u
#define DTSI_LARGE_PREFIX 16 // the capacity, before the buffer (keeps malloc's alignment)
#define DTSI_LARGE_IDLE_MS 2000

#define DTSI_REASM_CONTROL_MAX 4   // control messages (a cut SCHEMA_ANS) reassembled at once
#define DTSI_PACE_SMALL 8192       // a datagram this small may go while the bucket is empty
#define DTSI_PACE_DEBT (64 * 1024) // ... up to this much before it is above zero again
#define DTSI_SLOW_GAP_MS 2         // a receiver sends SLOW at most this often
#define DTSI_SLOW_WINDOW_MS 100    // a receiver measures its drain rate over one to two of these
#define DTSI_SLOW_MIN_BYTES (1024 * 1024) // ... each with at least this much data
#define DTSI_SLOW_HOLD_MS 20              // a slowed sender keeps its rate this long after a SLOW
#define DTSI_SLOW_RAISE_MS 10             // then raises it (a quarter, or a 32nd) this often
#define DTSI_SLOW_CEILING_MS 500 // and no higher than twice what it was asked for, this long
#define DTSI_LOSS_SLOW_GAP_MS 10 // a receiver that lost data sends SLOW at most this often
#define DTSI_LOSS_RUN 8          // datagrams lost in a row that ask, or in a window ...
#define DTSI_LOSS_WINDOW_MS 20   // ... of this long where they are a fifth of all
#define DTSI_LOSS_RECENT_MS 1000 // a publisher heard within this long (not a late joiner)
#define DTSI_LOSS_CALM_MS 1000   // after a SLOW for loss: below the rate asked this long,
#define DTSI_LOSS_RAISE_DIV 32   // then climbing by a 32nd every DTSI_SLOW_RAISE_MS as long
#define DTSI_PAD_MAX 65536       // a PAD frame is shorter than a fragment
// Fragments per transport call (dtsi_frag_batch_max): two GSO runs of
// 1500-byte-MTU ones, and no more than DTSI_FRAG_BATCH_BYTES, 64 loopback
// fragments of 64 KiB (88 of those made 64 MiB messages slower and lossier
// for the subscriber: 21-58 msg/s and 0.4-2.8% lost in 4 runs).
#define DTSI_FRAG_BATCH 88
#define DTSI_FRAG_BATCH_BYTES (64 * 65507)
// Fragments of datagrams up to this long are copied whole into
// n->frag_stage before they are sent, larger ones gathered by iovec.
#define DTSI_STAGE_DGRAM_MAX 4096
#define DTSI_PACK_IOV 64   // frames of a datagram gathered by iovec; more are copied
#define DTSI_SEND_BATCH 16 // datagrams of packed frames per transport call

// The publish ring: in DTS_RUN_THREAD mode, a small value published from a
// thread other than the loop's goes as a finished frame into this ring of
// bytes, without the node's mutex, and the loop sends runs of it as
// datagrams straight from the ring (node_send_ring). perf showed the
// mutex, taken for every message by the publishing thread and between two
// sends by the loop thread, as the largest cost of 64-byte messages: its
// cache line moved between the cores for every message.
//
// Frames lie back to back from byte head to byte tail (positions count up
// for ever; the byte is pos % cap). A frame never wraps: where one does not
// fit before the end, its producer skips to the start, marking the skip with
// a byte that is not DTSI_MAGIC0 when there is room for one
// (dtsi_ring_skips). Producers (publishing threads) take `lock`, a spin
// lock only they use, and publish tail with a sequentially consistent
// store (api.c, publish_ring); consumers
// (whoever holds the node's mutex) read up to tail and give space back by
// a release store of head. Every value in the send queue is older than
// every value in the ring: a value appended to the queue first moves the
// ring's frames into it (dtsi_ring_flush), and the ring is sent when the
// queue is empty, or, between the batches of a fragmented message at the
// queue's head, as far as its frames are of types with nothing queued
// (node_send_ahead). Sequence numbers are taken under `lock` on both
// paths, so that they leave in their order.
#define DTSI_RING_BYTES (256u * 1024)
#define DTSI_RING_PREFETCH 512     // bytes past a frame whose lines publish asks for
#define DTSI_RING_PAYLOAD_MAX 2048 // larger values take the send queue
// What passes a fragmented message at the head of the queue
// (node_send_ahead): queued messages among the first DTSI_AHEAD_QUEUE_MAX,
// and ring frames while the queue holds at most that many; in both cases
// while those are of at most DTSI_AHEAD_CHANNELS channels.
#define DTSI_AHEAD_QUEUE_MAX 64
#define DTSI_AHEAD_CHANNELS 8
typedef struct dtsi_ring {
    uint8_t *buf; // NULL: no ring (other run modes)
    size_t cap;
    // The producers' fields, then the consumers', each on cache lines of
    // their own (the padding: the node is not allocated 64-aligned).
    char pad0[64];
    int lock;
    size_t tail;      // written up to here
    size_t head_seen; // a producer's last look at head
    uint64_t published;
    char pad1[64];
    size_t head; // sent or moved up to here (release)
    int busy;    // a thread sends from head, without the mutex (node_send_ring)
    int waiters; // threads waiting for busy to clear (dtsi_ring_flush)
    char pad2[64];
} dtsi_ring;

struct dts_node {
    pthread_mutex_t mu;
    pthread_cond_t cond; // signalled when the queue drains or a query is answered
    dts_node_config cfg;
    char url[256], iface[64], hostname[DTSI_HOSTNAME_MAX + 1];
    uint64_t instance, host;
    uint32_t pid;
    // Loop.
    uv_loop_t own_loop;
    uv_loop_t *loop;
    uv_thread_t thread;
    int thread_started;
    pthread_t loop_tid; // the thread currently running the loop
    pthread_t open_tid; // DTS_RUN_UV: the thread that opened the node, the loop's own
    int loop_tid_set;
    uv_async_t wake;
    uv_timer_t tick;
    uv_timer_t retry;
    uv_timer_t step_timer; // bounds the wait of dts_node_step_wait
    uv_idle_t spin;        // active: the loop polls without sleeping (node_spin_until)
    int spinning;
    uint64_t spin_until_us, spin_start_us; // polling ends then; began then
    uint64_t last_send_us, last_recv_us;   // for answer_spin_us (node_spin_sent)
    int answered;                          // the last send was answered in time
    int handles_open;                      // handles (and the transport) not yet closed
    int closing, stopped, stop_requested;
    unsigned interrupts;      // dts_node_interrupt calls (atomic; a signal handler may add one)
    unsigned interrupts_done; // of them, those a waiting call returned for (lock held)
    int in_run;               // dts_node_run is running the loop (node_on_wake stops it)
    int in_loop_cb;           // >0 while the loop thread handles an event
    int in_recv;              // node_on_recv runs: what callbacks publish leaves at its end
    // Subscription callbacks wait here while the lock is held (node_recv,
    // node_deliver_data) and run together without it (node_run_callbacks):
    // the messages, and the calls to make (which subscription, which
    // message). While they run (cb_running, on thread cb_tid), dts_sub_close
    // from another thread waits (cb_waiters) for them to end.
    dts_msg cb_msgs[DTSI_CB_MSGS];
    size_t n_cb_msgs;
    dtsi_cb_call *cb_calls;
    size_t n_cb_calls, cap_cb_calls;
    int cb_running, cb_waiters;
    pthread_t cb_tid;
    int deliver_repaired;          // the message being delivered was completed by repairs
    int64_t last_publish_us;       // publish_now: is the publisher idle?
    uint64_t steps, publish_steps; // dts_node_step_wait calls; at the last publish
    // The datagram being handled (node_on_recv): taken once, used per message.
    int64_t rx_now_ns, rx_now_ms, rx_mono_us;
    int rx_batched; // the transport calls on_batch: the time is taken per batch
    char rx_src[64];
    size_t rx_placed;    // the frame being handled came placed: guess rx_placed - 1 (node_recv)
    size_t rx_dgram_len; // the datagram being walked: about how many messages a lost
                         // one takes with it (node_on_loss_gap)
    int rx_reassembled;  // the message being delivered was reassembled from fragments
    // Transport.
    const dts_transport_ops *tp_ops;
    void *tp;
    size_t max_dgram;
    uint8_t *pack_buf;                 // one datagram being packed
    uint8_t **pool[DTSI_POOL_CLASSES]; // freed frame buffers by size class (buf_get)
    size_t pool_n[DTSI_POOL_CLASSES];
    uint8_t pool_used[DTSI_POOL_CLASSES]; // a buffer was taken since the last trim
    dtsi_bufkeep large;                   // freed large frame buffers (large_get)
    int64_t large_used_ms;                // when one was last taken
    uint8_t *frag_bufs; // the headers of DTSI_FRAG_BATCH fragments, then of as many PAD frames
    // DTSI_FRAG_BATCH datagrams of max_dgram bytes when that is at most
    // DTSI_STAGE_DGRAM_MAX: fragments are built whole here, one piece each
    // for the kernel, which copies a run of 1392-byte pieces and their
    // 80-byte headers from an iovec at a third of the speed of one piece
    // (measured: 3.3-3.4 against 7.0-8.5 GB/s for GSO runs of 44
    // 1500-byte-MTU datagrams; 6.3-6.5 GB/s copied here first).
    uint8_t *frag_stage;
    // Pacing (token bucket, bytes; may dip below zero by one batch).
    int64_t pace_tokens;
    uint64_t pace_debt;     // taken by small datagrams since the bucket was last above zero
    uint64_t pace_rate;     // bytes/s now: the cap, or less after a SLOW
    uint64_t pace_raise_us; // when pace_take raises pace_rate next
    uint64_t pace_ceiling, pace_ceiling_us; // after a SLOW, the climb stops at this until then
    uint64_t pace_gentle_us;                // after a SLOW for loss, the climb is gentle until then
    uint64_t pace_slow_us;                  // when the last SLOW came
    int64_t slow_sent_ms;                   // node_on_backlog: the last SLOW sent
    // Loss on the way (node_note_loss): datagrams lost in the current
    // DTSI_LOSS_WINDOW_MS, and datagrams_received when it began.
    int64_t lw_start_ms;
    uint64_t lw_lost, lw_dgrams;
    int64_t loss_slow_ms;     // node_on_loss: the last SLOW for loss sent,
    int64_t loss_mark_us;     // and rx_mono_us
    uint64_t loss_mark_bytes; // and rx_bytes then
    uint64_t rx_bytes;        // bytes received
    // Drain marks (node_on_batch): rx_bytes at the start of the current and of
    // the previous DTSI_SLOW_WINDOW_MS, so that a SLOW always knows the rate
    // this node has been reading at lately.
    int64_t drain_ms[2];
    uint64_t drain_bytes[2];
    uint64_t rx_last_type, rx_last_instance; // the last data received: whom SLOW for backlog asks
    uint64_t pace_last_us;
    // Reassembly of large messages.
    dtsi_reasm reasm;
    // Types, subscriptions, peers.
    dtsi_type *types[DTSI_TYPE_BUCKETS];
    size_t n_types;
    size_t n_types_remote; // of them, created by dtsi_type_learn (DTSI_TYPES_REMOTE_MAX)
    struct dts_sub *subs;
    uint64_t subs_gen;
    int membership_dirty;
    dtsi_peer *peers;
    size_t n_peers;
    dtsi_schema *schemas;
    size_t schema_bytes;
    dtsi_schema_req schema_reqs[DTSI_SCHEMA_REQS]; // recent requests (rate limit)
    int schema_req_next;
    dtsi_query queries[DTSI_QUERIES_MAX];
    // Send queue (ring of frames).
    dtsi_out *q;
    size_t q_cap, q_head, q_len;
    size_t q_bytes;
    dtsi_ring ring;  // small values published from other threads
    int head_turn;   // a batch of the fragmented head goes before more passes it (node_send_ahead)
    int lvc_copying; // publishing threads copying a sent value into the cache (dtsi_send_borrowed)
    // Discovery.
    uint32_t generation;
    int64_t hb_due_ms;
    uint32_t hb_interval_ms;
    int members_resends;
    int64_t members_due_ms;
    int64_t rate_at_ms;
    uint64_t tick_ms;    // the tick's current period: DTSI_TICK_MS or DTSI_TICK_IDLE_MS
    int64_t activity_ms; // data sent or received, or an API call, last
    uint64_t control_seq;
    // Counters and events.
    dts_node_counters nc;
    dts_event_cb ev_cb;
    void *ev_ud;
};

// node.c
int64_t dtsi_mono_ms(void);
int64_t dtsi_mono_us(void);
dtsi_type *dtsi_type_find(dts_node *n, uint64_t id);
dtsi_type *dtsi_type_get(dts_node *n, uint64_t id, const char *name, size_t name_len);
dtsi_type *dtsi_type_learn(dts_node *n, uint64_t id, const char *name, size_t name_len);
int dtsi_type_wanted(dts_node *n, dtsi_type *t);
int64_t dtsi_disc_next_due(const dts_node *n, int64_t now);
void dtsi_lvc_store(dts_node *n, dtsi_type *t, const void *data, size_t len, uint64_t seq,
                    int64_t sent_ns, int queued);

// dtsi_back_channel is the channel of a type's publishers
// (docs/spec/wire.md, "Channels"): QUERY and NACK frames go there, so that a
// publisher does not receive its own data, which goes on the type's own
// channel (its id). Never the control channel 0.
static inline uint64_t
dtsi_back_channel(uint64_t type_id)
{
    uint64_t b = type_id ^ 1;
    return b ? b : 3;
}

// dtsi_frag_size is the message bytes one fragment carries: a datagram less
// the frame header and the fragment header (docs/spec/wire.md, "Fragments").
static inline size_t
dtsi_frag_size(const dts_node *n)
{
    return n->max_dgram - DTSI_HDR_SIZE - DTSI_FRAG_HDR_SIZE;
}
// dtsi_frag_batch_max is how many fragments one transport call sends at
// most.
static inline size_t
dtsi_frag_batch_max(const dts_node *n)
{
    size_t k = DTSI_FRAG_BATCH_BYTES / n->max_dgram;
    return k < 1 ? 1 : k > DTSI_FRAG_BATCH ? DTSI_FRAG_BATCH : k;
}
// dtsi_interrupt_pending says whether dts_node_interrupt was called more
// often than waiting calls took (interrupts ahead of interrupts_done); with
// take, it also takes them. Lock held.
static inline int
dtsi_interrupt_pending(dts_node *n, int take)
{
    unsigned i = __atomic_load_n(&n->interrupts, __ATOMIC_ACQUIRE);
    if (i == n->interrupts_done) return 0;
    if (take) n->interrupts_done = i;
    return 1;
}
uint8_t *dtsi_frame_get(dts_node *n, size_t len, int *pooled);
void dtsi_frame_put(dts_node *n, uint8_t *buf, int pooled);
void dtsi_pool_trim(dts_node *n, int64_t now_ms);
dts_err dtsi_enqueue_frame(dts_node *n, uint64_t channel, const dtsi_hdr *h, uint8_t *buf,
                           int pooled, size_t len);
dts_err dtsi_enqueue(dts_node *n, uint64_t channel, const dtsi_hdr *h, const void *payload,
                     size_t len);
// dtsi_in_locked_cb is above 0 while this thread runs an application's
// callback that may hold a node's lock (events, query callbacks and
// handlers, the log sink): dts_sub_close must not wait there.
extern __thread int dtsi_in_locked_cb;
void dtsi_event(dts_node *n, dts_event_kind kind, uint64_t instance, const char *hostname,
                const char *type, uint64_t schema_id, uint64_t other);
void dtsi_send_now(dts_node *n);
dts_err dtsi_enqueue_borrowed(dts_node *n, uint64_t channel, const dtsi_hdr *h, const void *payload,
                              size_t len);
void dtsi_send_borrowed(dts_node *n, int64_t end_us);
void dtsi_sleep_us(uint64_t us);
void dtsi_run_once(dts_node *n, int64_t timeout_ms);
int dtsi_empty_schema_format(uint64_t schema_id);
int dtsi_queue_half_empty(dts_node *n);
dts_err dtsi_enqueue_copy(dts_node *n, uint64_t channel, const uint8_t *frame, size_t len,
                          size_t from, size_t to);
int dtsi_ring_flush(dts_node *n);
size_t dtsi_pool_kept_bytes(const dts_node *n);
size_t dtsi_ring_used(dts_node *n);

// dtsi_ring_lock and dtsi_ring_unlock guard the producers' side of the
// publish ring: publishing threads take it for a few hundred nanoseconds,
// and the loop once when the node closes.
static inline void
dtsi_ring_lock(dtsi_ring *r)
{
    while (__atomic_exchange_n(&r->lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&r->lock, __ATOMIC_RELAXED)) dtsi_cpu_relax();
}

static inline void
dtsi_ring_unlock(dtsi_ring *r)
{
    __atomic_store_n(&r->lock, 0, __ATOMIC_RELEASE);
}

// dtsi_ring_skips says whether the producer skipped from offset off of the
// ring to its start: too little room left for a header, or a skip mark.
static inline int
dtsi_ring_skips(const dtsi_ring *r, size_t off)
{
    return r->cap - off < DTSI_HDR_SIZE || r->buf[off] != DTSI_MAGIC0;
}

// seq.c
int dtsi_sender_track(dtsi_type *t, const dtsi_hdr *h, int64_t now_ms, int delivered, int repaired);
int dtsi_sender_seen(dtsi_type *t, uint64_t instance, uint64_t seq);
void dtsi_sender_hint(dtsi_type *t, uint64_t instance, uint64_t seq, int64_t now_ms);
void dtsi_sender_unmiss(dtsi_type *t, uint64_t instance, uint64_t seq);
void dtsi_sender_remiss(dtsi_type *t, uint64_t instance, uint64_t seq, int64_t now_ms);
dtsi_sender *dtsi_sender_find(dtsi_type *t, uint64_t instance);
void dtsi_senders_free(dtsi_type *t);

// reliable.c
void dtsi_rel_store(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const void *payload, size_t len);
void dtsi_rel_on_nack(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const uint8_t *payload);
void dtsi_rel_tick(dts_node *n, int64_t now);
void dtsi_rel_type_free(dts_node *n, dtsi_type *t);
void dtsi_query_resend(dts_node *n, int64_t now_ms);

// disc.c
void dtsi_disc_init(dts_node *n);
void dtsi_disc_tick(dts_node *n, int64_t now_ms);
void dtsi_disc_recv(dts_node *n, const dtsi_hdr *h, const uint8_t *payload, const char *src);
void dtsi_disc_members_changed(dts_node *n);
void dtsi_disc_goodbye(dts_node *n);
void dtsi_disc_type_declared(dts_node *n, dtsi_type *t);
dtsi_peer *dtsi_peer_find(dts_node *n, uint64_t instance);
const dtsi_schema *dtsi_schema_find(dts_node *n, uint64_t id);
void dtsi_schema_request(dts_node *n, uint64_t id);

#endif
