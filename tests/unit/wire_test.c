// wire_test.c: the wire format and discovery payloads of protocol v1 against
// their specification. Every hex block tagged "# vector: NAME" in
// docs/spec/wire.md and docs/spec/discovery.md is read at run time and
// checked both ways (encoding the documented fields gives the bytes;
// decoding the bytes gives the fields), as are the type-id and group table of
// wire.md. Then every header validation rule with a hand-made bad frame,
// truncation at every length, the two-pass payload decoders, names and globs,
// and finally the node counters, by injecting datagrams into a node over the
// mem:// transport. No sockets.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dts/dts.h>
#include <dts/transport.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/node.h"
#include "transport/registry.h"
#include "wire/frag.h"
#include "wire/wire.h"

// ---------------------------------------------------------------------------
// Reading the vectors from the docs

#define MAX_VECS 64
#define MAX_VEC_BYTES 1024

typedef struct vec {
    char name[64];
    uint8_t b[MAX_VEC_BYTES];
    size_t len;
    int checked;
} vec;

typedef struct id_row {
    char name[256];
    uint64_t id;
    char v4[64], v6[64];
} id_row;

static vec vecs[MAX_VECS];
static size_t n_vecs;
static id_row id_rows[32];
static size_t n_id_rows;

// src_dir finds the source tree: $DTS_SRC, else the directory three levels
// above this file (tests/unit/wire_test.c).
static void
src_dir(char *buf, size_t cap)
{
    const char *env = getenv("DTS_SRC");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return;
    }
    snprintf(buf, cap, "%s", __FILE__);
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(buf, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(buf, cap, ".");
    }
}

static char *
read_doc(const char *rel)
{
    char dir[4096], path[4200];
    src_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "wire_test: cannot open %s (set DTS_SRC to the source tree)\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (text) text[n] = 0;
    fclose(f);
    return text;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// parse_hex_line appends the bytes of one dump line ("0010: a9 f2 ...").
// Text after '#' is a comment; an offset ends with ':'.
static void
parse_hex_line(vec *v, const char *line, size_t n)
{
    const char *end = line + n;
    const char *hash = memchr(line, '#', n);
    if (hash) end = hash;
    const char *colon = memchr(line, ':', (size_t)(end - line));
    const char *p = colon ? colon + 1 : line;
    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\r') {
            p++;
            continue;
        }
        assert_true(p + 1 < end);
        int hi = hexval(p[0]), lo = hexval(p[1]);
        assert_true(hi >= 0 && lo >= 0);
        assert_true(v->len < MAX_VEC_BYTES);
        v->b[v->len++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
}

// parse_id_row reads "| `name` | `0x..` | `239.255.x.y` | `ff15::..` |".
static void
parse_id_row(const char *line, size_t n)
{
    char buf[512];
    if (n >= sizeof buf) return;
    memcpy(buf, line, n);
    buf[n] = 0;
    char cells[4][256];
    int k = 0;
    for (char *p = buf; k < 4 && (p = strchr(p, '`'));) {
        char *q = strchr(p + 1, '`');
        if (!q) return;
        size_t len = (size_t)(q - p - 1);
        if (len >= sizeof cells[0]) return;
        memcpy(cells[k], p + 1, len);
        cells[k][len] = 0;
        k++;
        p = q + 1;
    }
    if (k != 4 || strncmp(cells[1], "0x", 2) != 0 || strncmp(cells[2], "239.255.", 8) != 0) return;
    assert_true(n_id_rows < sizeof id_rows / sizeof id_rows[0]);
    id_row *r = &id_rows[n_id_rows++];
    snprintf(r->name, sizeof r->name, "%s", cells[0]);
    r->id = strtoull(cells[1] + 2, NULL, 16);
    if (strlen(cells[2]) >= sizeof r->v4 || strlen(cells[3]) >= sizeof r->v6)
        fail_msg("bad row %s", buf);
    memcpy(r->v4, cells[2], strlen(cells[2]) + 1);
    memcpy(r->v6, cells[3], strlen(cells[3]) + 1);
}

static void
load_doc(const char *rel)
{
    char *text = read_doc(rel);
    assert_non_null(text);
    vec *cur = NULL;
    int in_hex = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (!in_hex && n >= 6 && strncmp(line, "```hex", 6) == 0) {
            in_hex = 1;
            cur = NULL;
        } else if (in_hex && n >= 3 && strncmp(line, "```", 3) == 0) {
            in_hex = 0;
        } else if (in_hex && n > 10 && strncmp(line, "# vector: ", 10) == 0) {
            assert_true(n_vecs < MAX_VECS);
            cur = &vecs[n_vecs++];
            size_t m = n - 10 < sizeof cur->name - 1 ? n - 10 : sizeof cur->name - 1;
            memcpy(cur->name, line + 10, m);
            cur->name[m] = 0;
        } else if (in_hex && cur) {
            parse_hex_line(cur, line, n);
        } else if (!in_hex && n > 4 && strncmp(line, "| `", 3) == 0) {
            parse_id_row(line, n);
        }
        line = nl ? nl + 1 : line + n;
    }
    free(text);
}

static int
setup_docs(void **state)
{
    load_doc("docs/spec/wire.md");
    load_doc("docs/spec/discovery.md");
    return 0;
}

static vec *
get_vec(const char *name)
{
    for (size_t i = 0; i < n_vecs; i++) {
        if (strcmp(vecs[i].name, name) == 0) {
            vecs[i].checked = 1;
            return &vecs[i];
        }
    }
    fail_msg("vector %s is missing from docs/spec", name);
    return NULL;
}

// ---------------------------------------------------------------------------
// The documented values

#define INST_A 0x0123456789abcdefULL
#define HOST_A 0xfedcba9876543210ULL
#define INST_B 0x0fedcba987654321ULL
#define HOST_B 0x1032547698badcfeULL
#define SENT 1700000000000000000LL
#define ID_TEMPERATURE 0xefac3336da21f2a9ULL
#define ID_GRAVITY 0x3ae8758c9c0a3cd9ULL
#define ID_SETPOINT 0xdb522913960b93f7ULL
#define SCHEMA_OBJECT "{\"type\":\"object\"}"
#define SCHEMA_NUMBER "{\"type\":\"number\"}"
#define SID_OBJECT 0xf9d54deb244e6effULL
#define SID_NUMBER 0xefce262f8edc1e31ULL

static const id_row expected_ids[] = {
    {"brewery.Temperature", 0xefac3336da21f2a9ULL, "239.255.159.115", "ff15::4454:da21:f2a9"},
    {"brewery.Gravity", 0x3ae8758c9c0a3cd9ULL, "239.255.226.101", "ff15::4454:9c0a:3cd9"},
    {"brewery.Setpoint", 0xdb522913960b93f7ULL, "239.255.152.184", "ff15::4454:960b:93f7"},
    {"a", 0xaf63dc4c8601ec8cULL, "239.255.62.221", "ff15::4454:8601:ec8c"},
    {"brewery.fermenter1.Temperature", 0xe4e185bf72210a88ULL, "239.255.51.73",
     "ff15::4454:7221:a88"},
    {"x.y", 0xbed3ad197f3152d6ULL, "239.255.52.217", "ff15::4454:7f31:52d6"},
};

static void
assert_hdr_eq(const dtsi_hdr *a, const dtsi_hdr *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->key_id, b->key_id);
    assert_int_equal(a->payload_len, b->payload_len);
    assert_int_equal(a->corr, b->corr);
    assert_true(a->type_id == b->type_id);
    assert_true(a->schema_id == b->schema_id);
    assert_true(a->instance == b->instance);
    assert_true(a->host == b->host);
    assert_true(a->seq == b->seq);
    assert_true(a->sent_ns == b->sent_ns);
}

// check_frame checks that the vector is h followed by payload, both ways.
static void
check_frame(const vec *v, const dtsi_hdr *h, const void *payload, size_t len)
{
    uint8_t buf[MAX_VEC_BYTES];
    dtsi_hdr e = *h;
    e.version = 1;
    e.payload_len = (uint32_t)len;
    dtsi_hdr_encode(&e, buf);
    if (len) memcpy(buf + DTSI_HDR_SIZE, payload, len);
    assert_int_equal(v->len, DTSI_HDR_SIZE + len);
    assert_memory_equal(v->b, buf, v->len);
    dtsi_hdr d;
    const char *why = "x";
    assert_int_equal(dtsi_hdr_decode(v->b, v->len, &d, &why), DTSI_WIRE_OK);
    assert_null(why);
    assert_hdr_eq(&d, &e);
}

static size_t
enc(uint8_t *buf, size_t cap, void (*fn)(dtsi_wbuf *, const void *), const void *arg)
{
    dtsi_wbuf w = {buf, 0, cap, 0};
    fn(&w, arg);
    assert_int_equal(w.err, 0);
    return w.len;
}

static void
enc_heartbeat(dtsi_wbuf *w, const void *arg)
{
    dtsi_heartbeat_encode(w, arg);
}

