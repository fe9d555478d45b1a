// dyn_enc.c: JSON to Cap'n Proto with a dynamic schema (dyn.h;
// docs/spec/capnp.md, "Dynamic codec"). Accepts what the decoder writes
// (the mapping of `capnp convert binary:json`) and a little more: 64-bit
// integers as numbers or decimal strings, enums by name or number, Data as
// an array of byte numbers or {"base64": "..."}, null for an unset pointer.
// Unknown field names and two members of one union are refused
// (DTS_EINVAL, naming the struct and field). The message is built in one
// growing segment (no far pointers) bounded by max_bytes.
#include <math.h>
#include <string.h>

#include "codec/capnp/dyn_int.h"

typedef struct dyn_enc {
    const dts_codec_ctx *cx;
} dyn_enc;

static dts_err enc_struct(dyn_enc *x, const dtsi_cgr_node *n, const json_t *v, dts_capnp_bstruct bs,
                          unsigned depth);
static dts_err enc_ptr(dyn_enc *x, const dtsi_cgr_type *t, const json_t *v, dts_capnp_bptr p,
                       unsigned depth, const char *what);

static dts_err
enc_bad(dyn_enc *x, const char *what, const char *expected)
{
    return dtsi_cerr(x->cx, DTS_EINVAL, "capnp %s: expected %s", what, expected);
}

// enc_int reads an integer (number or decimal string) within [lo, hi]
// (signed kinds) or [0, uhi] (unsigned); returns 0 or -1.
static int
enc_int(const json_t *v, bool sign, int64_t lo, int64_t hi, uint64_t uhi, uint64_t *out)
{
    const char *s = json_string_value(v);
    if (sign) {
        int64_t i;
        if (json_is_integer(v))
            i = json_integer_value(v);
        else if (!s || dtsi_parse_i64(s, json_string_length(v), &i))
            return -1;
        if (i < lo || i > hi) return -1;
        *out = (uint64_t)i;
        return 0;
    }
    uint64_t u;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return -1;
        u = (uint64_t)json_integer_value(v);
    } else if (!s || dtsi_parse_u64(s, json_string_length(v), &u)) {
        return -1;
    }
    if (u > uhi) return -1;
    *out = u;
    return 0;
}

// enc_float reads a number or "NaN"/"Infinity"/"-Infinity".
static int
enc_float(const json_t *v, double *d)
{
    if (json_is_number(v)) {
        *d = json_number_value(v);
        return 0;
    }
    return dtsi_json_special_double(v, d) ? 0 : -1;
}

// enc_enum reads an enumerant name or number.
static int
enc_enum(const dtsi_cgr_type *t, const json_t *v, uint64_t *out)
{
    const char *s = json_string_value(v);
    if (!s) return enc_int(v, false, 0, 0, UINT16_MAX, out);
    for (uint32_t i = 0; t->node && i < t->node->nenumerants && i <= UINT16_MAX; i++)
        if (!strcmp(t->node->enumerants[i].name, s)) {
            *out = i;
            return 0;
        }
    return -1;
}

