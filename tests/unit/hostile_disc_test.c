// hostile_disc_test.c: discovery under forged control frames. Real nodes
// run over the in-process mem:// transport; a raw endpoint on the same bus
// injects hand-made frames as an attacker on the LAN would (no sockets).
// Each test is one finding of the security review: forged TYPES must not
// take the room of the application's own types, forged HEARTBEATs must not
// keep real nodes out of the peer table nor make the node flood
// MEMBERS_REQ, and unsolicited SCHEMA_ANS frames must not fill the schema
// cache for good (docs/spec/discovery.md).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dts/dts.h>
#include <dts/transport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/node.h" // white-box checks of what a peer entry holds
#include "wire/wire.h"

extern const dts_transport_ops dtsi_mem_ops;

#include "open_nodes.h" // close_left closes what a failed assertion left open

// The injector: a bare mem:// endpoint on a loop of its own that never
// runs (it joins no channel, so nothing is ever delivered to it).
static uv_loop_t inj_loop;
static void *inj_tp;

static void
inj_open(const char *bus)
{
    static dts_transport_host host;
    memset(&host, 0, sizeof host);
    host.loop = &inj_loop;
    dts_transport_config cfg = {.url = bus};
    assert_int_equal(dtsi_mem_ops.open(&cfg, &host, &inj_tp), DTS_OK);
}

static void
inj_close(void)
{
    if (!inj_tp) return;
    dtsi_mem_ops.close(inj_tp, NULL, NULL);
    inj_tp = NULL;
    uv_run(&inj_loop, UV_RUN_DEFAULT); // finishes the close
}

static int
close_left(void **state)
{
    (void)state;
    close_open_nodes();
    inj_close();
    return 0;
}

// inject sends one control frame of the given kind from instance, whole in
// one datagram, on the control channel.
static void
inject(uint8_t kind, uint64_t instance, const void *payload, size_t len)
{
    static uint8_t dg[65000];
    static uint64_t seq;
    assert_true(DTSI_HDR_SIZE + len <= sizeof dg);
    dtsi_hdr h = {.version = DTSI_VERSION,
                  .kind = kind,
                  .payload_len = (uint32_t)len,
                  .instance = instance,
                  .host = 0x5eed,
                  .seq = ++seq};
    dtsi_hdr_encode(&h, dg);
    if (len) memcpy(dg + DTSI_HDR_SIZE, payload, len);
    dts_dgram d = {.data = dg, .len = DTSI_HDR_SIZE + len};
    size_t sent = 0;
    assert_int_equal(dtsi_mem_ops.send(inj_tp, DTS_CHANNEL_CONTROL, &d, 1, &sent), DTS_OK);
}

static uint64_t
malformed_of(dts_node *n)
{
    dts_node_counters c;
    assert_int_equal(dts_node_counters_get(n, &c), DTS_OK);
    return c.control_malformed;
}

// inj_sync waits (3 s at most) until n has handled everything injected so
// far: it injects a GOODBYE with a payload, which is malformed and changes
// nothing but the counter, and mem:// delivers in order.
static void
inj_sync(dts_node *n)
{
    uint64_t before = malformed_of(n);
    inject(DTSI_KIND_GOODBYE, 0xbad, "x", 1);
    for (int i = 0; i < 3000 && malformed_of(n) == before; i++) usleep(1000);
    assert_true(malformed_of(n) > before);
}

// inject_types describes count names (prefix and a number) in TYPES frames
// of up to 1000 descriptions, format raw with schema id sid(i).
static void
inject_types(const char *prefix, int count, uint64_t (*sid)(int))
{
    static uint8_t pl[64000];
    for (int made = 0; made < count;) {
        dtsi_wbuf w = {pl, 2, sizeof pl, 0};
        uint16_t k = 0;
        for (; k < 1000 && made < count; k++, made++) {
            char name[64];
            snprintf(name, sizeof name, "%s%05d", prefix, made);
            dtsi_type_desc d = {.format = DTS_FORMAT_RAW,
                                .schema_id = sid(made),
                                .name_len = (uint8_t)strlen(name),
                                .name = name};
            dtsi_type_desc_encode(&w, &d);
        }
        assert_false(w.err);
        dtsi_put_u16(pl, k);
        inject(DTSI_KIND_TYPES, 0x7777, pl, w.len);
    }
}

static uint64_t
empty_raw_sid(int i)
{
    (void)i;
    return dts_schema_id(DTS_FORMAT_RAW, NULL, 0);
}

static size_t
types_known(dts_node *n)
{
    dts_type_info *ti;
    size_t k = 0;
    assert_int_equal(dts_node_types(n, &ti, &k), DTS_OK);
    dts_free(ti);
    return k;
}

static void
on_msg(void *ud, const dts_msg *m)
{
    (void)ud;
    (void)m;
}