static const dtsi_heartbeat doc_hb = {.pid = 4242,
                                      .lease_ms = 5000,
                                      .generation = 3,
                                      .n_members = 3,
                                      .hostname_len = 7,
                                      .hostname = "brew-pi"};
static const dtsi_type_desc doc_desc_t = {
    .format = 1, .schema_id = SID_OBJECT, .name_len = 19, .name = "brewery.Temperature"};
static const dtsi_type_desc doc_desc_g = {
    .format = 255, .schema_id = 0, .name_len = 15, .name = "brewery.Gravity"};

static void
enc_types(dtsi_wbuf *w, const void *arg)
{
    dtsi_w_u16(w, 2);
    dtsi_type_desc_encode(w, &doc_desc_t);
    dtsi_type_desc_encode(w, &doc_desc_g);
}

static const dtsi_member doc_members[3] = {
    {.role = DTSI_ROLE_PUB, .type_id = ID_TEMPERATURE},
    {.role = DTSI_ROLE_SUB, .type_id = ID_GRAVITY},
    {.role = DTSI_ROLE_GLOB, .pattern_len = 9, .pattern = "brewery.*"},
};

static void
enc_members(dtsi_wbuf *w, const void *arg)
{
    dtsi_members_begin(w, 3, 0, 1, 3);
    for (int i = 0; i < 3; i++) dtsi_member_encode(w, &doc_members[i]);
}

static void
check_heartbeat_payload(const uint8_t *p, size_t len)
{
    uint8_t buf[256];
    size_t n = enc(buf, sizeof buf, enc_heartbeat, &doc_hb);
    assert_int_equal(n, len);
    assert_memory_equal(buf, p, len);
    dtsi_heartbeat hb;
    assert_int_equal(dtsi_heartbeat_decode(p, len, &hb), 0);
    assert_int_equal(hb.pid, 4242);
    assert_int_equal(hb.lease_ms, 5000);
    assert_int_equal(hb.generation, 3);
    assert_int_equal(hb.n_members, 3);
    assert_int_equal(hb.hostname_len, 7);
    assert_string_equal(hb.hostname, "brew-pi");
}

typedef struct desc_list {
    dtsi_type_desc d[8];
    char names[8][256];
    int n;
} desc_list;

static void
on_desc(void *ud, const dtsi_type_desc *d)
{
    desc_list *l = ud;
    if (l->n >= 8) return;
    l->d[l->n] = *d;
    memcpy(l->names[l->n], d->name, d->name_len);
    l->names[l->n][d->name_len] = 0;
    l->n++;
}

static void
check_types_payload(const uint8_t *p, size_t len)
{
    uint8_t buf[256];
    size_t n = enc(buf, sizeof buf, enc_types, NULL);
    assert_int_equal(n, len);
    assert_memory_equal(buf, p, len);
    desc_list l = {0};
    assert_int_equal(dtsi_types_decode(p, len, on_desc, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.d[0].format, 1);
    assert_true(l.d[0].schema_id == SID_OBJECT);
    assert_string_equal(l.names[0], "brewery.Temperature");
    assert_int_equal(l.d[1].format, 255);
    assert_true(l.d[1].schema_id == 0);
    assert_string_equal(l.names[1], "brewery.Gravity");
}

typedef struct member_list {
    dtsi_member m[8];
    char patterns[8][256];
    int n;
} member_list;

static void
on_member(void *ud, const dtsi_member *m)
{
    member_list *l = ud;
    if (l->n >= 8) return;
    l->m[l->n] = *m;
    if (m->role == DTSI_ROLE_GLOB) {
        memcpy(l->patterns[l->n], m->pattern, m->pattern_len);
        l->patterns[l->n][m->pattern_len] = 0;
    }
    l->n++;
}

// ---------------------------------------------------------------------------
// Vectors

static void
test_vec_data_frame(void **state)
{
    const char *payload = "{\"celsius\":18.5}";
    dtsi_hdr h = {.kind = DTSI_KIND_DATA,
                  .type_id = ID_TEMPERATURE,
                  .schema_id = SID_OBJECT,
                  .instance = INST_A,
                  .host = HOST_A,
                  .seq = 1,
                  .sent_ns = SENT};
    vec *v = get_vec("data-frame");
    check_frame(v, &h, payload, strlen(payload));
    assert_true(dts_type_id("brewery.Temperature") == ID_TEMPERATURE);
    assert_true(dts_schema_id(DTS_FORMAT_JSON, SCHEMA_OBJECT, 17) == SID_OBJECT);
}

static void
test_vec_query_frame(void **state)
{
    dtsi_hdr h = {.kind = DTSI_KIND_QUERY,
                  .corr = 0x0badcafe,
                  .type_id = ID_SETPOINT,
                  .instance = INST_A,
                  .host = HOST_A};
    check_frame(get_vec("query-frame"), &h, NULL, 0);
}

static void
test_vec_reply_frame(void **state)
{
    dtsi_hdr h = {.kind = DTSI_KIND_REPLY,
                  .corr = 0x0badcafe,
                  .type_id = ID_SETPOINT,
                  .schema_id = SID_NUMBER,
                  .instance = INST_B,
                  .host = HOST_B,
                  .seq = 42,
                  .sent_ns = SENT + 250000000};
    check_frame(get_vec("reply-frame"), &h, "19.0", 4);
    assert_true(dts_schema_id(DTS_FORMAT_JSON, SCHEMA_NUMBER, 17) == SID_NUMBER);
}

static void
test_vec_heartbeat(void **state)
{
    uint8_t pl[256];
    size_t n = enc(pl, sizeof pl, enc_heartbeat, &doc_hb);
    dtsi_hdr h = {.kind = DTSI_KIND_HEARTBEAT,
                  .instance = INST_A,
                  .host = HOST_A,
                  .seq = 7,
                  .sent_ns = SENT + 1000000};
    vec *v = get_vec("heartbeat-frame");
    check_frame(v, &h, pl, n);
    check_heartbeat_payload(v->b + DTSI_HDR_SIZE, v->len - DTSI_HDR_SIZE);
    v = get_vec("heartbeat-payload");
    check_heartbeat_payload(v->b, v->len);
}

static void
test_vec_types(void **state)
{
    uint8_t pl[256];
    size_t n = enc(pl, sizeof pl, enc_types, NULL);
    dtsi_hdr h = {.kind = DTSI_KIND_TYPES,
                  .instance = INST_A,
                  .host = HOST_A,
                  .seq = 8,
                  .sent_ns = SENT + 2000000};
    vec *v = get_vec("types-frame");
    check_frame(v, &h, pl, n);
    check_types_payload(v->b + DTSI_HDR_SIZE, v->len - DTSI_HDR_SIZE);
    v = get_vec("types-payload");
    check_types_payload(v->b, v->len);
}

static void
test_vec_datagram(void **state)
{
    vec *v = get_vec("datagram-two-frames");
    vec *one = get_vec("data-frame");
    // Walk it the way node_on_recv does.
    size_t off = 0;
    int frames = 0;
    while (off < v->len) {
        dtsi_hdr h;
        assert_int_equal(dtsi_hdr_decode(v->b + off, v->len - off, &h, NULL), DTSI_WIRE_OK);
        frames++;
        assert_int_equal(h.kind, DTSI_KIND_DATA);
        assert_true(h.seq == (uint64_t)frames);
        assert_true(h.sent_ns == SENT + (frames - 1) * 100000000LL);
        assert_memory_equal(v->b + off + DTSI_HDR_SIZE,
                            frames == 1 ? "{\"celsius\":18.5}" : "{\"celsius\":18.6}", 16);
        off += DTSI_HDR_SIZE + h.payload_len;
    }
    assert_int_equal(frames, 2);
    assert_int_equal(off, v->len);
    assert_memory_equal(v->b, one->b, one->len); // the first frame is data-frame
}

// The padded last fragment: a fragment frame, then a PAD frame to the
// length of a full fragment's datagram (docs/spec/wire.md, "Fragments").
static void
test_vec_fragment_padded(void **state)
{
    vec *v = get_vec("fragment-padded");
    assert_int_equal(v->len, DTSI_HDR_SIZE + DTSI_FRAG_HDR_SIZE + 80);
    dtsi_hdr h;
    assert_int_equal(dtsi_hdr_decode(v->b, v->len, &h, NULL), DTSI_WIRE_OK);
    assert_int_equal(h.kind, DTSI_KIND_DATA);
    assert_int_equal(h.flags, DTSI_FLAG_FRAGMENT);
    assert_true(h.type_id == ID_TEMPERATURE && h.seq == 1 && h.instance == INST_A);
    assert_int_equal(h.payload_len, DTSI_FRAG_HDR_SIZE + 10);
    dtsi_frag_hdr f;
    size_t data_len = 0;
    assert_null(dtsi_frag_hdr_decode(v->b + DTSI_HDR_SIZE, h.payload_len, 1000, &f, &data_len));
    assert_int_equal(data_len, 10);
    assert_int_equal(f.msg_len, 90);
    assert_int_equal(f.off, 80);
    assert_int_equal(f.frag_size, 80);
    for (int i = 0; i < 10; i++)
        assert_int_equal(v->b[DTSI_HDR_SIZE + DTSI_FRAG_HDR_SIZE + i], 80 + i);
    size_t off = DTSI_HDR_SIZE + h.payload_len;
    dtsi_hdr p;
    assert_int_equal(dtsi_hdr_decode(v->b + off, v->len - off, &p, NULL), DTSI_WIRE_OK);
    assert_int_equal(p.kind, DTSI_KIND_PAD);
    assert_true(p.instance == INST_A && p.host == HOST_A);
    assert_int_equal(off + DTSI_HDR_SIZE + p.payload_len, v->len);
    uint8_t enc[DTSI_HDR_SIZE];
    dtsi_hdr want = {.kind = DTSI_KIND_PAD, .payload_len = 6, .instance = INST_A, .host = HOST_A};
    dtsi_hdr_encode(&want, enc);
    assert_memory_equal(enc, v->b + off, DTSI_HDR_SIZE);
}

static void
test_vec_slow(void **state)
{
    uint8_t pl[16];
    for (int i = 0; i < 8; i++) pl[i] = (uint8_t)(INST_A >> (8 * i));
    uint64_t rate = 60000000; // 60 MB/s
    for (int i = 0; i < 8; i++) pl[8 + i] = (uint8_t)(rate >> (8 * i));
    dtsi_hdr h = {.kind = DTSI_KIND_SLOW,
                  .type_id = ID_TEMPERATURE,
                  .instance = INST_B,
                  .host = HOST_B,
                  .seq = 5,
                  .sent_ns = SENT + 3000000};
    check_frame(get_vec("slow-frame"), &h, pl, sizeof pl);
    // For loss on the way: corr 1 (DTSI_SLOW_LOSS), 100 MB/s.
    rate = 100000000;
    for (int i = 0; i < 8; i++) pl[8 + i] = (uint8_t)(rate >> (8 * i));
    h.seq = 6;
    h.corr = DTSI_SLOW_LOSS;
    check_frame(get_vec("slow-loss-frame"), &h, pl, sizeof pl);
}

static void
test_vec_members(void **state)
{
    vec *v = get_vec("members-payload");
    uint8_t buf[256];
    size_t n = enc(buf, sizeof buf, enc_members, NULL);
    assert_int_equal(n, v->len);
    assert_memory_equal(buf, v->b, n);
    size_t sz = 8;
    for (int i = 0; i < 3; i++) sz += dtsi_member_size(&doc_members[i]);
    assert_int_equal(sz, v->len);
    member_list l = {0};
    uint32_t gen;
    uint8_t part, parts;
    assert_int_equal(dtsi_members_decode(v->b, v->len, &gen, &part, &parts, on_member, &l), 0);
    assert_int_equal(gen, 3);
    assert_int_equal(part, 0);
    assert_int_equal(parts, 1);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.m[0].role, DTSI_ROLE_PUB);
    assert_true(l.m[0].type_id == ID_TEMPERATURE);
    assert_int_equal(l.m[1].role, DTSI_ROLE_SUB);
    assert_true(l.m[1].type_id == ID_GRAVITY);
    assert_int_equal(l.m[2].role, DTSI_ROLE_GLOB);
    assert_string_equal(l.patterns[2], "brewery.*");
}

