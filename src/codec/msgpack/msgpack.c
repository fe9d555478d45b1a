// msgpack.c: the MessagePack codec on msgpuck. Decoding walks the buffer
// item by item: for each one the mp_check_* function of its type confirms
// that the header is there, mp_decode_* reads it, and we check every
// declared length or count against the bytes that remain before going on.
// msgpuck's whole-buffer mp_check is not used: it adds a 32-bit count to an
// int (`dd ff ff ff ff` wraps the counter and passes), and msgpack-c's
// unpacker reserves gigabytes on 6 bytes (notes/libraries.md). Encoding
// uses mp_encode_* into a bounded buffer. The JSON mapping is in
// docs/spec/codecs.md, "msgpack". The schema is ignored.
#include <stdio.h>
#include <string.h>

#include <msgpuck.h>

#include "codec/codec_int.h"

typedef struct mp_rd {
    const char *p;
    const char *end;
    const dts_codec_ctx *cx;
    dtsi_budget budget;
} mp_rd;

static dts_err mpk_item(mp_rd *r, const char **cur, unsigned depth, json_t **out);

static dts_err
mpk_short(mp_rd *r, const char *at)
{
    return dtsi_cerr(r->cx, DTS_EMALFORMED, "MessagePack truncated at byte %zu",
                     (size_t)(at - r->p));
}

// mpk_str reads a str or bin body of len bytes at *cur.
static dts_err
mpk_str(mp_rd *r, const char **cur, uint32_t len, int is_str, json_t **out)
{
    size_t at = (size_t)(*cur - r->p);
    if (len > (size_t)(r->end - *cur)) return mpk_short(r, *cur);
    if (len > r->cx->limits->max_string)
        return dtsi_cerr(r->cx, DTS_ETOOBIG, "MessagePack string at byte %zu longer than %zu", at,
                         r->cx->limits->max_string);
    const uint8_t *s = (const uint8_t *)*cur;
    *cur += len;
    if (!is_str) {
        *out = dtsi_json_bytes(s, len);
    } else {
        if (!dtsi_utf8_valid(s, len))
            return dtsi_cerr(r->cx, DTS_EMALFORMED, "MessagePack str at byte %zu is not UTF-8", at);
        *out = json_stringn_nocheck((const char *)s, len);
    }
    return *out ? DTS_OK : DTS_ENOMEM;
}

static dts_err
mpk_array(mp_rd *r, const char **cur, uint32_t count, unsigned depth, json_t **out)
{
    if (count > (size_t)(r->end - *cur))
        return dtsi_cerr(r->cx, DTS_EMALFORMED,
                         "MessagePack array at byte %zu claims %u items, only %zu bytes left",
                         (size_t)(*cur - r->p), count, (size_t)(r->end - *cur));
    json_t *a = json_array();
    if (!a) return DTS_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        json_t *v;
        dts_err e = mpk_item(r, cur, depth, &v);
        if (e) return json_decref(a), e;
        if (json_array_append_new(a, v)) return json_decref(a), DTS_ENOMEM;
    }
    *out = a;
    return DTS_OK;
}

// mpk_key reads a map key: a str without NUL, or an integer as decimal.
static dts_err
mpk_key(mp_rd *r, const char **cur, unsigned depth, char **key)
{
    size_t at = (size_t)(*cur - r->p);
    json_t *k;
    dts_err e = mpk_item(r, cur, depth, &k);
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
                         "MessagePack map key at byte %zu is not a str (without NUL) or integer",
                         at);
    }
    json_decref(k);
    return *key ? DTS_OK : DTS_ENOMEM;
}

static dts_err
mpk_map(mp_rd *r, const char **cur, uint32_t count, unsigned depth, json_t **out)
{
    if ((uint64_t)count * 2 > (size_t)(r->end - *cur))
        return dtsi_cerr(r->cx, DTS_EMALFORMED,
                         "MessagePack map at byte %zu claims %u pairs, only %zu bytes left",
                         (size_t)(*cur - r->p), count, (size_t)(r->end - *cur));
    json_t *m = json_object();
    if (!m) return DTS_ENOMEM;
    for (uint32_t i = 0; i < count; i++) {
        char *k = NULL;
        json_t *v;
        size_t at = (size_t)(*cur - r->p);
        dts_err e = mpk_key(r, cur, depth, &k);
        if (e) return json_decref(m), e;
        if (json_object_get(m, k))
            e = dtsi_cerr(r->cx, DTS_EMALFORMED, "MessagePack duplicate map key at byte %zu", at);
        if (!e) e = mpk_item(r, cur, depth, &v);
        if (!e && json_object_set_new_nocheck(m, k, v)) e = DTS_ENOMEM;
        dtsi_cfree(k);
        if (e) return json_decref(m), e;
    }
    *out = m;
    return DTS_OK;
}

