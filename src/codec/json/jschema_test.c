// jschema_test.c: the JSON Schema subset of the json codec: every supported
// keyword accepts what fits and refuses what does not, with the path of the
// misfit in the message; encode refuses too; unknown keywords are ignored.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dts/codec.h>
#include <jansson.h>
#include <string.h>

static const char schema[] =
    "{\"type\":\"object\",\"required\":[\"tank\",\"celsius\"],\"additionalProperties\":false,"
    "\"properties\":{\"tank\":{\"type\":\"string\",\"enum\":[\"T1\",\"T2\"]},"
    "\"celsius\":{\"type\":\"number\",\"minimum\":-10,\"maximum\":100},"
    "\"tags\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":\"string\",\"minLength\":1}},"
    "\"mode\":{\"oneOf\":[{\"const\":\"auto\"},{\"type\":\"integer\"}]},"
    "\"x-vendor\":{\"futureKeyword\":42}}}";

static dts_codec_schema *
compile(void)
{
    dts_codec_schema *s = NULL;
    char err[256];
    assert_int_equal(
        dts_codec_schema_alloc(DTS_FORMAT_JSON, schema, strlen(schema), NULL, &s, err, sizeof err),
        DTS_OK);
    return s;
}

static void
expect(dts_codec_schema *s, const char *value, dts_err want, const char *msg_part)
{
    char err[256] = "";
    dts_err e = dts_codec_validate(s, value, strlen(value), err, sizeof err);
    if (e != want || (msg_part && !strstr(err, msg_part)))
        fail_msg("%s: got %d (%s), want %d with '%s'", value, e, err, want,
                 msg_part ? msg_part : "");
}

static void
test_keywords(void **state)
{
    dts_codec_schema *s = compile();
    expect(s, "{\"tank\":\"T1\",\"celsius\":18.5}", DTS_OK, NULL);
    expect(s, "{\"tank\":\"T2\",\"celsius\":100,\"tags\":[\"a\"],\"mode\":3}", DTS_OK, NULL);
    expect(s, "{\"tank\":\"T1\",\"celsius\":18.5,\"mode\":\"auto\",\"x-vendor\":1}", DTS_OK, NULL);
    expect(s, "{\"tank\":\"T1\"}", DTS_EMALFORMED, "$: missing required property \"celsius\"");
    expect(s, "{\"tank\":\"T9\",\"celsius\":1}", DTS_EMALFORMED, "$.tank: not one of the enum");
    expect(s, "{\"tank\":\"T1\",\"celsius\":101}", DTS_EMALFORMED,
           "$.celsius: above the maximum 100");
    expect(s, "{\"tank\":\"T1\",\"celsius\":-11}", DTS_EMALFORMED, "below the minimum -10");
    expect(s, "{\"tank\":\"T1\",\"celsius\":\"hot\"}", DTS_EMALFORMED,
           "$.celsius: expected number");
    expect(s, "{\"tank\":\"T1\",\"celsius\":1,\"colour\":1}", DTS_EMALFORMED,
           "\"colour\" is not allowed");
    expect(s, "{\"tank\":\"T1\",\"celsius\":1,\"tags\":[\"a\",\"b\",\"c\"]}", DTS_EMALFORMED,
           "more than 2 items");
    expect(s, "{\"tank\":\"T1\",\"celsius\":1,\"tags\":[\"\"]}", DTS_EMALFORMED,
           "$.tags[0]: shorter than 1");
    expect(s, "{\"tank\":\"T1\",\"celsius\":1,\"mode\":1.5}", DTS_EMALFORMED,
           "$.mode: matches 0 of oneOf");
    expect(s, "[1,2]", DTS_EMALFORMED, "$: expected object");
    expect(s, "{\"tank\":", DTS_EMALFORMED, NULL); // not JSON at all
    dts_codec_schema_free(s);
}

