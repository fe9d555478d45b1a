// pbschema.c: a minimal reader of google.protobuf.FileDescriptorSet, the
// output of `protoc --descriptor_set_out --include_imports`. protobuf-c
// cannot build descriptors at runtime and Debian ships no descriptor.pb-c,
// so we read the few fields we need by hand with the same bounded wire
// reader as payloads (docs/spec/codecs.md, "protobuf"):
//   FileDescriptorSet   file = 1
//   FileDescriptorProto package = 2, message_type = 4, enum_type = 5, syntax = 12
//   DescriptorProto     name = 1, field = 2, nested_type = 3, enum_type = 4, options = 7
//   MessageOptions      map_entry = 7
//   FieldDescriptorProto name = 1, number = 3, label = 4, type = 5, type_name = 6,
//                        options = 8, oneof_index = 9, json_name = 10
//   FieldOptions        packed = 2
//   EnumDescriptorProto name = 1, value = 2;  EnumValueDescriptorProto name = 1, number = 2
// Everything else is skipped. Memory is proportional to the descriptor bytes.
#include <stdlib.h>
#include <string.h>

#include "codec/protobuf/pb.h"

// ---------------------------------------------------------------------------
// Wire reader

int
dtsi_pb_varint(pb_rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->off >= r->n) return -1;
        uint8_t b = r->p[r->off++];
        if (shift == 63 && b > 1) return -1;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int
dtsi_pb_tag(pb_rd *r, uint32_t *number, int *wt)
{
    uint64_t t;
    if (dtsi_pb_varint(r, &t)) return -1;
    if ((t >> 3) == 0 || (t >> 3) > 0x1fffffff) return -1;
    *number = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    return 0;
}

int
dtsi_pb_len(pb_rd *r, const uint8_t **d, size_t *len)
{
    uint64_t l;
    if (dtsi_pb_varint(r, &l) || l > r->n - r->off) return -1;
    *d = r->p + r->off;
    *len = (size_t)l;
    r->off += (size_t)l;
    return 0;
}

int
dtsi_pb_fixed(pb_rd *r, int wt, uint64_t *v)
{
    size_t k = wt == PB_WT_I64 ? 8 : 4;
    if (r->n - r->off < k) return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < k; i++) x |= (uint64_t)r->p[r->off + i] << (8 * i);
    r->off += k;
    *v = x;
    return 0;
}

// dtsi_pb_skip skips one value of an unknown field. Groups are refused:
// they are deprecated and skipping them needs nesting.
int
dtsi_pb_skip(pb_rd *r, int wt)
{
    uint64_t v;
    const uint8_t *d;
    size_t l;
    switch (wt) {
    case PB_WT_VARINT:
        return dtsi_pb_varint(r, &v);
    case PB_WT_I64:
    case PB_WT_I32:
        return dtsi_pb_fixed(r, wt, &v);
    case PB_WT_LEN:
        return dtsi_pb_len(r, &d, &l);
    default:
        return -1;
    }
}

// ---------------------------------------------------------------------------
// Descriptor parsing

typedef struct pbs_ctx {
    const dts_codec_ctx *cx;
    pb_schema *s;
    int proto3;
} pbs_ctx;

static dts_err
pbs_bad(pbs_ctx *c, const char *what)
{
    return dtsi_cerr(c->cx, DTS_EMALFORMED, "protobuf descriptor set: bad %s", what);
}

// pbs_join returns "prefix.name" (or name when prefix is empty), allocated.
static char *
pbs_join(const char *prefix, const uint8_t *name, size_t n)
{
    size_t pl = strlen(prefix);
    char *s = dtsi_cmalloc(pl + 1 + n + 1);
    if (!s) return NULL;
    memcpy(s, prefix, pl);
    if (pl) s[pl++] = '.';
    memcpy(s + pl, name, n);
    s[pl + n] = 0;
    return s;
}

// pbs_grow makes room for one more element of an array of size elt.
static int
pbs_grow(void **arr, size_t n, size_t *cap, size_t elt)
{
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = dtsi_cgrow(*arr, n * elt, nc * elt);
    if (!p) return -1;
    memset((char *)p + n * elt, 0, (nc - n) * elt);
    *arr = p;
    *cap = nc;
    return 0;
}

