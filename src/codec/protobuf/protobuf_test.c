// protobuf_test.c: dynamic protobuf decoding and encoding from a
// FileDescriptorSet built by protoc at test time; limits; the deeply
// recursive 34 KB message that overflowed protobuf-c's stack.
#include <unistd.h>

#include "codec/codec_testutil.h"

static const char test_proto[] =
    "syntax = \"proto3\";\n"
    "package brewery;\n"
    "enum Unit { UNIT_UNSPECIFIED = 0; CELSIUS = 1; KELVIN = 2; }\n"
    "message Inner { string label = 1; repeated int32 xs = 2; }\n"
    "message Sample {\n"
    "  int32 i32 = 1; int64 i64 = 2; uint32 u32 = 3; uint64 u64 = 4; sint32 s32 = 5;\n"
    "  sint64 s64 = 6; fixed32 f32 = 7; fixed64 f64 = 8; sfixed32 sf32 = 9; sfixed64 sf64 = 10;\n"
    "  bool flag = 11; float fl = 12; double db = 13; string text = 14; bytes data = 15;\n"
    "  Unit unit = 16; Inner inner = 17; repeated Inner items = 18; repeated double series = 19;\n"
    "  map<string, int64> counts = 20; repeated string tags = 21; double temperature_c = 22;\n"
    "}\n"
    "message Node { Node child = 1; int32 v = 2; }\n";

static void *g_sample, *g_node;
static size_t g_sample_len, g_node_len;

// setup writes the .proto and compiles it twice through the helper the
// CLI uses (`protoc` must be installed; scripts/install-deps).
static int
pb_setup(void **state)
{
    char dir[] = "/tmp/dts-pbtest-XXXXXX", path[64], err[256] = "";
    tu_setup(state);
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/brewery.proto", dir);
    FILE *f = fopen(path, "w");
    fputs(test_proto, f);
    fclose(f);
    dts_err e = dts_codec_protobuf_schema_from_proto(path, NULL, "Sample", &g_sample, &g_sample_len,
                                                     err, sizeof err);
    if (!e)
        e = dts_codec_protobuf_schema_from_proto(path, NULL, "brewery.Node", &g_node, &g_node_len,
                                                 err, sizeof err);
    if (e) fprintf(stderr, "protoc: %s %s\n", dts_strerror(e), err);
    unlink(path);
    rmdir(dir);
    return e ? -1 : 0;
}

static int
pb_teardown(void **state)
{
    dts_codec_free(g_sample);
    dts_codec_free(g_node);
    return tu_teardown(state);
}

static dts_codec_schema *
pb_schema(const void *schema, size_t len, unsigned depth)
{
    dts_codec_limits l = {.max_depth = depth};
    dts_codec_schema *s;
    char err[256] = "";
    dts_err e = dts_codec_schema_alloc(DTS_FORMAT_PROTOBUF, schema, len, &l, &s, err, sizeof err);
    if (e) fprintf(stderr, "schema: %s\n", err);
    assert_int_equal(e, DTS_OK);
    return s;
}

static void
test_pb_schema_layout(void **state)
{
    assert_string_equal((const char *)g_sample, "brewery.Sample");
    assert_string_equal((const char *)g_node, "brewery.Node");
    dts_codec_schema *s;
    char err[256];
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_PROTOBUF, "x", 1, NULL, &s, err, sizeof err),
                     DTS_EMALFORMED);
    char other[4096];
    size_t n = g_sample_len - strlen("brewery.Sample");
    memcpy(other, "brewery.None", 12);
    memcpy(other + 12, (char *)g_sample + 14, n);
    assert_int_equal(
        dts_codec_schema_alloc(DTS_FORMAT_PROTOBUF, other, 12 + n, NULL, &s, err, sizeof err),
        DTS_ENOENT);
}

