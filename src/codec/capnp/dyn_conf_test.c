// dyn_conf_test.c: the dynamic capnp codec against the official tool
// (issue 5 acceptance: "our JSON equals `capnp convert binary:json` output
// for the whole corpus, and our JSON-to-binary round-trips";
// docs/spec/capnp.md, "Dynamic codec"). For every schema
// tests/capnp/NAME.capnp (root struct Root) the schema bytes are built with
// dts_codec_capnp_schema_from_file (which runs `capnp compile -o-`), and for
// every line of NAME.txt:
//   1. `capnp encode` makes the message plain and with 1- and 3-word
//      segments; our JSON of each equals the tool's `convert binary:json`
//      of the plain one (same keys in the same order, same values; numbers
//      compared as numbers because the tool writes 1.0 as 1);
//   2. our encoding of our JSON has the canonical form the tool gives the
//      original (`convert binary:canonical`, byte for byte), and so does
//      the tool's `convert json:binary` of our JSON text;
//   3. our encoding of the tool's JSON decodes to the same JSON.
// The tool runs as a subprocess; the test fails when it is missing.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec/capnp/capnp_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/capnp/dyn.h"
#include "codec/codec_int.h"

static unsigned n_messages, n_schemas;

// jeq compares two JSON trees: objects with the same keys in the same
// order, numbers by value. On a difference it prints the path.
static int
jeq(const json_t *a, const json_t *b, const char *path)
{
    char sub[512];
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b) &&
            json_integer_value(a) == json_integer_value(b))
            return 1;
        if (json_number_value(a) == json_number_value(b)) return 1;
    } else if (json_typeof(a) != json_typeof(b)) {
    } else if (json_is_string(a)) {
        if (json_string_length(a) == json_string_length(b) &&
            !memcmp(json_string_value(a), json_string_value(b), json_string_length(a)))
            return 1;
    } else if (json_is_array(a)) {
        if (json_array_size(a) == json_array_size(b)) {
            for (size_t i = 0; i < json_array_size(a); i++) {
                snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                if (!jeq(json_array_get(a, i), json_array_get(b, i), sub)) return 0;
            }
            return 1;
        }
    } else if (json_is_object(a)) {
        void *ia = json_object_iter((json_t *)a), *ib = json_object_iter((json_t *)b);
        for (; ia && ib; ia = json_object_iter_next((json_t *)a, ia),
                         ib = json_object_iter_next((json_t *)b, ib)) {
            const char *ka = json_object_iter_key(ia), *kb = json_object_iter_key(ib);
            snprintf(sub, sizeof sub, "%s.%s", path, ka);
            if (strcmp(ka, kb)) {
                fprintf(stderr, "%s: key %s where the tool has %s\n", path, ka, kb);
                return 0;
            }
            if (!jeq(json_object_iter_value(ia), json_object_iter_value(ib), sub)) return 0;
        }
        if (!ia && !ib) return 1;
    } else {
        return 1; // true, false, null
    }
    char *sa = json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT);
    char *sb = json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT);
    fprintf(stderr, "%s: ours %.300s, tool %.300s\n", path, sa, sb);
    free(sa);
    free(sb);
    return 0;
}

static void
test_tool_present(void **state)
{
    (void)state;
    assert_int_equal(ct_sh("capnp --version > /dev/null"), 0);
}

