// dyn.c: the dynamic Cap'n Proto codec: schema bytes, validate and decode
// (dyn.h; docs/spec/capnp.md, "Dynamic codec"). Decoding follows capnp
// 0.9.2's JsonCodec (what `capnp convert binary:json` prints) field for
// field:
//  - non-union fields in the order of the node's field list, then the
//    union's active member, only when its discriminant is not 0 or it is
//    set (the tool's order, checked over the corpus);
//  - primitive fields always (their value, defaults applied by XOR);
//    pointer fields only when the pointer is not null; groups always, as
//    nested objects;
//  - Void null, Int64/UInt64 decimal strings, other integers numbers,
//    floats numbers or "NaN"/"Infinity"/"-Infinity", enums by enumerant
//    name (the number when unknown), Text strings, Data arrays of byte
//    numbers, lists arrays (a null element of a pointer list is "" or []);
//  - AnyPointer and interfaces cannot be rendered (DTS_ENOTSUP), as with
//    the tool.
// The payload is read with the runtime's reader and its limits (traversal
// budget, nesting); the JSON it builds is bounded by max_elements,
// max_depth and max_string.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "codec/capnp/dyn_int.h"

typedef struct dyn_dec {
    const dts_codec_ctx *cx;
    dtsi_budget budget;
    dts_capnp_msg *m;
} dyn_dec;

static dts_err dec_struct(dyn_dec *d, const dtsi_cgr_node *n, const dts_capnp_struct *s,
                          unsigned depth, json_t **out);
static dts_err dec_ptr(dyn_dec *d, const dtsi_cgr_type *t, dts_capnp_ptr p, unsigned depth,
                       json_t **out);

const char *
dtsi_dyn_name(const dtsi_cgr_node *n)
{
    return dtsi_cgr_short_name(n);
}

unsigned
dtsi_dyn_esize(const dtsi_cgr_type *t)
{
    switch (t->kind) {
    case DTSI_CGR_VOID:
        return DTS_CAPNP_VOID;
    case DTSI_CGR_BOOL:
        return DTS_CAPNP_BIT;
    case DTSI_CGR_INT8:
    case DTSI_CGR_UINT8:
        return DTS_CAPNP_BYTE;
    case DTSI_CGR_INT16:
    case DTSI_CGR_UINT16:
    case DTSI_CGR_ENUM:
        return DTS_CAPNP_TWO;
    case DTSI_CGR_INT32:
    case DTSI_CGR_UINT32:
    case DTSI_CGR_FLOAT32:
        return DTS_CAPNP_FOUR;
    case DTSI_CGR_INT64:
    case DTSI_CGR_UINT64:
    case DTSI_CGR_FLOAT64:
        return DTS_CAPNP_EIGHT;
    case DTSI_CGR_STRUCT:
        return DTS_CAPNP_COMPOSITE;
    default:
        return DTS_CAPNP_POINTER;
    }
}

// dec_fail reports the reader's first error (or e with why).
static dts_err
dec_fail(dyn_dec *d, dts_err e, const char *why)
{
    const char *rw = NULL;
    dts_err me = dts_capnp_msg_error(d->m, &rw);
    if (me) return dtsi_cerr(d->cx, me, "capnp payload: %s", rw ? rw : dts_strerror(me));
    return dtsi_cerr(d->cx, e, "capnp payload: %s", why);
}

// dec_enter checks the JSON depth and counts one value.
static dts_err
dec_enter(dyn_dec *d, unsigned depth)
{
    if (depth > d->cx->limits->max_depth)
        return dtsi_cerr(d->cx, DTS_ETOOBIG, "capnp payload nested deeper than %u",
                         d->cx->limits->max_depth);
    return dtsi_budget_take(d->cx, &d->budget, 0);
}

static json_t *
dec_i64(int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    return json_string(s);
}

static json_t *
dec_u64(uint64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, v);
    return json_string(s);
}

static json_t *
dec_enum(const dtsi_cgr_type *t, uint16_t v)
{
    if (t->node && v < t->node->nenumerants) return json_string(t->node->enumerants[v].name);
    return json_integer(v);
}

