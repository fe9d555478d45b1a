// fuzz_codec_msgpack.c: libFuzzer target for the msgpack decoder (src/codec/msgpack/).
#include "fuzz_codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_codec_one(DTS_FORMAT_MSGPACK, NULL, 0, data, size);
    return 0;
}
