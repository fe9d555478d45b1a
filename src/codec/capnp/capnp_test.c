// capnp_test.c: unit tests of the capnp runtime without the capnp tool:
// hostile messages made word by word (the encoding spec's security
// considerations: bounds, far-pointer cycles, amplification, nesting,
// segment table claims), list compatibility, defaults, the builder's far
// pointers, packing. The tool-based conformance suite is capnp_conf_test.c.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <dts/codec.h>

#include <dts/capnp.h>
#include "codec/codec_int.h"

// Pointer words (encoding spec, "Pointers").
static uint64_t
P_STRUCT(int32_t off, uint16_t dw, uint16_t pc)
{
    return ((uint64_t)((uint32_t)off << 2)) | ((uint64_t)dw << 32) | ((uint64_t)pc << 48);
}

static uint64_t
P_LIST(int32_t off, unsigned es, uint32_t count)
{
    return 1 | (uint64_t)((uint32_t)off << 2) | ((uint64_t)es << 32) | ((uint64_t)count << 35);
}

static uint64_t
P_FAR(bool dbl, uint32_t pad, uint32_t seg)
{
    return 2 | ((uint64_t)dbl << 2) | ((uint64_t)pad << 3) | ((uint64_t)seg << 32);
}

// Counting allocator (dts_codec_set_alloc_funcs also routes dtsi_cmalloc).
static size_t allocated;

static void *
count_malloc(size_t n)
{
    allocated += n;
    return malloc(n);
}

// msg1 frames n little-endian words as one segment (host is little endian
// in CI; the words are stored with the runtime's own byte order helpers).
static dts_err
msg1(dts_capnp_msg *m, const uint64_t *w, uint32_t n, const dts_capnp_limits *l)
{
    dts_capnp_seg s = {.data = (const uint8_t *)w, .words = n};
    return dts_capnp_msg_init_segments(m, &s, 1, l);
}

