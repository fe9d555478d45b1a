// capnpc_gen_test.c: the code generator against the official tool (issue 5
// acceptance; docs/spec/capnp.md, "Code generator"). The build ran
// capnpc-dts on every schema of tests/capnp/; this test
//   1. compares each file's generated layout table with the annotations of
//      `capnp compile -ocapnp` (struct sizes, bits[a, b), ptr[n], union tags);
//   2. for every line of NAME.txt, reads the message `capnp encode` makes
//      with the generated readers and copies it with the generated builders
//      (NAME_Root_copy goes through every typed getter and setter), with
//      one-word segments too (far pointers); `capnp decode` of the copy
//      prints the same text as of the original;
//   3. builds brewery and defaults values field by field with the typed
//      setters and checks the text `capnp decode` prints, and reads them
//      back (defaults, unions, groups, lists, constants of the generated API);
//   4. checks that each Root_schema() gives what
//      dts_codec_capnp_schema_from_file gives for the file.
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

#include "01_primitives.capnp.h"
#include "02_defaults.capnp.h"
#include "03_lists.capnp.h"
#include "04_structlists.capnp.h"
#include "05_unions.capnp.h"
#include "06_groups.capnp.h"
#include "07_enums.capnp.h"
#include "08_tree.capnp.h"
#include "09_big.capnp.h"
#include "10_sparse.capnp.h"
#include "11_empty.capnp.h"
#include "12_brewery.capnp.h"
#include "layout_testutil.h"

static unsigned n_lines;

typedef dts_err (*copy_fn)(dts_capnp_msg *m, dts_capnp_builder *b);

#define COPY_FN(pfx)                                                                               \
    static dts_err copy_##pfx(dts_capnp_msg *m, dts_capnp_builder *b)                              \
    {                                                                                              \
        pfx##_Root_reader r;                                                                       \
        dts_err e = pfx##_Root_read_root(m, &r);                                                   \
        return e ? e : pfx##_Root_copy(r, pfx##_Root_new_root(b));                                 \
    }
COPY_FN(s01_primitives)
COPY_FN(s02_defaults)
COPY_FN(s03_lists)
COPY_FN(s04_structlists)
COPY_FN(s05_unions)
COPY_FN(s06_groups)
COPY_FN(s07_enums)
COPY_FN(s08_tree)
COPY_FN(s09_big)
COPY_FN(s10_sparse)
COPY_FN(s11_empty)
COPY_FN(s12_brewery)

typedef dts_err (*schema_fn)(void **out, size_t *len);

static const struct schema {
    const char *stem;
    const dtsc_layout *layout;
    const size_t *count;
    copy_fn copy;
    schema_fn schema; // NAME_Root_schema
} schemas[] = {
#define S(stem, pfx)                                                                               \
    {                                                                                              \
        stem, pfx##_layout, &pfx##_layout_count, copy_##pfx, pfx##_Root_schema                     \
    }
    S("01_primitives", s01_primitives),
    S("02_defaults", s02_defaults),
    S("03_lists", s03_lists),
    S("04_structlists", s04_structlists),
    S("05_unions", s05_unions),
    S("06_groups", s06_groups),
    S("07_enums", s07_enums),
    S("08_tree", s08_tree),
    S("09_big", s09_big),
    S("10_sparse", s10_sparse),
    S("11_empty", s11_empty),
    S("12_brewery", s12_brewery),
#undef S
};

// ---------------------------------------------------------------------------
// 1. Layout (layout_testutil.h)

static void
test_layout(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++)
        ct_layout_file(ct_corpus, schemas[i].stem, schemas[i].layout, *schemas[i].count);
    assert_true(ct_layout_rows > 100);
}

// ---------------------------------------------------------------------------
// 2. Round trip of the corpus through the generated code

