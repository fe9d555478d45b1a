// typed_test.c: the typed helpers (include/dts/typed.h) between two nodes
// over the in-process mem:// transport: jansson values of CBOR and
// protobuf types, schema mismatch refused, and protobuf-c generated
// structs (tests/data/typed_test.proto, generated at build time by
// src/codec/codec.cmake) with the nesting pre-check before protobuf-c.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dts/typed.h>

#ifdef DTS_TYPED_PBC
#include <protobuf-c/protobuf-c.h>

#include "typed_test.pb-c.h"
#endif

#define WAIT_MS 5000

// What a subscription callback saw: the last value decoded to JSON with
// the schema the test gave it (or the error), and for protobuf-c structs
// the unpacked fields.
typedef struct rx {
    pthread_mutex_t mu;
    const void *schema;
    size_t schema_len;
    int count;
    dts_err err;
    json_t *value;
    int unpack; // also unpack as typed.Reading
    dts_err unpack_err;
    char tank[32];
    int64_t counter;
    uint64_t serial;
    int64_t offset;
    size_t n_history;
} rx;

static void
on_msg(void *ud, const dts_msg *m)
{
    rx *r = ud;
    json_t *v = NULL;
    dts_err e = dts_msg_json(m, r->schema, r->schema_len, &v, NULL, 0);
    pthread_mutex_lock(&r->mu);
    r->count++;
    r->err = e;
    json_decref(r->value);
    r->value = v;
#ifdef DTS_TYPED_PBC
    if (r->unpack) {
        ProtobufCMessage *pm = NULL;
        r->unpack_err = dts_msg_unpack_protobuf(m, &typed__reading__descriptor, &pm, NULL, 0);
        Typed__Reading *rd = (Typed__Reading *)pm;
        if (rd) {
            snprintf(r->tank, sizeof r->tank, "%s", rd->tank);
            r->counter = rd->counter;
            r->serial = rd->serial;
            r->offset = rd->inner ? rd->inner->offset : 0;
            r->n_history = rd->n_history;
            protobuf_c_message_free_unpacked(pm, NULL);
        }
    }
#endif
    pthread_mutex_unlock(&r->mu);
}

static int
rx_count(rx *r)
{
    pthread_mutex_lock(&r->mu);
    int c = r->count;
    pthread_mutex_unlock(&r->mu);
    return c;
}

// Two nodes on one mem:// bus: a publishes, b subscribes.
typedef struct pair {
    dts_node *a, *b;
} pair;

static int
setup(void **state)
{
    static int bus;
    char url[64];
    pair *p = calloc(1, sizeof *p);
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    snprintf(url, sizeof url, "mem://typed%d", bus++);
    cfg.url = url;
    if (dts_node_open(&cfg, &p->a) || dts_node_open(&cfg, &p->b)) return -1;
    *state = p;
    return 0;
}

static int
teardown(void **state)
{
    pair *p = *state;
    dts_node_close(p->a);
    dts_node_close(p->b);
    free(p);
    return 0;
}

// exchange subscribes b to type and publishes value from a until b has
// received one message (the subscription may need a moment to join).
static void
exchange(pair *p, const char *type, rx *r, const json_t *value)
{
    dts_sub *sub;
    assert_int_equal(dts_subscribe(p->b, type, on_msg, r, &sub), DTS_OK);
    for (int i = 0; i < WAIT_MS / 20 && rx_count(r) == 0; i++) {
        assert_int_equal(dts_publish_json(p->a, type, value), DTS_OK);
        usleep(20000);
    }
    dts_sub_close(sub);
    assert_true(rx_count(r) > 0);
}

static void
rx_init(rx *r, const void *schema, size_t len)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->schema = schema;
    r->schema_len = len;
}

static void
rx_fini(rx *r)
{
    json_decref(r->value);
    pthread_mutex_destroy(&r->mu);
}

