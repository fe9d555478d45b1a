// protobuf.c: the Protocol Buffers codec, decoding any message dynamically
// from the FileDescriptorSet that travels as the type's schema (no code
// generation). Decoding walks the wire format with a bounded reader:
// lengths are checked against the bytes left, nested messages against
// max_depth (protobuf-c has no limit and overflowed its stack on a 34 KB
// recursive input; notes/libraries.md). The JSON mapping follows protoc's
// (docs/spec/codecs.md, "protobuf").
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec/protobuf/pb.h"

typedef struct pbd {
    const dts_codec_ctx *cx;
    pb_rd r;
    dtsi_budget budget;
    size_t base; // offset of r.p within the payload, for messages
    // The oneof members set in this message, in wire order (ev_stack
    // first, then the heap): after the message, each oneof keeps its last
    // (pbd_oneofs_last), as in protobuf. Bounded by the payload, not by
    // the schema: a schema may claim 65535 oneofs.
    const pb_field **ev;
    size_t nev, capev;
    const pb_field *ev_stack[8];
} pbd;

static dts_err pbd_message(const dts_codec_ctx *cx, dtsi_budget *b, const pb_msg *m,
                           const uint8_t *d, size_t n, size_t base, unsigned depth, json_t **out);

static dts_err
pbd_bad(const dts_codec_ctx *cx, size_t at, const char *what, const char *field)
{
    return dtsi_cerr(cx, DTS_EMALFORMED, "protobuf %s at byte %zu (field %s)", what, at, field);
}

// dtsi_pb_wire_type is the wire type a field type must arrive (and is sent)
// with.
int
dtsi_pb_wire_type(int type)
{
    switch (type) {
    case PB_DOUBLE:
    case PB_FIXED64:
    case PB_SFIXED64:
        return PB_WT_I64;
    case PB_FLOAT:
    case PB_FIXED32:
    case PB_SFIXED32:
        return PB_WT_I32;
    case PB_STRING:
    case PB_BYTES:
    case PB_MESSAGE:
        return PB_WT_LEN;
    default:
        return PB_WT_VARINT;
    }
}

static json_t *
pb_json_i64(int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    return json_string(s);
}

static json_t *
pb_json_u64s(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, v);
    return json_string(s);
}

static json_t *
pb_json_enum(const pb_field *f, int32_t v)
{
    for (size_t i = 0; f->en && i < f->en->nvals; i++)
        if (f->en->vals[i].number == v) return json_string(f->en->vals[i].name);
    return json_integer(v);
}

// pb_scalar renders a number read from the wire (varint or fixed) as
// protoc's JSON does: 64-bit integers as strings, enums by name.
static json_t *
pb_scalar(const pb_field *f, uint64_t v)
{
    float fl;
    double db;
    uint32_t u32 = (uint32_t)v;
    switch (f->type) {
    case PB_INT32:
    case PB_SFIXED32:
        return json_integer((int32_t)u32);
    case PB_UINT32:
    case PB_FIXED32:
        return json_integer(u32);
    case PB_SINT32:
        return json_integer((int32_t)((u32 >> 1) ^ (0u - (u32 & 1))));
    case PB_INT64:
    case PB_SFIXED64:
        return pb_json_i64((int64_t)v);
    case PB_UINT64:
    case PB_FIXED64:
        return pb_json_u64s(v);
    case PB_SINT64:
        return pb_json_i64((int64_t)((v >> 1) ^ (0 - (v & 1))));
    case PB_BOOL:
        return json_boolean(v != 0);
    case PB_ENUM:
        return pb_json_enum(f, (int32_t)v);
    case PB_FLOAT:
        memcpy(&fl, &u32, 4);
        return dtsi_json_double(fl);
    case PB_DOUBLE:
        memcpy(&db, &v, 8);
        return dtsi_json_double(db);
    }
    return NULL;
}

