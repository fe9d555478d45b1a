// hostile_nack_test.c: forged NACKs against a reliable publisher
// (docs/spec/wire.md, "Reliable mode"), and forged QUERYs ("Queries and
// replies"). Anyone on the network can send a
// NACK; one of 1098 bytes naming the same 1 MiB message 64 times had 63 MiB
// multicast again. Here a raw endpoint on the in-process mem:// bus sends
// NACK frames as such a sender would, and listens on the type's channel for
// the repairs they cause: an entry asked twice in one NACK, a part of a
// message sent again within DTSI_REPAIR_WINDOW_MS, and what passes
// DTSI_REPAIR_NACK_BYTES in one NACK are refused and counted
// (repairs_refused), while a receiver's own retry, DTSI_NACK_INTERVAL_MS
// later, is still answered. A QUERY of 64 bytes gets the whole last value:
// a flood of them is answered with DTSI_REPLY_BYTES_PER_S at most. No
// sockets.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dts/dts.h>
#include <dts/transport.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/node.h"
#include "wire/frag.h"
#include "wire/wire.h"

extern const dts_transport_ops dtsi_mem_ops;

#define TYPE "app.big"

// The raw endpoint: its own loop, run only by the test's thread (raw_pump),
// and what it received on the type's channel: message bytes of DATA frames,
// whole or fragments.
typedef struct raw {
    uv_loop_t loop;
    void *tp;
    uint64_t bytes, frames;
    uint32_t frag_size;   // of the fragments received
    uint64_t reply_bytes; // message bytes of REPLY frames
} raw;

// The publisher and the endpoint of the running test, closed by close_left
// when an assertion leaves the test early.
static dts_node *pub;
static int pub_random_loss; // dts_node_config random_loss for the next pub_open
static raw rw;
static uint8_t value[8u << 20];

static void
raw_on_recv(void *ctx, const uint8_t *data, size_t len, const char *src)
{
    (void)src;
    raw *r = ctx;
    for (size_t off = 0; off < len;) {
        dtsi_hdr h;
        const char *why;
        if (dtsi_hdr_decode(data + off, len - off, &h, &why) != DTSI_WIRE_OK) break;
        const uint8_t *p = data + off + DTSI_HDR_SIZE;
        off += DTSI_HDR_SIZE + h.payload_len;
        if (h.kind == DTSI_KIND_REPLY) {
            r->reply_bytes +=
                (h.flags & DTSI_FLAG_FRAGMENT) ? h.payload_len - DTSI_FRAG_HDR_SIZE : h.payload_len;
            continue;
        }
        if (h.kind != DTSI_KIND_DATA) continue; // HINTs, PAD
        r->frames++;
        if (!(h.flags & DTSI_FLAG_FRAGMENT)) {
            r->bytes += h.payload_len;
            continue;
        }
        dtsi_frag_hdr f;
        size_t n;
        if (dtsi_frag_hdr_decode(p, h.payload_len, UINT32_MAX, &f, &n)) continue;
        r->bytes += n;
        r->frag_size = f.frag_size;
    }
}

static void
raw_open(raw *r, const char *url)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(uv_loop_init(&r->loop), 0);
    dts_transport_host host = {.loop = &r->loop, .ctx = r, .on_recv = raw_on_recv};
    dts_transport_config tc = {.url = url};
    assert_int_equal(dtsi_mem_ops.open(&tc, &host, &r->tp), DTS_OK);
    assert_int_equal(dtsi_mem_ops.join(r->tp, dts_type_id(TYPE)), DTS_OK);
}

static void
raw_close(raw *r)
{
    if (!r->tp) return;
    dtsi_mem_ops.close(r->tp, NULL, NULL);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    r->tp = NULL;
}

static int
close_left(void **state)
{
    (void)state;
    if (pub) dts_node_close(pub);
    pub = NULL;
    raw_close(&rw);
    return 0;
}

// pub_open opens the publisher on bus url with count reliable messages of
// size bytes (seqs 1 .. count) in its history, all sent, and the raw
// endpoint on the same bus.
static void
pub_open(const char *url, size_t size, int count)
{
    dts_node_config c;
    dts_node_config_init(&c);
    c.url = url;
    c.random_loss = pub_random_loss;
    assert_int_equal(dts_node_open(&c, &pub), DTS_OK);
    assert_int_equal(dts_type_declare(pub, TYPE, DTS_FORMAT_RAW, NULL, 0), DTS_OK);
    dts_type_opts o = {.reliable = 1};
    assert_int_equal(dts_type_set_opts(pub, TYPE, &o), DTS_OK);
    for (int i = 0; i < count; i++) {
        memset(value, 'a' + i % 26, size);
        assert_int_equal(dts_publish(pub, TYPE, value, size), DTS_OK);
        assert_int_equal(dts_flush(pub, 10000), DTS_OK);
    }
    raw_open(&rw, url);
}

