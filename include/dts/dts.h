// dts.h: the public API of libdts, the Domain Type System.
//
// A program opens a node, declares the types it publishes, subscribes to the
// types (or globs of types) it wants, and publishes values. Nodes find each
// other by themselves: nobody configures addresses, brokers or peers.
//
// Conventions used throughout:
//   - Every function returns a dts_err; 0 (DTS_OK) is success and
//     dts_strerror() explains the others. Results go through out-parameters.
//   - Strings are NUL-terminated UTF-8 unless a length is given.
//   - "Loop thread" is the thread that runs the node's event loop: the
//     node's own thread (DTS_RUN_THREAD), the caller of dts_node_run or
//     dts_node_step, or the thread running the caller's libuv loop.
//   - Callbacks run on the loop thread and should return soon: while one
//     runs, the node receives nothing. A subscription's callback runs
//     without the node's lock, so it may take an application mutex that
//     another thread holds while calling into the node (dts_publish under
//     that mutex, say). The other callbacks (dts_query's, the query
//     handler, events, the log sink) run with the lock held: they may call
//     the node's functions (the lock is recursive) but must not wait for
//     another thread that calls into the same node.
//
// The wire format is described in docs/spec/wire.md and discovery in
// docs/spec/discovery.md.
#ifndef DTS_DTS_H
#define DTS_DTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DTS_VERSION_MAJOR 0
#define DTS_VERSION_MINOR 1
#define DTS_VERSION_PATCH 0

// dts_version returns the library's version as "MAJOR.MINOR.PATCH", which
// may differ from the DTS_VERSION_* macros a program was compiled with.
const char *dts_version(void);

// ---------------------------------------------------------------------------
// Errors

typedef enum dts_err {
    DTS_OK = 0,
    DTS_EINVAL = 1,      // an argument is invalid (NULL, out of range, bad name)
    DTS_ENOMEM = 2,      // out of memory
    DTS_ENOENT = 3,      // no such type, interface, node or subscription
    DTS_EEXIST = 4,      // already exists (type declared twice differently)
    DTS_ETOOBIG = 5,     // payload larger than the node accepts
    DTS_EQUEUE = 6,      // the publish queue is full; nothing was queued
    DTS_ETIMEDOUT = 7,   // a deadline passed (query with no answer)
    DTS_ECLOSED = 8,     // the node is closing or closed
    DTS_ETRANSPORT = 9,  // the transport failed (socket error; see the log)
    DTS_EMALFORMED = 10, // bytes do not follow the wire format
    DTS_EMISMATCH = 11,  // same type name, different schema
    DTS_ENOTSUP = 12,    // not supported (unknown URL scheme, format)
    DTS_EBUSY = 13,      // not allowed from this thread or state
    DTS_ESYS = 14,       // an operating system call failed; see the log
} dts_err;

// dts_strerror returns a static English sentence for err; never NULL.
const char *dts_strerror(dts_err err);

// ---------------------------------------------------------------------------
// Logging. Silent by default: nothing is printed until a sink is installed.

typedef enum dts_log_level {
    DTS_LOG_ERROR = 0,
    DTS_LOG_WARN = 1,
    DTS_LOG_INFO = 2,
    DTS_LOG_DEBUG = 3,
} dts_log_level;

// Categories say which part of dts speaks. Notable events carry a stable
// event name (for example "peer-lost", "type-mismatch", "frame-dropped")
// so that people can grep for them.
typedef enum dts_log_cat {
    DTS_CAT_CORE = 0,
    DTS_CAT_DISCOVERY = 1,
    DTS_CAT_WIRE = 2,
    DTS_CAT_TRANSPORT = 3,
    DTS_CAT_SECURITY = 4,
} dts_log_cat;

// A log sink receives one formatted line (no trailing newline). event is a
// stable name or "" for plain messages. Called from any thread that logs,
// possibly several at once; the sink must be thread-safe.
typedef void (*dts_log_sink)(void *ud, dts_log_level level, dts_log_cat cat, const char *event,
                             const char *msg);

// dts_log_set_sink installs a process-wide sink and the most verbose level
// that reaches it. sink NULL restores silence. Not to be called while
// another thread is logging through the previous sink.
void dts_log_set_sink(dts_log_sink sink, void *ud, dts_log_level max_level);

// dts_log_level_name and dts_log_cat_name return static names ("warn",
// "discovery").
const char *dts_log_level_name(dts_log_level level);
const char *dts_log_cat_name(dts_log_cat cat);

// ---------------------------------------------------------------------------
// Formats and identifiers

typedef enum dts_format {
    DTS_FORMAT_RAW = 0,
    DTS_FORMAT_JSON = 1,
    DTS_FORMAT_CBOR = 2,
    DTS_FORMAT_MSGPACK = 3,
    DTS_FORMAT_PROTOBUF = 4,
    DTS_FORMAT_CAPNP = 5,
    DTS_FORMAT_COUNT_ = 6,
} dts_format;