// F3: five TYPES datagrams describing 4,200 names filled the type table
// (4,096), and the application's declarations, exact subscriptions and
// queries failed with DTS_ENOMEM for as long as the node lived. Names
// learned from the network now take at most three quarters of the table.
static void
test_types_flood_leaves_local_room(void **state)
{
    (void)state;
    dts_node *v = open_mem("mem://hostile-types");
    inj_open("mem://hostile-types");
    inject_types("zz", 4200, empty_raw_sid);
    inj_sync(v);
    assert_true(types_known(v) <= DTSI_TYPES_REMOTE_MAX);
    // The application still has a quarter of the table: a thousand
    // declarations, an exact subscription and a query.
    for (int i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "local.t%04d", i);
        assert_int_equal(dts_type_declare(v, name, DTS_FORMAT_RAW, NULL, 0), DTS_OK);
    }
    dts_sub *s;
    assert_int_equal(dts_subscribe(v, "local.Sub", on_msg, NULL, &s), DTS_OK);
    assert_int_equal(dts_subscribe(v, "zz00001", on_msg, NULL, &s), DTS_OK); // a learned one
    size_t answers = 1;
    assert_int_equal(dts_query(v, "local.Query", 0, 0, on_msg, NULL, &answers), DTS_ETIMEDOUT);
    assert_int_equal(answers, 0);
    node_close(v);
}

static int
knows_peer(dts_node *n, uint64_t instance)
{
    dts_node_info *ni;
    size_t k;
    int found = 0;
    assert_int_equal(dts_node_peers(n, &ni, &k), DTS_OK);
    for (size_t i = 0; i < k; i++) found |= ni[i].instance == instance && !ni[i].self;
    dts_free(ni);
    return found;
}

static size_t
peers_known(dts_node *n)
{
    dts_node_info *ni;
    size_t k;
    assert_int_equal(dts_node_peers(n, &ni, &k), DTS_OK);
    dts_free(ni);
    return k - 1; // less the node itself
}

static uint64_t
control_sent(dts_node *n)
{
    dts_node_counters c;
    assert_int_equal(dts_node_counters_get(n, &c), DTS_OK);
    return c.control_bytes_sent;
}

#define FORGED_PEERS 1024
#define MEMBERS_REQ_FRAME (DTSI_HDR_SIZE + 8)

// F4: 1,024 HEARTBEATs with distinct instances, a lease of an hour and
// 65,535 members, then silence. The peer table was full for an hour, so a
// real node was never learned, and the node asked every forged peer for
// its members every 300 ms (about 250 KB a second). Now the lease and the
// member count are capped, a full table forgets a peer that never sent its
// members, and each peer is asked a few times with back-off, then no more.
static void
test_heartbeat_flood(void **state)
{
    (void)state;
    dts_node *v = open_mem("mem://hostile-peers");
    inj_open("mem://hostile-peers");
    uint8_t pl[64];
    for (int i = 0; i < FORGED_PEERS; i++) {
        dtsi_heartbeat hb = {.pid = 1,
                             .lease_ms = 3600000,
                             .generation = 7,
                             .n_members = 65535,
                             .hostname_len = 1,
                             .hostname = "x"};
        dtsi_wbuf w = {pl, 0, sizeof pl, 0};
        dtsi_heartbeat_encode(&w, &hb);
        inject(DTSI_KIND_HEARTBEAT, 0x100000 + (uint64_t)i, pl, w.len);
    }
    uint64_t sent0 = control_sent(v);
    inj_sync(v);
    assert_int_equal(peers_known(v), FORGED_PEERS);
    // What the node keeps of a forged heartbeat is bounded (read under the
    // lock, asserted after: a failed assertion leaves the test at once).
    uint32_t lease = 0, members = 0;
    dtsi_lock(&v->mu);
    for (size_t i = 0; i < v->n_peers; i++) {
        if (v->peers[i].lease_ms > lease) lease = v->peers[i].lease_ms;
        if (v->peers[i].want_members > members) members = v->peers[i].want_members;
    }
    pthread_mutex_unlock(&v->mu);
    assert_true(lease <= DTSI_PEER_LEASE_MAX_MS);
    assert_true(members <= DTSI_PEER_MEMBERS_MAX);
    // A real node is still learned, within its first heartbeats.
    dts_node *real = open_mem("mem://hostile-peers");
    int found = 0;
    for (int i = 0; i < 3000 && !found; i++) {
        found = knows_peer(v, dts_node_instance(real));
        if (!found) usleep(1000);
    }
    assert_true(found);
    // The node stops asking the forged peers for their members: wait (10 s
    // at most) for 3 s (longer than any gap between two requests to a
    // peer) in which it sends no more than its heartbeats would take, then
    // check the whole cost: a few requests to each.
    int quiet_ms = 0;
    for (int i = 0; i < 20 && quiet_ms < 3000; i++) {
        uint64_t a = control_sent(v);
        usleep(500000);
        quiet_ms = control_sent(v) - a < 512 ? quiet_ms + 500 : 0;
    }
    assert_true(quiet_ms >= 3000);
    uint64_t cost = control_sent(v) - sent0;
    print_message("control bytes sent after the flood: %llu\n", (unsigned long long)cost);
    assert_true(cost < (uint64_t)FORGED_PEERS * 4 * MEMBERS_REQ_FRAME + 16384);
    node_close(real);
    node_close(v);
}

