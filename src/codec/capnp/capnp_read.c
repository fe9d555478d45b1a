// capnp_read.c: the reader of untrusted messages: pointers (near, far,
// double-far), structs, lists of every element size, text and data, with
// the checks of the encoding spec's "Security Considerations"
// (docs/spec/capnp.md, "Reader").
#include "codec/capnp/capnp_int.h"

// A resolved pointer: the struct or list pointer word (after far hops), the
// segment of its target and the target's word offset (may be out of range;
// callers check it with the object's size).
typedef struct rd_ref {
    uint64_t w;
    uint32_t seg;
    int64_t target;
} rd_ref;

// rd_word loads the pointer word of a slot (0 for a slot outside any
// section or segment).
static uint64_t
rd_word(dts_capnp_ptr p)
{
    if (p.seg == CAPNP_NULL_SEG || p.seg >= p.msg->nsegs || p.off >= p.msg->segs[p.seg].words)
        return 0;
    return cp_load(p.msg->segs[p.seg].data + (size_t)p.off * 8);
}

// rd_far follows a far pointer w to its landing pad. A single-far pad is
// the object's own pointer (it must not be far again, so chains and cycles
// are impossible); a double-far pad is a far pointer to the object's start
// followed by a tag word holding its kind and size.
static dts_err
rd_far(dts_capnp_msg *m, uint64_t w, rd_ref *r)
{
    uint32_t seg = (uint32_t)(w >> 32), pad = (uint32_t)(w >> 3) & 0x1fffffffu;
    bool dbl = (w >> 2) & 1;
    if (seg >= m->nsegs)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "far pointer to segment %u", seg);
    if ((uint64_t)pad + 1 + dbl > m->segs[seg].words)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "far pointer landing pad out of bounds");
    const uint8_t *p = m->segs[seg].data + (size_t)pad * 8;
    uint64_t w0 = cp_load(p);
    if (!dbl) {
        if (cp_kind(w0) == 2)
            return dtsi_capnp_fail(m, DTS_EMALFORMED, "far pointer landing pad is a far pointer");
        *r = (rd_ref){.w = w0, .seg = seg, .target = (int64_t)pad + 1 + cp_offset(w0)};
        return DTS_OK;
    }
    if (cp_kind(w0) != 2 || ((w0 >> 2) & 1))
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "double-far landing pad is not a far pointer");
    uint32_t cseg = (uint32_t)(w0 >> 32);
    if (cseg >= m->nsegs)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "double-far pointer to segment %u", cseg);
    uint64_t tag = cp_load(p + 8);
    if (cp_kind(tag) >= 2)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "double-far tag is not a struct or list");
    *r = (rd_ref){.w = tag, .seg = cseg, .target = (int64_t)((w0 >> 3) & 0x1fffffffu)};
    return DTS_OK;
}

// rd_resolve turns the slot's word into a ref, following far pointers.
static dts_err
rd_resolve(dts_capnp_ptr p, rd_ref *r)
{
    uint64_t w = rd_word(p);
    if (cp_kind(w) == 2) return rd_far(p.msg, w, r);
    *r = (rd_ref){.w = w, .seg = p.seg, .target = (int64_t)p.off + 1 + cp_offset(w)};
    return DTS_OK;
}

// rd_bounds checks that words [target, target+n) lie in the segment.
static dts_err
rd_bounds(dts_capnp_msg *m, const rd_ref *r, uint64_t n, const char *what)
{
    if (r->target < 0 || (uint64_t)r->target + n > m->segs[r->seg].words)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "%s pointer out of bounds", what);
    return DTS_OK;
}

// rd_charge takes n words from the traversal budget (the amplification
// guard: callers charge at least one word per element).
static dts_err
rd_charge(dts_capnp_msg *m, uint64_t n)
{
    if (n > m->budget) {
        m->budget = 0;
        return dtsi_capnp_fail(m, DTS_ETOOBIG, "traversal limit of %llu words exceeded",
                               (unsigned long long)m->limits.traversal_words);
    }
    m->budget -= n;
    return DTS_OK;
}

// rd_depth checks the nesting of a new object at depth d.
static dts_err
rd_depth(dts_capnp_msg *m, unsigned d)
{
    if (d > m->limits.nesting)
        return dtsi_capnp_fail(m, DTS_ETOOBIG, "nesting deeper than %u", m->limits.nesting);
    return DTS_OK;
}

