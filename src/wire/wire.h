// wire.h: the frame header and the discovery messages of protocol v1, as
// pure functions from structs to bytes and back (docs/spec/wire.md and
// docs/spec/discovery.md). Nothing here allocates, blocks or keeps state;
// every decoder bounds every read by the length it is given.
#ifndef DTSI_WIRE_H
#define DTSI_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DTSI_MAGIC0 0x44 // 'D'
#define DTSI_MAGIC1 0x54 // 'T'
#define DTSI_VERSION 1
#define DTSI_HDR_SIZE 64

// Little-endian fields, as every integer on the wire is
// (docs/spec/wire.md, "Frame header").
static inline void
dtsi_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
dtsi_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
dtsi_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t
dtsi_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
dtsi_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t
dtsi_get_u64(const uint8_t *p)
{
    return (uint64_t)dtsi_get_u32(p) | ((uint64_t)dtsi_get_u32(p + 4) << 32);
}

// Frame kinds (docs/spec/wire.md, "Kinds").
enum {
    DTSI_KIND_DATA = 1,       // a value of a type, on the type's channel
    DTSI_KIND_QUERY = 2,      // "send me your latest value", on the type's channel
    DTSI_KIND_REPLY = 3,      // an answer to a query, on the type's channel
    DTSI_KIND_NACK = 4,       // reliable mode: "resend me these", on the type's channel
    DTSI_KIND_HINT = 5,       // reliable mode: a publisher's last seq, on the type's channel
    DTSI_KIND_PAD = 6,        // fills a datagram up to the size of its run; skipped
    DTSI_KIND_SLOW = 7,       // "slow down": a receiver to a publisher, on the back channel
    DTSI_KIND_HEARTBEAT = 16, // node liveness, on the control channel
    DTSI_KIND_MEMBERS = 17,   // the types a node publishes and subscribes
    DTSI_KIND_TYPES = 18,     // type descriptions: name, format, schema id
    DTSI_KIND_GOODBYE = 19,
    DTSI_KIND_SCHEMA_REQ = 20,
    DTSI_KIND_SCHEMA_ANS = 21,
    DTSI_KIND_MEMBERS_REQ = 22,
};

// Why a SLOW asks (its corr field; docs/spec/wire.md, "Flow control").
enum {
    DTSI_SLOW_BACKLOG = 0, // the receiver's socket fills: it reads slower than data comes
    DTSI_SLOW_LOSS = 1,    // data of the publisher was lost on the way (a link slower than it)
};

// Flags (docs/spec/wire.md, "Flags"). A v1 receiver drops a frame with any
// flag it does not implement (DTSI_FLAGS_KNOWN).
#define DTSI_FLAG_FRAGMENT 0x0001u
#define DTSI_FLAG_COMPRESSED 0x0002u
#define DTSI_FLAG_SEALED 0x0004u
#define DTSI_FLAG_RELIABLE 0x0008u // the publisher repairs what receivers miss
#define DTSI_FLAGS_KNOWN (DTSI_FLAG_FRAGMENT | DTSI_FLAG_RELIABLE | DTSI_FLAG_COMPRESSED)

typedef struct dtsi_hdr {
    uint8_t version;
    uint8_t kind;
    uint16_t flags;
    uint16_t key_id;
    uint32_t payload_len;
    uint32_t corr;
    uint64_t type_id;
    uint64_t schema_id;
    uint64_t instance;
    uint64_t host;
    uint64_t seq;
    int64_t sent_ns;
} dtsi_hdr;

// Results of dtsi_hdr_decode, in the order the checks are made.
typedef enum dtsi_wire_rc {
    DTSI_WIRE_OK = 0,
    DTSI_WIRE_FOREIGN = 1,     // too short for a magic, or not our magic
    DTSI_WIRE_BAD_VERSION = 2, // our magic, a version we do not speak
    DTSI_WIRE_MALFORMED = 3,   // a field out of its bounds
} dtsi_wire_rc;

// dtsi_hdr_encode writes h as the 64-byte header at out.
void dtsi_hdr_encode(const dtsi_hdr *h, uint8_t out[DTSI_HDR_SIZE]);

// dtsi_hdr_decode validates and reads the frame at buf (len bytes left in
// the datagram). On DTSI_WIRE_OK the payload is the next h->payload_len
// bytes, all within len. *why names the failed check for the log.
dtsi_wire_rc dtsi_hdr_decode(const uint8_t *buf, size_t len, dtsi_hdr *h, const char **why);

// dtsi_kind_is_control says whether a kind travels on the control channel.
int dtsi_kind_is_control(uint8_t kind);

// ---------------------------------------------------------------------------
// Discovery payloads (docs/spec/discovery.md)

#define DTSI_HOSTNAME_MAX 64
#define DTSI_MEMBERS_MAX 1024 // entries in one MEMBERS or TYPES frame

typedef struct dtsi_heartbeat {
    uint32_t pid;
    uint32_t lease_ms;   // forget me after this long without a heartbeat
    uint32_t generation; // changes whenever my MEMBERS change
    uint16_t n_members;  // total entries over all MEMBERS parts
    uint8_t hostname_len;
    char hostname[DTSI_HOSTNAME_MAX + 1];
} dtsi_heartbeat;

