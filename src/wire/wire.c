// wire.c: frame header and discovery payload codecs (docs/spec/wire.md,
// docs/spec/discovery.md). All integers are little-endian. Each decoder
// checks every length against what is left before reading, and reports a
// malformed input instead of trusting it.
#include "wire/wire.h"

#include <string.h>

void
dtsi_hdr_encode(const dtsi_hdr *h, uint8_t out[DTSI_HDR_SIZE])
{
    out[0] = DTSI_MAGIC0;
    out[1] = DTSI_MAGIC1;
    out[2] = h->version ? h->version : DTSI_VERSION;
    out[3] = h->kind;
    dtsi_put_u16(out + 4, h->flags);
    dtsi_put_u16(out + 6, h->key_id);
    dtsi_put_u32(out + 8, h->payload_len);
    dtsi_put_u32(out + 12, h->corr);
    dtsi_put_u64(out + 16, h->type_id);
    dtsi_put_u64(out + 24, h->schema_id);
    dtsi_put_u64(out + 32, h->instance);
    dtsi_put_u64(out + 40, h->host);
    dtsi_put_u64(out + 48, h->seq);
    dtsi_put_u64(out + 56, (uint64_t)h->sent_ns);
}

int
dtsi_kind_is_control(uint8_t kind)
{
    return kind >= DTSI_KIND_HEARTBEAT && kind <= DTSI_KIND_MEMBERS_REQ;
}

static int
kind_is_data(uint8_t kind)
{
    return (kind >= DTSI_KIND_DATA && kind <= DTSI_KIND_HINT) || kind == DTSI_KIND_SLOW;
}

// hdr_check_fields applies the per-kind rules of docs/spec/wire.md,
// "Validation", to a header whose fixed part has been read.
static const char *
hdr_check_fields(const dtsi_hdr *h, size_t left)
{
    if (!kind_is_data(h->kind) && !dtsi_kind_is_control(h->kind) && h->kind != DTSI_KIND_PAD)
        return "unknown kind";
    if (h->flags & ~DTSI_FLAGS_KNOWN) return "unsupported flags";
    if (h->key_id != 0) return "key id without the sealed flag";
    if (h->payload_len > left) return "payload longer than the datagram";
    if (h->instance == 0) return "zero instance id";
    if (h->flags & DTSI_FLAG_FRAGMENT) {
        if (h->kind != DTSI_KIND_DATA && h->kind != DTSI_KIND_REPLY &&
            h->kind != DTSI_KIND_SCHEMA_ANS)
            return "fragment of a kind that cannot be cut";
        if (h->payload_len < 17) return "fragment shorter than its header plus one byte";
    }
    if (h->kind == DTSI_KIND_PAD) {
        if (h->flags || h->type_id || h->schema_id || h->corr || h->seq)
            return "padding with fields set";
    } else if (kind_is_data(h->kind)) {
        if (h->type_id == 0) return "zero type id";
        if (h->kind != DTSI_KIND_QUERY && h->seq == 0) return "zero sequence number";
        if (h->kind == DTSI_KIND_QUERY && h->payload_len != 0) return "query with a payload";
        if (h->kind == DTSI_KIND_QUERY && h->corr == 0) return "query without an id";
        if (h->kind == DTSI_KIND_DATA && h->corr != 0) return "data with a query id";
        if (h->kind == DTSI_KIND_HINT && h->payload_len != 0) return "hint with a payload";
        if ((h->flags & DTSI_FLAG_COMPRESSED) && h->kind != DTSI_KIND_DATA &&
            h->kind != DTSI_KIND_REPLY)
            return "compressed flag on a kind without a value";
        if (h->kind == DTSI_KIND_NACK && h->payload_len < 10) return "nack without entries";
        if (h->kind == DTSI_KIND_SLOW && h->payload_len != 16)
            return "slow without a publisher and a rate";
    } else if (h->type_id != 0 || h->schema_id != 0) {
        return "control frame with a type or schema id";
    }
    return NULL;
}