dts_capnp_ptr
dts_capnp_root(dts_capnp_msg *m)
{
    dts_capnp_ptr p = {.msg = m, .seg = m->nsegs ? 0 : CAPNP_NULL_SEG, .off = 0, .depth = 0};
    return p;
}

bool
dts_capnp_ptr_is_null(dts_capnp_ptr p)
{
    return rd_word(p) == 0;
}

int
dts_capnp_ptr_kind(dts_capnp_ptr p)
{
    rd_ref r = {0};
    if (rd_word(p) == 0) return 0;
    if (rd_resolve(p, &r)) return -1;
    return cp_kind(r.w) == 3 ? 3 : (int)cp_kind(r.w) + 1;
}

// empty_struct is the view of a null struct pointer: no data, no pointers.
static dts_capnp_struct
empty_struct(dts_capnp_msg *m, unsigned depth)
{
    dts_capnp_struct s = {.msg = m, .seg = CAPNP_NULL_SEG, .depth = depth};
    return s;
}

// dts_capnp_read_struct follows a struct pointer: bounds of data plus
// pointer sections, budget max(size, 1) words, nesting.
dts_err
dts_capnp_read_struct(dts_capnp_ptr p, dts_capnp_struct *out)
{
    dts_capnp_msg *m = p.msg;
    rd_ref r = {0};
    dts_err e;
    *out = empty_struct(m, p.depth + 1);
    if (rd_word(p) == 0) return DTS_OK;
    if ((e = rd_depth(m, p.depth + 1)) || (e = rd_resolve(p, &r))) return e;
    if (cp_kind(r.w) != 0)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "expected a struct pointer, found kind %u",
                               cp_kind(r.w));
    uint32_t dw = (uint16_t)(r.w >> 32), pc = (uint16_t)(r.w >> 48);
    if ((e = rd_bounds(m, &r, (uint64_t)dw + pc, "struct")) ||
        (e = rd_charge(m, dw + pc ? dw + pc : 1)))
        return e;
    out->seg = r.seg;
    out->data_bit = (uint64_t)r.target * 64;
    out->data_bits = dw * 64;
    out->ptr_off = (uint32_t)r.target + dw;
    out->nptrs = (uint16_t)pc;
    return DTS_OK;
}

// rd_list_compat checks that a list stored with elements of data_bits and
// ptrs (bit says a bit list) can be read as expected (spec, "Lists":
// upgrades between primitive and struct lists are allowed, bit lists only
// match bit lists).
static dts_err
rd_list_compat(dts_capnp_msg *m, unsigned expected, bool bit, uint32_t data_bits, unsigned ptrs)
{
    if (expected == DTS_CAPNP_ANY || expected == DTS_CAPNP_VOID) return DTS_OK;
    if (expected == DTS_CAPNP_COMPOSITE) {
        if (bit) return dtsi_capnp_fail(m, DTS_EMALFORMED, "found a bit list, expected structs");
        return DTS_OK;
    }
    if ((expected == DTS_CAPNP_BIT) != bit)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "bit list and non-bit list mixed");
    if (expected == DTS_CAPNP_POINTER ? ptrs < 1 : data_bits < cp_esize_bits[expected])
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "list element size incompatible");
    return DTS_OK;
}

// rd_composite reads the tag of an inline composite list at r (wc words of
// elements after the tag) into out.
static dts_err
rd_composite(dts_capnp_msg *m, const rd_ref *r, uint64_t wc, dts_capnp_list *out)
{
    dts_err e;
    if ((e = rd_bounds(m, r, wc + 1, "list"))) return e;
    uint64_t tag = cp_load(m->segs[r->seg].data + (size_t)r->target * 8);
    if (cp_kind(tag) != 0)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "composite list tag is not a struct");
    uint64_t n = (tag >> 2) & 0x3fffffffu, dw = (uint16_t)(tag >> 32), pc = (uint16_t)(tag >> 48);
    if (n * (dw + pc) > wc)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "composite list of %llu elements overruns it",
                               (unsigned long long)n);
    uint64_t cost = dw + pc ? wc : n; // zero-sized elements: one word each
    if ((e = rd_charge(m, cost ? cost : 1))) return e;
    out->start_bit = ((uint64_t)r->target + 1) * 64;
    out->count = (uint32_t)n;
    out->step_bits = (dw + pc) * 64;
    out->elem_data_bits = (uint32_t)dw * 64;
    out->elem_ptrs = (uint16_t)pc;
    return DTS_OK;
}

