// compress_node_test.c: compression per type through the node, over the
// in-process transport: a compressible payload arrives identical and the
// publisher counts it compressed; an incompressible or small one travels
// as it is; a subscriber without a compressor counts and drops; a payload
// whose prefix claims 1 GiB is refused before anything is allocated.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dts/codec.h>
#include <dts/dts.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct rx {
    pthread_mutex_t mu;
    int count;
    size_t len;
    uint8_t *data;
} rx;

static void
on_msg(void *ud, const dts_msg *m)
{
    rx *r = ud;
    pthread_mutex_lock(&r->mu);
    r->count++;
    free(r->data);
    r->data = malloc(m->len ? m->len : 1);
    memcpy(r->data, m->data, m->len);
    r->len = m->len;
    pthread_mutex_unlock(&r->mu);
}

static int
wait_count(rx *r, int n)
{
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&r->mu);
        int c = r->count;
        pthread_mutex_unlock(&r->mu);
        if (c >= n) return 1;
        usleep(1000);
    }
    return 0;
}

static dts_node *
open_node(const char *bus, const dts_compressor *c)
{
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = bus;
    cfg.compressor = c;
    dts_node *n;
    assert_int_equal(dts_node_open(&cfg, &n), DTS_OK);
    return n;
}

static void
test_roundtrip(void **state)
{
    dts_node *pub = open_node("mem://c1", dts_codec_compressor());
    dts_node *sub = open_node("mem://c1", dts_codec_compressor());
    rx r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    dts_sub *s;
    assert_int_equal(dts_subscribe(sub, "z.Text", on_msg, &r, &s), DTS_OK);
    assert_int_equal(dts_type_declare(pub, "z.Text", DTS_FORMAT_RAW, NULL, 0), DTS_OK);
    dts_type_opts o = {.compress = DTS_COMPRESS_ZSTD};
    assert_int_equal(dts_type_set_opts(pub, "z.Text", &o), DTS_OK);
    size_t len = 200000;
    char *text = malloc(len);
    for (size_t i = 0; i < len; i++) text[i] = "brewery sake koji "[i % 18];
    assert_int_equal(dts_publish(pub, "z.Text", text, len), DTS_OK);
    assert_int_equal(dts_publish(pub, "z.Text", "tiny", 4), DTS_OK); // under the threshold
    assert_true(wait_count(&r, 2));
    dts_type_counters pc, sc;
    dts_type_counters_get(pub, "z.Text", &pc);
    dts_type_counters_get(sub, "z.Text", &sc);
    assert_int_equal(pc.compressed, 1);
    assert_int_equal(sc.received, 2);
    assert_int_equal(r.len, 4);
    assert_memory_equal(r.data, "tiny", 4);
    // The big one arrived first, identical: check with a fresh publish.
    assert_int_equal(dts_publish(pub, "z.Text", text, len), DTS_OK);
    assert_true(wait_count(&r, 3));
    assert_int_equal(r.len, len);
    assert_memory_equal(r.data, text, len);
    // A late joiner's query gets the value uncompressed from the cache.
    free(text);
    free(r.data);
    dts_sub_close(s);
    dts_node_close(pub);
    dts_node_close(sub);
}

// Warnings about compressed frames dropped for want of a compressor.
static int no_compressor_warnings;

static void
count_warnings(void *ud, dts_log_level level, dts_log_cat cat, const char *event, const char *msg)
{
    (void)ud, (void)cat, (void)event;
    if (level == DTS_LOG_WARN && strstr(msg, "no compressor configured"))
        __atomic_add_fetch(&no_compressor_warnings, 1, __ATOMIC_RELAXED);
}

static void
test_no_compressor(void **state)
{
    dts_log_set_sink(count_warnings, NULL, DTS_LOG_WARN);
    dts_node *pub = open_node("mem://c2", dts_codec_compressor());
    dts_node *sub = open_node("mem://c2", NULL);
    rx r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    dts_sub *s;
    dts_subscribe(sub, "z.Bin", on_msg, &r, &s);
    dts_type_declare(pub, "z.Bin", DTS_FORMAT_RAW, NULL, 0);
    dts_type_opts o = {.compress = DTS_COMPRESS_LZ4};
    dts_type_set_opts(pub, "z.Bin", &o);
    static char zeros[50000];
    dts_publish(pub, "z.Bin", zeros, sizeof zeros);
    dts_publish(pub, "z.Bin", "plain", 5);
    assert_true(wait_count(&r, 1));
    dts_type_counters sc;
    for (int i = 0; i < 1000; i++) {
        dts_type_counters_get(sub, "z.Bin", &sc);
        if (sc.dropped_compressed) break;
        usleep(1000);
    }
    assert_int_equal(sc.dropped_compressed, 1);
    assert_int_equal(sc.received, 1);
    assert_int_equal(sc.gaps, 0); // counted once, not also as a gap
    // Said once, as a warning: the next one is counted quietly.
    dts_publish(pub, "z.Bin", zeros, sizeof zeros);
    for (int i = 0; i < 1000 && sc.dropped_compressed < 2; i++) {
        dts_type_counters_get(sub, "z.Bin", &sc);
        usleep(1000);
    }
    assert_int_equal(sc.dropped_compressed, 2);
    assert_int_equal(__atomic_load_n(&no_compressor_warnings, __ATOMIC_RELAXED), 1);
    free(r.data);
    dts_node_close(pub);
    dts_node_close(sub);
    dts_log_set_sink(NULL, NULL, DTS_LOG_WARN); // no node left to log through it
}