static void
test_vec_goodbye(void **state)
{
    dtsi_hdr h = {.kind = DTSI_KIND_GOODBYE,
                  .instance = INST_A,
                  .host = HOST_A,
                  .seq = 9,
                  .sent_ns = SENT + 3000000};
    check_frame(get_vec("goodbye-frame"), &h, NULL, 0);
}

static void
check_u64_payload(const char *name, uint64_t want)
{
    vec *v = get_vec(name);
    uint8_t buf[8];
    dtsi_wbuf w = {buf, 0, sizeof buf, 0};
    dtsi_w_u64(&w, want);
    assert_int_equal(v->len, 8);
    assert_memory_equal(buf, v->b, 8);
    dtsi_cur c = {v->b, v->len, 0};
    assert_true(dtsi_r_u64(&c) == want);
    assert_int_equal(c.err, 0);
    assert_int_equal(c.left, 0);
}

static void
test_vec_schema_and_members_req(void **state)
{
    check_u64_payload("schema-req-payload", SID_OBJECT);
    check_u64_payload("members-req-payload", INST_B);

    vec *v = get_vec("schema-ans-payload");
    dtsi_schema_ans a = {
        .desc = doc_desc_t, .schema_len = 17, .schema = (const uint8_t *)SCHEMA_OBJECT};
    uint8_t buf[256];
    dtsi_wbuf w = {buf, 0, sizeof buf, 0};
    dtsi_schema_ans_encode(&w, &a);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, v->len);
    assert_memory_equal(buf, v->b, v->len);
    dtsi_schema_ans d;
    assert_int_equal(dtsi_schema_ans_decode(v->b, v->len, &d), 0);
    assert_int_equal(d.desc.format, 1);
    assert_true(d.desc.schema_id == SID_OBJECT);
    assert_int_equal(d.desc.name_len, 19);
    assert_memory_equal(d.desc.name, "brewery.Temperature", 19);
    assert_int_equal(d.schema_len, 17);
    assert_memory_equal(d.schema, SCHEMA_OBJECT, 17);
    assert_true(dts_schema_id((dts_format)d.desc.format, d.schema, d.schema_len) ==
                d.desc.schema_id);
}

// A SCHEMA_ANS longer than a datagram is cut like a large message
// (docs/spec/discovery.md, "SCHEMA_ANS"): its last fragment, whose data
// completes the payload vector; the same frame of another control kind is
// malformed.
static void
test_vec_schema_ans_fragment(void **state)
{
    vec *v = get_vec("schema-ans-fragment"), *whole = get_vec("schema-ans-payload");
    dtsi_hdr h;
    assert_int_equal(dtsi_hdr_decode(v->b, v->len, &h, NULL), DTSI_WIRE_OK);
    assert_int_equal(h.kind, DTSI_KIND_SCHEMA_ANS);
    assert_int_equal(h.flags, DTSI_FLAG_FRAGMENT);
    assert_true(h.type_id == 0 && h.schema_id == 0 && h.corr == 0);
    assert_true(h.instance == INST_A && h.host == HOST_A && h.seq == 9 && h.sent_ns == SENT);
    assert_int_equal(DTSI_HDR_SIZE + h.payload_len, v->len);
    dtsi_frag_hdr f;
    size_t n = 0;
    assert_null(
        dtsi_frag_hdr_decode(v->b + DTSI_HDR_SIZE, h.payload_len, DTSI_SCHEMA_ANS_MAX, &f, &n));
    assert_true(f.msg_len == whole->len && f.off == 32 && f.frag_size == 32 && n == 18);
    uint8_t payload[64];
    memcpy(payload, whole->b, 32);
    memcpy(payload + 32, v->b + DTSI_HDR_SIZE + DTSI_FRAG_HDR_SIZE, n);
    assert_memory_equal(payload, whole->b, whole->len);
    dtsi_hdr e = h;
    e.payload_len = (uint32_t)(DTSI_FRAG_HDR_SIZE + n);
    uint8_t enc[DTSI_HDR_SIZE];
    dtsi_hdr_encode(&e, enc);
    assert_memory_equal(enc, v->b, DTSI_HDR_SIZE);
    uint8_t other[128];
    memcpy(other, v->b, v->len);
    other[3] = DTSI_KIND_HEARTBEAT;
    const char *why = NULL;
    assert_int_equal(dtsi_hdr_decode(other, v->len, &h, &why), DTSI_WIRE_MALFORMED);
    assert_string_equal(why, "fragment of a kind that cannot be cut");
}

// test_vec_all_checked runs last among the vector tests: every vector in
// the docs must have been checked by one of the tests above.
static void
test_vec_all_checked(void **state)
{
    assert_true(n_vecs >= 13);
    for (size_t i = 0; i < n_vecs; i++) {
        if (!vecs[i].checked) fail_msg("vector %s in docs/spec is not checked", vecs[i].name);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(vecs[i].name, vecs[j].name);
    }
}

