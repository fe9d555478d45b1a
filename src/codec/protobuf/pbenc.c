// pbenc.c: protobuf encoding from JSON with a FileDescriptorSet (for
// `dts pub --format protobuf`). Accepts what protoc's JSON parser accepts
// for the common cases: field json_name or proto name, 64-bit integers as
// numbers or decimal strings, floats as numbers or "NaN"/"Infinity"/
// "-Infinity", enums by name or number, bytes as base64, null for "not
// set" (docs/spec/codecs.md, "protobuf").
#include <float.h>
#include <math.h>
#include <string.h>

#include "codec/protobuf/pb.h"

static dts_err pbe_message(const dts_codec_ctx *cx, const pb_msg *m, const json_t *obj,
                           dtsi_cbuf *b, unsigned depth);

static int
pbe_varint(dtsi_cbuf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return dtsi_cbuf_put(b, tmp, n);
}

static int
pbe_tag(dtsi_cbuf *b, uint32_t number, int wt)
{
    return pbe_varint(b, (uint64_t)number << 3 | (unsigned)wt);
}

static int
pbe_fixed(dtsi_cbuf *b, uint64_t v, size_t k)
{
    uint8_t tmp[8];
    for (size_t i = 0; i < k; i++) tmp[i] = (uint8_t)(v >> (8 * i));
    return dtsi_cbuf_put(b, tmp, k);
}

static dts_err
pbe_bad(const dts_codec_ctx *cx, const pb_field *f, const char *want)
{
    return dtsi_cerr(cx, DTS_EINVAL, "protobuf field %s: expected %s", f->name, want);
}

// pbe_get_i64 reads an integer given as a JSON integer, a decimal string
// or an integral real.
static int
pbe_get_i64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) return *out = json_integer_value(v), 0;
    if (json_is_string(v)) return dtsi_parse_i64(json_string_value(v), json_string_length(v), out);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0) return -1;
        return *out = (int64_t)d, 0;
    }
    return -1;
}

static int
pbe_get_u64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0)
        return *out = (uint64_t)json_integer_value(v), 0;
    if (json_is_string(v)) return dtsi_parse_u64(json_string_value(v), json_string_length(v), out);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < 0 || d >= 18446744073709551616.0) return -1;
        return *out = (uint64_t)d, 0;
    }
    return -1;
}

static int
pbe_get_double(const json_t *v, double *out)
{
    if (json_is_number(v)) return *out = json_number_value(v), 0;
    return dtsi_json_special_double(v, out) ? 0 : -1;
}

static int
pbe_enum_value(const pb_field *f, const json_t *v, int64_t *out)
{
    if (json_is_string(v)) {
        for (size_t i = 0; f->en && i < f->en->nvals; i++)
            if (!strcmp(f->en->vals[i].name, json_string_value(v)))
                return *out = f->en->vals[i].number, 0;
        return -1;
    }
    return json_is_integer(v) ? (*out = json_integer_value(v), 0) : -1;
}

// pbe_signed converts signed integer types into their wire bits.
static dts_err
pbe_signed(const dts_codec_ctx *cx, const pb_field *f, const json_t *v, uint64_t *bits)
{
    int64_t i;
    int is32 =
        f->type == PB_INT32 || f->type == PB_SFIXED32 || f->type == PB_SINT32 || f->type == PB_ENUM;
    int bad = f->type == PB_ENUM ? pbe_enum_value(f, v, &i) : pbe_get_i64(v, &i);
    if (bad || (is32 && (i < INT32_MIN || i > INT32_MAX)))
        return pbe_bad(cx, f,
                       f->type == PB_ENUM ? "an enum name or number"
                       : is32             ? "a 32-bit integer"
                                          : "a 64-bit integer");
    switch (f->type) {
    case PB_SFIXED32:
        *bits = (uint32_t)(int32_t)i;
        break;
    case PB_SINT32:
        *bits = ((uint32_t)i << 1) ^ (uint32_t)((int32_t)i >> 31);
        break;
    case PB_SINT64:
        *bits = ((uint64_t)i << 1) ^ (uint64_t)(i >> 63);
        break;
    default:
        *bits = (uint64_t)i; // int32 and enums are sign-extended
    }
    return DTS_OK;
}

