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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_checks),       cmocka_unit_test(test_in_order_reordered_dup),
        cmocka_unit_test(test_interleaved_senders), cmocka_unit_test(test_bounds_and_timeout),
        cmocka_unit_test(test_latest_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