// pbs_camel computes protoc's default json_name: underscores removed and
// the letter after each one upper-cased.
static char *
pbs_camel(const char *name)
{
    size_t n = strlen(name), o = 0;
    char *s = dtsi_cmalloc(n + 1);
    if (!s) return NULL;
    int up = 0;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '_') {
            up = 1;
            continue;
        }
        s[o++] = up && name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 32) : name[i];
        up = 0;
    }
    s[o] = 0;
    return s;
}

static dts_err
pbs_enum(pbs_ctx *c, const char *prefix, const uint8_t *d, size_t n)
{
    pb_schema *s = c->s;
    if (pbs_grow((void **)&s->enums, s->nenums, &s->cape, sizeof *s->enums)) return DTS_ENOMEM;
    pb_enum *en = &s->enums[s->nenums++];
    size_t capv = 0;
    pb_rd r = {d, n, 0};
    uint32_t num;
    int wt;
    while (r.off < r.n) {
        const uint8_t *v;
        size_t vl;
        if (dtsi_pb_tag(&r, &num, &wt)) return pbs_bad(c, "enum");
        if (wt != PB_WT_LEN || (num != 1 && num != 2)) {
            if (dtsi_pb_skip(&r, wt)) return pbs_bad(c, "enum");
            continue;
        }
        if (dtsi_pb_len(&r, &v, &vl)) return pbs_bad(c, "enum");
        if (num == 1) {
            dtsi_cfree(en->full);
            if (!(en->full = pbs_join(prefix, v, vl))) return DTS_ENOMEM;
            continue;
        }
        if (pbs_grow((void **)&en->vals, en->nvals, &capv, sizeof *en->vals)) return DTS_ENOMEM;
        pb_enum_val *ev = &en->vals[en->nvals++];
        pb_rd vr = {v, vl, 0};
        while (vr.off < vr.n) {
            const uint8_t *sv;
            size_t sl;
            uint64_t x;
            if (dtsi_pb_tag(&vr, &num, &wt)) return pbs_bad(c, "enum value");
            if (num == 1 && wt == PB_WT_LEN) {
                if (dtsi_pb_len(&vr, &sv, &sl)) return pbs_bad(c, "enum value");
                dtsi_cfree(ev->name);
                if (!(ev->name = dtsi_cstrndup((const char *)sv, sl))) return DTS_ENOMEM;
            } else if (num == 2 && wt == PB_WT_VARINT) {
                if (dtsi_pb_varint(&vr, &x)) return pbs_bad(c, "enum value");
                ev->number = (int32_t)x;
            } else if (dtsi_pb_skip(&vr, wt))
                return pbs_bad(c, "enum value");
        }
        if (!ev->name) return pbs_bad(c, "enum value without a name");
    }
    return en->full ? DTS_OK : pbs_bad(c, "enum without a name");
}

// pbs_field_opt reads FieldOptions.packed (-1 when absent).
static int
pbs_packed_opt(const uint8_t *d, size_t n)
{
    pb_rd r = {d, n, 0};
    uint32_t num;
    int wt, packed = -1;
    uint64_t x;
    while (r.off < r.n) {
        if (dtsi_pb_tag(&r, &num, &wt)) return -1;
        if (num == 2 && wt == PB_WT_VARINT) {
            if (dtsi_pb_varint(&r, &x)) return -1;
            packed = x != 0;
        } else if (dtsi_pb_skip(&r, wt))
            return -1;
    }
    return packed;
}

// pbs_field_str stores one string field of a FieldDescriptorProto.
static dts_err
pbs_field_str(pbs_ctx *c, pb_field *f, uint32_t num, const uint8_t *v, size_t vl)
{
    char **dst = num == 1 ? &f->name : num == 6 ? &f->type_name : &f->json_name;
    dtsi_cfree(*dst);
    *dst = dtsi_cstrndup((const char *)v, vl);
    return *dst ? DTS_OK : DTS_ENOMEM;
}

static int
pbs_scalar_numeric(int type)
{
    return type != PB_STRING && type != PB_BYTES && type != PB_MESSAGE && type != PB_GROUP;
}