// pbe_bits converts a scalar JSON value into the bits that go on the wire
// for numeric types (varint, fixed32 or fixed64 encodings).
static dts_err
pbe_bits(const dts_codec_ctx *cx, const pb_field *f, const json_t *v, uint64_t *bits)
{
    uint64_t u;
    double d;
    float fl;
    uint32_t u32;
    switch (f->type) {
    case PB_UINT32:
    case PB_FIXED32:
        if (pbe_get_u64(v, &u) || u > UINT32_MAX) return pbe_bad(cx, f, "a 32-bit unsigned");
        *bits = u;
        return DTS_OK;
    case PB_UINT64:
    case PB_FIXED64:
        if (pbe_get_u64(v, &u)) return pbe_bad(cx, f, "a 64-bit unsigned");
        *bits = u;
        return DTS_OK;
    case PB_BOOL:
        if (!json_is_boolean(v)) return pbe_bad(cx, f, "true or false");
        *bits = json_is_true(v);
        return DTS_OK;
    case PB_FLOAT:
        if (pbe_get_double(v, &d)) return pbe_bad(cx, f, "a number");
        // A finite double beyond float's range has no float (converting it
        // is undefined): refused, as integers out of range are. NaN and the
        // infinities ("NaN", "Infinity") are floats.
        if (isfinite(d) && fabs(d) > FLT_MAX)
            return pbe_bad(cx, f, "a number within a float's range (3.4e38)");
        fl = (float)d;
        memcpy(&u32, &fl, 4);
        *bits = u32;
        return DTS_OK;
    case PB_DOUBLE:
        if (pbe_get_double(v, &d)) return pbe_bad(cx, f, "a number");
        memcpy(bits, &d, 8);
        return DTS_OK;
    default:
        return pbe_signed(cx, f, v, bits);
    }
}

// pbe_lenbody writes a length-delimited body: string, bytes or message.
static dts_err
pbe_lenbody(const dts_codec_ctx *cx, const pb_field *f, const json_t *v, dtsi_cbuf *b,
            unsigned depth)
{
    if (f->type == PB_STRING) {
        if (!json_is_string(v)) return pbe_bad(cx, f, "a string");
        pbe_varint(b, json_string_length(v));
        dtsi_cbuf_put(b, json_string_value(v), json_string_length(v));
        return b->err;
    }
    if (f->type == PB_BYTES) {
        uint8_t *d;
        size_t n;
        const json_t *s = json_is_string(v) ? v : NULL;
        if (dtsi_json_is_bytes(v)) s = json_object_get(v, "base64");
        if (!s || !(d = dtsi_cmalloc(json_string_length(s) / 4 * 3 + 3)))
            return s ? DTS_ENOMEM : pbe_bad(cx, f, "a base64 string");
        int bad = dtsi_b64_decode(json_string_value(s), json_string_length(s), d, &n);
        if (!bad) {
            pbe_varint(b, n);
            dtsi_cbuf_put(b, d, n);
        }
        dtsi_cfree(d);
        return bad ? pbe_bad(cx, f, "a base64 string") : b->err;
    }
    dtsi_cbuf sub;
    dtsi_cbuf_init(&sub, b->max);
    dts_err e = pbe_message(cx, f->msg, v, &sub, depth + 1);
    if (!e) {
        pbe_varint(b, sub.len);
        dtsi_cbuf_put(b, sub.p, sub.len);
        e = b->err;
    }
    dtsi_cbuf_fini(&sub);
    return e;
}

// pbe_value writes one value without its tag.
static dts_err
pbe_value(const dts_codec_ctx *cx, const pb_field *f, const json_t *v, dtsi_cbuf *b, unsigned depth)
{
    uint64_t bits = 0;
    int wt = dtsi_pb_wire_type(f->type);
    if (wt == PB_WT_LEN) return pbe_lenbody(cx, f, v, b, depth);
    dts_err e = pbe_bits(cx, f, v, &bits);
    if (e) return e;
    if (wt == PB_WT_VARINT)
        pbe_varint(b, bits);
    else
        pbe_fixed(b, bits, wt == PB_WT_I64 ? 8 : 4);
    return b->err;
}

// pbe_map writes each key of a JSON object as one entry message.
static dts_err
pbe_map(const dts_codec_ctx *cx, const pb_field *f, const json_t *v, dtsi_cbuf *b, unsigned depth)
{
    const pb_msg *em = f->msg;
    if (!json_is_object(v) || em->nfields != 2) return pbe_bad(cx, f, "an object (map)");
    const char *k;
    json_t *mv;
    json_object_foreach((json_t *)v, k, mv)
    {
        const pb_field *kf = &em->fields[0];
        json_t *kj = kf->type == PB_BOOL ? json_boolean(!strcmp(k, "true")) : json_string(k);
        dtsi_cbuf sub;
        dtsi_cbuf_init(&sub, b->max);
        pbe_tag(&sub, kf->number, dtsi_pb_wire_type(kf->type));
        dts_err e = kj ? pbe_value(cx, kf, kj, &sub, depth) : DTS_ENOMEM;
        json_decref(kj);
        if (!e && pbe_tag(&sub, em->fields[1].number, dtsi_pb_wire_type(em->fields[1].type)))
            e = sub.err;
        if (!e) e = pbe_value(cx, &em->fields[1], mv, &sub, depth + 1);
        if (!e) {
            pbe_tag(b, f->number, PB_WT_LEN);
            pbe_varint(b, sub.len);
            dtsi_cbuf_put(b, sub.p, sub.len);
            e = b->err;
        }
        dtsi_cbuf_fini(&sub);
        if (e) return e;
    }
    return DTS_OK;
}

