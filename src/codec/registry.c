// registry.c: the table of built-in codecs and the public codec API
// (include/dts/codec.h). The rest of dts reaches a codec only through
// this table (DESIGN.md decision 8): adding a format means adding a folder
// and one line below.
#include <string.h>
#include <strings.h>

#include "codec/capnp/dyn.h"
#include "codec/codec_int.h"

static const dts_codec_ops *const codec_table[] = {
    &dtsi_codec_raw,     &dtsi_codec_json,     &dtsi_codec_cbor,
    &dtsi_codec_msgpack, &dtsi_codec_protobuf, &dtsi_codec_capnp,
};
#define CODEC_COUNT (sizeof codec_table / sizeof codec_table[0])

struct dts_codec_schema {
    const dts_codec_ops *ops;
    dts_codec_limits limits;
    void *state;
    uint64_t id;
};

void
dts_codec_limits_init(dts_codec_limits *l)
{
    l->max_bytes = DTS_CODEC_MAX_BYTES;
    l->max_depth = DTS_CODEC_MAX_DEPTH;
    l->max_elements = DTS_CODEC_MAX_ELEMENTS;
    l->max_string = DTS_CODEC_MAX_STRING;
    l->max_decompressed = DTS_CODEC_MAX_DECOMPRESSED;
}

// limits_resolve copies in (or the defaults) with each zero field
// replaced by its default.
static void
limits_resolve(const dts_codec_limits *in, dts_codec_limits *out)
{
    dts_codec_limits d;
    dts_codec_limits_init(&d);
    if (!in) {
        *out = d;
        return;
    }
    out->max_bytes = in->max_bytes ? in->max_bytes : d.max_bytes;
    out->max_depth = in->max_depth ? in->max_depth : d.max_depth;
    out->max_elements = in->max_elements ? in->max_elements : d.max_elements;
    out->max_string = in->max_string ? in->max_string : d.max_string;
    out->max_decompressed = in->max_decompressed ? in->max_decompressed : d.max_decompressed;
}

const dts_codec_ops *
dts_codec_find(dts_format format)
{
    for (size_t i = 0; i < CODEC_COUNT; i++)
        if (codec_table[i]->format == format) return codec_table[i];
    return NULL;
}

const dts_codec_ops *
dts_codec_find_name(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < CODEC_COUNT; i++)
        if (!strcasecmp(codec_table[i]->name, name)) return codec_table[i];
    return NULL;
}

// schema_ctx prepares the context every op receives.
static dts_codec_ctx
schema_ctx(const dts_codec_schema *s, char *err, size_t errcap)
{
    if (err && errcap) err[0] = 0;
    return (dts_codec_ctx){.limits = &s->limits, .schema = s->state, .err = err, .errcap = errcap};
}

dts_err
dts_codec_schema_alloc(dts_format format, const void *schema, size_t schema_len,
                       const dts_codec_limits *limits, dts_codec_schema **out, char *err,
                       size_t errcap)
{
    const dts_codec_ops *ops = dts_codec_find(format);
    if (!out || (schema_len && !schema)) return DTS_EINVAL;
    if (!ops) {
        dtsi_errbuf(err, errcap, "no codec for format %s", dts_format_name(format));
        return DTS_ENOTSUP;
    }
    dts_codec_schema *s = dtsi_cmalloc(sizeof *s);
    if (!s) return DTS_ENOMEM;
    memset(s, 0, sizeof *s);
    s->ops = ops;
    limits_resolve(limits, &s->limits);
    s->id = dts_schema_id(format, schema, schema_len);
    dts_codec_ctx cx = schema_ctx(s, err, errcap);
    dts_err e = ops->schema_parse ? ops->schema_parse(&cx, schema, schema_len, &s->state) : DTS_OK;
    if (e) {
        dtsi_cfree(s);
        return e;
    }
    *out = s;
    return DTS_OK;
}

void
dts_codec_schema_free(dts_codec_schema *s)
{
    if (!s) return;
    if (s->ops->schema_free) s->ops->schema_free(s->state);
    dtsi_cfree(s);
}

uint64_t
dts_codec_schema_id(const dts_codec_schema *s)
{
    return s ? s->id : 0;
}

dts_format
dts_codec_schema_format(const dts_codec_schema *s)
{
    return s ? s->ops->format : DTS_FORMAT_RAW;
}

// null_schema answers a call given no compiled schema (a failed
// dts_codec_schema_alloc whose result was not checked, say).
static dts_err
null_schema(char *err, size_t errcap)
{
    dtsi_errbuf(err, errcap, "no schema (NULL): compile one with dts_codec_schema_alloc");
    return DTS_EINVAL;
}

