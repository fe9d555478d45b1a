// cbor.c: the CBOR codec (RFC 8949). Decoding is our own bounded
// recursive-descent reader, because libcbor's cbor_load allocates whatever
// a header claims (5 bytes asked for 513 MiB; notes/libraries.md). Every
// declared length or count is checked against the bytes that remain before
// anything is allocated, nesting (arrays, maps, tags) against max_depth.
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

#define CB_INDEF 31

static dts_err cb_item(cb_rd *r, unsigned depth, json_t **out);

static dts_err
cb_short(cb_rd *r)
{
    return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR truncated at byte %zu", r->off);
}

// cb_head reads an initial byte and its argument. For ai 31 (indefinite
// length or break) *arg is 0. Reserved ai values 28..30 are malformed.
static dts_err
cb_head(cb_rd *r, int *major, uint8_t *ai, uint64_t *arg)
{
    if (r->off >= r->n) return cb_short(r);
    uint8_t c = r->p[r->off++];
    *major = c >> 5;
    *ai = c & 31;
    *arg = 0;
    if (*ai < 24) {
        *arg = *ai;
        return DTS_OK;
    }
    if (*ai == CB_INDEF) return DTS_OK;
    if (*ai > 27)
        return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR reserved value 0x%02x at byte %zu", c,
                         r->off - 1);
    size_t len = (size_t)1 << (*ai - 24);
    if (r->n - r->off < len) return cb_short(r);
    for (size_t i = 0; i < len; i++) *arg = *arg << 8 | r->p[r->off++];
    return DTS_OK;
}

// cb_half converts an IEEE 754 half-precision value.
static double
cb_half(uint16_t h)
{
    int ex = (h >> 10) & 0x1f;
    double m = h & 0x3ff;
    double v;
    if (ex == 0)
        v = ldexp(m, -24);
    else if (ex == 31)
        v = m == 0 ? INFINITY : NAN;
    else
        v = ldexp(m + 1024, ex - 25);
    return (h & 0x8000) ? -v : v;
}