// dts_format_name returns "raw", "json", ... or "unknown".
const char *dts_format_name(dts_format f);
// dts_format_parse sets *out from a name as printed by dts_format_name, in
// any case ("JSON" is json). Returns DTS_ENOTSUP for an unknown name.
dts_err dts_format_parse(const char *name, dts_format *out);

// Limits on names. A type name is 1..DTS_NAME_MAX bytes of [A-Za-z0-9_.-],
// made of dot-separated parts that are not empty ("brewery.Temperature").
#define DTS_NAME_MAX 200
// The largest schema. It travels through discovery in one SCHEMA_ANS, cut
// into fragments when longer than a datagram (docs/spec/discovery.md).
#define DTS_SCHEMA_MAX 32768
// The largest message by default. Messages longer than one datagram are
// cut into fragments by dts, never by IP (docs/spec/wire.md, "Fragments").
// payload_max may be raised up to DTS_PAYLOAD_MAX_LIMIT.
#define DTS_PAYLOAD_MAX_DEFAULT (64u * 1024 * 1024)
#define DTS_PAYLOAD_MAX_LIMIT (2u * 1024 * 1024 * 1024 - 1)

// dts_type_id returns the 64-bit id of a type name (FNV-1a 64 of the name
// bytes; docs/spec/wire.md, "Identifiers").
uint64_t dts_type_id(const char *name);
// dts_schema_id returns the 64-bit id of a schema: FNV-1a 64 over the
// format byte followed by the schema bytes. An empty schema of a format has
// a fixed id, so self-describing types without a schema still compare.
uint64_t dts_schema_id(dts_format format, const void *schema, size_t len);
// dts_name_valid says whether name is a valid type name (1) or not (0).
int dts_name_valid(const char *name);
// dts_glob_match says whether a type name matches a pattern: '*' matches
// any run of characters except '.', "**" any run including '.', '?' one
// character other than '.'; anything else matches itself. Matching takes
// time proportional to the pattern length times the name length. "**" matches every name.
// Returns 1 or 0.
int dts_glob_match(const char *pattern, const char *name);

// ---------------------------------------------------------------------------
// Node

typedef struct dts_node dts_node;

typedef struct dts_compressor dts_compressor; // see "Types" below

typedef enum dts_run_mode {
    // The node starts its own thread that runs the loop; callbacks run there.
    DTS_RUN_THREAD = 0,
    // The caller runs the loop: dts_node_run (blocking until dts_node_stop)
    // or dts_node_fd plus dts_node_step (for programs with their own loop).
    // The calls that wait (dts_flush, dts_query, dts_publish_wait) run the
    // loop while they wait: make them from the thread that steps it.
    DTS_RUN_CALLER = 1,
    // The node attaches to the caller's libuv loop (cfg.uv_loop), opened on
    // that loop's thread, and the caller runs that loop. Callbacks run on
    // that loop's thread. The calls that wait run the loop while they wait
    // when made on its thread (so not from inside one of its callbacks:
    // libuv's loop does not nest), and wait for it when made on another.
    DTS_RUN_UV = 2,
} dts_run_mode;

