// fuzz_codec_cbor.c: libFuzzer target for the cbor decoder (src/codec/cbor/).
#include "fuzz_codec_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_codec_one(DTS_FORMAT_CBOR, NULL, 0, data, size);
    return 0;
}
