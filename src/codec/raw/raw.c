// raw.c: the raw-bytes codec. The payload is any bytes; the schema is
// empty or a media type ("text/plain", "image/png"). JSON rendering: a
// string when the bytes are printable UTF-8, else {"base64": "..."}
// (docs/spec/codecs.md, "raw").
#include <string.h>

#include "codec/codec_int.h"

#define RAW_MEDIA_TYPE_MAX 255

// raw_schema_parse accepts an empty schema or a media type of printable
// ASCII without spaces; nothing is kept.
static dts_err
raw_schema_parse(const dts_codec_ctx *cx, const void *schema, size_t len, void **state)
{
    const uint8_t *s = schema;
    *state = NULL;
    if (len > RAW_MEDIA_TYPE_MAX)
        return dtsi_cerr(cx, DTS_EMALFORMED, "raw media type longer than %d bytes",
                         RAW_MEDIA_TYPE_MAX);
    for (size_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return dtsi_cerr(cx, DTS_EMALFORMED, "raw media type has byte 0x%02x at %zu", s[i], i);
    return DTS_OK;
}

static dts_err
raw_validate(const dts_codec_ctx *cx, const void *payload, size_t len)
{
    return DTS_OK;
}

static dts_err
raw_decode(const dts_codec_ctx *cx, const void *payload, size_t len, json_t **out)
{
    const uint8_t *p = len ? payload : (const uint8_t *)"";
    json_t *v =
        dtsi_text_printable(p, len) ? json_stringn((const char *)p, len) : dtsi_json_bytes(p, len);
    if (!v) return dtsi_cerr(cx, DTS_ENOMEM, "out of memory rendering raw bytes");
    *out = v;
    return DTS_OK;
}

static dts_err
raw_encode(const dts_codec_ctx *cx, const json_t *value, void **out, size_t *outlen)
{
    dtsi_cbuf b;
    dtsi_cbuf_init(&b, cx->limits->max_bytes);
    if (json_is_string(value)) {
        dtsi_cbuf_put(&b, json_string_value(value), json_string_length(value));
    } else if (dtsi_json_is_bytes(value)) {
        uint8_t *d;
        size_t n;
        if (dtsi_json_bytes_get(value, &d, &n)) return dtsi_cerr(cx, DTS_EINVAL, "raw: bad base64");
        dtsi_cbuf_put(&b, d, n);
        dtsi_cfree(d);
    } else {
        return dtsi_cerr(cx, DTS_EINVAL, "raw: expected a string or {\"base64\": \"...\"}");
    }
    dts_err e = dtsi_cbuf_take(&b, out, outlen);
    return e ? dtsi_cerr(cx, e, "raw: payload exceeds %zu bytes", cx->limits->max_bytes) : e;
}

const dts_codec_ops dtsi_codec_raw = {
    // Format name and id.
    .name = "raw",
    .format = DTS_FORMAT_RAW,
    // Checks the optional media type; keeps nothing. Pure, any thread.
    .schema_parse = raw_schema_parse,
    .schema_free = NULL,
    // Every byte string is a valid raw payload. Pure, any thread.
    .validate = raw_validate,
    // Printable UTF-8 becomes a string, anything else {"base64"}. The caller
    // owns *out. Pure, any thread; DTS_ENOMEM only.
    .decode = raw_decode,
    // A string's bytes, or the bytes of {"base64"}. The caller owns *out.
    // Pure, any thread; DTS_EINVAL for other values, DTS_ETOOBIG.
    .encode = raw_encode,
};