// Node configuration. Initialise with dts_node_config_init, then change
// what you need. Strings are copied by dts_node_open.
typedef struct dts_node_config {
    // Transport URL. NULL or "" means "udpm://" with the fields below.
    // "udpm://" and "udpm://IFACE" select multicast (IFACE overrides iface);
    // "mem://NAME" connects every node of this process that uses NAME.
    // Other schemes are those of transports registered with
    // dts_transport_register (<dts/transport.h>).
    const char *url;
    // Interface by name ("eth0") or by IPv4 address; NULL or "" lets the
    // transport choose (the interface of the multicast route, else lo).
    const char *iface;
    uint16_t port;        // UDP port; 0 means 5555 (or DTS_PORT)
    int ttl;              // multicast TTL; -1 means 1 (or DTS_TTL)
    int loopback;         // deliver to processes on this host (default 1)
    int ipv6;             // use ff15::/16 groups instead of IPv4 (default 0)
    int receive_own;      // deliver this node's own messages to it (default 0)
    int last_value_cache; // answer queries from the last value (default 1)
    int initial_value;    // a subscription starting on a type asks its publishers
                          // for their latest value, delivered with is_reply 1
                          // (default 1)
    dts_run_mode run_mode;
    void *uv_loop; // uv_loop_t* for DTS_RUN_UV
    // Bounds. 0 means the default named in brackets.
    size_t queue_max;                 // messages queued for sending [DTS_QUEUE_MAX 4096]
    size_t payload_max;               // largest message [DTS_PAYLOAD_MAX_DEFAULT]
    size_t queue_max_bytes;           // bytes queued for sending [DTS_QUEUE_MAX_BYTES];
                                      // with DTS_RUN_THREAD, values up to 2 KiB published
                                      // from other threads first wait in a 256 KiB ring
                                      // of their own (counter ring_published)
    size_t mtu;                       // largest IP packet to send; 0: the path MTU of
                                      // the interface (65536 on lo, 1500 on Ethernet)
    uint64_t pace_bytes_per_s;        // sending rate cap [DTS_PACE_DEFAULT]; all
                                      // datagrams count, bursts up to 2 ms of it
    uint64_t pace_dgrams_per_s;       // datagram rate cap [DTS_PACE_DGRAMS_DEFAULT]:
                                      // receivers pay per datagram, so small-MTU
                                      // fragments are paced by count as well
    size_t reasm_max_bytes;           // memory for messages being reassembled
                                      // [DTS_REASM_MAX_BYTES]; must hold payload_max
    size_t reasm_max_msgs;            // messages reassembled at once [DTS_REASM_MAX_MSGS]
    uint32_t reasm_timeout_ms;        // a partial message with no fragment for
                                      // this long is counted lost [DTS_REASM_TIMEOUT_MS]
    int latest_only;                  // a new message of a publisher abandons its
                                      // older partial ones (default 0)
    const dts_compressor *compressor; // compresses and decompresses payloads;
                                      // NULL: compressed frames are counted and dropped
                                      // (the first of each type logged as a warning)
    uint32_t peer_timeout_ms;         // a silent peer is forgotten [DTS_PEER_TIMEOUT_MS]
    uint32_t announce_ms;             // steady announcement interval [DTS_ANNOUNCE_MS]
    const char *hostname;             // reported host name; NULL: gethostname()
    uint32_t spin_us;                 // after sending or receiving, the loop polls
                                      // this long before it sleeps (0, the default:
                                      // it sleeps at once). An answer that comes back
                                      // within it skips the wake-up of a sleeping
                                      // thread, which costs tens of microseconds
                                      // across cores; the price is CPU time. At most
                                      // DTS_SPIN_MAX_US; also DTS_SPIN_US.
    uint32_t answer_spin_us;          // after a send, when the last send was
                                      // answered within this long (a datagram
                                      // arrived: request and response, ping and
                                      // pong), the loop polls this long for the
                                      // next answer before it sleeps; a node
                                      // that only publishes or only subscribes,
                                      // or whose sends go unanswered, never
                                      // polls. [DTS_ANSWER_SPIN_DEFAULT_US]; 0:
                                      // never. At most DTS_SPIN_MAX_US; also
                                      // DTS_ANSWER_SPIN_US.
    int random_loss;                  // 1: this node's link loses data at random (Wi-Fi
                                      // interference, a bad cable), not because a queue
                                      // in front of a slower link overflows, so it
                                      // neither asks publishers to slow down for data
                                      // lost on the way nor slows down when asked for
                                      // that (SLOW with corr 1, docs/spec/wire.md "Loss
                                      // on the way"); SLOW for a filling socket still
                                      // works both ways. Default 0; also
                                      // DTS_RANDOM_LOSS=1.
} dts_node_config;

#define DTS_QUEUE_MAX 4096
#define DTS_QUEUE_MAX_BYTES (64u * 1024 * 1024)
#define DTS_PACE_DEFAULT (5000ull * 1000 * 1000)
#define DTS_PACE_DGRAMS_DEFAULT 4000000ull
#define DTS_REASM_MAX_BYTES (256u * 1024 * 1024)
#define DTS_REASM_MAX_MSGS 1024
#define DTS_REASM_TIMEOUT_MS 2000
#define DTS_PEER_TIMEOUT_MS 5000
#define DTS_ANNOUNCE_MS 1000
#define DTS_PORT_DEFAULT 5555
#define DTS_SPIN_MAX_US 10000
#define DTS_ANSWER_SPIN_DEFAULT_US 100

// dts_node_config_init fills cfg with defaults, then applies the
// environment variables DTS_IFACE, DTS_PORT, DTS_TTL, DTS_SPIN_US,
// DTS_ANSWER_SPIN_US and DTS_RANDOM_LOSS when set.
void dts_node_config_init(dts_node_config *cfg);

// dts_node_open creates a node and, unless run_mode is DTS_RUN_CALLER or
// DTS_RUN_UV, starts its thread. On success the caller owns *out and must
// dts_node_close it. Errors: DTS_EINVAL (bad config), DTS_ENOTSUP (unknown
// URL scheme), DTS_ENOENT (unknown interface; the log lists those that
// exist), DTS_ETRANSPORT (sockets could not be opened).
dts_err dts_node_open(const dts_node_config *cfg, dts_node **out);

