// capnp_copy.c: deep copy of a read message into a builder, and the
// canonical form (encoding spec, "Canonicalization"; docs/spec/capnp.md):
// one segment, no far pointers, objects in preorder (a struct, then what
// its pointers reach, in pointer order), struct data sections without
// trailing zero words and pointer sections without trailing nulls, the
// elements of a struct list all sized to the largest truncated element.
#include "codec/capnp/capnp_int.h"
#include "codec/codec_int.h"

static dts_err copy_ptr(dts_capnp_ptr from, dts_capnp_bptr to, bool canon);

// rd_data returns the bytes of a struct view's data section (whole words).
static const uint8_t *
rd_data(const dts_capnp_struct *s)
{
    return s->msg->segs[s->seg].data + s->data_bit / 8;
}

// trunc_sizes gives the data words and pointers of s once trailing zero
// words and null pointers are dropped.
static void
trunc_sizes(const dts_capnp_struct *s, uint16_t *dw, uint16_t *pc)
{
    uint32_t d = s->data_bits / 64, p = s->nptrs;
    const uint8_t *data = s->seg == CAPNP_NULL_SEG ? NULL : rd_data(s);
    while (d > 0 && cp_load(data + (size_t)(d - 1) * 8) == 0) d--;
    while (p > 0 && dts_capnp_ptr_is_null(dts_capnp_struct_ptr(s, p - 1))) p--;
    *dw = (uint16_t)d;
    *pc = (uint16_t)p;
}

// copy_body copies the data (up to dw words) and the first pc pointers of
// a read struct into a built one of that size.
static dts_err
copy_body(const dts_capnp_struct *rs, dts_capnp_bstruct bs, bool canon)
{
    uint32_t have = rs->data_bits / 64;
    if (bs.dwords && have && rs->seg != CAPNP_NULL_SEG)
        memcpy(bs.b->segs[bs.seg].data + (size_t)bs.off * 8, rd_data(rs),
               (size_t)(have < bs.dwords ? have : bs.dwords) * 8);
    for (uint32_t i = 0; i < bs.nptrs && i < rs->nptrs; i++) {
        dts_err e = copy_ptr(dts_capnp_struct_ptr(rs, i), dts_capnp_bstruct_ptr(bs, i), canon);
        if (e) return e;
    }
    return DTS_OK;
}

// copy_struct copies a struct pointer's target.
static dts_err
copy_struct(dts_capnp_ptr from, dts_capnp_bptr to, bool canon)
{
    dts_capnp_struct rs;
    dts_err e = dts_capnp_read_struct(from, &rs);
    if (e) return e;
    uint16_t dw = (uint16_t)(rs.data_bits / 64), pc = rs.nptrs;
    if (canon) trunc_sizes(&rs, &dw, &pc);
    dts_capnp_bstruct bs = dts_capnp_init_struct(to, dw, pc);
    if (to.b->err) return to.b->err;
    return copy_body(&rs, bs, canon);
}

// copy_struct_list copies a list of structs (composite), sizing elements
// to the largest truncated element in canonical form.
static dts_err
copy_struct_list(const dts_capnp_list *l, dts_capnp_bptr to, bool canon)
{
    uint16_t dw = (uint16_t)(l->elem_data_bits / 64), pc = l->elem_ptrs;
    dts_capnp_struct rs;
    if (canon) {
        dw = pc = 0;
        for (uint32_t i = 0; i < l->count; i++) {
            uint16_t d, p;
            dts_capnp_list_struct(l, i, &rs);
            trunc_sizes(&rs, &d, &p);
            if (d > dw) dw = d;
            if (p > pc) pc = p;
        }
    }
    dts_capnp_blist bl = dts_capnp_init_struct_list(to, dw, pc, l->count);
    if (to.b->err) return to.b->err;
    for (uint32_t i = 0; i < l->count; i++) {
        dts_capnp_list_struct(l, i, &rs);
        dts_err e = copy_body(&rs, dts_capnp_blist_struct(bl, i), canon);
        if (e) return e;
    }
    return DTS_OK;
}

// copy_list copies a list pointer's target, keeping its element size.
static dts_err
copy_list(dts_capnp_ptr from, dts_capnp_bptr to, bool canon)
{
    dts_capnp_list l;
    dts_err e = dts_capnp_read_list(from, DTS_CAPNP_ANY, &l);
    if (e) return e;
    if (l.esize == DTS_CAPNP_COMPOSITE) return copy_struct_list(&l, to, canon);
    dts_capnp_blist bl = dts_capnp_init_list(to, l.esize, l.count);
    if (to.b->err) return to.b->err;
    if (l.esize == DTS_CAPNP_POINTER) {
        for (uint32_t i = 0; i < l.count; i++)
            if ((e = copy_ptr(dts_capnp_list_ptr(&l, i), dts_capnp_blist_ptr(bl, i), canon)))
                return e;
        return DTS_OK;
    }
    uint64_t bits = (uint64_t)l.count * cp_esize_bits[l.esize];
    if (bits == 0) return DTS_OK;
    uint8_t *dst = to.b->segs[bl.seg].data + (size_t)bl.off * 8;
    memcpy(dst, l.msg->segs[l.seg].data + l.start_bit / 8, (size_t)((bits + 7) / 8));
    if (bits % 8) dst[bits / 8] &= (uint8_t)((1u << (bits % 8)) - 1); // zero the padding bits
    return DTS_OK;
}

// copy_ptr copies whatever slot from points at into slot to.
static dts_err
copy_ptr(dts_capnp_ptr from, dts_capnp_bptr to, bool canon)
{
    switch (dts_capnp_ptr_kind(from)) {
    case 0:
        return DTS_OK;
    case 1:
        return copy_struct(from, to, canon);
    case 2:
        return copy_list(from, to, canon);
    case 3:
        return dtsi_capnp_fail(from.msg, DTS_EMALFORMED, "capability or unknown pointer kind");
    default:
        return from.msg->err ? from.msg->err : DTS_EMALFORMED;
    }
}

dts_err
dts_capnp_copy(dts_capnp_ptr from, dts_capnp_bptr to, bool canonical)
{
    return copy_ptr(from, to, canonical);
}

// dts_capnp_canonicalize copies the root into a growing single-segment
// builder in canonical form and returns its words.
dts_err
dts_capnp_canonicalize(dts_capnp_msg *m, uint8_t **out, size_t *outlen)
{
    dts_capnp_builder b;
    dts_capnp_builder_opts o = {.single = true, .seg_words = 64, .max_words = m->limits.max_words};
    *out = NULL;
    *outlen = 0;
    dts_err e = dts_capnp_builder_init(&b, &o);
    if (!e) e = dts_capnp_copy(dts_capnp_root(m), dts_capnp_broot(&b), true);
    if (!e) e = dts_capnp_builder_write(&b, true, out, outlen);
    dts_capnp_builder_fini(&b);
    return e;
}
