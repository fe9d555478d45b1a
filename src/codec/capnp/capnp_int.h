// capnp_int.h: helpers shared by the files of the capnp runtime (words in
// little-endian byte order, pointer fields). Not for other modules.
#ifndef DTSI_CAPNP_INT_H
#define DTSI_CAPNP_INT_H

#include <string.h>

#include <dts/capnp.h>

#define CAPNP_NULL_SEG UINT32_MAX

// cp_load reads the little-endian word at p (any alignment).
static inline uint64_t
cp_load(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

// cp_store writes v as a little-endian word at p.
static inline void
cp_store(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

// cp_loadn / cp_storen read and write an n-byte little-endian integer.
static inline uint64_t
cp_loadn(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void
cp_storen(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t
cp_le32(const uint8_t *p)
{
    return (uint32_t)cp_loadn(p, 4);
}

// Pointer fields (encoding spec, "Pointers").
static inline unsigned
cp_kind(uint64_t w)
{
    return (unsigned)(w & 3);
}
// cp_offset is the signed 30-bit word offset of a struct or list pointer.
static inline int64_t
cp_offset(uint64_t w)
{
    return (int64_t)((int32_t)(uint32_t)w >> 2);
}

// dtsi_capnp_fail records the first error of m (printf-style explanation)
// and returns err.
dts_err dtsi_capnp_fail(dts_capnp_msg *m, dts_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Bits per element of the non-composite element sizes.
static const uint8_t cp_esize_bits[8] = {0, 1, 8, 16, 32, 64, 0, 0};

#endif