// mpk_scalar reads nil, bool, integers and floats once their check passed.
static dts_err
mpk_scalar(mp_rd *r, const char **cur, enum mp_type t, json_t **out)
{
    switch (t) {
    case MP_NIL:
        mp_decode_nil(cur);
        *out = json_null();
        break;
    case MP_BOOL:
        *out = json_boolean(mp_decode_bool(cur));
        break;
    case MP_UINT:
        *out = dtsi_json_u64(mp_decode_uint(cur));
        break;
    case MP_INT:
        *out = json_integer(mp_decode_int(cur));
        break;
    case MP_FLOAT:
        *out = dtsi_json_double(mp_decode_float(cur));
        break;
    case MP_DOUBLE:
        *out = dtsi_json_double(mp_decode_double(cur));
        break;
    default:
        return dtsi_cerr(r->cx, DTS_ENOTSUP, "MessagePack ext or unused type 0x%02x at byte %zu",
                         (uint8_t) * *cur, (size_t)(*cur - r->p));
    }
    return *out ? DTS_OK : DTS_ENOMEM;
}

// mpk_header_ok runs the mp_check_* of the item's type: > 0 means the
// header is cut short. Types without a check function (ext) return 0 and
// are refused later.
static ptrdiff_t
mpk_header_ok(enum mp_type t, const char *cur, const char *end)
{
    switch (t) {
    case MP_NIL:
        return mp_check_nil(cur, end);
    case MP_BOOL:
        return mp_check_bool(cur, end);
    case MP_UINT:
        return mp_check_uint(cur, end);
    case MP_INT:
        return mp_check_int(cur, end);
    case MP_FLOAT:
        return mp_check_float(cur, end);
    case MP_DOUBLE:
        return mp_check_double(cur, end);
    case MP_STR:
        return mp_check_strl(cur, end);
    case MP_BIN:
        return mp_check_binl(cur, end);
    case MP_ARRAY:
        return mp_check_array(cur, end);
    case MP_MAP:
        return mp_check_map(cur, end);
    default:
        return 0;
    }
}

// mpk_item reads one value at depth (containers around it).
static dts_err
mpk_item(mp_rd *r, const char **cur, unsigned depth, json_t **out)
{
    dts_err e = dtsi_budget_take(r->cx, &r->budget, (size_t)(*cur - r->p));
    if (e) return e;
    if (*cur >= r->end) return mpk_short(r, *cur);
    enum mp_type t = mp_typeof(**cur);
    if (mpk_header_ok(t, *cur, r->end) > 0) return mpk_short(r, *cur);
    if ((t == MP_ARRAY || t == MP_MAP) && depth + 1 > r->cx->limits->max_depth)
        return dtsi_cerr(r->cx, DTS_ETOOBIG, "MessagePack nested deeper than %u at byte %zu",
                         r->cx->limits->max_depth, (size_t)(*cur - r->p));
    switch (t) {
    case MP_STR:
        return mpk_str(r, cur, mp_decode_strl(cur), 1, out);
    case MP_BIN:
        return mpk_str(r, cur, mp_decode_binl(cur), 0, out);
    case MP_ARRAY:
        return mpk_array(r, cur, mp_decode_array(cur), depth + 1, out);
    case MP_MAP:
        return mpk_map(r, cur, mp_decode_map(cur), depth + 1, out);
    default:
        return mpk_scalar(r, cur, t, out);
    }
}

static dts_err
msgpack_decode(const dts_codec_ctx *cx, const void *payload, size_t len, json_t **out)
{
    const char *p = len ? payload : "";
    mp_rd r = {.p = p, .end = p + len, .cx = cx};
    const char *cur = p;
    json_t *v;
    dts_err e = mpk_item(&r, &cur, 0, &v);
    if (e) return e;
    if (cur != r.end) {
        json_decref(v);
        return dtsi_cerr(cx, DTS_EMALFORMED,
                         "MessagePack has %zu bytes after the value (at byte %zu)",
                         (size_t)(r.end - cur), (size_t)(cur - p));
    }
    *out = v;
    return DTS_OK;
}

// ---------------------------------------------------------------------------
// Encoding

// MP_PUT reserves room for the longest header (9 bytes) and runs one
// mp_encode_* call, which returns the new end.
#define MP_PUT(b, call)                                                                            \
    do {                                                                                           \
        char *p_ = (char *)dtsi_cbuf_room((b), 9);                                                 \
        if (!p_) return (b)->err;                                                                  \
        (b)->len += (size_t)((call)-p_);                                                           \
    } while (0)

static dts_err mpk_enc(dtsi_cbuf *b, const json_t *v);

