// codec_test.c: the registry, limits, raw and JSON codecs, the one-shot
// helpers and the float policy across formats.
#include "codec/codec_testutil.h"

static dts_codec_schema *
schema(dts_format f, const char *sch, unsigned depth)
{
    dts_codec_limits l = {.max_depth = depth};
    dts_codec_schema *s;
    assert_int_equal(dts_codec_schema_alloc(f, sch, sch ? strlen(sch) : 0, &l, &s, NULL, 0),
                     DTS_OK);
    return s;
}

static void
test_registry(void **state)
{
    for (int f = DTS_FORMAT_RAW; f <= DTS_FORMAT_CAPNP; f++) {
        const dts_codec_ops *o = dts_codec_find((dts_format)f);
        assert_non_null(o);
        assert_int_equal(o->format, f);
        assert_string_equal(o->name, dts_format_name((dts_format)f));
        assert_ptr_equal(dts_codec_find_name(o->name), o);
    }
    assert_null(dts_codec_find(DTS_FORMAT_COUNT_));
    assert_null(dts_codec_find_name("xml"));
    assert_ptr_equal(dts_codec_find_name("CBOR"), dts_codec_find_name("cbor")); // any case
    // dts_codec_json_text: reals in their shortest exact form.
    json_t *v = json_pack("{s:f, s:f, s:f, s:I, s:[s, n]}", "a", 18.15, "b", 0.1, "c", 1.0, "i",
                          (json_int_t)5, "l", "x\"y");
    char *text = NULL;
    assert_int_equal(dts_codec_json_text(v, &text), DTS_OK);
    assert_string_equal(text, "{\"a\":18.15,\"b\":0.1,\"c\":1.0,\"i\":5,\"l\":[\"x\\\"y\",null]}");
    dts_codec_free(text);
    json_decref(v);
    assert_int_equal(dts_codec_json_text(NULL, &text), DTS_EINVAL);
    dts_codec_schema *s;
    char err[100];
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_COUNT_, NULL, 0, NULL, &s, err, sizeof err),
                     DTS_ENOTSUP);
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_CAPNP, NULL, 0, NULL, &s, err, sizeof err),
                     DTS_EMALFORMED);
    dts_codec_limits l;
    dts_codec_limits_init(&l);
    assert_int_equal(l.max_depth, DTS_CODEC_MAX_DEPTH);
    assert_int_equal(l.max_decompressed, DTS_CODEC_MAX_DECOMPRESSED);
    s = schema(DTS_FORMAT_CBOR, NULL, 0);
    assert_int_equal(dts_codec_schema_id(s), dts_schema_id(DTS_FORMAT_CBOR, NULL, 0));
    assert_int_equal(dts_codec_schema_format(s), DTS_FORMAT_CBOR);
    dts_codec_schema_free(s);
    // A NULL schema (an unchecked failed alloc) is refused, not dereferenced.
    void *out = NULL;
    size_t outlen = 0;
    char *text2 = NULL;
    json_t *dec = NULL, *one = json_integer(1);
    assert_int_equal(dts_codec_encode(NULL, one, &out, &outlen, err, sizeof err), DTS_EINVAL);
    assert_non_null(strstr(err, "no schema"));
    assert_int_equal(dts_codec_decode(NULL, "1", 1, &dec, err, sizeof err), DTS_EINVAL);
    assert_int_equal(dts_codec_validate(NULL, "1", 1, err, sizeof err), DTS_EINVAL);
    assert_int_equal(dts_codec_decode_json(NULL, "1", 1, &text2, NULL, 0), DTS_EINVAL);
    assert_int_equal(dts_codec_encode_json(NULL, "1", 1, &out, &outlen, NULL, 0), DTS_EINVAL);
    assert_null(out);
    assert_null(dec);
    assert_null(text2);
    assert_int_equal(dts_codec_schema_id(NULL), 0);
    json_decref(one);
}