// pbd_value reads one value of field f with wire type wt at p->r.
static dts_err
pbd_value(pbd *p, const pb_field *f, int wt, unsigned depth, json_t **out)
{
    size_t at = p->base + p->r.off;
    uint64_t v;
    const uint8_t *d;
    size_t n;
    dts_err e = dtsi_budget_take(p->cx, &p->budget, at);
    if (e) return e;
    if (wt == PB_WT_VARINT || wt == PB_WT_I64 || wt == PB_WT_I32) {
        if (wt == PB_WT_VARINT ? dtsi_pb_varint(&p->r, &v) : dtsi_pb_fixed(&p->r, wt, &v))
            return pbd_bad(p->cx, at, "truncated number", f->name);
        *out = pb_scalar(f, v);
        return *out ? DTS_OK : DTS_ENOMEM;
    }
    if (dtsi_pb_len(&p->r, &d, &n)) return pbd_bad(p->cx, at, "truncated length", f->name);
    if (f->type == PB_MESSAGE)
        return pbd_message(p->cx, &p->budget, f->msg, d, n, p->base + (size_t)(d - p->r.p),
                           depth + 1, out);
    if (n > p->cx->limits->max_string)
        return dtsi_cerr(p->cx, DTS_ETOOBIG, "protobuf string at byte %zu longer than %zu", at,
                         p->cx->limits->max_string);
    if (f->type == PB_BYTES) {
        char *s = dtsi_b64_encode(d, n, &n);
        *out = s ? json_stringn_nocheck(s, n) : NULL;
        dtsi_cfree(s);
    } else {
        if (!dtsi_utf8_valid(d, n)) return pbd_bad(p->cx, at, "string not UTF-8", f->name);
        *out = json_stringn_nocheck((const char *)d, n);
    }
    return *out ? DTS_OK : DTS_ENOMEM;
}

// pbd_packed appends every element of a packed repeated scalar.
static dts_err
pbd_packed(pbd *p, const pb_field *f, json_t *arr)
{
    const uint8_t *d;
    size_t n, at = p->base + p->r.off;
    if (dtsi_pb_len(&p->r, &d, &n)) return pbd_bad(p->cx, at, "truncated length", f->name);
    pbd sub = {
        .cx = p->cx, .r = {d, n, 0}, .budget = p->budget, .base = p->base + (size_t)(d - p->r.p)};
    int wt = dtsi_pb_wire_type(f->type);
    while (sub.r.off < n) {
        json_t *v;
        dts_err e = pbd_value(&sub, f, wt, 0, &v);
        if (e) return e;
        if (json_array_append_new(arr, v)) return DTS_ENOMEM;
    }
    p->budget = sub.budget;
    return DTS_OK;
}

// pbd_map_key renders the key of a map entry as JSON object key text.
static char *
pbd_map_key(const json_t *k)
{
    char buf[32];
    if (json_is_string(k)) return dtsi_cstrndup(json_string_value(k), json_string_length(k));
    if (json_is_integer(k))
        snprintf(buf, sizeof buf, "%" PRId64, (int64_t)json_integer_value(k));
    else
        snprintf(buf, sizeof buf, "%s", json_is_true(k) ? "true" : "false");
    return dtsi_cstrndup(buf, strlen(buf));
}

static char *
pbd_map_key_default(const pb_msg *em)
{
    int t = em->nfields ? em->fields[0].type : PB_STRING;
    const char *s = t == PB_STRING ? "" : t == PB_BOOL ? "false" : "0";
    return dtsi_cstrndup(s, strlen(s));
}

// pbd_map_entry decodes one entry message of a map field into obj. A
// missing key or value takes its type's default (0, "", false, {}).
static dts_err
pbd_map_entry(pbd *p, const pb_field *f, json_t *obj, unsigned depth)
{
    json_t *e_obj;
    dts_err e = pbd_value(p, f, PB_WT_LEN, depth, &e_obj);
    if (e) return e;
    const pb_msg *em = f->msg;
    json_t *k = json_object_get(e_obj, em->nfields > 0 ? em->fields[0].json_name : "");
    json_t *v = json_object_get(e_obj, em->nfields > 1 ? em->fields[1].json_name : "");
    const pb_field *vf = em->nfields > 1 ? &em->fields[1] : NULL;
    char *key = k ? pbd_map_key(k) : pbd_map_key_default(em);
    json_t *val = v                                               ? json_incref(v)
                  : !vf                                           ? json_null()
                  : vf->type == PB_MESSAGE                        ? json_object()
                  : vf->type == PB_STRING || vf->type == PB_BYTES ? json_string("")
                                                                  : pb_scalar(vf, 0);
    json_decref(e_obj);
    if (!key || !val || json_object_set_new(obj, key, val)) e = DTS_ENOMEM;
    dtsi_cfree(key);
    return e;
}