// dts_node_close says goodbye to the network, stops the loop (joining the
// node's thread), closes every subscription and frees the node. Messages
// still queued are sent first, within a short bound. The subscriptions'
// handles are freed with the node: call dts_sub_close on them before, or
// not at all. Must not be called from a callback of the node: the process
// then stops with a message (abort), as the loop would go on with the node
// freed. In DTS_RUN_UV mode call it from the loop's thread while the loop
// is not inside a dts callback; it runs the loop briefly to close handles.
void dts_node_close(dts_node *node);

// dts_node_run runs the loop on the calling thread until dts_node_stop.
// Only in DTS_RUN_CALLER mode (DTS_EINVAL in the others); DTS_EBUSY from a
// callback of the node (the loop does not nest).
dts_err dts_node_run(dts_node *node);
// dts_node_stop makes dts_node_run return soon. A stop asked while no
// dts_node_run is running (before the first, or from a dts_node_step loop)
// is kept: the next dts_node_run returns at once.
// Safe from any thread (it uses uv_async_send), but not from a signal
// handler: install the signal through libuv or set a flag and call it from
// a thread.
void dts_node_stop(dts_node *node);
// dts_node_interrupt makes a call that is waiting on the node return soon,
// as if its time were up: dts_node_run, and dts_query, dts_flush and
// dts_publish_wait (in DTS_RUN_CALLER mode, where they run the loop; with
// DTS_RUN_THREAD, where they wait for it; the node's own thread runs on).
// When no call waits, the next one that would returns at once instead, so
// that a signal just before a call is not lost; calls after that wait as
// usual. Safe from a signal handler, so that Ctrl-C ends a long query at
// once.
void dts_node_interrupt(dts_node *node);
// dts_node_fd returns a file descriptor that becomes readable when the node
// has work; then call dts_node_step. DTS_RUN_CALLER mode only (-1 in the
// others, and for NULL).
int dts_node_fd(const dts_node *node);
// dts_node_timeout_ms returns how long the caller may wait on dts_node_fd
// before calling dts_node_step anyway (timers), or -1 for no limit (and in
// modes other than DTS_RUN_CALLER, where it means nothing).
int dts_node_timeout_ms(const dts_node *node);
// dts_node_step does all work that is ready without blocking.
// DTS_RUN_CALLER mode only (DTS_EINVAL in the others); DTS_EBUSY from a
// callback of the node, as dts_node_step_wait.
dts_err dts_node_step(dts_node *node);
// dts_node_step_wait waits up to timeout_ms (-1: until something happens;
// the node's own timers wake it at least every 50 ms) for work, then does
// all work that is ready, like dts_node_step after a poll of dts_node_fd but
// with one system call fewer. DTS_RUN_CALLER mode only.
dts_err dts_node_step_wait(dts_node *node, int timeout_ms);

// dts_node_instance returns the node's random 64-bit instance id, and
// dts_node_host its host id (a hash of the host name and machine id).
uint64_t dts_node_instance(const dts_node *node);
uint64_t dts_node_host(const dts_node *node);

// ---------------------------------------------------------------------------
// Types

// dts_type_declare tells the node about a type it will publish: its name,
// format and schema (which may be empty). The schema is announced through
// discovery so any node can decode the type. Declaring the same name again
// with the same format and schema is a no-op; with another schema it returns
// DTS_EEXIST. The schema's bytes are not parsed here (the core names no
// codec): dts_type_declare_checked in <dts/typed.h> compiles them first.
// Errors: DTS_EINVAL (bad name), DTS_ETOOBIG (schema larger than
// DTS_SCHEMA_MAX). Any thread. In DTS_RUN_THREAD mode it returns once the
// node listens for queries of the type; in the other modes, from the next
// loop step.
dts_err dts_type_declare(dts_node *node, const char *name, dts_format format, const void *schema,
                         size_t schema_len);

// A compressor: how the node compresses payloads of types that ask for it
// and decompresses what arrives with the COMPRESSED flag (docs/spec/wire.md,
// "Compression"). The core names no library: the codec layer provides one
// (dts_codec_compressor in <dts/codec.h>), or an application its own. All
// three functions are pure and thread-safe.
struct dts_compressor {
    // compress frames in (len bytes) with algorithm alg (1 zstd, 2 lz4, 3
    // blosc; level 0 is its default) when len >= threshold and it shrinks:
    // then *out is a new buffer (freed with free_buf) starting with the
    // 5-byte prefix (algorithm, original size u32 LE); else *out is NULL.
    dts_err (*compress)(int alg, int level, size_t threshold, const void *in, size_t len,
                        void **out, size_t *out_len);
    // decompress undoes compress, refusing (before allocating) an original
    // size above max. The caller frees *out with free_buf.
    dts_err (*decompress)(const void *in, size_t len, size_t max, void **out, size_t *out_len);
    void (*free_buf)(void *p);
};