static void
roundtrip_line(const struct schema *s, const char *text, unsigned k)
{
    char in[128], exp[128], got[128], bin[128];
    snprintf(in, sizeof in, "%s/%s_%u.txt", ct_tmp, s->stem, k);
    snprintf(bin, sizeof bin, "%s/%s_%u.bin", ct_tmp, s->stem, k);
    snprintf(exp, sizeof exp, "%s/%s_%u.exp", ct_tmp, s->stem, k);
    ct_spill(in, text, strlen(text));
    assert_int_equal(ct_sh("capnp encode '%s/%s.capnp' Root < '%s' > '%s' && "
                           "capnp decode '%s/%s.capnp' Root < '%s' > '%s'",
                           ct_corpus, s->stem, in, bin, ct_corpus, s->stem, bin, exp),
                     0);
    size_t len, elen;
    uint8_t *bytes = ct_slurp(bin, &len), *want = ct_slurp(exp, &elen);
    static const uint32_t seg_words[] = {0, 1};
    for (size_t v = 0; v < 2; v++) {
        dts_capnp_msg m;
        assert_int_equal(dts_capnp_msg_init_stream(&m, bytes, len, NULL, NULL), DTS_OK);
        dts_capnp_builder b;
        dts_capnp_builder_opts o = {.seg_words = seg_words[v]};
        assert_int_equal(dts_capnp_builder_init(&b, &o), DTS_OK);
        assert_int_equal(s->copy(&m, &b), DTS_OK);
        assert_int_equal(dts_capnp_builder_error(&b), DTS_OK);
        uint8_t *out;
        size_t olen;
        assert_int_equal(dts_capnp_builder_write(&b, false, &out, &olen), DTS_OK);
        snprintf(bin, sizeof bin, "%s/%s_%u_%zu.out", ct_tmp, s->stem, k, v);
        snprintf(got, sizeof got, "%s/%s_%u_%zu.got", ct_tmp, s->stem, k, v);
        ct_spill(bin, out, olen);
        free(out);
        dts_capnp_builder_fini(&b);
        dts_capnp_msg_fini(&m);
        assert_int_equal(
            ct_sh("capnp decode '%s/%s.capnp' Root < '%s' > '%s'", ct_corpus, s->stem, bin, got),
            0);
        size_t glen;
        uint8_t *have = ct_slurp(got, &glen);
        if (glen != elen || memcmp(have, want, elen) != 0) {
            fprintf(stderr, "%s line %u: copy decodes as\n%s\nexpected\n%s\n", s->stem, k,
                    (char *)have, (char *)want);
            fail();
        }
        free(have);
    }
    free(bytes);
    free(want);
    n_lines++;
}

static void
test_roundtrip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.txt", ct_corpus, schemas[i].stem);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char *line = NULL;
        size_t cap = 0;
        unsigned k = 0;
        while (getline(&line, &cap, f) > 0) {
            if (line[0] == '#' || line[0] == '\n') continue;
            roundtrip_line(&schemas[i], line, k++);
        }
        free(line);
        fclose(f);
    }
    assert_true(n_lines >= 30);
}

// ---------------------------------------------------------------------------
// 3. Typed setters and getters

// decode_equals writes the builder's message and asserts `capnp decode`
// prints want (one line).
static void
decode_equals(dts_capnp_builder *b, const char *stem, const char *want)
{
    uint8_t *out;
    size_t olen;
    assert_int_equal(dts_capnp_builder_error(b), DTS_OK);
    assert_int_equal(dts_capnp_builder_write(b, false, &out, &olen), DTS_OK);
    char bin[128], txt[128];
    snprintf(bin, sizeof bin, "%s/typed_%s.bin", ct_tmp, stem);
    snprintf(txt, sizeof txt, "%s/typed_%s.txt", ct_tmp, stem);
    ct_spill(bin, out, olen);
    free(out);
    assert_int_equal(
        ct_sh("capnp decode --short '%s/%s.capnp' Root < '%s' > '%s'", ct_corpus, stem, bin, txt),
        0);
    size_t len;
    char *have = (char *)ct_slurp(txt, &len);
    if (len && have[len - 1] == '\n') have[len - 1] = 0;
    assert_string_equal(have, want);
    free(have);
}

