// frag_test.c: fragment header validation and reassembly with no sockets:
// order, reordering, duplicates, interleaved senders, the memory and slot
// bounds, timeouts, latest-only, and inconsistent fragments.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wire/bufkeep.h"
#include "wire/frag.h"

static int lost_count[3];

static void
on_lost(void *ud, const dtsi_reasm_slot *s, dtsi_lost_reason why)
{
    lost_count[why]++;
}

// frag builds the payload of one fragment of msg (msg_len bytes) at index i.
static size_t
frag(uint8_t *out, const uint8_t *msg, uint32_t msg_len, uint32_t fsize, uint32_t i)
{
    dtsi_frag_hdr f = {.msg_len = msg_len, .off = i * fsize, .frag_size = fsize};
    dtsi_frag_hdr_encode(&f, out);
    uint32_t n = msg_len - f.off < fsize ? msg_len - f.off : fsize;
    memcpy(out + DTSI_FRAG_HDR_SIZE, msg + f.off, n);
    return DTSI_FRAG_HDR_SIZE + n;
}

// feed decodes and adds one fragment; returns the reassembly result.
static dtsi_reasm_rc
feed(dtsi_reasm *r, uint64_t inst, uint64_t seq, const uint8_t *msg, uint32_t len, uint32_t fsize,
     uint32_t i, int64_t now, int latest, uint8_t **out)
{
    uint8_t buf[256];
    size_t plen = frag(buf, msg, len, fsize, i);
    dtsi_frag_hdr f;
    size_t dlen;
    assert_null(dtsi_frag_hdr_decode(buf, plen, 1 << 20, &f, &dlen));
    dtsi_hdr h = {.kind = DTSI_KIND_DATA, .type_id = 7, .instance = inst, .seq = seq};
    dtsi_hdr oh;
    return dtsi_reasm_add(r, &h, &f, buf + DTSI_FRAG_HDR_SIZE, dlen, now, latest, out, &oh);
}

static uint8_t msg[1000];

static void
setup_msg(void)
{
    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 31 + 7);
}

static void
test_header_checks(void **state)
{
    uint8_t b[64] = {0};
    dtsi_frag_hdr f;
    size_t dlen;
    dtsi_frag_hdr g = {.msg_len = 100, .off = 0, .frag_size = 40};
    dtsi_frag_hdr_encode(&g, b);
    assert_null(dtsi_frag_hdr_decode(b, 16 + 40, 1000, &f, &dlen));
    assert_int_equal(dlen, 40);
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 39, 1000, &f, &dlen)); // short middle fragment
    assert_non_null(dtsi_frag_hdr_decode(b, 16, 1000, &f, &dlen));      // no data
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 40, 99, &f, &dlen));   // over msg_max
    g.off = 80;                                                         // last fragment: 20 bytes
    dtsi_frag_hdr_encode(&g, b);
    assert_null(dtsi_frag_hdr_decode(b, 16 + 20, 1000, &f, &dlen));
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 21, 1000, &f, &dlen)); // beyond the message
    g.off = 30; // not a multiple of frag_size
    dtsi_frag_hdr_encode(&g, b);
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 40, 1000, &f, &dlen));
    g = (dtsi_frag_hdr){.msg_len = 100, .off = 0, .frag_size = 100}; // one fragment is no fragment
    dtsi_frag_hdr_encode(&g, b);
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 100 > 64 ? 16 + 40 : 0, 1000, &f, &dlen));
    g = (dtsi_frag_hdr){.msg_len = 100, .off = 0, .frag_size = 40, .reserved = 1};
    dtsi_frag_hdr_encode(&g, b);
    b[12] = 1;
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 40, 1000, &f, &dlen));
}

static void
test_in_order_reordered_dup(void **state)
{
    setup_msg();
    dtsi_reasm r;
    assert_int_equal(dtsi_reasm_init(&r, 8, 1 << 20, 100, on_lost, NULL), 0);
    uint8_t *out = NULL;
    // 1000 bytes in fragments of 100: 10 fragments, sent in reverse with a duplicate.
    for (int i = 9; i >= 1; i--)
        assert_int_equal(feed(&r, 1, 1, msg, 1000, 100, (uint32_t)i, 0, 0, &out),
                         DTSI_REASM_PENDING);
    assert_int_equal(feed(&r, 1, 1, msg, 1000, 100, 5, 0, 0, &out), DTSI_REASM_DUP);
    assert_int_equal(feed(&r, 1, 1, msg, 1000, 100, 0, 0, 0, &out), DTSI_REASM_DONE);
    assert_memory_equal(out, msg, 1000);
    free(out);
    assert_int_equal(r.bytes, 0);
    assert_int_equal(r.completed, 1);
    assert_int_equal(r.dup_frags, 1);
    dtsi_reasm_fini(&r);
}