// enc_scalar turns a JSON value into the bits of a primitive of type t.
static dts_err
enc_scalar(dyn_enc *x, const dtsi_cgr_type *t, const json_t *v, const char *what, uint64_t *bits)
{
    double d;
    float f;
    *bits = 0;
    switch (t->kind) {
    case DTSI_CGR_VOID:
        return json_is_null(v) ? DTS_OK : enc_bad(x, what, "null (Void)");
    case DTSI_CGR_BOOL:
        if (!json_is_boolean(v)) return enc_bad(x, what, "true or false");
        *bits = json_is_true(v);
        return DTS_OK;
    case DTSI_CGR_INT8:
        return enc_int(v, true, INT8_MIN, INT8_MAX, 0, bits) ? enc_bad(x, what, "an Int8") : 0;
    case DTSI_CGR_INT16:
        return enc_int(v, true, INT16_MIN, INT16_MAX, 0, bits) ? enc_bad(x, what, "an Int16") : 0;
    case DTSI_CGR_INT32:
        return enc_int(v, true, INT32_MIN, INT32_MAX, 0, bits) ? enc_bad(x, what, "an Int32") : 0;
    case DTSI_CGR_INT64:
        return enc_int(v, true, INT64_MIN, INT64_MAX, 0, bits)
                   ? enc_bad(x, what, "an Int64 (number or decimal string)")
                   : 0;
    case DTSI_CGR_UINT8:
        return enc_int(v, false, 0, 0, UINT8_MAX, bits) ? enc_bad(x, what, "a UInt8") : 0;
    case DTSI_CGR_UINT16:
        return enc_int(v, false, 0, 0, UINT16_MAX, bits) ? enc_bad(x, what, "a UInt16") : 0;
    case DTSI_CGR_UINT32:
        return enc_int(v, false, 0, 0, UINT32_MAX, bits) ? enc_bad(x, what, "a UInt32") : 0;
    case DTSI_CGR_UINT64:
        return enc_int(v, false, 0, 0, UINT64_MAX, bits)
                   ? enc_bad(x, what, "a UInt64 (number or decimal string)")
                   : 0;
    case DTSI_CGR_FLOAT32:
        if (enc_float(v, &d)) return enc_bad(x, what, "a number, \"NaN\" or \"Infinity\"");
        f = (float)d;
        uint32_t u;
        memcpy(&u, &f, 4);
        *bits = u;
        return DTS_OK;
    case DTSI_CGR_FLOAT64:
        if (enc_float(v, &d)) return enc_bad(x, what, "a number, \"NaN\" or \"Infinity\"");
        memcpy(bits, &d, 8);
        return DTS_OK;
    case DTSI_CGR_ENUM:
        return enc_enum(t, v, bits) ? enc_bad(x, what, "an enumerant name") : DTS_OK;
    default:
        return enc_bad(x, what, "a primitive value");
    }
}

// enc_set_field stores a primitive field, XOR its default.
static void
enc_set_field(dts_capnp_bstruct bs, const dtsi_cgr_field *f, uint64_t v)
{
    uint64_t def = f->default_value.bits;
    switch (dtsi_dyn_esize(&f->type)) {
    case DTS_CAPNP_BIT:
        dts_capnp_set_bool(bs, f->offset, v & 1, def & 1);
        break;
    case DTS_CAPNP_BYTE:
        dts_capnp_set_u8(bs, f->offset, (uint8_t)v, (uint8_t)def);
        break;
    case DTS_CAPNP_TWO:
        dts_capnp_set_u16(bs, f->offset, (uint16_t)v, (uint16_t)def);
        break;
    case DTS_CAPNP_FOUR:
        dts_capnp_set_u32(bs, f->offset, (uint32_t)v, (uint32_t)def);
        break;
    case DTS_CAPNP_EIGHT:
        dts_capnp_set_u64(bs, f->offset, v, def);
        break;
    default:
        break;
    }
}

// enc_list builds a list of element type el from a JSON array.
static dts_err
enc_list(dyn_enc *x, const dtsi_cgr_type *el, const json_t *v, dts_capnp_bptr p, unsigned depth,
         const char *what)
{
    if (!json_is_array(v)) return enc_bad(x, what, "an array");
    size_t n = json_array_size(v);
    if (n > UINT32_MAX / 2) return dtsi_cerr(x->cx, DTS_ETOOBIG, "capnp %s: list too long", what);
    uint32_t count = (uint32_t)n;
    unsigned es = dtsi_dyn_esize(el);
    dts_err e = DTS_OK;
    if (es == DTS_CAPNP_COMPOSITE) {
        dts_capnp_blist l =
            dts_capnp_init_struct_list(p, el->node->data_words, el->node->pointers, count);
        for (uint32_t i = 0; !e && i < count; i++)
            e = enc_struct(x, el->node, json_array_get(v, i), dts_capnp_blist_struct(l, i),
                           depth + 1);
        return e;
    }
    dts_capnp_blist l = dts_capnp_init_list(p, es, count);
    for (uint32_t i = 0; !e && i < count; i++) {
        const json_t *ev = json_array_get(v, i);
        uint64_t bits;
        if (es == DTS_CAPNP_POINTER) {
            e = enc_ptr(x, el, ev, dts_capnp_blist_ptr(l, i), depth + 1, what);
        } else if (!(e = enc_scalar(x, el, ev, what, &bits))) {
            dts_capnp_blist_set(l, i, bits);
        }
    }
    return e;
}