static void
test_typed_brewery(void **state)
{
    (void)state;
    dts_capnp_builder b;
    assert_int_equal(dts_capnp_builder_init(&b, NULL), DTS_OK);
    s12_brewery_Root_builder root = s12_brewery_Root_new_root(&b);
    s12_brewery_Temperature_builder t = s12_brewery_Root_init_reading(root);
    assert_int_equal(s12_brewery_Temperature_set_sensor(t, "tank3/top", 9), DTS_OK);
    s12_brewery_Temperature_set_celsius(t, 18.25);
    s12_brewery_Temperature_set_timeNs(t, UINT64_C(1732500000123456789));
    s12_brewery_Temperature_set_seq(t, 42);
    s12_brewery_Temperature_set_ok(t, false);
    s12_brewery_Temperature_set_unit(t, s12_brewery_Temperature_Unit_kelvin);
    dts_capnp_blist tags = s12_brewery_Temperature_init_tags(t, 2);
    assert_int_equal(s12_brewery_Temperature_tags_set(tags, 0, "x", 1), DTS_OK);
    assert_int_equal(s12_brewery_Temperature_tags_set(tags, 1, "yz", 2), DTS_OK);
    dts_capnp_blist h = s12_brewery_Temperature_init_history(t, 3);
    for (uint32_t i = 0; i < 3; i++) s12_brewery_Temperature_history_set(h, i, 0.5f * (float)i);
    s12_brewery_Temperature_location_builder loc = s12_brewery_Temperature_init_location(t);
    s12_brewery_Temperature_location_set_tank(loc, 3);
    s12_brewery_Temperature_location_set_depthCm(loc, -20);
    s12_brewery_Temperature_status_builder st = s12_brewery_Temperature_init_status(t);
    s12_brewery_Temperature_status_set_fault(st, 17);
    dts_capnp_blist batch = s12_brewery_Root_init_batch(root, 2);
    s12_brewery_Temperature_builder b1 = s12_brewery_Root_batch_elem(batch, 1);
    assert_int_equal(s12_brewery_Temperature_status_set_warning(
                         s12_brewery_Temperature_init_status(b1), "hot", 3),
                     DTS_OK);
    decode_equals(
        &b, "12_brewery",
        "(reading = (sensor = \"tank3/top\", celsius = 18.25, timeNs = 1732500000123456789, "
        "seq = 42, ok = false, unit = kelvin, tags = [\"x\", \"yz\"], history = [0, 0.5, 1], "
        "location = (tank = 3, depthCm = -20), status = (fault = 17)), "
        "batch = [(celsius = 0, timeNs = 0, seq = 0, ok = true, unit = celsius, "
        "location = (tank = 0, depthCm = 0), status = (nominal = void)), "
        "(celsius = 0, timeNs = 0, seq = 0, ok = true, unit = celsius, "
        "location = (tank = 0, depthCm = 0), status = (warning = \"hot\"))])");

    // read it back with the generated readers
    uint8_t *out;
    size_t olen;
    assert_int_equal(dts_capnp_builder_write(&b, false, &out, &olen), DTS_OK);
    dts_capnp_msg m;
    assert_int_equal(dts_capnp_msg_init_stream(&m, out, olen, NULL, NULL), DTS_OK);
    s12_brewery_Root_reader r;
    s12_brewery_Temperature_reader tr;
    assert_int_equal(s12_brewery_Root_read_root(&m, &r), DTS_OK);
    assert_true(s12_brewery_Root_has_reading(r));
    assert_int_equal(s12_brewery_Root_get_reading(r, &tr), DTS_OK);
    const char *s;
    size_t n;
    assert_int_equal(s12_brewery_Temperature_get_sensor(tr, &s, &n), DTS_OK);
    assert_int_equal(n, 9);
    assert_memory_equal(s, "tank3/top", 9);
    assert_true(s12_brewery_Temperature_get_celsius(tr) == 18.25);
    assert_true(s12_brewery_Temperature_get_timeNs(tr) == UINT64_C(1732500000123456789));
    assert_false(s12_brewery_Temperature_get_ok(tr));
    assert_int_equal(s12_brewery_Temperature_get_unit(tr), s12_brewery_Temperature_Unit_kelvin);
    dts_capnp_list l;
    assert_int_equal(s12_brewery_Temperature_get_history(tr, &l), DTS_OK);
    assert_int_equal(s12_brewery_Temperature_history_len(&l), 3);
    assert_true(s12_brewery_Temperature_history_at(&l, 2) == 1.0f);
    assert_int_equal(s12_brewery_Temperature_get_tags(tr, &l), DTS_OK);
    assert_int_equal(s12_brewery_Temperature_tags_at(&l, 1, &s, &n), DTS_OK);
    assert_memory_equal(s, "yz", 2);
    s12_brewery_Temperature_location_reader lr = s12_brewery_Temperature_get_location(tr);
    assert_int_equal(s12_brewery_Temperature_location_get_depthCm(lr), -20);
    s12_brewery_Temperature_status_reader sr = s12_brewery_Temperature_get_status(tr);
    assert_int_equal(s12_brewery_Temperature_status_which(sr),
                     s12_brewery_Temperature_status_TAG_fault);
    assert_int_equal(s12_brewery_Temperature_status_get_fault(sr), 17);
    assert_int_equal(s12_brewery_Root_get_batch(r, &l), DTS_OK);
    assert_int_equal(s12_brewery_Root_batch_at(&l, 0, &tr), DTS_OK);
    assert_true(s12_brewery_Temperature_get_ok(tr)); // default true
    assert_int_equal(dts_capnp_msg_error(&m, NULL), DTS_OK);
    dts_capnp_msg_fini(&m);
    free(out);
    dts_capnp_builder_fini(&b);
}