static void
test_ids_and_groups(void **state)
{
    size_t n_exp = sizeof expected_ids / sizeof expected_ids[0];
    assert_int_equal(n_id_rows, n_exp); // the doc table is exactly these rows
    for (size_t i = 0; i < n_id_rows; i++) {
        const id_row *d = &id_rows[i], *e = &expected_ids[i];
        assert_string_equal(d->name, e->name);
        assert_true(d->id == e->id);
        assert_string_equal(d->v4, e->v4);
        assert_string_equal(d->v6, e->v6);
        char g[64];
        assert_true(dts_type_id(d->name) == d->id);
        dtsi_udpm_group(d->id, 0, g, sizeof g);
        assert_string_equal(g, d->v4);
        dtsi_udpm_group(d->id, 1, g, sizeof g);
        assert_string_equal(g, d->v6);
    }
    char g[64];
    // Back channels (docs/spec/wire.md, "Groups and port").
    assert_true(dtsi_back_channel(0xefac3336da21f2a9ULL) == 0xefac3336da21f2a8ULL);
    dtsi_udpm_group(dtsi_back_channel(0xefac3336da21f2a9ULL), 0, g, sizeof g);
    assert_string_equal(g, "239.255.158.115");
    dtsi_udpm_group(dtsi_back_channel(0xefac3336da21f2a9ULL), 1, g, sizeof g);
    assert_string_equal(g, "ff15::4454:da21:f2a8");
    assert_true(dtsi_back_channel(1) == 3);
    for (uint64_t id = 1; id < 100000; id += 3) {
        uint64_t x = id * 0x9e3779b97f4a7c15ULL;
        char own[64];
        dtsi_udpm_group(x, 0, own, sizeof own);
        dtsi_udpm_group(dtsi_back_channel(x), 0, g, sizeof g);
        assert_true(dtsi_back_channel(x) != 0);
        assert_string_not_equal(g, own);
    }
    dtsi_udpm_group(0, 0, g, sizeof g);
    assert_string_equal(g, "239.255.0.1");
    dtsi_udpm_group(0, 1, g, sizeof g);
    assert_string_equal(g, "ff15::4454:0:1");
    dtsi_udpm_group(0x100000001ULL, 1, g, sizeof g); // low 32 bits 1: moved off control
    assert_string_equal(g, "ff15::4454:0:101");
    dtsi_udpm_group(0x100000000ULL, 1, g, sizeof g);
    assert_string_equal(g, "ff15::4454:0:0");
    // The IPv4 formula over many ids: never in 239.255.0.0/24, last octet 1..254.
    for (uint64_t id = 1; id < 200000; id += 7) {
        uint64_t x = id * 0x9e3779b97f4a7c15ULL;
        if (!x) continue;
        dtsi_udpm_group(x, 0, g, sizeof g);
        unsigned a, b, c, dd;
        assert_int_equal(sscanf(g, "%u.%u.%u.%u", &a, &b, &c, &dd), 4);
        assert_int_equal(a, 239);
        assert_int_equal(b, 255);
        assert_int_equal(c, 1 + x % 255);
        assert_int_equal(dd, 1 + (x >> 8) % 254);
        assert_true(c >= 1 && c <= 255 && dd >= 1 && dd <= 254);
    }
    // Schema ids of the identifier table.
    assert_true(dts_schema_id(DTS_FORMAT_RAW, "", 0) == 0xaf63bd4c8601b7dfULL);
    assert_true(dts_schema_id(DTS_FORMAT_JSON, "", 0) == 0xaf63bc4c8601b62cULL);
    assert_true(dts_type_id("") == 0xcbf29ce484222325ULL); // the offset basis
}

// ---------------------------------------------------------------------------
// Validation rules

// good_frame builds the valid data-frame vector into buf.
static size_t
good_frame(uint8_t *buf, dtsi_hdr *h)
{
    *h = (dtsi_hdr){.kind = DTSI_KIND_DATA,
                    .type_id = ID_TEMPERATURE,
                    .schema_id = SID_OBJECT,
                    .instance = INST_A,
                    .host = HOST_A,
                    .seq = 1,
                    .sent_ns = SENT,
                    .payload_len = 16};
    dtsi_hdr_encode(h, buf);
    memcpy(buf + DTSI_HDR_SIZE, "{\"celsius\":18.5}", 16);
    return DTSI_HDR_SIZE + 16;
}

static void
expect_rc(const uint8_t *buf, size_t len, dtsi_wire_rc rc, const char *why_want)
{
    dtsi_hdr h;
    const char *why = NULL;
    dtsi_wire_rc got = dtsi_hdr_decode(buf, len, &h, &why);
    if (got != rc || (why_want && (!why || strcmp(why, why_want) != 0)) || (!why_want && why))
        fail_msg("got rc %d (%s), want %d (%s)", got, why ? why : "-", rc,
                 why_want ? why_want : "-");
}

// expect_hdr encodes h (payload_len bytes of zero payload after it, plus
// extra bytes of datagram) and checks the result.
static void
expect_hdr(const dtsi_hdr *h, size_t datagram_len, dtsi_wire_rc rc, const char *why)
{
    uint8_t buf[512] = {0};
    dtsi_hdr_encode(h, buf);
    expect_rc(buf, datagram_len, rc, why);
}

