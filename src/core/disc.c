// disc.c: discovery on the control channel (DESIGN.md decision 2;
// docs/spec/discovery.md).
//
// Three kinds of knowledge travel, each at the cost of what it describes:
//   - HEARTBEAT: one small frame per node per interval (liveness, host,
//     and the generation of its member list). Starts at 100 ms and backs
//     off to announce_ms.
//   - MEMBERS: which types a node publishes or subscribes. Sent when it
//     changes (three times, backing off) and when a peer asks for a
//     generation it lacks (MEMBERS_REQ). Not periodic.
//   - TYPES: name, format and schema id of a type. Any node that knows a
//     type describes it on a jittered, backing-off schedule, and postpones
//     its own description whenever it hears another node say the same, so
//     the steady cost grows with the number of types, not nodes x types.
// Schemas travel on request (SCHEMA_REQ / SCHEMA_ANS), keyed by schema id;
// every node that declared a type with that schema answers (no suppression
// yet: requests are rare, made once per unknown schema id). All functions run on the loop thread
// with the node lock held.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/node.h"

#define DISC_HB_START_MS 100
#define DISC_DESC_START_MS 200
#define DISC_DESC_BATCH_MS 1500
#define DISC_MEMBERS_REQ_GAP_MS 300 // before the second MEMBERS_REQ to a peer; doubles after
#define DISC_MEMBERS_REQ_TRIES 4    // MEMBERS_REQ per generation a peer announces, at most
#define DISC_SCHEMA_REQ_GAP_MS 250
#define DISC_SCHEMA_ANS_GAP_MS 100
#define DISC_SCHEMA_ANS_JITTER_MS 50 // spread of the answers when several nodes have one

static uint32_t
disc_rand(uint32_t range)
{
    static __thread uint64_t s;
    if (s == 0) s = (uint64_t)dts_now_ns() | 1;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return range ? (uint32_t)(s % range) : 0;
}

// jittered returns interval +/- 20%.
static int64_t
jittered(uint32_t interval)
{
    uint32_t j = interval / 5;
    return (int64_t)interval - j + disc_rand(2 * j + 1);
}

static void
disc_send(dts_node *n, uint8_t kind, const void *payload, size_t len)
{
    dtsi_hdr h = {.kind = kind, .seq = ++n->control_seq, .sent_ns = dts_now_ns()};
    dtsi_enqueue(n, DTS_CHANNEL_CONTROL, &h, payload, len);
}

// ---------------------------------------------------------------------------
// Heartbeat and members

// member_listed says whether m is already in out[0..k): two subscriptions
// to one name are one member, so the count in the heartbeat matches what
// peers store.
static int
member_listed(const dtsi_member *out, size_t k, const dtsi_member *m)
{
    for (size_t i = 0; i < k; i++) {
        if (out[i].role != m->role) continue;
        if (m->role != DTSI_ROLE_GLOB && out[i].type_id == m->type_id) return 1;
        if (m->role == DTSI_ROLE_GLOB && out[i].pattern_len == m->pattern_len &&
            memcmp(out[i].pattern, m->pattern, m->pattern_len) == 0)
            return 1;
    }
    return 0;
}

// local_members lists what this node publishes and subscribes, once each.
static size_t
local_members(dts_node *n, dtsi_member *out, size_t cap)
{
    size_t k = 0;
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++) {
        for (dtsi_type *t = n->types[b]; t; t = t->next) {
            if (t->declared && k < cap)
                out[k++] = (dtsi_member){.role = DTSI_ROLE_PUB, .type_id = t->id};
        }
    }
    for (struct dts_sub *s = n->subs; s; s = s->next) {
        if (s->closed || k >= cap) continue;
        dtsi_member m = {.role = DTSI_ROLE_SUB, .type_id = s->type_id};
        if (!s->exact)
            m = (dtsi_member){.role = DTSI_ROLE_GLOB,
                              .pattern = s->pattern,
                              .pattern_len = (uint8_t)strlen(s->pattern)};
        if (!member_listed(out, k, &m)) out[k++] = m;
    }
    return k;
}

static void
disc_send_heartbeat(dts_node *n)
{
    uint32_t lease = n->cfg.peer_timeout_ms;
    if (lease > DTSI_PEER_LEASE_MAX_MS) lease = DTSI_PEER_LEASE_MAX_MS; // receivers cut it
    dtsi_heartbeat hb = {.pid = n->pid, .lease_ms = lease, .generation = n->generation};
    dtsi_member *all = malloc(DTSI_PEER_MEMBERS_MAX * sizeof *all);
    hb.n_members = all ? (uint16_t)local_members(n, all, DTSI_PEER_MEMBERS_MAX) : 0;
    free(all);
    hb.hostname_len = (uint8_t)strlen(n->hostname);
    memcpy(hb.hostname, n->hostname, hb.hostname_len);
    uint8_t buf[128];
    dtsi_wbuf w = {buf, 0, sizeof buf, 0};
    dtsi_heartbeat_encode(&w, &hb);
    if (!w.err) disc_send(n, DTSI_KIND_HEARTBEAT, buf, w.len);
}