static void
test_encode_refuses(void **state)
{
    dts_codec_schema *s = compile();
    json_t *v = json_pack("{s:s, s:i}", "tank", "T1", "celsius", 500);
    void *out = NULL;
    size_t n;
    char err[256] = "";
    assert_int_equal(dts_codec_encode(s, v, &out, &n, err, sizeof err), DTS_EINVAL);
    assert_non_null(strstr(err, "$.celsius: above the maximum 100"));
    json_object_set_new(v, "celsius", json_integer(20));
    assert_int_equal(dts_codec_encode(s, v, &out, &n, err, sizeof err), DTS_OK);
    dts_codec_free(out);
    json_decref(v);
    dts_codec_schema_free(s);
}

static void
test_not_a_schema(void **state)
{
    // A json type whose schema is not an object checks nothing beyond JSON.
    dts_codec_schema *s = NULL;
    assert_int_equal(dts_codec_schema_alloc(DTS_FORMAT_JSON, "true", 4, NULL, &s, NULL, 0), DTS_OK);
    assert_int_equal(dts_codec_validate(s, "[1]", 3, NULL, 0), DTS_OK);
    dts_codec_schema_free(s);
}

// A schema whose supported keywords have the wrong form is refused when it
// is compiled, saying where: it used to refuse every value ("expected
// bogus") or ignore the keyword ("maximum": "ten").
static void
test_bad_schemas(void **state)
{
    const struct {
        const char *schema, *msg;
    } bad[] = {
        {"{\"type\":\"bogus\"}", "$: type bogus is none of"},
        {"{\"type\":[\"string\",7]}", "$: type (not a name)"},
        {"{\"maximum\":\"ten\"}", "$: maximum must be a number"},
        {"{\"minLength\":-1}", "$: minLength must be a whole number"},
        {"{\"required\":[\"a\",1]}", "$: required must be an array of names"},
        {"{\"enum\":1}", "$: enum must be an array"},
        {"{\"properties\":{\"a\":{\"type\":\"strng\"}}}", "$.a: type strng"},
        {"{\"items\":3}", "$.items: a schema is an object or a boolean"},
        {"{\"anyOf\":[]}", "$: anyOf must be an array of schemas"},
        {"{\"oneOf\":[{\"type\":\"integer\"},{\"maximum\":null}]}", "maximum must be a number"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dts_codec_schema *s = NULL;
        char err[256] = "";
        dts_err e = dts_codec_schema_alloc(DTS_FORMAT_JSON, bad[i].schema, strlen(bad[i].schema),
                                           NULL, &s, err, sizeof err);
        if (e != DTS_EMALFORMED || !strstr(err, bad[i].msg))
            fail_msg("%s: got %d (%s), want '%s'", bad[i].schema, e, err, bad[i].msg);
        assert_null(s);
    }
    // Forms that are fine: a list of types, booleans as schemas, unknown
    // keywords (ignored).
    const char *good[] = {"{\"type\":[\"string\",\"null\"]}", "{\"items\":true}",
                          "{\"additionalProperties\":false,\"x-note\":[1,2]}", "{}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        dts_codec_schema *s = NULL;
        assert_int_equal(
            dts_codec_schema_alloc(DTS_FORMAT_JSON, good[i], strlen(good[i]), NULL, &s, NULL, 0),
            DTS_OK);
        dts_codec_schema_free(s);
    }
}

// Integer bounds compare exactly: as doubles, 2^63 - 1 and 2^63 - 2 are
// one number, and the maximum let the larger through.
static void
test_integer_bounds(void **state)
{
    const char *bounds = "{\"type\":\"integer\",\"maximum\":9223372036854775806,"
                         "\"minimum\":-9223372036854775807}";
    dts_codec_schema *s = NULL;
    assert_int_equal(
        dts_codec_schema_alloc(DTS_FORMAT_JSON, bounds, strlen(bounds), NULL, &s, NULL, 0), DTS_OK);
    expect(s, "9223372036854775806", DTS_OK, NULL);
    expect(s, "9223372036854775807", DTS_EMALFORMED, "above the maximum");
    expect(s, "-9223372036854775807", DTS_OK, NULL);
    expect(s, "-9223372036854775808", DTS_EMALFORMED, "below the minimum");
    dts_codec_schema_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keywords),       cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_not_a_schema),   cmocka_unit_test(test_bad_schemas),
        cmocka_unit_test(test_integer_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
