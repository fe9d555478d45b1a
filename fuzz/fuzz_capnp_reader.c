// fuzz_capnp_reader.c: libFuzzer target for the capnp reader
// (src/codec/capnp/capnp_read.c, capnp_msg.c, capnp_copy.c). The input is a
// stream-framed message (and, when a whole number of words, also a flat
// one). A valid message is traversed completely (canonical form), copied
// into a builder with small segments (far and double-far pointers) and read
// back: the copy must have the same canonical form. Limits are small so
// that each run stays fast.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dts/capnp.h>
#include "codec/codec_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const dts_capnp_limits fuzz_limits = {
    .max_segments = 64, .max_words = 1u << 14, .traversal_words = 1u << 16, .nesting = 32};

// check_copy copies m into a builder of seg_words-word segments and checks
// that the copy's canonical form equals canon.
static void
check_copy(dts_capnp_msg *m, uint32_t seg_words, const uint8_t *canon, size_t canon_len)
{
    dts_capnp_builder b;
    dts_capnp_builder_opts o = {
        .seg_words = seg_words, .max_words = 1u << 16, .max_segments = 1u << 16};
    uint8_t *out = NULL, *canon2 = NULL;
    size_t outlen, canon2_len;
    m->budget = m->limits.traversal_words;
    if (dts_capnp_builder_init(&b, &o)) return;
    if (dts_capnp_copy(dts_capnp_root(m), dts_capnp_broot(&b), false) == DTS_OK &&
        dts_capnp_builder_write(&b, false, &out, &outlen) == DTS_OK) {
        dts_capnp_msg m2;
        dts_capnp_limits l = {.max_segments = 1u << 16,
                              .max_words = 1u << 17,
                              .traversal_words = 1u << 18,
                              .nesting = 32};
        if (dts_capnp_msg_init_stream(&m2, out, outlen, &l, NULL) != DTS_OK ||
            dts_capnp_canonicalize(&m2, &canon2, &canon2_len) != DTS_OK)
            abort(); // our own output must read back
        if (canon2_len != canon_len || memcmp(canon2, canon, canon_len) != 0) abort();
        dts_capnp_msg_fini(&m2);
    }
    dtsi_cfree(canon2);
    dtsi_cfree(out);
    dts_capnp_builder_fini(&b);
}

// run canonicalizes one framed message and, when valid, checks a copy.
static void
run(dts_capnp_msg *m, dts_err e, uint32_t seg_words)
{
    uint8_t *canon = NULL;
    size_t n = 0;
    if (e == DTS_OK && dts_capnp_canonicalize(m, &canon, &n) == DTS_OK)
        check_copy(m, seg_words, canon, n);
    dtsi_cfree(canon);
    dts_capnp_msg_fini(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dts_capnp_msg m;
    uint32_t seg_words = size ? 1 + data[size - 1] % 8 : 1;
    run(&m, dts_capnp_msg_init_stream(&m, data, size, &fuzz_limits, NULL), seg_words);
    if (size % 8 == 0) run(&m, dts_capnp_msg_init_flat(&m, data, size, &fuzz_limits), seg_words);
    return 0;
}