// Member roles.
enum { DTSI_ROLE_PUB = 1, DTSI_ROLE_SUB = 2, DTSI_ROLE_GLOB = 3 };

typedef struct dtsi_member {
    uint8_t role;
    uint64_t type_id;    // PUB and SUB
    uint8_t pattern_len; // GLOB
    const char *pattern; // GLOB; points into the decoded buffer, not NUL-terminated
} dtsi_member;

typedef struct dtsi_type_desc {
    uint8_t format; // 255 when the sender only subscribes and does not know it
    uint64_t schema_id;
    uint8_t name_len;
    const char *name; // points into the buffer, not NUL-terminated
} dtsi_type_desc;

#define DTSI_FORMAT_UNKNOWN 255

// A cursor over a payload; every read checks the remaining length and sets
// err instead of reading past the end.
typedef struct dtsi_cur {
    const uint8_t *p;
    size_t left;
    int err;
} dtsi_cur;

// A writer into a caller buffer; sets err when it would overflow.
typedef struct dtsi_wbuf {
    uint8_t *p;
    size_t len, cap;
    int err;
} dtsi_wbuf;

void dtsi_w_u8(dtsi_wbuf *w, uint8_t v);
void dtsi_w_u16(dtsi_wbuf *w, uint16_t v);
void dtsi_w_u32(dtsi_wbuf *w, uint32_t v);
void dtsi_w_u64(dtsi_wbuf *w, uint64_t v);
void dtsi_w_bytes(dtsi_wbuf *w, const void *b, size_t n);
uint8_t dtsi_r_u8(dtsi_cur *c);
uint16_t dtsi_r_u16(dtsi_cur *c);
uint32_t dtsi_r_u32(dtsi_cur *c);
uint64_t dtsi_r_u64(dtsi_cur *c);
const uint8_t *dtsi_r_bytes(dtsi_cur *c, size_t n);

// HEARTBEAT payload.
void dtsi_heartbeat_encode(dtsi_wbuf *w, const dtsi_heartbeat *hb);
int dtsi_heartbeat_decode(const uint8_t *p, size_t len, dtsi_heartbeat *hb);

// MEMBERS payload: generation, part, parts, count, then entries. The
// decoder calls fn once per entry; it returns 0 on success and -1 (with
// nothing more reported after the first bad entry) when malformed.
void dtsi_members_begin(dtsi_wbuf *w, uint32_t generation, uint8_t part, uint8_t parts,
                        uint16_t count);
void dtsi_member_encode(dtsi_wbuf *w, const dtsi_member *m);
size_t dtsi_member_size(const dtsi_member *m);
typedef void (*dtsi_member_fn)(void *ud, const dtsi_member *m);
int dtsi_members_decode(const uint8_t *p, size_t len, uint32_t *generation, uint8_t *part,
                        uint8_t *parts, dtsi_member_fn fn, void *ud);

// TYPES payload: count, then descriptions.
void dtsi_type_desc_encode(dtsi_wbuf *w, const dtsi_type_desc *d);
size_t dtsi_type_desc_size(const dtsi_type_desc *d);
typedef void (*dtsi_type_desc_fn)(void *ud, const dtsi_type_desc *d);
int dtsi_types_decode(const uint8_t *p, size_t len, dtsi_type_desc_fn fn, void *ud);

// SCHEMA_ANS payload: description, then u32 length and the schema bytes;
// at most DTSI_SCHEMA_ANS_MAX bytes, cut into fragments when longer than a
// datagram (the one control kind that may be: docs/spec/discovery.md).
#define DTSI_SCHEMA_BYTES_MAX 32768 // DTS_SCHEMA_MAX (wire.h does not include dts.h)
#define DTSI_SCHEMA_ANS_MAX (10 + 255 + 4 + DTSI_SCHEMA_BYTES_MAX)
typedef struct dtsi_schema_ans {
    dtsi_type_desc desc;
    uint32_t schema_len;
    const uint8_t *schema;
} dtsi_schema_ans;
void dtsi_schema_ans_encode(dtsi_wbuf *w, const dtsi_schema_ans *a);
int dtsi_schema_ans_decode(const uint8_t *p, size_t len, dtsi_schema_ans *a);

// NACK payload (docs/spec/wire.md, "Reliable mode"): the publisher asked,
// then entries of what is missing: a message (first 0, count
// DTSI_NACK_WHOLE) or a run of its fragments.
#define DTSI_NACK_WHOLE 0xffffffffu
#define DTSI_NACK_MAX 64 // entries in one NACK
typedef struct dtsi_nack_entry {
    uint64_t seq;
    uint32_t first; // first fragment index
    uint32_t count; // fragments, or DTSI_NACK_WHOLE
} dtsi_nack_entry;
void dtsi_nack_encode(dtsi_wbuf *w, uint64_t target, const dtsi_nack_entry *e, uint16_t n);
// dtsi_nack_decode validates the payload; returns the entry count (entries
// copied to e, at most DTSI_NACK_MAX) or -1 when malformed.
int dtsi_nack_decode(const uint8_t *p, size_t len, uint64_t *target, dtsi_nack_entry *e);

// dtsi_chars_valid checks that n bytes are a valid type name (pattern 0) or
// subscription pattern (pattern 1) per docs/spec/wire.md.
int dtsi_chars_valid(const char *s, size_t n, int pattern);

#endif