// forged_schema fills buf (DTS_SCHEMA_MAX bytes) with a schema of its own
// for number i of series c.
static void
forged_schema(uint8_t *buf, char c, int i)
{
    memset(buf, c, DTS_SCHEMA_MAX);
    snprintf((char *)buf, 16, "%c%05d", c, i);
}

static uint64_t
forged_sid(char c, int i)
{
    static uint8_t buf[DTS_SCHEMA_MAX];
    forged_schema(buf, c, i);
    return dts_schema_id(DTS_FORMAT_RAW, buf, sizeof buf);
}

static uint64_t
known_sid(int i)
{
    return forged_sid('k', i);
}

// inject_schemas sends count SCHEMA_ANS frames of 32 KiB each, correctly
// hashed, for the names prefix and a number.
static void
inject_schemas(const char *prefix, char c, int count)
{
    static uint8_t schema[DTS_SCHEMA_MAX];
    static uint8_t pl[DTSI_SCHEMA_ANS_MAX];
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%05d", prefix, i);
        forged_schema(schema, c, i);
        dtsi_schema_ans a = {.desc = {.format = DTS_FORMAT_RAW,
                                      .schema_id = forged_sid(c, i),
                                      .name_len = (uint8_t)strlen(name),
                                      .name = name},
                             .schema_len = DTS_SCHEMA_MAX,
                             .schema = schema};
        dtsi_wbuf w = {pl, 0, sizeof pl, 0};
        dtsi_schema_ans_encode(&w, &a);
        assert_false(w.err);
        inject(DTSI_KIND_SCHEMA_ANS, 0x8888, pl, w.len);
    }
}

// schema_cached says whether n holds schema sid already (dts_schema_get
// asks the network when it does not, and nobody here answers).
static int
schema_cached(dts_node *n, uint64_t sid)
{
    void *schema = NULL;
    size_t len;
    dts_err e = dts_schema_get(n, sid, NULL, &schema, &len);
    dts_free(schema);
    return e == DTS_OK;
}

// schema_learned polls dts_schema_get (which asks the network) for up to
// 3 s until n has schema sid.
static int
schema_learned(dts_node *n, uint64_t sid)
{
    for (int i = 0; i < 3000; i++) {
        if (schema_cached(n, sid)) return 1;
        usleep(1000);
    }
    return 0;
}

static const char real_schema[] = "{\"type\":\"object\"}";

// F7: 128 unsolicited SCHEMA_ANS of 32 KiB, correctly hashed, filled the
// 4 MiB cache, and dts_schema_get failed for good for every schema learned
// later. Now a node caches only what it asked for or what a type it knows
// names, and a full cache forgets the least recently used schema.
static void
test_schema_flood(void **state)
{
    (void)state;
    dts_node *v = open_mem("mem://hostile-schemas");
    inj_open("mem://hostile-schemas");
    // Unsolicited, of no type the node knows: not kept at all.
    inject_schemas("junk.s", 'j', 128);
    inj_sync(v);
    assert_false(schema_cached(v, forged_sid('j', 0)));
    assert_false(schema_cached(v, forged_sid('j', 127)));
    dts_node *p = open_mem("mem://hostile-schemas");
    assert_int_equal(
        dts_type_declare(p, "real.Thing", DTS_FORMAT_JSON, real_schema, strlen(real_schema)),
        DTS_OK);
    assert_true(
        schema_learned(v, dts_schema_id(DTS_FORMAT_JSON, real_schema, strlen(real_schema))));
    // Of types the node was told of: kept, within the cache's bound (128
    // of them and their entries exceed it, so the first went).
    inject_types("known.s", 128, known_sid);
    inject_schemas("known.s", 'k', 128);
    inj_sync(v);
    assert_true(schema_cached(v, known_sid(127)));
    dtsi_lock(&v->mu);
    size_t cached = v->schema_bytes;
    pthread_mutex_unlock(&v->mu);
    assert_true(cached <= DTSI_SCHEMA_CACHE_MAX);
    int first = 0; // the oldest one kept, now used: no longer the least recently used
    while (first < 127 && !schema_cached(v, known_sid(first))) first++;
    assert_true(first > 0 && first < 126);
    // A new schema as large makes room by forgetting the least recently
    // used one, first + 1.
    static uint8_t other[DTS_SCHEMA_MAX];
    forged_schema(other, 'o', 0);
    assert_int_equal(dts_type_declare(p, "real.Other", DTS_FORMAT_RAW, other, sizeof other),
                     DTS_OK);
    assert_true(schema_learned(v, dts_schema_id(DTS_FORMAT_RAW, other, sizeof other)));
    assert_true(schema_cached(v, known_sid(first)));
    assert_false(schema_cached(v, known_sid(first + 1)));
    assert_true(schema_cached(v, known_sid(first + 2)));
    node_close(p);
    node_close(v);
}

int
main(void)
{
    uv_loop_init(&inj_loop);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_types_flood_leaves_local_room, close_left),
        cmocka_unit_test_teardown(test_heartbeat_flood, close_left),
        cmocka_unit_test_teardown(test_schema_flood, close_left),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    uv_loop_close(&inj_loop);
    return rc;
}