// dec_scalar renders the bits of a primitive of kind k (as stored after
// the default was applied).
static json_t *
dec_scalar(const dtsi_cgr_type *t, uint64_t v)
{
    float f;
    double g;
    uint32_t u32 = (uint32_t)v;
    switch (t->kind) {
    case DTSI_CGR_VOID:
        return json_null();
    case DTSI_CGR_BOOL:
        return json_boolean(v & 1);
    case DTSI_CGR_INT8:
        return json_integer((int8_t)(uint8_t)v);
    case DTSI_CGR_INT16:
        return json_integer((int16_t)(uint16_t)v);
    case DTSI_CGR_INT32:
        return json_integer((int32_t)u32);
    case DTSI_CGR_UINT8:
    case DTSI_CGR_UINT16:
    case DTSI_CGR_UINT32:
        return json_integer(v);
    case DTSI_CGR_INT64:
        return dec_i64((int64_t)v);
    case DTSI_CGR_UINT64:
        return dec_u64(v);
    case DTSI_CGR_FLOAT32:
        memcpy(&f, &u32, 4);
        return dtsi_json_double((double)f);
    case DTSI_CGR_FLOAT64:
        memcpy(&g, &v, 8);
        return dtsi_json_double(g);
    case DTSI_CGR_ENUM:
        return dec_enum(t, (uint16_t)v);
    default:
        return NULL;
    }
}

// dec_field_bits reads a primitive field with its default.
static uint64_t
dec_field_bits(const dts_capnp_struct *s, const dtsi_cgr_field *f)
{
    uint64_t def = f->default_value.bits;
    switch (f->type.kind) {
    case DTSI_CGR_BOOL:
        return dts_capnp_get_bool(s, f->offset, def & 1);
    case DTSI_CGR_INT8:
    case DTSI_CGR_UINT8:
        return dts_capnp_get_u8(s, f->offset, (uint8_t)def);
    case DTSI_CGR_INT16:
    case DTSI_CGR_UINT16:
    case DTSI_CGR_ENUM:
        return dts_capnp_get_u16(s, f->offset, (uint16_t)def);
    case DTSI_CGR_INT32:
    case DTSI_CGR_UINT32:
    case DTSI_CGR_FLOAT32:
        return dts_capnp_get_u32(s, f->offset, (uint32_t)def);
    case DTSI_CGR_INT64:
    case DTSI_CGR_UINT64:
    case DTSI_CGR_FLOAT64:
        return dts_capnp_get_u64(s, f->offset, def);
    default:
        return 0;
    }
}

// dec_list_bits reads element i of a primitive list.
static uint64_t
dec_list_bits(const dts_capnp_list *l, const dtsi_cgr_type *t, uint32_t i)
{
    switch (dtsi_dyn_esize(t)) {
    case DTS_CAPNP_BIT:
        return dts_capnp_list_bool(l, i);
    case DTS_CAPNP_BYTE:
        return dts_capnp_list_u8(l, i);
    case DTS_CAPNP_TWO:
        return dts_capnp_list_u16(l, i);
    case DTS_CAPNP_FOUR:
        return dts_capnp_list_u32(l, i);
    case DTS_CAPNP_EIGHT:
        return dts_capnp_list_u64(l, i);
    default:
        return 0;
    }
}

static bool
dec_is_ptr(dtsi_cgr_kind k)
{
    return k >= DTSI_CGR_TEXT && k != DTSI_CGR_ENUM;
}

// dec_put adds a decoded value to a container (consuming it).
static dts_err
dec_put(json_t *c, const char *key, json_t *v)
{
    if (!v) return DTS_ENOMEM;
    int r = key ? json_object_set_new_nocheck(c, key, v) : json_array_append_new(c, v);
    return r ? DTS_ENOMEM : DTS_OK;
}

// dec_list renders a list of element type el.
static dts_err
dec_list(dyn_dec *d, const dtsi_cgr_type *el, dts_capnp_ptr p, unsigned depth, json_t **out)
{
    dts_capnp_list l;
    dts_err e = dec_enter(d, depth);
    if (e) return e;
    if (dts_capnp_read_list(p, dtsi_dyn_esize(el), &l)) return dec_fail(d, DTS_EMALFORMED, "list");
    json_t *a = json_array();
    if (!a) return DTS_ENOMEM;
    for (uint32_t i = 0; !e && i < l.count; i++) {
        json_t *v = NULL;
        if (el->kind == DTSI_CGR_STRUCT) {
            dts_capnp_struct s;
            e = dts_capnp_list_struct(&l, i, &s) ? dec_fail(d, DTS_EMALFORMED, "struct list")
                                                 : dec_struct(d, el->node, &s, depth + 1, &v);
        } else if (dec_is_ptr(el->kind)) {
            e = dec_ptr(d, el, dts_capnp_list_ptr(&l, i), depth + 1, &v);
        } else if (!(e = dtsi_budget_take(d->cx, &d->budget, 0))) {
            v = dec_scalar(el, dec_list_bits(&l, el, i));
        }
        if (!e) e = dec_put(a, NULL, v);
    }
    if (e)
        json_decref(a);
    else
        *out = a;
    return e;
}