// rd_flat_list reads a list of primitive or pointer elements at r.
static dts_err
rd_flat_list(dts_capnp_msg *m, const rd_ref *r, unsigned es, uint64_t count, dts_capnp_list *out)
{
    dts_err e;
    uint64_t step = es == DTS_CAPNP_POINTER ? 64 : cp_esize_bits[es];
    uint64_t words = (count * step + 63) / 64;
    if ((e = rd_bounds(m, r, words, "list"))) return e;
    if ((e = rd_charge(m, step ? (words ? words : 1) : (count ? count : 1)))) return e;
    out->start_bit = (uint64_t)r->target * 64;
    out->count = (uint32_t)count;
    out->step_bits = step;
    out->elem_data_bits = cp_esize_bits[es];
    out->elem_ptrs = es == DTS_CAPNP_POINTER;
    return DTS_OK;
}

// dts_capnp_read_list follows a list pointer (see the header for the
// compatibility rules); composite lists are charged their word count, or
// their element count when elements are zero-sized.
dts_err
dts_capnp_read_list(dts_capnp_ptr p, unsigned esize, dts_capnp_list *out)
{
    dts_capnp_msg *m = p.msg;
    rd_ref r = {0};
    dts_err e;
    memset(out, 0, sizeof *out);
    out->msg = m;
    out->seg = CAPNP_NULL_SEG;
    out->esize = esize == DTS_CAPNP_ANY ? DTS_CAPNP_VOID : (uint8_t)esize;
    out->depth = p.depth + 1;
    if (rd_word(p) == 0) return DTS_OK;
    if ((e = rd_depth(m, p.depth + 1)) || (e = rd_resolve(p, &r))) return e;
    if (cp_kind(r.w) != 1)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "expected a list pointer, found kind %u",
                               cp_kind(r.w));
    unsigned es = (unsigned)(r.w >> 32) & 7;
    uint64_t count = r.w >> 35;
    dts_capnp_list l = *out;
    e = es == DTS_CAPNP_COMPOSITE ? rd_composite(m, &r, count, &l)
                                  : rd_flat_list(m, &r, es, count, &l);
    if (e) return e;
    if ((e = rd_list_compat(m, esize, es == DTS_CAPNP_BIT, l.elem_data_bits, l.elem_ptrs)))
        return e;
    l.seg = r.seg;
    l.esize = (uint8_t)es;
    *out = l;
    return DTS_OK;
}

// rd_blob reads a byte list (text or data: element size BYTE exactly).
static dts_err
rd_blob(dts_capnp_ptr p, bool text, const uint8_t **d, size_t *len)
{
    dts_capnp_msg *m = p.msg;
    rd_ref r = {0};
    dts_err e;
    *d = text ? (const uint8_t *)"" : NULL;
    *len = 0;
    if (rd_word(p) == 0) return DTS_OK;
    if ((e = rd_resolve(p, &r))) return e;
    if (cp_kind(r.w) != 1 || ((r.w >> 32) & 7) != DTS_CAPNP_BYTE)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "expected a byte list for %s",
                               text ? "text" : "data");
    uint64_t count = r.w >> 35;
    if ((e = rd_bounds(m, &r, (count + 7) / 8, text ? "text" : "data")) ||
        (e = rd_charge(m, count ? (count + 7) / 8 : 1)))
        return e;
    const uint8_t *b = m->segs[r.seg].data + (size_t)r.target * 8;
    if (text && (count == 0 || b[count - 1] != 0))
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "text is not NUL-terminated");
    *d = b;
    *len = (size_t)count - text;
    return DTS_OK;
}

dts_err
dts_capnp_read_text(dts_capnp_ptr p, const char **s, size_t *len)
{
    const uint8_t *d;
    dts_err e = rd_blob(p, true, &d, len);
    *s = (const char *)d;
    return e;
}

dts_err
dts_capnp_read_data(dts_capnp_ptr p, const uint8_t **d, size_t *len)
{
    return rd_blob(p, false, d, len);
}

// ---------------------------------------------------------------------------
// Fields

// rd_bits reads width bits at field offset off (in units of width) of a
// struct's data, or 0 past the data section.
static uint64_t
rd_bits(const dts_capnp_struct *s, uint32_t off, unsigned width)
{
    uint64_t bit = (uint64_t)off * width;
    if (s->seg == CAPNP_NULL_SEG || bit + width > s->data_bits) return 0;
    const uint8_t *seg = s->msg->segs[s->seg].data;
    uint64_t at = s->data_bit + bit;
    if (width == 1) return (seg[at / 8] >> (at % 8)) & 1;
    return cp_loadn(seg + at / 8, width / 8);
}