// Options of a type this node publishes.
typedef struct dts_type_opts {
    // Reliable mode (best effort is the default): receivers ask for the
    // messages and fragments they miss, and this node sends them again from
    // a bounded history. A loss that outlives the history or the retries is
    // counted (gaps, incomplete), never hidden. Costs a copy of each message.
    int reliable;
    size_t history_bytes; // repair history [DTS_HISTORY_BYTES]
    // Compression (needs cfg.compressor): 0 none, 1 zstd, 2 lz4, 3 blosc
    // (as the Python DTS 0.1.9). Applied to payloads of at least
    // compress_threshold bytes (default 1024) when it makes them smaller.
    int compress;
    int compress_level;
    size_t compress_threshold;
} dts_type_opts;

#define DTS_HISTORY_BYTES (64u * 1024 * 1024)

// dts_type_set_opts sets the options of a declared type. Any thread.
// Errors: DTS_ENOENT (not declared), DTS_EINVAL (compress not 0-3, or a
// compress_level the compressor refuses), DTS_ENOTSUP (compression without
// cfg.compressor, or an algorithm it lacks: blosc not installed).
dts_err dts_type_set_opts(dts_node *node, const char *type, const dts_type_opts *opts);

// ---------------------------------------------------------------------------
// Publish

// dts_publish queues one value of a declared type for sending and returns
// at once; the bytes are copied. Safe from any thread. Errors: DTS_ENOENT
// (type not declared), DTS_ETOOBIG (payload_max exceeded), DTS_EQUEUE (queue
// full: nothing was queued, and the type's queue-full counter grows),
// DTS_ECLOSED. A DTS_OK means the value will be sent. The values of one
// type leave in the order they were published; values of different types
// may pass each other: a value of up to one batch of fragments (88; about
// 120 KB over a 1500-byte MTU) leaves between two batches of fragments of
// a larger value of another type being sent, instead of after the whole
// of it, and the larger one then has the next batch (counter passed_large).
// The core does not check the bytes against the type's format or schema
// (dts_publish_json in <dts/typed.h> does).
//
// Who receives it: the nodes that have joined the type when it leaves. A
// subscription to the exact name joins at once; a glob joins a type when
// discovery reveals it (typically a fraction of a second after the type's
// first description). A node that subscribes later gets the latest value by a
// query, answered while the publisher runs. So a program that publishes
// one value and exits should first wait until the type has subscribers
// (dts_node_types: subscribers) or stay a while after publishing; with a
// glob subscriber it otherwise loses the value, reliable mode included.
dts_err dts_publish(dts_node *node, const char *type, const void *data, size_t len);

// dts_publish_wait is dts_publish that waits for room: when the queue is
// full it blocks until the loop has sent half of it, then queues, so that a
// producer faster than the network is held back without polling. With the
// loop on its own thread (DTS_RUN_THREAD) it already waits while 1 MiB is
// queued: that keeps the loop as busy, and the frames it sends in the
// cache (docs/PERFORMANCE.md). Errors as
// dts_publish, except that a queue still full after timeout_ms gives
// DTS_ETIMEDOUT (nothing queued; counted as queue-full). From a callback
// (the loop thread) it never blocks: a full queue gives DTS_EQUEUE.
// A value of 128 KiB or more that leaves as fragments is not copied into
// the queue: once what was queued before it has gone (within timeout_ms;
// at once unless the loop has a thread of its own), the calling thread
// sends it itself, straight from data, at the pacing rate, and returns when
// it is sent (counter borrowed_sent). With the last-value cache on (the
// default) it then copies the value into the cache, without the node's
// lock. Should the pacer hold it past timeout_ms, it is copied and queued
// instead, and the call returns (borrowed_copied). Either way data is free
// again on return.
dts_err dts_publish_wait(dts_node *node, const char *type, const void *data, size_t len,
                         int timeout_ms);

// Zero-copy publishing. dts_loan gives a buffer of len bytes (at most
// payload_max) from the node's frame pool, to build a value in place;
// dts_publish_loan publishes len bytes of it without copying them (with
// timeout_ms > 0 it waits for room as dts_publish_wait does). On DTS_OK the
// buffer is the node's: do not touch it again. On any error it stays the
// caller's, to publish again or give back with dts_loan_return. A buffer
// not from dts_loan, or len over what was loaned, is DTS_EINVAL. Any
// thread. For large values this saves the publishing thread the copy that
// dts_publish makes (docs/PERFORMANCE.md); with timeout_ms > 0 a loan of
// 128 KiB or more is also sent by the calling thread, as dts_publish_wait
// sends large values.
void *dts_loan(dts_node *node, size_t len);
dts_err dts_publish_loan(dts_node *node, const char *type, void *buf, size_t len, int timeout_ms);
void dts_loan_return(dts_node *node, void *buf);

