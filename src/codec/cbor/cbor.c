// cbor.c: the CBOR codec (RFC 8949). Decoding walks the input with
// libcbor's streaming decoder (cbor_stream_decode: one item head at a time,
// no allocation), never its tree loader cbor_load, which allocates whatever
// a header claims (5 bytes asked for 513 MiB; notes/libraries.md). Every
// declared length or count is checked against the bytes that remain before
// anything is built, nesting (arrays, maps, tags) against max_depth.
// Encoding uses libcbor's cbor_encode_* into a bounded buffer. The JSON
// mapping is in docs/spec/codecs.md, "cbor". The schema is ignored.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cbor.h>

#include "codec/codec_int.h"

typedef struct cb_rd {
    const uint8_t *p;
    size_t n;
    size_t off;
    const dts_codec_ctx *cx;
    dtsi_budget budget;
} cb_rd;

// One item head as libcbor's streaming decoder reports it: the major type,
// indefinite length, the argument (value, count, tag), for a definite
// string its bytes (within the input), for major 7 the simple value (20..23)
// or a float in d.
typedef struct cb_ev {
    int major;
    int indef;
    uint64_t arg;
    const uint8_t *data;
    int simple; // 20 false, 21 true, 22 null, 23 undefined, 25 float, 31 break
    double d;
} cb_ev;

static dts_err cb_item(cb_rd *r, unsigned depth, json_t **out);

static dts_err
cb_short(cb_rd *r)
{
    return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR truncated at byte %zu", r->off);
}

// The callbacks only record what libcbor decoded; cb_next interprets it.
#define CB_EV(ctx) ((cb_ev *)(ctx))
static void
cb_on_u8(void *c, uint8_t v)
{
    *CB_EV(c) = (cb_ev){.major = 0, .arg = v};
}
static void
cb_on_u16(void *c, uint16_t v)
{
    *CB_EV(c) = (cb_ev){.major = 0, .arg = v};
}
static void
cb_on_u32(void *c, uint32_t v)
{
    *CB_EV(c) = (cb_ev){.major = 0, .arg = v};
}
static void
cb_on_u64(void *c, uint64_t v)
{
    *CB_EV(c) = (cb_ev){.major = 0, .arg = v};
}
static void
cb_on_n8(void *c, uint8_t v)
{
    *CB_EV(c) = (cb_ev){.major = 1, .arg = v};
}
static void
cb_on_n16(void *c, uint16_t v)
{
    *CB_EV(c) = (cb_ev){.major = 1, .arg = v};
}
static void
cb_on_n32(void *c, uint32_t v)
{
    *CB_EV(c) = (cb_ev){.major = 1, .arg = v};
}
static void
cb_on_n64(void *c, uint64_t v)
{
    *CB_EV(c) = (cb_ev){.major = 1, .arg = v};
}
static void
cb_on_bytes(void *c, cbor_data d, size_t n)
{
    *CB_EV(c) = (cb_ev){.major = 2, .arg = n, .data = d};
}
static void
cb_on_bytes_start(void *c)
{
    *CB_EV(c) = (cb_ev){.major = 2, .indef = 1};
}
static void
cb_on_text(void *c, cbor_data d, size_t n)
{
    *CB_EV(c) = (cb_ev){.major = 3, .arg = n, .data = d};
}
static void
cb_on_text_start(void *c)
{
    *CB_EV(c) = (cb_ev){.major = 3, .indef = 1};
}
static void
cb_on_array(void *c, size_t n)
{
    *CB_EV(c) = (cb_ev){.major = 4, .arg = n};
}
static void
cb_on_array_start(void *c)
{
    *CB_EV(c) = (cb_ev){.major = 4, .indef = 1};
}
static void
cb_on_map(void *c, size_t n)
{
    *CB_EV(c) = (cb_ev){.major = 5, .arg = n};
}
static void
cb_on_map_start(void *c)
{
    *CB_EV(c) = (cb_ev){.major = 5, .indef = 1};
}
static void
cb_on_tag(void *c, uint64_t v)
{
    *CB_EV(c) = (cb_ev){.major = 6, .arg = v};
}
static void
cb_on_f32(void *c, float f)
{
    *CB_EV(c) = (cb_ev){.major = 7, .simple = 25, .d = f};
}
static void
cb_on_f64(void *c, double f)
{
    *CB_EV(c) = (cb_ev){.major = 7, .simple = 25, .d = f};
}
static void
cb_on_undef(void *c)
{
    *CB_EV(c) = (cb_ev){.major = 7, .simple = 23};
}
static void
cb_on_null(void *c)
{
    *CB_EV(c) = (cb_ev){.major = 7, .simple = 22};
}
static void
cb_on_bool(void *c, bool b)
{
    *CB_EV(c) = (cb_ev){.major = 7, .simple = b ? 21 : 20};
}
static void
cb_on_break(void *c)
{
    *CB_EV(c) = (cb_ev){.major = 7, .simple = 31};
}

