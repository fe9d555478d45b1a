// capnp_msg.c: message framing (stream with a segment table, flat, packed)
// and the limits (docs/spec/capnp.md, "Framing" and "Limits").
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec/capnp/capnp_int.h"
#include "codec/codec_int.h"

dts_capnp_limits
dts_capnp_limits_resolve(const dts_capnp_limits *l)
{
    dts_capnp_limits r = {0};
    if (l) r = *l;
    if (!r.max_segments) r.max_segments = DTS_CAPNP_MAX_SEGMENTS;
    if (!r.max_words) r.max_words = DTS_CAPNP_MAX_WORDS;
    if (r.max_words > DTS_CAPNP_HARD_MAX_WORDS) r.max_words = DTS_CAPNP_HARD_MAX_WORDS;
    if (!r.traversal_words) r.traversal_words = DTS_CAPNP_TRAVERSAL_WORDS;
    if (!r.nesting) r.nesting = DTS_CAPNP_NESTING;
    return r;
}

// dtsi_capnp_fail records the first error of a message with a printf-style
// explanation and returns err, so that callers write `return fail(...)`.
dts_err
dtsi_capnp_fail(dts_capnp_msg *m, dts_err err, const char *fmt, ...)
{
    if (m && m->err == DTS_OK) {
        m->err = err;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->errmsg, sizeof m->errmsg, fmt, ap);
        va_end(ap);
    }
    return err;
}

// msg_reset prepares m for reading: no segments, full budget.
static void
msg_reset(dts_capnp_msg *m, const dts_capnp_limits *limits)
{
    memset(m, 0, sizeof *m);
    m->limits = dts_capnp_limits_resolve(limits);
    m->budget = m->limits.traversal_words;
}

// msg_check_root requires segment 0 to hold at least the root pointer.
static dts_err
msg_check_root(dts_capnp_msg *m)
{
    if (m->nsegs == 0 || m->segs[0].words == 0)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "message has no root pointer");
    return DTS_OK;
}

// dts_capnp_msg_init_stream parses the segment table: u32 count-1, then one
// u32 size (words) per segment, padded to a word. The count is checked
// against max_segments before the table is read (a count of 2^32 is
// refused at once), the sum of sizes (64-bit) against max_words, and the
// segments against the bytes present.
dts_err
dts_capnp_msg_init_stream(dts_capnp_msg *m, const void *buf, size_t len,
                          const dts_capnp_limits *limits, size_t *used)
{
    const uint8_t *p = buf;
    msg_reset(m, limits);
    if (len < 8) return dtsi_capnp_fail(m, DTS_EMALFORMED, "message shorter than a segment table");
    uint64_t n = (uint64_t)cp_le32(p) + 1;
    if (n > m->limits.max_segments)
        return dtsi_capnp_fail(m, DTS_ETOOBIG, "segment table claims %llu segments (limit %u)",
                               (unsigned long long)n, m->limits.max_segments);
    size_t table = (size_t)((4 + 4 * n + 7) & ~(uint64_t)7);
    if (table > len) return dtsi_capnp_fail(m, DTS_EMALFORMED, "segment table truncated");
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += cp_le32(p + 4 + 4 * i);
    if (total > m->limits.max_words)
        return dtsi_capnp_fail(m, DTS_ETOOBIG, "message of %llu words (limit %llu)",
                               (unsigned long long)total, (unsigned long long)m->limits.max_words);
    if (total * 8 > len - table)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "message truncated: %llu words, %zu bytes",
                               (unsigned long long)total, len - table);
    m->segs = n == 1 ? &m->seg0 : dtsi_cmalloc(n * sizeof *m->segs);
    if (!m->segs) return dtsi_capnp_fail(m, DTS_ENOMEM, "out of memory");
    m->nsegs = (uint32_t)n;
    size_t at = table;
    for (uint64_t i = 0; i < n; i++) {
        m->segs[i].data = p + at;
        m->segs[i].words = cp_le32(p + 4 + 4 * i);
        at += (size_t)m->segs[i].words * 8;
    }
    if (used) *used = at;
    return msg_check_root(m);
}

dts_err
dts_capnp_msg_init_flat(dts_capnp_msg *m, const void *buf, size_t len,
                        const dts_capnp_limits *limits)
{
    dts_capnp_seg s = {.data = buf, .words = (uint32_t)(len / 8)};
    msg_reset(m, limits);
    if (len % 8)
        return dtsi_capnp_fail(m, DTS_EMALFORMED, "flat message not a whole number of words");
    if (len / 8 > m->limits.max_words)
        return dtsi_capnp_fail(m, DTS_ETOOBIG, "message of %zu words (limit %llu)", len / 8,
                               (unsigned long long)m->limits.max_words);
    return dts_capnp_msg_init_segments(m, &s, 1, limits);
}

dts_err
dts_capnp_msg_init_segments(dts_capnp_msg *m, const dts_capnp_seg *segs, uint32_t nsegs,
                            const dts_capnp_limits *limits)
{
    msg_reset(m, limits);
    if (nsegs > m->limits.max_segments)
        return dtsi_capnp_fail(m, DTS_ETOOBIG, "%u segments (limit %u)", nsegs,
                               m->limits.max_segments);
    uint64_t total = 0;
    for (uint32_t i = 0; i < nsegs; i++) total += segs[i].words;
    if (total > m->limits.max_words)
        return dtsi_capnp_fail(m, DTS_ETOOBIG, "message of %llu words", (unsigned long long)total);
    m->segs = nsegs <= 1 ? &m->seg0 : dtsi_cmalloc(nsegs * sizeof *m->segs);
    if (!m->segs) return dtsi_capnp_fail(m, DTS_ENOMEM, "out of memory");
    if (nsegs) memcpy(m->segs, segs, nsegs * sizeof *segs);
    m->nsegs = nsegs;
    return msg_check_root(m);
}

