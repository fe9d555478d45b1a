// compress.c: payload compression (docs/spec/codecs.md, "Compression
// framing"). A compressed payload carries a 5-byte prefix: the algorithm
// and the original size (u32 little endian). The size is checked against
// max_decompressed before anything is allocated, and each library's own
// claim (zstd frame content size, blosc header) must agree with it, so a
// payload claiming 1 GiB costs nothing. Pure, any thread.
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <blosc.h>
#include <lz4.h>
#include <zstd.h>

#include "codec/codec_int.h"

static const char *const alg_names[] = {"none", "zstd", "lz4", "blosc"};

// libblosc is opened on first use (dlopen) rather than linked: it pulls in
// snappy and with it the C++ runtime, some 0.9 MiB resident in every
// process that links the codecs, blosc user or not (PERFORMANCE.md,
// "Memory"). The Debian package libblosc1 provides it.
static struct {
    __typeof__(&blosc_compress_ctx) compress_ctx;
    __typeof__(&blosc_decompress_ctx) decompress_ctx;
    __typeof__(&blosc_cbuffer_validate) cbuffer_validate;
    __typeof__(&blosc_cbuffer_sizes) cbuffer_sizes;
} blosc_fn;
static int blosc_loaded;
static pthread_once_t blosc_once = PTHREAD_ONCE_INIT;