// disc_send_members sends the member list in as many MEMBERS frames as it
// takes to keep each under DTSI_CONTROL_PAYLOAD_MAX bytes.
static void
disc_send_members(dts_node *n)
{
    dtsi_member *all = malloc(DTSI_PEER_MEMBERS_MAX * sizeof *all);
    if (!all) return;
    size_t count = local_members(n, all, DTSI_PEER_MEMBERS_MAX);
    size_t parts = 0, bytes = 8;
    for (size_t i = 0; i < count; i++) { // count the parts first
        size_t sz = dtsi_member_size(&all[i]);
        if (bytes + sz > DTSI_CONTROL_PAYLOAD_MAX) parts++, bytes = 8;
        bytes += sz;
    }
    parts++;
    uint8_t buf[DTSI_CONTROL_PAYLOAD_MAX];
    size_t i = 0;
    for (size_t part = 0; part < parts && parts <= 255; part++) {
        size_t start = i, size = 8;
        while (i < count && size + dtsi_member_size(&all[i]) <= DTSI_CONTROL_PAYLOAD_MAX)
            size += dtsi_member_size(&all[i++]);
        dtsi_wbuf w = {buf, 0, sizeof buf, 0};
        dtsi_members_begin(&w, n->generation, (uint8_t)part, (uint8_t)parts, (uint16_t)(i - start));
        for (size_t j = start; j < i; j++) dtsi_member_encode(&w, &all[j]);
        if (!w.err) disc_send(n, DTSI_KIND_MEMBERS, buf, w.len);
    }
    free(all);
}

void
dtsi_disc_members_changed(dts_node *n)
{
    n->generation++;
    if (n->generation == 0) n->generation = 1;
    n->members_resends = 3;
    n->members_due_ms = dtsi_mono_ms();
    n->hb_due_ms = dtsi_mono_ms(); // tell peers the generation at once
}

static void disc_send_schema(dts_node *n, dtsi_type *t, int asked);

// ---------------------------------------------------------------------------
// Type descriptions

static int
type_describable(const dtsi_type *t, int has_exact_sub)
{
    return t->name[0] && (t->declared || has_exact_sub);
}

void
dtsi_disc_type_declared(dts_node *n, dtsi_type *t)
{
    t->desc_interval_ms = DISC_DESC_START_MS;
    t->desc_due_ms = dtsi_mono_ms();
    // A declared schema is also said once unasked, so that nodes already
    // listening can decode the first messages even of a short-lived
    // publisher (they cache it within DTSI_SCHEMA_CACHE_MAX). It does not
    // hold the answers to requests (DISC_SCHEMA_ANS_GAP_MS): a node that
    // asks after it did not keep it (it had no use for it then), and would
    // otherwise wait DISC_SCHEMA_REQ_GAP_MS to ask again.
    if (t->declared && t->schema_len) disc_send_schema(n, t, 0);
}

static int
type_has_exact_sub(dts_node *n, const dtsi_type *t)
{
    for (struct dts_sub *s = n->subs; s; s = s->next)
        if (!s->closed && s->exact && s->type_id == t->id) return 1;
    return 0;
}