static dts_err
pbs_field(pbs_ctx *c, pb_field *f, const uint8_t *d, size_t n)
{
    pb_rd r = {d, n, 0};
    uint32_t num;
    int wt, packed = -1;
    while (r.off < r.n) {
        const uint8_t *v;
        size_t vl;
        uint64_t x;
        if (dtsi_pb_tag(&r, &num, &wt)) return pbs_bad(c, "field");
        if (wt == PB_WT_LEN && (num == 1 || num == 6 || num == 10 || num == 8)) {
            if (dtsi_pb_len(&r, &v, &vl)) return pbs_bad(c, "field");
            if (num == 8)
                packed = pbs_packed_opt(v, vl);
            else if (pbs_field_str(c, f, num, v, vl))
                return DTS_ENOMEM;
        } else if (wt == PB_WT_VARINT && ((num >= 3 && num <= 5) || num == 9)) {
            if (dtsi_pb_varint(&r, &x)) return pbs_bad(c, "field");
            if (num == 9 && x >= 65535) return pbs_bad(c, "field oneof");
            if (num == 9)
                f->oneof = (uint32_t)x + 1;
            else if (num == 3)
                f->number = (uint32_t)x;
            else if (num == 4)
                f->label = (int)x;
            else
                f->type = (int)x;
        } else if (dtsi_pb_skip(&r, wt))
            return pbs_bad(c, "field");
    }
    if (!f->name || !f->number || f->number > 0x1fffffff || f->type < 1 || f->type > PB_TYPE_MAX)
        return pbs_bad(c, "field (name, number or type)");
    if (!f->json_name && !(f->json_name = pbs_camel(f->name))) return DTS_ENOMEM;
    int numeric = pbs_scalar_numeric(f->type) && f->label == PB_LABEL_REPEATED;
    f->packed = numeric && (packed == 1 || (packed == -1 && c->proto3));
    return DTS_OK;
}

static dts_err pbs_message(pbs_ctx *c, const char *prefix, const uint8_t *d, size_t n,
                           unsigned depth);

// pbs_msg_options reads MessageOptions.map_entry.
static int
pbs_map_entry(const uint8_t *d, size_t n)
{
    pb_rd r = {d, n, 0};
    uint32_t num;
    int wt, me = 0;
    uint64_t x;
    while (r.off < r.n) {
        if (dtsi_pb_tag(&r, &num, &wt)) return 0;
        if (num == 7 && wt == PB_WT_VARINT) {
            if (dtsi_pb_varint(&r, &x)) return 0;
            me = x != 0;
        } else if (dtsi_pb_skip(&r, wt))
            return 0;
    }
    return me;
}

// pbs_msg_name finds field 1 (name) of a DescriptorProto first, since
// nested declarations need the full name as their prefix.
static dts_err
pbs_msg_name(pbs_ctx *c, const char *prefix, const uint8_t *d, size_t n, char **full)
{
    pb_rd r = {d, n, 0};
    uint32_t num;
    int wt;
    dts_err e = DTS_OK;
    *full = NULL;
    while (!e && r.off < r.n) {
        const uint8_t *v;
        size_t vl;
        if (dtsi_pb_tag(&r, &num, &wt))
            e = pbs_bad(c, "message");
        else if (num == 1 && wt == PB_WT_LEN) {
            if (dtsi_pb_len(&r, &v, &vl)) e = pbs_bad(c, "message");
            dtsi_cfree(*full);
            *full = e ? NULL : pbs_join(prefix, v, vl);
            if (!e && !*full) e = DTS_ENOMEM;
        } else if (dtsi_pb_skip(&r, wt))
            e = pbs_bad(c, "message");
    }
    if (!e && !*full) e = pbs_bad(c, "message without a name");
    if (e) {
        dtsi_cfree(*full);
        *full = NULL;
    }
    return e;
}

