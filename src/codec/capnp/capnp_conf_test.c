// capnp_conf_test.c: conformance of the capnp runtime against the official
// tool (issue 5 acceptance; docs/spec/capnp.md, "Conformance"). For every
// schema tests/capnp/NAME.capnp (root struct Root) and every line of
// NAME.txt (a value in capnp text):
//   1. `capnp encode` makes the message plain, --packed, --flat,
//      --segment-size=1..8 and packed with 3-word segments; our reader reads
//      each and our canonical form equals `capnp convert binary:canonical`;
//      our packer's bytes equal `capnp encode --packed`.
//   2. our builder copies the message with segments of 1, 2, 5, 8 and 1024
//      words (far and double-far pointers); `capnp decode` of the result
//      prints the same text as of the tool's message, and the tool's
//      canonical form of it is byte-equal to the expected one.
// The tool runs as a subprocess; the test fails when it is missing
// (scripts/install-deps installs capnproto).
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

#include <dts/capnp.h>
#include "codec/codec_int.h"

static unsigned n_messages, n_schemas;

// same_file asserts two files have identical bytes.
static void
same_file(const char *a, const char *b, const char *what)
{
    size_t la, lb;
    uint8_t *x = ct_slurp(a, &la), *y = ct_slurp(b, &lb);
    if (la != lb || memcmp(x, y, la) != 0) {
        fprintf(stderr, "%s: %s and %s differ\n", what, a, b);
        fail();
    }
    free(x);
    free(y);
}

static void
test_tool_present(void **state)
{
    (void)state;
    // Missing tool is a failure, not a skip: scripts/install-deps provides it.
    assert_int_equal(ct_sh("capnp --version > /dev/null"), 0);
}

// canon_of reads path as kind (0 stream, 1 packed, 2 flat) with our reader
// and asserts our canonical form equals the file canon.
static void
check_canon(const char *path, int kind, const uint8_t *canon, size_t canon_len)
{
    size_t len;
    uint8_t *buf = ct_slurp(path, &len), *out = NULL;
    size_t outlen = 0;
    dts_capnp_msg m;
    dts_err e = kind == 1   ? dts_capnp_msg_init_packed(&m, buf, len, NULL)
                : kind == 2 ? dts_capnp_msg_init_flat(&m, buf, len, NULL)
                            : dts_capnp_msg_init_stream(&m, buf, len, NULL, NULL);
    if (e == DTS_OK) e = dts_capnp_canonicalize(&m, &out, &outlen);
    if (e != DTS_OK) {
        const char *why;
        dts_capnp_msg_error(&m, &why);
        fprintf(stderr, "%s: error %d: %s\n", path, e, why);
        fail();
    }
    if (outlen != canon_len || memcmp(out, canon, outlen) != 0) {
        fprintf(stderr, "%s: canonical form differs (%zu vs %zu bytes)\n", path, outlen, canon_len);
        fail();
    }
    dtsi_cfree(out);
    dts_capnp_msg_fini(&m);
    free(buf);
}

// check_variants encodes the value in each framing and checks our reader.
static void
check_variants(const char *schema, const uint8_t *canon, size_t canon_len)
{
    static const struct {
        const char *flags;
        int kind;
    } v[] = {{"", 0},
             {"--packed", 1},
             {"--flat", 2},
             {"--segment-size=1", 0},
             {"--segment-size=2", 0},
             {"--segment-size=3", 0},
             {"--segment-size=4", 0},
             {"--segment-size=5", 0},
             {"--segment-size=6", 0},
             {"--segment-size=7", 0},
             {"--segment-size=8", 0},
             {"--packed --segment-size=3", 1}};
    char path[256];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        snprintf(path, sizeof path, "%s/var%zu.bin", ct_tmp, i);
        assert_int_equal(
            ct_sh("capnp encode %s '%s' Root < %s/v.txt > %s", v[i].flags, schema, ct_tmp, path),
            0);
        check_canon(path, v[i].kind, canon, canon_len);
    }
}

// check_pack packs the plain message with our packer and compares with the
// tool's --packed output (var1.bin).
static void
check_pack(const char *base)
{
    size_t len, plen;
    uint8_t *raw = ct_slurp(base, &len);
    uint8_t *packed = malloc(dts_capnp_pack_bound(len));
    size_t n = dts_capnp_pack(raw, len, packed);
    char path[256];
    snprintf(path, sizeof path, "%s/var1.bin", ct_tmp);
    uint8_t *want = ct_slurp(path, &plen);
    assert_int_equal(n, plen);
    assert_memory_equal(packed, want, n);
    free(raw);
    free(packed);
    free(want);
}