typedef struct nack {
    dtsi_nack_entry e[DTSI_NACK_MAX];
    uint16_t n;
} nack;

static void
nack_add(nack *k, uint64_t seq, uint32_t first, uint32_t count)
{
    k->e[k->n++] = (dtsi_nack_entry){.seq = seq, .first = first, .count = count};
}

static dts_node_counters
counters(void)
{
    dts_node_counters c;
    assert_int_equal(dts_node_counters_get(pub, &c), DTS_OK);
    return c;
}

// send_nacks sends the NACKs k[0 .. m - 1] to the publisher from a forged
// instance, in one transport call, so that the publisher handles them in
// one receive batch (at one time, well within DTSI_REPAIR_WINDOW_MS); waits
// until it has handled them and sent what they asked for, and returns the
// message bytes the endpoint received.
static uint64_t
send_nacks(const nack *k, size_t m)
{
    static uint8_t dg[8][DTSI_HDR_SIZE + 16 + DTSI_NACK_MAX * 16];
    dts_dgram d[8];
    assert_true(m <= 8);
    uint64_t tid = dts_type_id(TYPE);
    for (size_t i = 0; i < m; i++) {
        dtsi_wbuf w = {dg[i] + DTSI_HDR_SIZE, 0, sizeof dg[i] - DTSI_HDR_SIZE, 0};
        dtsi_nack_encode(&w, dts_node_instance(pub), k[i].e, k[i].n);
        assert_false(w.err);
        dtsi_hdr h = {.version = 1,
                      .kind = DTSI_KIND_NACK,
                      .payload_len = (uint32_t)w.len,
                      .type_id = tid,
                      .instance = 0x4242,
                      .seq = i + 1};
        dtsi_hdr_encode(&h, dg[i]);
        d[i] = (dts_dgram){.data = dg[i], .len = DTSI_HDR_SIZE + w.len};
    }
    uint64_t before = counters().nacks_received, bytes = rw.bytes;
    size_t sent;
    assert_int_equal(dtsi_mem_ops.send(rw.tp, dtsi_back_channel(tid), d, m, &sent), DTS_OK);
    // The repairs are queued while the NACK is handled, under the lock the
    // counters are read with: once it counts, a flush sends them all, and
    // mem delivers them into the endpoint's inbox before it returns.
    for (int i = 0; i < 5000 && counters().nacks_received < before + m; i++) usleep(1000);
    assert_int_equal(counters().nacks_received, before + m);
    assert_int_equal(dts_flush(pub, 10000), DTS_OK);
    uv_run(&rw.loop, UV_RUN_NOWAIT);
    return rw.bytes - bytes;
}

// The review's NACK: the same whole 1 MiB message 64 times. One repair.
static void
test_same_entry_64_times(void **state)
{
    (void)state;
    pub_open("mem://hnack1", 1u << 20, 1);
    nack k = {0};
    for (int i = 0; i < DTSI_NACK_MAX; i++) nack_add(&k, 1, 0, DTSI_NACK_WHOLE);
    dts_node_counters a = counters();
    assert_int_equal(send_nacks(&k, 1), 1u << 20);
    dts_node_counters b = counters();
    assert_int_equal(b.repairs_sent - a.repairs_sent, 1);
    assert_int_equal(b.repairs_refused - a.repairs_refused, DTSI_NACK_MAX - 1);
}

// Runs asked twice in one NACK, out of order, go once each; a run another
// receiver asks for at the same time goes too.
static void
test_runs_once_each(void **state)
{
    (void)state;
    pub_open("mem://hnack2", 1u << 20, 1);
    nack k[2] = {0};
    for (int i = 0; i < DTSI_NACK_MAX / 2; i++) {
        nack_add(&k[0], 1, 0, 1);
        nack_add(&k[0], 1, 2, 1);
    }
    nack_add(&k[1], 1, 4, 2);
    dts_node_counters a = counters();
    uint64_t got = send_nacks(k, 2);
    dts_node_counters b = counters();
    assert_true(rw.frag_size > 0);
    assert_int_equal(got, 4 * (uint64_t)rw.frag_size); // fragments 0, 2, 4 and 5
    assert_int_equal(b.repairs_sent - a.repairs_sent, 3);
    assert_int_equal(b.repairs_refused - a.repairs_refused, DTSI_NACK_MAX - 2);
}

