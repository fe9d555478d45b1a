// json.c: the JSON codec, on jansson. The payload is UTF-8 JSON text (any
// value at the top); duplicate keys, integers outside int64 and NaN or
// infinity literals are refused (docs/spec/codecs.md, "json"). The schema is
// empty or a JSON document (meant for a JSON Schema); it is checked to be
// well-formed JSON but not yet enforced.
#include <string.h>

#include "codec/codec_int.h"

static dts_err
json_schema_parse(const dts_codec_ctx *cx, const void *schema, size_t len, void **state)
{
    json_t *v;
    *state = NULL;
    if (!len) return DTS_OK;
    dts_err e = dtsi_json_parse(cx, schema, len, &v);
    if (e) return e;
    json_decref(v);
    return DTS_OK;
}

static dts_err
json_validate(const dts_codec_ctx *cx, const void *payload, size_t len)
{
    json_t *v;
    dts_err e = dtsi_json_parse(cx, len ? payload : "", len, &v);
    if (!e) json_decref(v);
    return e;
}

static dts_err
json_decode(const dts_codec_ctx *cx, const void *payload, size_t len, json_t **out)
{
    return dtsi_json_parse(cx, len ? payload : "", len, out);
}

// json_encode renders compact text. The tree cannot hold NaN or infinities
// (jansson refuses them), so the output is always strict JSON.
static dts_err
json_encode(const dts_codec_ctx *cx, const json_t *value, void **out, size_t *outlen)
{
    char *s;
    dts_err e = dtsi_json_dump(cx, value, &s);
    if (e) return e;
    size_t n = strlen(s);
    if (n > cx->limits->max_bytes) {
        dtsi_cfree(s);
        return dtsi_cerr(cx, DTS_ETOOBIG, "JSON text of %zu bytes exceeds %zu", n,
                         cx->limits->max_bytes);
    }
    *out = s;
    *outlen = n;
    return DTS_OK;
}

const dts_codec_ops dtsi_codec_json = {
    // Format name and id.
    .name = "json",
    .format = DTS_FORMAT_JSON,
    // Accepts an empty schema or well-formed JSON; keeps nothing. Pure.
    .schema_parse = json_schema_parse,
    .schema_free = NULL,
    // Parses under the limits (prescan before jansson allocates) and
    // discards the tree. Pure, any thread. DTS_EMALFORMED, DTS_ETOOBIG.
    .validate = json_validate,
    // The parsed tree; the caller owns it. Pure, any thread.
    .decode = json_decode,
    // Compact text without a NUL; the caller owns it. Pure, any thread.
    .encode = json_encode,
};
