// fuzz_capnp_unpack.c: libFuzzer target for capnp packing
// (src/codec/capnp/capnp_msg.c). Any input is unpacked under a 256 KiB cap;
// what unpacks must pack and unpack back to the same bytes, and is then
// read as a packed message and canonicalized.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dts/capnp.h>
#include "codec/codec_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *raw = NULL, *back = NULL;
    size_t n = 0, m = 0;
    if (dts_capnp_unpack(data, size, 256u << 10, &raw, &n) == DTS_OK) {
        uint8_t *packed = malloc(dts_capnp_pack_bound(n));
        size_t p = dts_capnp_pack(raw, n, packed);
        if (p > dts_capnp_pack_bound(n)) abort();
        if (dts_capnp_unpack(packed, p, n, &back, &m) != DTS_OK || m != n ||
            memcmp(back, raw, n) != 0)
            abort();
        free(packed);
    }
    dtsi_cfree(back);
    dtsi_cfree(raw);
    dts_capnp_msg msg;
    dts_capnp_limits l = {
        .max_segments = 64, .max_words = 1u << 14, .traversal_words = 1u << 16, .nesting = 32};
    if (dts_capnp_msg_init_packed(&msg, data, size, &l) == DTS_OK) {
        uint8_t *canon = NULL;
        size_t cn;
        dts_capnp_canonicalize(&msg, &canon, &cn);
        dtsi_cfree(canon);
    }
    dts_capnp_msg_fini(&msg);
    return 0;
}