dtsi_wire_rc
dtsi_hdr_decode(const uint8_t *buf, size_t len, dtsi_hdr *h, const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    if (len < 2 || buf[0] != DTSI_MAGIC0 || buf[1] != DTSI_MAGIC1) {
        *why = "not a dts frame";
        return DTSI_WIRE_FOREIGN;
    }
    if (len < 3 || buf[2] != DTSI_VERSION) {
        *why = len < 3 ? "truncated header" : "unsupported version";
        return len < 3 ? DTSI_WIRE_MALFORMED : DTSI_WIRE_BAD_VERSION;
    }
    if (len < DTSI_HDR_SIZE) {
        *why = "truncated header";
        return DTSI_WIRE_MALFORMED;
    }
    h->version = buf[2];
    h->kind = buf[3];
    h->flags = dtsi_get_u16(buf + 4);
    h->key_id = dtsi_get_u16(buf + 6);
    h->payload_len = dtsi_get_u32(buf + 8);
    h->corr = dtsi_get_u32(buf + 12);
    h->type_id = dtsi_get_u64(buf + 16);
    h->schema_id = dtsi_get_u64(buf + 24);
    h->instance = dtsi_get_u64(buf + 32);
    h->host = dtsi_get_u64(buf + 40);
    h->seq = dtsi_get_u64(buf + 48);
    h->sent_ns = (int64_t)dtsi_get_u64(buf + 56);
    *why = hdr_check_fields(h, len - DTSI_HDR_SIZE);
    return *why ? DTSI_WIRE_MALFORMED : DTSI_WIRE_OK;
}

// ---------------------------------------------------------------------------
// Cursor and writer

void
dtsi_w_bytes(dtsi_wbuf *w, const void *b, size_t n)
{
    if (w->err || n > w->cap - w->len) {
        w->err = 1;
        return;
    }
    if (n) memcpy(w->p + w->len, b, n);
    w->len += n;
}

void
dtsi_w_u8(dtsi_wbuf *w, uint8_t v)
{
    dtsi_w_bytes(w, &v, 1);
}

void
dtsi_w_u16(dtsi_wbuf *w, uint16_t v)
{
    uint8_t b[2];
    dtsi_put_u16(b, v);
    dtsi_w_bytes(w, b, 2);
}

void
dtsi_w_u32(dtsi_wbuf *w, uint32_t v)
{
    uint8_t b[4];
    dtsi_put_u32(b, v);
    dtsi_w_bytes(w, b, 4);
}

void
dtsi_w_u64(dtsi_wbuf *w, uint64_t v)
{
    uint8_t b[8];
    dtsi_put_u64(b, v);
    dtsi_w_bytes(w, b, 8);
}

