// track.h: statistics of received messages per type and per publisher,
// shared by `dts hz`, `dts bw` and `dts spy`: rates and bandwidth over a
// sliding window, intervals between messages, and gaps counted from each
// publisher's sequence numbers. Single-threaded: feed it from the loop
// thread and read it from the same thread.
#ifndef DTS_TRACK_H
#define DTS_TRACK_H

#include <dts/dts.h>
#include <stddef.h>

// Bounds: nothing grows without limit on input from the network. Messages
// past a bound are still counted in track.untracked.
#define TRACK_TYPES_MAX 512            // types followed
#define TRACK_PUBS_MAX 64              // publishers followed per type
#define TRACK_SAMPLES_MAX 1024         // arrivals remembered per publisher
#define TRACK_VALUE_MAX 512            // bytes of the last value kept (rendered text)
#define TRACK_PENDING_MAX (64u * 1024) // payload kept while its schema is awaited

typedef struct cli_decoder cli_decoder;

typedef struct track_sample {
    int64_t t_ns;  // arrival, dts_now_ns clock
    uint32_t size; // payload bytes
} track_sample;

typedef struct track_pub {
    uint64_t instance;
    uint64_t host;
    char addr[64];
    uint64_t next_seq; // expected next sequence number, 0 before the first
    uint64_t gaps;     // sequence numbers skipped (late arrivals undo one)
    uint64_t late;
    uint64_t count;
    uint64_t bytes;
    int64_t last_ns;
    track_sample *ring; // TRACK_SAMPLES_MAX entries
    size_t head;        // next slot to write
    size_t n;           // filled slots
} track_pub;

typedef struct track_type {
    char name[DTS_NAME_MAX + 20]; // "#" and the hex id until the name is known
    uint64_t type_id;
    dts_format format;
    uint64_t schema_id;
    track_pub *pubs;
    size_t n_pubs;
    uint64_t count;
    uint64_t bytes;
    int64_t last_ns;
    char *last_value;       // rendered value, at most TRACK_VALUE_MAX bytes, or NULL
    unsigned known_pubs;    // publishers announced through discovery (set by the caller)
    int queried;            // the caller asked for the last value (set by the caller)
    unsigned char *pending; // last payload while its schema is awaited, or NULL
    size_t pending_len;
    dts_format pending_format;
    uint64_t pending_schema_id;
} track_type;

typedef struct track {
    track_type *types;
    size_t n;
    int64_t window_ns; // statistics cover this much of the recent past
    int keep_value;    // render and keep each type's last value
    cli_decoder *dec;  // decodes last values by schema (set by the caller), or NULL
    uint64_t untracked;
} track;

// Statistics over the window, from track_pub_stats or track_type_stats.
typedef struct track_stats {
    size_t n;      // messages in the window
    double rate;   // messages per second (decays when a publisher falls silent)
    double bw;     // payload bytes per second
    double iv_min; // intervals between messages in seconds (n >= 2)
    double iv_max;
    double iv_mean;
    double iv_std;
    uint32_t size_min; // payload sizes in bytes (n >= 1)
    uint32_t size_max;
    double size_mean;
    unsigned pubs; // publishers heard in the window (type statistics)
    uint64_t gaps; // all gaps since the start
} track_stats;

// track_init prepares an empty tracker with a window of window_s seconds.
void track_init(track *t, double window_s, int keep_value);
// track_fini frees everything the tracker holds.
void track_fini(track *t);
// track_add records one message. Query replies only give a type its last
// value when it has none (their sequence numbers repeat). Returns the type's entry, or NULL when
// past the bounds.
track_type *track_add(track *t, const dts_msg *msg);
// track_find returns the type with this id, or NULL.
track_type *track_find(track *t, uint64_t type_id);
// track_add_known adds a type known from discovery with no message yet.
track_type *track_add_known(track *t, const char *name, uint64_t type_id, dts_format format,
                            uint64_t schema_id);
// track_pub_stats computes one publisher's statistics at time now_ns.
void track_pub_stats(const track *t, const track_pub *p, int64_t now_ns, track_stats *out);
// track_type_stats sums the publishers of a type (rate, bandwidth, gaps,
// sizes) at time now_ns; intervals are left at 0.
void track_type_stats(const track *t, const track_type *ty, int64_t now_ns, track_stats *out);
// track_retry renders again the last values that waited for a schema.
void track_retry(track *t);
// track_sort orders the types by name.
void track_sort(track *t);

#endif