static void
test_validation_rules(void **state)
{
    uint8_t buf[512];
    dtsi_hdr h;
    size_t len = good_frame(buf, &h);
    expect_rc(buf, len, DTSI_WIRE_OK, NULL);

    // 1. foreign
    uint8_t b2[128];
    memcpy(b2, buf, len);
    b2[0] = 'X';
    expect_rc(b2, len, DTSI_WIRE_FOREIGN, "not a dts frame");
    memcpy(b2, buf, len);
    b2[1] = 'X';
    expect_rc(b2, len, DTSI_WIRE_FOREIGN, "not a dts frame");
    expect_rc(buf, 0, DTSI_WIRE_FOREIGN, "not a dts frame");
    expect_rc(buf, 1, DTSI_WIRE_FOREIGN, "not a dts frame");
    // A DTS 0.1.9 datagram starts with a blosc header (version 2).
    const uint8_t legacy[16] = {0x02, 0x01, 0x21, 0x01, 0x40, 0, 0, 0,
                                0x40, 0,    0,    0,    0x50, 0, 0, 0};
    expect_rc(legacy, sizeof legacy, DTSI_WIRE_FOREIGN, "not a dts frame");
    // 2. magic but no version byte
    expect_rc(buf, 2, DTSI_WIRE_MALFORMED, "truncated header");
    // 3. version
    const uint8_t versions[] = {0, 2, 3, 0x7f, 0xff};
    for (size_t i = 0; i < sizeof versions; i++) {
        memcpy(b2, buf, len);
        b2[2] = versions[i];
        expect_rc(b2, len, DTSI_WIRE_BAD_VERSION, "unsupported version");
        expect_rc(b2, 3, DTSI_WIRE_BAD_VERSION, "unsupported version"); // before the length
    }
    // 4. truncated header: see test_truncation.
    // 5. kind
    const uint8_t kinds[] = {0, 8, 15, 23, 24, 0x80, 0xff};
    for (size_t i = 0; i < sizeof kinds; i++) {
        dtsi_hdr k = h;
        k.kind = kinds[i];
        expect_hdr(&k, len, DTSI_WIRE_MALFORMED, "unknown kind");
    }
    // 6. flags: every bit v1 does not implement, including the reserved ones
    for (int bit = 0; bit < 16; bit++) {
        dtsi_hdr f = h;
        f.flags = (uint16_t)(1u << bit);
        if (f.flags & DTSI_FLAGS_KNOWN) continue;
        expect_hdr(&f, len, DTSI_WIRE_MALFORMED, "unsupported flags");
    }
    // 6b. the fragment flag: only on DATA, REPLY and SCHEMA_ANS, with room
    // for the 16-byte fragment header and one byte (docs/spec/wire.md,
    // "Fragments")
    {
        dtsi_hdr f = h;
        f.flags = DTSI_FLAG_FRAGMENT;
        f.kind = DTSI_KIND_QUERY;
        expect_hdr(&f, len, DTSI_WIRE_MALFORMED, "fragment of a kind that cannot be cut");
        static const uint8_t uncut[] = {DTSI_KIND_HEARTBEAT,  DTSI_KIND_MEMBERS,
                                        DTSI_KIND_TYPES,      DTSI_KIND_GOODBYE,
                                        DTSI_KIND_SCHEMA_REQ, DTSI_KIND_MEMBERS_REQ};
        for (size_t i = 0; i < sizeof uncut; i++) {
            f = h;
            f.flags = DTSI_FLAG_FRAGMENT;
            f.kind = uncut[i];
            f.type_id = 0, f.schema_id = 0; // as control frames have them
            expect_hdr(&f, len, DTSI_WIRE_MALFORMED, "fragment of a kind that cannot be cut");
        }
        f = h;
        f.flags = DTSI_FLAG_FRAGMENT;
        f.kind = DTSI_KIND_SCHEMA_ANS; // a schema answer longer than a datagram
        f.type_id = 0, f.schema_id = 0;
        f.payload_len = 17;
        expect_hdr(&f, DTSI_HDR_SIZE + 17, DTSI_WIRE_OK, NULL);
        f = h;
        f.flags = DTSI_FLAG_FRAGMENT;
        f.payload_len = 16;
        expect_hdr(&f, len, DTSI_WIRE_MALFORMED, "fragment shorter than its header plus one byte");
    }
    {
        dtsi_hdr f = h;
        f.flags = DTSI_FLAG_SEALED;
        f.key_id = 7; // sealed with a key: still unsupported in v1
        expect_hdr(&f, len, DTSI_WIRE_MALFORMED, "unsupported flags");
    }
    // 7. key id
    {
        dtsi_hdr k = h;
        k.key_id = 1;
        expect_hdr(&k, len, DTSI_WIRE_MALFORMED, "key id without the sealed flag");
        k.key_id = 0xffff;
        expect_hdr(&k, len, DTSI_WIRE_MALFORMED, "key id without the sealed flag");
    }
    // 8. payload length
    {
        dtsi_hdr p = h;
        p.payload_len = 17;
        expect_hdr(&p, len, DTSI_WIRE_MALFORMED, "payload longer than the datagram");
        p.payload_len = 0xffffffffu;
        expect_hdr(&p, len, DTSI_WIRE_MALFORMED, "payload longer than the datagram");
        p.payload_len = 15; // shorter is fine: the rest is the next frame
        expect_hdr(&p, len, DTSI_WIRE_OK, NULL);
        p.payload_len = 0;
        expect_hdr(&p, DTSI_HDR_SIZE, DTSI_WIRE_OK, NULL);
        expect_rc(buf, len - 1, DTSI_WIRE_MALFORMED, "payload longer than the datagram");
    }
    // 9. instance
    {
        dtsi_hdr i = h;
        i.instance = 0;
        expect_hdr(&i, len, DTSI_WIRE_MALFORMED, "zero instance id");
    }
    // 10..14. data kinds
    {
        dtsi_hdr d = h;
        d.type_id = 0;
        expect_hdr(&d, len, DTSI_WIRE_MALFORMED, "zero type id");
        d = h;
        d.seq = 0;
        expect_hdr(&d, len, DTSI_WIRE_MALFORMED, "zero sequence number");
        d.kind = DTSI_KIND_REPLY;
        expect_hdr(&d, len, DTSI_WIRE_MALFORMED, "zero sequence number");
        d = h;
        d.kind = DTSI_KIND_QUERY;
        d.corr = 5;
        expect_hdr(&d, len, DTSI_WIRE_MALFORMED, "query with a payload");
        d.payload_len = 0;
        d.corr = 0;
        expect_hdr(&d, DTSI_HDR_SIZE, DTSI_WIRE_MALFORMED, "query without an id");
        d.corr = 5;
        d.seq = 0; // a query has no sequence number
        expect_hdr(&d, DTSI_HDR_SIZE, DTSI_WIRE_OK, NULL);
        d = h;
        d.corr = 1;
        expect_hdr(&d, len, DTSI_WIRE_MALFORMED, "data with a query id");
        d.kind = DTSI_KIND_REPLY; // a reply carries the query id
        expect_hdr(&d, len, DTSI_WIRE_OK, NULL);
        d.corr = 0; // not checked on a reply
        expect_hdr(&d, len, DTSI_WIRE_OK, NULL);
        d = h;
        d.host = 0; // host, schema id and time are not checked
        d.schema_id = 0;
        d.sent_ns = -1;
        expect_hdr(&d, len, DTSI_WIRE_OK, NULL);
    }
    // 15. control kinds
    for (uint8_t kind = DTSI_KIND_HEARTBEAT; kind <= DTSI_KIND_MEMBERS_REQ; kind++) {
        dtsi_hdr c = {.kind = kind, .instance = INST_A, .seq = 1};
        expect_hdr(&c, DTSI_HDR_SIZE, DTSI_WIRE_OK, NULL);
        assert_true(dtsi_kind_is_control(kind));
        c.seq = 0;
        c.corr = 9; // neither is checked on control frames
        expect_hdr(&c, DTSI_HDR_SIZE, DTSI_WIRE_OK, NULL);
        c.type_id = 1;
        expect_hdr(&c, DTSI_HDR_SIZE, DTSI_WIRE_MALFORMED,
                   "control frame with a type or schema id");
        c.type_id = 0;
        c.schema_id = 1;
        expect_hdr(&c, DTSI_HDR_SIZE, DTSI_WIRE_MALFORMED,
                   "control frame with a type or schema id");
    }
    // 14d. SLOW names one publisher and a rate: exactly 16 bytes
    {
        dtsi_hdr w = h;
        w.kind = DTSI_KIND_SLOW;
        w.payload_len = 16;
        expect_hdr(&w, DTSI_HDR_SIZE + 16, DTSI_WIRE_OK, NULL);
        w.payload_len = 8;
        expect_hdr(&w, DTSI_HDR_SIZE + 16, DTSI_WIRE_MALFORMED,
                   "slow without a publisher and a rate");
        w.payload_len = 17;
        expect_hdr(&w, DTSI_HDR_SIZE + 17, DTSI_WIRE_MALFORMED,
                   "slow without a publisher and a rate");
        w.payload_len = 16;
        w.type_id = 0;
        expect_hdr(&w, DTSI_HDR_SIZE + 16, DTSI_WIRE_MALFORMED, "zero type id");
        assert_false(dtsi_kind_is_control(DTSI_KIND_SLOW));
    }
    // 15a. PAD: a header with nothing set but its length, instance and host
    {
        dtsi_hdr p = {.kind = DTSI_KIND_PAD, .payload_len = 6, .instance = INST_A};
        expect_hdr(&p, DTSI_HDR_SIZE + 6, DTSI_WIRE_OK, NULL);
        expect_hdr(&p, DTSI_HDR_SIZE + 5, DTSI_WIRE_MALFORMED, "payload longer than the datagram");
        dtsi_hdr q = p;
        q.type_id = ID_TEMPERATURE;
        expect_hdr(&q, DTSI_HDR_SIZE + 6, DTSI_WIRE_MALFORMED, "padding with fields set");
        q = p, q.schema_id = 1;
        expect_hdr(&q, DTSI_HDR_SIZE + 6, DTSI_WIRE_MALFORMED, "padding with fields set");
        q = p, q.seq = 1;
        expect_hdr(&q, DTSI_HDR_SIZE + 6, DTSI_WIRE_MALFORMED, "padding with fields set");
        q = p, q.corr = 1;
        expect_hdr(&q, DTSI_HDR_SIZE + 6, DTSI_WIRE_MALFORMED, "padding with fields set");
        q = p, q.flags = DTSI_FLAG_RELIABLE;
        expect_hdr(&q, DTSI_HDR_SIZE + 6, DTSI_WIRE_MALFORMED, "padding with fields set");
        q = p, q.flags = DTSI_FLAG_FRAGMENT;
        expect_hdr(&q, DTSI_HDR_SIZE + 6, DTSI_WIRE_MALFORMED,
                   "fragment of a kind that cannot be cut");
        assert_false(dtsi_kind_is_control(DTSI_KIND_PAD));
    }
    for (int kind = 0; kind < 256; kind++) {
        int ctl = kind >= 16 && kind <= 22;
        assert_int_equal(dtsi_kind_is_control((uint8_t)kind), ctl);
    }
    // The order: the earliest failing check decides.
    {
        dtsi_hdr o = h;
        o.kind = 99;
        o.flags = 0x8000; // not implemented in v1
        o.key_id = 1;
        o.instance = 0;
        expect_hdr(&o, len, DTSI_WIRE_MALFORMED, "unknown kind");
        o.kind = DTSI_KIND_DATA;
        expect_hdr(&o, len, DTSI_WIRE_MALFORMED, "unsupported flags");
        o.flags = 0;
        o.payload_len = 1000;
        expect_hdr(&o, len, DTSI_WIRE_MALFORMED, "key id without the sealed flag");
        o.key_id = 0;
        expect_hdr(&o, len, DTSI_WIRE_MALFORMED, "payload longer than the datagram");
        o.payload_len = 16;
        o.type_id = 0;
        expect_hdr(&o, len, DTSI_WIRE_MALFORMED, "zero instance id");
        o.instance = 1;
        o.seq = 0;
        expect_hdr(&o, len, DTSI_WIRE_MALFORMED, "zero type id");
        uint8_t v[DTSI_HDR_SIZE];
        dtsi_hdr_encode(&o, v);
        v[2] = 9; // the version is checked before any field
        expect_rc(v, 10, DTSI_WIRE_BAD_VERSION, "unsupported version");
    }
    // The encoder writes version 1 for version 0.
    {
        dtsi_hdr e = h;
        e.version = 0;
        uint8_t v[DTSI_HDR_SIZE];
        dtsi_hdr_encode(&e, v);
        assert_int_equal(v[2], 1);
        assert_int_equal(v[0], 0x44);
        assert_int_equal(v[1], 0x54);
    }
    // why may be NULL.
    dtsi_hdr tmp;
    assert_int_equal(dtsi_hdr_decode(buf, len, &tmp, NULL), DTSI_WIRE_OK);
    assert_int_equal(dtsi_hdr_decode(buf, 5, &tmp, NULL), DTSI_WIRE_MALFORMED);
}

static void
test_truncation(void **state)
{
    uint8_t buf[128];
    dtsi_hdr h;
    good_frame(buf, &h);
    for (size_t n = 0; n < DTSI_HDR_SIZE; n++) {
        // Copy to an exact-size heap block so a read past n is caught by ASan.
        uint8_t *p = malloc(n ? n : 1);
        memcpy(p, buf, n);
        if (n < 2)
            expect_rc(p, n, DTSI_WIRE_FOREIGN, "not a dts frame");
        else
            expect_rc(p, n, DTSI_WIRE_MALFORMED, "truncated header");
        free(p);
    }
    // A complete header whose payload is cut: every length up to the end.
    for (size_t n = DTSI_HDR_SIZE; n < DTSI_HDR_SIZE + 16; n++)
        expect_rc(buf, n, DTSI_WIRE_MALFORMED, "payload longer than the datagram");
    expect_rc(buf, DTSI_HDR_SIZE + 16, DTSI_WIRE_OK, NULL);
}