const uint8_t *
dtsi_r_bytes(dtsi_cur *c, size_t n)
{
    if (c->err || n > c->left) {
        c->err = 1;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

uint8_t
dtsi_r_u8(dtsi_cur *c)
{
    const uint8_t *p = dtsi_r_bytes(c, 1);
    return p ? p[0] : 0;
}

uint16_t
dtsi_r_u16(dtsi_cur *c)
{
    const uint8_t *p = dtsi_r_bytes(c, 2);
    return p ? dtsi_get_u16(p) : 0;
}

uint32_t
dtsi_r_u32(dtsi_cur *c)
{
    const uint8_t *p = dtsi_r_bytes(c, 4);
    return p ? dtsi_get_u32(p) : 0;
}

uint64_t
dtsi_r_u64(dtsi_cur *c)
{
    const uint8_t *p = dtsi_r_bytes(c, 8);
    return p ? dtsi_get_u64(p) : 0;
}

// ---------------------------------------------------------------------------
// Names

// dtsi_chars_valid checks a name or pattern of n bytes (not NUL-terminated).
// Names follow the grammar of dts_name_valid (no empty part); patterns may
// also hold '*' and '?', at most 8 '*'.
int
dtsi_chars_valid(const char *s, size_t n, int pattern)
{
    if (n == 0 || n > 200) return 0;
    if (!pattern && (s[0] == '.' || s[n - 1] == '.')) return 0;
    for (size_t i = 0; !pattern && i + 1 < n; i++)
        if (s[i] == '.' && s[i + 1] == '.') return 0;
    int stars = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-' || c == '.';
        if (pattern && (c == '*' || c == '?')) {
            ok = 1;
            stars += c == '*';
        }
        if (!ok) return 0;
    }
    // Bound the matcher's backtracking: at most 8 '*' in a pattern.
    return stars <= 8;
}

// ---------------------------------------------------------------------------
// HEARTBEAT

void
dtsi_heartbeat_encode(dtsi_wbuf *w, const dtsi_heartbeat *hb)
{
    dtsi_w_u32(w, hb->pid);
    dtsi_w_u32(w, hb->lease_ms);
    dtsi_w_u32(w, hb->generation);
    dtsi_w_u16(w, hb->n_members);
    dtsi_w_u8(w, hb->hostname_len);
    dtsi_w_bytes(w, hb->hostname, hb->hostname_len);
}

int
dtsi_heartbeat_decode(const uint8_t *p, size_t len, dtsi_heartbeat *hb)
{
    dtsi_cur c = {p, len, 0};
    hb->pid = dtsi_r_u32(&c);
    hb->lease_ms = dtsi_r_u32(&c);
    hb->generation = dtsi_r_u32(&c);
    hb->n_members = dtsi_r_u16(&c);
    hb->hostname_len = dtsi_r_u8(&c);
    if (c.err || hb->hostname_len > DTSI_HOSTNAME_MAX) return -1;
    const uint8_t *name = dtsi_r_bytes(&c, hb->hostname_len);
    if (c.err || c.left != 0) return -1;
    if (hb->lease_ms < 100 || hb->lease_ms > 3600 * 1000) return -1;
    memcpy(hb->hostname, name, hb->hostname_len);
    hb->hostname[hb->hostname_len] = 0;
    for (unsigned i = 0; i < hb->hostname_len; i++) {
        if ((unsigned char)hb->hostname[i] < 0x20 || hb->hostname[i] == 0x7f) return -1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// MEMBERS

void
dtsi_members_begin(dtsi_wbuf *w, uint32_t generation, uint8_t part, uint8_t parts, uint16_t count)
{
    dtsi_w_u32(w, generation);
    dtsi_w_u8(w, part);
    dtsi_w_u8(w, parts);
    dtsi_w_u16(w, count);
}

size_t
dtsi_member_size(const dtsi_member *m)
{
    return m->role == DTSI_ROLE_GLOB ? 2u + m->pattern_len : 9u;
}

void
dtsi_member_encode(dtsi_wbuf *w, const dtsi_member *m)
{
    dtsi_w_u8(w, m->role);
    if (m->role == DTSI_ROLE_GLOB) {
        dtsi_w_u8(w, m->pattern_len);
        dtsi_w_bytes(w, m->pattern, m->pattern_len);
    } else {
        dtsi_w_u64(w, m->type_id);
    }
}

static int members_pass(const uint8_t *p, size_t len, uint32_t *generation, uint8_t *part,
                        uint8_t *parts, dtsi_member_fn fn, void *ud);

// dtsi_members_decode validates the whole payload before it reports any
// entry, so a malformed frame changes nothing.
int
dtsi_members_decode(const uint8_t *p, size_t len, uint32_t *generation, uint8_t *part,
                    uint8_t *parts, dtsi_member_fn fn, void *ud)
{
    if (members_pass(p, len, generation, part, parts, NULL, NULL) != 0) return -1;
    return members_pass(p, len, generation, part, parts, fn, ud);
}

static int
members_pass(const uint8_t *p, size_t len, uint32_t *generation, uint8_t *part, uint8_t *parts,
             dtsi_member_fn fn, void *ud)
{
    dtsi_cur c = {p, len, 0};
    *generation = dtsi_r_u32(&c);
    *part = dtsi_r_u8(&c);
    *parts = dtsi_r_u8(&c);
    uint16_t count = dtsi_r_u16(&c);
    if (c.err || *parts == 0 || *part >= *parts || count > DTSI_MEMBERS_MAX) return -1;
    for (unsigned i = 0; i < count; i++) {
        dtsi_member m = {0};
        m.role = dtsi_r_u8(&c);
        if (m.role == DTSI_ROLE_GLOB) {
            m.pattern_len = dtsi_r_u8(&c);
            m.pattern = (const char *)dtsi_r_bytes(&c, m.pattern_len);
            if (c.err || !dtsi_chars_valid(m.pattern, m.pattern_len, 1)) return -1;
        } else if (m.role == DTSI_ROLE_PUB || m.role == DTSI_ROLE_SUB) {
            m.type_id = dtsi_r_u64(&c);
            if (c.err || m.type_id == 0) return -1;
        } else {
            return -1;
        }
        if (fn) fn(ud, &m);
    }
    return c.left == 0 ? 0 : -1;
}

// ---------------------------------------------------------------------------
// TYPES and SCHEMA_ANS

size_t
dtsi_type_desc_size(const dtsi_type_desc *d)
{
    return 10u + d->name_len;
}

void
dtsi_type_desc_encode(dtsi_wbuf *w, const dtsi_type_desc *d)
{
    dtsi_w_u8(w, d->format);
    dtsi_w_u64(w, d->schema_id);
    dtsi_w_u8(w, d->name_len);
    dtsi_w_bytes(w, d->name, d->name_len);
}

static int
type_desc_read(dtsi_cur *c, dtsi_type_desc *d)
{
    d->format = dtsi_r_u8(c);
    d->schema_id = dtsi_r_u64(c);
    d->name_len = dtsi_r_u8(c);
    d->name = (const char *)dtsi_r_bytes(c, d->name_len);
    if (c->err || !dtsi_chars_valid(d->name, d->name_len, 0)) return -1;
    if (d->format != DTSI_FORMAT_UNKNOWN && d->format >= 6) return -1;
    if (d->format == DTSI_FORMAT_UNKNOWN && d->schema_id != 0) return -1;
    return 0;
}

static int types_pass(const uint8_t *p, size_t len, dtsi_type_desc_fn fn, void *ud);

// dtsi_types_decode validates the whole payload before it reports any entry.
int
dtsi_types_decode(const uint8_t *p, size_t len, dtsi_type_desc_fn fn, void *ud)
{
    if (types_pass(p, len, NULL, NULL) != 0) return -1;
    return types_pass(p, len, fn, ud);
}

static int
types_pass(const uint8_t *p, size_t len, dtsi_type_desc_fn fn, void *ud)
{
    dtsi_cur c = {p, len, 0};
    uint16_t count = dtsi_r_u16(&c);
    if (c.err || count == 0 || count > DTSI_MEMBERS_MAX) return -1;
    for (unsigned i = 0; i < count; i++) {
        dtsi_type_desc d;
        if (type_desc_read(&c, &d) != 0) return -1;
        if (fn) fn(ud, &d);
    }
    return c.left == 0 ? 0 : -1;
}

void
dtsi_schema_ans_encode(dtsi_wbuf *w, const dtsi_schema_ans *a)
{
    dtsi_type_desc_encode(w, &a->desc);
    dtsi_w_u32(w, a->schema_len);
    dtsi_w_bytes(w, a->schema, a->schema_len);
}

int
dtsi_schema_ans_decode(const uint8_t *p, size_t len, dtsi_schema_ans *a)
{
    dtsi_cur c = {p, len, 0};
    if (type_desc_read(&c, &a->desc) != 0) return -1;
    if (a->desc.format == DTSI_FORMAT_UNKNOWN) return -1;
    a->schema_len = dtsi_r_u32(&c);
    if (c.err || a->schema_len > DTSI_SCHEMA_BYTES_MAX) return -1;
    a->schema = dtsi_r_bytes(&c, a->schema_len);
    if (c.err || c.left != 0) return -1;
    return 0;
}

// ---------------------------------------------------------------------------
// NACK

void
dtsi_nack_encode(dtsi_wbuf *w, uint64_t target, const dtsi_nack_entry *e, uint16_t n)
{
    dtsi_w_u64(w, target);
    dtsi_w_u16(w, n);
    for (uint16_t i = 0; i < n; i++) {
        dtsi_w_u64(w, e[i].seq);
        dtsi_w_u32(w, e[i].first);
        dtsi_w_u32(w, e[i].count);
    }
}

int
dtsi_nack_decode(const uint8_t *p, size_t len, uint64_t *target, dtsi_nack_entry *e)
{
    dtsi_cur c = {p, len, 0};
    *target = dtsi_r_u64(&c);
    uint16_t n = dtsi_r_u16(&c);
    if (c.err || n == 0 || n > DTSI_NACK_MAX || *target == 0) return -1;
    for (uint16_t i = 0; i < n; i++) {
        e[i].seq = dtsi_r_u64(&c);
        e[i].first = dtsi_r_u32(&c);
        e[i].count = dtsi_r_u32(&c);
        if (c.err || e[i].seq == 0 || e[i].count == 0) return -1;
    }
    return c.left == 0 ? n : -1;
}
