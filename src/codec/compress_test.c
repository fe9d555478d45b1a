// compress_test.c: compression framing, threshold, "only when it shrinks",
// and decompression caps (a payload claiming 1 GiB is refused at once).
#include <blosc.h>
#include <zstd.h>

#include "codec/codec_testutil.h"

static uint8_t *
sample(size_t n)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)("temperature=21.5;"[i % 17]);
    return b;
}

static void
test_roundtrip(void **state)
{
    size_t n = 64 * 1024;
    uint8_t *in = sample(n);
    for (int alg = DTS_COMPRESS_ZSTD; alg <= DTS_COMPRESS_BLOSC; alg++) {
        void *c, *d;
        size_t cn, dn;
        assert_int_equal(dts_compress(alg, 0, 0, in, n, &c, &cn), DTS_OK);
        assert_non_null(c);
        assert_true(cn < n / 4);
        assert_int_equal(((uint8_t *)c)[0], alg);
        assert_int_equal(dts_decompress(c, cn, NULL, &d, &dn, NULL, 0), DTS_OK);
        assert_int_equal(dn, n);
        assert_memory_equal(d, in, n);
        // Cut short or corrupted: refused.
        char err[200] = "";
        void *x;
        size_t xn;
        assert_int_not_equal(dts_decompress(c, cn - 3, NULL, &x, &xn, err, sizeof err), DTS_OK);
        assert_true(err[0] != 0);
        dts_codec_free(c);
        dts_codec_free(d);
    }
    free(in);
}

static const char sample_text[] = "brewery sake koji brewery sake koji brewery sake koji "
                                  "brewery sake koji brewery sake koji brewery sake koji "
                                  "brewery sake koji brewery sake koji brewery sake koji";

static void
test_threshold_and_gain(void **state)
{
    uint8_t *in = sample(4096);
    void *c;
    size_t cn;
    assert_int_equal(dts_compress(DTS_COMPRESS_ZSTD, 0, 0, in, 500, &c, &cn), DTS_OK);
    assert_null(c); // below DTS_COMPRESS_THRESHOLD
    assert_int_equal(dts_compress(DTS_COMPRESS_ZSTD, 0, 100, in, 500, &c, &cn), DTS_OK);
    assert_non_null(c);
    dts_codec_free(c);
    // Random bytes do not shrink: left alone.
    uint32_t x = 1;
    for (int i = 0; i < 4096; i++) in[i] = (uint8_t)((x = x * 1103515245 + 12345) >> 16);
    for (int alg = DTS_COMPRESS_ZSTD; alg <= DTS_COMPRESS_BLOSC; alg++) {
        assert_int_equal(dts_compress(alg, 0, 0, in, 4096, &c, &cn), DTS_OK);
        assert_null(c);
    }
    assert_int_equal(dts_compress(DTS_COMPRESS_NONE, 0, 0, in, 4096, &c, &cn), DTS_OK);
    assert_null(c);
    assert_int_equal(dts_compress(9, 0, 0, in, 4096, &c, &cn), DTS_ENOTSUP);
    // Levels out of an algorithm's range are refused, also when nothing
    // would be compressed (len 0 checks the options); blosc did print to
    // stderr and compress nothing, zstd clamped silently.
    const struct {
        int alg, level;
        dts_err want;
    } levels[] = {{DTS_COMPRESS_ZSTD, 19, DTS_OK},      {DTS_COMPRESS_ZSTD, -5, DTS_OK},
                  {DTS_COMPRESS_ZSTD, 99, DTS_EINVAL},  {DTS_COMPRESS_LZ4, 8, DTS_OK},
                  {DTS_COMPRESS_LZ4, -1, DTS_EINVAL},   {DTS_COMPRESS_BLOSC, 9, DTS_OK},
                  {DTS_COMPRESS_BLOSC, 10, DTS_EINVAL}, {DTS_COMPRESS_BLOSC, -1, DTS_EINVAL}};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        assert_int_equal(dts_compress(levels[i].alg, levels[i].level, 0, "", 0, &c, &cn),
                         levels[i].want);
        assert_null(c);
        if (levels[i].want == DTS_OK) { // and it does compress at that level
            assert_int_equal(dts_compress(levels[i].alg, levels[i].level, 100, sample_text,
                                          sizeof sample_text, &c, &cn),
                             DTS_OK);
            assert_non_null(c);
            dts_codec_free(c);
        }
    }
    free(in);
    dts_compress_alg a;
    assert_int_equal(dts_compress_alg_parse("lz4", &a), DTS_OK);
    assert_int_equal(a, DTS_COMPRESS_LZ4);
    assert_int_equal(dts_compress_alg_parse("ZSTD", &a), DTS_OK); // any case
    assert_int_equal(a, DTS_COMPRESS_ZSTD);
    assert_int_equal(dts_compress_alg_parse("brotli", &a), DTS_ENOTSUP);
    assert_string_equal(dts_compress_alg_name(DTS_COMPRESS_BLOSC), "blosc");
}

