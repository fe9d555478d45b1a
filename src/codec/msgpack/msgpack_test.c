// msgpack_test.c: MessagePack round trips, limits and hostile inputs
// (a map32 claiming 2^32-1 entries; msgpack-c reserved 4 GiB on it).
#include <msgpuck.h>

#include "codec/codec_testutil.h"

static dts_codec_schema *
mp_schema(unsigned depth)
{
    dts_codec_limits l = {.max_depth = depth};
    dts_codec_schema *s;
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_MSGPACK, NULL, 0, &l, &s, NULL, 0), DTS_OK);
    return s;
}

static void
test_mp_values(void **state)
{
    dts_codec_schema *s = mp_schema(0);
    tu_values(s, 0);
    // Below INT64_MIN cannot be MessagePack.
    void *p;
    size_t n;
    const char *big = "\"-18446744073709551616\"";
    assert_int_equal(dts_codec_encode_json(s, big, strlen(big), &p, &n, NULL, 0), DTS_EINVAL);
    dts_codec_schema_free(s);
}

static void
test_mp_depth(void **state)
{
    dts_codec_schema *s = mp_schema(8);
    tu_depth(s, 8);
    uint8_t deep[9];
    memset(deep, 0x91, 8);
    deep[8] = 0x90;
    assert_int_equal(tu_decode_err(s, deep, 9), DTS_ETOOBIG);
    assert_int_equal(tu_decode_err(s, deep + 1, 8), DTS_OK);
    dts_codec_schema_free(s);
}

static void
test_mp_bytes(void **state)
{
    dts_codec_schema *s = mp_schema(0);
    struct {
        const char *hex;
        const char *json;
    } c[] = {
        {"ca7fc00000", "\"NaN\""},
        {"cb7ff0000000000000", "\"Infinity\""},
        {"cbfff0000000000000", "\"-Infinity\""},
        {"cfffffffffffffffff", "\"18446744073709551615\""},
        {"d38000000000000000", "-9223372036854775808"},
        {"c403010203", "{\"base64\":\"AQID\"}"},
        {"82a16101a162c0", "{\"a\":1,\"b\":null}"},
        {"81d0ff01", "{\"-1\":1}"},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) tu_hex_json(s, c[i].hex, c[i].json);
    dts_codec_schema_free(s);
}

static void
test_mp_malformed(void **state)
{
    dts_codec_schema *s = mp_schema(0);
    const char *bad[] = {
        "",     "c1",   "cd00",   "a2",     "d90561",  "92", "82a16101a16102", // dup key
        "c0c0", "a1ff", "d40101", "81c001", "81c40101"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) tu_hex_bad(s, bad[i]);
    dts_codec_schema_free(s);
}

// Hostile headers are refused at once with bounded memory. `dd ff ff ff ff`
// also shows why msgpuck's own whole-buffer mp_check is not used: its
// counter wraps and it accepts these 5 bytes.
static void
test_mp_hostile(void **state)
{
    dts_codec_schema *s = mp_schema(0);
    static const uint8_t map[] = {0xdf, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t arr6[] = {0xdd, 0x04, 0x00, 0x00, 0x00, 0xc0};
    static const uint8_t str[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 0x61};
    tu_peak_reset();
    assert_int_equal(tu_decode_err(s, map, sizeof map), DTS_EMALFORMED);
    assert_int_equal(tu_decode_err(s, arr, sizeof arr), DTS_EMALFORMED);
    assert_int_equal(tu_decode_err(s, arr6, sizeof arr6), DTS_EMALFORMED);
    assert_int_equal(tu_decode_err(s, str, sizeof str), DTS_EMALFORMED);
    assert_true(tu_peak - tu_live < 4096);
    const char *p = (const char *)arr;
    assert_int_equal(mp_check(&p, p + sizeof arr), 0); // msgpuck's own check is fooled
    dts_codec_schema_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mp_values),  cmocka_unit_test(test_mp_depth),
        cmocka_unit_test(test_mp_bytes),   cmocka_unit_test(test_mp_malformed),
        cmocka_unit_test(test_mp_hostile),
    };
    return cmocka_run_group_tests(tests, tu_setup, tu_teardown);
}