static void
test_pb_roundtrip(void **state)
{
    dts_codec_schema *s = pb_schema(g_sample, g_sample_len, 0);
    tu_roundtrip(s,
                 "{\"i32\":-2147483648,\"i64\":\"-9223372036854775808\",\"u32\":4294967295,"
                 "\"u64\":\"18446744073709551615\",\"s32\":-5,\"s64\":\"9223372036854775807\","
                 "\"f32\":4294967295,\"f64\":\"18446744073709551615\",\"sf32\":-1,"
                 "\"sf64\":\"-9223372036854775808\",\"flag\":true,\"fl\":1.5,\"db\":\"NaN\","
                 "\"text\":\"\",\"data\":\"AAEC/w==\",\"unit\":\"KELVIN\","
                 "\"inner\":{\"label\":\"x\",\"xs\":[1,-1,2147483647]},"
                 "\"items\":[{\"label\":\"a\"},{}],\"series\":[\"Infinity\",\"-Infinity\",0.25],"
                 "\"counts\":{\"a\":\"1\",\"b\":\"-2\"},\"tags\":[\"p\",\"q\"],"
                 "\"temperatureC\":21.5}",
                 NULL);
    // Proto field names, numbers for 64-bit values and enums, floats in
    // range, are accepted on input and rendered the protoc way.
    tu_roundtrip(s, "{\"temperature_c\":-0.5,\"i64\":5,\"unit\":1,\"fl\":\"-Infinity\"}",
                 "{\"temperatureC\":-0.5,\"i64\":\"5\",\"unit\":\"CELSIUS\",\"fl\":\"-Infinity\"}");
    tu_roundtrip(s, "{}", NULL);
    // A long string.
    size_t n = 200000;
    char *big = malloc(n + 20);
    strcpy(big, "{\"text\":\"");
    memset(big + 9, 'z', n);
    strcpy(big + 9 + n, "\"}");
    tu_roundtrip(s, big, NULL);
    free(big);
    dts_codec_schema_free(s);
}

static void
test_pb_encode_errors(void **state)
{
    dts_codec_schema *s = pb_schema(g_sample, g_sample_len, 0);
    const char *bad[] = {"{\"nope\":1}",
                         "{\"i32\":2147483648}",
                         "{\"u32\":-1}",
                         "{\"flag\":1}",
                         "{\"unit\":\"FAHRENHEIT\"}",
                         "{\"data\":\"!!\"}",
                         "{\"inner\":[]}",
                         "{\"series\":1}",
                         "[]",
                         "{\"i64\":\"1x\"}",
                         "{\"fl\":1e308}",
                         "{\"fl\":-3.5e38}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p;
        size_t len;
        char err[256] = "";
        dts_err e = dts_codec_encode_json(s, bad[i], strlen(bad[i]), &p, &len, err, sizeof err);
        if (!e) fprintf(stderr, "accepted %s\n", bad[i]);
        assert_int_equal(e, DTS_EINVAL);
        assert_true(err[0] != 0);
    }
    dts_codec_schema_free(s);
}

static void
test_pb_malformed(void **state)
{
    dts_codec_schema *s = pb_schema(g_sample, g_sample_len, 0);
    const char *bad[] = {
        "08",                       // truncated varint
        "0a05616263",               // field 1 (int32) with wire type 2, and short
        "7205616263",               // string claims 5 bytes, has 3
        "00",                       // field number 0
        "0b",                       // group start
        "72029fff",                 // string not UTF-8
        "08ffffffffffffffffffff01", // varint of 11 bytes
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) tu_hex_bad(s, bad[i]);
    // Unknown fields are skipped.
    uint8_t unk[] = {0xf8, 0x07, 0x01, 0x10, 0x02};
    char *out;
    assert_int_equal(dts_codec_decode_json(s, unk, sizeof unk, &out, NULL, 0), DTS_OK);
    assert_string_equal(out, "{\"i64\":\"2\"}");
    dts_codec_free(out);
    dts_codec_schema_free(s);
}