// disc_send_types describes every type that is due, packing descriptions
// into TYPES frames, then schedules each one's next description.
static void
disc_send_types(dts_node *n, int64_t now)
{
    // Nothing is due: nothing to do. Something is due: the types due
    // within DISC_DESC_BATCH_MS join it, so a node's descriptions converge
    // into few frames instead of one frame per type.
    int any = 0;
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS && !any; b++)
        for (dtsi_type *t = n->types[b]; t && !any; t = t->next)
            any = t->desc_interval_ms && t->desc_due_ms <= now;
    if (!any) return;
    uint8_t buf[DTSI_CONTROL_PAYLOAD_MAX];
    dtsi_wbuf w = {buf, 2, sizeof buf, 0};
    uint16_t count = 0;
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++) {
        for (dtsi_type *t = n->types[b]; t; t = t->next) {
            if (t->desc_due_ms > now + DISC_DESC_BATCH_MS) continue;
            int exact = t->declared ? 0 : type_has_exact_sub(n, t);
            if (!type_describable(t, exact)) continue;
            dtsi_type_desc d = {.format = t->declared ? (uint8_t)t->format : DTSI_FORMAT_UNKNOWN,
                                .schema_id = t->declared ? t->schema_id : 0,
                                .name_len = (uint8_t)strlen(t->name),
                                .name = t->name};
            if (w.len + dtsi_type_desc_size(&d) > sizeof buf) {
                buf[0] = (uint8_t)count, buf[1] = (uint8_t)(count >> 8);
                disc_send(n, DTSI_KIND_TYPES, buf, w.len);
                w.len = 2, count = 0;
            }
            dtsi_type_desc_encode(&w, &d);
            count++;
            if (t->desc_interval_ms == 0) t->desc_interval_ms = DISC_DESC_START_MS;
            t->desc_due_ms = now + jittered(t->desc_interval_ms);
            t->desc_interval_ms *= 2;
            if (t->desc_interval_ms > DTSI_DESC_STEADY_MS)
                t->desc_interval_ms = DTSI_DESC_STEADY_MS;
        }
    }
    if (count) {
        buf[0] = (uint8_t)count, buf[1] = (uint8_t)(count >> 8);
        disc_send(n, DTSI_KIND_TYPES, buf, w.len);
    }
}

// disc_mismatch reports a declared type that another node describes with
// another schema: once per other schema id (no storm while it lasts), and
// then describes ours within 100 ms so that the other side reports it too.
static void
disc_mismatch(dts_node *n, dtsi_type *t, uint64_t other, uint64_t instance, const char *src)
{
    if (t->mismatch && t->mismatch_schema_id == other) return;
    t->desc_due_ms = dtsi_mono_ms() + disc_rand(100); // let the other side learn ours
    t->mismatch = 1;
    t->mismatch_schema_id = other;
    n->nc.type_mismatches++;
    DTSI_LOG(DTS_LOG_WARN, DTS_CAT_DISCOVERY, "type-mismatch",
             "type %s: %s announces schema %016llx, this node has %016llx", t->name, src,
             (unsigned long long)other, (unsigned long long)t->schema_id);
    dtsi_peer *p = dtsi_peer_find(n, instance);
    dtsi_event(n, DTS_EV_TYPE_MISMATCH, instance, p ? p->hostname : src, t->name, t->schema_id,
               other);
}

// desc_postpone is what hearing another node describe a type does to our
// own schedule: the same as if we had sent it, back-off included, so that
// in steady state each type is described about once per interval by
// whichever node's timer fires first.
static void
desc_postpone(dtsi_type *t, int64_t now)
{
    if (t->desc_interval_ms == 0) return; // we do not describe it
    t->desc_due_ms = now + jittered(t->desc_interval_ms);
    t->desc_interval_ms *= 2;
    if (t->desc_interval_ms > DTSI_DESC_STEADY_MS) t->desc_interval_ms = DTSI_DESC_STEADY_MS;
}

typedef struct desc_ctx {
    dts_node *n;
    const char *src;
    uint64_t instance;
} desc_ctx;

// disc_on_type_desc learns a type from another node's description (within
// the network's share of the table, dtsi_type_learn), detects a schema
// mismatch, and postpones our own identical description.
static void
disc_on_type_desc(void *ud, const dtsi_type_desc *d)
{
    desc_ctx *c = ud;
    dts_node *n = c->n;
    char name[DTS_NAME_MAX + 1];
    memcpy(name, d->name, d->name_len);
    name[d->name_len] = 0;
    dtsi_type *t = dtsi_type_learn(n, dts_type_id(name), name, d->name_len);
    if (!t || strcmp(t->name, name) != 0) return; // past DTSI_TYPES_REMOTE_MAX, or an id clash
    int64_t now = dtsi_mono_ms();
    if (d->format == DTSI_FORMAT_UNKNOWN) {
        if (!t->declared) desc_postpone(t, now);
        return;
    }
    if (t->declared) {
        if (d->schema_id != t->schema_id || d->format != t->format)
            disc_mismatch(n, t, d->schema_id, c->instance, c->src);
        else
            desc_postpone(t, now);
        return;
    }
    if (t->format == DTSI_FORMAT_UNKNOWN) {
        t->format = d->format;
        t->schema_id = d->schema_id;
    } else if (t->schema_id != d->schema_id && !t->mismatch) {
        t->mismatch = 1; // two publishers elsewhere disagree
        t->mismatch_schema_id = d->schema_id;
        t->mismatch_format = d->format;
    }
    desc_postpone(t, now);
}

// ---------------------------------------------------------------------------
// Peers

dtsi_peer *
dtsi_peer_find(dts_node *n, uint64_t instance)
{
    for (size_t i = 0; i < n->n_peers; i++)
        if (n->peers[i].instance == instance) return &n->peers[i];
    return NULL;
}

