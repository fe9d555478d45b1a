// fuzz_disc.c: libFuzzer target for the discovery payload decoders
// (docs/spec/discovery.md). The first input byte selects the decoder; the
// rest is the payload. Invariants (checked with __builtin_trap): a decoder
// never reads outside the payload, every reported pointer and length lies
// within it and within its documented bound, the two-pass decoders report
// entries only for payloads they accept, and an accepted payload encodes
// back to the same bytes.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dts/dts.h>

#include "wire/wire.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

typedef struct ctx {
    const uint8_t *p;
    size_t len;
    unsigned reported;
    dtsi_wbuf re; // re-encoding of what was reported
} ctx;

static int
within(const ctx *c, const void *q, size_t n)
{
    const uint8_t *b = q;
    return b >= c->p && n <= c->len && (size_t)(b - c->p) <= c->len - n;
}

static void
on_member(void *ud, const dtsi_member *m)
{
    ctx *c = ud;
    c->reported++;
    CHECK(c->reported <= DTSI_MEMBERS_MAX);
    if (m->role == DTSI_ROLE_GLOB) {
        CHECK(m->pattern_len >= 1 && m->pattern_len <= DTS_NAME_MAX);
        CHECK(within(c, m->pattern, m->pattern_len));
        CHECK(dtsi_chars_valid(m->pattern, m->pattern_len, 1));
    } else {
        CHECK((m->role == DTSI_ROLE_PUB || m->role == DTSI_ROLE_SUB) && m->type_id != 0);
    }
    dtsi_member_encode(&c->re, m);
}

static void
on_desc(void *ud, const dtsi_type_desc *d)
{
    ctx *c = ud;
    c->reported++;
    CHECK(c->reported <= DTSI_MEMBERS_MAX);
    CHECK(d->name_len >= 1 && d->name_len <= DTS_NAME_MAX);
    CHECK(within(c, d->name, d->name_len));
    CHECK(d->format < DTS_FORMAT_COUNT_ || d->format == DTSI_FORMAT_UNKNOWN);
    CHECK(d->format != DTSI_FORMAT_UNKNOWN || d->schema_id == 0);
    dtsi_type_desc_encode(&c->re, d);
}

static uint8_t rebuf[70000];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    // Copy to an exact-size block so that ASan sees any read past the end.
    size_t len = size - 1;
    uint8_t *p = malloc(len ? len : 1);
    if (!p) return 0;
    memcpy(p, data + 1, len);
    ctx c = {p, len, 0, {rebuf, 0, sizeof rebuf, 0}};
    switch (data[0] % 4) {
    case 0: {
        dtsi_heartbeat hb;
        if (dtsi_heartbeat_decode(p, len, &hb) == 0) {
            CHECK(hb.hostname_len <= DTSI_HOSTNAME_MAX && strlen(hb.hostname) == hb.hostname_len);
            CHECK(hb.lease_ms >= 100 && hb.lease_ms <= 3600000);
            dtsi_heartbeat_encode(&c.re, &hb);
            CHECK(!c.re.err && c.re.len == len && memcmp(rebuf, p, len) == 0);
        }
        break;
    }
    case 1: {
        uint32_t gen;
        uint8_t part, parts;
        int rc = dtsi_members_decode(p, len, &gen, &part, &parts, on_member, &c);
        if (rc != 0) {
            CHECK(c.reported == 0); // two passes: nothing from a bad payload
        } else {
            CHECK(parts >= 1 && part < parts);
            uint8_t head[8];
            dtsi_wbuf w = {head, 0, sizeof head, 0};
            dtsi_members_begin(&w, gen, part, parts, (uint16_t)c.reported);
            CHECK(len >= 8 && memcmp(head, p, 8) == 0);
            CHECK(!c.re.err && c.re.len == len - 8 && memcmp(rebuf, p + 8, len - 8) == 0);
        }
        break;
    }
    case 2: {
        int rc = dtsi_types_decode(p, len, on_desc, &c);
        if (rc != 0) {
            CHECK(c.reported == 0);
        } else {
            CHECK(c.reported >= 1);
            CHECK(len >= 2 && (unsigned)(p[0] | p[1] << 8) == c.reported);
            CHECK(!c.re.err && c.re.len == len - 2 && memcmp(rebuf, p + 2, len - 2) == 0);
        }
        break;
    }
    case 3: {
        dtsi_schema_ans a;
        if (dtsi_schema_ans_decode(p, len, &a) == 0) {
            on_desc(&c, &a.desc);
            CHECK(a.desc.format != DTSI_FORMAT_UNKNOWN && a.schema_len <= DTS_SCHEMA_MAX);
            CHECK(within(&c, a.schema, a.schema_len) && a.schema + a.schema_len == p + len);
            c.re.len = 0;
            dtsi_schema_ans_encode(&c.re, &a);
            CHECK(!c.re.err && c.re.len == len && memcmp(rebuf, p, len) == 0);
        }
        break;
    }
    }
    free(p);
    return 0;
}