// dts_flush blocks until everything queued so far has been handed to the
// transport, or timeout_ms passes (DTS_ETIMEDOUT). From a non-loop thread
// only when the loop runs on another thread; in DTS_RUN_CALLER mode it runs
// the loop itself.
dts_err dts_flush(dts_node *node, int timeout_ms);

// ---------------------------------------------------------------------------
// Subscribe

// A received message: a borrowed view, valid until the callback returns.
typedef struct dts_msg {
    const char *type; // type name ("" if not yet known from discovery)
    uint64_t type_id;
    dts_format format; // this message's: the type's, or for a message of another schema
                       // (a publisher that disagrees, a type mismatch) the one its
                       // schema id shows; DTS_FORMAT_RAW when not (yet) known
    uint64_t schema_id;
    const void *data; // payload
    size_t len;
    uint64_t seq; // per publisher and type, from 1
    uint64_t sender_instance;
    uint64_t sender_host;
    char sender_addr[64]; // address and source port: "192.168.1.4:40312",
                          // "[fe80::1]:40312", or "mem"
    int64_t sent_ns;      // sender's wall clock, ns since the Unix epoch
    int64_t received_ns;  // receiver's wall clock
    int is_reply;         // 1 when this copy came as an answer to a query: to dts_query,
                          // or the initial-value query of a new subscription (then the
                          // same message, arriving live later, is dropped as a duplicate)
} dts_msg;

typedef void (*dts_msg_cb)(void *ud, const dts_msg *msg);

typedef struct dts_sub dts_sub;

// dts_subscribe subscribes to a type name, a glob ("brewery.*") or every
// type ("**"). Types that first appear after the call are included. The
// callback runs on the loop thread. On success the caller owns *out and
// ends it with dts_sub_close. Any thread. In DTS_RUN_THREAD mode it returns
// once the node receives the type's channel (exact names; globs join each
// type as discovery reveals it); in the other modes, from the next step.
dts_err dts_subscribe(dts_node *node, const char *pattern, dts_msg_cb cb, void *ud, dts_sub **out);

// dts_sub_close ends a subscription. After it returns the callback is not
// running and will not run again (unless called from that very callback,
// in which case it takes effect when the callback returns). Any thread.
// From another thread, when a run of the node's subscription callbacks
// that includes calls of this subscription is going on, it waits for the
// run to end: it must not be called holding anything those callbacks wait
// for (from an event or query callback or the log sink, which may run
// under the node's lock, it does not wait). Call it
// once per handle, and before dts_node_close of its node (which closes and
// frees the subscriptions left): the handle is freed soon after.
void dts_sub_close(dts_sub *sub);

// ---------------------------------------------------------------------------
// Query: ask the publishers of a type for their latest value

// dts_query_handler answers a query for a type this node publishes. It
// fills *data/*len with a reply that stays valid until the handler is
// called again or the node closes, and returns 1 to answer or 0 to stay
// silent. Loop thread.
typedef int (*dts_query_handler)(void *ud, const char *type, const void **data, size_t *len);

// dts_query_set_handler replaces the last-value answer for one declared type.
dts_err dts_query_set_handler(dts_node *node, const char *type, dts_query_handler h, void *ud);

// dts_query asks the publishers of type (an exact name) for their latest
// value and calls cb once per answer (msg->is_reply is 1) until timeout_ms
// passes, then returns. *n_answers (may be NULL) receives the count.
// Returns DTS_ETIMEDOUT if nobody answered. With wait_all 0 it returns as
// soon as the first answer arrives. Must not be called on the loop thread;
// in DTS_RUN_CALLER mode it runs the loop itself. cb runs on the loop thread.
dts_err dts_query(dts_node *node, const char *type, int timeout_ms, int wait_all, dts_msg_cb cb,
                  void *ud, size_t *n_answers);

// ---------------------------------------------------------------------------
// Introspection

typedef struct dts_type_counters {
    uint64_t sent;               // messages this node handed to the transport
    uint64_t received;           // messages delivered to subscriptions
    uint64_t dropped_own;        // own messages not delivered (receive_own 0)
    uint64_t dropped_dup;        // duplicates of a sequence number already seen
    uint64_t dropped_malformed;  // payloads of this type a codec rejected (codecs issue)
    uint64_t dropped_queue_full; // publishes refused because the queue was full
    uint64_t dropped_mismatch;   // frames whose schema id differs from ours
    uint64_t gaps;               // sequence numbers never received
    uint64_t repaired;           // reliable mode: lost, then recovered by a repair
    uint64_t compressed;         // messages this node sent compressed
    uint64_t dropped_compressed; // compressed payloads it could not (or may not) decompress
    uint64_t incomplete;         // large messages given up: fragments missing
                                 // (timeout), memory bound (evicted) or newer
                                 // message (latest-only)
    uint64_t late;               // arrived after a later one (counted once as gap, then undone)
    uint64_t bytes_received;     // payload bytes delivered
} dts_type_counters;

