// dyn_test.c: hostile input for the dynamic capnp codec (docs/spec/capnp.md,
// "Dynamic codec"): schema bytes that are truncated or whose compiled nodes
// lie (a field outside its struct, a group scoped elsewhere, two nodes with
// one id, a type that is not there, a union tag outside the struct),
// payloads that amplify (a list of 2^29-1 voids), nest too deep or hold
// text that is not UTF-8, and JSON values that do not fit. The lying
// schemas are made with the capnp tool: the compiler's request is printed
// as text (`capnp decode schema.capnp CodeGeneratorRequest`), edited with
// sed, and encoded again (pointer defaults, which the tool prints as
// "<opaque pointer>", become void). The test fails when the tool is missing.
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

#include "codec/capnp/cgr.h"
#include "codec/capnp/dyn.h"
#include "codec/codec_int.h"

#define SCHEMA_CAPNP "/usr/include/capnp/schema.capnp"

// schema_of returns the travelling schema bytes of NAME.capnp's Root.
static void *
schema_of(const char *name, size_t *len)
{
    char path[1200], err[512] = "";
    void *s = NULL;
    snprintf(path, sizeof path, "%s/%s.capnp", ct_corpus, name);
    dts_err e = dts_codec_capnp_schema_from_file(path, "Root", &s, len, err, sizeof err);
    if (e) fprintf(stderr, "%s: %s\n", name, err);
    assert_int_equal(e, DTS_OK);
    return s;
}

// lying_schema compiles NAME.capnp, edits the request's text with the sed
// script (pointer defaults dropped), and returns "NAME.capnp:Root", NUL, the edited request.
static uint8_t *
lying_schema(const char *name, const char *sed, size_t *len)
{
    assert_int_equal(ct_sh("cd %s && capnp compile -o- %s.capnp | capnp decode %s "
                           "CodeGeneratorRequest | sed -e 's/[a-zA-Z]* = <opaque pointer>/void = "
                           "void/' -e '%s' > %s/req.txt && capnp encode %s CodeGeneratorRequest "
                           "< %s/req.txt > %s/req.bin",
                           ct_corpus, name, SCHEMA_CAPNP, sed, ct_tmp, SCHEMA_CAPNP, ct_tmp,
                           ct_tmp),
                     0);
    char path[256], root[128];
    size_t n;
    snprintf(path, sizeof path, "%s/req.bin", ct_tmp);
    uint8_t *req = ct_slurp(path, &n);
    int rl = snprintf(root, sizeof root, "%s.capnp:Root", name) + 1;
    uint8_t *b = malloc((size_t)rl + n);
    memcpy(b, root, (size_t)rl);
    memcpy(b + rl, req, n);
    free(req);
    *len = (size_t)rl + n;
    return b;
}

static dts_err
parse(const void *s, size_t len, char *err, size_t errcap)
{
    dts_codec_schema *cs = NULL;
    dts_err e = dts_codec_schema_alloc(DTS_FORMAT_CAPNP, s, len, NULL, &cs, err, errcap);
    dts_codec_schema_free(cs);
    return e;
}

static void
test_tool_present(void **state)
{
    (void)state;
    assert_int_equal(ct_sh("capnp --version > /dev/null"), 0);
}

// Every prefix of a valid schema is refused cleanly; the whole one parses.
static void
test_schema_truncated(void **state)
{
    (void)state;
    size_t len;
    uint8_t *s = schema_of("06_groups", &len);
    char err[256];
    for (size_t n = 0; n < len; n++) assert_int_not_equal(parse(s, n, err, sizeof err), DTS_OK);
    assert_int_equal(parse(s, len, err, sizeof err), DTS_OK);
    // A name that is not a struct of the request.
    uint8_t *other = malloc(len + 16);
    memcpy(other, "nope", 5);
    memcpy(other + 5, s + strlen((char *)s) + 1, len - strlen((char *)s) - 1);
    assert_int_equal(parse(other, 5 + len - strlen((char *)s) - 1, err, sizeof err), DTS_ENOENT);
    free(other);
    dts_codec_free(s);
}