// check_builder copies the plain message into our builder with segments of
// seg_words and checks the tool decodes it to the expected text and
// canonical bytes.
static void
check_builder(const char *schema, const char *base, uint32_t seg_words)
{
    size_t len, outlen;
    uint8_t *raw = ct_slurp(base, &len), *out;
    dts_capnp_msg m;
    dts_capnp_builder b;
    dts_capnp_builder_opts o = {.seg_words = seg_words};
    assert_int_equal(dts_capnp_msg_init_stream(&m, raw, len, NULL, NULL), DTS_OK);
    assert_int_equal(dts_capnp_builder_init(&b, &o), DTS_OK);
    assert_int_equal(dts_capnp_copy(dts_capnp_root(&m), dts_capnp_broot(&b), false), DTS_OK);
    assert_int_equal(dts_capnp_builder_write(&b, false, &out, &outlen), DTS_OK);
    char ours[256];
    snprintf(ours, sizeof ours, "%s/ours.bin", ct_tmp);
    ct_spill(ours, out, outlen);
    assert_int_equal(ct_sh("capnp decode '%s' Root < %s > %s/got.txt", schema, ours, ct_tmp), 0);
    assert_int_equal(ct_sh("cmp -s %s/got.txt %s/expect.txt", ct_tmp, ct_tmp), 0);
    assert_int_equal(
        ct_sh("capnp convert binary:canonical '%s' Root < %s > %s/oc.bin", schema, ours, ct_tmp),
        0);
    char a[256], c[256];
    snprintf(a, sizeof a, "%s/oc.bin", ct_tmp);
    snprintf(c, sizeof c, "%s/canon.bin", ct_tmp);
    same_file(a, c, "canonical form of our builder's message");
    if (seg_words == 1024) { // packed output of ours decodes too
        uint8_t *packed = malloc(dts_capnp_pack_bound(outlen));
        ct_spill(ours, packed, dts_capnp_pack(out, outlen, packed));
        free(packed);
        assert_int_equal(
            ct_sh("capnp decode --packed '%s' Root < %s > %s/got.txt", schema, ours, ct_tmp), 0);
        assert_int_equal(ct_sh("cmp -s %s/got.txt %s/expect.txt", ct_tmp, ct_tmp), 0);
    }
    dtsi_cfree(out);
    dts_capnp_builder_fini(&b);
    dts_capnp_msg_fini(&m);
    free(raw);
}

// check_message runs every check on one value of one schema.
static void
check_message(const char *schema, const char *value)
{
    char path[256], base[256];
    snprintf(path, sizeof path, "%s/v.txt", ct_tmp);
    ct_spill(path, value, strlen(value));
    snprintf(base, sizeof base, "%s/base.bin", ct_tmp);
    assert_int_equal(ct_sh("capnp encode '%s' Root < %s > %s", schema, path, base), 0);
    assert_int_equal(ct_sh("capnp decode '%s' Root < %s > %s/expect.txt", schema, base, ct_tmp), 0);
    assert_int_equal(
        ct_sh("capnp convert binary:canonical '%s' Root < %s > %s/canon.bin", schema, base, ct_tmp),
        0);
    snprintf(path, sizeof path, "%s/canon.bin", ct_tmp);
    size_t canon_len;
    uint8_t *canon = ct_slurp(path, &canon_len);
    check_variants(schema, canon, canon_len);
    check_pack(base);
    static const uint32_t segs[] = {1, 2, 5, 8, 1024};
    for (size_t i = 0; i < sizeof segs / sizeof segs[0]; i++) check_builder(schema, base, segs[i]);
    free(canon);
    n_messages++;
}

// check_schema runs check_message on every value line of NAME.txt.
static void
check_schema(const char *name)
{
    char schema[1300], values[1300], line[65536];
    snprintf(schema, sizeof schema, "%s/%s.capnp", ct_corpus, name);
    snprintf(values, sizeof values, "%s/%s.txt", ct_corpus, name);
    FILE *f = fopen(values, "r");
    assert_non_null(f);
    unsigned before = n_messages;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        int shown = (int)strcspn(line, "\n");
        fprintf(stderr, "capnp conformance: %s: %.*s\n", name, shown > 60 ? 60 : shown, line);
        check_message(schema, line);
    }
    fclose(f);
    assert_true(n_messages > before);
    n_schemas++;
}

