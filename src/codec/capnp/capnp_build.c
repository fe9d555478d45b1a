// capnp_build.c: the message builder: segment arena, struct and list
// allocation for every element size, text and data, far pointers with
// single and double-far landing pads, and serialization (docs/spec/capnp.md,
// "Builder").
#include "codec/capnp/capnp_int.h"
#include "codec/codec_int.h"

#define BUILDER_SEG_WORDS 1024u
#define LIST_MAX_COUNT ((1u << 29) - 1)

dts_err
dts_capnp_builder_init(dts_capnp_builder *b, const dts_capnp_builder_opts *opts)
{
    memset(b, 0, sizeof *b);
    if (opts) b->o = *opts;
    if (!b->o.seg_words) b->o.seg_words = BUILDER_SEG_WORDS;
    if (!b->o.max_words || b->o.max_words > DTS_CAPNP_HARD_MAX_WORDS)
        b->o.max_words = b->o.max_words ? DTS_CAPNP_HARD_MAX_WORDS : DTS_CAPNP_MAX_WORDS;
    if (!b->o.max_segments) b->o.max_segments = DTS_CAPNP_MAX_SEGMENTS;
    if (b->o.single) b->o.max_segments = 1;
    b->segs = dtsi_cmalloc(sizeof *b->segs);
    uint8_t *d = dtsi_cmalloc((size_t)b->o.seg_words * 8);
    if (!b->segs || !d) {
        dtsi_cfree(d);
        dtsi_cfree(b->segs);
        b->segs = NULL;
        return b->err = DTS_ENOMEM;
    }
    memset(d, 0, (size_t)b->o.seg_words * 8);
    b->segs[0] = (dts_capnp_bseg){.data = d, .used = 1, .cap = b->o.seg_words};
    b->nsegs = b->segcap = 1;
    b->total = 1;
    return DTS_OK;
}

void
dts_capnp_builder_fini(dts_capnp_builder *b)
{
    for (uint32_t i = 0; i < b->nsegs; i++) dtsi_cfree(b->segs[i].data);
    dtsi_cfree(b->segs);
    memset(b, 0, sizeof *b);
}

dts_err
dts_capnp_builder_error(const dts_capnp_builder *b)
{
    return b->err;
}

dts_capnp_bptr
dts_capnp_broot(dts_capnp_builder *b)
{
    dts_capnp_bptr p = {.b = b, .seg = b->segs ? 0 : CAPNP_NULL_SEG, .off = 0};
    return p;
}

// bfail makes err the builder's sticky error and returns it.
static dts_err
bfail(dts_capnp_builder *b, dts_err err)
{
    if (!b->err) b->err = err;
    return err;
}

static uint8_t *
bword(dts_capnp_builder *b, uint32_t seg, uint32_t off)
{
    return b->segs[seg].data + (size_t)off * 8;
}

// seg_grow moves a single-segment builder's segment to one of at least need
// words (views hold offsets, so nothing else changes).
static dts_err
seg_grow(dts_capnp_builder *b, uint64_t need)
{
    dts_capnp_bseg *s = &b->segs[0];
    uint64_t cap = (uint64_t)s->cap * 2;
    if (cap < need) cap = need;
    if (cap > b->o.max_words) cap = b->o.max_words;
    uint8_t *d = dtsi_cmalloc((size_t)cap * 8);
    if (!d) return bfail(b, DTS_ENOMEM);
    memcpy(d, s->data, (size_t)s->used * 8);
    memset(d + (size_t)s->used * 8, 0, (size_t)(cap - s->used) * 8);
    dtsi_cfree(s->data);
    s->data = d;
    s->cap = (uint32_t)cap;
    return DTS_OK;
}

// seg_add appends a zeroed segment of max(n, seg_words) words.
static dts_err
seg_add(dts_capnp_builder *b, uint64_t n)
{
    if (b->nsegs >= b->o.max_segments) return bfail(b, DTS_ETOOBIG);
    if (b->nsegs == b->segcap) {
        uint32_t nc = b->segcap * 2;
        dts_capnp_bseg *ns = dtsi_cmalloc(nc * sizeof *ns);
        if (!ns) return bfail(b, DTS_ENOMEM);
        memcpy(ns, b->segs, b->nsegs * sizeof *ns);
        dtsi_cfree(b->segs);
        b->segs = ns;
        b->segcap = nc;
    }
    uint64_t cap = n > b->o.seg_words ? n : b->o.seg_words;
    uint8_t *d = dtsi_cmalloc((size_t)cap * 8);
    if (!d) return bfail(b, DTS_ENOMEM);
    memset(d, 0, (size_t)cap * 8);
    b->segs[b->nsegs++] = (dts_capnp_bseg){.data = d, .used = 0, .cap = (uint32_t)cap};
    return DTS_OK;
}

