// fuzz_decompress.c: libFuzzer target for dts_decompress (src/codec/compress.c):
// any prefix and body, zstd, lz4 or blosc, under a 1 MiB cap.
#include <stdint.h>
#include <stdlib.h>

#include <dts/codec.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dts_codec_limits l = {.max_decompressed = 1 << 20};
    void *out = NULL;
    size_t n = 0;
    char err[200];
    if (dts_decompress(data, size, &l, &out, &n, err, sizeof err) == DTS_OK) {
        void *again = NULL;
        size_t m = 0;
        dts_compress(DTS_COMPRESS_ZSTD, 1, 64, out, n, &again, &m);
        dts_codec_free(again);
    }
    dts_codec_free(out);
    return 0;
}