// pbe_repeated writes an array, packed when the field says so.
static dts_err
pbe_repeated(const dts_codec_ctx *cx, const pb_field *f, const json_t *v, dtsi_cbuf *b,
             unsigned depth)
{
    if (!json_is_array(v)) return pbe_bad(cx, f, "an array");
    if (!f->packed) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            pbe_tag(b, f->number, dtsi_pb_wire_type(f->type));
            dts_err e = pbe_value(cx, f, json_array_get(v, i), b, depth);
            if (e) return e;
        }
        return DTS_OK;
    }
    if (!json_array_size(v)) return DTS_OK;
    dtsi_cbuf sub;
    dtsi_cbuf_init(&sub, b->max);
    dts_err e = DTS_OK;
    for (size_t i = 0; !e && i < json_array_size(v); i++)
        e = pbe_value(cx, f, json_array_get(v, i), &sub, depth);
    if (!e) {
        pbe_tag(b, f->number, PB_WT_LEN);
        pbe_varint(b, sub.len);
        dtsi_cbuf_put(b, sub.p, sub.len);
        e = b->err;
    }
    dtsi_cbuf_fini(&sub);
    return e;
}

static const pb_field *
pbe_field_by_name(const pb_msg *m, const char *k)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (!strcmp(m->fields[i].json_name, k) || !strcmp(m->fields[i].name, k))
            return &m->fields[i];
    return NULL;
}

static dts_err
pbe_message(const dts_codec_ctx *cx, const pb_msg *m, const json_t *obj, dtsi_cbuf *b,
            unsigned depth)
{
    if (depth > cx->limits->max_depth)
        return dtsi_cerr(cx, DTS_ETOOBIG, "protobuf messages nested deeper than %u",
                         cx->limits->max_depth);
    if (!json_is_object(obj))
        return dtsi_cerr(cx, DTS_EINVAL, "protobuf message %s: expected an object", m->full);
    // The member of each oneof that is set: two are refused, as capnp
    // refuses two members of a union (decoders would keep one).
    const pb_field **chosen = NULL;
    if (m->n_oneofs) {
        if (!(chosen = dtsi_cmalloc(m->n_oneofs * sizeof *chosen))) return DTS_ENOMEM;
        memset(chosen, 0, m->n_oneofs * sizeof *chosen);
    }
    const char *k;
    json_t *v;
    dts_err e = DTS_OK;
    json_object_foreach((json_t *)obj, k, v)
    {
        const pb_field *f = pbe_field_by_name(m, k);
        if (!f) {
            e = dtsi_cerr(cx, DTS_EINVAL, "protobuf message %s has no field %s", m->full, k);
            break;
        }
        if (json_is_null(v)) continue;
        if (f->oneof && chosen[f->oneof - 1] && chosen[f->oneof - 1] != f) {
            e = dtsi_cerr(cx, DTS_EINVAL,
                          "protobuf message %s: %s and %s are members of one oneof; set one",
                          m->full, chosen[f->oneof - 1]->json_name, f->json_name);
            break;
        }
        if (f->oneof) chosen[f->oneof - 1] = f;
        if (f->msg && f->msg->map_entry)
            e = pbe_map(cx, f, v, b, depth);
        else if (f->label == PB_LABEL_REPEATED)
            e = pbe_repeated(cx, f, v, b, depth);
        else if (pbe_tag(b, f->number, dtsi_pb_wire_type(f->type)))
            e = b->err;
        else
            e = pbe_value(cx, f, v, b, depth);
        if (e) break;
    }
    dtsi_cfree(chosen);
    return e;
}

// dtsi_pb_encode encodes a whole top-level message.
dts_err
dtsi_pb_encode(const dts_codec_ctx *cx, const pb_msg *m, const json_t *value, void **out,
               size_t *outlen)
{
    dtsi_cbuf b;
    dtsi_cbuf_init(&b, cx->limits->max_bytes);
    dts_err e = pbe_message(cx, m, value, &b, 1);
    if (e) {
        dts_err be = b.err;
        dtsi_cbuf_fini(&b);
        if (be)
            return dtsi_cerr(cx, e, "protobuf: payload exceeds %zu bytes or memory",
                             cx->limits->max_bytes);
        return e;
    }
    return dtsi_cbuf_take(&b, out, outlen);
}
