// fuzz_codec_json.c: libFuzzer target for the json decoder (src/codec/json/)
// and its JSON Schema checker. Schemas come from the network (discovery's
// SCHEMA_ANS) as payloads do: an input with a NUL byte is a schema (before
// it) and a value (after it); one without is a value of a type without a
// schema.
#include "fuzz_codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) {
        fuzz_codec_one(DTS_FORMAT_JSON, NULL, 0, data, size);
        return 0;
    }
    size_t slen = (size_t)(nul - data);
    fuzz_codec_one(DTS_FORMAT_JSON, data, slen, nul + 1, size - slen - 1);
    return 0;
}