// dts_capnp_msg_init_packed unpacks at most what the limits allow (every
// segment word plus the largest segment table) before framing it.
dts_err
dts_capnp_msg_init_packed(dts_capnp_msg *m, const void *buf, size_t len,
                          const dts_capnp_limits *limits)
{
    dts_capnp_limits l = dts_capnp_limits_resolve(limits);
    size_t max = (size_t)l.max_words * 8 + 4 * ((size_t)l.max_segments + 2);
    uint8_t *raw;
    size_t rawlen;
    msg_reset(m, limits);
    dts_err e = dts_capnp_unpack(buf, len, max, &raw, &rawlen);
    if (e)
        return dtsi_capnp_fail(m, e, "packed message %s",
                               e == DTS_ETOOBIG ? "too big" : "malformed");
    e = dts_capnp_msg_init_stream(m, raw, rawlen, limits, NULL);
    m->owned = raw;
    return e;
}

void
dts_capnp_msg_fini(dts_capnp_msg *m)
{
    if (m->segs != &m->seg0) dtsi_cfree(m->segs);
    dtsi_cfree(m->owned);
    m->segs = NULL;
    m->owned = NULL;
    m->nsegs = 0;
}

dts_err
dts_capnp_msg_error(const dts_capnp_msg *m, const char **why)
{
    if (why) *why = m->err ? m->errmsg : "";
    return m->err;
}

// ---------------------------------------------------------------------------
// Packing: each word becomes a tag byte (bit i set when byte i is nonzero)
// and its nonzero bytes; tag 0x00 is followed by a count of further zero
// words, tag 0xff by a count of words copied raw. The raw run continues
// while words have at most one zero byte, as the C++ packer does, so that
// our packed bytes equal `capnp convert binary:packed`.

size_t
dts_capnp_pack_bound(size_t len)
{
    return len / 8 * 10 + 10;
}

// pack_zeros counts the bytes equal to zero in one word.
static unsigned
pack_zeros(const uint8_t *w)
{
    unsigned c = 0;
    for (unsigned i = 0; i < 8; i++) c += w[i] == 0;
    return c;
}

size_t
dts_capnp_pack(const uint8_t *in, size_t len, uint8_t *out)
{
    const uint8_t *end = in + len / 8 * 8;
    uint8_t *o = out;
    while (in < end) {
        uint8_t tag = 0, *tagp = o++;
        for (unsigned i = 0; i < 8; i++) {
            if (in[i]) {
                tag |= (uint8_t)(1u << i);
                *o++ = in[i];
            }
        }
        *tagp = tag;
        in += 8;
        if (tag == 0) {
            unsigned n = 0;
            while (in < end && n < 255 && pack_zeros(in) == 8) in += 8, n++;
            *o++ = (uint8_t)n;
        } else if (tag == 0xff) {
            const uint8_t *run = in;
            while (in < end && (size_t)(in - run) < 255 * 8 && pack_zeros(in) < 2) in += 8;
            *o++ = (uint8_t)((in - run) / 8);
            memcpy(o, run, (size_t)(in - run));
            o += in - run;
        }
    }
    return (size_t)(o - out);
}

// unpack_run walks packed input once. With out NULL it only measures (and
// checks truncation); otherwise it writes. Returns the unpacked size, or
// SIZE_MAX when the input is truncated or the size passes max.
static size_t
unpack_run(const uint8_t *in, size_t len, uint8_t *out, size_t max)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint8_t tag = in[i++];
        if (n + 8 > max) return SIZE_MAX;
        for (unsigned b = 0; b < 8; b++) {
            uint8_t v = 0;
            if (tag & (1u << b)) {
                if (i >= len) return SIZE_MAX;
                v = in[i++];
            }
            if (out) out[n + b] = v;
        }
        n += 8;
        if (tag == 0 || tag == 0xff) {
            if (i >= len) return SIZE_MAX;
            size_t words = in[i++], bytes = words * 8;
            if (n + bytes > max) return SIZE_MAX;
            if (tag == 0xff && bytes > len - i) return SIZE_MAX;
            if (out) {
                if (tag == 0xff)
                    memcpy(out + n, in + i, bytes);
                else
                    memset(out + n, 0, bytes);
            }
            if (tag == 0xff) i += bytes;
            n += bytes;
        }
    }
    return n;
}

dts_err
dts_capnp_unpack(const uint8_t *in, size_t len, size_t max_out, uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t n = unpack_run(in, len, NULL, max_out);
    if (n == SIZE_MAX) {
        // Tell "too big" from "truncated" by measuring without the cap.
        return unpack_run(in, len, NULL, SIZE_MAX - 1) == SIZE_MAX ? DTS_EMALFORMED : DTS_ETOOBIG;
    }
    uint8_t *buf = dtsi_cmalloc(n ? n : 1);
    if (!buf) return DTS_ENOMEM;
    unpack_run(in, len, buf, max_out);
    *out = buf;
    *outlen = n;
    return DTS_OK;
}