// pbs_message adds one message (and its nested ones, depth-bounded).
// Fields are collected into the message at index mi, re-fetched after
// each nested parse because the messages array may move.
static dts_err
pbs_message(pbs_ctx *c, const char *prefix, const uint8_t *d, size_t n, unsigned depth)
{
    pb_schema *s = c->s;
    char *full;
    if (depth > c->cx->limits->max_depth) return pbs_bad(c, "nesting (too deep)");
    dts_err e = pbs_msg_name(c, prefix, d, n, &full);
    if (e) return e;
    if (pbs_grow((void **)&s->msgs, s->nmsgs, &s->capm, sizeof *s->msgs))
        return dtsi_cfree(full), DTS_ENOMEM;
    size_t mi = s->nmsgs++, capf = 0;
    s->msgs[mi].full = full;
    pb_rd r = {d, n, 0};
    uint32_t num;
    int wt;
    while (r.off < r.n) {
        const uint8_t *v;
        size_t vl;
        if (dtsi_pb_tag(&r, &num, &wt)) return pbs_bad(c, "message");
        if (wt != PB_WT_LEN) {
            if (dtsi_pb_skip(&r, wt)) return pbs_bad(c, "message");
            continue;
        }
        if (dtsi_pb_len(&r, &v, &vl)) return pbs_bad(c, "message");
        pb_msg *m = &s->msgs[mi];
        if (num == 2) {
            if (pbs_grow((void **)&m->fields, m->nfields, &capf, sizeof *m->fields))
                return DTS_ENOMEM;
            e = pbs_field(c, &m->fields[m->nfields++], v, vl);
        } else if (num == 3) {
            char *pre = dtsi_cstrndup(m->full, strlen(m->full));
            e = pre ? pbs_message(c, pre, v, vl, depth + 1) : DTS_ENOMEM;
            dtsi_cfree(pre);
        } else if (num == 4) {
            e = pbs_enum(c, m->full, v, vl);
        } else if (num == 7) {
            m->map_entry = pbs_map_entry(v, vl);
        }
        if (e) return e;
    }
    return DTS_OK;
}

// pbs_file reads one FileDescriptorProto. The package and syntax must be
// known before its messages, so a first pass collects them.
static dts_err
pbs_file(pbs_ctx *c, const uint8_t *d, size_t n)
{
    pb_rd r = {d, n, 0};
    uint32_t num;
    int wt;
    char pkg[256] = "";
    const uint8_t *v;
    size_t vl;
    c->proto3 = 0;
    while (r.off < r.n) {
        if (dtsi_pb_tag(&r, &num, &wt)) return pbs_bad(c, "file");
        if (wt != PB_WT_LEN) {
            if (dtsi_pb_skip(&r, wt)) return pbs_bad(c, "file");
            continue;
        }
        if (dtsi_pb_len(&r, &v, &vl)) return pbs_bad(c, "file");
        if (num == 2) {
            if (vl >= sizeof pkg) return pbs_bad(c, "package (too long)");
            memcpy(pkg, v, vl);
            pkg[vl] = 0;
        } else if (num == 12) {
            c->proto3 = vl == 6 && !memcmp(v, "proto3", 6);
        }
    }
    r.off = 0;
    while (r.off < r.n) {
        dts_err e = DTS_OK;
        if (dtsi_pb_tag(&r, &num, &wt)) return pbs_bad(c, "file");
        if (wt != PB_WT_LEN) {
            if (dtsi_pb_skip(&r, wt)) return pbs_bad(c, "file");
            continue;
        }
        if (dtsi_pb_len(&r, &v, &vl)) return pbs_bad(c, "file");
        if (num == 4)
            e = pbs_message(c, pkg, v, vl, 1);
        else if (num == 5)
            e = pbs_enum(c, pkg, v, vl);
        if (e) return e;
    }
    return DTS_OK;
}

static int
pbs_field_cmp(const void *a, const void *b)
{
    uint32_t x = ((const pb_field *)a)->number, y = ((const pb_field *)b)->number;
    return x < y ? -1 : x > y;
}

static int
pbs_msg_cmp(const void *a, const void *b)
{
    return strcmp(((const pb_msg *)a)->full, ((const pb_msg *)b)->full);
}

static int
pbs_enum_cmp(const void *a, const void *b)
{
    return strcmp(((const pb_enum *)a)->full, ((const pb_enum *)b)->full);
}

static const pb_enum *
pbs_find_enum(const pb_schema *s, const char *name)
{
    pb_enum key = {.full = (char *)name};
    if (!s->nenums) return NULL;
    return bsearch(&key, s->enums, s->nenums, sizeof *s->enums, pbs_enum_cmp);
}