bool
dts_capnp_get_bool(const dts_capnp_struct *s, uint32_t off, bool def)
{
    return (rd_bits(s, off, 1) != 0) != def;
}

uint8_t
dts_capnp_get_u8(const dts_capnp_struct *s, uint32_t off, uint8_t def)
{
    return (uint8_t)(rd_bits(s, off, 8) ^ def);
}

uint16_t
dts_capnp_get_u16(const dts_capnp_struct *s, uint32_t off, uint16_t def)
{
    return (uint16_t)(rd_bits(s, off, 16) ^ def);
}

uint32_t
dts_capnp_get_u32(const dts_capnp_struct *s, uint32_t off, uint32_t def)
{
    return (uint32_t)(rd_bits(s, off, 32) ^ def);
}

uint64_t
dts_capnp_get_u64(const dts_capnp_struct *s, uint32_t off, uint64_t def)
{
    return rd_bits(s, off, 64) ^ def;
}

float
dts_capnp_get_f32(const dts_capnp_struct *s, uint32_t off, float def)
{
    uint32_t d, v;
    float f;
    memcpy(&d, &def, 4);
    v = dts_capnp_get_u32(s, off, d);
    memcpy(&f, &v, 4);
    return f;
}

double
dts_capnp_get_f64(const dts_capnp_struct *s, uint32_t off, double def)
{
    uint64_t d, v;
    double f;
    memcpy(&d, &def, 8);
    v = dts_capnp_get_u64(s, off, d);
    memcpy(&f, &v, 8);
    return f;
}

dts_capnp_ptr
dts_capnp_struct_ptr(const dts_capnp_struct *s, uint32_t i)
{
    dts_capnp_ptr p = {.msg = s->msg, .seg = CAPNP_NULL_SEG, .depth = s->depth};
    if (s->seg != CAPNP_NULL_SEG && i < s->nptrs) {
        p.seg = s->seg;
        p.off = s->ptr_off + i;
    }
    return p;
}

// ---------------------------------------------------------------------------
// List elements: element i is a struct of elem_data_bits then elem_ptrs.

dts_err
dts_capnp_list_struct(const dts_capnp_list *l, uint32_t i, dts_capnp_struct *out)
{
    *out = empty_struct(l->msg, l->depth);
    if (l->seg == CAPNP_NULL_SEG || i >= l->count) return DTS_OK;
    out->seg = l->seg;
    out->data_bit = l->start_bit + (uint64_t)i * l->step_bits;
    out->data_bits = l->elem_data_bits;
    out->ptr_off = (uint32_t)((out->data_bit + l->elem_data_bits) / 64);
    out->nptrs = l->elem_ptrs;
    return DTS_OK;
}

dts_capnp_ptr
dts_capnp_list_ptr(const dts_capnp_list *l, uint32_t i)
{
    dts_capnp_struct s;
    dts_capnp_list_struct(l, i, &s);
    return dts_capnp_struct_ptr(&s, 0);
}

bool
dts_capnp_list_bool(const dts_capnp_list *l, uint32_t i)
{
    dts_capnp_struct s;
    dts_capnp_list_struct(l, i, &s);
    return dts_capnp_get_bool(&s, 0, false);
}

uint8_t
dts_capnp_list_u8(const dts_capnp_list *l, uint32_t i)
{
    dts_capnp_struct s;
    dts_capnp_list_struct(l, i, &s);
    return dts_capnp_get_u8(&s, 0, 0);
}

uint16_t
dts_capnp_list_u16(const dts_capnp_list *l, uint32_t i)
{
    dts_capnp_struct s;
    dts_capnp_list_struct(l, i, &s);
    return dts_capnp_get_u16(&s, 0, 0);
}

uint32_t
dts_capnp_list_u32(const dts_capnp_list *l, uint32_t i)
{
    dts_capnp_struct s;
    dts_capnp_list_struct(l, i, &s);
    return dts_capnp_get_u32(&s, 0, 0);
}

uint64_t
dts_capnp_list_u64(const dts_capnp_list *l, uint32_t i)
{
    dts_capnp_struct s;
    dts_capnp_list_struct(l, i, &s);
    return dts_capnp_get_u64(&s, 0, 0);
}