// Requests edited to lie are refused with a reason.
static void
test_schema_lies(void **state)
{
    (void)state;
    static const struct {
        const char *name, *sed, *why;
    } cases[] = {
        // 06_groups: count is a UInt64 at offset 3 of a 4-word struct.
        {"06_groups", "s/offset = 3,/offset = 4,/", "outside the struct"},
        {"06_groups", "/Root.pos\"/,/dataWordCount/s/dataWordCount = 4/dataWordCount = 3/",
         "group"},
        {"06_groups", "/Root.pos\"/,/scopeId/s/scopeId = [0-9]*/scopeId = 1/", "group"},
        {"06_groups", "s/discriminantOffset = 11,/discriminantOffset = 16,/", "union tag"},
        // 08_tree: Node is 18136179978086258762, Root 14561539962298082651.
        {"08_tree", "s/typeId = 18136179978086258762/typeId = 5/", "not in the schema"},
        {"08_tree", "s/( id = 14561539962298082651,/( id = 18136179978086258762,/", "two nodes"},
        {"03_lists", "s/pointerCount = 12,/pointerCount = 11,/", "outside the struct"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *s = lying_schema(cases[i].name, cases[i].sed, &len);
        char err[256] = "";
        dts_err e = parse(s, len, err, sizeof err);
        if (e == DTS_OK || !strstr(err, cases[i].why))
            fprintf(stderr, "case %zu (%s): %s: %s\n", i, cases[i].sed, dts_strerror(e), err);
        assert_int_not_equal(e, DTS_OK);
        assert_non_null(strstr(err, cases[i].why));
        free(s);
    }
}

static dts_err
decode(const char *name, const void *payload, size_t len, const dts_codec_limits *lim, char *err,
       size_t errcap)
{
    size_t sl;
    void *s = schema_of(name, &sl);
    char *json = NULL;
    dts_err e = dts_codec_to_json(DTS_FORMAT_CAPNP, s, sl, payload, len, lim, &json, err, errcap);
    dts_codec_free(json);
    dts_codec_free(s);
    return e;
}

// A one-word list of 2^29-1 voids is refused by the element limit (and
// by the traversal budget when the limit is raised), quickly.
static void
test_payload_void_list(void **state)
{
    (void)state;
    uint8_t m[8 * 15] = {0};
    m[4] = 13; // one segment of 13 words
    uint64_t root = 0 | (12ull << 48), lv = 1 | ((uint64_t)0x1fffffff << 35);
    memcpy(m + 8, &root, 8);
    memcpy(m + 16, &lv, 8);
    char err[256];
    assert_int_equal(decode("03_lists", m, 8 + 13 * 8, NULL, err, sizeof err), DTS_ETOOBIG);
    dts_codec_limits lim = {.max_elements = (size_t)1 << 30};
    assert_int_equal(decode("03_lists", m, 8 + 13 * 8, &lim, err, sizeof err), DTS_ETOOBIG);
    // Bytes after the message, and a truncated one.
    assert_int_equal(decode("03_lists", m, sizeof m, NULL, err, sizeof err), DTS_EMALFORMED);
    assert_int_equal(decode("03_lists", m, 8 + 12 * 8, NULL, err, sizeof err), DTS_EMALFORMED);
}

// A chain of 100 nested structs is refused at depth 64; 30 decode.
static void
test_payload_deep(void **state)
{
    (void)state;
    for (int depth = 30; depth <= 100; depth += 70) {
        char text[4096] = "(root = ";
        for (int i = 0; i < depth; i++) strcat(text, "(next = ");
        strcat(text, "(value = 1)");
        for (int i = 0; i <= depth; i++) strcat(text, ")");
        char path[256];
        snprintf(path, sizeof path, "%s/deep.txt", ct_tmp);
        FILE *f = fopen(path, "w");
        fprintf(f, "%s\n", text);
        fclose(f);
        assert_int_equal(
            ct_sh("capnp encode %s/08_tree.capnp Root < %s > %s/deep.bin", ct_corpus, path, ct_tmp),
            0);
        snprintf(path, sizeof path, "%s/deep.bin", ct_tmp);
        size_t n;
        uint8_t *b = ct_slurp(path, &n);
        char err[256];
        assert_int_equal(decode("08_tree", b, n, NULL, err, sizeof err),
                         depth < 60 ? DTS_OK : DTS_ETOOBIG);
        free(b);
    }
}

// Text that is not UTF-8 is refused.
static void
test_payload_text(void **state)
{
    (void)state;
    // 03_lists: lt (ptr 8) = ["\xff"]: a pointer list of one text.
    uint8_t m[8 + 8 * 16] = {0};
    m[4] = 16;
    uint64_t w[16] = {0};
    w[0] = 0 | (12ull << 48);                              // root: struct at word 1, 12 pointers
    w[9] = 1 | (4ull << 2) | (6ull << 32) | (1ull << 35);  // lt: list at word 14, 1 pointer
    w[14] = 1 | (0ull << 2) | (2ull << 32) | (2ull << 35); // text of 2 bytes at word 15
    w[15] = 0xff;
    memcpy(m + 8, w, sizeof w);
    char err[256] = "";
    assert_int_equal(decode("03_lists", m, sizeof m, NULL, err, sizeof err), DTS_EMALFORMED);
    assert_non_null(strstr(err, "UTF-8"));
    w[15] = 'a';
    memcpy(m + 8, w, sizeof w);
    assert_int_equal(decode("03_lists", m, sizeof m, NULL, err, sizeof err), DTS_OK);
}

// JSON values that do not fit are refused with the field named.
static void
test_encode_misfits(void **state)
{
    (void)state;
    static const struct {
        const char *schema, *json, *why;
    } cases[] = {
        {"05_unions", "{\"num\":\"1\",\"text\":\"x\"}", "members of one union"},
        {"05_unions", "{\"nope\":1}", "no field 'nope'"},
        {"05_unions", "{\"id\":-1}", "Root.id"},
        {"05_unions", "{\"id\":4294967296}", "Root.id"},
        {"05_unions", "{\"shape\":{\"square\":\"x\"}}", "square"},
        {"05_unions", "{\"inner\":[]}", "inner"},
        {"01_primitives", "{\"d\":[256]}", "byte values"},
        {"01_primitives", "{\"u64\":\"18446744073709551616\"}", "u64"},
        {"01_primitives", "{\"i8\":128}", "i8"},
        {"01_primitives", "{\"v\":1}", "Void"},
        {"07_enums", "{\"level\":\"loud\"}", "enumerant"},
        {"03_lists", "{\"lb\":[1]}", "true or false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t sl;
        void *s = schema_of(cases[i].schema, &sl), *out = NULL;
        size_t n;
        char err[256] = "";
        dts_err e = dts_codec_from_json(DTS_FORMAT_CAPNP, s, sl, NULL, cases[i].json,
                                        strlen(cases[i].json), NULL, &out, &n, err, sizeof err);
        if (e != DTS_EINVAL || !strstr(err, cases[i].why))
            fprintf(stderr, "case %zu %s: %s: %s\n", i, cases[i].json, dts_strerror(e), err);
        assert_int_equal(e, DTS_EINVAL);
        assert_non_null(strstr(err, cases[i].why));
        dts_codec_free(out);
        dts_codec_free(s);
    }
}

// The model: names, kinds, layout and defaults of a struct read back.
static void
test_cgr_model(void **state)
{
    (void)state;
    size_t sl;
    uint8_t *s = schema_of("02_defaults", &sl);
    size_t nl = strlen((char *)s) + 1;
    dtsi_cgr *g;
    char err[256];
    assert_int_equal(dtsi_cgr_parse(s + nl, sl - nl, NULL, &g, err, sizeof err), DTS_OK);
    const dtsi_cgr_node *r = dtsi_cgr_find_name(g, "02_defaults.capnp:Root");
    assert_non_null(r);
    assert_int_equal(r->kind, DTSI_CGR_NODE_STRUCT);
    assert_string_equal(dtsi_cgr_short_name(r), "Root");
    const dtsi_cgr_field *i32 = NULL;
    for (uint32_t i = 0; i < r->nfields; i++)
        if (!strcmp(r->fields[i].name, "i32")) i32 = &r->fields[i];
    assert_non_null(i32);
    assert_int_equal(i32->type.kind, DTSI_CGR_INT32);
    assert_true(i32->had_explicit_default);
    assert_int_equal(i32->default_value.bits, 42);
    assert_ptr_equal(dtsi_cgr_find(g, r->id), r);
    assert_int_equal(dtsi_cgr_check_struct(g, r, err, sizeof err), DTS_OK);
    dtsi_cgr_free(g);
    dts_codec_free(s);
}

static int
setup(void **state)
{
    (void)state;
    return ct_setup("/tmp/dts_capdyn_t_XXXXXX");
}

static int
teardown(void **state)
{
    (void)state;
    return ct_teardown();
}

// The schema of a struct does not depend on the directory its file was
// compiled from: `capnp compile -o- sub/dir/x.capnp` and, in sub/dir,
// `capnp compile -o- x.capnp` give the same bytes (the display names lose
// their directories), so two builds of one schema agree on its id.
static void
test_schema_path_free(void **state)
{
    (void)state;
    assert_int_equal(ct_sh("mkdir -p %s/sub/dir && cp %s/12_brewery.capnp %s/sub/dir/x.capnp && "
                           "cd %s && capnp compile -o- sub/dir/x.capnp > %s/far.bin && "
                           "cd sub/dir && capnp compile -o- x.capnp > %s/near.bin",
                           ct_tmp, ct_corpus, ct_tmp, ct_tmp, ct_tmp, ct_tmp),
                     0);
    void *sch[2] = {NULL, NULL};
    size_t len[2] = {0, 0};
    const char *file[2] = {"far", "near"};
    for (int i = 0; i < 2; i++) {
        char path[256], err[256] = "";
        size_t n;
        snprintf(path, sizeof path, "%s/%s.bin", ct_tmp, file[i]);
        uint8_t *req = ct_slurp(path, &n);
        dts_err e = dts_codec_capnp_schema_make("Root", req, n, &sch[i], &len[i], err, sizeof err);
        if (e) fail_msg("%s: %s", file[i], err);
        free(req);
    }
    assert_true(strncmp(sch[0], "x.capnp:Root", len[0]) == 0);
    assert_int_equal(len[0], len[1]);
    assert_memory_equal(sch[0], sch[1], len[0]);
    assert_int_equal(parse(sch[0], len[0], NULL, 0), DTS_OK);
    dts_codec_free(sch[0]);
    dts_codec_free(sch[1]);
}

// Two files of one name in two directories, each with a struct Reading,
// one using the other: without their directories both are
// "x.capnp:Reading", so the schema is refused with both names, not made
// with one a receiver could confuse with the other.
static void
test_schema_same_names(void **state)
{
    (void)state;
    assert_int_equal(ct_sh("mkdir -p %s/v1 %s/v2 && cd %s && "
                           "printf '@0xc3f0e2d3a4b5c601;\\nstruct Reading { a @0 :Int32; }\\n' "
                           "> v1/x.capnp && "
                           "printf '@0xc3f0e2d3a4b5c602;\\nusing V1 = import \"../v1/x.capnp\";\\n"
                           "struct Reading { old @0 :V1.Reading; b @1 :Text; }\\n' > v2/x.capnp && "
                           "capnp compile -o- v2/x.capnp > %s/two.bin",
                           ct_tmp, ct_tmp, ct_tmp, ct_tmp),
                     0);
    char path[256], err[512] = "";
    size_t n, len = 0;
    void *sch = NULL;
    snprintf(path, sizeof path, "%s/two.bin", ct_tmp);
    uint8_t *req = ct_slurp(path, &n);
    assert_int_equal(
        dts_codec_capnp_schema_make("v2/x.capnp:Reading", req, n, &sch, &len, err, sizeof err),
        DTS_EINVAL);
    free(req);
    assert_null(sch);
    if (!strstr(err, "v1/x.capnp:Reading") || !strstr(err, "v2/x.capnp:Reading"))
        fail_msg("err: %s", err);
}

// A missing file in another directory: capnp first warns that PWD does not
// match the directory it runs in, then says "no such file"; err reports
// the latter (it reported the warning).
static void
test_missing_file(void **state)
{
    (void)state;
    char path[1200], err[512] = "";
    void *s = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/no-such-schema.capnp", ct_corpus);
    assert_int_equal(dts_codec_capnp_schema_from_file(path, "Root", &s, &len, err, sizeof err),
                     DTS_EINVAL);
    assert_null(s);
    if (!strstr(err, "no such file")) fail_msg("err: %s", err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_present),      cmocka_unit_test(test_schema_truncated),
        cmocka_unit_test(test_schema_lies),       cmocka_unit_test(test_payload_void_list),
        cmocka_unit_test(test_payload_deep),      cmocka_unit_test(test_payload_text),
        cmocka_unit_test(test_encode_misfits),    cmocka_unit_test(test_cgr_model),
        cmocka_unit_test(test_missing_file),      cmocka_unit_test(test_schema_path_free),
        cmocka_unit_test(test_schema_same_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