static void
test_corpus(void **state)
{
    (void)state;
    ct_each_schema(check_schema);
    fprintf(stderr, "capnp conformance: %u schemas, %u messages, %u tool runs\n", n_schemas,
            n_messages, ct_runs);
    assert_true(n_schemas >= 10);
}

// ---------------------------------------------------------------------------
// Values: messages from the tool, read field by field at the offsets that
// `capnp compile -ocapnp` prints for the corpus schemas.

// encode runs `capnp encode FLAGS NAME.capnp Root` on value; the caller
// frees the returned bytes.
static uint8_t *
encode(const char *name, const char *flags, const char *value, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/val.txt", ct_tmp);
    ct_spill(path, value, strlen(value));
    assert_int_equal(ct_sh("capnp encode %s '%s/%s.capnp' Root < %s > %s/val.bin", flags, ct_corpus,
                           name, path, ct_tmp),
                     0);
    snprintf(path, sizeof path, "%s/val.bin", ct_tmp);
    return ct_slurp(path, len);
}

// open_root reads a message of the given framing and its root struct.
static void
open_root(dts_capnp_msg *m, const uint8_t *buf, size_t len, const char *flags,
          dts_capnp_struct *root)
{
    dts_err e = strstr(flags, "packed") ? dts_capnp_msg_init_packed(m, buf, len, NULL)
                : strstr(flags, "flat") ? dts_capnp_msg_init_flat(m, buf, len, NULL)
                                        : dts_capnp_msg_init_stream(m, buf, len, NULL, NULL);
    assert_int_equal(e, DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(m), root), DTS_OK);
}

static const char *const framings[] = {
    "", "--packed", "--flat", "--segment-size=1", "--segment-size=3", "--packed --segment-size=2"};
#define N_FRAMINGS (sizeof framings / sizeof framings[0])

static void
test_values_primitives(void **state)
{
    (void)state;
    const char *v = "(b = true, i8 = -1, i16 = -300, i32 = -70000, i64 = -5000000000, u8 = 255, "
                    "u16 = 65535, u32 = 4294967295, u64 = 18446744073709551615, f32 = 1.5, "
                    "f64 = -2.25, t = \"hello\", d = 0x\"00ff10\", b2 = true)";
    for (size_t k = 0; k < N_FRAMINGS; k++) {
        size_t len, n;
        uint8_t *buf = encode("01_primitives", framings[k], v, &len);
        dts_capnp_msg m;
        dts_capnp_struct r;
        const char *t;
        const uint8_t *d;
        open_root(&m, buf, len, framings[k], &r);
        assert_true(dts_capnp_get_bool(&r, 0, false) && dts_capnp_get_bool(&r, 1, false));
        assert_int_equal((int8_t)dts_capnp_get_u8(&r, 1, 0), -1);
        assert_int_equal((int16_t)dts_capnp_get_u16(&r, 1, 0), -300);
        assert_int_equal((int32_t)dts_capnp_get_u32(&r, 1, 0), -70000);
        assert_true((int64_t)dts_capnp_get_u64(&r, 1, 0) == -5000000000LL);
        assert_int_equal(dts_capnp_get_u8(&r, 16, 0), 255);
        assert_int_equal(dts_capnp_get_u16(&r, 9, 0), 65535);
        assert_int_equal(dts_capnp_get_u32(&r, 5, 0), 4294967295u);
        assert_true(dts_capnp_get_u64(&r, 3, 0) == UINT64_MAX);
        assert_true(dts_capnp_get_f32(&r, 8, 0) == 1.5f);
        assert_true(dts_capnp_get_f64(&r, 5, 0) == -2.25);
        assert_int_equal(dts_capnp_read_text(dts_capnp_struct_ptr(&r, 0), &t, &n), DTS_OK);
        assert_string_equal(t, "hello");
        assert_int_equal(dts_capnp_read_data(dts_capnp_struct_ptr(&r, 1), &d, &n), DTS_OK);
        assert_int_equal(n, 3);
        assert_memory_equal(d, "\x00\xff\x10", 3);
        dts_capnp_msg_fini(&m);
        free(buf);
    }
}