// enc_data builds Data from an array of byte numbers or {"base64": ...}.
static dts_err
enc_data(dyn_enc *x, const json_t *v, dts_capnp_bptr p, const char *what)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (dtsi_json_is_bytes(v)) {
        if (dtsi_json_bytes_get(v, &b, &n)) return enc_bad(x, what, "valid base64");
    } else if (json_is_array(v)) {
        n = json_array_size(v);
        b = dtsi_cmalloc(n ? n : 1);
        if (!b) return DTS_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            json_int_t k = json_is_integer(e) ? json_integer_value(e) : -1;
            if (k < 0 || k > 255) {
                dtsi_cfree(b);
                return enc_bad(x, what, "an array of byte values 0..255");
            }
            b[i] = (uint8_t)k;
        }
    } else {
        return enc_bad(x, what, "an array of byte values (Data)");
    }
    dts_capnp_set_data(p, b, n);
    dtsi_cfree(b);
    return DTS_OK;
}

// enc_ptr builds what a pointer of type t holds; null leaves it null.
static dts_err
enc_ptr(dyn_enc *x, const dtsi_cgr_type *t, const json_t *v, dts_capnp_bptr p, unsigned depth,
        const char *what)
{
    if (json_is_null(v)) return DTS_OK;
    if (depth > x->cx->limits->max_depth)
        return dtsi_cerr(x->cx, DTS_ETOOBIG, "capnp value nested deeper than %u",
                         x->cx->limits->max_depth);
    switch (t->kind) {
    case DTSI_CGR_TEXT:
        if (!json_is_string(v)) return enc_bad(x, what, "a string");
        dts_capnp_set_text(p, json_string_value(v), json_string_length(v));
        return DTS_OK;
    case DTSI_CGR_DATA:
        return enc_data(x, v, p, what);
    case DTSI_CGR_LIST:
        return enc_list(x, t->element, v, p, depth, what);
    case DTSI_CGR_STRUCT:
        if (!json_is_object(v)) return enc_bad(x, what, "an object");
        return enc_struct(x, t->node, v,
                          dts_capnp_init_struct(p, t->node->data_words, t->node->pointers), depth);
    default:
        return dtsi_cerr(x->cx, DTS_EINVAL, "capnp %s: %s values cannot be given as JSON", what,
                         t->kind == DTSI_CGR_INTERFACE ? "interface" : "AnyPointer");
    }
}

// enc_find returns the field of n called name, or NULL.
static const dtsi_cgr_field *
enc_find(const dtsi_cgr_node *n, const char *name)
{
    for (uint32_t i = 0; i < n->nfields; i++)
        if (!strcmp(n->fields[i].name, name)) return &n->fields[i];
    return NULL;
}