static void
blosc_open(void)
{
    void *h = dlopen("libblosc.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    *(void **)&blosc_fn.compress_ctx = dlsym(h, "blosc_compress_ctx");
    *(void **)&blosc_fn.decompress_ctx = dlsym(h, "blosc_decompress_ctx");
    *(void **)&blosc_fn.cbuffer_validate = dlsym(h, "blosc_cbuffer_validate");
    *(void **)&blosc_fn.cbuffer_sizes = dlsym(h, "blosc_cbuffer_sizes");
    blosc_loaded = blosc_fn.compress_ctx && blosc_fn.decompress_ctx && blosc_fn.cbuffer_validate &&
                   blosc_fn.cbuffer_sizes;
}

// blosc_available opens libblosc once; 0 when it cannot be loaded.
static int
blosc_available(void)
{
    pthread_once(&blosc_once, blosc_open);
    return blosc_loaded;
}

const char *
dts_compress_alg_name(dts_compress_alg alg)
{
    return (unsigned)alg < 4 ? alg_names[alg] : "unknown";
}

dts_err
dts_compress_alg_parse(const char *name, dts_compress_alg *out)
{
    for (unsigned i = 0; name && i < 4; i++)
        if (!strcasecmp(name, alg_names[i])) return *out = (dts_compress_alg)i, DTS_OK;
    return DTS_ENOTSUP;
}

// level_ok says whether level means something for alg (0 is its default):
// zstd's levels (negative ones faster, up to ZSTD_maxCLevel), lz4's
// acceleration (1 and up, faster and larger), blosc's 1 to 9.
static int
level_ok(dts_compress_alg alg, int level)
{
    if (level == 0) return 1;
    if (alg == DTS_COMPRESS_ZSTD) return level >= ZSTD_minCLevel() && level <= ZSTD_maxCLevel();
    if (alg == DTS_COMPRESS_LZ4) return level >= 1 && level <= 65537; // LZ4_ACCELERATION_MAX
    return level >= 1 && level <= 9;
}

// comp_run compresses into dst (cap bytes) and returns the compressed size,
// or 0 when it failed or did not fit.
static size_t
comp_run(dts_compress_alg alg, int level, const void *in, size_t len, uint8_t *dst, size_t cap)
{
    if (alg == DTS_COMPRESS_ZSTD) {
        size_t r = ZSTD_compress(dst, cap, in, len, level ? level : 3);
        return ZSTD_isError(r) ? 0 : r;
    }
    if (alg == DTS_COMPRESS_LZ4) {
        int r = LZ4_compress_fast(in, (char *)dst, (int)len, (int)cap, level > 0 ? level : 1);
        return r > 0 ? (size_t)r : 0;
    }
    size_t ts = len % 8 == 0 ? 8 : 1;
    int r =
        blosc_fn.compress_ctx(level ? level : 5, BLOSC_SHUFFLE, ts, len, in, dst, cap, "lz4", 0, 1);
    return r > 0 ? (size_t)r : 0;
}

// comp_bound is the destination size that always suffices.
static size_t
comp_bound(dts_compress_alg alg, size_t len)
{
    if (alg == DTS_COMPRESS_ZSTD) return ZSTD_compressBound(len);
    if (alg == DTS_COMPRESS_LZ4) return (size_t)LZ4_compressBound((int)len);
    return len + BLOSC_MAX_OVERHEAD;
}

dts_err
dts_compress(dts_compress_alg alg, int level, size_t threshold, const void *in, size_t len,
             void **out, size_t *outlen)
{
    if (!out || !outlen || (len && !in)) return DTS_EINVAL;
    *out = NULL;
    *outlen = 0;
    if (alg == DTS_COMPRESS_NONE) return DTS_OK;
    if ((unsigned)alg > DTS_COMPRESS_BLOSC) return DTS_ENOTSUP;
    if (alg == DTS_COMPRESS_BLOSC && !blosc_available()) return DTS_ENOTSUP;
    if (!level_ok(alg, level)) return DTS_EINVAL;
    if (len > UINT32_MAX || len > (size_t)LZ4_MAX_INPUT_SIZE) return DTS_ETOOBIG;
    if (len < (threshold ? threshold : DTS_COMPRESS_THRESHOLD)) return DTS_OK;
    size_t cap = comp_bound(alg, len);
    uint8_t *b = dtsi_cmalloc(DTS_COMPRESS_HEADER + cap);
    if (!b) return DTS_ENOMEM;
    size_t n = comp_run(alg, level, in, len, b + DTS_COMPRESS_HEADER, cap);
    if (n == 0 || n + DTS_COMPRESS_HEADER >= len) {
        dtsi_cfree(b); // no gain: send it as it is
        return DTS_OK;
    }
    b[0] = (uint8_t)alg;
    for (int i = 0; i < 4; i++) b[1 + i] = (uint8_t)(len >> (8 * i));
    *out = b;
    *outlen = n + DTS_COMPRESS_HEADER;
    return DTS_OK;
}

// decomp_claims checks what the compressed data itself says about its
// size against the prefix, so a library never works toward a larger claim.
static dts_err
decomp_claims(int alg, const uint8_t *src, size_t n, size_t orig, char *err, size_t errcap)
{
    if (alg == DTS_COMPRESS_ZSTD) {
        unsigned long long c = ZSTD_getFrameContentSize(src, n);
        if (c == ZSTD_CONTENTSIZE_ERROR || (c != ZSTD_CONTENTSIZE_UNKNOWN && c != orig)) {
            dtsi_errbuf(err, errcap, "zstd frame size disagrees with the prefix (%zu)", orig);
            return DTS_EMALFORMED;
        }
    } else if (alg == DTS_COMPRESS_BLOSC) {
        size_t nbytes = 0;
        if (!blosc_available()) {
            dtsi_errbuf(err, errcap, "blosc: libblosc.so.1 cannot be loaded");
            return DTS_ENOTSUP;
        }
        if (n < BLOSC_MIN_HEADER_LENGTH || blosc_fn.cbuffer_validate(src, n, &nbytes) < 0 ||
            nbytes != orig) {
            dtsi_errbuf(err, errcap, "blosc header disagrees with the prefix (%zu)", orig);
            return DTS_EMALFORMED;
        }
        size_t nb, cb, bs;
        blosc_fn.cbuffer_sizes(src, &nb, &cb, &bs);
        if (cb != n) {
            dtsi_errbuf(err, errcap, "blosc header says %zu compressed bytes, have %zu", cb, n);
            return DTS_EMALFORMED;
        }
    } else if (n > INT_MAX) {
        return DTS_ETOOBIG;
    }
    return DTS_OK;
}

// decomp_run decompresses into dst of exactly orig bytes and returns the
// size produced, or (size_t)-1 on any error.
static size_t
decomp_run(int alg, const uint8_t *src, size_t n, uint8_t *dst, size_t orig)
{
    if (alg == DTS_COMPRESS_ZSTD) {
        ZSTD_DCtx *dc = ZSTD_createDCtx();
        if (!dc) return (size_t)-1;
        ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 27);
        size_t r = ZSTD_decompressDCtx(dc, dst, orig, src, n);
        ZSTD_freeDCtx(dc);
        return ZSTD_isError(r) ? (size_t)-1 : r;
    }
    if (alg == DTS_COMPRESS_LZ4) {
        int r = LZ4_decompress_safe((const char *)src, (char *)dst, (int)n, (int)orig);
        return r < 0 ? (size_t)-1 : (size_t)r;
    }
    int r = blosc_fn.decompress_ctx(src, dst, orig, 1);
    return r < 0 || (r == 0 && orig != 0) ? (size_t)-1 : (size_t)r;
}