// Within DTSI_REPAIR_WINDOW_MS a message goes again once, however the NACKs
// after the first cut it into runs.
static void
test_repeat_within_window(void **state)
{
    (void)state;
    pub_open("mem://hnack3", 1u << 20, 1);
    nack k[2] = {0};
    nack_add(&k[0], 1, 0, DTSI_NACK_WHOLE);
    for (int i = 0; i < DTSI_NACK_MAX; i++) nack_add(&k[1], 1, (uint32_t)i, 2);
    dts_node_counters a = counters();
    assert_int_equal(send_nacks(k, 2), 1u << 20);
    dts_node_counters b = counters();
    assert_int_equal(b.repairs_sent - a.repairs_sent, 1);
    // The entries past the message's last fragment name nothing of it and
    // are not counted; the others are refused.
    assert_int_equal(b.repairs_refused - a.repairs_refused, 1 + ((1u << 20) - 1) / rw.frag_size);
}

// One NACK of 64 different messages has at most DTSI_REPAIR_NACK_BYTES sent
// again.
static void
test_bytes_per_nack(void **state)
{
    (void)state;
    const size_t size = 256u << 10;
    pub_open("mem://hnack4", size, DTSI_NACK_MAX);
    nack k = {0};
    for (int i = 0; i < DTSI_NACK_MAX; i++) nack_add(&k, (uint64_t)i + 1, 0, DTSI_NACK_WHOLE);
    dts_node_counters a = counters();
    assert_int_equal(send_nacks(&k, 1), DTSI_REPAIR_NACK_BYTES);
    dts_node_counters b = counters();
    assert_int_equal(b.repairs_sent - a.repairs_sent, DTSI_REPAIR_NACK_BYTES / size);
    assert_int_equal(b.repairs_refused - a.repairs_refused,
                     DTSI_NACK_MAX - DTSI_REPAIR_NACK_BYTES / size);
}

// A message larger than DTSI_REPAIR_NACK_BYTES asked for whole goes up to
// that many bytes (whole fragments); its receiver, now holding part of it,
// asks for the rest by fragments, and gets it.
static void
test_large_message_cut(void **state)
{
    (void)state;
    pub_open("mem://hnack5", sizeof value, 1);
    nack k = {0};
    nack_add(&k, 1, 0, DTSI_NACK_WHOLE);
    dts_node_counters a = counters();
    uint64_t first = send_nacks(&k, 1);
    assert_true(first >= DTSI_REPAIR_NACK_BYTES && first < DTSI_REPAIR_NACK_BYTES + rw.frag_size);
    assert_int_equal(first % rw.frag_size, 0);
    assert_int_equal(counters().repairs_refused - a.repairs_refused, 1);
    k.n = 0;
    nack_add(&k, 1, (uint32_t)(first / rw.frag_size), 0x7fffffff);
    assert_int_equal(send_nacks(&k, 1), sizeof value - first);
    assert_int_equal(counters().repairs_refused - a.repairs_refused, 1);
}

// Scattered fragments of a large message each go again, and each repair
// holds only its own bytes: a repair used to copy the whole 8 MiB message
// and count it in the send queue, which then took 8 of 32 of them (64 MiB),
// the rest dropped unanswered.
static void
test_scattered_fragments(void **state)
{
    (void)state;
    pub_open("mem://hnack7", sizeof value, 1);
    nack k = {0};
    nack_add(&k, 1, 0, 1);
    uint64_t one = send_nacks(&k, 1); // one fragment: its size
    assert_true(one > 0 && one == rw.frag_size);
    k.n = 0;
    for (uint32_t i = 0; i < 32; i++) nack_add(&k, 1, 2 + 3 * i, 1);
    dts_node_counters a = counters();
    assert_int_equal(send_nacks(&k, 1), 32 * (uint64_t)rw.frag_size);
    dts_node_counters b = counters();
    assert_int_equal(b.repairs_sent - a.repairs_sent, 32);
    assert_int_equal(b.repairs_refused, a.repairs_refused);
}

// A receiver that lost the repair asks again DTSI_NACK_INTERVAL_MS later
// (reliable.c, rel_nack_missing): that NACK is answered.
static void
test_retry_answered(void **state)
{
    (void)state;
    pub_open("mem://hnack6", 1u << 20, 1);
    nack k = {0};
    nack_add(&k, 1, 0, DTSI_NACK_WHOLE);
    assert_int_equal(send_nacks(&k, 1), 1u << 20);
    // The time a receiver waits, not a wait for an event: the repair went.
    usleep(DTSI_NACK_INTERVAL_MS * 1000);
    dts_node_counters a = counters();
    assert_int_equal(send_nacks(&k, 1), 1u << 20);
    assert_int_equal(counters().repairs_refused, a.repairs_refused);
}