static const struct cbor_callbacks cb_callbacks = {
    .uint8 = cb_on_u8,
    .uint16 = cb_on_u16,
    .uint32 = cb_on_u32,
    .uint64 = cb_on_u64,
    .negint8 = cb_on_n8,
    .negint16 = cb_on_n16,
    .negint32 = cb_on_n32,
    .negint64 = cb_on_n64,
    .byte_string = cb_on_bytes,
    .byte_string_start = cb_on_bytes_start,
    .string = cb_on_text,
    .string_start = cb_on_text_start,
    .array_start = cb_on_array,
    .indef_array_start = cb_on_array_start,
    .map_start = cb_on_map,
    .indef_map_start = cb_on_map_start,
    .tag = cb_on_tag,
    .float2 = cb_on_f32,
    .float4 = cb_on_f32,
    .float8 = cb_on_f64,
    .undefined = cb_on_undef,
    .null = cb_on_null,
    .boolean = cb_on_bool,
    .indef_break = cb_on_break,
};

// cb_next decodes the next item head with libcbor's streaming decoder
// (cbor_stream_decode), which allocates nothing: a definite string comes as
// a pointer into the input, and a length beyond the input is "not enough
// data", never an allocation. Counts it reports are checked by the callers
// against the bytes left before anything is built.
static dts_err
cb_next(cb_rd *r, cb_ev *ev)
{
    if (r->off >= r->n) return cb_short(r);
    struct cbor_decoder_result res =
        cbor_stream_decode(r->p + r->off, r->n - r->off, &cb_callbacks, ev);
    if (res.status == CBOR_DECODER_NEDATA) return cb_short(r);
    if (res.status != CBOR_DECODER_FINISHED)
        return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR malformed item (0x%02x) at byte %zu",
                         r->p[r->off], r->off);
    r->off += res.read;
    return DTS_OK;
}

// cb_string gathers a text or byte string, definite or made of definite
// chunks, into *s (dtsi_cfree). The total is bounded by max_string.
static dts_err
cb_string(cb_rd *r, const cb_ev *first, uint8_t **s, size_t *len)
{
    dtsi_cbuf b;
    dtsi_cbuf_init(&b, r->cx->limits->max_string);
    size_t start = r->off;
    if (!first->indef) {
        dtsi_cbuf_put(&b, first->data, (size_t)first->arg);
    } else {
        for (;;) {
            cb_ev c;
            dts_err e = cb_next(r, &c);
            if (e) return dtsi_cbuf_fini(&b), e;
            if (c.major == 7 && c.simple == 31) break;
            if (c.major != first->major || c.indef) {
                dtsi_cbuf_fini(&b);
                return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR bad string chunk at byte %zu",
                                 r->off);
            }
            dtsi_cbuf_put(&b, c.data, (size_t)c.arg);
        }
    }
    if (b.err) {
        dtsi_cbuf_fini(&b);
        return dtsi_cerr(r->cx, DTS_ETOOBIG, "CBOR string at byte %zu longer than %zu", start,
                         r->cx->limits->max_string);
    }
    return dtsi_cbuf_take(&b, (void **)s, len);
}