// Defaults: an empty message reads every default; set values are XORed.
static void
test_values_defaults(void **state)
{
    (void)state;
    for (size_t k = 0; k < N_FRAMINGS; k++) {
        size_t len;
        uint8_t *buf = encode("02_defaults", framings[k], "(i32 = 7, f64 = 3.25, b = false)", &len);
        dts_capnp_msg m;
        dts_capnp_struct r;
        open_root(&m, buf, len, framings[k], &r);
        assert_false(dts_capnp_get_bool(&r, 0, true));
        assert_int_equal((int8_t)dts_capnp_get_u8(&r, 1, (uint8_t)-7), -7);
        assert_int_equal(dts_capnp_get_u16(&r, 1, 1000), 1000);
        assert_int_equal(dts_capnp_get_u32(&r, 1, 42), 7);
        assert_int_equal(dts_capnp_get_u32(&r, 1, 0), 7 ^ 42); // stored bits
        assert_true((int64_t)dts_capnp_get_u64(&r, 1, (uint64_t)-123456789012LL) ==
                    -123456789012LL);
        assert_true(dts_capnp_get_u64(&r, 3, 12345678901234567890ull) == 12345678901234567890ull);
        assert_true(dts_capnp_get_f32(&r, 8, 1.25f) == 1.25f);
        assert_true(dts_capnp_get_f64(&r, 5, 1.5) == 3.25);
        assert_int_equal(dts_capnp_get_u16(&r, 18, 2), 2); // e = blue
        assert_true(dts_capnp_ptr_is_null(dts_capnp_struct_ptr(&r, 0)));
        dts_capnp_msg_fini(&m);
        free(buf);
    }
}

// Lists of every element size, text lists and nested lists.
static void
test_values_lists(void **state)
{
    (void)state;
    const char *v =
        "(lv = [void, void, void], lb = [true, false, true, true, false, false, "
        "false, true, true], l8 = [-1, 2, -3], l16 = [1, 65535], l32 = [-5, 6, 7, 8, 9],"
        " lf32 = [0.5, -0.25], l64 = [0, 18446744073709551615], lf64 = [1.0, 2.0, 3.5],"
        " lt = [\"a\", \"\", \"ccc\"], ll = [[1], [], [2, 3, 4]])";
    for (size_t k = 0; k < N_FRAMINGS; k++) {
        size_t len, n;
        uint8_t *buf = encode("03_lists", framings[k], v, &len);
        dts_capnp_msg m;
        dts_capnp_struct r;
        dts_capnp_list l, in;
        const char *t;
        open_root(&m, buf, len, framings[k], &r);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 0), DTS_CAPNP_VOID, &l), 0);
        assert_int_equal(l.count, 3);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 1), DTS_CAPNP_BIT, &l), 0);
        assert_int_equal(l.count, 9);
        assert_true(dts_capnp_list_bool(&l, 7) && dts_capnp_list_bool(&l, 8));
        assert_false(dts_capnp_list_bool(&l, 6));
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 2), DTS_CAPNP_BYTE, &l), 0);
        assert_int_equal((int8_t)dts_capnp_list_u8(&l, 2), -3);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 3), DTS_CAPNP_TWO, &l), 0);
        assert_int_equal(dts_capnp_list_u16(&l, 1), 65535);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 4), DTS_CAPNP_FOUR, &l), 0);
        assert_int_equal((int32_t)dts_capnp_list_u32(&l, 0), -5);
        assert_int_equal(l.count, 5);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 6), DTS_CAPNP_EIGHT, &l), 0);
        assert_true(dts_capnp_list_u64(&l, 1) == UINT64_MAX);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 7), DTS_CAPNP_EIGHT, &l), 0);
        uint64_t bits = dts_capnp_list_u64(&l, 2);
        double f;
        memcpy(&f, &bits, 8);
        assert_true(f == 3.5);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 8), DTS_CAPNP_POINTER, &l),
                         0);
        assert_int_equal(dts_capnp_read_text(dts_capnp_list_ptr(&l, 2), &t, &n), DTS_OK);
        assert_string_equal(t, "ccc");
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 10), DTS_CAPNP_POINTER, &l),
                         0);
        assert_int_equal(dts_capnp_read_list(dts_capnp_list_ptr(&l, 2), DTS_CAPNP_FOUR, &in), 0);
        assert_int_equal(in.count, 3);
        assert_int_equal(dts_capnp_list_u32(&in, 2), 4);
        dts_capnp_msg_fini(&m);
        free(buf);
    }
}