// pbd_oneof_seen notes that oneof member f was set.
static dts_err
pbd_oneof_seen(pbd *p, const pb_field *f)
{
    if (p->nev == p->capev) {
        const pb_field **grown = dtsi_cmalloc(p->capev * 2 * sizeof *grown);
        if (!grown) return DTS_ENOMEM;
        memcpy(grown, p->ev, p->nev * sizeof *grown);
        if (p->ev != p->ev_stack) dtsi_cfree(p->ev);
        p->ev = grown;
        p->capev *= 2;
    }
    p->ev[p->nev++] = f;
    return DTS_OK;
}

// pbd_oneofs_last leaves in obj only the last member set of each oneof:
// walking the members set from the last, a member of a oneof already
// claimed by another member is removed. The claims are a small hash of
// oneof numbers sized by the members set, so the cost follows the payload.
static dts_err
pbd_oneofs_last(pbd *p, json_t *obj)
{
    if (p->nev < 2) return DTS_OK;
    size_t cap = 4;
    while (cap < p->nev * 2) cap *= 2;
    const pb_field **claim = dtsi_cmalloc(cap * sizeof *claim);
    if (!claim) return DTS_ENOMEM;
    memset(claim, 0, cap * sizeof *claim);
    for (size_t i = p->nev; i-- > 0;) {
        const pb_field *f = p->ev[i];
        size_t h = (f->oneof * 2654435761u) & (cap - 1);
        while (claim[h] && claim[h]->oneof != f->oneof) h = (h + 1) & (cap - 1);
        if (!claim[h])
            claim[h] = f;
        else if (claim[h] != f)
            json_object_del(obj, f->json_name);
    }
    dtsi_cfree(claim);
    return DTS_OK;
}

// pbd_field decodes one occurrence of a known field into obj: singular
// values replace earlier ones (last one wins, also across the members of
// a oneof), repeated ones append, packed or not, and map entries add keys.
static dts_err
pbd_field(pbd *p, const pb_field *f, int wt, json_t *obj, unsigned depth)
{
    int want = dtsi_pb_wire_type(f->type);
    int packed = f->label == PB_LABEL_REPEATED && wt == PB_WT_LEN && want != PB_WT_LEN;
    if (wt != want && !packed)
        return pbd_bad(p->cx, p->base + p->r.off, "wrong wire type", f->name);
    json_t *v;
    if (f->label != PB_LABEL_REPEATED) {
        dts_err e = pbd_value(p, f, wt, depth, &v);
        if (e) return e;
        if (f->oneof) { // the member set last goes last, as on the wire
            json_object_del(obj, f->json_name);
            if (pbd_oneof_seen(p, f)) {
                json_decref(v);
                return DTS_ENOMEM;
            }
        }
        return json_object_set_new(obj, f->json_name, v) ? DTS_ENOMEM : DTS_OK;
    }
    int is_map = f->msg && f->msg->map_entry;
    json_t *c = json_object_get(obj, f->json_name);
    if (!c) {
        c = is_map ? json_object() : json_array();
        if (!c || json_object_set_new(obj, f->json_name, c)) return DTS_ENOMEM;
    }
    if (is_map) return pbd_map_entry(p, f, c, depth);
    if (packed) return pbd_packed(p, f, c);
    dts_err e = pbd_value(p, f, wt, depth, &v);
    if (e) return e;
    return json_array_append_new(c, v) ? DTS_ENOMEM : DTS_OK;
}

