// seq_test.c: the receiving side's sequence accounting (src/core/seq.c;
// docs/spec/wire.md, "Sequence numbers"): gaps, duplicates and late
// messages, and initial values (REPLY) meeting the DATA they copy.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/node.h"

#define PUB 0x1111222233334444ULL

// track hands one whole message of publisher PUB to the tracker.
static int
track(dtsi_type *t, uint8_t kind, uint64_t seq)
{
    dtsi_hdr h = {.kind = kind, .instance = PUB, .seq = seq, .payload_len = 8};
    return dtsi_sender_track(t, &h, 0, 1, 0);
}

static void
type_done(dtsi_type *t)
{
    dtsi_senders_free(t);
}

static void
test_gaps_dups_late(void **state)
{
    (void)state;
    dtsi_type t;
    memset(&t, 0, sizeof t);
    assert_int_equal(track(&t, DTSI_KIND_DATA, 5), 1); // first: no gaps before it
    assert_int_equal(track(&t, DTSI_KIND_DATA, 6), 1);
    assert_int_equal(track(&t, DTSI_KIND_DATA, 9), 1); // 7 and 8 missing
    assert_int_equal(t.c.gaps, 2);
    assert_int_equal(track(&t, DTSI_KIND_DATA, 9), 0); // a duplicate
    assert_int_equal(t.c.dropped_dup, 1);
    assert_int_equal(track(&t, DTSI_KIND_DATA, 7), 1); // late: one gap less
    assert_int_equal(t.c.late, 1);
    assert_int_equal(t.c.gaps, 1);
    type_done(&t);
}

static void
test_reply_after_data(void **state)
{
    (void)state;
    dtsi_type t;
    memset(&t, 0, sizeof t);
    assert_int_equal(track(&t, DTSI_KIND_DATA, 10), 1);
    // The initial value answers with what we have (10) or older (9): not
    // delivered, and neither a duplicate nor late.
    assert_int_equal(track(&t, DTSI_KIND_REPLY, 10), 0);
    assert_int_equal(track(&t, DTSI_KIND_REPLY, 9), 0);
    assert_int_equal(t.c.dropped_dup, 0);
    assert_int_equal(t.c.late, 0);
    assert_int_equal(t.c.gaps, 0);
    // A newer reply is news.
    assert_int_equal(track(&t, DTSI_KIND_REPLY, 11), 1);
    assert_int_equal(t.c.gaps, 0);
    type_done(&t);
}

static void
test_data_after_reply(void **state)
{
    (void)state;
    dtsi_type t;
    memset(&t, 0, sizeof t);
    assert_int_equal(track(&t, DTSI_KIND_REPLY, 20), 1); // the initial value first
    assert_int_equal(track(&t, DTSI_KIND_DATA, 20), 0);  // then its DATA: dropped quietly
    assert_int_equal(t.c.dropped_dup, 0);
    assert_int_equal(track(&t, DTSI_KIND_DATA, 21), 1);
    assert_int_equal(track(&t, DTSI_KIND_DATA, 21), 0); // a real duplicate still counts
    assert_int_equal(t.c.dropped_dup, 1);
    assert_int_equal(t.c.gaps, 0);
    type_done(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gaps_dups_late),
        cmocka_unit_test(test_reply_after_data),
        cmocka_unit_test(test_data_after_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