typedef struct dts_type_info {
    char name[DTS_NAME_MAX + 1]; // "" when only the id is known
    uint64_t type_id;
    dts_format format;
    uint64_t schema_id;
    unsigned publishers;         // nodes announcing it as published (incl. this one)
    unsigned subscribers;        // nodes announcing a subscription to it (incl. this one)
    int local_pub;               // this node declared it
    int local_sub;               // a subscription of this node matches it
    int mismatch;                // seen with two schema ids
    uint64_t mismatch_schema_id; // the other schema id when mismatch
    double msgs_per_s;           // received rate, over the last few seconds
    double bytes_per_s;
    dts_type_counters counters;
} dts_type_info;

typedef struct dts_node_info {
    uint64_t instance;
    uint64_t host;
    char hostname[65];
    uint32_t pid;
    char addr[64];        // address its announcements come from
    int64_t last_seen_ns; // receiver's wall clock
    unsigned n_types;     // types it publishes or subscribes
    int self;             // this node
} dts_node_info;

// What this node knows of one publisher of a type it receives.
typedef struct dts_pub_info {
    uint64_t instance;
    uint64_t host;
    uint64_t last_seq;   // highest sequence number seen
    uint64_t delivered;  // messages delivered
    uint64_t bytes;      // payload bytes delivered
    uint64_t gaps;       // sequence numbers never received (lost)
    uint64_t late;       // arrived after a later one
    uint64_t duplicates; // dropped as already delivered
    uint64_t incomplete; // large messages given up with fragments missing
    uint64_t repaired;   // reliable mode: lost, then recovered
    int reliable;        // the publisher uses reliable mode
    int64_t silent_ms;   // since its last message
} dts_pub_info;

// dts_type_publishers returns a snapshot of the publishers of a type this
// node has received from (up to 256 per type, the least recently heard
// forgotten first) in a new array freed with dts_free. DTS_ENOENT for a
// type not known. Any thread.
dts_err dts_type_publishers(dts_node *node, const char *type, dts_pub_info **out, size_t *n);

// Node-wide counters (frames that cannot be attributed to a type).
typedef struct dts_node_counters {
    uint64_t frames_received;
    uint64_t frames_malformed;    // failed header validation
    uint64_t frames_bad_version;  // our magic, another version
    uint64_t frames_foreign;      // not ours at all (other protocol, 0.1.9)
    uint64_t frames_unknown_type; // valid frame of a type nobody here wants
    uint64_t control_received;
    uint64_t control_malformed;
    uint64_t control_bytes_sent;
    uint64_t control_bytes_received;
    uint64_t datagrams_sent;
    uint64_t datagrams_received;
    uint64_t send_errors;
    uint64_t peers_lost;
    uint64_t type_mismatches;
    uint64_t fragments_sent;
    uint64_t fragments_received;
    uint64_t fragments_malformed; // failed the fragment header checks
    uint64_t fragments_dup;       // already held or already delivered
    uint64_t fragments_placed;    // received straight into their message's buffer,
                                  // without a copy (the others are copied once)
    uint64_t reasm_too_big;       // messages larger than reasm_max_bytes
    uint64_t reasm_timed_out;
    uint64_t reasm_evicted;
    uint64_t reasm_superseded;
    uint64_t reasm_bytes;               // held now for reassembly
    uint64_t reasm_peak_bytes;          // the most ever held at once
    uint64_t pace_waits;                // times the sender waited for the rate cap
    uint64_t nacks_sent;                // reliable mode: requests for repair sent
    uint64_t nacks_received;            // ... addressed to this node
    uint64_t repairs_sent;              // messages or fragment runs sent again
    uint64_t slow_sent;                 // SLOW frames: this node fell behind (its receive
                                        // socket over a quarter full) or lost data on the
                                        // way, and asked to slow down
    uint64_t slow_received;             // SLOW frames addressed to this node: it lowered its
                                        // pacing rate (docs/spec/wire.md, "Flow control")
    uint64_t pad_bytes_sent;            // PAD frames after last fragments, so that runs of
                                        // fragments of several messages go to the kernel
                                        // as one send (docs/spec/wire.md, "Fragments")
    uint64_t polled_us;                 // microseconds the loop polled instead of sleeping
                                        // (spin_us, answer_spin_us): CPU time spent on
                                        // shorter round trips
    uint64_t ticks;                     // runs of the loop's tick (discovery, timeouts): 20 a
                                        // second while data moves, about 2 when idle
    uint64_t borrowed_sent;             // large values dts_publish_wait sent from the caller's
                                        // buffer on the caller's thread, without a copy
    uint64_t borrowed_copied;           // large values it began so, then copied and queued for
                                        // the loop (the pacer would have held the caller
                                        // past its timeout, or the node closed)
    uint64_t buffers_allocated;         // message buffers the node had to allocate: frames to
                                        // send, reassembly buffers and their fragment maps.
                                        // Freed ones are kept for the next messages, so a
                                        // steady stream leaves this flat
    uint64_t ring_published;            // small values published from a thread other than the
                                        // loop's that went into the publish ring, without
                                        // the node's lock (DTS_RUN_THREAD)
    uint64_t ring_flushed;              // ... of them moved to the send queue (copied) so that
                                        // a message queued after them leaves after them
    uint64_t queue_peak_bytes;          // the most payload bytes the send queue held at once
    uint64_t buffers_kept_bytes;        // freed message buffers kept now for the next messages
                                        // (bounded; given back when unused for a while)
    uint64_t control_fragments_refused; // fragments of a control message (a cut
                                        // SCHEMA_ANS) that would have opened a 5th one in
                                        // reassembly, or pushed out a data message there
    uint64_t schema_answers_held;       // schema requests not answered: this node sent the
                                        // schema in answer to a request, or heard another
                                        // node send it, within the last 100 ms
    uint64_t passed_large;              // messages sent between two batches of fragments of a
                                        // fragmented message of another type before them in
                                        // the send queue, instead of after all of it (each
                                        // type's messages keep their order)
    uint64_t slow_loss_sent;            // ... of slow_sent, for data lost on the way (a message
                                        // or fragment skipped): a link slower than the
                                        // publisher, which it is asked to pace to
    uint64_t repairs_refused;           // reliable mode: NACK entries not answered in full:
                                        // asked for twice in one NACK, sent again in the
                                        // last 30 ms already, or past the 4 MiB of repairs
                                        // one NACK may cause (docs/spec/wire.md,
                                        // "Reliable mode")
    uint64_t replies_refused;           // QUERYs not answered: their type's replies had
                                        // used their 32 MiB a second (docs/spec/wire.md,
                                        // "Queries and replies")
    uint64_t replies_sent;              // QUERYs answered (a REPLY queued): dts_query of
                                        // other nodes, and the initial-value queries of
                                        // their new subscriptions
} dts_node_counters;