// A CBOR type without a schema: 64-bit limits, nesting and bytes survive
// publish_json -> msg_json; an undeclared type and a mismatched schema are
// refused.
static void
test_json_cbor(void **state)
{
    pair *p = *state;
    const char *text = "{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                       "\"umax\":\"18446744073709551615\",\"deep\":{\"a\":[1,{\"b\":null}]},"
                       "\"bytes\":{\"base64\":\"AAEC\"},\"f\":-0.5}";
    json_t *value = json_loads(text, 0, NULL);
    rx r;
    rx_init(&r, NULL, 0);
    assert_int_equal(dts_publish_json(p->a, "typed.Cbor", value), DTS_ENOENT);
    assert_int_equal(dts_type_declare(p->a, "typed.Cbor", DTS_FORMAT_CBOR, NULL, 0), DTS_OK);
    exchange(p, "typed.Cbor", &r, value);
    assert_int_equal(r.err, DTS_OK);
    assert_true(json_equal(r.value, value));

    // The same message decoded with another schema: refused, not guessed.
    dts_msg m = {.format = DTS_FORMAT_CBOR,
                 .schema_id = dts_schema_id(DTS_FORMAT_CBOR, NULL, 0),
                 .data = "\xa0",
                 .len = 1};
    json_t *out = NULL;
    char err[128];
    assert_int_equal(dts_msg_json(&m, "{}", 2, &out, err, sizeof err), DTS_EMISMATCH);
    assert_null(out);
    assert_int_equal(dts_msg_json(&m, NULL, 0, &out, NULL, 0), DTS_OK);
    assert_true(json_is_object(out) && json_object_size(out) == 0);
    json_decref(out);
    json_decref(value);
    rx_fini(&r);
}

// A protobuf type declared from a .proto (protoc at run time): publish_json
// encodes, msg_json decodes; a value that does not fit is DTS_EINVAL; a
// compiled schema decodes through dts_msg_decode.
static void
test_json_protobuf(void **state)
{
    pair *p = *state;
    void *schema = NULL;
    size_t len = 0;
    char err[256] = "";
    dts_err e =
        dts_codec_protobuf_schema_from_proto(DTS_SOURCE_DIR "/tests/data/typed_test.proto", NULL,
                                             "typed.Reading", &schema, &len, err, sizeof err);
    if (e == DTS_ESYS) skip(); // no protoc here
    assert_int_equal(e, DTS_OK);
    assert_int_equal(dts_type_declare(p->a, "typed.Pb", DTS_FORMAT_PROTOBUF, schema, len), DTS_OK);
    json_t *value =
        json_loads("{\"tank\":\"T1\",\"celsius\":18.5,\"counter\":\"-9223372036854775808\","
                   "\"serial\":\"18446744073709551615\",\"inner\":{\"note\":\"n\","
                   "\"offset\":\"-5\"},\"history\":[1,2,3]}",
                   0, NULL);
    rx r;
    rx_init(&r, schema, len);
    exchange(p, "typed.Pb", &r, value);
    assert_int_equal(r.err, DTS_OK);
    assert_true(json_equal(r.value, value));

    json_t *bad = json_loads("{\"tnk\":\"T1\"}", 0, NULL);
    assert_int_equal(dts_publish_json(p->a, "typed.Pb", bad), DTS_EINVAL);
    dts_codec_schema *s;
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_PROTOBUF, schema, len, NULL, &s, NULL, 0),
                     DTS_OK);
    err[0] = '\0';
    assert_int_equal(dts_publish_value(p->a, "typed.Pb", s, bad, err, sizeof err), DTS_EINVAL);
    assert_non_null(strstr(err, "tnk"));
    void *payload;
    size_t plen;
    assert_int_equal(dts_codec_encode(s, value, &payload, &plen, NULL, 0), DTS_OK);
    dts_msg m = {.format = DTS_FORMAT_RAW,
                 .schema_id = dts_codec_schema_id(s),
                 .data = payload,
                 .len = plen};
    json_t *out = NULL;
    assert_int_equal(dts_msg_decode(&m, s, &out, NULL, 0), DTS_OK);
    assert_true(json_equal(out, value));
    json_decref(out);
    m.schema_id ^= 1;
    assert_int_equal(dts_msg_decode(&m, s, &out, NULL, 0), DTS_EMISMATCH);
    dts_codec_free(payload);
    dts_codec_schema_free(s);
    json_decref(bad);
    json_decref(value);
    dts_codec_free(schema);
    rx_fini(&r);
}

#ifdef DTS_TYPED_PBC
// read_file reads the descriptor set protoc made at build time.
static void *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

