// fuzz_codec_common.h: the property every codec fuzz target checks. The
// input is decoded under small limits; when it decodes, the JSON is
// encoded again and that payload must decode too. Crashes, leaks and
// sanitizer reports are the findings.
#ifndef DTS_FUZZ_CODEC_COMMON_H
#define DTS_FUZZ_CODEC_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dts/codec.h>

static void
fuzz_codec_one(dts_format f, const void *schema, size_t slen, const uint8_t *data, size_t size)
{
    dts_codec_limits l = {
        .max_depth = 32, .max_elements = 20000, .max_bytes = 1 << 20, .max_string = 1 << 16};
    dts_codec_schema *s;
    char err[256], *json = NULL;
    if (dts_codec_schema_alloc(f, schema, slen, &l, &s, err, sizeof err)) return;
    dts_codec_validate(s, data, size, err, sizeof err);
    if (dts_codec_decode_json(s, data, size, &json, err, sizeof err) == DTS_OK) {
        void *p = NULL;
        size_t n = 0;
        if (dts_codec_encode_json(s, json, strlen(json), &p, &n, err, sizeof err) == DTS_OK) {
            char *again = NULL;
            dts_err e = dts_codec_decode_json(s, p, n, &again, err, sizeof err);
            if (e != DTS_OK && e != DTS_ETOOBIG) abort();
            dts_codec_free(again);
        }
        dts_codec_free(p);
        dts_codec_free(json);
    }
    dts_codec_schema_free(s);
}

#endif