// cb_string reads a text or byte string, definite or made of definite
// chunks, into *s (dtsi_cfree). The total is bounded by max_string.
static dts_err
cb_string(cb_rd *r, int major, uint8_t ai, uint64_t arg, uint8_t **s, size_t *len)
{
    dtsi_cbuf b;
    dtsi_cbuf_init(&b, r->cx->limits->max_string);
    size_t start = r->off;
    if (ai != CB_INDEF) {
        if (arg > r->n - r->off) return cb_short(r);
        dtsi_cbuf_put(&b, r->p + r->off, (size_t)arg);
        r->off += (size_t)arg;
    } else {
        for (;;) {
            int m;
            uint8_t cai;
            uint64_t clen;
            dts_err e = cb_head(r, &m, &cai, &clen);
            if (e) return dtsi_cbuf_fini(&b), e;
            if (m == 7 && cai == CB_INDEF) break;
            if (m != major || cai == CB_INDEF || clen > r->n - r->off) {
                dtsi_cbuf_fini(&b);
                return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR bad string chunk at byte %zu",
                                 r->off);
            }
            dtsi_cbuf_put(&b, r->p + r->off, (size_t)clen);
            r->off += (size_t)clen;
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
cb_textbytes(cb_rd *r, int major, uint8_t ai, uint64_t arg, json_t **out)
{
    uint8_t *s;
    size_t len, at = r->off;
    dts_err e = cb_string(r, major, ai, arg, &s, &len);
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
cb_more(cb_rd *r, uint8_t ai, uint64_t *left)
{
    if (ai != CB_INDEF) return (*left)-- > 0;
    if (r->off < r->n && r->p[r->off] == 0xff) {
        r->off++;
        return 0;
    }
    return 1;
}

static dts_err
cb_array(cb_rd *r, uint8_t ai, uint64_t count, unsigned depth, json_t **out)
{
    if (ai != CB_INDEF && count > r->n - r->off)
        return dtsi_cerr(r->cx, DTS_EMALFORMED,
                         "CBOR array at byte %zu claims %llu items, only %zu bytes left", r->off,
                         (unsigned long long)count, r->n - r->off);
    json_t *a = json_array();
    if (!a) return DTS_ENOMEM;
    while (cb_more(r, ai, &count)) {
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
cb_map(cb_rd *r, uint8_t ai, uint64_t count, unsigned depth, json_t **out)
{
    if (ai != CB_INDEF && (count > r->n - r->off || count * 2 > r->n - r->off))
        return dtsi_cerr(r->cx, DTS_EMALFORMED,
                         "CBOR map at byte %zu claims %llu pairs, only %zu bytes left", r->off,
                         (unsigned long long)count, r->n - r->off);
    json_t *m = json_object();
    if (!m) return DTS_ENOMEM;
    while (cb_more(r, ai, &count)) {
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
// floats. Other simple values have no JSON form.
static dts_err
cb_simple(cb_rd *r, uint8_t ai, uint64_t arg, json_t **out)
{
    switch (ai) {
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
        *out = dtsi_json_double(cb_half((uint16_t)arg));
        break;
    case 26: {
        uint32_t u = (uint32_t)arg;
        float f;
        memcpy(&f, &u, 4);
        *out = dtsi_json_double(f);
        break;
    }
    case 27: {
        double d;
        memcpy(&d, &arg, 8);
        *out = dtsi_json_double(d);
        break;
    }
    case CB_INDEF:
        return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR unexpected break at byte %zu", r->off - 1);
    default:
        return dtsi_cerr(r->cx, DTS_ENOTSUP, "CBOR simple value %llu at byte %zu",
                         (unsigned long long)arg, r->off - 1);
    }
    return *out ? DTS_OK : DTS_ENOMEM;
}

// cb_item reads one data item at depth (the number of containers around
// it). Containers and tags count one level each.
static dts_err
cb_item(cb_rd *r, unsigned depth, json_t **out)
{
    int major;
    uint8_t ai;
    uint64_t arg;
    size_t at = r->off;
    dts_err e = dtsi_budget_take(r->cx, &r->budget, at);
    if (!e) e = cb_head(r, &major, &ai, &arg);
    if (e) return e;
    if (ai == CB_INDEF && major < 2)
        return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR bad indefinite length at byte %zu", at);
    if ((major == 4 || major == 5 || major == 6) && depth + 1 > r->cx->limits->max_depth)
        return dtsi_cerr(r->cx, DTS_ETOOBIG, "CBOR nested deeper than %u at byte %zu",
                         r->cx->limits->max_depth, at);
    switch (major) {
    case 0:
        *out = dtsi_json_u64(arg);
        return *out ? DTS_OK : DTS_ENOMEM;
    case 1:
        *out = dtsi_json_neg(arg);
        return *out ? DTS_OK : DTS_ENOMEM;
    case 2:
    case 3:
        return cb_textbytes(r, major, ai, arg, out);
    case 4:
        return cb_array(r, ai, arg, depth + 1, out);
    case 5:
        return cb_map(r, ai, arg, depth + 1, out);
    case 6:
        if (ai == CB_INDEF) return dtsi_cerr(r->cx, DTS_EMALFORMED, "CBOR bad tag at byte %zu", at);
        return cb_item(r, depth + 1, out);
    default:
        return cb_simple(r, ai, arg, out);
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

static dts_err
cbor_validate(const dts_codec_ctx *cx, const void *payload, size_t len)
{
    json_t *v;
    dts_err e = cbor_decode_all(cx, payload, len, &v);
    if (!e) json_decref(v);
    return e;
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
    .validate = cbor_validate,
    // The JSON mapping of the item; the caller owns *out. Pure, any thread.
    .decode = cbor_decode_all,
    // Definite-length CBOR with 64-bit floats; the caller owns *out
    // (dts_codec_free). Pure, any thread. DTS_EINVAL, DTS_ETOOBIG.
    .encode = cbor_encode_value,
};