// A generated struct published with dts_publish_protobuf arrives whole
// through dts_msg_unpack_protobuf, and any node decodes it to JSON from
// the descriptor set declared with it.
static void
test_protobuf_c(void **state)
{
    pair *p = *state;
    size_t fds_len;
    const void *fds = read_file(DTS_TYPED_FDS, &fds_len);
    void *schema;
    size_t len;
    assert_int_equal(
        dts_codec_protobuf_schema_make("typed.Reading", fds, fds_len, &schema, &len, NULL, 0),
        DTS_OK);
    assert_int_equal(dts_type_declare_protobuf(p->a, "typed.Gen", &typed__reading__descriptor, fds,
                                               fds_len, NULL, 0),
                     DTS_OK);
    // Declared the same way twice: the same schema, so a no-op.
    assert_int_equal(dts_type_declare(p->a, "typed.Gen", DTS_FORMAT_PROTOBUF, schema, len), DTS_OK);

    Typed__Reading rd = TYPED__READING__INIT;
    Typed__Inner in = TYPED__INNER__INIT;
    int32_t hist[] = {7, -8, 2147483647};
    rd.tank = "T9";
    rd.counter = INT64_MIN;
    rd.serial = UINT64_MAX;
    in.note = "inner";
    in.offset = INT64_MAX;
    rd.inner = &in;
    rd.history = hist;
    rd.n_history = 3;

    rx r;
    rx_init(&r, schema, len);
    r.unpack = 1;
    dts_sub *sub;
    assert_int_equal(dts_subscribe(p->b, "typed.Gen", on_msg, &r, &sub), DTS_OK);
    for (int i = 0; i < WAIT_MS / 20 && rx_count(&r) == 0; i++) {
        assert_int_equal(dts_publish_protobuf(p->a, "typed.Gen", &rd.base), DTS_OK);
        usleep(20000);
    }
    dts_sub_close(sub);
    assert_true(rx_count(&r) > 0);
    assert_int_equal(r.unpack_err, DTS_OK);
    assert_string_equal(r.tank, "T9");
    assert_true(r.counter == INT64_MIN && r.serial == UINT64_MAX && r.offset == INT64_MAX);
    assert_int_equal(r.n_history, 3);
    assert_int_equal(r.err, DTS_OK);
    json_t *want = json_loads("{\"tank\":\"T9\",\"counter\":\"-9223372036854775808\","
                              "\"serial\":\"18446744073709551615\",\"inner\":{\"note\":\"inner\","
                              "\"offset\":\"9223372036854775807\"},\"history\":[7,-8,2147483647]}",
                              0, NULL);
    assert_true(json_equal(r.value, want));
    json_decref(want);
    dts_codec_free(schema);
    rx_fini(&r);
}

