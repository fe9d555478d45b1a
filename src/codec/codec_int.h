// codec_int.h: helpers shared by the codecs (src/codec/), not public.
//
// The allocator, error messages, a bounded output buffer, base64, UTF-8
// checks and the pieces of the JSON mapping that every format shares
// (docs/spec/codecs.md, "JSON mapping").
#ifndef DTS_CODEC_INT_H
#define DTS_CODEC_INT_H

#include <stdint.h>
#include <stddef.h>

#include <jansson.h>

#include <dts/codec.h>

// The codec allocator (dts_codec_set_alloc_funcs). dtsi_cgrow moves a block
// of old bytes into a new one of n bytes (there is no realloc hook).
void *dtsi_cmalloc(size_t n);
void dtsi_cfree(void *p);
void *dtsi_cgrow(void *p, size_t old, size_t n);
char *dtsi_cstrndup(const char *s, size_t n);

// dtsi_cerr writes a message into cx->err (when there is one) and returns e,
// so that error paths read `return dtsi_cerr(cx, DTS_EMALFORMED, ...)`.
dts_err dtsi_cerr(const dts_codec_ctx *cx, dts_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// dtsi_errbuf formats into a raw buffer (for functions without a ctx).
void dtsi_errbuf(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// A growing output buffer that refuses to grow past max bytes. Operations
// return 0, or -1 with err set (DTS_ETOOBIG or DTS_ENOMEM); after a failure
// every later operation fails too, so callers may check once at the end.
typedef struct dtsi_cbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max;
    dts_err err;
} dtsi_cbuf;

void dtsi_cbuf_init(dtsi_cbuf *b, size_t max);
void dtsi_cbuf_fini(dtsi_cbuf *b);
// dtsi_cbuf_room returns a pointer to at least n writable bytes at the end
// (not yet counted in len), or NULL.
uint8_t *dtsi_cbuf_room(dtsi_cbuf *b, size_t n);
int dtsi_cbuf_put(dtsi_cbuf *b, const void *d, size_t n);
int dtsi_cbuf_byte(dtsi_cbuf *b, uint8_t c);
// dtsi_cbuf_take hands the bytes to the caller (never NULL, even when empty)
// or returns b->err, and leaves b empty.
dts_err dtsi_cbuf_take(dtsi_cbuf *b, void **out, size_t *outlen);

// Base64 (RFC 4648). Encoding uses the standard alphabet with padding and
// returns a NUL-terminated string from dtsi_cmalloc. Decoding accepts the
// standard and the URL-safe alphabets, with or without padding, into out
// (room for n / 4 * 3 + 3 bytes); it returns -1 on a bad character.
char *dtsi_b64_encode(const uint8_t *d, size_t n, size_t *outlen);
int dtsi_b64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen);

// dtsi_utf8_valid says whether s is well-formed UTF-8 (no surrogates, no
// overlongs). dtsi_text_printable also refuses control characters other
// than tab, CR and LF.
int dtsi_utf8_valid(const uint8_t *s, size_t n);
int dtsi_text_printable(const uint8_t *s, size_t n);

// The shared JSON mapping:
//  - integers that fit int64 are JSON integers; others are decimal strings;
//  - non-finite floats are the strings "NaN", "Infinity", "-Infinity";
//  - byte strings are {"base64": "..."}.
json_t *dtsi_json_u64(uint64_t v);
json_t *dtsi_json_neg(uint64_t n); // the integer -1 - n (CBOR negative)
json_t *dtsi_json_double(double d);
json_t *dtsi_json_bytes(const uint8_t *d, size_t n);
// dtsi_json_is_bytes says whether v has the byte-string shape; then
// dtsi_json_bytes_get decodes it into a new buffer (dtsi_cfree), returning
// -1 for bad base64.
int dtsi_json_is_bytes(const json_t *v);
int dtsi_json_bytes_get(const json_t *v, uint8_t **out, size_t *n);
// dtsi_json_special_double reads "NaN", "Infinity" or "-Infinity".
int dtsi_json_special_double(const json_t *v, double *d);
// dtsi_parse_u64 and dtsi_parse_i64 read a whole decimal string (optional
// '-' for i64), returning 0 or -1 (not a number, out of range).
int dtsi_parse_u64(const char *s, size_t n, uint64_t *out);
int dtsi_parse_i64(const char *s, size_t n, int64_t *out);
// dtsi_json_bigint reads a decimal string outside the int64 range: either
// a u64 above INT64_MAX (*neg 0, *mag the value) or a negative number below
// INT64_MIN down to -2^64 (*neg 1, value = -1 - *mag). Returns 1 if so.
int dtsi_json_bigint(const json_t *v, int *neg, uint64_t *mag);

// dtsi_json_parse parses JSON text under cx->limits: size, depth and
// element counts are checked by a scan before jansson allocates anything;
// duplicate keys are refused. The caller owns *out.
dts_err dtsi_json_parse(const dts_codec_ctx *cx, const char *s, size_t n, json_t **out);
// dtsi_json_check walks a tree and refuses one deeper than max_depth or
// with more than max_elements values (for trees handed in by callers).
dts_err dtsi_json_check(const dts_codec_ctx *cx, const json_t *v);
// dtsi_json_dump renders compact JSON text (dtsi_cfree).
dts_err dtsi_json_dump(const dts_codec_ctx *cx, const json_t *v, char **out);

// Per-call decode bookkeeping: element budget.
typedef struct dtsi_budget {
    size_t elements;
} dtsi_budget;
// dtsi_budget_take counts one value; DTS_ETOOBIG past max_elements.
dts_err dtsi_budget_take(const dts_codec_ctx *cx, dtsi_budget *b, size_t off);

// The built-in codecs.
extern const dts_codec_ops dtsi_codec_raw;
extern const dts_codec_ops dtsi_codec_json;
extern const dts_codec_ops dtsi_codec_cbor;
extern const dts_codec_ops dtsi_codec_msgpack;
extern const dts_codec_ops dtsi_codec_protobuf;

#endif