// A lying compressor: every payload becomes a prefix claiming 1 GiB.
static dts_err
liar_compress(int alg, int level, size_t thr, const void *in, size_t len, void **out, size_t *olen)
{
    uint8_t *b = malloc(64);
    memset(b, 0x5a, 64);
    b[0] = 1; // zstd
    uint32_t claim = 1u << 30;
    memcpy(b + 1, &claim, 4);
    *out = b;
    *olen = 64;
    return DTS_OK;
}

static const dts_compressor liar = {.compress = liar_compress, .free_buf = free};

static void
test_claims_1gib(void **state)
{
    dts_node *pub = open_node("mem://c3", &liar);
    dts_node *sub = open_node("mem://c3", dts_codec_compressor());
    rx r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    dts_sub *s;
    dts_subscribe(sub, "z.Lie", on_msg, &r, &s);
    dts_type_declare(pub, "z.Lie", DTS_FORMAT_RAW, NULL, 0);
    dts_type_opts o = {.compress = DTS_COMPRESS_ZSTD};
    dts_type_set_opts(pub, "z.Lie", &o);
    static char big[4096];
    dts_publish(pub, "z.Lie", big, sizeof big);
    dts_type_counters sc = {0};
    for (int i = 0; i < 2000 && !sc.dropped_compressed; i++) {
        dts_type_counters_get(sub, "z.Lie", &sc);
        usleep(1000);
    }
    assert_int_equal(sc.dropped_compressed, 1);
    assert_int_equal(r.count, 0);
    dts_node_close(pub);
    dts_node_close(sub);
}

// dts_type_set_opts refuses what would never compress: an algorithm out of
// 0-3, a level the compressor refuses, compression on a node without a
// compressor. It accepted them all and published uncompressed.
static void
test_opts_checked(void **state)
{
    dts_node *n = open_node("mem://c4", dts_codec_compressor());
    dts_node *bare = open_node("mem://c4", NULL);
    assert_int_equal(dts_type_declare(n, "z.Opts", DTS_FORMAT_RAW, NULL, 0), DTS_OK);
    assert_int_equal(dts_type_declare(bare, "z.Opts", DTS_FORMAT_RAW, NULL, 0), DTS_OK);
    const struct {
        int compress, level;
        dts_err want;
    } cases[] = {{9, 0, DTS_EINVAL},
                 {-1, 0, DTS_EINVAL},
                 {DTS_COMPRESS_ZSTD, 99, DTS_EINVAL},
                 {DTS_COMPRESS_BLOSC, 50, DTS_EINVAL},
                 {DTS_COMPRESS_LZ4, -1, DTS_EINVAL},
                 {DTS_COMPRESS_ZSTD, 19, DTS_OK},
                 {DTS_COMPRESS_LZ4, 8, DTS_OK},
                 {DTS_COMPRESS_NONE, 0, DTS_OK}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dts_type_opts o = {.compress = cases[i].compress, .compress_level = cases[i].level};
        assert_int_equal(dts_type_set_opts(n, "z.Opts", &o), cases[i].want);
    }
    dts_type_opts o = {.compress = DTS_COMPRESS_ZSTD};
    assert_int_equal(dts_type_set_opts(bare, "z.Opts", &o), DTS_ENOTSUP);
    o.compress = DTS_COMPRESS_NONE;
    assert_int_equal(dts_type_set_opts(bare, "z.Opts", &o), DTS_OK);
    // The empty schema of a format is known without asking anyone.
    dts_format f = DTS_FORMAT_RAW;
    void *schema = NULL;
    size_t len = 99;
    assert_int_equal(
        dts_schema_get(bare, dts_schema_id(DTS_FORMAT_CBOR, NULL, 0), &f, &schema, &len), DTS_OK);
    assert_int_equal(f, DTS_FORMAT_CBOR);
    assert_int_equal(len, 0);
    dts_free(schema);
    dts_node_close(bare);
    dts_node_close(n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_no_compressor),
        cmocka_unit_test(test_claims_1gib),
        cmocka_unit_test(test_opts_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