static void
peer_remove(dts_node *n, dtsi_peer *p, dts_event_kind why)
{
    const char *what = why == DTS_EV_PEER_LOST ? "peer-lost" : "peer-gone";
    DTSI_LOG(DTS_LOG_INFO, DTS_CAT_DISCOVERY, what, "node %016llx on %s (%s)",
             (unsigned long long)p->instance, p->hostname, p->addr);
    if (why == DTS_EV_PEER_LOST) n->nc.peers_lost++;
    dtsi_event(n, why, p->instance, p->hostname, NULL, 0, 0);
    free(p->members);
    *p = n->peers[--n->n_peers];
}

// peer_victim picks the peer to forget when the table is full: of those
// that never sent their member list, the one heard least recently, else
// the one heard least recently of all. A heartbeat costs an attacker one
// datagram from any made-up instance; without this, DTSI_PEERS_MAX of them
// would keep every real node out for as long as their leases last.
static dtsi_peer *
peer_victim(dts_node *n)
{
    dtsi_peer *v = NULL;
    for (size_t i = 0; i < n->n_peers; i++) {
        dtsi_peer *p = &n->peers[i];
        if (!v || (!p->members_heard && v->members_heard) ||
            (p->members_heard == v->members_heard && p->last_seen_ms < v->last_seen_ms))
            v = p;
    }
    return v;
}

// peer_new adds a node heard for the first time, forgetting another when
// DTSI_PEERS_MAX are known (peer_victim); everything we know is then
// described again soon (suppressible), so it learns quickly.
static dtsi_peer *
peer_new(dts_node *n, uint64_t instance)
{
    if (n->n_peers >= DTSI_PEERS_MAX) {
        dtsi_peer *v = peer_victim(n);
        DTSI_LOG(DTS_LOG_INFO, DTS_CAT_DISCOVERY, "peers-full",
                 "%u nodes known: node %016llx forgotten for %016llx", (unsigned)DTSI_PEERS_MAX,
                 (unsigned long long)v->instance, (unsigned long long)instance);
        peer_remove(n, v, DTS_EV_PEER_LOST);
    }
    dtsi_peer *np = realloc(n->peers, (n->n_peers + 1) * sizeof *np);
    if (!np) return NULL;
    n->peers = np;
    dtsi_peer *p = &n->peers[n->n_peers++];
    memset(p, 0, sizeof *p);
    p->instance = instance;
    int64_t now = dtsi_mono_ms();
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++)
        for (dtsi_type *t = n->types[b]; t; t = t->next) {
            int64_t soon = now + disc_rand(200);
            if (t->desc_due_ms > soon) t->desc_due_ms = soon;
        }
    if (n->hb_due_ms > now + 100) n->hb_due_ms = now + disc_rand(100);
    return p;
}

static void
disc_on_heartbeat(dts_node *n, const dtsi_hdr *h, const uint8_t *payload, const char *src)
{
    dtsi_heartbeat hb;
    if (dtsi_heartbeat_decode(payload, h->payload_len, &hb) != 0) {
        n->nc.control_malformed++;
        return;
    }
    dtsi_peer *p = dtsi_peer_find(n, h->instance);
    int fresh = p == NULL;
    if (!p) p = peer_new(n, h->instance);
    if (!p) return;
    p->host = h->host;
    memcpy(p->hostname, hb.hostname, sizeof p->hostname);
    p->pid = hb.pid;
    snprintf(p->addr, sizeof p->addr, "%s", src);
    p->last_seen_ms = dtsi_mono_ms();
    p->last_seen_ns = dts_now_ns();
    // The lease is cut to DTSI_PEER_LEASE_MAX_MS (the decoder allows an
    // hour) and the member count to what this node keeps of a peer: a
    // forged heartbeat then costs a slot for at most a minute, and a count
    // no MEMBERS can reach does not keep the list stale.
    p->lease_ms = hb.lease_ms < DTSI_PEER_LEASE_MAX_MS ? hb.lease_ms : DTSI_PEER_LEASE_MAX_MS;
    if (fresh || hb.generation != p->want_generation) p->members_reqs = 0; // ask afresh
    p->want_generation = hb.generation;
    p->want_members = hb.n_members < DTSI_PEER_MEMBERS_MAX ? hb.n_members : DTSI_PEER_MEMBERS_MAX;
    if (fresh) {
        DTSI_LOG(DTS_LOG_INFO, DTS_CAT_DISCOVERY, "peer-new", "node %016llx on %s (%s)",
                 (unsigned long long)p->instance, p->hostname, src);
        dtsi_event(n, DTS_EV_PEER_NEW, p->instance, p->hostname, NULL, 0, 0);
    }
}