static const pb_field *
pb_field_by_number(const pb_msg *m, uint32_t number)
{
    size_t lo = 0, hi = m->nfields;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->fields[mid].number == number) return &m->fields[mid];
        if (m->fields[mid].number < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

// pbd_message decodes a message body of n bytes at depth (1 for the
// top-level message). Unknown fields are skipped; groups are refused.
static dts_err
pbd_message(const dts_codec_ctx *cx, dtsi_budget *b, const pb_msg *m, const uint8_t *d, size_t n,
            size_t base, unsigned depth, json_t **out)
{
    if (depth > cx->limits->max_depth)
        return dtsi_cerr(cx, DTS_ETOOBIG, "protobuf messages nested deeper than %u at byte %zu",
                         cx->limits->max_depth, base);
    pbd p = {.cx = cx, .r = {d, n, 0}, .budget = *b, .base = base};
    p.ev = p.ev_stack;
    p.capev = sizeof p.ev_stack / sizeof p.ev_stack[0];
    json_t *obj = json_object();
    if (!obj) return DTS_ENOMEM;
    dts_err e = DTS_OK;
    while (!e && p.r.off < n) {
        uint32_t num;
        int wt;
        size_t at = base + p.r.off;
        if (dtsi_pb_tag(&p.r, &num, &wt)) {
            e = pbd_bad(cx, at, "bad tag", m->full);
            break;
        }
        const pb_field *f = pb_field_by_number(m, num);
        if (f)
            e = pbd_field(&p, f, wt, obj, depth);
        else if (dtsi_pb_skip(&p.r, wt))
            e = pbd_bad(cx, at, "bad unknown field", m->full);
    }
    *b = p.budget;
    if (!e) e = pbd_oneofs_last(&p, obj);
    if (p.ev != p.ev_stack) dtsi_cfree(p.ev);
    if (e) {
        json_decref(obj);
        return e;
    }
    *out = obj;
    return DTS_OK;
}

// ---------------------------------------------------------------------------
// Ops

typedef struct pb_state {
    pb_schema s;
} pb_state;

// protobuf_schema_parse splits "name NUL descriptor-set" and resolves the
// message.
static dts_err
protobuf_schema_parse(const dts_codec_ctx *cx, const void *schema, size_t len, void **state)
{
    const uint8_t *p = schema;
    const uint8_t *nul = len ? memchr(p, 0, len) : NULL;
    if (!nul || nul == p || nul - p > DTS_NAME_MAX)
        return dtsi_cerr(cx, DTS_EMALFORMED,
                         "protobuf schema must be \"message name, NUL, FileDescriptorSet\"");
    pb_state *st = dtsi_cmalloc(sizeof *st);
    if (!st) return DTS_ENOMEM;
    size_t nl = (size_t)(nul - p);
    dts_err e = dtsi_pb_schema_parse(cx, nul + 1, len - nl - 1, &st->s);
    char name[DTS_NAME_MAX + 1];
    memcpy(name, p, nl);
    name[nl] = 0;
    if (!e && !(st->s.root = dtsi_pb_find_msg(&st->s, name, 0)))
        e = dtsi_cerr(cx, DTS_ENOENT, "protobuf message %s not in the descriptor set", name);
    if (e) {
        dtsi_pb_schema_free(&st->s);
        dtsi_cfree(st);
        return e;
    }
    *state = st;
    return DTS_OK;
}

static void
protobuf_schema_free(void *state)
{
    pb_state *st = state;
    if (!st) return;
    dtsi_pb_schema_free(&st->s);
    dtsi_cfree(st);
}

static dts_err
protobuf_decode(const dts_codec_ctx *cx, const void *payload, size_t len, json_t **out)
{
    pb_state *st = cx->schema;
    dtsi_budget b = {0};
    if (!st) return dtsi_cerr(cx, DTS_EINVAL, "protobuf needs a schema");
    return pbd_message(cx, &b, st->s.root, len ? payload : (const uint8_t *)"", len, 0, 1, out);
}

static dts_err
protobuf_encode(const dts_codec_ctx *cx, const json_t *value, void **out, size_t *outlen)
{
    pb_state *st = cx->schema;
    if (!st) return dtsi_cerr(cx, DTS_EINVAL, "protobuf needs a schema");
    return dtsi_pb_encode(cx, st->s.root, value, out, outlen);
}

const dts_codec_ops dtsi_codec_protobuf = {
    // Format name and id.
    .name = "protobuf",
    .format = DTS_FORMAT_PROTOBUF,
    // Parses "message name, NUL, FileDescriptorSet" into a private model;
    // DTS_EMALFORMED, DTS_ENOENT (no such message), DTS_ENOTSUP (groups).
    // Pure, any thread; the state is owned by the codec until schema_free.
    .schema_parse = protobuf_schema_parse,
    .schema_free = protobuf_schema_free,
    // Walks the payload under the limits. Pure, any thread.
    // protoc's JSON mapping; the caller owns *out. Pure, any thread.
    .decode = protobuf_decode,
    // Fields in the JSON object's order, proto3 packing rules; the caller
    // owns *out (dts_codec_free). Pure, any thread. DTS_EINVAL names the
    // offending field.
    .encode = protobuf_encode,
};