// nest builds a typed.Node payload with k nested children (depth k + 1).
static uint8_t *
nest(unsigned k, size_t *len)
{
    uint8_t *b = malloc(8 * (size_t)k + 2);
    size_t n = 0, cap = 8 * (size_t)k + 2;
    for (unsigned i = 0; i < k; i++) {
        // prepend tag 0x0a and the varint length n
        uint8_t head[11];
        size_t h = 0;
        head[h++] = 0x0a;
        size_t v = n;
        do {
            head[h++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v);
        assert_true(n + h <= cap);
        memmove(b + h, b, n);
        memcpy(b, head, h);
        n += h;
    }
    *len = n;
    return b;
}

// The nesting pre-check: depth 64 is unpacked, 65 and a 10,000-deep
// message (which overflows protobuf-c's stack without it) are refused
// before protobuf-c runs; truncated bytes and other formats are refused.
static void
test_protobuf_c_limits(void **state)
{
    (void)state;
    size_t len;
    char err[128];
    ProtobufCMessage *out = NULL;
    uint8_t *b = nest(63, &len);
    dts_msg m = {.format = DTS_FORMAT_PROTOBUF, .data = b, .len = len};
    assert_int_equal(dts_msg_unpack_protobuf(&m, &typed__node__descriptor, &out, NULL, 0), DTS_OK);
    protobuf_c_message_free_unpacked(out, NULL);
    free(b);

    b = nest(64, &len);
    m.data = b, m.len = len;
    out = NULL;
    assert_int_equal(dts_msg_unpack_protobuf(&m, &typed__node__descriptor, &out, err, sizeof err),
                     DTS_ETOOBIG);
    assert_null(out);
    assert_non_null(strstr(err, "deeper than 64"));
    free(b);

    b = nest(10000, &len);
    m.data = b, m.len = len;
    assert_int_equal(dts_msg_unpack_protobuf(&m, &typed__node__descriptor, &out, NULL, 0),
                     DTS_ETOOBIG);
    m.len = len / 2; // cut: lengths claim more than is there
    assert_int_equal(dts_msg_unpack_protobuf(&m, &typed__node__descriptor, &out, NULL, 0),
                     DTS_EMALFORMED);
    free(b);

    // Fields are counted: 100,000 unpacked history entries (2 bytes each)
    // unpack, 100,001 are refused before protobuf-c allocates for them.
    for (int over = 0; over < 2; over++) {
        size_t k = 100000 + (size_t)over;
        b = malloc(2 * k);
        for (size_t i = 0; i < k; i++) b[2 * i] = 0x30, b[2 * i + 1] = 0x01; // history: 1
        m = (dts_msg){.format = DTS_FORMAT_PROTOBUF, .data = b, .len = 2 * k};
        out = NULL;
        err[0] = 0;
        dts_err e = dts_msg_unpack_protobuf(&m, &typed__reading__descriptor, &out, err, sizeof err);
        assert_int_equal(e, over ? DTS_ETOOBIG : DTS_OK);
        if (over)
            assert_non_null(strstr(err, "more than 100000 fields"));
        else
            assert_int_equal(((Typed__Reading *)out)->n_history, k);
        if (out) protobuf_c_message_free_unpacked(out, NULL);
        free(b);
    }

    m.format = DTS_FORMAT_CBOR;
    assert_int_equal(dts_msg_unpack_protobuf(&m, &typed__node__descriptor, &out, NULL, 0),
                     DTS_EMISMATCH);
    assert_int_equal(dts_msg_unpack_protobuf(&m, NULL, &out, NULL, 0), DTS_EINVAL);
}
#endif

// dts_type_declare_checked refuses a schema its codec cannot compile, says
// why, and declares nothing; a good schema is declared as dts_type_declare
// would.
static void
test_declare_checked(void **state)
{
    pair *p = *state;
    char err[200] = "";
    const char *bogus = "{\"type\":\"bogus\"}";
    assert_int_equal(dts_type_declare_checked(p->a, "typed.Bad", DTS_FORMAT_JSON, bogus,
                                              strlen(bogus), err, sizeof err),
                     DTS_EMALFORMED);
    assert_non_null(strstr(err, "bogus"));
    assert_int_equal(
        dts_type_declare_checked(p->a, "typed.Bad", DTS_FORMAT_CAPNP, "x", 1, err, sizeof err),
        DTS_EMALFORMED);
    dts_type_info *ti = NULL;
    size_t n = 0;
    assert_int_equal(dts_node_types(p->a, &ti, &n), DTS_OK);
    for (size_t i = 0; i < n; i++) assert_string_not_equal(ti[i].name, "typed.Bad");
    dts_free(ti);
    const char *good = "{\"type\":\"object\",\"required\":[\"c\"]}";
    assert_int_equal(dts_type_declare_checked(p->a, "typed.Good", DTS_FORMAT_JSON, good,
                                              strlen(good), err, sizeof err),
                     DTS_OK);
    // Declared: dts_publish_json finds it and the schema checks values.
    json_t *ok = json_pack("{s:i}", "c", 1), *missing = json_pack("{s:i}", "d", 1);
    assert_int_equal(dts_publish_json(p->a, "typed.Good", ok), DTS_OK);
    assert_int_equal(dts_publish_json(p->a, "typed.Good", missing), DTS_EINVAL);
    // dts_publish_json_err says why.
    assert_int_equal(dts_publish_json_err(p->a, "typed.Good", missing, err, sizeof err),
                     DTS_EINVAL);
    assert_non_null(strstr(err, "required"));
    assert_int_equal(dts_publish_json_err(p->a, "typed.Nowhere", ok, err, sizeof err), DTS_ENOENT);
    assert_non_null(strstr(err, "typed.Nowhere is not declared"));
    json_decref(ok);
    json_decref(missing);
    // Declared already with another schema: the core's refusal, explained.
    const char *other = "{\"type\":\"object\"}";
    assert_int_equal(dts_type_declare_checked(p->a, "typed.Good", DTS_FORMAT_JSON, other,
                                              strlen(other), err, sizeof err),
                     DTS_EEXIST);
    assert_non_null(strstr(err, "cannot declare typed.Good"));
    static char big[DTS_SCHEMA_MAX + 2];
    memset(big, ' ', sizeof big - 1);
    assert_int_equal(dts_type_declare_checked(p->a, "typed.Big", DTS_FORMAT_JSON, big,
                                              sizeof big - 1, err, sizeof err),
                     DTS_ETOOBIG);
    assert_int_equal(
        dts_type_declare_checked(NULL, "typed.Good", DTS_FORMAT_JSON, NULL, 0, NULL, 0),
        DTS_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_cbor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_protobuf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declare_checked, setup, teardown),
#ifdef DTS_TYPED_PBC
        cmocka_unit_test_setup_teardown(test_protobuf_c, setup, teardown),
        cmocka_unit_test(test_protobuf_c_limits),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