// Hostile: a prefix claiming 1 GiB; a blosc header claiming 1 GiB behind a
// small prefix; a zstd frame claiming 1 GiB. All refused, memory bounded.
static void
test_hostile(void **state)
{
    uint8_t p[64] = {DTS_COMPRESS_ZSTD, 0x00, 0x00, 0x00, 0x40};
    void *d;
    size_t dn;
    tu_peak_reset();
    for (int alg = DTS_COMPRESS_ZSTD; alg <= DTS_COMPRESS_BLOSC; alg++) {
        p[0] = (uint8_t)alg;
        assert_int_equal(dts_decompress(p, sizeof p, NULL, &d, &dn, NULL, 0), DTS_ETOOBIG);
    }
    assert_int_equal(tu_peak - tu_live, 0);
    // blosc header: version 2, flags shuffle, typesize 1, nbytes 1 GiB.
    uint8_t b[5 + 32] = {DTS_COMPRESS_BLOSC, 100, 0, 0, 0, 2, 1, 1, 1};
    uint32_t nbytes = 1u << 30, cbytes = 32;
    memcpy(b + 5 + 4, &nbytes, 4);
    memcpy(b + 5 + 12, &cbytes, 4);
    assert_int_equal(dts_decompress(b, sizeof b, NULL, &d, &dn, NULL, 0), DTS_EMALFORMED);
    // zstd frame that says 1 GiB of content.
    uint8_t z[5 + 64] = {DTS_COMPRESS_ZSTD, 100, 0, 0, 0};
    size_t zn = ZSTD_compress(z + 5, 64, "", 0, 1);
    assert_false(ZSTD_isError(zn));
    z[5 + 4] = 0xa0; // single segment, 4-byte content size
    uint32_t big = 1u << 30;
    memmove(z + 5 + 5 + 4, z + 5 + 5 + 1, zn - 6);
    memcpy(z + 5 + 5, &big, 4);
    assert_int_not_equal(dts_decompress(z, 5 + zn + 3, NULL, &d, &dn, NULL, 0), DTS_OK);
    assert_true(tu_peak - tu_live < 4096);
    // Unknown algorithm and short input.
    p[0] = 7;
    assert_int_equal(dts_decompress(p, sizeof p, NULL, &d, &dn, NULL, 0), DTS_ENOTSUP);
    assert_int_equal(dts_decompress(p, 3, NULL, &d, &dn, NULL, 0), DTS_EMALFORMED);
    // A tighter limit refuses what the default accepts.
    uint8_t *in = sample(8192);
    void *c;
    size_t cn;
    dts_codec_limits l = {.max_decompressed = 4096};
    assert_int_equal(dts_compress(DTS_COMPRESS_LZ4, 0, 0, in, 8192, &c, &cn), DTS_OK);
    assert_int_equal(dts_decompress(c, cn, &l, &d, &dn, NULL, 0), DTS_ETOOBIG);
    dts_codec_free(c);
    free(in);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_threshold_and_gain),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, tu_setup, tu_teardown);
}