typedef struct members_ctx {
    dtsi_peer *p;
} members_ctx;

static void
disc_on_member(void *ud, const dtsi_member *m)
{
    dtsi_peer *p = ((members_ctx *)ud)->p;
    if (p->n_members >= DTSI_PEER_MEMBERS_MAX) return;
    dtsi_peer_member pm = {.role = m->role, .type_id = m->type_id};
    if (m->role == DTSI_ROLE_GLOB) {
        memcpy(pm.pattern, m->pattern, m->pattern_len);
        pm.pattern[m->pattern_len] = 0;
    }
    for (size_t i = 0; i < p->n_members; i++) {
        const dtsi_peer_member *o = &p->members[i];
        if (o->role == pm.role && o->type_id == pm.type_id && strcmp(o->pattern, pm.pattern) == 0)
            return;
    }
    dtsi_peer_member *nm = realloc(p->members, (p->n_members + 1) * sizeof *nm);
    if (!nm) return;
    p->members = nm;
    p->members[p->n_members++] = pm;
}

static void
disc_on_members(dts_node *n, const dtsi_hdr *h, const uint8_t *payload)
{
    uint32_t gen;
    uint8_t part, parts;
    dtsi_peer *p = dtsi_peer_find(n, h->instance);
    if (!p) return; // heard before its heartbeat: it will be asked again
    // Validate first (no callback), then reset on a new generation.
    if (dtsi_members_decode(payload, h->payload_len, &gen, &part, &parts, NULL, NULL) != 0) {
        n->nc.control_malformed++;
        return;
    }
    if (gen != p->generation) {
        p->n_members = 0;
        p->generation = gen;
    }
    p->members_heard = 1; // not the first to forget when the table is full (peer_victim)
    members_ctx c = {p};
    dtsi_members_decode(payload, h->payload_len, &gen, &part, &parts, disc_on_member, &c);
}

// ---------------------------------------------------------------------------
// Schemas

// dtsi_schema_find finds a cached schema and moves it to the head of the
// list, which is thus kept in order of use: the least recently used is
// last, the first to go when the cache is full (schema_cache_room).
const dtsi_schema *
dtsi_schema_find(dts_node *n, uint64_t id)
{
    for (dtsi_schema **sp = &n->schemas; *sp; sp = &(*sp)->next) {
        dtsi_schema *s = *sp;
        if (s->id != id) continue;
        *sp = s->next;
        s->next = n->schemas;
        n->schemas = s;
        return s;
    }
    return NULL;
}

// dtsi_schema_request asks the network for a schema, at most once per
// DISC_SCHEMA_REQ_GAP_MS per schema id however often the application asks
// (the last DTSI_SCHEMA_REQS ids are remembered).
void
dtsi_schema_request(dts_node *n, uint64_t id)
{
    int64_t now = dtsi_mono_ms();
    for (int i = 0; i < DTSI_SCHEMA_REQS; i++) {
        if (n->schema_reqs[i].id == id && now - n->schema_reqs[i].ms < DISC_SCHEMA_REQ_GAP_MS)
            return;
    }
    n->schema_reqs[n->schema_req_next] = (dtsi_schema_req){.id = id, .ms = now};
    n->schema_req_next = (n->schema_req_next + 1) % DTSI_SCHEMA_REQS;
    uint8_t buf[8];
    dtsi_wbuf w = {buf, 0, sizeof buf, 0};
    dtsi_w_u64(&w, id);
    disc_send(n, DTSI_KIND_SCHEMA_REQ, buf, w.len);
}

static dtsi_type *
declared_with_schema(dts_node *n, uint64_t id)
{
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++)
        for (dtsi_type *t = n->types[b]; t; t = t->next)
            if (t->declared && t->schema_id == id) return t;
    return NULL;
}

// disc_send_schema says t's schema; an answer to requests (asked) holds
// the next ones for DISC_SCHEMA_ANS_GAP_MS.
static void
disc_send_schema(dts_node *n, dtsi_type *t, int asked)
{
    size_t cap = 64 + DTS_NAME_MAX + t->schema_len;
    uint8_t *buf = malloc(cap);
    if (!buf) return;
    dtsi_wbuf w = {buf, 0, cap, 0};
    dtsi_schema_ans a = {.desc = {.format = (uint8_t)t->format,
                                  .schema_id = t->schema_id,
                                  .name_len = (uint8_t)strlen(t->name),
                                  .name = t->name},
                         .schema_len = (uint32_t)t->schema_len,
                         .schema = t->schema};
    dtsi_schema_ans_encode(&w, &a);
    if (asked) t->schema_said_ms = dtsi_mono_ms();
    // One longer than a datagram leaves as fragments (the send queue cuts
    // it), as large messages do: never cut by IP, and never left unsent (a
    // capnp schema of a dozen fields passes a 1500-byte MTU).
    if (!w.err) disc_send(n, DTSI_KIND_SCHEMA_ANS, buf, w.len);
    free(buf);
}