// seg_take reserves n words at the end of segment seg if they fit.
static bool
seg_take(dts_capnp_builder *b, uint32_t seg, uint64_t n, uint32_t *off)
{
    dts_capnp_bseg *s = &b->segs[seg];
    if (s->used + n > s->cap) return false;
    *off = s->used;
    s->used += (uint32_t)n;
    b->total += n;
    return true;
}

// balloc reserves n zeroed words, preferring segment hint, then the last
// segment, then a new one (a single-segment builder grows instead).
static dts_err
balloc(dts_capnp_builder *b, uint32_t hint, uint64_t n, uint32_t *seg, uint32_t *off)
{
    if (b->err) return b->err;
    if (b->total + n > b->o.max_words) return bfail(b, DTS_ETOOBIG);
    if (b->o.single) {
        if (b->segs[0].used + n > b->segs[0].cap && seg_grow(b, b->segs[0].used + n)) return b->err;
        hint = 0;
    }
    *seg = hint;
    if (seg_take(b, hint, n, off)) return DTS_OK;
    *seg = b->nsegs - 1;
    if (seg_take(b, *seg, n, off)) return DTS_OK;
    if (seg_add(b, n)) return b->err;
    *seg = b->nsegs - 1;
    seg_take(b, *seg, n, off);
    return DTS_OK;
}

// pad_alloc reserves a two-word landing pad outside segment avoid (the last
// segment or a new one): the capnp tool's format check refuses a root far
// pointer whose pad is in segment 0 itself.
static dts_err
pad_alloc(dts_capnp_builder *b, uint32_t avoid, uint32_t *seg, uint32_t *off)
{
    if (b->o.single) return bfail(b, DTS_EINVAL); // cannot happen: one segment
    if (b->total + 2 > b->o.max_words) return bfail(b, DTS_ETOOBIG);
    *seg = b->nsegs - 1;
    if (*seg != avoid && seg_take(b, *seg, 2, off)) return DTS_OK;
    if (seg_add(b, 2)) return b->err;
    *seg = b->nsegs - 1;
    seg_take(b, *seg, 2, off);
    return DTS_OK;
}

// blink writes into slot p a pointer (kind and size bits in base) to the
// object at (seg, off): near when in the same segment; else a far pointer
// to a one-word landing pad in the object's segment; else, that segment
// being full, a double-far pointer to a two-word pad anywhere.
static void
blink(dts_capnp_bptr p, uint64_t base, uint32_t seg, uint32_t off)
{
    dts_capnp_builder *b = p.b;
    uint32_t ps = 0, po = 0;
    if (seg == p.seg) {
        uint64_t rel = (uint64_t)((int64_t)off - (int64_t)p.off - 1);
        cp_store(bword(b, p.seg, p.off), base | ((rel << 2) & 0xfffffffcu));
        return;
    }
    if (seg_take(b, seg, 1, &po)) {
        uint64_t rel = (uint64_t)((int64_t)off - (int64_t)po - 1);
        cp_store(bword(b, seg, po), base | ((rel << 2) & 0xfffffffcu));
        cp_store(bword(b, p.seg, p.off), 2 | ((uint64_t)po << 3) | ((uint64_t)seg << 32));
        return;
    }
    if (pad_alloc(b, p.seg, &ps, &po)) return;
    cp_store(bword(b, ps, po), 2 | ((uint64_t)off << 3) | ((uint64_t)seg << 32));
    cp_store(bword(b, ps, po + 1), base);
    cp_store(bword(b, p.seg, p.off), 6 | ((uint64_t)po << 3) | ((uint64_t)ps << 32));
}

// bobject allocates n words for the target of slot p and links it.
static dts_err
bobject(dts_capnp_bptr p, uint64_t base, uint64_t n, uint32_t *seg, uint32_t *off)
{
    if (p.seg == CAPNP_NULL_SEG || p.b->err) return p.b->err ? p.b->err : DTS_EINVAL;
    if (balloc(p.b, p.seg, n, seg, off)) return p.b->err;
    blink(p, base, *seg, *off);
    return p.b->err;
}