// dts_node_types returns a snapshot of every known type in a new array the
// caller frees with dts_free. Any thread.
dts_err dts_node_types(dts_node *node, dts_type_info **out, size_t *n);
// dts_node_peers returns a snapshot of the nodes known (this one first).
dts_err dts_node_peers(dts_node *node, dts_node_info **out, size_t *n);
// dts_node_counters copies the node-wide counters.
dts_err dts_node_counters_get(dts_node *node, dts_node_counters *out);
// dts_type_counters_get copies one type's counters (DTS_ENOENT if unknown).
dts_err dts_type_counters_get(dts_node *node, const char *type, dts_type_counters *out);
// dts_schema_get copies the schema of a schema id known to the node into a
// new buffer (caller frees with dts_free). If only the id is known the node
// asks the network for it and returns DTS_ENOENT; a later call may succeed.
// The event DTS_EV_SCHEMA says when it has come. An answer lost on the way
// brings no event: until the schema comes, call again now and then (each
// call asks the network again, at most once per 250 ms).
// The id of a format's empty schema (dts_schema_id(format, NULL, 0): a type
// declared without one) is always known: *len 0.
dts_err dts_schema_get(dts_node *node, uint64_t schema_id, dts_format *format, void **schema,
                       size_t *len);
// dts_free frees memory returned by the functions above.
void dts_free(void *p);

// ---------------------------------------------------------------------------
// Events: optional callback for discovery events (loop thread).

typedef enum dts_event_kind {
    DTS_EV_PEER_NEW = 1,
    DTS_EV_PEER_LOST = 2, // timed out
    DTS_EV_PEER_GONE = 3, // said goodbye
    DTS_EV_TYPE_NEW = 4,  // a type name first seen
    DTS_EV_TYPE_MISMATCH = 5,
    // A schema arrived and dts_schema_get now has it: schema_id, and type
    // the name it came with. Messages held because dts_schema_get returned
    // DTS_ENOENT for their schema id can be decoded now.
    DTS_EV_SCHEMA = 6,
} dts_event_kind;

typedef struct dts_event {
    dts_event_kind kind;
    uint64_t instance; // peer concerned
    const char *hostname;
    const char *type;   // for type events
    uint64_t schema_id; // ours, for mismatch; the one that came, for schema
    uint64_t other_schema_id;
} dts_event;

typedef void (*dts_event_cb)(void *ud, const dts_event *ev);
// dts_node_set_event_cb installs (or with NULL removes) the event callback.
void dts_node_set_event_cb(dts_node *node, dts_event_cb cb, void *ud);

// dts_now_ns returns the wall clock in ns since the Unix epoch.
int64_t dts_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
