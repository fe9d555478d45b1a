// fuzz_codec_json.c: libFuzzer target for the json decoder (src/codec/json/).
#include "fuzz_codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_codec_one(DTS_FORMAT_JSON, NULL, 0, data, size);
    return 0;
}