dts_capnp_bstruct
dts_capnp_init_struct(dts_capnp_bptr p, uint16_t dwords, uint16_t nptrs)
{
    dts_capnp_bstruct s = {.b = p.b, .seg = CAPNP_NULL_SEG};
    uint64_t base = ((uint64_t)dwords << 32) | ((uint64_t)nptrs << 48);
    if (p.seg != CAPNP_NULL_SEG && !p.b->err && dwords + nptrs == 0) {
        // A zero-sized struct points at itself (offset -1), as capnp writes it.
        cp_store(bword(p.b, p.seg, p.off), 0xfffffffcu);
        s.seg = p.seg;
        s.off = p.off + 1;
        return s;
    }
    if (bobject(p, base, (uint64_t)dwords + nptrs, &s.seg, &s.off)) {
        s.seg = CAPNP_NULL_SEG;
        return s;
    }
    s.dwords = dwords;
    s.nptrs = nptrs;
    return s;
}

dts_capnp_blist
dts_capnp_init_list(dts_capnp_bptr p, unsigned esize, uint32_t count)
{
    dts_capnp_blist l = {.b = p.b, .seg = CAPNP_NULL_SEG};
    if (esize >= DTS_CAPNP_COMPOSITE || count > LIST_MAX_COUNT) {
        if (p.b) bfail(p.b, esize >= DTS_CAPNP_COMPOSITE ? DTS_EINVAL : DTS_ETOOBIG);
        return l;
    }
    uint64_t step = esize == DTS_CAPNP_POINTER ? 64 : cp_esize_bits[esize];
    uint64_t base = 1 | ((uint64_t)esize << 32) | ((uint64_t)count << 35);
    if (bobject(p, base, ((uint64_t)count * step + 63) / 64, &l.seg, &l.off)) {
        l.seg = CAPNP_NULL_SEG;
        return l;
    }
    l.count = count;
    l.esize = (uint8_t)esize;
    return l;
}

dts_capnp_blist
dts_capnp_init_struct_list(dts_capnp_bptr p, uint16_t dwords, uint16_t nptrs, uint32_t count)
{
    dts_capnp_blist l = {.b = p.b, .seg = CAPNP_NULL_SEG};
    uint64_t words = (uint64_t)count * (dwords + nptrs);
    if (words > LIST_MAX_COUNT || count > 0x3fffffffu) {
        if (p.b) bfail(p.b, DTS_ETOOBIG);
        return l;
    }
    uint64_t base = 1 | ((uint64_t)DTS_CAPNP_COMPOSITE << 32) | (words << 35);
    if (bobject(p, base, words + 1, &l.seg, &l.off)) {
        l.seg = CAPNP_NULL_SEG;
        return l;
    }
    uint64_t tag = ((uint64_t)count << 2) | ((uint64_t)dwords << 32) | ((uint64_t)nptrs << 48);
    cp_store(bword(p.b, l.seg, l.off), tag);
    l.off++;
    l.count = count;
    l.esize = DTS_CAPNP_COMPOSITE;
    l.dwords = dwords;
    l.nptrs = nptrs;
    return l;
}

// bblob allocates a byte list of len bytes (plus a NUL for text) and copies d.
static dts_err
bblob(dts_capnp_bptr p, const void *d, size_t len, bool text)
{
    if (len + text > LIST_MAX_COUNT) return p.b ? bfail(p.b, DTS_ETOOBIG) : DTS_ETOOBIG;
    dts_capnp_blist l = dts_capnp_init_list(p, DTS_CAPNP_BYTE, (uint32_t)(len + text));
    if (l.seg == CAPNP_NULL_SEG) return p.b && p.b->err ? p.b->err : DTS_EINVAL;
    if (len) memcpy(bword(p.b, l.seg, l.off), d, len);
    return DTS_OK;
}

dts_err
dts_capnp_set_text(dts_capnp_bptr p, const char *s, size_t len)
{
    return bblob(p, s, len, true);
}

dts_err
dts_capnp_set_data(dts_capnp_bptr p, const void *d, size_t len)
{
    return bblob(p, d, len, false);
}

// ---------------------------------------------------------------------------
// Fields

// bset writes width bits at field offset off (units of width) of a struct's
// data; offsets past the data section are ignored.
static void
bset(dts_capnp_bstruct s, uint32_t off, unsigned width, uint64_t v)
{
    uint64_t bit = (uint64_t)off * width;
    if (s.seg == CAPNP_NULL_SEG || bit + width > (uint64_t)s.dwords * 64) return;
    uint8_t *d = bword(s.b, s.seg, s.off);
    if (width == 1) {
        uint8_t mask = (uint8_t)(1u << (bit % 8));
        d[bit / 8] = (uint8_t)(v ? d[bit / 8] | mask : d[bit / 8] & ~mask);
        return;
    }
    cp_storen(d + bit / 8, width / 8, v);
}

void
dts_capnp_set_bool(dts_capnp_bstruct s, uint32_t off, bool v, bool def)
{
    bset(s, off, 1, v != def);
}