// Unions: the discriminant (u16 at offset 2 and 3) and the member.
static void
test_values_unions(void **state)
{
    (void)state;
    const char *v = "(list = [(a = 1), (s = \"x\")], id = 4294967295, shape = (poly = [1, 2, 3]))";
    for (size_t k = 0; k < N_FRAMINGS; k++) {
        size_t len, n;
        uint8_t *buf = encode("05_unions", framings[k], v, &len);
        dts_capnp_msg m;
        dts_capnp_struct r, e;
        dts_capnp_list l;
        const char *t;
        open_root(&m, buf, len, framings[k], &r);
        assert_int_equal(dts_capnp_get_u32(&r, 0, 0), 4294967295u);
        assert_int_equal(dts_capnp_get_u16(&r, 2, 0), 4); // list
        assert_int_equal(dts_capnp_get_u16(&r, 3, 0), 2); // poly
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 0), DTS_CAPNP_COMPOSITE, &l),
                         0);
        assert_int_equal(l.count, 2);
        assert_int_equal(dts_capnp_list_struct(&l, 1, &e), 0);
        assert_int_equal(dts_capnp_read_text(dts_capnp_struct_ptr(&e, 0), &t, &n), 0);
        assert_string_equal(t, "x");
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&r, 1), DTS_CAPNP_EIGHT, &l), 0);
        assert_int_equal(l.count, 3);
        dts_capnp_msg_fini(&m);
        free(buf);
    }
}

// A message built field by field decodes with the tool to the expected text.
static void
test_builder_text(void **state)
{
    (void)state;
    dts_capnp_builder b;
    dts_capnp_builder_opts o = {.seg_words = 2};
    assert_int_equal(dts_capnp_builder_init(&b, &o), DTS_OK);
    dts_capnp_bstruct r = dts_capnp_init_struct(dts_capnp_broot(&b), 6, 2);
    dts_capnp_set_bool(r, 0, true, false);
    dts_capnp_set_u8(r, 1, (uint8_t)-1, 0);
    dts_capnp_set_u16(r, 1, (uint16_t)-300, 0);
    dts_capnp_set_u32(r, 1, (uint32_t)-70000, 0);
    dts_capnp_set_u64(r, 1, (uint64_t)-5000000000LL, 0);
    dts_capnp_set_u8(r, 16, 255, 0);
    dts_capnp_set_u16(r, 9, 65535, 0);
    dts_capnp_set_u32(r, 5, 4294967295u, 0);
    dts_capnp_set_u64(r, 3, UINT64_MAX, 0);
    dts_capnp_set_f32(r, 8, 1.5f, 0);
    dts_capnp_set_f64(r, 5, -2.25, 0);
    dts_capnp_set_text(dts_capnp_bstruct_ptr(r, 0), "hello", 5);
    dts_capnp_set_data(dts_capnp_bstruct_ptr(r, 1), "\x00\xff\x10", 3);
    dts_capnp_set_bool(r, 1, true, false);
    uint8_t *out;
    size_t outlen;
    assert_int_equal(dts_capnp_builder_write(&b, false, &out, &outlen), DTS_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/built.bin", ct_tmp);
    ct_spill(path, out, outlen);
    assert_int_equal(ct_sh("capnp decode --short '%s/01_primitives.capnp' Root < %s > %s/built.txt",
                           ct_corpus, path, ct_tmp),
                     0);
    snprintf(path, sizeof path, "%s/built.txt", ct_tmp);
    size_t n;
    char *txt = (char *)ct_slurp(path, &n);
    const char *want =
        "(v = void, b = true, i8 = -1, i16 = -300, i32 = -70000, i64 = -5000000000, "
        "u8 = 255, u16 = 65535, u32 = 4294967295, u64 = 18446744073709551615, "
        "f32 = 1.5, f64 = -2.25, t = \"hello\", d = \"\\000\\377\\020\", b2 = true)\n";
    if (n != strlen(want) || memcmp(txt, want, n) != 0) {
        fprintf(stderr, "got: %.*s", (int)n, txt);
        fail();
    }
    free(txt);
    dtsi_cfree(out);
    dts_capnp_builder_fini(&b);
}

static int
setup(void **state)
{
    (void)state;
    return ct_setup("/tmp/dts_capnp_XXXXXX");
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
        cmocka_unit_test(test_tool_present),    cmocka_unit_test(test_values_primitives),
        cmocka_unit_test(test_values_defaults), cmocka_unit_test(test_values_lists),
        cmocka_unit_test(test_values_unions),   cmocka_unit_test(test_builder_text),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