dts_err
dts_decompress(const void *in, size_t len, const dts_codec_limits *limits, void **out,
               size_t *outlen, char *err, size_t errcap)
{
    const uint8_t *p = in;
    size_t cap =
        limits && limits->max_decompressed ? limits->max_decompressed : DTS_CODEC_MAX_DECOMPRESSED;
    if (!out || !outlen || (len && !in)) return DTS_EINVAL;
    if (len < DTS_COMPRESS_HEADER) {
        dtsi_errbuf(err, errcap, "compressed payload of %zu bytes has no prefix", len);
        return DTS_EMALFORMED;
    }
    int alg = p[0];
    size_t orig = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16 | (size_t)p[4] << 24;
    if (alg < DTS_COMPRESS_ZSTD || alg > DTS_COMPRESS_BLOSC) {
        dtsi_errbuf(err, errcap, "unknown compression algorithm %d", alg);
        return DTS_ENOTSUP;
    }
    if (orig > cap || orig > (size_t)INT_MAX) {
        dtsi_errbuf(err, errcap, "compressed payload claims %zu bytes, limit %zu", orig, cap);
        return DTS_ETOOBIG;
    }
    const uint8_t *src = p + DTS_COMPRESS_HEADER;
    size_t n = len - DTS_COMPRESS_HEADER;
    dts_err e = decomp_claims(alg, src, n, orig, err, errcap);
    if (e) return e;
    uint8_t *dst = dtsi_cmalloc(orig);
    if (!dst) return DTS_ENOMEM;
    if (decomp_run(alg, src, n, dst, orig) != orig) {
        dtsi_cfree(dst);
        dtsi_errbuf(err, errcap, "%s data is corrupt or not %zu bytes long",
                    dts_compress_alg_name((dts_compress_alg)alg), orig);
        return DTS_EMALFORMED;
    }
    *out = dst;
    *outlen = orig;
    return DTS_OK;
}

// ---------------------------------------------------------------------------
// The node's compressor (dts_compressor in <dts/dts.h>)

static dts_err
node_compress(int alg, int level, size_t threshold, const void *in, size_t len, void **out,
              size_t *out_len)
{
    if (alg < DTS_COMPRESS_ZSTD || alg > DTS_COMPRESS_BLOSC) return DTS_ENOTSUP;
    return dts_compress((dts_compress_alg)alg, level, threshold, in, len, out, out_len);
}

static dts_err
node_decompress(const void *in, size_t len, size_t max, void **out, size_t *out_len)
{
    dts_codec_limits lim = {.max_decompressed = max ? max : DTS_CODEC_MAX_DECOMPRESSED};
    return dts_decompress(in, len, &lim, out, out_len, NULL, 0);
}

static const dts_compressor codec_compressor = {
    .compress = node_compress,
    .decompress = node_decompress,
    .free_buf = dts_codec_free,
};

const dts_compressor *
dts_codec_compressor(void)
{
    return &codec_compressor;
}