static void
test_segment_table(void **state)
{
    (void)state;
    dts_capnp_msg m;
    // A table claiming 2^32 segments is refused before anything else.
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(dts_capnp_msg_init_stream(&m, huge, sizeof huge, NULL, NULL), DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
    // 512 segments are allowed by count, but the table is truncated.
    uint8_t many[16] = {0xff, 0x01, 0, 0};
    assert_int_equal(dts_capnp_msg_init_stream(&m, many, sizeof many, NULL, NULL), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    uint8_t more[16] = {0x00, 0x02, 0, 0};
    assert_int_equal(dts_capnp_msg_init_stream(&m, more, sizeof more, NULL, NULL), DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
    // One segment of 2^32-1 words: above max_words.
    uint8_t big[16] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(dts_capnp_msg_init_stream(&m, big, sizeof big, NULL, NULL), DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
    // Two words claimed, one present.
    uint8_t trunc[16] = {0, 0, 0, 0, 2, 0, 0, 0};
    assert_int_equal(dts_capnp_msg_init_stream(&m, trunc, sizeof trunc, NULL, NULL),
                     DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // Empty first segment: no root pointer. Short input.
    uint8_t empty[8] = {0};
    assert_int_equal(dts_capnp_msg_init_stream(&m, empty, 8, NULL, NULL), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    assert_int_equal(dts_capnp_msg_init_stream(&m, empty, 7, NULL, NULL), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    assert_int_equal(dts_capnp_msg_init_flat(&m, empty, 7, NULL), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // Two messages back to back in one stream: *used says where the next starts.
    uint8_t two[32] = {0,    0,    0,        0, 1, 0, 0, 0, [8] = 0xfc, 0xff,
                       0xff, 0xff, [16] = 0, 0, 0, 0, 1, 0, 0,          0};
    size_t used;
    assert_int_equal(dts_capnp_msg_init_stream(&m, two, sizeof two, NULL, &used), DTS_OK);
    assert_int_equal(used, 16);
    dts_capnp_struct s;
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK); // empty struct
    dts_capnp_msg_fini(&m);
    assert_int_equal(dts_capnp_msg_init_stream(&m, two + 16, 16, NULL, NULL), DTS_OK);
    dts_capnp_msg_fini(&m);
}

static void
test_bounds(void **state)
{
    (void)state;
    dts_capnp_msg m;
    dts_capnp_struct s;
    dts_capnp_list l;
    const char *why;
    // Struct past the end, before the start, list past the end.
    uint64_t a[2] = {P_STRUCT(0, 2, 0), 0};
    assert_int_equal(msg1(&m, a, 2, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    assert_int_equal(dts_capnp_msg_error(&m, &why), DTS_EMALFORMED);
    assert_non_null(strstr(why, "out of bounds"));
    assert_int_equal(dts_capnp_get_u64(&s, 0, 7), 7); // failed read gives defaults
    dts_capnp_msg_fini(&m);
    uint64_t b[2] = {P_STRUCT(-3, 1, 0), 0};
    assert_int_equal(msg1(&m, b, 2, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    uint64_t c[3] = {P_STRUCT(0, 0, 1), P_LIST(0, DTS_CAPNP_EIGHT, 2), 0};
    assert_int_equal(msg1(&m, c, 3, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 0), DTS_CAPNP_EIGHT, &l),
                     DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // Far pointer to a segment that does not exist, and a pad past the end.
    uint64_t d[1] = {P_FAR(false, 0, 5)};
    assert_int_equal(msg1(&m, d, 1, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    uint64_t e[1] = {P_FAR(true, 0, 0)};
    assert_int_equal(msg1(&m, e, 1, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // A capability pointer (kind 3) is not a struct.
    uint64_t f[1] = {3};
    assert_int_equal(msg1(&m, f, 1, NULL), DTS_OK);
    assert_int_equal(dts_capnp_ptr_kind(dts_capnp_root(&m)), 3);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
}

// Far pointers cannot loop: a single-far pad must be a struct or list
// pointer, a double-far pad must start with a single far pointer.
static void
test_far_cycles(void **state)
{
    (void)state;
    dts_capnp_msg m;
    dts_capnp_struct s;
    uint64_t self[1] = {P_FAR(false, 0, 0)}; // lands on itself
    assert_int_equal(msg1(&m, self, 1, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // Two segments pointing at each other.
    uint64_t s0[1] = {P_FAR(false, 0, 1)}, s1[1] = {P_FAR(false, 0, 0)};
    dts_capnp_seg segs[2] = {{(const uint8_t *)s0, 1}, {(const uint8_t *)s1, 1}};
    assert_int_equal(dts_capnp_msg_init_segments(&m, segs, 2, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // Double-far whose pad starts with a double-far pointer (to itself).
    uint64_t d[3] = {P_FAR(true, 1, 0), P_FAR(true, 1, 0), P_STRUCT(0, 1, 0)};
    assert_int_equal(msg1(&m, d, 3, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // A correct double-far: pad at words 1-2 of segment 0, content in segment 1.
    uint64_t g0[3] = {P_FAR(true, 1, 0), P_FAR(false, 0, 1), P_STRUCT(0, 1, 0)};
    uint64_t g1[1] = {0x2a};
    dts_capnp_seg gs[2] = {{(const uint8_t *)g0, 3}, {(const uint8_t *)g1, 1}};
    assert_int_equal(dts_capnp_msg_init_segments(&m, gs, 2, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_get_u32(&s, 0, 0), 42);
    dts_capnp_msg_fini(&m);
}

// A list of 2^29-1 Void elements takes one word of input but costs one
// word of budget per element: refused under the default limit.
static void
test_amplification(void **state)
{
    (void)state;
    dts_capnp_msg m;
    dts_capnp_struct s;
    dts_capnp_list l;
    uint64_t v[2] = {P_STRUCT(0, 0, 1), P_LIST(0, DTS_CAPNP_VOID, (1u << 29) - 1)};
    assert_int_equal(msg1(&m, v, 2, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 0), DTS_CAPNP_VOID, &l),
                     DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
    // The same with a larger budget is accepted (it is a valid message).
    dts_capnp_limits big = {.traversal_words = 1u << 30};
    assert_int_equal(msg1(&m, v, 2, &big), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 0), DTS_CAPNP_VOID, &l), DTS_OK);
    assert_int_equal(l.count, (1u << 29) - 1);
    dts_capnp_msg_fini(&m);
    // Composite list of 2^30-1 zero-sized structs in zero words.
    uint64_t c[3] = {P_STRUCT(0, 0, 1), P_LIST(0, DTS_CAPNP_COMPOSITE, 0),
                     ((uint64_t)((1u << 30) - 1) << 2)};
    assert_int_equal(msg1(&m, c, 3, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 0), DTS_CAPNP_COMPOSITE, &l),
                     DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
    // A composite tag claiming more elements than its words hold.
    uint64_t o[4] = {P_STRUCT(0, 0, 1), P_LIST(0, DTS_CAPNP_COMPOSITE, 2), P_STRUCT(3, 1, 0), 0};
    assert_int_equal(msg1(&m, o, 4, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 0), DTS_CAPNP_COMPOSITE, &l),
                     DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    // Reading the same 4-word struct again and again drains the budget.
    dts_capnp_limits small = {.traversal_words = 100};
    uint64_t r[5] = {P_STRUCT(0, 4, 0)};
    assert_int_equal(msg1(&m, r, 5, &small), DTS_OK);
    int i;
    for (i = 0; i < 100; i++)
        if (dts_capnp_read_struct(dts_capnp_root(&m), &s) != DTS_OK) break;
    assert_int_equal(i, 25);
    assert_int_equal(dts_capnp_msg_error(&m, NULL), DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
}

// A struct whose pointer points at itself nests forever: the copy (a full
// traversal) stops at the nesting limit.
static void
test_nesting(void **state)
{
    (void)state;
    dts_capnp_msg m;
    dts_capnp_builder b;
    uint64_t w[2] = {P_STRUCT(0, 0, 1), P_STRUCT(-1, 0, 1)};
    assert_int_equal(msg1(&m, w, 2, NULL), DTS_OK);
    assert_int_equal(dts_capnp_builder_init(&b, NULL), DTS_OK);
    assert_int_equal(dts_capnp_copy(dts_capnp_root(&m), dts_capnp_broot(&b), false), DTS_ETOOBIG);
    const char *why;
    dts_capnp_msg_error(&m, &why);
    assert_non_null(strstr(why, "nesting"));
    dts_capnp_builder_fini(&b);
    dts_capnp_msg_fini(&m);
    // With a limit of 3, the fourth level is refused.
    dts_capnp_limits l = {.nesting = 3};
    dts_capnp_struct s;
    assert_int_equal(msg1(&m, w, 2, &l), DTS_OK);
    dts_capnp_ptr p = dts_capnp_root(&m);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dts_capnp_read_struct(p, &s), DTS_OK);
        p = dts_capnp_struct_ptr(&s, 0);
    }
    assert_int_equal(dts_capnp_read_struct(p, &s), DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
}

static void
test_text_and_data(void **state)
{
    (void)state;
    dts_capnp_msg m;
    dts_capnp_struct s;
    const char *t;
    const uint8_t *d;
    size_t n;
    // ptr 0: "hi\0", ptr 1: "hi" without NUL, ptr 2: empty list, ptr 3: u16 list.
    uint64_t w[9] = {P_STRUCT(0, 0, 4),
                     P_LIST(3, DTS_CAPNP_BYTE, 3),
                     P_LIST(3, DTS_CAPNP_BYTE, 2),
                     P_LIST(0, DTS_CAPNP_BYTE, 0),
                     P_LIST(1, DTS_CAPNP_TWO, 1),
                     0x6968,
                     0x6968,
                     0x0001};
    assert_int_equal(msg1(&m, w, 8, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_text(dts_capnp_struct_ptr(&s, 0), &t, &n), DTS_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(t, "hi", 3);
    assert_int_equal(dts_capnp_read_data(dts_capnp_struct_ptr(&s, 1), &d, &n), DTS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(dts_capnp_read_text(dts_capnp_struct_ptr(&s, 1), &t, &n), DTS_EMALFORMED);
    assert_int_equal(dts_capnp_read_text(dts_capnp_struct_ptr(&s, 2), &t, &n), DTS_EMALFORMED);
    assert_int_equal(dts_capnp_read_data(dts_capnp_struct_ptr(&s, 3), &d, &n), DTS_EMALFORMED);
    // Past the pointer section: null, so "" and an empty Data.
    assert_int_equal(dts_capnp_read_text(dts_capnp_struct_ptr(&s, 9), &t, &n), DTS_OK);
    assert_int_equal(n, 0);
    assert_string_equal(t, "");
    dts_capnp_msg_fini(&m);
}

// List upgrades (spec, "Lists"): struct lists read as primitive lists and
// back; bit lists never mix.
static void
test_list_compat(void **state)
{
    (void)state;
    dts_capnp_msg m;
    dts_capnp_struct s, e;
    dts_capnp_list l;
    uint64_t w[11] = {P_STRUCT(0, 0, 3),
                      P_LIST(2, DTS_CAPNP_FOUR, 2),      // [7, 9]
                      P_LIST(2, DTS_CAPNP_BIT, 3),       // [1, 0, 1]
                      P_LIST(2, DTS_CAPNP_COMPOSITE, 4), // 2 x (1 word, 1 ptr)
                      0x0000000900000007,
                      0x5,
                      ((uint64_t)2 << 2) | ((uint64_t)1 << 32) | ((uint64_t)1 << 48),
                      0x1234,
                      0,
                      0x5678,
                      0};
    assert_int_equal(msg1(&m, w, 11, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    dts_capnp_ptr p0 = dts_capnp_struct_ptr(&s, 0), p1 = dts_capnp_struct_ptr(&s, 1),
                  p2 = dts_capnp_struct_ptr(&s, 2);
    assert_int_equal(dts_capnp_read_list(p0, DTS_CAPNP_FOUR, &l), DTS_OK);
    assert_int_equal(dts_capnp_list_u32(&l, 1), 9);
    assert_int_equal(dts_capnp_list_u32(&l, 2), 0); // past the end
    assert_int_equal(dts_capnp_read_list(p0, DTS_CAPNP_COMPOSITE, &l), DTS_OK);
    assert_int_equal(dts_capnp_list_struct(&l, 1, &e), DTS_OK);
    assert_int_equal(dts_capnp_get_u32(&e, 0, 0), 9);
    assert_int_equal(dts_capnp_get_u32(&e, 1, 5), 5); // beyond the element: default
    assert_int_equal(dts_capnp_read_list(p0, DTS_CAPNP_EIGHT, &l), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    assert_int_equal(msg1(&m, w, 11, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(p1, DTS_CAPNP_BIT, &l), DTS_OK);
    assert_true(dts_capnp_list_bool(&l, 0) && !dts_capnp_list_bool(&l, 1) &&
                dts_capnp_list_bool(&l, 2));
    assert_int_equal(dts_capnp_read_list(p1, DTS_CAPNP_COMPOSITE, &l), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    assert_int_equal(msg1(&m, w, 11, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(p1, DTS_CAPNP_BYTE, &l), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    assert_int_equal(msg1(&m, w, 11, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_read_list(p2, DTS_CAPNP_TWO, &l), DTS_OK); // first field
    assert_int_equal(dts_capnp_list_u16(&l, 0), 0x1234);
    assert_int_equal(dts_capnp_list_u16(&l, 1), 0x5678);
    assert_int_equal(dts_capnp_read_list(p2, DTS_CAPNP_BIT, &l), DTS_EMALFORMED);
    dts_capnp_msg_fini(&m);
    (void)p2;
}

// Builder and reader agree on every field kind, with defaults XORed; with
// one-word segments every object needs a far or double-far pointer.
static void
test_builder_roundtrip(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 1024};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t segw = sizes[k];
        dts_capnp_builder b;
        dts_capnp_builder_opts o = {.seg_words = segw};
        assert_int_equal(dts_capnp_builder_init(&b, &o), DTS_OK);
        dts_capnp_bstruct r = dts_capnp_init_struct(dts_capnp_broot(&b), 3, 4);
        dts_capnp_set_bool(r, 0, true, false);
        dts_capnp_set_bool(r, 1, false, true);
        dts_capnp_set_u8(r, 1, 200, 0);
        dts_capnp_set_u16(r, 1, 7, 42);
        dts_capnp_set_u32(r, 1, 0xdeadbeef, 0);
        dts_capnp_set_f64(r, 1, 3.25, 1.5);
        dts_capnp_set_f32(r, 4, -0.5f, 0);
        dts_capnp_set_u64(r, 9, 1, 0); // past the data section: ignored
        assert_int_equal(dts_capnp_set_text(dts_capnp_bstruct_ptr(r, 0), "hello", 5), DTS_OK);
        dts_capnp_blist bits = dts_capnp_init_list(dts_capnp_bstruct_ptr(r, 1), DTS_CAPNP_BIT, 70);
        dts_capnp_blist_set(bits, 69, 1);
        dts_capnp_blist_set(bits, 3, 1);
        dts_capnp_blist sl = dts_capnp_init_struct_list(dts_capnp_bstruct_ptr(r, 2), 1, 1, 3);
        for (uint32_t i = 0; i < 3; i++) {
            dts_capnp_bstruct e = dts_capnp_blist_struct(sl, i);
            dts_capnp_set_u64(e, 0, 100 + i, 0);
            dts_capnp_set_data(dts_capnp_bstruct_ptr(e, 0), "\x01\x02", 2);
        }
        dts_capnp_blist pl = dts_capnp_init_list(dts_capnp_bstruct_ptr(r, 3), DTS_CAPNP_POINTER, 2);
        dts_capnp_blist in = dts_capnp_init_list(dts_capnp_blist_ptr(pl, 1), DTS_CAPNP_TWO, 3);
        dts_capnp_blist_set(in, 2, 0xbeef);
        assert_int_equal(dts_capnp_builder_error(&b), DTS_OK);
        uint8_t *out;
        size_t outlen;
        assert_int_equal(dts_capnp_builder_write(&b, false, &out, &outlen), DTS_OK);
        if (segw < 1024) {
            uint8_t *flat;
            size_t flatlen;
            assert_int_equal(dts_capnp_builder_write(&b, true, &flat, &flatlen), DTS_EINVAL);
        }
        dts_capnp_builder_fini(&b);

        dts_capnp_msg m;
        dts_capnp_struct s, e;
        dts_capnp_list l;
        const char *t;
        const uint8_t *d;
        size_t n;
        assert_int_equal(dts_capnp_msg_init_stream(&m, out, outlen, NULL, NULL), DTS_OK);
        assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
        assert_true(dts_capnp_get_bool(&s, 0, false));
        assert_false(dts_capnp_get_bool(&s, 1, true));
        assert_int_equal(dts_capnp_get_u8(&s, 1, 0), 200);
        assert_int_equal(dts_capnp_get_u16(&s, 1, 42), 7);
        assert_int_equal(dts_capnp_get_u16(&s, 1, 0), 7 ^ 42);
        assert_int_equal(dts_capnp_get_u32(&s, 1, 0), 0xdeadbeef);
        assert_true(dts_capnp_get_f64(&s, 1, 1.5) == 3.25);
        assert_true(dts_capnp_get_f32(&s, 4, 0) == -0.5f);
        assert_int_equal(dts_capnp_read_text(dts_capnp_struct_ptr(&s, 0), &t, &n), DTS_OK);
        assert_string_equal(t, "hello");
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 1), DTS_CAPNP_BIT, &l),
                         DTS_OK);
        assert_int_equal(l.count, 70);
        assert_true(dts_capnp_list_bool(&l, 69) && dts_capnp_list_bool(&l, 3));
        assert_false(dts_capnp_list_bool(&l, 68));
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 2), DTS_CAPNP_COMPOSITE, &l),
                         DTS_OK);
        assert_int_equal(l.count, 3);
        assert_int_equal(dts_capnp_list_struct(&l, 2, &e), DTS_OK);
        assert_int_equal(dts_capnp_get_u64(&e, 0, 0), 102);
        assert_int_equal(dts_capnp_read_data(dts_capnp_struct_ptr(&e, 0), &d, &n), DTS_OK);
        assert_int_equal(n, 2);
        assert_int_equal(dts_capnp_read_list(dts_capnp_struct_ptr(&s, 3), DTS_CAPNP_POINTER, &l),
                         DTS_OK);
        assert_true(dts_capnp_ptr_is_null(dts_capnp_list_ptr(&l, 0)));
        dts_capnp_list l2;
        assert_int_equal(dts_capnp_read_list(dts_capnp_list_ptr(&l, 1), DTS_CAPNP_TWO, &l2),
                         DTS_OK);
        assert_int_equal(dts_capnp_list_u16(&l2, 2), 0xbeef);
        dts_capnp_msg_fini(&m);
        dtsi_cfree(out);
    }
}

// Builder limits are sticky errors; a failed init gives a null view.
static void
test_builder_limits(void **state)
{
    (void)state;
    dts_capnp_builder b;
    dts_capnp_builder_opts o = {.max_words = 8};
    assert_int_equal(dts_capnp_builder_init(&b, &o), DTS_OK);
    dts_capnp_bstruct r = dts_capnp_init_struct(dts_capnp_broot(&b), 1, 1);
    assert_int_equal(dts_capnp_set_data(dts_capnp_bstruct_ptr(r, 0),
                                        "0123456789abcdef0123456789"
                                        "abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789"
                                        "abcdef0123456789abcdef",
                                        96),
                     DTS_ETOOBIG);
    assert_int_equal(dts_capnp_builder_error(&b), DTS_ETOOBIG);
    dts_capnp_bstruct z = dts_capnp_init_struct(dts_capnp_bstruct_ptr(r, 0), 1, 0);
    assert_int_equal(z.seg, UINT32_MAX);
    dts_capnp_set_u64(z, 0, 1, 0); // no effect, no crash
    uint8_t *out;
    size_t n;
    assert_int_equal(dts_capnp_builder_write(&b, false, &out, &n), DTS_ETOOBIG);
    dts_capnp_builder_fini(&b);
    dts_capnp_builder_opts segs = {.seg_words = 1, .max_segments = 3};
    assert_int_equal(dts_capnp_builder_init(&b, &segs), DTS_OK);
    r = dts_capnp_init_struct(dts_capnp_broot(&b), 1, 1);
    dts_capnp_set_text(dts_capnp_bstruct_ptr(r, 0), "x", 1);
    assert_int_equal(dts_capnp_builder_error(&b), DTS_ETOOBIG);
    dts_capnp_builder_fini(&b);
}

static void
test_pack(void **state)
{
    (void)state;
    // Spec example: words of zeros and a word with bytes 1..8 nonzero.
    uint8_t in[32] = {8, 0, 0, 0, 3, 0, 2, 0, 0x19, 0, 0, 0, 0xaa, 1, 0, 0};
    uint8_t out[64], *back;
    size_t n = dts_capnp_pack(in, 16, out), blen;
    static const uint8_t want[] = {0x51, 0x08, 0x03, 0x02, 0x31, 0x19, 0xaa, 0x01};
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, n);
    assert_int_equal(dts_capnp_unpack(out, n, 64, &back, &blen), DTS_OK);
    assert_int_equal(blen, 16);
    assert_memory_equal(back, in, 16);
    dtsi_cfree(back);
    // Random bytes with runs of zeros round-trip.
    uint8_t big[8 * 600], pk[8 * 800];
    srand(7);
    for (size_t i = 0; i < sizeof big; i++) big[i] = (i / 256) % 3 == 0 ? 0 : (uint8_t)rand();
    n = dts_capnp_pack(big, sizeof big, pk);
    assert_true(n <= dts_capnp_pack_bound(sizeof big));
    assert_int_equal(dts_capnp_unpack(pk, n, sizeof big, &back, &blen), DTS_OK);
    assert_int_equal(blen, sizeof big);
    assert_memory_equal(back, big, blen);
    dtsi_cfree(back);
    // Truncations of a packed stream are refused.
    for (size_t cut = 1; cut < 8; cut++) {
        uint8_t *x;
        dts_err e = dts_capnp_unpack(want, sizeof want - cut, 64, &x, &blen);
        if (e == DTS_OK)
            dtsi_cfree(x);
        else
            assert_int_equal(e, DTS_EMALFORMED);
    }
    static const uint8_t ff[] = {0xff, 1, 2, 3, 4, 5, 6, 7, 8, 2, 1, 2, 3};
    assert_int_equal(dts_capnp_unpack(ff, sizeof ff, 64, &back, &blen), DTS_EMALFORMED);
}

// 2 bytes "00 ff" unpack to 2 KiB: a stream of them is refused by size
// before anything is allocated.
static void
test_unpack_amplification(void **state)
{
    (void)state;
    uint8_t bomb[4096];
    for (size_t i = 0; i < sizeof bomb; i += 2) bomb[i] = 0, bomb[i + 1] = 0xff;
    dts_codec_set_alloc_funcs(count_malloc, free);
    allocated = 0;
    uint8_t *out;
    size_t n;
    assert_int_equal(dts_capnp_unpack(bomb, sizeof bomb, 1u << 20, &out, &n), DTS_ETOOBIG);
    assert_int_equal(allocated, 0);
    dts_capnp_msg m;
    dts_capnp_limits l = {.max_words = 1024};
    assert_int_equal(dts_capnp_msg_init_packed(&m, bomb, sizeof bomb, &l), DTS_ETOOBIG);
    dts_capnp_msg_fini(&m);
    assert_true(allocated < 1024);
    dts_codec_set_alloc_funcs(NULL, NULL);
}

// Reading a one-segment message allocates nothing (the hot path of a
// subscriber); a two-segment one allocates its table only.
static void
test_no_alloc(void **state)
{
    (void)state;
    uint8_t one[24] = {0, 0, 0, 0, 2, 0, 0, 0, [8] = 0, 0, 0, 0, 1, 0, 0, 0, [16] = 42};
    dts_capnp_msg m;
    dts_capnp_struct s;
    dts_codec_set_alloc_funcs(count_malloc, free);
    allocated = 0;
    assert_int_equal(dts_capnp_msg_init_stream(&m, one, sizeof one, NULL, NULL), DTS_OK);
    assert_int_equal(dts_capnp_read_struct(dts_capnp_root(&m), &s), DTS_OK);
    assert_int_equal(dts_capnp_get_u8(&s, 0, 0), 42);
    dts_capnp_msg_fini(&m);
    assert_int_equal(allocated, 0);
    dts_codec_set_alloc_funcs(NULL, NULL);
}

// Canonical form of a hand-made message: trailing zero data words and null
// pointers dropped, far pointers gone.
static void
test_canonical(void **state)
{
    (void)state;
    uint64_t s0[2] = {P_FAR(false, 0, 1), 0};
    uint64_t s1[5] = {P_STRUCT(0, 2, 2), 5, 0, 0, 0};
    dts_capnp_seg segs[2] = {{(const uint8_t *)s0, 1}, {(const uint8_t *)s1, 5}};
    dts_capnp_msg m;
    uint8_t *out;
    size_t n;
    assert_int_equal(dts_capnp_msg_init_segments(&m, segs, 2, NULL), DTS_OK);
    assert_int_equal(dts_capnp_canonicalize(&m, &out, &n), DTS_OK);
    assert_int_equal(n, 16);
    uint64_t want[2] = {P_STRUCT(0, 1, 0), 5};
    assert_memory_equal(out, want, 16);
    dtsi_cfree(out);
    dts_capnp_msg_fini(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_table),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_far_cycles),
        cmocka_unit_test(test_amplification),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_text_and_data),
        cmocka_unit_test(test_list_compat),
        cmocka_unit_test(test_builder_roundtrip),
        cmocka_unit_test(test_builder_limits),
        cmocka_unit_test(test_pack),
        cmocka_unit_test(test_unpack_amplification),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_no_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
