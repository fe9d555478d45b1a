// fuzz_frame.c: libFuzzer target for one received datagram. It walks the
// input the way node_on_recv does (docs/spec/wire.md, "Datagrams"): decode a
// header, stop at the first invalid one, hand the payload to the decoder of
// its kind, move past it. Invariants (checked with __builtin_trap): a valid
// header's payload lies within the input; the walk always advances; decoded
// lengths stay within their documented bounds and within the payload.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <dts/dts.h>

#include "wire/frag.h"
#include "wire/wire.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) __builtin_trap();                                                                \
    } while (0)

typedef struct span {
    const uint8_t *p;
    size_t len;
} span;

static int
within(const span *s, const void *q, size_t n)
{
    const uint8_t *b = q;
    return b >= s->p && n <= s->len && (size_t)(b - s->p) <= s->len - n;
}

static void
on_member(void *ud, const dtsi_member *m)
{
    const span *s = ud;
    if (m->role == DTSI_ROLE_GLOB) {
        CHECK(m->pattern_len >= 1 && m->pattern_len <= DTS_NAME_MAX);
        CHECK(within(s, m->pattern, m->pattern_len));
        CHECK(dtsi_chars_valid(m->pattern, m->pattern_len, 1));
        char pat[DTS_NAME_MAX + 1];
        memcpy(pat, m->pattern, m->pattern_len);
        pat[m->pattern_len] = 0;
        // Matching a network pattern must terminate (bounded name length).
        (void)dts_glob_match(pat, "brewery.fermenter1.Temperature");
    } else {
        CHECK(m->role == DTSI_ROLE_PUB || m->role == DTSI_ROLE_SUB);
        CHECK(m->type_id != 0);
    }
}

static void
on_desc(void *ud, const dtsi_type_desc *d)
{
    const span *s = ud;
    CHECK(d->name_len >= 1 && d->name_len <= DTS_NAME_MAX);
    CHECK(within(s, d->name, d->name_len));
    CHECK(d->format < DTS_FORMAT_COUNT_ || d->format == DTSI_FORMAT_UNKNOWN);
    CHECK(d->format != DTSI_FORMAT_UNKNOWN || d->schema_id == 0);
}

static void
frame_payload(const dtsi_hdr *h, const uint8_t *p)
{
    span s = {p, h->payload_len};
    switch (h->kind) {
    case DTSI_KIND_HEARTBEAT: {
        dtsi_heartbeat hb;
        if (dtsi_heartbeat_decode(p, h->payload_len, &hb) == 0) {
            CHECK(hb.hostname_len <= DTSI_HOSTNAME_MAX);
            CHECK(strlen(hb.hostname) == hb.hostname_len);
            CHECK(h->payload_len == 15u + hb.hostname_len);
            CHECK(hb.lease_ms >= 100 && hb.lease_ms <= 3600000);
        }
        break;
    }
    case DTSI_KIND_MEMBERS: {
        uint32_t gen;
        uint8_t part, parts;
        if (dtsi_members_decode(p, h->payload_len, &gen, &part, &parts, on_member, &s) == 0)
            CHECK(parts >= 1 && part < parts);
        break;
    }
    case DTSI_KIND_TYPES:
        dtsi_types_decode(p, h->payload_len, on_desc, &s);
        break;
    case DTSI_KIND_SCHEMA_ANS: {
        dtsi_schema_ans a;
        if (dtsi_schema_ans_decode(p, h->payload_len, &a) == 0) {
            on_desc(&s, &a.desc);
            CHECK(a.desc.format != DTSI_FORMAT_UNKNOWN);
            CHECK(a.schema_len <= DTS_SCHEMA_MAX);
            CHECK(within(&s, a.schema, a.schema_len));
            CHECK(a.schema + a.schema_len == p + h->payload_len);
            (void)dts_schema_id((dts_format)a.desc.format, a.schema, a.schema_len);
        }
        break;
    }
    case DTSI_KIND_SCHEMA_REQ:
    case DTSI_KIND_MEMBERS_REQ: {
        dtsi_cur c = {p, h->payload_len, 0};
        (void)dtsi_r_u64(&c);
        CHECK(c.err || c.left == h->payload_len - 8);
        break;
    }
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        dtsi_hdr h;
        const char *why = NULL;
        dtsi_wire_rc rc = dtsi_hdr_decode(data + off, len - off, &h, &why);
        if (rc != DTSI_WIRE_OK) {
            CHECK(why != NULL);
            CHECK(rc == DTSI_WIRE_FOREIGN || rc == DTSI_WIRE_BAD_VERSION ||
                  rc == DTSI_WIRE_MALFORMED);
            break;
        }
        CHECK(why == NULL);
        CHECK(len - off >= DTSI_HDR_SIZE);
        CHECK(h.payload_len <= len - off - DTSI_HDR_SIZE);
        CHECK(h.version == DTSI_VERSION && (h.flags & ~DTSI_FLAGS_KNOWN) == 0 && h.key_id == 0 &&
              h.instance != 0);
        if (dtsi_kind_is_control(h.kind)) {
            CHECK(h.type_id == 0 && h.schema_id == 0);
            frame_payload(&h, data + off + DTSI_HDR_SIZE);
        } else if (h.kind == DTSI_KIND_PAD) {
            CHECK(h.flags == 0 && h.type_id == 0 && h.schema_id == 0 && h.corr == 0 && h.seq == 0);
        } else {
            CHECK(((h.kind >= DTSI_KIND_DATA && h.kind <= DTSI_KIND_HINT) ||
                   h.kind == DTSI_KIND_SLOW) &&
                  h.type_id != 0);
            CHECK(h.kind != DTSI_KIND_SLOW || h.payload_len == 16);
            CHECK(h.kind == DTSI_KIND_QUERY || h.seq != 0);
            const uint8_t *p = data + off + DTSI_HDR_SIZE;
            if (h.flags & DTSI_FLAG_FRAGMENT) {
                // The fragment header checks keep the data inside the frame.
                CHECK(h.kind == DTSI_KIND_DATA || h.kind == DTSI_KIND_REPLY);
                dtsi_frag_hdr f;
                size_t dlen;
                if (!dtsi_frag_hdr_decode(p, h.payload_len, 1u << 30, &f, &dlen))
                    CHECK(dlen + DTSI_FRAG_HDR_SIZE == h.payload_len && f.off + dlen <= f.msg_len);
            }
            if (h.kind == DTSI_KIND_NACK) {
                dtsi_nack_entry e[DTSI_NACK_MAX];
                uint64_t target;
                int k = dtsi_nack_decode(p, h.payload_len, &target, e);
                CHECK(k == -1 ||
                      (k >= 1 && k <= DTSI_NACK_MAX && (size_t)k * 16 + 10 == h.payload_len));
            }
        }
        // Round trip: encoding the decoded header gives the same 64 bytes.
        uint8_t again[DTSI_HDR_SIZE];
        dtsi_hdr_encode(&h, again);
        CHECK(memcmp(again, data + off, DTSI_HDR_SIZE) == 0);
        size_t next = off + DTSI_HDR_SIZE + h.payload_len;
        CHECK(next > off && next <= len);
        off = next;
    }
    return 0;
}