// test_datagram_walk: the first bad frame ends the datagram.
static void
test_datagram_walk(void **state)
{
    uint8_t d[512];
    dtsi_hdr h;
    size_t one = good_frame(d, &h);
    memcpy(d + one, d, one);
    memcpy(d + 2 * one, d, one);
    d[2 * one + 3] = 99; // the third frame has an unknown kind
    memcpy(d + 3 * one, d, one);
    size_t len = 4 * one, off = 0;
    int ok = 0;
    dtsi_wire_rc rc = DTSI_WIRE_OK;
    while (off < len) {
        dtsi_hdr f;
        rc = dtsi_hdr_decode(d + off, len - off, &f, NULL);
        if (rc != DTSI_WIRE_OK) break;
        ok++;
        off += DTSI_HDR_SIZE + f.payload_len;
    }
    assert_int_equal(ok, 2);
    assert_int_equal(rc, DTSI_WIRE_MALFORMED);
    assert_int_equal(off, 2 * one);
}

// ---------------------------------------------------------------------------
// Discovery payload decoders

static void
test_heartbeat_bounds(void **state)
{
    uint8_t buf[256];
    dtsi_heartbeat hb = doc_hb, out;
    size_t n = enc(buf, sizeof buf, enc_heartbeat, &hb);
    for (size_t k = 0; k < n; k++) assert_int_equal(dtsi_heartbeat_decode(buf, k, &out), -1);
    assert_int_equal(dtsi_heartbeat_decode(buf, n, &out), 0);
    buf[n] = 'x'; // trailing byte
    assert_int_equal(dtsi_heartbeat_decode(buf, n + 1, &out), -1);

    const uint32_t leases[][2] = {{99, 0},      {100, 1}, {3600000, 1},
                                  {3600001, 0}, {0, 0},   {0xffffffffu, 0}};
    for (size_t i = 0; i < 6; i++) {
        hb = doc_hb;
        hb.lease_ms = leases[i][0];
        n = enc(buf, sizeof buf, enc_heartbeat, &hb);
        assert_int_equal(dtsi_heartbeat_decode(buf, n, &out), leases[i][1] ? 0 : -1);
    }
    // Host name: 0 and 64 bytes pass, 65 fails; control characters fail.
    hb = doc_hb;
    hb.hostname_len = 0;
    n = enc(buf, sizeof buf, enc_heartbeat, &hb);
    assert_int_equal(dtsi_heartbeat_decode(buf, n, &out), 0);
    assert_string_equal(out.hostname, "");
    hb.hostname_len = 64;
    memset(hb.hostname, 'h', 64);
    n = enc(buf, sizeof buf, enc_heartbeat, &hb);
    assert_int_equal(n, 15 + 64);
    assert_int_equal(dtsi_heartbeat_decode(buf, n, &out), 0);
    assert_int_equal(strlen(out.hostname), 64);
    buf[14] = 65;
    buf[n] = 'h';
    assert_int_equal(dtsi_heartbeat_decode(buf, n + 1, &out), -1);
    const uint8_t bad[] = {0x00, 0x01, 0x0a, 0x1f, 0x7f};
    for (size_t i = 0; i < sizeof bad; i++) {
        hb = doc_hb;
        hb.hostname[2] = (char)bad[i];
        n = enc(buf, sizeof buf, enc_heartbeat, &hb);
        assert_int_equal(dtsi_heartbeat_decode(buf, n, &out), -1);
    }
    hb = doc_hb;
    hb.hostname[2] = (char)0xc3; // UTF-8 bytes pass
    n = enc(buf, sizeof buf, enc_heartbeat, &hb);
    assert_int_equal(dtsi_heartbeat_decode(buf, n, &out), 0);
}

static void
count_member(void *ud, const dtsi_member *m)
{
    (*(int *)ud)++;
}

static int
members_count(const uint8_t *p, size_t len, int *reported)
{
    uint32_t g;
    uint8_t part, parts;
    *reported = 0;
    return dtsi_members_decode(p, len, &g, &part, &parts, count_member, reported);
}

static void
test_members_two_pass(void **state)
{
    uint8_t buf[512];
    size_t n = enc(buf, sizeof buf, enc_members, NULL);
    int rep;
    assert_int_equal(members_count(buf, n, &rep), 0);
    assert_int_equal(rep, 3);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(members_count(buf, k, &rep), -1);
        assert_int_equal(rep, 0);
    }
    // A bad last entry: the pattern gets a character not allowed.
    uint8_t b[512];
    memcpy(b, buf, n);
    b[n - 1] = '/';
    assert_int_equal(members_count(b, n, &rep), -1);
    assert_int_equal(rep, 0);
    // Unknown role in the last entry.
    memcpy(b, buf, n);
    b[n - 11] = 4; // role of the GLOB entry (1 + 1 + 9 bytes from the end)
    assert_int_equal(members_count(b, n, &rep), -1);
    assert_int_equal(rep, 0);
    // A zero type id.
    memcpy(b, buf, n);
    memset(b + 18, 0, 8); // type id of the SUB entry
    assert_int_equal(members_count(b, n, &rep), -1);
    assert_int_equal(rep, 0);
    // Trailing byte.
    memcpy(b, buf, n);
    b[n] = 1;
    assert_int_equal(members_count(b, n + 1, &rep), -1);
    assert_int_equal(rep, 0);
    // Count says more than there is / fewer than there is.
    memcpy(b, buf, n);
    b[6] = 4;
    assert_int_equal(members_count(b, n, &rep), -1);
    b[6] = 2;
    assert_int_equal(members_count(b, n, &rep), -1);
    assert_int_equal(rep, 0);
    // part and parts.
    memcpy(b, buf, n);
    b[5] = 0; // parts 0
    assert_int_equal(members_count(b, n, &rep), -1);
    b[4] = 1;
    b[5] = 1; // part 1 of 1
    assert_int_equal(members_count(b, n, &rep), -1);
    b[4] = 254;
    b[5] = 255;
    assert_int_equal(members_count(b, n, &rep), 0);
    // Count bounds: an empty list is valid; 1025 entries are not.
    dtsi_wbuf w = {b, 0, sizeof b, 0};
    dtsi_members_begin(&w, 1, 0, 1, 0);
    assert_int_equal(members_count(b, w.len, &rep), 0);
    assert_int_equal(rep, 0);
    static uint8_t big[8 + 1025 * 9];
    w = (dtsi_wbuf){big, 0, sizeof big, 0};
    dtsi_members_begin(&w, 1, 0, 1, 1025);
    dtsi_member m = {.role = DTSI_ROLE_SUB, .type_id = 5};
    for (int i = 0; i < 1025; i++) dtsi_member_encode(&w, &m);
    assert_int_equal(w.err, 0);
    assert_int_equal(members_count(big, w.len, &rep), -1);
    assert_int_equal(rep, 0);
    w = (dtsi_wbuf){big, 0, sizeof big, 0};
    dtsi_members_begin(&w, 1, 0, 1, 1024);
    for (int i = 0; i < 1024; i++) dtsi_member_encode(&w, &m);
    assert_int_equal(members_count(big, w.len, &rep), 0);
    assert_int_equal(rep, 1024);
    // Patterns: 8 stars pass, 9 fail; empty fails.
    const struct {
        const char *p;
        int ok;
    } pats[] = {{"**.*.*.*.*.*.*", 1}, {"*.*.*.*.*.*.*.*.*", 0}, {"", 0}, {"a b", 0}, {"x.?", 1}};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        dtsi_member g = {.role = DTSI_ROLE_GLOB,
                         .pattern_len = (uint8_t)strlen(pats[i].p),
                         .pattern = pats[i].p};
        w = (dtsi_wbuf){b, 0, sizeof b, 0};
        dtsi_members_begin(&w, 1, 0, 1, 1);
        dtsi_member_encode(&w, &g);
        assert_int_equal(members_count(b, w.len, &rep), pats[i].ok ? 0 : -1);
        assert_int_equal(rep, pats[i].ok);
    }
}

static int
types_count(const uint8_t *p, size_t len, int *reported)
{
    desc_list l = {0};
    int rc = dtsi_types_decode(p, len, on_desc, &l);
    *reported = l.n;
    return rc;
}