// published_elsewhere says whether a peer publishes type id (and so may
// answer requests for its schema too).
static int
published_elsewhere(const dts_node *n, uint64_t id)
{
    for (size_t i = 0; i < n->n_peers; i++)
        for (size_t j = 0; j < n->peers[i].n_members; j++) {
            const dtsi_peer_member *m = &n->peers[i].members[j];
            if (m->role == DTSI_ROLE_PUB && m->type_id == id) return 1;
        }
    return 0;
}

static void
disc_on_schema_req(dts_node *n, const dtsi_hdr *h, const uint8_t *payload)
{
    dtsi_cur c = {payload, h->payload_len, 0};
    uint64_t id = dtsi_r_u64(&c);
    if (c.err || c.left) {
        n->nc.control_malformed++;
        return;
    }
    // At most one answer per DISC_SCHEMA_ANS_GAP_MS per schema, counting
    // the answers of other nodes heard: each node that declared the schema
    // answers, an answer can be 33 KB of fragments for an 8-byte request,
    // and the requests of a node gone wrong (or of many fresh `dts echo`s)
    // must not become a flood on the control group. Requesters ask again
    // after DISC_SCHEMA_REQ_GAP_MS, so a request within the gap of an
    // answer it missed (it was not listening yet) is answered then.
    dtsi_type *t = declared_with_schema(n, id);
    if (!t) return;
    int64_t now = dtsi_mono_ms();
    if ((t->schema_said_ms && now - t->schema_said_ms < DISC_SCHEMA_ANS_GAP_MS) ||
        t->schema_ans_due_ms) {
        n->nc.schema_answers_held++;
        return;
    }
    // Where other nodes publish the type, they would all answer at once:
    // each waits a random while, past the shortest tick (that an idle
    // node's tick comes forward to, node_on_recv), and one that hears an
    // answer first holds its own (disc_send_due_schemas). The lone
    // publisher of a type answers at once.
    if (!published_elsewhere(n, t->id)) {
        disc_send_schema(n, t, 1);
        return;
    }
    t->schema_ans_due_ms = now + DTSI_TICK_MS + 1 + disc_rand(DISC_SCHEMA_ANS_JITTER_MS);
}

// disc_send_due_schemas sends the requested schema answers that are due,
// unless another node's answer was heard meanwhile.
static void
disc_send_due_schemas(dts_node *n, int64_t now)
{
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++)
        for (dtsi_type *t = n->types[b]; t; t = t->next) {
            if (!t->schema_ans_due_ms || now < t->schema_ans_due_ms) continue;
            t->schema_ans_due_ms = 0;
            if (!t->declared) continue;
            if (t->schema_said_ms && now - t->schema_said_ms < DISC_SCHEMA_ANS_GAP_MS)
                n->nc.schema_answers_held++;
            else
                disc_send_schema(n, t, 1);
        }
}

// SCHEMA_COST is what a cached schema counts against DTSI_SCHEMA_CACHE_MAX:
// its bytes and its entry, so that many tiny schemas are bounded too.
#define SCHEMA_COST(len) (sizeof(dtsi_schema) + (len))

// schema_wanted says whether this node has a use for schema id, named
// name in its answer: it asked for it lately (dtsi_schema_request), a type
// it knows has that schema id, or it subscribes to that name (the answer a
// publisher sends unasked on declaring comes before its description). Any
// other answer is not cached: a node on the LAN could otherwise fill the
// cache with schemas nobody here wants, correctly hashed.
static int
schema_wanted(dts_node *n, uint64_t id, const char *name)
{
    for (int i = 0; i < DTSI_SCHEMA_REQS; i++)
        if (n->schema_reqs[i].ms && n->schema_reqs[i].id == id) return 1;
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++)
        for (const dtsi_type *t = n->types[b]; t; t = t->next)
            if (t->format != DTSI_FORMAT_UNKNOWN && t->schema_id == id) return 1;
    uint64_t tid = dts_type_id(name);
    for (const struct dts_sub *s = n->subs; s; s = s->next)
        if (!s->closed && (s->exact ? s->type_id == tid : dts_glob_match(s->pattern, name)))
            return 1;
    return 0;
}

