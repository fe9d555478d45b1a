// cbor_test.c: CBOR round trips for every value kind, limits, and the
// hostile inputs of notes/libraries.md (5 bytes claiming 2^26 items).
#include "codec/codec_testutil.h"

static dts_codec_schema *
cbor_schema(unsigned depth)
{
    dts_codec_limits l = {.max_depth = depth};
    dts_codec_schema *s;
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_CBOR, NULL, 0, &l, &s, NULL, 0), DTS_OK);
    return s;
}

static void
test_cbor_values(void **state)
{
    dts_codec_schema *s = cbor_schema(0);
    tu_values(s, 1);
    dts_codec_schema_free(s);
}

static void
test_cbor_depth(void **state)
{
    dts_codec_schema *s = cbor_schema(8);
    tu_depth(s, 8);
    // Nine nested arrays in CBOR bytes are refused by the decoder too.
    uint8_t deep[9];
    memset(deep, 0x81, 8);
    deep[8] = 0x80;
    assert_int_equal(tu_decode_err(s, deep, 8), DTS_EMALFORMED); // truncated at 8
    assert_int_equal(tu_decode_err(s, deep, 9), DTS_ETOOBIG);
    assert_int_equal(tu_decode_err(s, deep + 1, 8), DTS_OK);
    dts_codec_schema_free(s);
}

// Byte-level cases: known encodings decode to the mapping.
static void
test_cbor_bytes(void **state)
{
    dts_codec_schema *s = cbor_schema(0);
    struct {
        const char *hex;
        const char *json;
    } c[] = {
        {"f97e00", "\"NaN\""},      // half NaN
        {"f97c00", "\"Infinity\""}, // half +inf
        {"f93c00", "1.0"},          // half 1.0
        {"fa47c35000", "100000.0"}, // single
        {"3bffffffffffffffff", "\"-18446744073709551616\""},
        {"1bffffffffffffffff", "\"18446744073709551615\""},
        {"5f42010243030405ff", "{\"base64\":\"AQIDBAU=\"}"}, // indefinite bytes
        {"7f657374726561646d696e67ff", "\"streaming\""},
        {"9f018202039f0405ffff", "[1,[2,3],[4,5]]"},
        {"bf61610161629f0203ffff", "{\"a\":1,\"b\":[2,3]}"},
        {"a201020304", "{\"1\":2,\"3\":4}"}, // integer keys
        {"c11a514b67b0", "1363896240"},      // tag dropped
        {"f7", "null"},                      // undefined
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) tu_hex_json(s, c[i].hex, c[i].json);
    // A byte string decodes to {"base64": TEXT}, 4/3 of its size: one of
    // 900,000 bytes (under max_string, 1 MiB) encodes again, though its
    // text is 1.2 MB; one of 1.2 MB does not.
    for (int big = 0; big < 2; big++) {
        size_t n = big ? 1600000 : 1200000; // 'A's: 3 zero bytes per 4
        char *text = malloc(n + 1);
        memset(text, 'A', n);
        text[n] = 0;
        json_t *v = json_pack("{s:s}", "base64", text);
        void *out = NULL;
        size_t out_len = 0;
        char err[128] = "";
        dts_err e = dts_codec_encode(s, v, &out, &out_len, err, sizeof err);
        assert_int_equal(e, big ? DTS_ETOOBIG : DTS_OK);
        if (!big) {
            assert_int_equal(out_len, 5 + n / 4 * 3); // 5a 000dbba0: 900,000 bytes
            json_t *back = NULL;
            assert_int_equal(dts_codec_decode(s, out, out_len, &back, err, sizeof err), DTS_OK);
            assert_true(json_equal(back, v));
            json_decref(back);
        }
        dts_codec_free(out);
        json_decref(v);
        free(text);
    }
    dts_codec_schema_free(s);
}

static void
test_cbor_malformed(void **state)
{
    dts_codec_schema *s = cbor_schema(0);
    const char *bad[] = {
        "",
        "18",
        "1c",
        "5a00000010",
        "7a7fffffff61",
        "62c328",
        "a20101",
        "a2616101616102", // duplicate key
        "ff",
        "f818",
        "8201",
        "0000", // trailing byte
        "a1f401",
        "a143010203"
        "01",
        "c0",
        "9f",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) tu_hex_bad(s, bad[i]);
    dts_codec_schema_free(s);
}

// The 5-byte array of 2^26 items (cbor_load reached 513 MiB) is refused at
// once, with a tiny allocation high-water mark.
static void
test_cbor_hostile(void **state)
{
    dts_codec_schema *s = cbor_schema(0);
    static const uint8_t arr[] = {0x9a, 0x04, 0x00, 0x00, 0x00};
    static const uint8_t map[] = {0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t str[] = {0x5b, 0x00, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00};
    tu_peak_reset();
    assert_int_equal(tu_decode_err(s, arr, sizeof arr), DTS_EMALFORMED);
    assert_int_equal(tu_decode_err(s, map, sizeof map), DTS_EMALFORMED);
    assert_int_equal(tu_decode_err(s, str, sizeof str), DTS_EMALFORMED);
    assert_int_equal(dts_codec_validate(s, arr, sizeof arr, NULL, 0), DTS_EMALFORMED);
    assert_true(tu_peak - tu_live < 4096);
    // Many tiny items in a valid frame stop at max_elements.
    dts_codec_limits l = {.max_elements = 1000};
    dts_codec_schema *s2;
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_CBOR, NULL, 0, &l, &s2, NULL, 0), DTS_OK);
    uint8_t many[2003] = {0x99, 0x07, 0xd0}; // array of 2000 zeros
    assert_int_equal(tu_decode_err(s2, many, sizeof many), DTS_ETOOBIG);
    dts_codec_schema_free(s2);
    dts_codec_schema_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cbor_values),  cmocka_unit_test(test_cbor_depth),
        cmocka_unit_test(test_cbor_bytes),   cmocka_unit_test(test_cbor_malformed),
        cmocka_unit_test(test_cbor_hostile),
    };
    return cmocka_run_group_tests(tests, tu_setup, tu_teardown);
}