static void
test_types_two_pass(void **state)
{
    uint8_t buf[512];
    size_t n = enc(buf, sizeof buf, enc_types, NULL);
    int rep;
    assert_int_equal(types_count(buf, n, &rep), 0);
    assert_int_equal(rep, 2);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(types_count(buf, k, &rep), -1);
        assert_int_equal(rep, 0);
    }
    uint8_t b[512];
    // Bad last entry: a name character.
    memcpy(b, buf, n);
    b[n - 1] = '*';
    assert_int_equal(types_count(b, n, &rep), -1);
    assert_int_equal(rep, 0);
    // Format 255 with a schema id.
    memcpy(b, buf, n);
    b[2 + 29 + 1] = 1; // first byte of the second description's schema id
    assert_int_equal(types_count(b, n, &rep), -1);
    assert_int_equal(rep, 0);
    // Formats: 0..5 and 255 pass; 6..254 fail.
    for (int f = 0; f < 256; f++) {
        memcpy(b, buf, n);
        b[2] = (uint8_t)f; // format of the first description (schema id nonzero)
        int ok = f < 6;
        assert_int_equal(types_count(b, n, &rep), ok ? 0 : -1);
        assert_int_equal(rep, ok ? 2 : 0);
    }
    // count 0, too big, trailing byte.
    memcpy(b, buf, n);
    b[0] = 0;
    assert_int_equal(types_count(b, n, &rep), -1);
    b[0] = 0x01;
    b[1] = 0x04; // 1025
    assert_int_equal(types_count(b, n, &rep), -1);
    memcpy(b, buf, n);
    b[n] = 0;
    assert_int_equal(types_count(b, n + 1, &rep), -1);
    assert_int_equal(rep, 0);
    // Name length 0 and 201 fail, 200 passes.
    for (int len = 0; len <= 201; len += 1) {
        if (len > 1 && len < 200) continue;
        char name[256];
        memset(name, 'n', sizeof name);
        dtsi_type_desc d = {.format = 0, .schema_id = 1, .name_len = (uint8_t)len, .name = name};
        dtsi_wbuf w = {b, 0, sizeof b, 0};
        dtsi_w_u16(&w, 1);
        dtsi_type_desc_encode(&w, &d);
        assert_int_equal(w.len, 2 + dtsi_type_desc_size(&d));
        assert_int_equal(types_count(b, w.len, &rep), len >= 1 && len <= 200 ? 0 : -1);
    }
}

static void
test_schema_ans_bounds(void **state)
{
    static uint8_t schema[32769], buf[33000];
    memset(schema, 'x', sizeof schema);
    dtsi_schema_ans a = {.desc = doc_desc_t, .schema_len = 32768, .schema = schema}, d;
    dtsi_wbuf w = {buf, 0, sizeof buf, 0};
    dtsi_schema_ans_encode(&w, &a);
    assert_int_equal(dtsi_schema_ans_decode(buf, w.len, &d), 0);
    assert_int_equal(d.schema_len, 32768);
    a.schema_len = 32769;
    w = (dtsi_wbuf){buf, 0, sizeof buf, 0};
    dtsi_schema_ans_encode(&w, &a);
    assert_int_equal(dtsi_schema_ans_decode(buf, w.len, &d), -1);
    // Cut anywhere, trailing byte, format 255.
    a.schema_len = 17;
    a.schema = (const uint8_t *)SCHEMA_OBJECT;
    w = (dtsi_wbuf){buf, 0, sizeof buf, 0};
    dtsi_schema_ans_encode(&w, &a);
    for (size_t k = 0; k < w.len; k++) assert_int_equal(dtsi_schema_ans_decode(buf, k, &d), -1);
    buf[w.len] = 0;
    assert_int_equal(dtsi_schema_ans_decode(buf, w.len + 1, &d), -1);
    a.desc = doc_desc_g;
    w = (dtsi_wbuf){buf, 0, sizeof buf, 0};
    dtsi_schema_ans_encode(&w, &a);
    assert_int_equal(dtsi_schema_ans_decode(buf, w.len, &d), -1);
    // The writer refuses to overflow.
    uint8_t small[4];
    w = (dtsi_wbuf){small, 0, sizeof small, 0};
    dtsi_w_u64(&w, 1);
    assert_int_equal(w.err, 1);
    assert_int_equal(w.len, 0);
    dtsi_cur c = {small, 3, 0};
    assert_int_equal(dtsi_r_u32(&c), 0);
    assert_int_equal(c.err, 1);
}

// ---------------------------------------------------------------------------
// Names and globs