// schema_cache_room forgets the least recently used schemas (the last of
// the list, dtsi_schema_find) until one of len bytes fits the cache.
static void
schema_cache_room(dts_node *n, size_t len)
{
    while (n->schemas && n->schema_bytes + SCHEMA_COST(len) > DTSI_SCHEMA_CACHE_MAX) {
        dtsi_schema **sp = &n->schemas;
        while ((*sp)->next) sp = &(*sp)->next;
        dtsi_schema *s = *sp;
        *sp = NULL;
        n->schema_bytes -= SCHEMA_COST(s->len);
        free(s->bytes);
        free(s);
    }
}

// disc_on_schema_ans caches a schema another node sent, after checking that
// its bytes hash to the id it claims, when this node has a use for it
// (schema_wanted), within DTSI_SCHEMA_CACHE_MAX (forgetting the least
// recently used).
static void
disc_on_schema_ans(dts_node *n, const dtsi_hdr *h, const uint8_t *payload)
{
    dtsi_schema_ans a;
    if (dtsi_schema_ans_decode(payload, h->payload_len, &a) != 0 ||
        dts_schema_id((dts_format)a.desc.format, a.schema, a.schema_len) != a.desc.schema_id) {
        n->nc.control_malformed++;
        return;
    }
    dtsi_type *own = declared_with_schema(n, a.desc.schema_id);
    if (own) { // said by another node: this one need not answer the same request
        own->schema_said_ms = dtsi_mono_ms();
        return;
    }
    if (dtsi_schema_find(n, a.desc.schema_id)) return;
    char name[DTS_NAME_MAX + 1];
    memcpy(name, a.desc.name, a.desc.name_len);
    name[a.desc.name_len] = 0;
    if (!schema_wanted(n, a.desc.schema_id, name)) return;
    schema_cache_room(n, a.schema_len);
    dtsi_schema *s = calloc(1, sizeof *s);
    uint8_t *bytes = malloc(a.schema_len ? a.schema_len : 1);
    if (!s || !bytes) {
        free(s);
        free(bytes);
        return;
    }
    memcpy(bytes, a.schema, a.schema_len);
    memcpy(s->name, name, sizeof s->name);
    s->id = a.desc.schema_id;
    s->format = a.desc.format;
    s->bytes = bytes;
    s->len = a.schema_len;
    s->next = n->schemas;
    n->schemas = s;
    n->schema_bytes += SCHEMA_COST(a.schema_len);
    const dtsi_peer *p = dtsi_peer_find(n, h->instance);
    dtsi_event(n, DTS_EV_SCHEMA, h->instance, p ? p->hostname : NULL, name, s->id, 0);
}

// ---------------------------------------------------------------------------
// Entry points

void
dtsi_disc_init(dts_node *n)
{
    n->generation = 1;
    n->hb_interval_ms = DISC_HB_START_MS;
    n->hb_due_ms = dtsi_mono_ms();
    n->members_resends = 0;
    n->rate_at_ms = dtsi_mono_ms();
}

void
dtsi_disc_recv(dts_node *n, const dtsi_hdr *h, const uint8_t *payload, const char *src)
{
    dtsi_peer *p = dtsi_peer_find(n, h->instance);
    if (p) {
        p->last_seen_ms = dtsi_mono_ms();
        p->last_seen_ns = dts_now_ns();
    }
    switch (h->kind) {
    case DTSI_KIND_HEARTBEAT:
        disc_on_heartbeat(n, h, payload, src);
        break;
    case DTSI_KIND_MEMBERS:
        disc_on_members(n, h, payload);
        break;
    case DTSI_KIND_TYPES: {
        desc_ctx c = {n, src, h->instance};
        if (dtsi_types_decode(payload, h->payload_len, disc_on_type_desc, &c) != 0)
            n->nc.control_malformed++;
        break;
    }
    case DTSI_KIND_GOODBYE:
        if (h->payload_len != 0)
            n->nc.control_malformed++;
        else if (p)
            peer_remove(n, p, DTS_EV_PEER_GONE);
        break;
    case DTSI_KIND_SCHEMA_REQ:
        disc_on_schema_req(n, h, payload);
        break;
    case DTSI_KIND_SCHEMA_ANS:
        disc_on_schema_ans(n, h, payload);
        break;
    case DTSI_KIND_MEMBERS_REQ: {
        dtsi_cur c = {payload, h->payload_len, 0};
        uint64_t target = dtsi_r_u64(&c);
        if (c.err || c.left)
            n->nc.control_malformed++;
        else if (target == n->instance && n->members_resends == 0) {
            n->members_resends = 1;
            n->members_due_ms = dtsi_mono_ms() + disc_rand(20);
        }
        break;
    }
    default:
        n->nc.control_malformed++;
    }
}