// cb_textbytes renders a string item (major 2 or 3).
static dts_err
cb_textbytes(cb_rd *r, const cb_ev *ev, json_t **out)
{
    int major = ev->major;
    uint8_t *s;
    size_t len, at = r->off;
    dts_err e = cb_string(r, ev, &s, &len);
    if (e) return e;
    if (major == 3 && !dtsi_utf8_valid(s, len)) {
        dtsi_cfree(s);
        return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR text at byte %zu is not UTF-8", at);
    }
    *out = major == 3 ? json_stringn_nocheck((const char *)s, len) : dtsi_json_bytes(s, len);
    dtsi_cfree(s);
    return *out ? DTS_OK : DTS_ENOMEM;
}

// cb_more says whether a container has another element: for definite ones
// by count, for indefinite ones by looking for the break byte.
static int
cb_more(cb_rd *r, int indef, uint64_t *left)
{
    if (!indef) return (*left)-- > 0;
    if (r->off < r->n && r->p[r->off] == 0xff) {
        r->off++;
        return 0;
    }
    return 1;
}

static dts_err
cb_array(cb_rd *r, int indef, uint64_t count, unsigned depth, json_t **out)
{
    if (!indef && count > r->n - r->off)
        return dtsi_cerr(r->cx, DTS_EMALFORMED,
                         "CBOR array at byte %zu claims %llu items, only %zu bytes left", r->off,
                         (unsigned long long)count, r->n - r->off);
    json_t *a = json_array();
    if (!a) return DTS_ENOMEM;
    while (cb_more(r, indef, &count)) {
        json_t *v;
        dts_err e = cb_item(r, depth, &v);
        if (e) return json_decref(a), e;
        if (json_array_append_new(a, v)) return json_decref(a), DTS_ENOMEM;
    }
    *out = a;
    return DTS_OK;
}

// cb_key reads a map key: text as is, integers as their decimal text.
static dts_err
cb_key(cb_rd *r, unsigned depth, char **key, size_t *klen)
{
    size_t at = r->off;
    json_t *k;
    dts_err e = cb_item(r, depth, &k);
    if (e) return e;
    if (json_is_integer(k)) {
        char num[24];
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(k));
        *key = dtsi_cstrndup(num, strlen(num));
    } else if (json_is_string(k) && strlen(json_string_value(k)) == json_string_length(k)) {
        *key = dtsi_cstrndup(json_string_value(k), json_string_length(k));
    } else {
        json_decref(k);
        return dtsi_cerr(r->cx, DTS_ENOTSUP,
                         "CBOR map key at byte %zu is not text (without NUL) or an integer", at);
    }
    json_decref(k);
    if (!*key) return DTS_ENOMEM;
    *klen = strlen(*key);
    return DTS_OK;
}

static dts_err
cb_map(cb_rd *r, int indef, uint64_t count, unsigned depth, json_t **out)
{
    if (!indef && (count > r->n - r->off || count * 2 > r->n - r->off))
        return dtsi_cerr(r->cx, DTS_EMALFORMED,
                         "CBOR map at byte %zu claims %llu pairs, only %zu bytes left", r->off,
                         (unsigned long long)count, r->n - r->off);
    json_t *m = json_object();
    if (!m) return DTS_ENOMEM;
    while (cb_more(r, indef, &count)) {
        char *k = NULL;
        size_t klen, at = r->off;
        json_t *v;
        dts_err e = cb_key(r, depth, &k, &klen);
        if (!e && json_object_get(m, k))
            e = dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR duplicate map key at byte %zu", at);
        if (!e) e = cb_item(r, depth, &v);
        if (!e && json_object_set_new_nocheck(m, k, v)) e = DTS_ENOMEM;
        dtsi_cfree(k);
        if (e) return json_decref(m), e;
    }
    *out = m;
    return DTS_OK;
}