static void
test_names(void **state)
{
    const char *good[] = {"brewery.Temperature", "a", "Z", "x.y", "x-1.y_2",
                          "A.b.c.d.e",           "0", "_", "-"};
    const char *bad[] = {"", ".a", "a.", "a..b", ".", "a b", "a/b", "brewery.*", "a?", "é", "a\tb"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(dts_name_valid(good[i]), 1);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(dts_name_valid(bad[i]), 0);
    assert_int_equal(dts_name_valid(NULL), 0);
    char name[300];
    memset(name, 'n', sizeof name);
    name[200] = 0;
    assert_int_equal(dts_name_valid(name), 1);
    name[200] = 'n';
    name[201] = 0;
    assert_int_equal(dts_name_valid(name), 0);
    // The wire character check (used for names in TYPES and patterns in
    // MEMBERS).
    assert_int_equal(dtsi_chars_valid("brewery.Temperature", 19, 0), 1);
    assert_int_equal(dtsi_chars_valid("brewery.*", 9, 0), 0);
    assert_int_equal(dtsi_chars_valid("brewery.*", 9, 1), 1);
    assert_int_equal(dtsi_chars_valid("", 0, 1), 0);
    assert_int_equal(dtsi_chars_valid(name, 200, 0), 1);
    assert_int_equal(dtsi_chars_valid(name, 201, 0), 0);
    assert_int_equal(dtsi_chars_valid("********", 8, 1), 1);
    assert_int_equal(dtsi_chars_valid("*********", 9, 1), 0);
    assert_int_equal(dtsi_chars_valid("????????????", 12, 1), 1);
}

// Format names: each parses back from dts_format_name, in any case (a user
// types --format JSON); others are DTS_ENOTSUP and leave *out alone.
static void
test_format_names(void **state)
{
    for (int i = 0; i < DTS_FORMAT_COUNT_; i++) {
        dts_format f = DTS_FORMAT_COUNT_;
        assert_int_equal(dts_format_parse(dts_format_name((dts_format)i), &f), DTS_OK);
        assert_int_equal(f, i);
    }
    dts_format f = DTS_FORMAT_RAW;
    assert_int_equal(dts_format_parse("JSON", &f), DTS_OK);
    assert_int_equal(f, DTS_FORMAT_JSON);
    assert_int_equal(dts_format_parse("MsgPack", &f), DTS_OK);
    assert_int_equal(f, DTS_FORMAT_MSGPACK);
    const char *bad[] = {"", "jso", "jsonx", "unknown", " json"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f = DTS_FORMAT_CAPNP;
        assert_int_equal(dts_format_parse(bad[i], &f), DTS_ENOTSUP);
        assert_int_equal(f, DTS_FORMAT_CAPNP);
    }
    assert_int_equal(dts_format_parse(NULL, &f), DTS_EINVAL);
    assert_int_equal(dts_format_parse("json", NULL), DTS_EINVAL);
    assert_string_equal(dts_format_name(DTS_FORMAT_COUNT_), "unknown");
}

static void
test_globs(void **state)
{
    const struct {
        const char *p, *n;
        int m;
    } cases[] = {
        {"brewery.*", "brewery.Temperature", 1},
        {"brewery.*", "brewery.fermenter1.Temperature", 0},
        {"brewery.*", "brewery", 0},
        {"brewery.**", "brewery.fermenter1.Temperature", 1},
        {"brewery.**", "brewery.Temperature", 1},
        {"**", "brewery.fermenter1.Temperature", 1},
        {"**", "a", 1},
        {"*", "a", 1},
        {"*", "x.y", 0},
        {"*.Temperature", "brewery.Temperature", 1},
        {"*.Temperature", "brewery.fermenter1.Temperature", 0},
        {"**.Temperature", "brewery.fermenter1.Temperature", 1},
        {"**.Temperature", "brewery.Temperature", 1},
        {"brewery.**.Temperature", "brewery.Temperature", 0},
        {"brewery.**.Temperature", "brewery.fermenter1.Temperature", 1},
        {"brewery.?ravity", "brewery.Gravity", 1},
        {"brewery?Gravity", "brewery.Gravity", 0},
        {"b*y.*", "brewery.Gravity", 1},
        {"brewery.Gravity", "brewery.Gravity", 1},
        {"brewery.Gravity", "brewery.Gravit", 0},
        {"brewery.Gravit", "brewery.Gravity", 0},
        {"?", "a", 1},
        {"?", "ab", 0},
        {"a*b*c", "aXbYc", 1},
        {"a*b*c", "aXbY.c", 0},
        {"a**c", "a.b.c", 1},
        {"*.*", "x.y", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (dts_glob_match(cases[i].p, cases[i].n) != cases[i].m)
            fail_msg("glob %s on %s: want %d", cases[i].p, cases[i].n, cases[i].m);
    }
    assert_int_equal(dts_glob_match(NULL, "a"), 0);
    assert_int_equal(dts_glob_match("a", NULL), 0);
}

// ---------------------------------------------------------------------------
// Counters: inject datagrams into a node over mem:// and watch its counters.

typedef struct inj {
    uv_loop_t loop;
    const dts_transport_ops *ops;
    void *tp;
    dts_node *node;
} inj;

static void
inj_noop_recv(void *ctx, const uint8_t *data, size_t len, const char *src)
{
}

static void
inj_open(inj *j)
{
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = "mem://wire-test";
    cfg.hostname = "wire-test";
    assert_int_equal(dts_node_open(&cfg, &j->node), DTS_OK);
    assert_int_equal(uv_loop_init(&j->loop), 0);
    j->ops = dtsi_transport_find("mem://wire-test");
    assert_non_null(j->ops);
    dts_transport_config tc = {.url = "mem://wire-test"};
    dts_transport_host host = {.loop = &j->loop, .ctx = j, .on_recv = inj_noop_recv};
    assert_int_equal(j->ops->open(&tc, &host, &j->tp), DTS_OK);
}

static int inj_closed;

static void
inj_close_done(void *arg)
{
    inj_closed = 1;
}

static void
inj_close(inj *j)
{
    dts_node_close(j->node);
    inj_closed = 0;
    j->ops->close(j->tp, inj_close_done, NULL);
    while (!inj_closed) uv_run(&j->loop, UV_RUN_NOWAIT);
    uv_loop_close(&j->loop);
}

typedef enum {
    C_FOREIGN,
    C_BAD_VERSION,
    C_MALFORMED,
    C_CTL_MALFORMED,
    C_UNKNOWN_TYPE,
    C_RECEIVED
} ctr;

static uint64_t
ctr_get(const dts_node_counters *c, ctr which)
{
    switch (which) {
    case C_FOREIGN:
        return c->frames_foreign;
    case C_BAD_VERSION:
        return c->frames_bad_version;
    case C_MALFORMED:
        return c->frames_malformed;
    case C_CTL_MALFORMED:
        return c->control_malformed;
    case C_UNKNOWN_TYPE:
        return c->frames_unknown_type;
    case C_RECEIVED:
        return c->frames_received;
    }
    return 0;
}

// inj_expect sends one datagram on a channel and waits (2 s at most) until
// the counter has grown by want; the error counters it does not name must
// not move.
static void
inj_expect(inj *j, uint64_t channel, const uint8_t *d, size_t len, ctr which, uint64_t want)
{
    dts_node_counters before, now;
    assert_int_equal(dts_node_counters_get(j->node, &before), DTS_OK);
    dts_dgram g = {.data = d, .len = len};
    size_t sent = 0;
    assert_int_equal(j->ops->send(j->tp, channel, &g, 1, &sent), DTS_OK);
    for (int i = 0; i < 2000; i++) {
        dts_node_counters_get(j->node, &now);
        if (ctr_get(&now, which) - ctr_get(&before, which) >= want &&
            now.datagrams_received > before.datagrams_received)
            break;
        usleep(1000);
    }
    usleep(20000); // let a wrongly counted frame show
    dts_node_counters_get(j->node, &now);
    if (which == C_RECEIVED) // the node's own looped-back frames count too
        assert_true(ctr_get(&now, which) - ctr_get(&before, which) >= want);
    else
        assert_int_equal(ctr_get(&now, which) - ctr_get(&before, which), want);
    const ctr errs[] = {C_FOREIGN, C_BAD_VERSION, C_MALFORMED, C_CTL_MALFORMED};
    for (size_t i = 0; i < 4; i++)
        if (errs[i] != which) assert_int_equal(ctr_get(&now, errs[i]), ctr_get(&before, errs[i]));
}

static int
peer_named(dts_node *n, const char *host)
{
    dts_node_info *info;
    size_t count;
    if (dts_node_peers(n, &info, &count) != DTS_OK) return 0;
    int found = 0;
    for (size_t i = 0; i < count; i++)
        found |= !info[i].self && strcmp(info[i].hostname, host) == 0;
    dts_free(info);
    return found;
}

static void
test_counters(void **state)
{
    inj j;
    inj_open(&j);
    uint8_t d[512];
    dtsi_hdr h;
    size_t len = good_frame(d, &h);
    // Header failures, each on the control channel (the receiver does not
    // check the channel).
    uint8_t b[512];
    memcpy(b, d, len);
    b[0] = 'X';
    inj_expect(&j, 0, b, len, C_FOREIGN, 1);
    const uint8_t legacy[16] = {0x02, 0x01, 0x21, 0x01, 0x40, 0, 0, 0,
                                0x40, 0,    0,    0,    0x50, 0, 0, 0};
    inj_expect(&j, 0, legacy, sizeof legacy, C_FOREIGN, 1);
    memcpy(b, d, len);
    b[2] = 2;
    inj_expect(&j, 0, b, len, C_BAD_VERSION, 1);
    inj_expect(&j, 0, d, 40, C_MALFORMED, 1);
    memcpy(b, d, len);
    b[4] = 4; // sealed
    inj_expect(&j, 0, b, len, C_MALFORMED, 1);
    // A valid DATA frame of a type nobody here wants, then a bad one: one
    // received, one malformed, nothing after.
    memcpy(b, d, len);
    memcpy(b + len, d, len);
    b[len + 3] = 77;
    memcpy(b + 2 * len, d, len);
    dts_node_counters c0, c1;
    dts_node_counters_get(j.node, &c0);
    inj_expect(&j, 0, b, 3 * len, C_MALFORMED, 1);
    dts_node_counters_get(j.node, &c1);
    assert_int_equal(c1.frames_unknown_type - c0.frames_unknown_type, 1);
    // Trailing garbage after a valid frame counts as foreign.
    memcpy(b, d, len);
    b[len] = 0;
    inj_expect(&j, 0, b, len + 1, C_FOREIGN, 1);
    // The heartbeat vector makes a peer named brew-pi; a bad heartbeat
    // payload is a control_malformed.
    vec *hb = get_vec("heartbeat-frame");
    inj_expect(&j, 0, hb->b, hb->len, C_RECEIVED, 1);
    assert_true(peer_named(j.node, "brew-pi"));
    memcpy(b, hb->b, hb->len);
    b[DTSI_HDR_SIZE + 4] = 1; // lease 1 ms: below the 100 ms bound
    b[DTSI_HDR_SIZE + 5] = 0;
    inj_expect(&j, 0, b, hb->len, C_CTL_MALFORMED, 1);
    // TYPES vector is accepted; a TYPES payload with a bad last entry is not.
    vec *ty = get_vec("types-frame");
    inj_expect(&j, 0, ty->b, ty->len, C_RECEIVED, 1);
    memcpy(b, ty->b, ty->len);
    b[ty->len - 1] = '*';
    inj_expect(&j, 0, b, ty->len, C_CTL_MALFORMED, 1);
    // GOODBYE with a payload is malformed; the goodbye vector removes the peer.
    vec *gb = get_vec("goodbye-frame");
    memcpy(b, gb->b, gb->len);
    b[8] = 1;
    b[DTSI_HDR_SIZE] = 0;
    inj_expect(&j, 0, b, gb->len + 1, C_CTL_MALFORMED, 1);
    assert_true(peer_named(j.node, "brew-pi"));
    inj_expect(&j, 0, gb->b, gb->len, C_RECEIVED, 1);
    for (int i = 0; i < 1000 && peer_named(j.node, "brew-pi"); i++) usleep(1000);
    assert_false(peer_named(j.node, "brew-pi"));
    // SCHEMA_ANS whose bytes do not hash to the claimed id.
    vec *sa = get_vec("schema-ans-payload");
    dtsi_hdr ah = {.kind = DTSI_KIND_SCHEMA_ANS,
                   .instance = INST_A,
                   .host = HOST_A,
                   .seq = 10,
                   .payload_len = (uint32_t)sa->len};
    dtsi_hdr_encode(&ah, b);
    memcpy(b + DTSI_HDR_SIZE, sa->b, sa->len);
    b[DTSI_HDR_SIZE + sa->len - 2] = 'X';
    inj_expect(&j, 0, b, DTSI_HDR_SIZE + sa->len, C_CTL_MALFORMED, 1);
    inj_close(&j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vec_data_frame),
        cmocka_unit_test(test_vec_query_frame),
        cmocka_unit_test(test_vec_reply_frame),
        cmocka_unit_test(test_vec_heartbeat),
        cmocka_unit_test(test_vec_types),
        cmocka_unit_test(test_vec_datagram),
        cmocka_unit_test(test_vec_fragment_padded),
        cmocka_unit_test(test_vec_slow),
        cmocka_unit_test(test_vec_members),
        cmocka_unit_test(test_vec_goodbye),
        cmocka_unit_test(test_vec_schema_and_members_req),
        cmocka_unit_test(test_vec_schema_ans_fragment),
        cmocka_unit_test(test_vec_all_checked),
        cmocka_unit_test(test_ids_and_groups),
        cmocka_unit_test(test_validation_rules),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_datagram_walk),
        cmocka_unit_test(test_heartbeat_bounds),
        cmocka_unit_test(test_members_two_pass),
        cmocka_unit_test(test_types_two_pass),
        cmocka_unit_test(test_schema_ans_bounds),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_globs),
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests(tests, setup_docs, NULL);
}