static void
test_raw(void **state)
{
    dts_codec_schema *s = schema(DTS_FORMAT_RAW, "text/plain", 0);
    tu_roundtrip(s, "\"hello\\nworld\"", NULL);
    tu_roundtrip(s, "\"\"", NULL);
    tu_roundtrip(s, "{\"base64\":\"AAEC/w==\"}", NULL);
    tu_roundtrip(s, "\"a\\u0001b\"", "{\"base64\":\"YQFi\"}"); // control char: bytes
    void *p;
    size_t n;
    assert_int_equal(dts_codec_encode_json(s, "12", 2, &p, &n, NULL, 0), DTS_EINVAL);
    dts_codec_schema_free(s);
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_RAW, "a b", 3, NULL, &s, NULL, 0),
                     DTS_EMALFORMED);
}

static void
test_json(void **state)
{
    dts_codec_schema *s = schema(DTS_FORMAT_JSON, NULL, 8);
    tu_roundtrip(s, "{\"a\":[1,2.5,\"x\",null,true],\"b\":{}}", NULL);
    tu_roundtrip(s, " [ 1 , 2 ] ", "[1,2]");
    tu_roundtrip(s, "9223372036854775807", NULL);
    tu_depth(s, 8);
    const char *bad[] = {"{\"a\":1,\"a\":2}",   "[1,", "NaN", "18446744073709551615", "\"\xff\"",
                         "[[[[[[[[[1]]]]]]]]]", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[200] = "";
        dts_err e = dts_codec_validate(s, bad[i], strlen(bad[i]), err, sizeof err);
        if (!e) fprintf(stderr, "accepted %s\n", bad[i]);
        assert_int_not_equal(e, DTS_OK);
        assert_true(err[0] != 0);
    }
    char err[200];
    assert_int_equal(dts_codec_validate(s, "[1,\n  x]", 8, err, sizeof err), DTS_EMALFORMED);
    assert_non_null(strstr(err, "line 2"));
    dts_codec_schema_free(s);
    // A JSON schema must itself be JSON.
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_JSON, "{", 1, NULL, &s, NULL, 0),
                     DTS_EMALFORMED);
}

// Element and size limits apply before jansson allocates.
static void
test_limits(void **state)
{
    dts_codec_limits l = {.max_elements = 100, .max_bytes = 1000, .max_string = 10};
    dts_codec_schema *s;
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_JSON, NULL, 0, &l, &s, NULL, 0), DTS_OK);
    char many[400] = "[";
    for (int i = 0; i < 150; i++) strcat(many, "0,");
    strcat(many, "0]");
    tu_peak_reset();
    assert_int_equal(dts_codec_validate(s, many, strlen(many), NULL, 0), DTS_ETOOBIG);
    assert_true(tu_peak - tu_live < 1024);
    char big[1200];
    memset(big, ' ', sizeof big);
    assert_int_equal(dts_codec_validate(s, big, sizeof big, NULL, 0), DTS_ETOOBIG);
    assert_int_equal(dts_codec_validate(s, "\"12345678901\"", 13, NULL, 0), DTS_ETOOBIG);
    dts_codec_schema_free(s);
}

// Float policy: NaN and infinities travel as floats in CBOR and
// MessagePack and render as "NaN", "Infinity", "-Infinity" in JSON.
static void
test_float_policy(void **state)
{
    const char *in = "[\"NaN\",\"Infinity\",\"-Infinity\",0.5]";
    for (int f = DTS_FORMAT_CBOR; f <= DTS_FORMAT_MSGPACK; f++) {
        void *p;
        size_t n;
        char *out;
        assert_int_equal(
            dts_codec_from_json(f, NULL, 0, NULL, in, strlen(in), NULL, &p, &n, NULL, 0), DTS_OK);
        // CBOR: 84 fb 7ff8..., MessagePack: 94 cb 7ff8...: a float, not text.
        assert_int_equal(((uint8_t *)p)[1], f == DTS_FORMAT_CBOR ? 0xfb : 0xcb);
        assert_int_equal(dts_codec_to_json(f, NULL, 0, p, n, NULL, &out, NULL, 0), DTS_OK);
        assert_string_equal(out, in);
        dts_codec_free(out);
        dts_codec_free(p);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),     cmocka_unit_test(test_raw),
        cmocka_unit_test(test_json),         cmocka_unit_test(test_limits),
        cmocka_unit_test(test_float_policy),
    };
    return cmocka_run_group_tests(tests, tu_setup, tu_teardown);
}