// A flood of QUERYs, each with an id of its own, for a type whose last
// value is 1 MiB: replies carry DTSI_REPLY_BYTES_PER_S (the burst) and a
// little more as the bucket refills, not 1 MiB for each; the rest are
// counted. Before, each was answered, as far as the send queue took them.
static void
test_query_flood(void **state)
{
    (void)state;
    const size_t size = 1u << 20;
    const int queries = 200;
    pub_open("mem://hquery1", size, 1);
    static uint8_t dg[8][DTSI_HDR_SIZE];
    dts_dgram d[8];
    uint64_t tid = dts_type_id(TYPE);
    dts_node_counters a = counters();
    int64_t t0 = dts_now_ns();
    for (int i = 0; i < queries; i += 8) {
        for (int j = 0; j < 8; j++) {
            dtsi_hdr h = {.version = 1,
                          .kind = DTSI_KIND_QUERY,
                          .corr = (uint32_t)(i + j + 1),
                          .type_id = tid,
                          .instance = 0x4343};
            dtsi_hdr_encode(&h, dg[j]);
            d[j] = (dts_dgram){.data = dg[j], .len = DTSI_HDR_SIZE};
        }
        size_t sent;
        assert_int_equal(dtsi_mem_ops.send(rw.tp, dtsi_back_channel(tid), d, 8, &sent), DTS_OK);
        // Let the publisher take them and send what it answers, so that
        // its send queue does not refuse them instead.
        for (int k = 0; k < 5000 && counters().frames_received < a.frames_received + i + 8; k++)
            usleep(1000);
        assert_int_equal(dts_flush(pub, 10000), DTS_OK);
        uv_run(&rw.loop, UV_RUN_NOWAIT);
    }
    double secs = (double)(dts_now_ns() - t0) / 1e9;
    dts_node_counters b = counters();
    uint64_t most = DTSI_REPLY_BYTES_PER_S + (uint64_t)(secs * DTSI_REPLY_BYTES_PER_S) + size;
    assert_true(rw.reply_bytes >= DTSI_REPLY_BYTES_PER_S); // the burst was answered
    assert_true(rw.reply_bytes <= most);
    assert_int_equal(b.replies_refused - a.replies_refused,
                     (uint64_t)queries - rw.reply_bytes / size);
    assert_int_equal(b.replies_sent - a.replies_sent, rw.reply_bytes / size);
}

// send_slow sends the publisher a SLOW for loss (corr 1) or for backlog
// (corr 0) asking for 1 MB/s, and waits until it has handled the frame.
static void
send_slow(uint32_t why)
{
    static uint64_t seq; // the sender's control counter: never 0
    uint8_t dg[DTSI_HDR_SIZE + 16];
    uint64_t tid = dts_type_id(TYPE);
    dtsi_hdr h = {.version = 1,
                  .kind = DTSI_KIND_SLOW,
                  .corr = why,
                  .payload_len = 16,
                  .type_id = tid,
                  .instance = 0x4444,
                  .seq = ++seq};
    dtsi_hdr_encode(&h, dg);
    dtsi_put_u64(dg + DTSI_HDR_SIZE, dts_node_instance(pub));
    dtsi_put_u64(dg + DTSI_HDR_SIZE + 8, 1000000);
    dts_dgram d = {.data = dg, .len = sizeof dg};
    uint64_t before = counters().frames_received;
    size_t sent;
    assert_int_equal(dtsi_mem_ops.send(rw.tp, dtsi_back_channel(tid), &d, 1, &sent), DTS_OK);
    for (int i = 0; i < 5000 && counters().frames_received <= before; i++) usleep(1000);
    assert_true(counters().frames_received > before);
}

// A publisher whose link loses at random (random_loss) does not slow down
// for a SLOW for loss, but still for one for backlog; by default it does
// for both. Not a forgery bound: the option for links such as Wi-Fi.
static void
test_random_loss_publisher(void **state)
{
    (void)state;
    for (int random = 0; random < 2; random++) {
        pub_random_loss = random;
        pub_open(random ? "mem://hslow2" : "mem://hslow1", 100, 1);
        send_slow(1);
        assert_int_equal(counters().slow_received, random ? 0 : 1);
        send_slow(0);
        assert_int_equal(counters().slow_received, random ? 1 : 2);
        close_left(NULL);
    }
    pub_random_loss = 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_same_entry_64_times, close_left),
        cmocka_unit_test_teardown(test_runs_once_each, close_left),
        cmocka_unit_test_teardown(test_repeat_within_window, close_left),
        cmocka_unit_test_teardown(test_bytes_per_nack, close_left),
        cmocka_unit_test_teardown(test_large_message_cut, close_left),
        cmocka_unit_test_teardown(test_retry_answered, close_left),
        cmocka_unit_test_teardown(test_scattered_fragments, close_left),
        cmocka_unit_test_teardown(test_query_flood, close_left),
        cmocka_unit_test_teardown(test_random_loss_publisher, close_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