static void
test_typed_defaults(void **state)
{
    (void)state;
    // An empty message reads every default (XOR with zero bits).
    static const uint8_t empty[16] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    dts_capnp_msg m;
    assert_int_equal(dts_capnp_msg_init_stream(&m, empty, sizeof empty, NULL, NULL), DTS_OK);
    s02_defaults_Root_reader r;
    assert_int_equal(s02_defaults_Root_read_root(&m, &r), DTS_OK);
    assert_true(s02_defaults_Root_get_b(r));
    assert_int_equal(s02_defaults_Root_get_i8(r), -7);
    assert_int_equal(s02_defaults_Root_get_i64(r), INT64_C(-123456789012));
    assert_true(s02_defaults_Root_get_u64(r) == UINT64_C(12345678901234567890));
    assert_true(s02_defaults_Root_get_f32(r) == 1.25f);
    assert_int_equal(s02_defaults_Root_get_e(r), s02_defaults_Root_Color_blue);
    const char *s;
    size_t n;
    assert_false(s02_defaults_Root_has_t(r));
    assert_int_equal(s02_defaults_Root_get_t(r, &s, &n), DTS_OK);
    assert_string_equal(s, "default text");
    const uint8_t *d;
    assert_int_equal(s02_defaults_Root_get_d(r, &d, &n), DTS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(d[0], 0xca);
    dts_capnp_msg_fini(&m);

    // Setting the defaults stores zeros; other values decode as set.
    dts_capnp_builder b;
    assert_int_equal(dts_capnp_builder_init(&b, NULL), DTS_OK);
    s02_defaults_Root_builder rb = s02_defaults_Root_new_root(&b);
    s02_defaults_Root_set_b(rb, true);
    s02_defaults_Root_set_i8(rb, -7);
    s02_defaults_Root_set_u16(rb, 1);
    s02_defaults_Root_set_f64(rb, -0.5);
    s02_defaults_Root_set_e(rb, s02_defaults_Root_Color_red);
    for (uint32_t i = 0; i < s02_defaults_Root_DATA_WORDS * 8; i++)
        if (i != 18 && i != 19 && i != 36 && i != 37 && (i < 40 || i >= 48))
            assert_int_equal(b.segs[0].data[8 + i], 0);
    decode_equals(
        &b, "02_defaults",
        "(b = true, i8 = -7, i16 = 1000, i32 = 42, i64 = -123456789012, u8 = 200, "
        "u16 = 1, u32 = 3000000000, u64 = 12345678901234567890, f32 = 1.25, f64 = -0.5, e = red)");
    dts_capnp_builder_fini(&b);
}

// ---------------------------------------------------------------------------
// 4. NAME_schema(): the schema built from the nodes in the generated file is
// byte for byte what dts_codec_capnp_schema_from_file gives (the same id),
// and the dynamic codec accepts it.

static void
test_schema_fn(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        char path[1200], err[256] = "";
        void *gen = NULL, *file = NULL;
        size_t gen_len = 0, file_len = 0;
        snprintf(path, sizeof path, "%s/%s.capnp", ct_corpus, schemas[i].stem);
        assert_int_equal(schemas[i].schema(&gen, &gen_len), DTS_OK);
        dts_err e =
            dts_codec_capnp_schema_from_file(path, "Root", &file, &file_len, err, sizeof err);
        if (e) fail_msg("%s: %s", schemas[i].stem, err);
        if (gen_len != file_len || memcmp(gen, file, gen_len) != 0)
            fail_msg("%s: Root_schema() gives %zu bytes, the file %zu, or they differ",
                     schemas[i].stem, gen_len, file_len);
        dts_codec_schema *cs = NULL;
        assert_int_equal(
            dts_codec_schema_alloc(DTS_FORMAT_CAPNP, gen, gen_len, NULL, &cs, err, sizeof err),
            DTS_OK);
        dts_codec_schema_free(cs);
        dts_codec_free(gen);
        dts_codec_free(file);
    }
}

static int
setup(void **state)
{
    (void)state;
    return ct_setup("/tmp/dts_capnpc_XXXXXX");
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
        cmocka_unit_test(test_layout),        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_typed_brewery), cmocka_unit_test(test_typed_defaults),
        cmocka_unit_test(test_schema_fn),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    fprintf(stderr, "capnpc_gen_test: %u layout rows, %u corpus messages\n", ct_layout_rows,
            n_lines);
    return rc;
}
