// common.c: allocator, error messages, bounded buffers, base64 and UTF-8
// for the codecs. No I/O.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"

// The allocator is process-wide like jansson's own hooks; it only changes
// in tests, before any codec runs (codec.h, dts_codec_set_alloc_funcs).
static void *(*codec_malloc)(size_t) = malloc;
static void (*codec_free)(void *) = free;

void
dts_codec_set_alloc_funcs(void *(*malloc_fn)(size_t), void (*free_fn)(void *))
{
    codec_malloc = malloc_fn ? malloc_fn : malloc;
    codec_free = free_fn ? free_fn : free;
    json_set_alloc_funcs(codec_malloc, codec_free);
}

void
dts_codec_free(void *p)
{
    if (p) codec_free(p);
}

void *
dtsi_cmalloc(size_t n)
{
    return codec_malloc(n ? n : 1);
}

void
dtsi_cfree(void *p)
{
    if (p) codec_free(p);
}

void *
dtsi_cgrow(void *p, size_t old, size_t n)
{
    void *q = dtsi_cmalloc(n);
    if (!q) return NULL;
    if (p) {
        memcpy(q, p, old < n ? old : n);
        codec_free(p);
    }
    return q;
}

char *
dtsi_cstrndup(const char *s, size_t n)
{
    char *d = dtsi_cmalloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

dts_err
dtsi_cerr(const dts_codec_ctx *cx, dts_err e, const char *fmt, ...)
{
    if (cx && cx->err && cx->errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cx->err, cx->errcap, fmt, ap);
        va_end(ap);
    }
    return e;
}

void
dtsi_errbuf(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || !errcap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

dts_err
dtsi_budget_take(const dts_codec_ctx *cx, dtsi_budget *b, size_t off)
{
    if (++b->elements > cx->limits->max_elements)
        return dtsi_cerr(cx, DTS_ETOOBIG, "more than %zu values (at byte %zu)",
                         cx->limits->max_elements, off);
    return DTS_OK;
}

// ---------------------------------------------------------------------------
// Bounded buffer

void
dtsi_cbuf_init(dtsi_cbuf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void
dtsi_cbuf_fini(dtsi_cbuf *b)
{
    dtsi_cfree(b->p);
    memset(b, 0, sizeof *b);
}

// dtsi_cbuf_room grows the buffer geometrically, never past max: the
// growth target is clamped so that a payload at the limit still fits.
uint8_t *
dtsi_cbuf_room(dtsi_cbuf *b, size_t n)
{
    if (b->err) return NULL;
    if (n > b->max || b->len > b->max - n) {
        b->err = DTS_ETOOBIG;
        return NULL;
    }
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap - b->len < n) cap *= 2;
        if (cap > b->max) cap = b->max;
        uint8_t *p = dtsi_cgrow(b->p, b->len, cap);
        if (!p) {
            b->err = DTS_ENOMEM;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

int
dtsi_cbuf_put(dtsi_cbuf *b, const void *d, size_t n)
{
    uint8_t *p = dtsi_cbuf_room(b, n);
    if (!p) return -1;
    if (n) memcpy(p, d, n);
    b->len += n;
    return 0;
}

int
dtsi_cbuf_byte(dtsi_cbuf *b, uint8_t c)
{
    return dtsi_cbuf_put(b, &c, 1);
}

dts_err
dtsi_cbuf_take(dtsi_cbuf *b, void **out, size_t *outlen)
{
    if (b->err) {
        dts_err e = b->err;
        dtsi_cbuf_fini(b);
        return e;
    }
    if (!b->p && !(b->p = dtsi_cmalloc(1))) return DTS_ENOMEM;
    *out = b->p;
    *outlen = b->len;
    memset(b, 0, sizeof *b);
    return DTS_OK;
}

// ---------------------------------------------------------------------------
// Base64

static const char b64_alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
dtsi_b64_encode(const uint8_t *d, size_t n, size_t *outlen)
{
    size_t len = (n + 2) / 3 * 4;
    char *s = dtsi_cmalloc(len + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        *o++ = b64_alpha[(v >> 18) & 63];
        *o++ = b64_alpha[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64_alpha[v & 63] : '=';
    }
    *o = 0;
    if (outlen) *outlen = len;
    return s;
}

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

// dtsi_b64_decode stops at the first '=' and requires nothing but padding
// after it; a lone trailing sextet (length 4k+1) is an error.
int
dtsi_b64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
    size_t o = 0, k = 0, i;
    uint32_t acc = 0;
    for (i = 0; i < n && s[i] != '='; i++) {
        int v = b64_value(s[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        if (++k == 4) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            k = 0;
            acc = 0;
        }
    }
    for (size_t j = i; j < n; j++)
        if (s[j] != '=') return -1;
    if (k == 1) return -1;
    if (k == 2) out[o++] = (uint8_t)(acc >> 4);
    if (k == 3) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    *outlen = o;
    return 0;
}

// ---------------------------------------------------------------------------
// UTF-8

// utf8_seq returns the length of the well-formed sequence at s (1..4) and
// its code point in *cp, or 0 if malformed (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF).
static size_t
utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) return *cp = c, 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

int
dtsi_utf8_valid(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i, &cp);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

int
dtsi_text_printable(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(s + i, n - i, &cp);
        if (!l) return 0;
        if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f ||
            (cp >= 0x80 && cp < 0xa0))
            return 0;
        i += l;
    }
    return 1;
}