// enc_field stores one member of a JSON object into struct bs of node n.
static dts_err
enc_field(dyn_enc *x, const dtsi_cgr_node *n, const dtsi_cgr_field *f, const json_t *v,
          dts_capnp_bstruct bs, unsigned depth)
{
    char what[160];
    snprintf(what, sizeof what, "field %s.%s", dtsi_dyn_name(n), f->name);
    if (f->discriminant != DTSI_CGR_NO_DISCRIMINANT)
        dts_capnp_set_u16(bs, n->discriminant_offset, f->discriminant, 0);
    if (f->is_group) {
        if (json_is_null(v)) return DTS_OK;
        if (!json_is_object(v)) return enc_bad(x, what, "an object (group)");
        return enc_struct(x, f->group, v, bs, depth + 1);
    }
    uint64_t bits;
    dtsi_cgr_kind k = f->type.kind;
    if (k >= DTSI_CGR_TEXT && k != DTSI_CGR_ENUM)
        return enc_ptr(x, &f->type, v, dts_capnp_bstruct_ptr(bs, f->offset), depth + 1, what);
    dts_err e = enc_scalar(x, &f->type, v, what, &bits);
    if (!e) enc_set_field(bs, f, bits);
    return e;
}

static dts_err
enc_struct(dyn_enc *x, const dtsi_cgr_node *n, const json_t *v, dts_capnp_bstruct bs,
           unsigned depth)
{
    const char *key;
    const json_t *fv;
    const dtsi_cgr_field *chosen = NULL;
    if (!json_is_object(v))
        return dtsi_cerr(x->cx, DTS_EINVAL, "capnp struct %s: expected an object",
                         dtsi_dyn_name(n));
    if (depth > x->cx->limits->max_depth)
        return dtsi_cerr(x->cx, DTS_ETOOBIG, "capnp value nested deeper than %u",
                         x->cx->limits->max_depth);
    json_object_foreach((json_t *)v, key, fv)
    {
        const dtsi_cgr_field *f = enc_find(n, key);
        if (!f)
            return dtsi_cerr(x->cx, DTS_EINVAL, "capnp struct %s has no field '%s'",
                             dtsi_dyn_name(n), key);
        if (f->discriminant != DTSI_CGR_NO_DISCRIMINANT) {
            if (chosen)
                return dtsi_cerr(x->cx, DTS_EINVAL,
                                 "capnp struct %s: '%s' and '%s' are members of one union",
                                 dtsi_dyn_name(n), chosen->name, f->name);
            chosen = f;
        }
        dts_err e = enc_field(x, n, f, fv, bs, depth);
        if (e) return e;
    }
    return DTS_OK;
}

dts_err
dtsi_dyn_encode(const dts_codec_ctx *cx, const json_t *value, void **out, size_t *outlen)
{
    const dyn_schema *sc = cx->schema;
    dyn_enc x = {.cx = cx};
    dts_capnp_builder b;
    uint64_t words = cx->limits->max_bytes / 8;
    dts_capnp_builder_opts o = {.single = true, .seg_words = 64, .max_words = words ? words : 1};
    if (!sc) return dtsi_cerr(cx, DTS_EINVAL, "capnp needs a schema");
    dts_err e = dts_capnp_builder_init(&b, &o);
    if (e) return e;
    const dtsi_cgr_node *r = sc->root;
    e = enc_struct(&x, r, value,
                   dts_capnp_init_struct(dts_capnp_broot(&b), r->data_words, r->pointers), 1);
    if (!e && (e = dts_capnp_builder_error(&b)))
        dtsi_cerr(cx, e, "capnp message: %s",
                  e == DTS_ETOOBIG ? "larger than max_bytes" : dts_strerror(e));
    uint8_t *buf = NULL;
    size_t n = 0;
    if (!e) e = dts_capnp_builder_write(&b, false, &buf, &n);
    dts_capnp_builder_fini(&b);
    if (!e && n > cx->limits->max_bytes) {
        dtsi_cfree(buf);
        e = dtsi_cerr(cx, DTS_ETOOBIG, "capnp message of %zu bytes exceeds %zu", n,
                      cx->limits->max_bytes);
    }
    if (e) return e;
    *out = buf;
    *outlen = n;
    return DTS_OK;
}