static dts_err
mpk_enc_text(dtsi_cbuf *b, const char *s, size_t n)
{
    if (n > UINT32_MAX) return DTS_ETOOBIG;
    MP_PUT(b, mp_encode_strl(p_, (uint32_t)n));
    return dtsi_cbuf_put(b, s, n) ? b->err : DTS_OK;
}

static dts_err
mpk_enc_string(dtsi_cbuf *b, const json_t *v)
{
    double d;
    int neg;
    uint64_t mag;
    if (dtsi_json_special_double(v, &d)) {
        MP_PUT(b, mp_encode_double(p_, d));
        return DTS_OK;
    }
    if (dtsi_json_bigint(v, &neg, &mag)) {
        if (neg) return DTS_EINVAL; // MessagePack stops at INT64_MIN
        MP_PUT(b, mp_encode_uint(p_, mag));
        return DTS_OK;
    }
    return mpk_enc_text(b, json_string_value(v), json_string_length(v));
}

static dts_err
mpk_enc_object(dtsi_cbuf *b, const json_t *v)
{
    if (dtsi_json_is_bytes(v)) {
        uint8_t *d;
        size_t n;
        if (dtsi_json_bytes_get(v, &d, &n)) return DTS_EINVAL;
        char *p_ = (char *)dtsi_cbuf_room(b, 9);
        if (p_ && n <= UINT32_MAX) b->len += (size_t)(mp_encode_binl(p_, (uint32_t)n) - p_);
        dtsi_cbuf_put(b, d, n);
        dtsi_cfree(d);
        return b->err;
    }
    const char *k;
    json_t *m;
    MP_PUT(b, mp_encode_map(p_, (uint32_t)json_object_size(v)));
    json_object_foreach((json_t *)v, k, m)
    {
        dts_err e = mpk_enc_text(b, k, strlen(k));
        if (!e) e = mpk_enc(b, m);
        if (e) return e;
    }
    return DTS_OK;
}

// mpk_enc appends one value. Depth was checked by dtsi_json_check.
static dts_err
mpk_enc(dtsi_cbuf *b, const json_t *v)
{
    json_int_t i;
    switch (json_typeof(v)) {
    case JSON_NULL:
        MP_PUT(b, mp_encode_nil(p_));
        return DTS_OK;
    case JSON_TRUE:
        MP_PUT(b, mp_encode_bool(p_, true));
        return DTS_OK;
    case JSON_FALSE:
        MP_PUT(b, mp_encode_bool(p_, false));
        return DTS_OK;
    case JSON_INTEGER:
        i = json_integer_value(v);
        MP_PUT(b, i >= 0 ? mp_encode_uint(p_, (uint64_t)i) : mp_encode_int(p_, i));
        return DTS_OK;
    case JSON_REAL:
        MP_PUT(b, mp_encode_double(p_, json_real_value(v)));
        return DTS_OK;
    case JSON_STRING:
        return mpk_enc_string(b, v);
    case JSON_ARRAY:
        MP_PUT(b, mp_encode_array(p_, (uint32_t)json_array_size(v)));
        for (size_t k = 0; k < json_array_size(v); k++) {
            dts_err e = mpk_enc(b, json_array_get(v, k));
            if (e) return e;
        }
        return DTS_OK;
    case JSON_OBJECT:
        return mpk_enc_object(b, v);
    }
    return DTS_EINVAL;
}

static dts_err
msgpack_encode(const dts_codec_ctx *cx, const json_t *value, void **out, size_t *outlen)
{
    dtsi_cbuf b;
    dtsi_cbuf_init(&b, cx->limits->max_bytes);
    dts_err e = mpk_enc(&b, value);
    if (e) {
        dtsi_cbuf_fini(&b);
        if (e == DTS_EINVAL)
            return dtsi_cerr(cx, e, "MessagePack: bad base64 or integer below INT64_MIN");
        return dtsi_cerr(cx, e, "MessagePack: payload exceeds %zu bytes", cx->limits->max_bytes);
    }
    return dtsi_cbuf_take(&b, out, outlen);
}

const dts_codec_ops dtsi_codec_msgpack = {
    // Format name and id.
    .name = "msgpack",
    .format = DTS_FORMAT_MSGPACK,
    // MessagePack is self-describing: the schema is not used.
    .schema_parse = NULL,
    .schema_free = NULL,
    // Reads the whole value under the limits; trailing bytes are an error.
    // Pure, any thread. DTS_EMALFORMED, DTS_ETOOBIG, DTS_ENOTSUP (ext).
    // The JSON mapping of the value; the caller owns *out. Pure, any thread.
    .decode = msgpack_decode,
    // Smallest integer encodings, 64-bit floats; the caller owns *out
    // (dts_codec_free). Pure, any thread. DTS_EINVAL, DTS_ETOOBIG.
    .encode = msgpack_encode,
};