// pbs_resolve links message and enum fields to their declarations and
// sorts fields by number for binary search.
static dts_err
pbs_resolve(pbs_ctx *c)
{
    pb_schema *s = c->s;
    if (s->nmsgs) qsort(s->msgs, s->nmsgs, sizeof *s->msgs, pbs_msg_cmp);
    if (s->nenums) qsort(s->enums, s->nenums, sizeof *s->enums, pbs_enum_cmp);
    for (size_t i = 0; i < s->nmsgs; i++) {
        pb_msg *m = &s->msgs[i];
        if (i && !strcmp(m->full, s->msgs[i - 1].full)) return pbs_bad(c, "duplicate message");
        qsort(m->fields, m->nfields, sizeof *m->fields, pbs_field_cmp);
        for (size_t j = 0; j < m->nfields; j++) {
            pb_field *f = &m->fields[j];
            if (j && f->number == m->fields[j - 1].number) return pbs_bad(c, "duplicate field");
            if (f->oneof > m->n_oneofs) m->n_oneofs = f->oneof;
            if (f->type == PB_GROUP)
                return dtsi_cerr(c->cx, DTS_ENOTSUP, "protobuf groups are not supported (%s.%s)",
                                 m->full, f->name);
            if (f->type != PB_MESSAGE && f->type != PB_ENUM) continue;
            if (!f->type_name || f->type_name[0] != '.') return pbs_bad(c, "field type name");
            if (f->type == PB_ENUM) f->en = pbs_find_enum(s, f->type_name + 1);
            if (f->type == PB_MESSAGE) f->msg = dtsi_pb_find_msg(s, f->type_name + 1, 0);
            if (!f->en && !f->msg)
                return dtsi_cerr(c->cx, DTS_EMALFORMED, "protobuf type %s not in the set",
                                 f->type_name);
        }
    }
    return DTS_OK;
}

dts_err
dtsi_pb_schema_parse(const dts_codec_ctx *cx, const uint8_t *fds, size_t len, pb_schema *out)
{
    pbs_ctx c = {.cx = cx, .s = out};
    pb_rd r = {fds, len, 0};
    uint32_t num;
    int wt;
    memset(out, 0, sizeof *out);
    while (r.off < r.n) {
        const uint8_t *v;
        size_t vl;
        if (dtsi_pb_tag(&r, &num, &wt)) return pbs_bad(&c, "set");
        if (num != 1 || wt != PB_WT_LEN) {
            if (dtsi_pb_skip(&r, wt)) return pbs_bad(&c, "set");
            continue;
        }
        if (dtsi_pb_len(&r, &v, &vl)) return pbs_bad(&c, "set");
        dts_err e = pbs_file(&c, v, vl);
        if (e) return e;
    }
    return pbs_resolve(&c);
}

void
dtsi_pb_schema_free(pb_schema *s)
{
    for (size_t i = 0; i < s->nmsgs; i++) {
        for (size_t j = 0; j < s->msgs[i].nfields; j++) {
            pb_field *f = &s->msgs[i].fields[j];
            dtsi_cfree(f->name);
            dtsi_cfree(f->json_name);
            dtsi_cfree(f->type_name);
        }
        dtsi_cfree(s->msgs[i].fields);
        dtsi_cfree(s->msgs[i].full);
    }
    for (size_t i = 0; i < s->nenums; i++) {
        for (size_t j = 0; j < s->enums[i].nvals; j++) dtsi_cfree(s->enums[i].vals[j].name);
        dtsi_cfree(s->enums[i].vals);
        dtsi_cfree(s->enums[i].full);
    }
    dtsi_cfree(s->msgs);
    dtsi_cfree(s->enums);
    memset(s, 0, sizeof *s);
}

const pb_msg *
dtsi_pb_find_msg(const pb_schema *s, const char *name, int short_ok)
{
    const pb_msg *found = NULL;
    pb_msg key = {.full = (char *)name};
    const pb_msg *m =
        s->nmsgs ? bsearch(&key, s->msgs, s->nmsgs, sizeof *s->msgs, pbs_msg_cmp) : NULL;
    if (m) return m;
    if (!short_ok || strchr(name, '.')) return NULL;
    for (size_t i = 0; i < s->nmsgs; i++) {
        const char *dot = strrchr(s->msgs[i].full, '.');
        if (strcmp(dot ? dot + 1 : s->msgs[i].full, name)) continue;
        if (found) return NULL;
        found = &s->msgs[i];
    }
    return found;
}