// payload_check refuses payloads above max_bytes before any codec runs.
static dts_err
payload_check(const dts_codec_ctx *cx, const void *payload, size_t len)
{
    if (len && !payload) return DTS_EINVAL;
    if (len > cx->limits->max_bytes)
        return dtsi_cerr(cx, DTS_ETOOBIG, "payload of %zu bytes exceeds %zu", len,
                         cx->limits->max_bytes);
    return DTS_OK;
}

dts_err
dts_codec_validate(const dts_codec_schema *s, const void *payload, size_t len, char *err,
                   size_t errcap)
{
    if (!s) return null_schema(err, errcap);
    dts_codec_ctx cx = schema_ctx(s, err, errcap);
    dts_err e = payload_check(&cx, payload, len);
    if (e || s->ops->validate) return e ? e : s->ops->validate(&cx, payload, len);
    json_t *v = NULL; // a codec without a validator of its own: decode, discard
    e = s->ops->decode(&cx, payload, len, &v);
    json_decref(v);
    return e;
}

dts_err
dts_codec_decode(const dts_codec_schema *s, const void *payload, size_t len, json_t **out,
                 char *err, size_t errcap)
{
    if (!s) return null_schema(err, errcap);
    dts_codec_ctx cx = schema_ctx(s, err, errcap);
    dts_err e = payload_check(&cx, payload, len);
    if (!out) return DTS_EINVAL;
    return e ? e : s->ops->decode(&cx, payload, len, out);
}

dts_err
dts_codec_encode(const dts_codec_schema *s, const json_t *value, void **out, size_t *outlen,
                 char *err, size_t errcap)
{
    if (!s) return null_schema(err, errcap);
    dts_codec_ctx cx = schema_ctx(s, err, errcap);
    if (!value || !out || !outlen) return DTS_EINVAL;
    dts_err e = dtsi_json_check(&cx, value);
    return e ? e : s->ops->encode(&cx, value, out, outlen);
}

dts_err
dts_codec_decode_json(const dts_codec_schema *s, const void *payload, size_t len, char **json_out,
                      char *err, size_t errcap)
{
    json_t *v = NULL;
    if (!json_out) return DTS_EINVAL;
    dts_err e = dts_codec_decode(s, payload, len, &v, err, errcap);
    if (e) return e;
    dts_codec_ctx cx = schema_ctx(s, err, errcap);
    e = dtsi_json_dump(&cx, v, json_out);
    json_decref(v);
    return e;
}

dts_err
dts_codec_json_text(const json_t *value, char **out)
{
    if (!value || !out) return DTS_EINVAL;
    dts_codec_limits l;
    dts_codec_limits_init(&l);
    l.max_bytes = SIZE_MAX / 8; // bounded by what the value holds
    dts_codec_ctx cx = {.limits = &l};
    return dtsi_json_dump(&cx, value, out);
}

dts_err
dts_codec_encode_json(const dts_codec_schema *s, const char *json, size_t len, void **out,
                      size_t *outlen, char *err, size_t errcap)
{
    json_t *v = NULL;
    if (!s) return null_schema(err, errcap);
    dts_codec_ctx cx = schema_ctx(s, err, errcap);
    if (!json || !out || !outlen) return DTS_EINVAL;
    dts_err e = dtsi_json_parse(&cx, json, len, &v);
    if (e) return e;
    e = s->ops->encode(&cx, v, out, outlen);
    json_decref(v);
    return e;
}

dts_err
dts_codec_to_json(dts_format format, const void *schema, size_t schema_len, const void *payload,
                  size_t len, const dts_codec_limits *limits, char **json_out, char *err,
                  size_t errcap)
{
    dts_codec_schema *s;
    dts_err e = dts_codec_schema_alloc(format, schema, schema_len, limits, &s, err, errcap);
    if (e) return e;
    e = dts_codec_decode_json(s, payload, len, json_out, err, errcap);
    dts_codec_schema_free(s);
    return e;
}

dts_err
dts_codec_from_json(dts_format format, const void *schema, size_t schema_len, const char *message,
                    const char *json, size_t json_len, const dts_codec_limits *limits, void **out,
                    size_t *outlen, char *err, size_t errcap)
{
    void *built = NULL;
    size_t built_len = 0;
    dts_codec_schema *s;
    dts_err e;
    if (format == DTS_FORMAT_PROTOBUF && message) {
        e = dts_codec_protobuf_schema_make(message, schema, schema_len, &built, &built_len, err,
                                           errcap);
        if (e) return e;
        schema = built;
        schema_len = built_len;
    }
    e = dts_codec_schema_alloc(format, schema, schema_len, limits, &s, err, errcap);
    if (!e) {
        e = dts_codec_encode_json(s, json, json_len, out, outlen, err, errcap);
        dts_codec_schema_free(s);
    }
    dtsi_cfree(built);
    return e;
}