// A fragment stored beyond the highest of its message counts the indexes
// passed over (lost on the way, for flow control), skipped_run the run;
// fragments coming back below the highest (reordered, repaired) do not. A
// message whose first fragment stored is not its first counts apart.
static void
test_skipped_runs(void **state)
{
    setup_msg();
    dtsi_reasm r;
    assert_int_equal(dtsi_reasm_init(&r, 8, 1 << 20, 100, on_lost, NULL), 0);
    uint8_t *out = NULL;
    // 1000 bytes in fragments of 40: 25 fragments. 3 skips 2 (1..2); 12
    // skips 8 (4..11); the rest fill in.
    const uint32_t order[] = {0, 3, 12, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11};
    const uint64_t skipped[] = {0, 2, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10};
    const uint32_t run[] = {0, 2, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        assert_int_equal(feed(&r, 1, 1, msg, 1000, 40, order[k], 0, 0, &out), DTSI_REASM_PENDING);
        assert_int_equal(r.skipped, skipped[k]);
        assert_int_equal(r.skipped_run, run[k]);
    }
    for (uint32_t i = 13; i < 24; i++)
        assert_int_equal(feed(&r, 1, 1, msg, 1000, 40, i, 0, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(feed(&r, 1, 1, msg, 1000, 40, 24, 0, 0, &out), DTSI_REASM_DONE);
    assert_memory_equal(out, msg, 1000);
    free(out);
    assert_int_equal(r.skipped, 10);
    assert_int_equal(r.skipped_open, 0);
    // A message whose first ten fragments were lost (or that a receiver
    // began to hear in the middle).
    assert_int_equal(feed(&r, 1, 2, msg, 1000, 40, 10, 0, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(r.skipped, 10);
    assert_int_equal(r.skipped_open, 10);
    assert_int_equal(r.skipped_run, 10);
    dtsi_reasm_fini(&r);
}

static void
test_interleaved_senders(void **state)
{
    setup_msg();
    dtsi_reasm r;
    dtsi_reasm_init(&r, 8, 1 << 20, 100, on_lost, NULL);
    uint8_t *out = NULL;
    int done = 0;
    for (uint32_t i = 0; i < 5; i++) {
        for (uint64_t inst = 1; inst <= 3; inst++) {
            for (uint64_t seq = 1; seq <= 2; seq++) {
                if (feed(&r, inst, seq, msg, 500, 100, i, 0, 0, &out) == DTSI_REASM_DONE) {
                    assert_memory_equal(out, msg, 500);
                    free(out);
                    done++;
                }
            }
        }
    }
    assert_int_equal(done, 6);
    assert_int_equal(r.n_slots, 0);
    dtsi_reasm_fini(&r);
}

static void
test_bounds_and_timeout(void **state)
{
    setup_msg();
    memset(lost_count, 0, sizeof lost_count);
    dtsi_reasm r;
    dtsi_reasm_init(&r, 3, 2000, 100, on_lost, NULL); // room for two 1000-byte messages
    uint8_t *out = NULL;
    for (uint64_t seq = 1; seq <= 5; seq++)
        feed(&r, 1, seq, msg, 1000, 100, 0, (int64_t)seq, 0, &out);
    assert_true(r.bytes <= 2000);
    assert_int_equal(r.peak_bytes, 2000);
    assert_int_equal(lost_count[DTSI_LOST_EVICTED], 3);
    // Too big for the bound: refused, nothing evicted.
    uint8_t big[256];
    dtsi_frag_hdr f = {.msg_len = 5000, .off = 0, .frag_size = 100};
    dtsi_frag_hdr_encode(&f, big);
    dtsi_hdr h = {.kind = DTSI_KIND_DATA, .type_id = 7, .instance = 9, .seq = 1};
    dtsi_hdr oh;
    assert_int_equal(dtsi_reasm_add(&r, &h, &f, big + 16, 100, 10, 0, &out, &oh),
                     DTSI_REASM_REJECT);
    assert_int_equal(r.too_big, 1);
    // Inconsistent: same message id, another length.
    f.msg_len = 900;
    h.instance = 1, h.seq = 5;
    assert_int_equal(dtsi_reasm_add(&r, &h, &f, big + 16, 100, 10, 0, &out, &oh),
                     DTSI_REASM_REJECT);
    // Timeout: nothing for 100 ms gives both up.
    assert_int_equal(dtsi_reasm_expire(&r, 50), 0);
    assert_int_equal(dtsi_reasm_expire(&r, 200), 2);
    assert_int_equal(lost_count[DTSI_LOST_TIMEOUT], 2);
    assert_int_equal(r.bytes, 0);
    dtsi_reasm_fini(&r);
}

// dtsi_reasm_room: a control message (a cut SCHEMA_ANS) may open a slot
// only without evicting and within its kind's budget; one with a slot
// already always may.
static void
test_room(void **state)
{
    setup_msg();
    memset(lost_count, 0, sizeof lost_count);
    dtsi_reasm r;
    dtsi_reasm_init(&r, 8, 3000, 100, on_lost, NULL);
    uint8_t *out = NULL;
    feed(&r, 1, 1, msg, 1000, 100, 0, 1, 0, &out); // two data messages hold 2000 bytes
    feed(&r, 1, 2, msg, 1000, 100, 0, 1, 0, &out);
    dtsi_hdr c = {.kind = DTSI_KIND_SCHEMA_ANS, .instance = 5, .seq = 1};
    assert_true(dtsi_reasm_room(&r, &c, 1000, 4));  // fits beside them
    assert_false(dtsi_reasm_room(&r, &c, 1001, 4)); // would evict data
    dtsi_frag_hdr f = {.msg_len = 500, .off = 0, .frag_size = 100};
    dtsi_hdr oh;
    for (uint64_t seq = 1; seq <= 2; seq++) { // two control messages under way
        c.seq = seq;
        assert_true(dtsi_reasm_room(&r, &c, 500, 2));
        assert_int_equal(dtsi_reasm_add(&r, &c, &f, msg, 100, 1, 0, &out, &oh), DTSI_REASM_PENDING);
    }
    c.seq = 3;
    assert_false(dtsi_reasm_room(&r, &c, 10, 2)); // a third: over the budget of 2
    c.seq = 2;
    assert_true(dtsi_reasm_room(&r, &c, 500, 2)); // has its slot
    assert_true(r.bytes == 3000 && lost_count[DTSI_LOST_EVICTED] == 0);
    dtsi_reasm_fini(&r);
}

// add_hostile adds fragment idx of a message that says it is msg_len bytes
// in fragments of fsize (at most 4096), with whatever data: what a forged
// datagram of 81 bytes and more can claim.
static dtsi_reasm_rc
add_hostile(dtsi_reasm *r, uint64_t seq, uint32_t msg_len, uint32_t fsize, uint32_t idx,
            int64_t now)
{
    static uint8_t data[4096];
    dtsi_frag_hdr f = {.msg_len = msg_len, .off = idx * fsize, .frag_size = fsize};
    dtsi_hdr h = {.kind = DTSI_KIND_DATA, .type_id = 7, .instance = 66, .seq = seq}, oh;
    uint8_t *out = NULL;
    size_t n = msg_len - f.off < fsize ? msg_len - f.off : fsize;
    return dtsi_reasm_add(r, &h, &f, data, n, now, 0, &out, &oh);
}

// A small message does not take a large kept buffer: a forged 64 MiB
// message (a fragment in every 4 KiB of it, then left to time out) used to
// leave its buffer kept, the next forged message of 4 KiB took it while
// charged 4 KiB, and so on: 1.7 GiB held against a 256 MiB bound. Every
// slot is charged what it holds.
static void
test_small_takes_no_large_buffer(void **state)
{
    dtsi_reasm r;
    assert_int_equal(dtsi_reasm_init(&r, 64, 64u << 20, 100, on_lost, NULL), 0);
    const uint32_t big = 8u << 20;
    for (uint32_t i = 0; i < big / 4096 - 1; i++) // all but one: it never completes
        assert_int_equal(add_hostile(&r, 1, big, 4096, i, 0), DTSI_REASM_PENDING);
    assert_int_equal(dtsi_reasm_expire(&r, 1000), 1); // its buffer is kept for reuse
    assert_int_equal(r.spare.n, 1);
    assert_int_equal(add_hostile(&r, 2, 4096, 512, 0, 1000), DTSI_REASM_PENDING);
    assert_int_equal(r.n_slots, 1);
    assert_true(r.slots[0].cap <= 2 * 4096);
    assert_int_equal(r.bytes, r.slots[0].cap);
    assert_int_equal(r.spare.n, 1); // still kept, for a message of its size
    // One of its size takes it, charged at its size.
    assert_int_equal(add_hostile(&r, 3, big - 100, 4096, 0, 1000), DTSI_REASM_PENDING);
    assert_int_equal(r.spare.n, 0);
    assert_int_equal(r.bytes, r.slots[0].cap + r.slots[1].cap);
    assert_true(r.bytes >= 4096 + big);
    dtsi_reasm_fini(&r);
}

// Fragments too small for their message are refused: a fragment map of a
// bit per fragment cost 8 MiB, and 232 us to clear, per forged 81-byte
// datagram claiming 64 MiB in fragments of one byte. A sender's fragments
// are at least 432 bytes; small messages may still be cut small (the spec's
// vectors cut 88 bytes into fragments of 32).
static void
test_tiny_fragments_refused(void **state)
{
    uint8_t b[16 + 300];
    dtsi_frag_hdr f = {.msg_len = 64u << 20, .off = 0, .frag_size = 1};
    size_t dlen;
    dtsi_frag_hdr_encode(&f, b);
    assert_string_equal(dtsi_frag_hdr_decode(b, 16 + 1, 1u << 30, &f, &dlen),
                        "fragments too small for the message");
    f = (dtsi_frag_hdr){.msg_len = 64u << 20, .off = 0, .frag_size = 255};
    dtsi_frag_hdr_encode(&f, b);
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 255, 1u << 30, &f, &dlen));
    f = (dtsi_frag_hdr){.msg_len = 64u << 20, .off = 0, .frag_size = 256};
    dtsi_frag_hdr_encode(&f, b);
    assert_null(dtsi_frag_hdr_decode(b, 16 + 256, 1u << 30, &f, &dlen));
    // DTSI_FRAG_MANY fragments of one byte: allowed; one more: not.
    f = (dtsi_frag_hdr){.msg_len = DTSI_FRAG_MANY, .off = 0, .frag_size = 1};
    dtsi_frag_hdr_encode(&f, b);
    assert_null(dtsi_frag_hdr_decode(b, 16 + 1, 1u << 30, &f, &dlen));
    f = (dtsi_frag_hdr){.msg_len = DTSI_FRAG_MANY + 1, .off = 0, .frag_size = 1};
    dtsi_frag_hdr_encode(&f, b);
    assert_non_null(dtsi_frag_hdr_decode(b, 16 + 1, 1u << 30, &f, &dlen));
}

// A closed slot keeps a small fragment map for the next message at its
// place, not a large one: 1024 places each keeping the map of a message of
// 2 GiB would hold 1 GiB.
static void
test_large_map_freed(void **state)
{
    dtsi_reasm r;
    assert_int_equal(dtsi_reasm_init(&r, 4, 64u << 20, 100, on_lost, NULL), 0);
    assert_int_equal(add_hostile(&r, 1, 32u << 20, 256, 0, 0), DTSI_REASM_PENDING);
    assert_true(r.slots[0].bitmap_cap >= (32u << 20) / 256 / 8);
    assert_int_equal(add_hostile(&r, 2, 100000, 500, 0, 0), DTSI_REASM_PENDING);
    assert_int_equal(dtsi_reasm_expire(&r, 1000), 2);
    for (size_t i = 0; i < r.max_slots; i++)
        assert_true(r.slots[i].bitmap_cap <= DTSI_REASM_BITMAP_KEEP);
    assert_true(r.slots[0].bitmap_cap > 0 || r.slots[1].bitmap_cap > 0); // the small one stays
    dtsi_reasm_fini(&r);
}

static void
test_latest_only(void **state)
{
    setup_msg();
    memset(lost_count, 0, sizeof lost_count);
    dtsi_reasm r;
    dtsi_reasm_init(&r, 8, 1 << 20, 1000, on_lost, NULL);
    uint8_t *out = NULL;
    feed(&r, 1, 1, msg, 500, 100, 0, 0, 1, &out);
    feed(&r, 2, 1, msg, 500, 100, 0, 0, 1, &out); // another sender: kept
    feed(&r, 1, 2, msg, 500, 100, 0, 0, 1, &out); // newer from sender 1: seq 1 goes
    assert_int_equal(lost_count[DTSI_LOST_SUPERSEDED], 1);
    assert_int_equal(r.n_slots, 2);
    dtsi_reasm_fini(&r);
}

// Placement (dtsi_reasm_plan): fragments received straight into their
// message's buffer. big_frag writes fragment i of a 160 kB message of
// sender 1, seq, into out (header) and, as a transport would, its data
// where guess g said (dst), or after the header when dst is NULL.
enum { BIG_LEN = 160000, BIG_FS = 40000 };
static uint8_t big_msg[BIG_LEN];

static void
big_frag(uint64_t seq, uint32_t i, uint8_t *dst, dtsi_hdr *h, dtsi_frag_hdr *f, size_t *dlen)
{
    static uint8_t buf[DTSI_FRAG_HDR_SIZE + BIG_FS];
    *f = (dtsi_frag_hdr){.msg_len = BIG_LEN, .off = i * BIG_FS, .frag_size = BIG_FS};
    dtsi_frag_hdr_encode(f, buf);
    assert_null(dtsi_frag_hdr_decode(buf, sizeof buf, 1 << 20, f, dlen));
    memcpy(dst ? dst : buf + DTSI_FRAG_HDR_SIZE, big_msg + f->off, *dlen);
    *h = (dtsi_hdr){.kind = DTSI_KIND_DATA, .type_id = 7, .instance = 1, .seq = seq};
}

static dtsi_reasm_rc
big_feed(dtsi_reasm *r, uint64_t seq, uint32_t i, int64_t now, uint8_t **out)
{
    dtsi_hdr h, oh;
    dtsi_frag_hdr f;
    size_t dlen;
    uint8_t data[BIG_FS];
    big_frag(seq, i, data, &h, &f, &dlen);
    return dtsi_reasm_add(r, &h, &f, data, dlen, now, 0, out, &oh);
}

// big_placed delivers fragment i of seq as guess g (its data put where g
// says first, as the kernel would), checked like the transport does.
static dtsi_reasm_rc
big_placed(dtsi_reasm *r, size_t g, uint64_t seq, uint32_t i, int64_t now, uint8_t **out)
{
    dtsi_hdr h, oh;
    dtsi_frag_hdr f;
    size_t dlen;
    big_frag(seq, i, r->plan[g].dst, &h, &f, &dlen);
    assert_true(dtsi_reasm_plan_match(r, g, &h, &f, dlen));
    return dtsi_reasm_add_placed(r, g, &h, &f, now, 0, out, &oh);
}

static void
test_placement(void **state)
{
    for (size_t i = 0; i < BIG_LEN; i++) big_msg[i] = (uint8_t)(i * 13 + i / 251);
    dtsi_reasm r;
    dtsi_reasm_init(&r, 8, 8 << 20, 100, on_lost, NULL);
    uint8_t *out = NULL;
    assert_int_equal(dtsi_reasm_plan(&r, 12), 0); // nothing to go by yet
    // The first fragment is copied; the guesses are the rest of its message,
    // then the sender's next messages, each in a buffer set aside for it.
    assert_int_equal(big_feed(&r, 1, 0, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(dtsi_reasm_plan(&r, 12), 12);
    assert_int_equal(r.plan[0].off, BIG_FS);
    assert_ptr_equal(r.plan[0].dst, r.slots[0].buf + BIG_FS);
    assert_true(r.plan[2].gen != 0 && r.plan[2].seq == 1 && r.plan[2].off == 3 * BIG_FS);
    assert_true(r.plan[3].gen == 0 && r.plan[3].seq == 2 && r.plan[3].off == 0);
    assert_true(r.plan[7].seq == 3 && r.plan[11].seq == 4 && r.plan[11].off == 0);
    assert_int_equal(r.next.n, 3);
    // A datagram that is not what was guessed (another sender) does not match.
    dtsi_hdr h;
    dtsi_frag_hdr f;
    size_t dlen;
    big_frag(1, 2, r.plan[1].dst, &h, &f, &dlen);
    h.instance = 2;
    assert_false(dtsi_reasm_plan_match(&r, 1, &h, &f, dlen));
    h.instance = 1;
    assert_false(dtsi_reasm_plan_match(&r, 0, &h, &f, dlen)); // fragment 2 is not guess 0's
    assert_int_equal(big_placed(&r, 0, 1, 1, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(big_placed(&r, 1, 1, 2, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(big_feed(&r, 1, 3, 0, &out), DTSI_REASM_DONE);
    assert_memory_equal(out, big_msg, BIG_LEN);
    assert_int_equal(r.placed, 2);
    dtsi_reasm_recycle(&r, out, r.done_cap);
    uint64_t allocs = r.allocs;
    // The next messages go whole into the buffers set aside: no copy, and
    // no allocation (the one delivered is kept for the one after).
    assert_int_equal(dtsi_reasm_plan(&r, 12), 12);
    assert_int_equal(r.plan[0].seq, 2);
    assert_int_equal(r.plan[0].gen, 0);
    uint8_t *kept = r.plan[0].dst;
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(big_placed(&r, i, 2, i, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(big_placed(&r, 3, 2, 3, 0, &out), DTSI_REASM_DONE);
    assert_ptr_equal(out, kept);
    assert_memory_equal(out, big_msg, BIG_LEN);
    assert_int_equal(r.placed, 6);
    dtsi_reasm_recycle(&r, out, r.done_cap);
    assert_int_equal(r.allocs, allocs);
    // The next message's first fragment also came unplaced, before the
    // guessed ones: it opened the slot, and the placed data is copied in
    // from the buffer set aside, which stays intact.
    assert_int_equal(dtsi_reasm_plan(&r, 12), 12);
    assert_int_equal(r.plan[0].seq, 3);
    for (uint32_t i = 0; i < 4; i++) big_frag(3, i, r.plan[i].dst, &h, &f, &dlen);
    assert_int_equal(big_feed(&r, 3, 0, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(big_placed(&r, 0, 3, 0, 0, &out), DTSI_REASM_DUP);
    assert_int_equal(big_placed(&r, 1, 3, 1, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(big_placed(&r, 2, 3, 2, 0, &out), DTSI_REASM_PENDING);
    assert_int_equal(big_placed(&r, 3, 3, 3, 0, &out), DTSI_REASM_DONE);
    assert_memory_equal(out, big_msg, BIG_LEN);
    dtsi_reasm_recycle(&r, out, r.done_cap);
    assert_int_equal(r.allocs, allocs); // the slot opened unguessed took a kept buffer
    // A guess whose message went before its datagram was handled (given up
    // here) is dropped, never written into whatever holds that buffer now.
    assert_int_equal(big_feed(&r, 10, 0, 0, &out), DTSI_REASM_PENDING);
    assert_true(dtsi_reasm_plan(&r, 12) >= 3);
    big_frag(10, 1, r.plan[0].dst, &h, &f, &dlen);
    assert_true(dtsi_reasm_plan_match(&r, 0, &h, &f, dlen));
    assert_int_equal(dtsi_reasm_expire(&r, 1000), 1);
    dtsi_hdr oh;
    assert_int_equal(dtsi_reasm_add_placed(&r, 0, &h, &f, 1000, 0, &out, &oh), DTSI_REASM_DUP);
    assert_int_equal(r.placed_stale, 1);
    assert_int_equal(r.n_slots, 0);
    dtsi_reasm_fini(&r);
}

// A long stream received in place keeps its buffers: they count as in use
// while messages open, however they were taken, and are freed only after
// DTSI_REASM_SPARE_IDLE_MS without one.
static void
test_placed_stream(void **state)
{
    for (size_t i = 0; i < BIG_LEN; i++) big_msg[i] = (uint8_t)(i * 7 + i / 251);
    dtsi_reasm r;
    dtsi_reasm_init(&r, 8, 8 << 20, 1000, on_lost, NULL);
    uint8_t *out = NULL;
    uint64_t allocs = 0;
    int64_t now = 0;
    assert_int_equal(big_feed(&r, 1, 0, now, &out), DTSI_REASM_PENDING);
    for (uint32_t i = 1; i < 4; i++)
        assert_int_equal(big_feed(&r, 1, i, now, &out),
                         i < 3 ? DTSI_REASM_PENDING : DTSI_REASM_DONE);
    dtsi_reasm_recycle(&r, out, r.done_cap);
    for (uint64_t seq = 2; seq <= 40; seq++) { // 300 ms apart: 12 s in all
        now += 300;
        assert_true(dtsi_reasm_plan(&r, 4) == 4);
        assert_int_equal(r.plan[0].seq, seq);
        for (uint32_t i = 0; i < 4; i++)
            assert_int_equal(big_placed(&r, i, seq, i, now, &out),
                             i < 3 ? DTSI_REASM_PENDING : DTSI_REASM_DONE);
        assert_memory_equal(out, big_msg, BIG_LEN);
        dtsi_reasm_recycle(&r, out, r.done_cap);
        dtsi_reasm_expire(&r, now + 50);
        if (seq == 2) allocs = r.allocs;
        assert_int_equal(r.allocs, allocs);
    }
    assert_int_equal(r.placed, 39 * 4);
    assert_true(r.spare.n + r.next.n > 0);
    dtsi_reasm_expire(&r, now + DTSI_REASM_SPARE_IDLE_MS + 1); // the stream stopped
    assert_int_equal(r.spare.n + r.next.n, 0);
    dtsi_reasm_fini(&r);
}

// Messages of every size reuse the buffers and fragment maps of those
// delivered before them: a stream allocates nothing after its first.
static void
test_buffers_reused(void **state)
{
    setup_msg();
    dtsi_reasm r;
    dtsi_reasm_init(&r, 8, 1 << 20, 1000, on_lost, NULL);
    uint8_t *out = NULL;
    uint64_t allocs = 0;
    for (uint64_t seq = 1; seq <= 20; seq++) {
        for (uint32_t i = 0; i < 10; i++) {
            dtsi_reasm_rc rc = feed(&r, 1, seq, msg, 1000, 100, i, 0, 0, &out);
            assert_int_equal(rc, i == 9 ? DTSI_REASM_DONE : DTSI_REASM_PENDING);
        }
        assert_memory_equal(out, msg, 1000);
        dtsi_reasm_recycle(&r, out, r.done_cap);
        if (seq == 1) allocs = r.allocs; // a buffer and a fragment map
        assert_int_equal(r.allocs, allocs);
    }
    assert_int_equal(allocs, 2);
    dtsi_reasm_fini(&r);
}

// Buffers for large messages (dtsi_big_alloc): from DTSI_BIG_HUGE bytes
// on, aligned to 2 MiB so that transparent huge pages can back them; below,
// plain ones. Each is written whole and freed with free().
static void
test_big_alloc(void **state)
{
    (void)state;
    size_t sizes[] = {1, 65536, DTSI_BIG_HUGE - 1, DTSI_BIG_HUGE, 64u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        uint8_t *b = dtsi_big_alloc(sizes[i]);
        assert_non_null(b);
        if (sizes[i] >= DTSI_BIG_HUGE) assert_int_equal((uintptr_t)b % (2u << 20), 0);
        memset(b, 0xa5, sizes[i]);
        assert_int_equal(b[sizes[i] - 1], 0xa5);
        free(b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_checks),
        cmocka_unit_test(test_in_order_reordered_dup),
        cmocka_unit_test(test_interleaved_senders),
        cmocka_unit_test(test_bounds_and_timeout),
        cmocka_unit_test(test_latest_only),
        cmocka_unit_test(test_placement),
        cmocka_unit_test(test_buffers_reused),
        cmocka_unit_test(test_placed_stream),
        cmocka_unit_test(test_big_alloc),
        cmocka_unit_test(test_room),
        cmocka_unit_test(test_skipped_runs),
        cmocka_unit_test(test_small_takes_no_large_buffer),
        cmocka_unit_test(test_tiny_fragments_refused),
        cmocka_unit_test(test_large_map_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
