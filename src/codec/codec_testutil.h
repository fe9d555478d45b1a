// codec_testutil.h: helpers for the codec unit tests (cmocka): a counting
// allocator installed through dts_codec_set_alloc_funcs (it also counts
// jansson), and JSON round trips. Header-only; test programs only.
#ifndef DTS_CODEC_TESTUTIL_H
#define DTS_CODEC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <dts/codec.h>

// Every block carries its size in a 16-byte header so that free can
// subtract it; tu_peak is the high-water mark of live bytes.
static size_t tu_live, tu_peak;

static void *
tu_malloc(size_t n)
{
    uint8_t *p = malloc(n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    tu_live += n;
    if (tu_live > tu_peak) tu_peak = tu_live;
    return p + 16;
}

static __attribute__((unused)) void
tu_free(void *q)
{
    if (!q) return;
    uint8_t *p = (uint8_t *)q - 16;
    size_t n;
    memcpy(&n, p, sizeof n);
    tu_live -= n;
    free(p);
}

// tu_setup installs the counting allocator (cmocka group setup).
static __attribute__((unused)) int
tu_setup(void **state)
{
    (void)state;
    dts_codec_set_alloc_funcs(tu_malloc, tu_free);
    return 0;
}

static __attribute__((unused)) int
tu_teardown(void **state)
{
    (void)state;
    dts_codec_set_alloc_funcs(NULL, NULL);
    return 0;
}

// tu_peak_reset starts a new high-water measurement.
static __attribute__((unused)) void
tu_peak_reset(void)
{
    tu_peak = tu_live;
}

// tu_roundtrip encodes JSON text in a format, decodes it back and checks
// the JSON text it gives (want NULL: same as in).
static __attribute__((unused)) void
tu_roundtrip(dts_codec_schema *s, const char *in, const char *want)
{
    void *p = NULL;
    size_t n = 0;
    char err[256] = "", *out = NULL;
    dts_err e = dts_codec_encode_json(s, in, strlen(in), &p, &n, err, sizeof err);
    if (e) fprintf(stderr, "encode %s: %s (%s)\n", in, dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    e = dts_codec_validate(s, p, n, err, sizeof err);
    if (e) fprintf(stderr, "validate %s: %s (%s)\n", in, dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    e = dts_codec_decode_json(s, p, n, &out, err, sizeof err);
    if (e) fprintf(stderr, "decode %s: %s (%s)\n", in, dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    if (strcmp(out, want ? want : in)) fprintf(stderr, "in %s\nout %s\n", in, out);
    assert_string_equal(out, want ? want : in);
    dts_codec_free(out);
    dts_codec_free(p);
}

// tu_decode_err decodes bytes and returns the error (0 if it decoded).
static __attribute__((unused)) dts_err
tu_decode_err(dts_codec_schema *s, const void *p, size_t n)
{
    char err[256] = "", *out = NULL;
    dts_err e = dts_codec_decode_json(s, p, n, &out, err, sizeof err);
    dts_codec_free(out);
    if (e) assert_true(err[0] != 0);
    return e;
}

// tu_hex_json decodes each hex payload of hex[i] and checks the JSON text
// json[i] it gives (decoding vectors of a binary format).
static __attribute__((unused)) void
tu_hex_json(dts_codec_schema *s, const char *hex, const char *json)
{
    uint8_t b[64];
    size_t n = strlen(hex) / 2;
    assert_true(n <= sizeof b);
    for (size_t k = 0; k < n; k++) sscanf(hex + 2 * k, "%2hhx", &b[k]);
    char *out = NULL, err[200] = "";
    dts_err e = dts_codec_decode_json(s, b, n, &out, err, sizeof err);
    if (e) fprintf(stderr, "%s: %s\n", hex, err);
    assert_int_equal(e, DTS_OK);
    assert_string_equal(out, json);
    dts_codec_free(out);
}

// tu_hex_bad checks that a hex payload is refused.
static __attribute__((unused)) void
tu_hex_bad(dts_codec_schema *s, const char *hex)
{
    uint8_t b[64];
    size_t n = strlen(hex) / 2;
    assert_true(n <= sizeof b);
    for (size_t k = 0; k < n; k++) sscanf(hex + 2 * k, "%2hhx", &b[k]);
    dts_err e = tu_decode_err(s, b, n);
    if (!e) fprintf(stderr, "accepted %s\n", hex);
    assert_int_not_equal(e, DTS_OK);
}

// tu_nested builds open '[' x depth, then close.
static __attribute__((unused)) char *
tu_nested(unsigned depth)
{
    char *s = malloc(2 * depth + 1);
    for (unsigned i = 0; i < depth; i++) s[i] = '[', s[depth + i] = ']';
    s[2 * depth] = 0;
    return s;
}

#endif

#ifndef TU_NO_VALUES
// tu_values round-trips every value kind of the shared JSON mapping.
// neg_big says whether the format holds integers below INT64_MIN (CBOR).
static __attribute__((unused)) void
tu_values(dts_codec_schema *s, int neg_big)
{
    static const char *v[] = {
        "null",
        "true",
        "false",
        "0",
        "1",
        "-1",
        "23",
        "24",
        "255",
        "256",
        "65536",
        "9223372036854775807",
        "-9223372036854775808",
        "\"9223372036854775808\"",
        "\"18446744073709551615\"",
        "1.5",
        "-2.25",
        "1e+300",
        "1e-300",
        "0.1",
        "\"NaN\"",
        "\"Infinity\"",
        "\"-Infinity\"",
        "\"\"",
        "\"h\xc3\xa9llo \xe6\xbc\xa2\"",
        "\"a\\u0000b\"",
        "{\"base64\":\"\"}",
        "{\"base64\":\"AAEC/w==\"}",
        "[]",
        "{}",
        "[1,[2,[3,{\"k\":[true,null,\"x\"]}]]]",
        "{\"a\":1,\"b\":{\"c\":[1.5,\"d\"]},\"e\":null}",
        "{\"1\":\"one\"}",
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) tu_roundtrip(s, v[i], NULL);
    if (neg_big) tu_roundtrip(s, "\"-18446744073709551616\"", NULL);
    // A very long string (256 KiB) and a long byte string.
    size_t n = 256 * 1024;
    char *big = malloc(n + 3);
    big[0] = '"';
    for (size_t i = 1; i <= n; i++) big[i] = (char)('a' + i % 26);
    big[n + 1] = '"';
    big[n + 2] = 0;
    tu_roundtrip(s, big, NULL);
    free(big);
}

// tu_depth checks nesting up to the limit (accepted) and one past it
// (refused) when encoding from JSON; enc_deeper, when not NULL, is a
// payload one level too deep that decoding must refuse.
static __attribute__((unused)) void
tu_depth(dts_codec_schema *s, unsigned limit)
{
    char *ok = tu_nested(limit), *bad = tu_nested(limit + 1);
    void *p;
    size_t n;
    tu_roundtrip(s, ok, NULL);
    assert_int_equal(dts_codec_encode_json(s, bad, strlen(bad), &p, &n, NULL, 0), DTS_ETOOBIG);
    free(ok);
    free(bad);
}
#endif