// decode_file decodes a payload file with s and returns the tree.
static json_t *
decode_file(dts_codec_schema *s, const char *path)
{
    size_t len;
    uint8_t *b = ct_slurp(path, &len);
    json_t *v = NULL;
    char err[256] = "";
    dts_err e = dts_codec_decode(s, b, len, &v, err, sizeof err);
    if (e) fprintf(stderr, "decode %s: %s (%s)\n", path, dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    free(b);
    return v;
}

// check_encode encodes v, checks our canonical form against want (the
// tool's canonical form of the original) with the tool, and that it
// decodes to v again.
static void
check_encode(dts_codec_schema *s, const char *schema, const json_t *v, const char *want,
             const char *tag)
{
    void *out = NULL;
    size_t outlen = 0;
    char err[256] = "", p[512];
    dts_err e = dts_codec_encode(s, v, &out, &outlen, err, sizeof err);
    if (e) fprintf(stderr, "encode: %s (%s)\n", dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    snprintf(p, sizeof p, "%s/%s.bin", ct_tmp, tag);
    ct_spill(p, out, outlen);
    assert_int_equal(ct_sh("capnp convert binary:canonical '%s' Root < %s > %s/%s.canon && "
                           "cmp -s %s/%s.canon %s",
                           schema, p, ct_tmp, tag, ct_tmp, tag, want),
                     0);
    json_t *again = NULL;
    assert_int_equal(dts_codec_decode(s, out, outlen, &again, err, sizeof err), DTS_OK);
    assert_true(jeq(again, v, tag));
    json_decref(again);
    dts_codec_free(out);
}

// check_line runs the checks of one value (the message in val.bin).
static void
check_line(dts_codec_schema *s, const char *schema)
{
    char tool[512], p[512];
    size_t n;
    snprintf(tool, sizeof tool, "%s/tool.json", ct_tmp);
    assert_int_equal(ct_sh("cd %s && capnp convert binary:json '%s' Root < val.bin > tool.json && "
                           "capnp convert binary:canonical '%s' Root < val.bin > val.canon",
                           ct_tmp, schema, schema),
                     0);
    char *tj = (char *)ct_slurp(tool, &n);
    json_error_t je;
    json_t *want = json_loadb(tj, n, 0, &je);
    free(tj);
    assert_non_null(want);
    static const char *const seg[] = {"val.bin", "seg1.bin", "seg3.bin"};
    assert_int_equal(
        ct_sh("cd %s && capnp convert --segment-size=1 binary:binary '%s' Root < val.bin "
              "> seg1.bin && capnp convert --segment-size=3 binary:binary '%s' Root < "
              "val.bin > seg3.bin",
              ct_tmp, schema, schema),
        0);
    json_t *ours = NULL;
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", ct_tmp, seg[i]);
        json_t *v = decode_file(s, p);
        assert_true(jeq(v, want, seg[i]));
        if (i == 0)
            ours = v;
        else
            json_decref(v);
    }
    snprintf(p, sizeof p, "%s/val.canon", ct_tmp);
    check_encode(s, schema, ours, p, "ours");
    check_encode(s, schema, want, p, "tools");
    // The tool reads our JSON text back to the same message.
    char *txt = json_dumps(ours, JSON_COMPACT);
    snprintf(tool, sizeof tool, "%s/ours.json", ct_tmp);
    ct_spill(tool, txt, strlen(txt));
    free(txt);
    assert_int_equal(ct_sh("cd %s && capnp convert json:canonical '%s' Root < ours.json > "
                           "back.canon && cmp -s back.canon val.canon",
                           ct_tmp, schema),
                     0);
    json_decref(ours);
    json_decref(want);
    n_messages++;
}

// check_schema builds the schema bytes and runs every line of NAME.txt.
static void
check_schema(const char *name)
{
    char schema[1200], values[1200], line[1 << 16], p[512];
    snprintf(schema, sizeof schema, "%s/%s.capnp", ct_corpus, name);
    snprintf(values, sizeof values, "%s/%s.txt", ct_corpus, name);
    void *sb = NULL;
    size_t sl = 0;
    char err[512] = "";
    dts_err e = dts_codec_capnp_schema_from_file(schema, "Root", &sb, &sl, err, sizeof err);
    if (e) fprintf(stderr, "%s: %s (%s)\n", name, dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    char want_name[256];
    snprintf(want_name, sizeof want_name, "%s.capnp:Root", name);
    assert_string_equal((const char *)sb, want_name);
    assert_true(sl <= DTS_SCHEMA_MAX);
    dts_codec_schema *s = NULL;
    e = dts_codec_schema_alloc(DTS_FORMAT_CAPNP, sb, sl, NULL, &s, err, sizeof err);
    if (e) fprintf(stderr, "%s: schema: %s (%s)\n", name, dts_strerror(e), err);
    assert_int_equal(e, DTS_OK);
    FILE *f = fopen(values, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        snprintf(p, sizeof p, "%s/val.txt", ct_tmp);
        ct_spill(p, line, strlen(line));
        assert_int_equal(ct_sh("capnp encode '%s' Root < %s > %s/val.bin", schema, p, ct_tmp), 0);
        check_line(s, schema);
    }
    fclose(f);
    dts_codec_schema_free(s);
    dts_codec_free(sb);
    n_schemas++;
}

static void
test_corpus(void **state)
{
    (void)state;
    ct_each_schema(check_schema);
    fprintf(stderr, "capnp dynamic codec: %u schemas, %u messages equal the tool\n", n_schemas,
            n_messages);
    assert_true(n_schemas >= 12);
}

static int
setup(void **state)
{
    (void)state;
    return ct_setup("/tmp/dts_capdyn_XXXXXX");
}

static int
teardown(void **state)
{
    (void)state;
    return ct_teardown();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_present),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