// dec_blob renders Text (a string) or Data (an array of byte numbers).
static dts_err
dec_blob(dyn_dec *d, const dtsi_cgr_type *t, dts_capnp_ptr p, unsigned depth, json_t **out)
{
    const uint8_t *b;
    const char *s;
    size_t n;
    bool text = t->kind == DTSI_CGR_TEXT;
    if (text ? dts_capnp_read_text(p, &s, &n) : dts_capnp_read_data(p, &b, &n))
        return dec_fail(d, DTS_EMALFORMED, text ? "text" : "data");
    if (n > d->cx->limits->max_string)
        return dtsi_cerr(d->cx, DTS_ETOOBIG, "capnp %s of %zu bytes exceeds %zu",
                         text ? "text" : "data", n, d->cx->limits->max_string);
    if (text) {
        if (!dtsi_utf8_valid((const uint8_t *)s, n))
            return dtsi_cerr(d->cx, DTS_EMALFORMED, "capnp text is not UTF-8");
        *out = json_stringn_nocheck(s, n);
        return *out ? DTS_OK : DTS_ENOMEM;
    }
    dts_err e = dec_enter(d, depth);
    json_t *a = e ? NULL : json_array();
    if (!e && !a) e = DTS_ENOMEM;
    for (size_t i = 0; !e && i < n; i++)
        if (!(e = dtsi_budget_take(d->cx, &d->budget, 0))) e = dec_put(a, NULL, json_integer(b[i]));
    if (e)
        json_decref(a);
    else
        *out = a;
    return e;
}

// dec_ptr renders what pointer p holds as a value of type t.
static dts_err
dec_ptr(dyn_dec *d, const dtsi_cgr_type *t, dts_capnp_ptr p, unsigned depth, json_t **out)
{
    dts_capnp_struct s;
    dts_err e;
    switch (t->kind) {
    case DTSI_CGR_TEXT:
    case DTSI_CGR_DATA:
        if ((e = dtsi_budget_take(d->cx, &d->budget, 0))) return e;
        return dec_blob(d, t, p, depth, out);
    case DTSI_CGR_LIST:
        return dec_list(d, t->element, p, depth, out);
    case DTSI_CGR_STRUCT:
        if (dts_capnp_read_struct(p, &s)) return dec_fail(d, DTS_EMALFORMED, "struct");
        return dec_struct(d, t->node, &s, depth, out);
    default:
        return dtsi_cerr(d->cx, DTS_ENOTSUP, "capnp %s values have no JSON form",
                         t->kind == DTSI_CGR_INTERFACE ? "interface" : "AnyPointer");
    }
}

// dec_has says whether a field is written (capnp's HasMode::NON_NULL).
static bool
dec_has(const dts_capnp_struct *s, const dtsi_cgr_field *f)
{
    if (f->is_group || !dec_is_ptr(f->type.kind)) return true;
    return !dts_capnp_ptr_is_null(dts_capnp_struct_ptr(s, f->offset));
}

// dec_field renders one field of s (null when an unset union member).
static dts_err
dec_field(dyn_dec *d, const dts_capnp_struct *s, const dtsi_cgr_field *f, bool null, unsigned depth,
          json_t *obj)
{
    json_t *v = NULL;
    dts_err e = DTS_OK;
    if (null)
        v = json_null();
    else if (f->is_group)
        e = dec_struct(d, f->group, s, depth + 1, &v);
    else if (dec_is_ptr(f->type.kind))
        e = dec_ptr(d, &f->type, dts_capnp_struct_ptr(s, f->offset), depth + 1, &v);
    else if (!(e = dtsi_budget_take(d->cx, &d->budget, 0)))
        v = dec_scalar(&f->type, dec_field_bits(s, f));
    return e ? e : dec_put(obj, f->name, v);
}

// dec_union finds the active union member of s that JSON shows, or NULL.
static const dtsi_cgr_field *
dec_union(const dtsi_cgr_node *n, const dts_capnp_struct *s, bool *null)
{
    *null = false;
    if (!n->discriminant_count) return NULL;
    uint16_t which = dts_capnp_get_u16(s, n->discriminant_offset, 0);
    for (uint32_t i = 0; i < n->nfields; i++) {
        const dtsi_cgr_field *f = &n->fields[i];
        if (f->discriminant != which) continue;
        *null = !dec_has(s, f);
        return f->discriminant != 0 || !*null ? f : NULL;
    }
    return NULL;
}