// node_chain builds Node messages nested depth deep (innermost has v=1).
static uint8_t *
node_chain(unsigned depth, size_t *len)
{
    size_t cap = 16 + (size_t)depth * 4, n = 2;
    uint8_t *b = malloc(cap), *t = malloc(cap);
    b[0] = 0x10, b[1] = 0x01; // v = 1
    for (unsigned i = 1; i < depth; i++) {
        size_t k = 0, l = n;
        t[k++] = 0x0a;
        do {
            t[k++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
            l >>= 7;
        } while (l);
        memcpy(t + k, b, n);
        n += k;
        uint8_t *x = b;
        b = t;
        t = x;
    }
    free(t);
    *len = n;
    return b;
}

static void
test_pb_depth(void **state)
{
    dts_codec_schema *s = pb_schema(g_node, g_node_len, 16);
    size_t n;
    uint8_t *ok = node_chain(16, &n);
    assert_int_equal(tu_decode_err(s, ok, n), DTS_OK);
    free(ok);
    uint8_t *bad = node_chain(17, &n);
    assert_int_equal(tu_decode_err(s, bad, n), DTS_ETOOBIG);
    free(bad);
    // The same from JSON.
    char js[400] = "";
    for (int i = 0; i < 16; i++) strcat(js, "{\"child\":");
    strcat(js, "{\"v\":1}");
    for (int i = 0; i < 16; i++) strcat(js, "}");
    void *p;
    assert_int_equal(dts_codec_encode_json(s, js, strlen(js), &p, &n, NULL, 0), DTS_ETOOBIG);
    dts_codec_schema_free(s);
}

// The 34 KB message nested 10,000 deep: refused at once, small memory.
static void
test_pb_hostile(void **state)
{
    dts_codec_schema *s = pb_schema(g_node, g_node_len, 0);
    size_t n;
    uint8_t *deep = node_chain(10000, &n);
    assert_true(n > 30000);
    tu_peak_reset();
    assert_int_equal(tu_decode_err(s, deep, n), DTS_ETOOBIG);
    assert_int_equal(dts_codec_validate(s, deep, n, NULL, 0), DTS_ETOOBIG);
    assert_true(tu_peak - tu_live < 64 * 1024);
    free(deep);
    dts_codec_schema_free(s);
}

// Two members of one oneof are refused on encode; one member, or members
// of two different oneofs, or a proto3 optional field, are fine. A payload
// from another encoder that holds two members decodes to the last, as
// protobuf's own decoders do (the dts decoder rendered both).
static void
test_pb_oneof(void **state)
{
    char dir[] = "/tmp/dts-pboneof-XXXXXX", path[64], err[256] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/choice.proto", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("syntax = \"proto3\";\n"
          "message Choice {\n"
          "  oneof pick { string oa = 1; int32 ob = 2; }\n"
          "  oneof other { bool oc = 3; double od = 4; }\n"
          "  optional int32 opt = 5; int32 plain = 6;\n"
          "}\n",
          f);
    fclose(f);
    void *schema = NULL;
    size_t len = 0;
    dts_err e =
        dts_codec_protobuf_schema_from_proto(path, NULL, "Choice", &schema, &len, err, sizeof err);
    unlink(path);
    rmdir(dir);
    if (e) print_message("%s: %s\n", dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    dts_codec_schema *s = pb_schema(schema, len, 0);
    const char *good[] = {"{\"oa\":\"x\",\"oc\":true,\"opt\":1,\"plain\":2}", "{\"ob\":3}",
                          "{\"oa\":\"x\",\"ob\":null}", "{}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        void *p = NULL;
        size_t n = 0;
        e = dts_codec_encode_json(s, good[i], strlen(good[i]), &p, &n, err, sizeof err);
        if (e) print_message("%s: %s\n", good[i], err);
        assert_int_equal(e, DTS_OK);
        dts_codec_free(p);
    }
    const char *bad = "{\"oa\":\"x\",\"ob\":3}";
    void *p = NULL;
    size_t n = 0;
    err[0] = 0;
    assert_int_equal(dts_codec_encode_json(s, bad, strlen(bad), &p, &n, err, sizeof err),
                     DTS_EINVAL);
    assert_non_null(strstr(err, "oa and ob are members of one oneof"));
    // oa "x" then ob 3; ob 3 then oa "x"; and oa, ob, oa, with oc between.
    static const struct {
        const char *wire;
        size_t len;
        const char *json;
    } two[] = {
        {"\x0a\x01x\x10\x03", 5, "{\"ob\":3}"},
        {"\x10\x03\x0a\x01x", 5, "{\"oa\":\"x\"}"},
        {"\x0a\x01x\x10\x03\x18\x01\x0a\x01y", 10, "{\"oc\":true,\"oa\":\"y\"}"},
        // Ten members set (past the eight noted on the stack), ob last.
        {"\x0a\x01x\x10\x03\x0a\x01x\x10\x03\x0a\x01x\x10\x03\x0a\x01x\x10\x03\x0a\x01x"
         "\x10\x04",
         25, "{\"ob\":4}"},
    };
    for (size_t i = 0; i < sizeof two / sizeof two[0]; i++) {
        char *text = NULL;
        assert_int_equal(dts_codec_decode_json(s, two[i].wire, two[i].len, &text, err, sizeof err),
                         DTS_OK);
        assert_string_equal(text, two[i].json);
        dts_codec_free(text);
    }
    dts_codec_schema_free(s);
    dts_codec_free(schema);
}

// A valid .proto that makes protoc print kilobytes of warnings (30 unused
// imports, exit status 0) compiles: protoc's stderr used to be read up to
// 511 bytes, and protoc then died writing the rest.
static void
test_pb_many_warnings(void **state)
{
    char dir[] = "/tmp/dts-pbwarn-XXXXXX", path[128], err[256] = "";
    assert_non_null(mkdtemp(dir));
    FILE *main_f;
    snprintf(path, sizeof path, "%s/main.proto", dir);
    assert_non_null(main_f = fopen(path, "w"));
    fputs("syntax = \"proto3\";\npackage warned;\n", main_f);
    for (int i = 0; i < 30; i++) {
        char imp[128];
        snprintf(imp, sizeof imp, "%s/unused_import_number_%02d.proto", dir, i);
        FILE *f = fopen(imp, "w");
        assert_non_null(f);
        fprintf(f, "syntax = \"proto3\";\npackage u%d;\nmessage M%d { int32 x = 1; }\n", i, i);
        fclose(f);
        fprintf(main_f, "import \"unused_import_number_%02d.proto\";\n", i);
    }
    fputs("message Reading { double celsius = 1; }\n", main_f);
    fclose(main_f);
    void *schema = NULL;
    size_t len = 0;
    dts_err e =
        dts_codec_protobuf_schema_from_proto(path, NULL, "Reading", &schema, &len, err, sizeof err);
    if (e) print_message("%s: %s\n", dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    assert_true(len > 0);
    dts_codec_free(schema);
    // A real error among the warnings is the one reported.
    snprintf(path, sizeof path, "%s/main.proto", dir);
    main_f = fopen(path, "a");
    fputs("message Broken { NoSuchType x = 1; }\n", main_f);
    fclose(main_f);
    err[0] = 0;
    assert_int_equal(
        dts_codec_protobuf_schema_from_proto(path, NULL, "Reading", &schema, &len, err, sizeof err),
        DTS_EINVAL);
    print_message("%s\n", err);
    assert_non_null(strstr(err, "NoSuchType"));
    for (int i = 0; i < 30; i++) {
        char imp[128];
        snprintf(imp, sizeof imp, "%s/unused_import_number_%02d.proto", dir, i);
        unlink(imp);
    }
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pb_schema_layout), cmocka_unit_test(test_pb_roundtrip),
        cmocka_unit_test(test_pb_encode_errors), cmocka_unit_test(test_pb_malformed),
        cmocka_unit_test(test_pb_depth),         cmocka_unit_test(test_pb_hostile),
        cmocka_unit_test(test_pb_many_warnings), cmocka_unit_test(test_pb_oneof),
    };
    return cmocka_run_group_tests(tests, pb_setup, pb_teardown);
}