// disc_members_req_due says when to ask peer p for its member list next:
// at once when it is stale (another generation than announced, or fewer
// entries), then after DISC_MEMBERS_REQ_GAP_MS, doubling, and no more after
// DISC_MEMBERS_REQ_TRIES requests for one announced generation (INT64_MAX).
// A peer that never answers, forged or gone wrong, thus costs a few
// requests instead of one every 300 ms for as long as its lease lasts.
static int64_t
disc_members_req_due(const dtsi_peer *p)
{
    int stale = p->generation != p->want_generation || p->n_members < p->want_members;
    if (!stale || p->members_reqs >= DISC_MEMBERS_REQ_TRIES) return INT64_MAX;
    if (p->members_reqs == 0) return 0;
    return p->members_req_ms + ((int64_t)DISC_MEMBERS_REQ_GAP_MS << (p->members_reqs - 1));
}

// disc_request_members asks peers whose member list we lack (or hold an
// old generation of) to send it, when due (disc_members_req_due).
static void
disc_request_members(dts_node *n, int64_t now)
{
    for (size_t i = 0; i < n->n_peers; i++) {
        dtsi_peer *p = &n->peers[i];
        if (disc_members_req_due(p) > now) continue;
        p->members_req_ms = now;
        p->members_reqs++;
        uint8_t buf[8];
        dtsi_wbuf w = {buf, 0, sizeof buf, 0};
        dtsi_w_u64(&w, p->instance);
        disc_send(n, DTSI_KIND_MEMBERS_REQ, buf, w.len);
    }
}

static void
disc_expire_peers(dts_node *n, int64_t now)
{
    for (size_t i = 0; i < n->n_peers;) {
        dtsi_peer *p = &n->peers[i];
        if (now - p->last_seen_ms > (int64_t)p->lease_ms)
            peer_remove(n, p, DTS_EV_PEER_LOST);
        else
            i++;
    }
}

// disc_free_closed_subs frees subscriptions closed since the last tick;
// no dispatch is running now, so no cached pointer is in use.
static void
disc_free_closed_subs(dts_node *n)
{
    for (struct dts_sub **sp = &n->subs; *sp;) {
        struct dts_sub *s = *sp;
        if (s->closed) {
            *sp = s->next;
            free(s);
            n->subs_gen++;
        } else {
            sp = &s->next;
        }
    }
}

// dtsi_disc_next_due says when discovery next has something to do: a
// heartbeat, a member-list resend, a type description, or a member
// request to a peer whose list is stale. The node's tick slows down when
// nothing is due soon (node_tick_interval).
int64_t
dtsi_disc_next_due(const dts_node *n, int64_t now)
{
    int64_t due = n->hb_due_ms;
    if (n->members_resends > 0 && n->members_due_ms < due) due = n->members_due_ms;
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++)
        for (const dtsi_type *t = n->types[b]; t; t = t->next) {
            if (t->desc_interval_ms && t->desc_due_ms < due) due = t->desc_due_ms;
            if (t->schema_ans_due_ms && t->schema_ans_due_ms < due) due = t->schema_ans_due_ms;
        }
    for (size_t i = 0; i < n->n_peers; i++) {
        const dtsi_peer *p = &n->peers[i];
        int64_t ask = disc_members_req_due(p);
        if (ask < due) due = ask;
        int64_t lost = p->last_seen_ms + (int64_t)p->lease_ms + 1; // disc_expire_peers
        if (lost < due) due = lost;
    }
    return due;
}

void
dtsi_disc_tick(dts_node *n, int64_t now)
{
    if (now >= n->hb_due_ms) {
        disc_send_heartbeat(n);
        n->hb_due_ms = now + jittered(n->hb_interval_ms);
        n->hb_interval_ms *= 2;
        // Within half the longest lease a peer grants (disc_on_heartbeat),
        // so that even a long announce_ms does not make this node lost.
        uint32_t most = n->cfg.announce_ms;
        if (most > DTSI_PEER_LEASE_MAX_MS / 2) most = DTSI_PEER_LEASE_MAX_MS / 2;
        if (n->hb_interval_ms > most) n->hb_interval_ms = most;
    }
    if (n->members_resends > 0 && now >= n->members_due_ms) {
        disc_send_members(n);
        n->members_resends--;
        n->members_due_ms = now + 250 * (4 - n->members_resends);
    }
    disc_send_types(n, now);
    disc_send_due_schemas(n, now);
    disc_request_members(n, now);
    disc_expire_peers(n, now);
    disc_free_closed_subs(n);
}

void
dtsi_disc_goodbye(dts_node *n)
{
    disc_send(n, DTSI_KIND_GOODBYE, NULL, 0);
}