void
dts_capnp_set_u8(dts_capnp_bstruct s, uint32_t off, uint8_t v, uint8_t def)
{
    bset(s, off, 8, v ^ def);
}

void
dts_capnp_set_u16(dts_capnp_bstruct s, uint32_t off, uint16_t v, uint16_t def)
{
    bset(s, off, 16, v ^ def);
}

void
dts_capnp_set_u32(dts_capnp_bstruct s, uint32_t off, uint32_t v, uint32_t def)
{
    bset(s, off, 32, v ^ def);
}

void
dts_capnp_set_u64(dts_capnp_bstruct s, uint32_t off, uint64_t v, uint64_t def)
{
    bset(s, off, 64, v ^ def);
}

void
dts_capnp_set_f32(dts_capnp_bstruct s, uint32_t off, float v, float def)
{
    uint32_t a, b;
    memcpy(&a, &v, 4);
    memcpy(&b, &def, 4);
    bset(s, off, 32, a ^ b);
}

void
dts_capnp_set_f64(dts_capnp_bstruct s, uint32_t off, double v, double def)
{
    uint64_t a, b;
    memcpy(&a, &v, 8);
    memcpy(&b, &def, 8);
    bset(s, off, 64, a ^ b);
}

dts_capnp_bptr
dts_capnp_bstruct_ptr(dts_capnp_bstruct s, uint32_t i)
{
    dts_capnp_bptr p = {.b = s.b, .seg = CAPNP_NULL_SEG};
    if (s.seg != CAPNP_NULL_SEG && i < s.nptrs) {
        p.seg = s.seg;
        p.off = s.off + s.dwords + i;
    }
    return p;
}

dts_capnp_bstruct
dts_capnp_blist_struct(dts_capnp_blist l, uint32_t i)
{
    dts_capnp_bstruct s = {.b = l.b, .seg = CAPNP_NULL_SEG};
    if (l.seg == CAPNP_NULL_SEG || l.esize != DTS_CAPNP_COMPOSITE || i >= l.count) return s;
    s.seg = l.seg;
    s.off = l.off + i * (uint32_t)(l.dwords + l.nptrs);
    s.dwords = l.dwords;
    s.nptrs = l.nptrs;
    return s;
}

dts_capnp_bptr
dts_capnp_blist_ptr(dts_capnp_blist l, uint32_t i)
{
    dts_capnp_bptr p = {.b = l.b, .seg = CAPNP_NULL_SEG};
    if (l.seg == CAPNP_NULL_SEG || l.esize != DTS_CAPNP_POINTER || i >= l.count) return p;
    p.seg = l.seg;
    p.off = l.off + i;
    return p;
}

void
dts_capnp_blist_set(dts_capnp_blist l, uint32_t i, uint64_t bits)
{
    if (l.seg == CAPNP_NULL_SEG || i >= l.count || l.esize < DTS_CAPNP_BIT ||
        l.esize > DTS_CAPNP_EIGHT)
        return;
    unsigned w = cp_esize_bits[l.esize];
    dts_capnp_bstruct s = {.b = l.b, .seg = l.seg, .off = l.off, .dwords = UINT16_MAX};
    if (w == 1) {
        s.off = l.off + i / 64;
        bset(s, i % 64, 1, bits & 1);
        return;
    }
    s.off = l.off + (uint32_t)((uint64_t)i * w / 64);
    bset(s, (uint32_t)((uint64_t)i * w % 64 / w), w, bits);
}

// dts_capnp_builder_write lays out the segment table (count-1, sizes,
// padding) and the used words of each segment.
dts_err
dts_capnp_builder_write(const dts_capnp_builder *b, bool flat, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (b->err) return b->err;
    if (flat && b->nsegs != 1) return DTS_EINVAL;
    size_t table = flat ? 0 : (4 + 4 * (size_t)b->nsegs + 7) / 8 * 8;
    size_t len = table + (size_t)b->total * 8;
    uint8_t *buf = dtsi_cmalloc(len);
    if (!buf) return DTS_ENOMEM;
    memset(buf, 0, table);
    if (!flat) cp_storen(buf, 4, b->nsegs - 1);
    size_t at = table;
    for (uint32_t i = 0; i < b->nsegs; i++) {
        if (!flat) cp_storen(buf + 4 + 4 * i, 4, b->segs[i].used);
        memcpy(buf + at, b->segs[i].data, (size_t)b->segs[i].used * 8);
        at += (size_t)b->segs[i].used * 8;
    }
    *out = buf;
    *outlen = at;
    return DTS_OK;
}
