// json.c: the JSON codec, on jansson. The payload is UTF-8 JSON text (any
// value at the top); duplicate keys, integers outside int64 and NaN or
// infinity literals are refused (docs/spec/codecs.md, "json"). The schema is
// empty or a JSON document; when it is a JSON Schema (an object), values are
// checked against its supported keywords (jschema.c) on validate and encode.
#include <string.h>

#include "codec/codec_int.h"
#include "codec/json/jschema.h"

static dts_err
json_schema_parse(const dts_codec_ctx *cx, const void *schema, size_t len, void **state)
{
    json_t *v;
    *state = NULL;
    if (!len) return DTS_OK;
    dts_err e = dtsi_json_parse(cx, schema, len, &v);
    if (e) return e;
    if (!json_is_object(v)) {
        json_decref(v);
        return DTS_OK;
    }
    if (dtsi_jschema_valid(v, cx->err, cx->errcap)) {
        json_decref(v);
        return DTS_EMALFORMED; // as any other schema its codec refuses
    }
    *state = v; // a JSON Schema: kept to check values
    return DTS_OK;
}

static void
json_schema_free(void *state)
{
    json_decref(state);
}

// json_check applies the type's JSON Schema, if it has one.
static dts_err
json_check(const dts_codec_ctx *cx, const json_t *v)
{
    if (!cx->schema || dtsi_jschema_check(v, cx->schema, cx->err, cx->errcap) == 0) return DTS_OK;
    return DTS_EINVAL;
}

static dts_err
json_validate(const dts_codec_ctx *cx, const void *payload, size_t len)
{
    json_t *v;
    dts_err e = dtsi_json_parse(cx, len ? payload : "", len, &v);
    if (e) return e;
    e = json_check(cx, v);
    json_decref(v);
    return e == DTS_OK ? DTS_OK : DTS_EMALFORMED;
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
    dts_err e = json_check(cx, value);
    if (e) return e;
    e = dtsi_json_dump(cx, value, &s);
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
    // Accepts an empty schema or well-formed JSON; keeps a JSON Schema
    // (an object) to check values against. Pure.
    .schema_parse = json_schema_parse,
    .schema_free = json_schema_free,
    // Parses under the limits (prescan before jansson allocates), checks the
    // JSON Schema if any, and discards the tree. Pure, any thread.
    // DTS_EMALFORMED (also for a value the schema refuses), DTS_ETOOBIG.
    .validate = json_validate,
    // The parsed tree; the caller owns it. Pure, any thread.
    .decode = json_decode,
    // Compact text without a NUL, after the JSON Schema check (DTS_EINVAL
    // with the path of the misfit); the caller owns it. Pure, any thread.
    .encode = json_encode,
};