// cb_simple renders major type 7: booleans, null, undefined (as null) and
// floats. Other simple values are refused by libcbor as malformed.
static dts_err
cb_simple(cb_rd *r, const cb_ev *ev, json_t **out)
{
    switch (ev->simple) {
    case 20:
        *out = json_false();
        return DTS_OK;
    case 21:
        *out = json_true();
        return DTS_OK;
    case 22:
    case 23:
        *out = json_null();
        return DTS_OK;
    case 25:
        *out = dtsi_json_double(ev->d);
        return *out ? DTS_OK : DTS_ENOMEM;
    default:
        return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR unexpected break at byte %zu", r->off - 1);
    }
}

// cb_item reads one data item at depth (the number of containers around
// it). Containers and tags count one level each.
static dts_err
cb_item(cb_rd *r, unsigned depth, json_t **out)
{
    cb_ev ev;
    size_t at = r->off;
    dts_err e = dtsi_budget_take(r->cx, &r->budget, at);
    if (!e) e = cb_next(r, &ev);
    if (e) return e;
    if ((ev.major == 4 || ev.major == 5 || ev.major == 6) && depth + 1 > r->cx->limits->max_depth)
        return dtsi_cerr(r->cx, DTS_ETOOBIG, "CBOR nested deeper than %u at byte %zu",
                         r->cx->limits->max_depth, at);
    switch (ev.major) {
    case 0:
        *out = dtsi_json_u64(ev.arg);
        return *out ? DTS_OK : DTS_ENOMEM;
    case 1:
        *out = dtsi_json_neg(ev.arg);
        return *out ? DTS_OK : DTS_ENOMEM;
    case 2:
    case 3:
        return cb_textbytes(r, &ev, out);
    case 4:
        return cb_array(r, ev.indef, ev.arg, depth + 1, out);
    case 5:
        return cb_map(r, ev.indef, ev.arg, depth + 1, out);
    case 6:
        return cb_item(r, depth + 1, out); // tags are dropped, their item kept
    default:
        return cb_simple(r, &ev, out);
    }
}

static dts_err
cbor_decode_all(const dts_codec_ctx *cx, const void *payload, size_t len, json_t **out)
{
    cb_rd r = {.p = payload, .n = len, .cx = cx};
    json_t *v;
    dts_err e = cb_item(&r, 0, &v);
    if (e) return e;
    if (r.off != len) {
        json_decref(v);
        return dtsi_cerr(cx, DTS_EMALFORMED, "CBOR has %zu bytes after the value (at byte %zu)",
                         len - r.off, r.off);
    }
    *out = v;
    return DTS_OK;
}

// ---------------------------------------------------------------------------
// Encoding

// CB_PUT runs one cbor_encode_* call into room for 9 bytes (the longest
// head) and counts what it wrote.
#define CB_PUT(b, call)                                                                            \
    do {                                                                                           \
        unsigned char *p_ = dtsi_cbuf_room((b), 9);                                                \
        if (!p_) return (b)->err;                                                                  \
        (b)->len += (call);                                                                        \
    } while (0)

static dts_err cb_enc(dtsi_cbuf *b, const json_t *v);

static dts_err
cb_enc_string(dtsi_cbuf *b, const json_t *v)
{
    double d;
    int neg;
    uint64_t mag;
    if (dtsi_json_special_double(v, &d)) {
        CB_PUT(b, cbor_encode_double(d, p_, 9));
    } else if (dtsi_json_bigint(v, &neg, &mag)) {
        CB_PUT(b, neg ? cbor_encode_negint(mag, p_, 9) : cbor_encode_uint(mag, p_, 9));
    } else {
        size_t n = json_string_length(v);
        CB_PUT(b, cbor_encode_string_start(n, p_, 9));
        if (dtsi_cbuf_put(b, json_string_value(v), n)) return b->err;
    }
    return DTS_OK;
}

