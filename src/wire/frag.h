// frag.h: fragments of large messages and their reassembly (DESIGN.md
// decision 5; docs/spec/wire.md, "Fragments"). Pure functions over bytes
// and one bounded reassembly table; no I/O, no clock of its own (the caller
// passes the time), single-threaded (the node's loop thread).
#ifndef DTSI_FRAG_H
#define DTSI_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "wire/bufkeep.h"
#include "wire/wire.h"

#define DTSI_FRAG_HDR_SIZE 16

// The 16 bytes that start the payload of a frame with DTSI_FLAG_FRAGMENT.
typedef struct dtsi_frag_hdr {
    uint32_t msg_len;   // length of the whole message
    uint32_t off;       // offset of this fragment's data in the message
    uint32_t frag_size; // data bytes in every fragment but the last
    uint32_t reserved;  // 0 in v1
} dtsi_frag_hdr;

void dtsi_frag_hdr_encode(const dtsi_frag_hdr *f, uint8_t out[DTSI_FRAG_HDR_SIZE]);

// dtsi_frag_hdr_decode reads and validates the fragment header at the start
// of a fragment frame's payload (plen bytes). On success *data_len is the
// number of message bytes that follow it. msg_max bounds msg_len. Returns
// NULL on success, else the reason.
const char *dtsi_frag_hdr_decode(const uint8_t *p, size_t plen, uint32_t msg_max, dtsi_frag_hdr *f,
                                 size_t *data_len);

// A message cut into more than DTSI_FRAG_MANY fragments must use fragments
// of at least DTSI_FRAG_SIZE_MIN bytes (a sender's are at least 432, over
// the smallest MTU): a receiver keeps a bit per fragment, and 81-byte
// datagrams claiming 64 MiB in fragments of one byte each cost it an 8 MiB
// fragment map to clear and keep.
#define DTSI_FRAG_MANY 16384
#define DTSI_FRAG_SIZE_MIN 256
// A slot's fragment map up to this size stays at its place in the table for
// the next message there; a larger one is freed with its message.
#define DTSI_REASM_BITMAP_KEEP 4096

#define DTSI_REASM_SPARES 16
#define DTSI_REASM_NEXT 16 // messages of a sender guessed ahead at most (dtsi_reasm_plan)
#define DTSI_REASM_SPARE_BYTES (64u * 1024 * 1024)
#define DTSI_REASM_SPARE_IDLE_MS 2000 // no message opened for this long: kept buffers freed

// One message being reassembled.
typedef struct dtsi_reasm_slot {
    uint64_t instance, type_id, seq;
    uint32_t msg_len, frag_size, n_frags, got;
    uint32_t next_idx; // one past the highest fragment index stored
    uint8_t *buf;
    size_t cap;      // of buf, at least msg_len (a kept buffer may be larger)
    uint8_t *bitmap; // kept by the slot's place in the table for the next message
    size_t bitmap_cap;
    size_t charged; // counted in the table's bytes: cap
    int64_t started_ms, last_ms;
    uint64_t gen;    // which opening of a slot this is (dtsi_reasm_plan)
    dtsi_hdr hdr;    // header of the first fragment seen (schema, time, kind, corr)
    int64_t nack_ms; // reliable mode: when its missing fragments were last asked for
    uint32_t nacks;
} dtsi_reasm_slot;

// Where the data of a fragment expected next would go (dtsi_reasm_plan):
// msg_len bytes of message (instance, type_id, seq, kind, corr), fragment
// size frag_size, in the slot opened as gen (0: a message with no slot yet,
// to open with one of r->next); the fragment at off, len bytes of data,
// goes to dst.
typedef struct dtsi_reasm_place {
    uint64_t instance, type_id, seq, gen;
    uint32_t corr, msg_len, frag_size, off, len;
    uint8_t kind;
    uint8_t *dst;
} dtsi_reasm_place;

#define DTSI_REASM_PLAN_MAX 16 // guesses per receive (udpm reads up to 8 datagrams at once)

// Why a message was not completed.
typedef enum dtsi_lost_reason {
    DTSI_LOST_TIMEOUT = 0,    // no fragment for timeout_ms
    DTSI_LOST_EVICTED = 1,    // memory or slot bound reached; the oldest went
    DTSI_LOST_SUPERSEDED = 2, // latest-only: a newer message of the sender began
} dtsi_lost_reason;

typedef void (*dtsi_reasm_lost_fn)(void *ud, const dtsi_reasm_slot *s, dtsi_lost_reason why);