static dts_err
dec_struct(dyn_dec *d, const dtsi_cgr_node *n, const dts_capnp_struct *s, unsigned depth,
           json_t **out)
{
    dts_err e = dec_enter(d, depth);
    if (e) return e;
    json_t *obj = json_object();
    if (!obj) return DTS_ENOMEM;
    bool unull;
    const dtsi_cgr_field *u = dec_union(n, s, &unull);
    for (uint32_t i = 0; !e && i < n->nfields; i++) {
        const dtsi_cgr_field *f = &n->fields[i];
        if (f->discriminant != DTSI_CGR_NO_DISCRIMINANT) continue;
        if (dec_has(s, f)) e = dec_field(d, s, f, false, depth, obj);
    }
    if (!e && u) e = dec_field(d, s, u, unull, depth, obj);
    if (e)
        json_decref(obj);
    else
        *out = obj;
    return e;
}

// dyn_open reads a payload's framing under limits derived from the codec
// limits; the whole payload must be one message.
static dts_err
dyn_open(const dts_codec_ctx *cx, const void *payload, size_t len, dts_capnp_msg *m)
{
    dts_capnp_limits lim = {.max_words = cx->limits->max_bytes / 8 + 1,
                            .nesting = cx->limits->max_depth};
    size_t used = 0;
    dts_err e = dts_capnp_msg_init_stream(m, payload, len, &lim, &used);
    if (e) return dtsi_cerr(cx, e, "capnp payload: %s", m->errmsg);
    if (used != len)
        return dtsi_cerr(cx, DTS_EMALFORMED, "capnp payload: %zu bytes after the message",
                         len - used);
    return DTS_OK;
}

static dts_err
dyn_decode(const dts_codec_ctx *cx, const void *payload, size_t len, json_t **out)
{
    const dyn_schema *sc = cx->schema;
    dts_capnp_msg m;
    dts_capnp_struct s;
    if (!sc) return dtsi_cerr(cx, DTS_EINVAL, "capnp needs a schema");
    dts_err e = dyn_open(cx, payload, len, &m);
    dyn_dec d = {.cx = cx, .m = &m};
    if (!e && dts_capnp_read_struct(dts_capnp_root(&m), &s))
        e = dec_fail(&d, DTS_EMALFORMED, "root");
    if (!e) e = dec_struct(&d, sc->root, &s, 1, out);
    dts_capnp_msg_fini(&m);
    return e;
}

// dyn_schema_parse reads "display name, NUL, CodeGeneratorRequest" and
// checks the root struct and everything it reaches.
static dts_err
dyn_schema_parse(const dts_codec_ctx *cx, const void *schema, size_t len, void **state)
{
    const uint8_t *b = schema;
    const uint8_t *nul = len ? memchr(b, 0, len < DYN_NAME_MAX + 1 ? len : DYN_NAME_MAX + 1) : NULL;
    if (!len)
        return dtsi_cerr(cx, DTS_EMALFORMED,
                         "capnp needs a schema (this type was declared without one)");
    if (!nul || nul == b)
        return dtsi_cerr(cx, DTS_EMALFORMED,
                         "capnp schema must start with the root struct's name and a NUL");
    dtsi_cgr_opts o = {.limits = {.max_words = cx->limits->max_bytes / 8 + 1}};
    dyn_schema *sc = dtsi_cmalloc(sizeof *sc);
    if (!sc) return DTS_ENOMEM;
    size_t nl = (size_t)(nul - b);
    dts_err e = dtsi_cgr_parse(nul + 1, len - nl - 1, &o, &sc->g, cx->err, cx->errcap);
    if (!e) {
        sc->root = dtsi_cgr_find_name(sc->g, (const char *)b);
        if (!sc->root)
            e = dtsi_cerr(cx, DTS_ENOENT, "capnp schema has no node %s", b);
        else
            e = dtsi_cgr_check_struct(sc->g, sc->root, cx->err, cx->errcap);
        if (e) dtsi_cgr_free(sc->g);
    }
    if (e) {
        dtsi_cfree(sc);
        return e;
    }
    *state = sc;
    return DTS_OK;
}

static void
dyn_schema_free(void *state)
{
    dyn_schema *sc = state;
    if (!sc) return;
    dtsi_cgr_free(sc->g);
    dtsi_cfree(sc);
}

const dts_codec_ops dtsi_codec_capnp = {
    // name: the format name dts_format_name prints.
    .name = "capnp",
    .format = DTS_FORMAT_CAPNP,
    // schema_parse: "root display name, NUL, CodeGeneratorRequest"; the
    // state (dyn_schema) is owned by the codec until schema_free.
    .schema_parse = dyn_schema_parse,
    .schema_free = dyn_schema_free,
    // validate: the checks of decode, nothing kept.
    // decode: stream-framed message -> JSON as `capnp convert binary:json`.
    .decode = dyn_decode,
    // encode: JSON -> stream-framed single-segment message.
    .encode = dtsi_dyn_encode,
};