static dts_err
cb_enc_object(dtsi_cbuf *b, const json_t *v)
{
    if (dtsi_json_is_bytes(v)) {
        uint8_t *d;
        size_t n;
        if (dtsi_json_bytes_get(v, &d, &n)) return DTS_EINVAL;
        unsigned char *p_ = dtsi_cbuf_room(b, 9);
        if (p_) b->len += cbor_encode_bytestring_start(n, p_, 9);
        dtsi_cbuf_put(b, d, n);
        dtsi_cfree(d);
        return b->err;
    }
    const char *k;
    json_t *m;
    CB_PUT(b, cbor_encode_map_start(json_object_size(v), p_, 9));
    json_object_foreach((json_t *)v, k, m)
    {
        size_t n = strlen(k);
        CB_PUT(b, cbor_encode_string_start(n, p_, 9));
        if (dtsi_cbuf_put(b, k, n)) return b->err;
        dts_err e = cb_enc(b, m);
        if (e) return e;
    }
    return DTS_OK;
}

// cb_enc appends one value. Depth was checked by dtsi_json_check.
static dts_err
cb_enc(dtsi_cbuf *b, const json_t *v)
{
    json_int_t i;
    switch (json_typeof(v)) {
    case JSON_NULL:
        CB_PUT(b, cbor_encode_null(p_, 9));
        return DTS_OK;
    case JSON_TRUE:
        CB_PUT(b, cbor_encode_bool(true, p_, 9));
        return DTS_OK;
    case JSON_FALSE:
        CB_PUT(b, cbor_encode_bool(false, p_, 9));
        return DTS_OK;
    case JSON_INTEGER:
        i = json_integer_value(v);
        CB_PUT(b, i >= 0 ? cbor_encode_uint((uint64_t)i, p_, 9)
                         : cbor_encode_negint((uint64_t)(-1 - i), p_, 9));
        return DTS_OK;
    case JSON_REAL:
        CB_PUT(b, cbor_encode_double(json_real_value(v), p_, 9));
        return DTS_OK;
    case JSON_STRING:
        return cb_enc_string(b, v);
    case JSON_ARRAY:
        CB_PUT(b, cbor_encode_array_start(json_array_size(v), p_, 9));
        for (size_t k = 0; k < json_array_size(v); k++) {
            dts_err e = cb_enc(b, json_array_get(v, k));
            if (e) return e;
        }
        return DTS_OK;
    case JSON_OBJECT:
        return cb_enc_object(b, v);
    }
    return DTS_EINVAL;
}

static dts_err
cbor_encode_value(const dts_codec_ctx *cx, const json_t *value, void **out, size_t *outlen)
{
    dtsi_cbuf b;
    dtsi_cbuf_init(&b, cx->limits->max_bytes);
    dts_err e = cb_enc(&b, value);
    if (e) {
        dtsi_cbuf_fini(&b);
        if (e == DTS_EINVAL) return dtsi_cerr(cx, e, "CBOR: bad base64 in a byte string");
        return dtsi_cerr(cx, e, "CBOR: payload exceeds %zu bytes", cx->limits->max_bytes);
    }
    return dtsi_cbuf_take(&b, out, outlen);
}

const dts_codec_ops dtsi_codec_cbor = {
    // Format name and id.
    .name = "cbor",
    .format = DTS_FORMAT_CBOR,
    // CBOR is self-describing: the schema is not used.
    .schema_parse = NULL,
    .schema_free = NULL,
    // Reads the whole item under the limits; trailing bytes are an error.
    // Pure, any thread. DTS_EMALFORMED, DTS_ETOOBIG, DTS_ENOTSUP.
    // The JSON mapping of the item; the caller owns *out. Pure, any thread.
    .decode = cbor_decode_all,
    // Definite-length CBOR with 64-bit floats; the caller owns *out
    // (dts_codec_free). Pure, any thread. DTS_EINVAL, DTS_ETOOBIG.
    .encode = cbor_encode_value,
};