typedef struct dtsi_reasm {
    dtsi_reasm_slot *slots;
    size_t n_slots, max_slots;
    size_t bytes, max_bytes, peak_bytes;
    uint32_t timeout_ms;
    dtsi_reasm_lost_fn lost;
    void *lost_ud;
    uint64_t completed, too_big, dup_frags;
    // Data fragments passed over: a fragment stored beyond its message's
    // next_idx counts the indexes in between (skipped_run the last such
    // run). A sender sends a message's fragments in order, so on a LAN these
    // were lost on the way, and dts's flow control looks at how many and in
    // what runs (docs/spec/wire.md, "Flow control"). A message whose first
    // fragment stored is not its first counts in skipped_open instead: a
    // receiver that just began to listen comes in the middle.
    uint64_t skipped, skipped_open;
    uint32_t skipped_run;
    uint64_t allocs;     // message buffers and fragment maps allocated
    uint32_t done_nacks; // NACKs the last completed message needed
    int last_opened;     // the last dtsi_reasm_add opened a slot
    size_t done_cap;     // size of the buffer the last completed message came in
    // Message buffers kept for reuse (dtsi_reasm_recycle): at most
    // DTSI_REASM_SPARES, DTSI_REASM_SPARE_BYTES (and max_bytes) in all,
    // given back after DTSI_REASM_SPARE_IDLE_MS unused (dtsi_reasm_expire).
    dtsi_bufkeep spare;
    int64_t spare_used_ms;
    // Placement (dtsi_reasm_plan): the message of the fragment stored last
    // (hint, gen its slot's; off the fragment after that one), which the
    // next fragments most likely continue, and then its sender's next
    // messages, received into next.buf[j] (kept buffers set aside for them, at
    // most DTSI_REASM_SPARE_BYTES in all).
    uint64_t gen; // slots opened so far
    dtsi_reasm_place hint;
    dtsi_bufkeep next; // next.buf[j]: for the message seq + 1 + j
    uint8_t *take;     // the next slot opened takes this buffer (dtsi_reasm_add_placed)
    size_t take_cap;
    dtsi_reasm_place plan[DTSI_REASM_PLAN_MAX];
    size_t n_plan;
    uint64_t placed, placed_stale; // fragments that came placed; those whose message went
} dtsi_reasm;

// dtsi_reasm_init prepares a table holding at most max_slots messages and
// max_bytes of message buffers; lost(ud, slot, why) is called for each
// message given up. Returns 0, or -1 without memory.
int dtsi_reasm_init(dtsi_reasm *r, size_t max_slots, size_t max_bytes, uint32_t timeout_ms,
                    dtsi_reasm_lost_fn lost, void *ud);
void dtsi_reasm_fini(dtsi_reasm *r);

typedef enum dtsi_reasm_rc {
    DTSI_REASM_PENDING = 0, // stored; more fragments needed
    DTSI_REASM_DONE = 1,    // complete: *out (msg_len bytes) belongs to the caller
    DTSI_REASM_DUP = 2,     // this fragment was already stored; ignored
    DTSI_REASM_REJECT = 3,  // cannot be stored (larger than max_bytes, or
                            // inconsistent with earlier fragments); dropped
} dtsi_reasm_rc;

// dtsi_reasm_add adds one fragment (h, f and its data_len bytes of data).
// A new message id (instance, type, seq) opens a slot, evicting the least
// recently active ones while max_bytes or max_slots would be exceeded; with
// latest_only, a new message of a sender abandons that sender's older
// partial messages of the same type. On DONE the caller owns *out and gives
// it back with dtsi_reasm_recycle (or free()); *out_hdr is the first
// fragment's header.
dtsi_reasm_rc dtsi_reasm_add(dtsi_reasm *r, const dtsi_hdr *h, const dtsi_frag_hdr *f,
                             const uint8_t *data, size_t data_len, int64_t now_ms, int latest_only,
                             uint8_t **out, dtsi_hdr *out_hdr);

// dtsi_reasm_room says whether a fragment of message h (msg_len bytes)
// may be added without costing data messages their slots: its message has
// a slot already, or one opens without evicting any and with fewer than
// max_kind slots of h's kind in use. For control messages (a SCHEMA_ANS),
// which every node hears on the control group, so that forged ones cannot
// push out the data being reassembled.
int dtsi_reasm_room(const dtsi_reasm *r, const dtsi_hdr *h, uint32_t msg_len, size_t max_kind);

// dtsi_reasm_plan guesses where the data of the next max (at most
// DTSI_REASM_PLAN_MAX) fragments to arrive should go, so that they can be
// received straight into their message's buffer (a transport's rx_place,
// include/dts/transport.h): the fragments after the one stored last, not
// yet held, of its message. Fills r->plan; returns how many. Each guess
// must be checked (dtsi_reasm_plan_match) before anything is added, since
// a wrong one has written into the buffer.
size_t dtsi_reasm_plan(dtsi_reasm *r, size_t max);

// dtsi_reasm_plan_match says whether guess i is the fragment (h, f,
// data_len bytes of data) that arrived.
int dtsi_reasm_plan_match(const dtsi_reasm *r, size_t i, const dtsi_hdr *h, const dtsi_frag_hdr *f,
                          size_t data_len);

// dtsi_reasm_add_placed adds the fragment of guess i (matched, its data in
// place): as dtsi_reasm_add, without the copy. If its message went since
// the guess (completed, given up), the fragment is dropped as DUP: its
// buffer may hold another message's bytes now.
dtsi_reasm_rc dtsi_reasm_add_placed(dtsi_reasm *r, size_t i, const dtsi_hdr *h,
                                    const dtsi_frag_hdr *f, int64_t now_ms, int latest_only,
                                    uint8_t **out, dtsi_hdr *out_hdr);

// dtsi_reasm_recycle gives back the buffer of a delivered message (cap is
// r->done_cap at DONE) so that the next large message may reuse it; it may
// also free it. buf may be NULL.
void dtsi_reasm_recycle(dtsi_reasm *r, uint8_t *buf, size_t cap);

// dtsi_reasm_expire gives up the messages without a fragment for
// timeout_ms, and frees the kept buffers when none was taken for
// DTSI_REASM_SPARE_IDLE_MS. Returns how many messages it gave up.
size_t dtsi_reasm_expire(dtsi_reasm *r, int64_t now_ms);

#endif
