// node.c: the node: lifecycle and run modes, the send queue and datagram
// packing, frame reception and dispatch to subscriptions, sequence
// tracking, queries and the last-value cache.
#define _GNU_SOURCE
#include "core/node.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "transport/registry.h"

// ---------------------------------------------------------------------------
// Small helpers

int64_t
dtsi_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
dtsi_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
node_random64(void)
{
    uint64_t v = 0;
    while (v == 0) {
        if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
            v = (uint64_t)dts_now_ns() ^ (uint64_t)getpid();
    }
    return v;
}

// node_host_id hashes the host name and /etc/machine-id, so two containers
// with one host name still differ.
static uint64_t
node_host_id(const char *hostname)
{
    char buf[256] = "";
    FILE *f = fopen("/etc/machine-id", "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
        fclose(f);
    }
    char all[DTSI_HOSTNAME_MAX + 300];
    snprintf(all, sizeof all, "%s/%s", hostname, buf);
    uint64_t h = dts_schema_id(DTS_FORMAT_RAW, all, strlen(all));
    return h ? h : 1;
}

static int
env_int(const char *name, long lo, long hi, long *out)
{
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

void
dts_node_config_init(dts_node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->port = DTS_PORT_DEFAULT;
    cfg->ttl = 1;
    cfg->loopback = 1;
    cfg->last_value_cache = 1;
    cfg->initial_value = 1;
    long v;
    if (env_int("DTS_PORT", 1, 65535, &v)) cfg->port = (uint16_t)v;
    if (env_int("DTS_TTL", 0, 255, &v)) cfg->ttl = (int)v;
    cfg->answer_spin_us = DTS_ANSWER_SPIN_DEFAULT_US;
    if (env_int("DTS_RANDOM_LOSS", 0, 1, &v)) cfg->random_loss = (int)v;
    if (env_int("DTS_SPIN_US", 0, DTS_SPIN_MAX_US, &v)) cfg->spin_us = (uint32_t)v;
    if (env_int("DTS_ANSWER_SPIN_US", 0, DTS_SPIN_MAX_US, &v)) cfg->answer_spin_us = (uint32_t)v;
    const char *iface = getenv("DTS_IFACE");
    if (iface && *iface) cfg->iface = iface;
}

// ---------------------------------------------------------------------------
// Types

dtsi_type *
dtsi_type_find(dts_node *n, uint64_t id)
{
    for (dtsi_type *t = n->types[id % DTSI_TYPE_BUCKETS]; t; t = t->next)
        if (t->id == id) return t;
    return NULL;
}

// type_new adds the entry of a type id, or returns NULL when DTSI_TYPES_MAX
// types are known. Entries are never freed before the node: publishing
// threads walk the chains without the lock (type_declared_unlocked), and
// subscriptions, queries and send queues refer to them.
static dtsi_type *
type_new(dts_node *n, uint64_t id)
{
    if (n->n_types >= DTSI_TYPES_MAX) return NULL;
    dtsi_type *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->id = id;
    t->format = t->mismatch_format = DTSI_FORMAT_UNKNOWN;
    t->next_seq = 1;
    t->next = n->types[id % DTSI_TYPE_BUCKETS];
    // Seen without the lock by publishing threads (type_declared_unlocked).
    __atomic_store_n(&n->types[id % DTSI_TYPE_BUCKETS], t, __ATOMIC_RELEASE);
    n->n_types++;
    return t;
}

// type_name fills in the name of an entry known by id only.
static void
type_name(dts_node *n, dtsi_type *t, const char *name, size_t name_len)
{
    if (name && !t->name[0] && name_len <= DTS_NAME_MAX) {
        memcpy(t->name, name, name_len);
        t->name[name_len] = 0;
        t->subs_gen = 0; // a name may make globs match
        n->membership_dirty = 1;
        dtsi_event(n, DTS_EV_TYPE_NEW, 0, NULL, t->name, t->schema_id, 0);
    }
}

// dtsi_type_get finds or creates the entry of a type id for the application
// (a declaration, a subscription, a query), filling in its name when given
// (name_len bytes, already validated). An entry learned from the network
// becomes the application's. Returns NULL when DTSI_TYPES_MAX types are
// known; the network never holds more than DTSI_TYPES_REMOTE_MAX of them
// (dtsi_type_learn), so the application always has the rest.
dtsi_type *
dtsi_type_get(dts_node *n, uint64_t id, const char *name, size_t name_len)
{
    dtsi_type *t = dtsi_type_find(n, id);
    if (!t) t = type_new(n, id);
    if (!t) return NULL;
    if (t->remote) {
        t->remote = 0;
        n->n_types_remote--;
    }
    type_name(n, t, name, name_len);
    return t;
}

// dtsi_type_learn finds or creates the entry of a type that another node
// described (disc_on_type_desc). It creates one only while fewer than
// DTSI_TYPES_REMOTE_MAX entries are the network's alone, so that forged
// descriptions of thousands of names (each TYPES frame may carry 1024)
// cannot take the room of the application's own types. Past that bound a
// new name is not learned (a glob subscription does not see it) until the
// application names it itself, or takes over learned entries, which frees
// their share (docs/spec/discovery.md, "TYPES"). Returns NULL for a new
// name past the bound.
dtsi_type *
dtsi_type_learn(dts_node *n, uint64_t id, const char *name, size_t name_len)
{
    dtsi_type *t = dtsi_type_find(n, id);
    if (!t) {
        if (n->n_types_remote >= DTSI_TYPES_REMOTE_MAX) return NULL;
        t = type_new(n, id);
        if (!t) return NULL;
        t->remote = 1;
        if (++n->n_types_remote == DTSI_TYPES_REMOTE_MAX)
            DTSI_LOG(DTS_LOG_WARN, DTS_CAT_DISCOVERY, "types-full",
                     "%u types learned from the network: further names are ignored",
                     (unsigned)DTSI_TYPES_REMOTE_MAX);
    }
    type_name(n, t, name, name_len);
    return t;
}

static int
sub_matches(const struct dts_sub *s, const dtsi_type *t)
{
    if (s->closed) return 0;
    if (s->exact) return s->type_id == t->id;
    return t->name[0] && dts_glob_match(s->pattern, t->name);
}

// type_refresh_subs rebuilds the cached list of subscriptions matching t
// when subscriptions changed since it was built.
static void
type_refresh_subs(dts_node *n, dtsi_type *t)
{
    if (t->subs_gen == n->subs_gen) return;
    t->n_subs = 0;
    for (struct dts_sub *s = n->subs; s; s = s->next) {
        if (!sub_matches(s, t)) continue;
        if (t->n_subs == t->cap_subs) {
            size_t cap = t->cap_subs ? 2 * t->cap_subs : 4;
            struct dts_sub **ns = realloc(t->subs, cap * sizeof *ns);
            if (!ns) break;
            t->subs = ns;
            t->cap_subs = cap;
        }
        t->subs[t->n_subs++] = s;
    }
    t->subs_gen = n->subs_gen;
}

// dtsi_type_wanted says whether the node must receive t's data channel: a
// subscription matches or a query waits for replies. A node that declared
// t receives its back channel instead (queries, NACKs), not its own data.
int
dtsi_type_wanted(dts_node *n, dtsi_type *t)
{
    type_refresh_subs(n, t);
    return t->n_subs > 0 || t->want_refs_query > 0;
}

// node_initial_query asks the publishers of a type that a subscription has
// just started receiving for their latest value, so a subscriber has the
// current state at once (and a glob subscriber the message that revealed a
// new type). The replies go through the normal delivery path, with its
// duplicate filter, marked is_reply. Off with cfg.initial_value = 0.
static void
node_initial_query(dts_node *n, dtsi_type *t)
{
    if (!n->cfg.initial_value) return;
    uint32_t corr = (uint32_t)(n->instance ^ t->id ^ (uint64_t)dtsi_mono_ms());
    t->join_corr = corr ? corr : 1;
    dtsi_hdr h = {
        .kind = DTSI_KIND_QUERY, .corr = t->join_corr, .type_id = t->id, .schema_id = t->schema_id};
    dtsi_enqueue(n, dtsi_back_channel(t->id), &h, NULL, 0);
}

// node_update_membership joins and leaves channels to match what is
// wanted. Loop thread.
static void
node_update_membership(dts_node *n)
{
    if (!n->membership_dirty || !n->tp) return;
    n->membership_dirty = 0;
    pthread_cond_broadcast(&n->cond); // dts_subscribe and declare wait for this
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++) {
        for (dtsi_type *t = n->types[b]; t; t = t->next) {
            int want = dtsi_type_wanted(n, t);
            if (want && !t->joined) {
                if (n->tp_ops->join(n->tp, t->id) == DTS_OK) t->joined = 1;
                if (t->joined && t->n_subs > 0 && !t->declared) node_initial_query(n, t);
            } else if (!want && t->joined) {
                n->tp_ops->leave(n->tp, t->id);
                t->joined = 0;
            }
            if (t->declared && !t->joined_back) {
                if (n->tp_ops->join(n->tp, dtsi_back_channel(t->id)) == DTS_OK) t->joined_back = 1;
            } else if (!t->declared && t->joined_back) {
                n->tp_ops->leave(n->tp, dtsi_back_channel(t->id));
                t->joined_back = 0;
            }
        }
    }
}

static void lvc_release(dts_node *n, dtsi_type *t);

static void
type_free(dts_node *n, dtsi_type *t)
{
    free(t->schema);
    lvc_release(n, t);
    free(t->subs);
    dtsi_senders_free(t);
    dtsi_rel_type_free(n, t);
    free(t);
}

// ---------------------------------------------------------------------------
// Events

// node_in_own_callback says whether the calling thread is inside a callback
// of node n: its loop thread (DTS_RUN_THREAD), or the thread running its
// loop while that handles an event.
static int
node_in_own_callback(const dts_node *n)
{
    int loop_thread = __atomic_load_n(&n->loop_tid_set, __ATOMIC_ACQUIRE) &&
                      pthread_equal(n->loop_tid, pthread_self());
    if (n->cfg.run_mode == DTS_RUN_THREAD) return loop_thread;
    return n->in_loop_cb > 0 && (loop_thread || !n->loop_tid_set);
}

void
dtsi_event(dts_node *n, dts_event_kind kind, uint64_t instance, const char *hostname,
           const char *type, uint64_t schema_id, uint64_t other)
{
    if (!n->ev_cb) return;
    dts_event ev = {.kind = kind,
                    .instance = instance,
                    .hostname = hostname ? hostname : "",
                    .type = type ? type : "",
                    .schema_id = schema_id,
                    .other_schema_id = other};
    dtsi_in_locked_cb++;
    n->ev_cb(n->ev_ud, &ev);
    dtsi_in_locked_cb--;
}

void
dts_node_set_event_cb(dts_node *n, dts_event_cb cb, void *ud)
{
    dtsi_lock(&n->mu);
    n->ev_cb = cb;
    n->ev_ud = ud;
    pthread_mutex_unlock(&n->mu);
}

// ---------------------------------------------------------------------------
// Send queue

// buf_get and buf_put keep freed frame buffers for the next messages, so
// that the hot path costs no allocation (DESIGN.md decision 10): buffers of
// 128 B to 64 KiB in power-of-two classes, each class keeping up to 1 MiB
// of them. A frame gets the smallest class that holds it, so a buffer is
// at most twice its frame. Without the pool, glibc gives freed 16-64 KiB
// buffers back to the system and every new message faults its pages in
// again; with a single large class, a queue of 1 KiB frames would hold
// 64 KiB each. Larger frames (fragmented messages) come from a few kept
// large buffers (large_get). Lock held.
static int
buf_class(size_t len)
{
    int c = 0;
    while (c < DTSI_POOL_CLASSES && ((size_t)DTSI_POOL_MIN << c) < len) c++;
    return c;
}

static size_t
buf_keep(int c, size_t bytes)
{
    size_t k = bytes / ((size_t)DTSI_POOL_MIN << c) + 2;
    return k < 16 ? 16 : k;
}

// A large buffer carries its capacity in the DTSI_LARGE_PREFIX bytes before
// it, so that whoever holds it (the queue, a loan, the last-value cache)
// needs only its pool number to give it back.
static size_t
large_cap(const uint8_t *buf)
{
    size_t cap;
    memcpy(&cap, buf - DTSI_LARGE_PREFIX, sizeof cap);
    return cap;
}

static void
large_free(uint8_t *buf)
{
    free(buf - DTSI_LARGE_PREFIX);
}

_Static_assert(DTSI_LARGE_KEEP <= DTSI_BUFKEEP_MAX, "kept large buffers too many");
_Static_assert(DTSI_SCHEMA_BYTES_MAX == DTS_SCHEMA_MAX, "the wire's schema bound is the API's");

// large_get gives the smallest kept large buffer that holds len bytes, or a
// new one rounded up to DTSI_LARGE_STEP (so that messages of about the same
// size reuse each other's buffers); large_put keeps it again, within
// DTSI_LARGE_KEEP buffers and a bytes bound that grows with its size
// (node.h).
static uint8_t *
large_get(dts_node *n, size_t len)
{
    size_t cap;
    n->large_used_ms = dtsi_mono_ms(); // one clock read per message over 64 KiB
    uint8_t *b = dtsi_bufkeep_take(&n->large, len, &cap);
    if (b) return b;
    if (len > SIZE_MAX - 2 * DTSI_LARGE_STEP) return NULL;
    cap = (len + DTSI_LARGE_STEP - 1) / DTSI_LARGE_STEP * DTSI_LARGE_STEP;
    b = dtsi_big_alloc(DTSI_LARGE_PREFIX + cap);
    if (!b) return NULL;
    n->nc.buffers_allocated++;
    memcpy(b, &cap, sizeof cap);
    return b + DTSI_LARGE_PREFIX;
}

static void
large_put(dts_node *n, uint8_t *buf)
{
    // A buffer is kept while those kept of its size or smaller, with it,
    // hold at most DTSI_POOL_BURST_BYTES and two buffers of its size: what
    // a stream of that size needs, however many larger ones are kept. A
    // bound set from the returned buffer alone made a 128 KiB frame given
    // back beside a kept 4 MiB one free the smaller kept ones, and a stream
    // of 100 KB values allocated one buffer in four (found in review).
    size_t cap = large_cap(buf), below = cap;
    for (size_t i = 0; i < n->large.n; i++)
        if (n->large.cap[i] <= cap) below += n->large.cap[i];
    if (below > DTSI_POOL_BURST_BYTES + 2 * cap || !dtsi_bufkeep_put(&n->large, buf, cap))
        large_free(buf);
}

// dtsi_pool_trim gives the kept large buffers back to the system when none
// was taken for DTSI_LARGE_IDLE_MS, and a class's buffers beyond
// DTSI_POOL_KEEP_BYTES when none was taken since the last trim (a tick): a
// burst of messages does not hold their memory for ever. Lock held.
void
dtsi_pool_trim(dts_node *n, int64_t now_ms)
{
    if (n->large.n && now_ms - n->large_used_ms >= DTSI_LARGE_IDLE_MS)
        dtsi_bufkeep_clear(&n->large);
    for (int c = 0; c < DTSI_POOL_CLASSES; c++) {
        size_t keep = buf_keep(c, DTSI_POOL_KEEP_BYTES);
        if (!n->pool_used[c])
            while (n->pool_n[c] > keep) free(n->pool[c][--n->pool_n[c]]);
        n->pool_used[c] = 0;
    }
}

// dtsi_pool_kept_bytes is what the frame pools and the reassembly's spare
// buffers keep now (dts_node_counters.buffers_kept_bytes). Lock held.
size_t
dtsi_pool_kept_bytes(const dts_node *n)
{
    size_t bytes = n->large.bytes + n->reasm.spare.bytes + n->reasm.next.bytes;
    for (int c = 0; c < DTSI_POOL_CLASSES; c++)
        bytes += n->pool_n[c] * ((size_t)DTSI_POOL_MIN << c);
    return bytes;
}

static uint8_t *
buf_get(dts_node *n, size_t len, int *pool)
{
    int c = buf_class(len);
    if (c == DTSI_POOL_CLASSES) {
        *pool = DTSI_POOL_LARGE;
        return large_get(n, len);
    }
    *pool = c + 1;
    n->pool_used[c] = 1;
    if (n->pool_n[c]) return n->pool[c][--n->pool_n[c]];
    n->nc.buffers_allocated++;
    return malloc((size_t)DTSI_POOL_MIN << c);
}

static void
buf_put(dts_node *n, uint8_t *buf, int pool)
{
    if (pool == DTSI_POOL_LARGE) {
        large_put(n, buf);
        return;
    }
    int c = pool - 1;
    size_t keep = buf_keep(c, DTSI_POOL_BURST_BYTES);
    if (pool > 0 && !n->pool[c]) n->pool[c] = calloc(keep, sizeof *n->pool[c]);
    if (pool > 0 && n->pool[c] && n->pool_n[c] < keep)
        n->pool[c][n->pool_n[c]++] = buf;
    else
        free(buf);
}

static void
out_free(dts_node *n, dtsi_out *o)
{
    if (o->buf) buf_put(n, o->buf, o->pooled);
    o->buf = NULL;
}

// ---------------------------------------------------------------------------
// Last-value cache

static void
lvc_release(dts_node *n, dtsi_type *t)
{
    if (t->last_buf && t->last_cap)
        free(t->last_buf);
    else if (t->last_buf)
        buf_put(n, t->last_buf, t->last_pool);
    t->last_buf = NULL;
    t->last_cap = 0;
}

// q_at is the queued message at position i from the head. Lock held.
static dtsi_out *
q_at(dts_node *n, size_t i)
{
    return &n->q[(n->q_head + i) % n->q_cap];
}

// dtsi_lvc_store records the value just published (seq) as t's last value,
// for queries. A large value whose frame was just queued (queued: the frame
// holds it as published, not compressed) is not copied: the frame becomes
// the value when it leaves the queue (node_lvc_adopt) and is read there
// until then (node_lvc_data), which spares the publishing thread a second
// copy of every large message. Others are copied. Lock held.
void
dtsi_lvc_store(dts_node *n, dtsi_type *t, const void *data, size_t len, uint64_t seq,
               int64_t sent_ns, int queued)
{
    t->last_borrowed = NULL; // an older value's
    if (queued && len >= DTSI_LVC_BY_REF) {
        q_at(n, n->q_len - 1)->lvc = 1;
        t->last_pending = 1;
    } else {
        if (len > t->last_cap) {
            uint8_t *b = malloc(len);
            if (!b) return; // the cache keeps the previous value
            lvc_release(n, t);
            t->last_buf = b;
            t->last_cap = len;
        }
        if (len) memcpy(t->last_buf, data, len);
        t->last_off = 0;
        t->last_pending = 0;
    }
    t->last_len = len;
    t->last_seq = seq;
    t->last_sent_ns = sent_ns;
}

// node_lvc_adopt makes a frame leaving the queue its type's last value, if
// it still is the last one published.
static void
node_lvc_adopt(dts_node *n, dtsi_out *o)
{
    dtsi_type *t = dtsi_type_find(n, o->channel);
    // (A borrowed payload was copied, node_lvc_copy_borrowed; buf is a header.)
    if (!t || !t->last_pending || t->last_seq != o->seq || o->borrowed) return;
    lvc_release(n, t);
    t->last_buf = o->buf;
    t->last_off = DTSI_HDR_SIZE;
    t->last_pool = o->pooled;
    t->last_pending = 0;
    o->buf = NULL;
}

// out_payload is where a queued message's payload is: after its header, or
// in the buffer its publisher lent.
static const uint8_t *
out_payload(const dtsi_out *o)
{
    return o->borrowed ? o->borrowed : o->buf + DTSI_HDR_SIZE;
}

// node_lvc_data returns t's last value, or NULL when there is none (its
// frame was dropped from the queue). A value its publishing thread sent
// from its own buffer is read there while that thread copies it into the
// cache (last_borrowed; the thread waits in dts_publish_wait until then,
// node_lvc_copy_borrowed), or while it is sending it (in the queue).
static const uint8_t *
node_lvc_data(dts_node *n, const dtsi_type *t)
{
    if (!t->last_pending) return t->last_buf ? t->last_buf + t->last_off : (const uint8_t *)"";
    if (t->last_borrowed) return t->last_borrowed;
    for (size_t i = 0; i < n->q_len; i++) {
        const dtsi_out *o = q_at(n, i);
        if (o->lvc && o->channel == t->id && o->seq == t->last_seq && o->buf) return out_payload(o);
    }
    return NULL;
}

// lvc_borrowed_type is the type whose last value o (sent from its
// publisher's buffer) still is, or NULL.
static dtsi_type *
lvc_borrowed_type(dts_node *n, const dtsi_out *o)
{
    dtsi_type *t = o->borrowed && o->lvc ? dtsi_type_find(n, o->channel) : NULL;
    return t && t->last_pending && t->last_seq == o->seq ? t : NULL;
}

// node_lvc_copy_borrowed makes the value its publishing thread has just
// sent from its own buffer (o, already out of the queue, so that what
// waited behind it leaves meanwhile) type t's last value, if it still is
// the last one published: a copy, made with the lock released into the
// cache's previous buffer when that is large enough, so that a stream of
// large values costs no allocation. Queries meanwhile read the value from
// the publisher's buffer (t->last_borrowed, set by the caller with
// lvc_copying counted: a closing node waits for the copy). Publishing
// thread, lock held.
static void
node_lvc_copy_borrowed(dts_node *n, dtsi_type *t, const dtsi_out *o)
{
    size_t len = o->len - DTSI_HDR_SIZE, cap = len;
    uint8_t *b = NULL;
    if (t->last_buf && t->last_cap >= len) { // a copy of an older value: reuse it
        b = t->last_buf;
        cap = t->last_cap;
        t->last_buf = NULL;
        t->last_cap = 0;
    }
    pthread_mutex_unlock(&n->mu);
    if (!b) b = malloc(len);
    if (b) memcpy(b, o->borrowed, len);
    dtsi_lock(&n->mu);
    if (t->last_borrowed == o->borrowed) t->last_borrowed = NULL;
    if (b && t->last_pending && t->last_seq == o->seq) {
        lvc_release(n, t);
        t->last_buf = b;
        t->last_cap = cap;
        t->last_off = 0;
        t->last_pending = 0;
    } else if (b && t->last_pending && !t->last_buf) {
        // A newer value came meanwhile (another thread publishing the type),
        // still pending: the buffer waits for its copy, which reuses it
        // instead of faulting in a new one.
        t->last_buf = b;
        t->last_cap = cap;
    } else {
        free(b); // a newer value, already cached (or no memory: none is kept)
    }
    n->lvc_copying--;
}

// dtsi_frame_get gives a frame buffer for a payload of len bytes (the
// payload goes at DTSI_HDR_SIZE), for dtsi_enqueue_frame; dtsi_frame_put
// takes back one that was not queued. Lock held.
uint8_t *
dtsi_frame_get(dts_node *n, size_t len, int *pooled)
{
    return buf_get(n, DTSI_HDR_SIZE + len, pooled);
}

void
dtsi_frame_put(dts_node *n, uint8_t *buf, int pooled)
{
    buf_put(n, buf, pooled);
}

// enqueue_refused says why a message of len bytes cannot be queued now
// (DTS_ECLOSED, DTS_EQUEUE), or DTS_OK. Lock held.
static dts_err
enqueue_refused(dts_node *n, const dtsi_hdr *h, size_t len)
{
    if (n->closing && h->kind != DTSI_KIND_GOODBYE) return DTS_ECLOSED;
    // A value leaves after those before it in the ring (control frames and
    // answers need no such order, and do not wait for the flush).
    if (h->kind == DTSI_KIND_DATA && !dtsi_ring_flush(n)) return DTS_EQUEUE;
    if (n->q_len == n->q_cap) return DTS_EQUEUE;
    if (n->q_bytes + len > n->cfg.queue_max_bytes && n->q_len > 0) return DTS_EQUEUE;
    return DTS_OK;
}

// queue_append puts o at the end of the send queue and counts its payload.
// Lock held, room checked.
static void
queue_append(dts_node *n, dtsi_out o)
{
    o.charged = o.frag ? o.end_off - o.next_off : o.len - DTSI_HDR_SIZE;
    *q_at(n, n->q_len) = o;
    n->q_len++;
    n->q_bytes += o.charged;
    if (n->q_bytes > n->nc.queue_peak_bytes) n->nc.queue_peak_bytes = n->q_bytes;
}

// queue_frame writes the header into buf and appends it to the send queue;
// one longer than a datagram is marked to leave as fragments. Lock held,
// room checked (enqueue_refused).
static void
queue_frame(dts_node *n, uint64_t channel, const dtsi_hdr *h, uint8_t *buf, int pooled, size_t len)
{
    dtsi_hdr hh = *h;
    hh.payload_len = (uint32_t)len;
    hh.instance = n->instance;
    hh.host = n->host;
    dtsi_hdr_encode(&hh, buf);
    queue_append(n, (dtsi_out){.channel = channel,
                               .len = DTSI_HDR_SIZE + len,
                               .buf = buf,
                               .frag = DTSI_HDR_SIZE + len > n->max_dgram,
                               .end_off = len,
                               .pooled = pooled,
                               .seq = h->seq});
}

// dtsi_enqueue builds one message (header then payload) and appends it to
// the send queue; one longer than a datagram is marked to leave as
// fragments. Caller holds the lock. Returns DTS_EQUEUE when the queue holds
// its bound of messages or bytes; nothing is queued then.
dts_err
dtsi_enqueue(dts_node *n, uint64_t channel, const dtsi_hdr *h, const void *payload, size_t len)
{
    dts_err err = enqueue_refused(n, h, len);
    if (err != DTS_OK) return err;
    int pooled;
    uint8_t *buf = dtsi_frame_get(n, len, &pooled);
    if (!buf) return DTS_ENOMEM;
    if (len) memcpy(buf + DTSI_HDR_SIZE, payload, len);
    queue_frame(n, channel, h, buf, pooled, len);
    return DTS_OK;
}

// dtsi_enqueue_frame is dtsi_enqueue for a payload already in buf (from
// dtsi_frame_get): it queues buf, which the queue owns on DTS_OK and the
// caller keeps otherwise. Lock held.
dts_err
dtsi_enqueue_frame(dts_node *n, uint64_t channel, const dtsi_hdr *h, uint8_t *buf, int pooled,
                   size_t len)
{
    dts_err err = enqueue_refused(n, h, len);
    if (err == DTS_OK) queue_frame(n, channel, h, buf, pooled, len);
    return err;
}

// dtsi_enqueue_borrowed queues a fragmented message whose payload stays in
// the publishing thread's buffer, which then sends it (dtsi_send_borrowed)
// before it returns. The queue must be empty, so that the message is its
// head: DTS_EBUSY when it is not. Lock held.
dts_err
dtsi_enqueue_borrowed(dts_node *n, uint64_t channel, const dtsi_hdr *h, const void *payload,
                      size_t len)
{
    dts_err err = enqueue_refused(n, h, len);
    if (err != DTS_OK) return err;
    if (DTSI_HDR_SIZE + len <= n->max_dgram) return DTS_EINVAL;
    if (n->q_len != 0) return DTS_EBUSY; // the ring's frames came first (dtsi_ring_flush)
    int pooled;
    uint8_t *buf = buf_get(n, DTSI_HDR_SIZE, &pooled); // the header only
    if (!buf) return DTS_ENOMEM;
    queue_frame(n, channel, h, buf, pooled, len);
    q_at(n, 0)->by_caller = 1;
    q_at(n, 0)->borrowed = payload;
    return DTS_OK;
}

// dtsi_enqueue_copy queues a copy of an encoded frame (reliable mode
// repairs): all of it, or for a fragmented message the fragments covering
// bytes from..to of the message, of which only the header and those bytes
// are copied and counted in the queue (a fragment of a 64 MiB message
// copied all of it, and a NACK for a few scattered fragments filled the
// queue with such copies). Caller holds the lock.
dts_err
dtsi_enqueue_copy(dts_node *n, uint64_t channel, const uint8_t *frame, size_t len, size_t from,
                  size_t to)
{
    if (n->closing) return DTS_ECLOSED;
    int frag = len > n->max_dgram;
    if (!frag) from = 0, to = len - DTSI_HDR_SIZE;
    size_t part = to - from;
    if (n->q_len == n->q_cap || n->q_bytes + part > n->cfg.queue_max_bytes) return DTS_EQUEUE;
    int pooled;
    uint8_t *buf = buf_get(n, DTSI_HDR_SIZE + part, &pooled);
    if (!buf) return DTS_ENOMEM;
    memcpy(buf, frame, DTSI_HDR_SIZE);
    memcpy(buf + DTSI_HDR_SIZE, frame + DTSI_HDR_SIZE + from, part);
    queue_append(n, (dtsi_out){.channel = channel,
                               .len = len,
                               .buf = buf,
                               .pooled = pooled,
                               .frag = frag,
                               .next_off = from,
                               .end_off = to,
                               .base = from,
                               .repair = 1});
    return DTS_OK;
}

// ring_frame_len is the length of the frame at f in the ring: its header
// and payload.
static size_t
ring_frame_len(const uint8_t *f)
{
    return DTSI_HDR_SIZE + dtsi_get_u32(f + 8);
}

// dtsi_ring_used is how many bytes the ring holds. Lock held.
size_t
dtsi_ring_used(dts_node *n)
{
    if (!n->ring.buf) return 0;
    return __atomic_load_n(&n->ring.tail, __ATOMIC_ACQUIRE) - n->ring.head;
}

// ring_lvc makes the DATA frame at f its type's last value (a copy: ring
// frames are small). Lock held.
static void
ring_lvc(dts_node *n, dtsi_type *t, const uint8_t *f)
{
    if (!n->cfg.last_value_cache || !t) return;
    dtsi_lvc_store(n, t, f + DTSI_HDR_SIZE, dtsi_get_u32(f + 8), dtsi_get_u64(f + 48),
                   (int64_t)dtsi_get_u64(f + 56), 0);
}

// ring_next is the frame at position *pos of the ring, or after the skip
// mark there (*pos moves to it), before tail; NULL when there is none.
static const uint8_t *
ring_next(const dtsi_ring *r, size_t *pos, size_t tail)
{
    while (*pos < tail) {
        size_t off = *pos % r->cap;
        if (!dtsi_ring_skips(r, off)) return r->buf + off;
        *pos += r->cap - off;
    }
    return NULL;
}

// dtsi_ring_flush moves the frames in the ring to the end of the send
// queue, so that a value queued next leaves after them; it first waits
// for a send from the ring to end (by the loop thread, or by a publishing
// thread sending its own value, node_send_ring_ahead: one system call,
// which does not block). Returns 0 when the queue could not take them all
// (the rest stays in the ring, and nothing may be appended to the queue).
// Lock held; the sender from the ring holds it only between its sends.
int
dtsi_ring_flush(dts_node *n)
{
    dtsi_ring *r = &n->ring;
    if (!r->buf) return 1;
    while (r->busy) {
        r->waiters++;
        pthread_cond_wait(&n->cond, &n->mu);
        r->waiters--;
    }
    size_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE), pos = r->head;
    dtsi_type *t = NULL;
    const uint8_t *f;
    while ((f = ring_next(r, &pos, tail))) {
        size_t len = ring_frame_len(f);
        if (n->q_len >= n->cfg.queue_max) break; // the rest of q_cap is for control frames
        int pooled;
        uint8_t *buf = buf_get(n, len, &pooled);
        if (!buf) break;
        memcpy(buf, f, len);
        uint64_t ch = dtsi_get_u64(f + 16);
        if (!t || t->id != ch) t = dtsi_type_find(n, ch);
        ring_lvc(n, t, f);
        queue_append(n, (dtsi_out){.channel = ch,
                                   .len = len,
                                   .buf = buf,
                                   .pooled = pooled,
                                   .end_off = len - DTSI_HDR_SIZE,
                                   .seq = dtsi_get_u64(f + 48)});
        n->nc.ring_flushed++;
        pos += len;
    }
    __atomic_store_n(&r->head, pos, __ATOMIC_RELEASE);
    return pos == tail;
}

// node_count_sent credits a sent DATA message to its type.
static void
node_count_sent(dts_node *n, const dtsi_out *o)
{
    if (o->repair) return; // counted in repairs_sent
    if (o->buf[3] != DTSI_KIND_DATA) {
        if (o->channel == DTS_CHANNEL_CONTROL) n->nc.control_bytes_sent += o->len;
        return;
    }
    dtsi_type *t = dtsi_type_find(n, o->channel);
    if (t) t->c.sent++;
}

// node_pack_count counts the consecutive queued frames of channel ch,
// from position at of the queue, that fit one datagram (DESIGN.md decision
// 10: what is queued when the loop runs shares datagrams; no timer); *len
// is their total size. 0 when the frame at `at` is a fragmented message or
// of another channel. Lock held.
static size_t
node_pack_count(dts_node *n, size_t at, uint64_t ch, size_t *len)
{
    size_t k = 0, off = 0;
    while (at + k < n->q_len) {
        const dtsi_out *o = q_at(n, at + k);
        if (o->channel != ch || o->frag || off + o->len > n->max_dgram) break;
        off += o->len;
        k++;
    }
    *len = off;
    return k;
}

// node_pack_dgram describes the k frames from position at of the queue as
// one datagram: the frame itself when alone, an iovec per frame up to
// DTSI_PACK_IOV of them (no copy), or one copy into pack_buf for many small
// frames (cheaper than as many pieces). The head of the queue belongs to
// the sending thread, so this runs without the lock.
static dts_dgram
node_pack_dgram(dts_node *n, size_t at, size_t k, size_t len, struct iovec *iov)
{
    const dtsi_out *first = q_at(n, at);
    if (k == 1) return (dts_dgram){.data = first->buf, .len = first->len};
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        const dtsi_out *o = q_at(n, at + i);
        if (k <= DTSI_PACK_IOV)
            iov[i] = (struct iovec){o->buf, o->len};
        else
            memcpy(n->pack_buf + off, o->buf, o->len);
        off += o->len;
    }
    if (k <= DTSI_PACK_IOV) return (dts_dgram){.len = len, .iov = iov, .iovcnt = k};
    return (dts_dgram){.data = n->pack_buf, .len = len};
}

static void node_on_retry(uv_timer_t *tm);
static void node_tick_hurry(dts_node *n);
static void node_activity(dts_node *n);
static void node_on_tick(uv_timer_t *tm);

static uint64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

// pace_burst is what the token bucket may hold at a rate: 2 ms of it, and at
// least a batch of full datagrams.
static int64_t
pace_burst(const dts_node *n, uint64_t rate)
{
    int64_t b = (int64_t)(rate / 500), min = (int64_t)(dtsi_frag_batch_max(n) * n->max_dgram);
    return b > min ? b : min;
}

// pace_wait_us asks the token bucket for bytes: 0 when they may go now
// (and are taken), else the microseconds the rate needs to refill it
// (DESIGN.md decision 10: the sender is paced so that what it sends can be
// delivered). Lock held.
static uint64_t
pace_wait_us(dts_node *n, size_t bytes, size_t dgrams)
{
    uint64_t max = n->cfg.pace_bytes_per_s;
    if (max == 0) return 0;
    // A datagram costs at least the bytes the datagram rate allows for it.
    uint64_t per_dgram = max / n->cfg.pace_dgrams_per_s;
    if (bytes < dgrams * per_dgram) bytes = dgrams * per_dgram;
    uint64_t now = mono_us();
    // After a receiver's SLOW (node_slow_down) and DTSI_SLOW_HOLD_MS without
    // another, the rate climbs back by a quarter every DTSI_SLOW_RAISE_MS; for
    // DTSI_SLOW_CEILING_MS after the SLOW, to twice what was asked at most.
    // After a SLOW for loss, by a 32nd (node_slow_down): the link that lost
    // data drops again as soon as the rate is above it, and a quarter more
    // is a burst of lost messages each time.
    uint64_t top = now < n->pace_ceiling_us && n->pace_ceiling < max ? n->pace_ceiling : max;
    if (n->pace_rate < top && now >= n->pace_raise_us) {
        if (now < n->pace_gentle_us)
            n->pace_rate += n->pace_rate / DTSI_LOSS_RAISE_DIV + 1;
        else
            n->pace_rate += n->pace_rate / 4 > max / 1024 ? n->pace_rate / 4 : max / 1024;
        if (n->pace_rate > top) n->pace_rate = top;
        n->pace_raise_us = now + DTSI_SLOW_RAISE_MS * 1000u;
    }
    uint64_t rate = n->pace_rate;
    int64_t burst = pace_burst(n, rate);
    n->pace_tokens += (int64_t)((now - n->pace_last_us) * rate / 1000000u);
    n->pace_last_us = now;
    if (n->pace_tokens > burst) n->pace_tokens = burst;
    // A small datagram (a value, or a few) does not wait for the bucket that
    // a large message emptied: it goes anyway, deepening the debt, which the
    // large message's next batch then waits for instead; up to
    // DTSI_PACE_DEBT bytes so taken before the bucket is above zero again.
    // On the loop thread its wait would be the timer's, a millisecond at
    // least, for a few microseconds of the rate. Not while a receiver's SLOW
    // holds the rate down.
    if (n->pace_tokens > 0) n->pace_debt = 0;
    int small = dgrams == 1 && bytes <= DTSI_PACE_SMALL && rate >= max &&
                n->pace_debt + bytes <= DTSI_PACE_DEBT;
    n->nc.pace_waits += n->pace_tokens <= 0 && !small;
    if (n->pace_tokens <= 0 && !small) return (uint64_t)(-n->pace_tokens) * 1000000u / rate + 1;
    if (n->pace_tokens <= 0) n->pace_debt += bytes;
    n->pace_tokens -= (int64_t)bytes;
    return 0;
}

// pace_take is pace_wait_us for the loop thread, for bytes of channel ch:
// when they must wait it arms the retry timer for then and returns 0, and
// the caller stops sending until it fires. Control frames are not paced,
// cut or not: a few hundred bytes a second (a large SCHEMA_ANS now and
// then), which must not wait behind a large message's debt to the bucket
// (nor hold up what is queued behind them meanwhile).
static int
pace_take(dts_node *n, uint64_t ch, size_t bytes, size_t dgrams)
{
    if (ch == DTS_CHANNEL_CONTROL) return 1;
    uint64_t wait_us = pace_wait_us(n, bytes, dgrams);
    if (wait_us) uv_timer_start(&n->retry, node_on_retry, wait_us / 1000u + 1, 0);
    return wait_us == 0;
}

// pace_ok is pace_take on the loop thread; on another (a publishing thread
// sending its own value) it never waits nor arms the timer, and control
// frames are not paced either. Lock held.
static int
pace_ok(dts_node *n, uint64_t ch, size_t bytes, size_t dgrams, int loop)
{
    if (loop) return pace_take(n, ch, bytes, dgrams);
    return ch == DTS_CHANNEL_CONTROL || pace_wait_us(n, bytes, dgrams) == 0;
}

// node_slow_down lowers the pacing rate to what a receiver that falls
// behind or lost data asks for (SLOW, docs/spec/wire.md "Flow control"), or
// halves it when the receiver does not know, down to a 1024th of the cap;
// pace_take raises it again once SLOWs stop, for a while to twice the rate
// set at most (a 14th more after a SLOW for loss). Lock held.
//
// For loss (why DTSI_SLOW_LOSS) the receiver asks for 7/8 of what reached
// it, about what its link carries. The climb stops a 14th above the rate
// set for DTSI_LOSS_CALM_MS, then probes by a 32nd every DTSI_SLOW_RAISE_MS
// for as long again, so that the rate finds a link's capacity without a
// burst of loss at each try. Loss again past the hold while already at or
// below the rate asked means the rate asked was not low enough (several
// publishers share the link, each asked for all of it): an eighth less. A
// ceiling still in force that is lower stays.
static void
node_slow_down(dts_node *n, uint64_t asked, uint32_t why)
{
    uint64_t floor = n->cfg.pace_bytes_per_s / 1024, rate = n->pace_rate / 2;
    uint64_t now = mono_us();
    int loss = why == DTSI_SLOW_LOSS;
    if (asked) rate = asked < n->pace_rate ? asked : n->pace_rate;
    if (loss && asked >= n->pace_rate && now < n->pace_gentle_us &&
        now >= n->pace_slow_us + DTSI_SLOW_HOLD_MS * 1000u)
        rate = n->pace_rate / 8 * 7;
    n->pace_rate = rate > floor ? rate : floor;
    n->pace_slow_us = now;
    n->pace_raise_us = now + DTSI_SLOW_HOLD_MS * 1000u;
    if (loss) n->pace_gentle_us = now + 2 * DTSI_LOSS_CALM_MS * 1000u;
    // The ceiling holds a climb near a rate the receiver measured; a blind
    // halving (the receiver's rate not known yet, early in a burst) says
    // nothing of where to stop.
    uint64_t ceiling = loss ? n->pace_rate + n->pace_rate / 14 : 2 * n->pace_rate;
    uint64_t until = asked ? now + (loss ? DTSI_LOSS_CALM_MS : DTSI_SLOW_CEILING_MS) * 1000u : 0;
    if (now >= n->pace_ceiling_us || (until && ceiling <= n->pace_ceiling)) {
        n->pace_ceiling = ceiling;
        n->pace_ceiling_us = until;
    }
    if (n->pace_tokens > 0) n->pace_tokens = 0;
    n->nc.slow_received++;
}

// node_drain_rate is the rate this node has read its sockets at lately (over
// one to two DTSI_SLOW_WINDOW_MS, node_on_batch), bytes/s; 0 when not known
// yet.
static uint64_t
node_drain_rate(const dts_node *n, int64_t now_ms)
{
    int64_t since = now_ms - n->drain_ms[1];
    return n->drain_ms[1] && since > 0 ? (n->rx_bytes - n->drain_bytes[1]) * 1000u / (uint64_t)since
                                       : 0;
}

// node_send_slow asks publisher `instance` to slow down to rate bytes/s
// (0: halve) for the reason why (DTSI_SLOW_BACKLOG or DTSI_SLOW_LOSS), on
// the back channel of type_id. Returns whether the SLOW was queued. Lock
// held.
static int
node_send_slow(dts_node *n, uint64_t type_id, uint64_t instance, uint64_t rate, uint32_t why)
{
    uint8_t p[16];
    dtsi_put_u64(p, instance);
    dtsi_put_u64(p + 8, rate);
    dtsi_hdr h = {.kind = DTSI_KIND_SLOW,
                  .type_id = type_id,
                  .seq = ++n->control_seq,
                  .corr = why,
                  .sent_ns = dts_now_ns()};
    if (dtsi_enqueue(n, dtsi_back_channel(type_id), &h, p, sizeof p) != DTS_OK) return 0;
    n->nc.slow_sent++;
    if (why == DTSI_SLOW_LOSS) n->nc.slow_loss_sent++;
    return 1;
}

// node_on_backlog: the transport's receive socket holds more than a quarter of
// its buffer and still fills. The node asks the publisher of the last data it
// received to slow down (SLOW on the type's back channel), at most every
// DTSI_SLOW_GAP_MS. Loop thread.
static void
node_on_backlog(void *ctx, size_t queued, size_t capacity)
{
    dts_node *n = ctx;
    dtsi_lock(&n->mu);
    int64_t now = dtsi_mono_ms();
    if (n->rx_last_type && now - n->slow_sent_ms >= DTSI_SLOW_GAP_MS) {
        // Ask for less than the drain rate, so that the backlog shrinks: at
        // the drain rate it would only stay, and each climb of the sender's
        // rate before the next SLOW would add to it until the socket
        // overflowed.
        uint64_t rate = node_drain_rate(n, now);
        rate = queued > capacity / 4 * 3 ? rate / 2 : rate / 4 * 3;
        n->slow_sent_ms = now;
        if (node_send_slow(n, n->rx_last_type, n->rx_last_instance, rate, DTSI_SLOW_BACKLOG))
            dtsi_send_now(n);
    }
    pthread_mutex_unlock(&n->mu);
}

// node_on_loss: data of the publisher of h was lost on the way
// (node_note_loss). Its socket's backlog cannot tell a receiver behind a
// link slower than the publisher (a 1 GbE port behind a faster sender's
// switch, Wi-Fi): the link drops what it cannot carry before the socket
// ever fills, and unpaced to its rate almost every large message loses a
// fragment. So the node asks that publisher for seven eighths of the rate
// data reaches it at, which is what the link carries, at most every
// DTSI_LOSS_SLOW_GAP_MS; node_recv sends it after the batch
// (docs/spec/wire.md, "Flow control"). Lock held.
static void
node_on_loss(dts_node *n, const dtsi_hdr *h)
{
    int64_t now = n->rx_now_ms, since = n->rx_mono_us - n->loss_mark_us;
    uint64_t rate = node_drain_rate(n, now);
    if (n->cfg.random_loss || h->instance == n->instance ||
        now - n->loss_slow_ms < (rate ? DTSI_LOSS_SLOW_GAP_MS : DTSI_SLOW_GAP_MS))
        return;
    if (!rate && n->loss_mark_us && since < 100000) {
        // Early in a burst (no window measured yet, or a link too slow to
        // fill one): the bytes read since the previous SLOW for loss, as
        // loss went on since, tell the rate of the saturated link, once
        // they are enough to tell; until then the publisher halved.
        uint64_t got = n->rx_bytes - n->loss_mark_bytes;
        if (since < 4000) return;
        if (got >= 65536) rate = got * 1000000u / (uint64_t)since;
    }
    n->loss_slow_ms = now;
    if (!node_send_slow(n, h->type_id, h->instance, rate / 8 * 7, DTSI_SLOW_LOSS)) return;
    n->loss_mark_us = n->rx_mono_us;
    n->loss_mark_bytes = n->rx_bytes;
}

// node_note_loss: `lost` datagrams of the publisher of h went missing on the
// way, `run` of them in a row (fragments skipped in a message, or a gap in
// its numbering: a sender sends both in order). What a full queue in front
// of a slower link drops is runs, when the sender is far faster than the
// link, or a large share of everything, when it is a little faster; random
// loss (Wi-Fi, a bad cable) drops single datagrams, a small share, and
// slowing down for it only starves the publisher. So a run of
// DTSI_LOSS_RUN, or as many lost within DTSI_LOSS_WINDOW_MS where they are
// a fifth or more of the datagrams, asks (node_on_loss). Lock held.
static void
node_note_loss(dts_node *n, const dtsi_hdr *h, uint64_t lost, uint64_t run)
{
    int64_t now = n->rx_now_ms;
    if (now - n->lw_start_ms >= DTSI_LOSS_WINDOW_MS) {
        n->lw_start_ms = now;
        n->lw_lost = 0;
        n->lw_dgrams = n->nc.datagrams_received;
    }
    n->lw_lost += lost;
    uint64_t got = n->nc.datagrams_received - n->lw_dgrams;
    if (run >= DTSI_LOSS_RUN || (n->lw_lost >= DTSI_LOSS_RUN && n->lw_lost * 4 >= got))
        node_on_loss(n, h);
}

// node_on_loss_gap: `missed` messages of publisher s of h never came, the
// numbers before h's, which came whole in a datagram. Small values travel
// many to a datagram: a lost one is a run of numbers, about as many as the
// datagram of h holds. Not for a publisher this node did not hear for a
// while (it did not listen: its numbers went on meanwhile). Gaps behind a
// reassembled message do not count: a message still missing a fragment is
// one (with 5% of fragments lost at random, nine in ten 64 KiB messages
// over a 1500-byte MTU), and node_reassemble counts its fragments. Lock
// held.
static void
node_on_loss_gap(dts_node *n, const dtsi_sender *s, const dtsi_hdr *h, uint64_t missed)
{
    if (!s || n->rx_now_ms - s->prev_seen_ms > DTSI_LOSS_RECENT_MS) return;
    uint64_t per_dgram = n->rx_dgram_len / (DTSI_HDR_SIZE + h->payload_len);
    if (per_dgram < 1) per_dgram = 1;
    uint64_t lost = (missed + per_dgram - 1) / per_dgram;
    node_note_loss(n, h, lost, lost);
}

// out_retire is done with a message leaving the queue: credits it when it
// was sent, and gives its frame to the last-value cache or back. Lock held.
static void
out_retire(dts_node *n, dtsi_out *o, int sent)
{
    if (sent) node_count_sent(n, o);
    n->q_bytes -= o->charged;
    if (o->lvc) node_lvc_adopt(n, o);
    out_free(n, o);
}

// node_pop removes the head of the queue, crediting it when it was sent.
static void
node_pop(dts_node *n, int sent)
{
    out_retire(n, q_at(n, 0), sent);
    n->q_head = (n->q_head + 1) % n->q_cap;
    n->q_len--;
}

// queue_take_out removes the k messages at positions pos[0] < ... <
// pos[k-1] from the head (sent: the first `sent` of them; the rest were
// dropped) and closes the gaps by moving the messages before them back:
// the head moves, the tail stays where publishing threads append. At most
// pos[k-1] moves, however long the queue. Lock held, by the sending thread.
static void
queue_take_out(dts_node *n, const size_t *pos, size_t k, size_t sent)
{
    if (k == 0) return;
    for (size_t i = 0; i < k; i++) out_retire(n, q_at(n, pos[i]), i < sent);
    size_t to = pos[k - 1], r = k;
    for (size_t from = pos[k - 1] + 1; from-- > 0;) {
        if (r > 0 && pos[r - 1] == from) {
            r--;
            continue;
        }
        *q_at(n, to--) = *q_at(n, from);
    }
    n->q_head = (n->q_head + k) % n->q_cap;
    n->q_len -= k;
}

// node_build_fragments describes k fragments of o from o->next_off: each is
// the message's header with the fragment flag and a fragment header, then
// the slice of the message (docs/spec/wire.md, "Fragments"); with pad > 0
// the last fragment is followed by a PAD frame of pad bytes (its header,
// then zeros), so that its datagram is as long as the others and the run
// of datagrams goes on into the next message. Fragments of up to
// DTSI_STAGE_DGRAM_MAX bytes are copied whole into slot `slot` onwards of
// n->frag_stage (see there); larger ones are gathered by iovec without a
// copy, up to four pieces each in iov, their headers in slot `slot`
// onwards of n->frag_bufs and a PAD header in pad slot `pslot`. Returns the
// pieces of iov used.
static size_t
node_build_fragments(dts_node *n, const dtsi_out *o, size_t k, size_t slot, size_t pad,
                     size_t pslot, dts_dgram *d, struct iovec *iov)
{
    static const uint8_t zeros[DTSI_PAD_MAX];
    const size_t hlen = DTSI_HDR_SIZE + DTSI_FRAG_HDR_SIZE;
    size_t msg_len = o->len - DTSI_HDR_SIZE;
    size_t frag_size = dtsi_frag_size(n);
    size_t off = o->next_off, used = 0;
    // The message's header with the fragment flag, once for all k.
    uint8_t hdr[DTSI_HDR_SIZE];
    memcpy(hdr, o->buf, DTSI_HDR_SIZE);
    dtsi_put_u16(hdr + 4, (uint16_t)(dtsi_get_u16(hdr + 4) | DTSI_FLAG_FRAGMENT));
    for (size_t i = 0; i < k && off < o->end_off; i++) {
        size_t chunk = msg_len - off < frag_size ? msg_len - off : frag_size;
        uint8_t *stage = n->frag_stage ? n->frag_stage + (slot + i) * n->max_dgram : NULL;
        uint8_t *b = stage ? stage : n->frag_bufs + (slot + i) * hlen;
        memcpy(b, hdr, DTSI_HDR_SIZE);
        dtsi_put_u32(b + 8, (uint32_t)(DTSI_FRAG_HDR_SIZE + chunk)); // its payload length
        dtsi_frag_hdr f = {
            .msg_len = (uint32_t)msg_len, .off = (uint32_t)off, .frag_size = (uint32_t)frag_size};
        dtsi_frag_hdr_encode(&f, b + DTSI_HDR_SIZE);
        const uint8_t *slice = (const uint8_t *)out_payload(o) + (off - o->base);
        struct iovec *v = &iov[used];
        if (stage) {
            memcpy(stage + hlen, slice, chunk);
            d[i] = (dts_dgram){.data = stage, .len = hlen + chunk};
        } else {
            v[0] = (struct iovec){b, hlen};
            v[1] = (struct iovec){(void *)slice, chunk};
            d[i] = (dts_dgram){.len = hlen + chunk, .iov = v, .iovcnt = 2};
            used += 2;
        }
        off += chunk;
        if (pad && (i + 1 == k || off >= o->end_off)) {
            uint8_t *ph =
                stage ? stage + hlen + chunk : n->frag_bufs + (DTSI_FRAG_BATCH + pslot) * hlen;
            dtsi_hdr p = {.kind = DTSI_KIND_PAD,
                          .payload_len = (uint32_t)(pad - DTSI_HDR_SIZE),
                          .instance = n->instance,
                          .host = n->host};
            dtsi_hdr_encode(&p, ph);
            if (stage) {
                memset(ph + DTSI_HDR_SIZE, 0, pad - DTSI_HDR_SIZE);
            } else {
                v[2] = (struct iovec){ph, DTSI_HDR_SIZE};
                v[3] = (struct iovec){(void *)zeros, pad - DTSI_HDR_SIZE};
                d[i].iovcnt = 4;
                used += 2;
            }
            d[i].len += pad;
        }
    }
    return used;
}

// frag_pad says how many bytes of padding make the datagram of the last of
// the k fragments of o from o->next_off as long as a full one: 0 when it
// is full already, and 0 with *ok unset when it cannot be padded (fewer
// bytes than a PAD header, or padding over an eighth of what the message
// puts on the wire: the run ends there instead).
static size_t
frag_pad(const dts_node *n, const dtsi_out *o, size_t k, int *ok)
{
    size_t msg_len = o->len - DTSI_HDR_SIZE;
    size_t frag_size = dtsi_frag_size(n);
    size_t last_off = o->next_off + (k - 1) * frag_size;
    size_t chunk = msg_len - last_off < frag_size ? msg_len - last_off : frag_size;
    size_t pad = frag_size - chunk, wire = k * n->max_dgram;
    *ok = pad == 0 || (pad >= DTSI_HDR_SIZE && pad * 8 <= wire);
    return *ok ? pad : 0;
}

// frag_batch says how many fragments of o, at most room, from o->next_off,
// the next batch holds, and adds their size on the wire to *bytes.
static size_t
frag_batch(const dts_node *n, const dtsi_out *o, size_t room, size_t *bytes)
{
    size_t frag_size = dtsi_frag_size(n);
    size_t left = o->end_off - o->next_off;
    size_t k = (left + frag_size - 1) / frag_size;
    if (k > room) k = room;
    if (left > k * frag_size) left = k * frag_size;
    *bytes += left + k * (DTSI_HDR_SIZE + DTSI_FRAG_HDR_SIZE);
    return k;
}

// node_send_fragments sends what the pacer and the socket allow of the
// fragmented messages at the head of the queue, up to dtsi_frag_batch_max
// fragments per transport call, of one message or of several consecutive
// ones of the same channel (so that a stream of 16 KiB messages cut for a
// 1500-byte MTU costs one system call per seven messages, not one each).
// The last, shorter fragment of a message followed by another in the batch
// is padded to full length (frag_pad), so that the transport can hand all
// of them to the kernel as one GSO run instead of one run per message. It
// pops every message it finishes; returns DTS_OK when the head is no longer
// a fragmented message, DTS_EQUEUE when it must wait (the retry timer is
// armed), or a transport error for the message at the head. The fragments
// are built and sent with the lock released (see dtsi_send_now).
static int node_send_ahead(dts_node *n, int loop);

static dts_err
node_send_fragments(dts_node *n)
{
    size_t frag_size = dtsi_frag_size(n);
    dts_dgram d[DTSI_FRAG_BATCH];
    struct iovec iov[4 * DTSI_FRAG_BATCH];
    size_t counts[DTSI_FRAG_BATCH], pads[DTSI_FRAG_BATCH];
    size_t batch_max = dtsi_frag_batch_max(n);
    while (n->q_len > 0 && q_at(n, 0)->frag) {
        // (the pacer or a full socket stopped what passes: the fragments
        // would wait too, and the retry timer is set)
        if (!node_send_ahead(n, 1)) return DTS_EQUEUE;
        uint64_t ch = q_at(n, 0)->channel;
        size_t nm = 0, total = 0, bytes = 0;
        while (nm < n->q_len && total < batch_max) {
            const dtsi_out *o = q_at(n, nm);
            if (!o->frag || o->channel != ch) break;
            if (nm > 0) { // the previous message ends in this batch: pad it?
                int ok;
                const dtsi_out *prev = q_at(n, nm - 1);
                pads[nm - 1] = frag_pad(n, prev, counts[nm - 1], &ok);
                if (!ok) break;
                bytes += pads[nm - 1];
            }
            counts[nm] = frag_batch(n, o, batch_max - total, &bytes);
            pads[nm] = 0;
            total += counts[nm];
            if (o->next_off + counts[nm++] * frag_size < o->end_off) break; // goes on next batch
        }
        if (!pace_take(n, ch, bytes, total)) return DTS_EQUEUE;
        size_t sent = 0;
        pthread_mutex_unlock(&n->mu);
        for (size_t i = 0, at = 0, pieces = 0; i < nm; at += counts[i++])
            pieces += node_build_fragments(n, q_at(n, i), counts[i], at, pads[i], i, d + at,
                                           iov + pieces);
        dts_err err = n->tp_ops->send(n->tp, ch, d, total, &sent);
        dtsi_lock(&n->mu);
        n->nc.datagrams_sent += sent;
        n->nc.fragments_sent += sent;
        if (sent) n->head_turn = 0;
        for (size_t i = 0; i < nm && sent > 0; i++) {
            dtsi_out *o = q_at(n, 0);
            size_t s = sent < counts[i] ? sent : counts[i];
            sent -= s;
            if (s == counts[i]) n->nc.pad_bytes_sent += pads[i];
            o->next_off += s * frag_size;
            if (o->next_off < o->end_off) break;
            node_pop(n, 1);
        }
        if (err == DTS_EQUEUE) uv_timer_start(&n->retry, node_on_retry, 1, 0);
        if (err != DTS_OK) return err;
    }
    return DTS_OK;
}

// Polling instead of sleeping (cfg.spin_us and cfg.answer_spin_us): while
// the idle handle is active, libuv polls without blocking, so a datagram
// arriving soon is read without waking a sleeping thread, which costs tens
// of microseconds when the thread must be woken on another core.
//
// node_spin_until keeps the loop polling until `until` (at least). Loop
// thread.
static void node_on_spin(uv_idle_t *h);

static void
node_spin_until(dts_node *n, uint64_t until)
{
    if (n->stopped) return;
    if (until > n->spin_until_us) n->spin_until_us = until;
    if (!n->spinning) {
        n->spin_start_us = mono_us();
        uv_idle_start(&n->spin, node_on_spin);
        n->spinning = 1;
    }
}

// node_on_spin ends the polling when its time is up. Polling for answers
// that did not come (nothing received since the send that started it) ends
// the answer spin until a send is answered in time again.
static void
node_on_spin(uv_idle_t *h)
{
    dts_node *n = h->data;
    uint64_t now = mono_us();
    if (now <= n->spin_until_us) {
        // A thread woken on this core (the scheduler likes to put the woken
        // next to its waker; it may be the very peer we wait for) runs
        // instead of waiting for the poll to end: without this, 1% of round
        // trips took 220 us. Yielding at every turn, not only after 10 us
        // of polling, took round trips with both ends on one core from 45
        // to 26 us (p50), at 1 us on two cores (PERFORMANCE.md).
        sched_yield();
        return;
    }
    if (n->last_recv_us < n->last_send_us) n->answered = 0;
    uv_idle_stop(h);
    n->spinning = 0;
    dtsi_lock(&n->mu);
    n->nc.polled_us += now - n->spin_start_us;
    pthread_mutex_unlock(&n->mu);
}

// node_spin_sent notes a send: with spin_us the loop polls that long; with
// answer_spin_us, when the last send was answered within that time (a
// request-response exchange, not a stream), it polls that long for the next
// answer. A pure publisher or subscriber never polls. Loop thread.
static void
node_spin_sent(dts_node *n)
{
    if (!n->cfg.spin_us && !n->cfg.answer_spin_us) return;
    uint64_t now = mono_us();
    n->last_send_us = now;
    if (n->cfg.spin_us) node_spin_until(n, now + n->cfg.spin_us);
    if (n->answered) node_spin_until(n, now + n->cfg.answer_spin_us);
}

// node_spin_received notes a received datagram (spin_us polls after it)
// at the batch's time (node_on_batch). Loop thread.
static void
node_spin_received(dts_node *n)
{
    if (n->cfg.spin_us) node_spin_until(n, (uint64_t)n->rx_mono_us + n->cfg.spin_us);
}

// node_spin_answer notes a received DATA or REPLY frame: one within
// answer_spin_us of the node's last send is an answer, and the next send
// polls for its own. Control traffic is no answer: a publisher streaming
// without pause would otherwise take every heartbeat for one, and poll
// between its bursts. Loop thread.
static void
node_spin_answer(dts_node *n)
{
    uint64_t now = (uint64_t)n->rx_mono_us;
    n->last_recv_us = now;
    if (n->cfg.answer_spin_us && n->last_send_us && now - n->last_send_us <= n->cfg.answer_spin_us)
        n->answered = 1;
}

// node_send_ring sends, from the ring and without a copy, up to
// DTSI_SEND_BATCH datagrams of the channel of its first frame, each a run
// of frames up to max_dgram that does not wrap, from what lies before
// position tail: the queue is empty, or holds no message of the types of
// those frames (node_send_ring_ahead). Returns 1 to go on sending, 0 to
// stop (the pacer says wait, or the socket is full and, on the loop
// thread, the retry timer is set). The thread that sends (loop: the loop
// thread; else a publishing thread sending its own value,
// dtsi_send_borrowed, which wakes the loop when done); lock held on entry
// and exit, released during the send, with busy set so that a flush waits.
static int
node_send_ring(dts_node *n, size_t tail, int loop)
{
    dtsi_ring *r = &n->ring;
    dts_dgram d[DTSI_SEND_BATCH];
    size_t ends[DTSI_SEND_BATCH], last[DTSI_SEND_BATCH], frames[DTSI_SEND_BATCH];
    size_t pos = r->head, nd = 0;
    uint64_t ch = 0;
    int paced = 0, ahead = n->q_len > 0; // these frames pass the queue (node_send_ring_ahead)
    while (nd < DTSI_SEND_BATCH && pos < tail) {
        size_t start = pos, len = 0, k = 0;
        while (pos < tail) {
            size_t off = pos % r->cap;
            if (pos != start && off == 0) break; // a datagram does not wrap
            if (dtsi_ring_skips(r, off)) {
                if (pos != start) break;
                pos = start = pos + r->cap - off;
                continue;
            }
            const uint8_t *f = r->buf + off;
            size_t flen = ring_frame_len(f);
            uint64_t fch = dtsi_get_u64(f + 16);
            if (nd == 0 && k == 0) ch = fch;
            if (fch != ch || len + flen > n->max_dgram) break;
            last[nd] = off;
            len += flen;
            pos += flen;
            k++;
        }
        if (k == 0) break; // another channel, or only a skip
        if (!pace_ok(n, ch, len, 1, loop)) {
            pos = start;
            paced = 1;
            break;
        }
        d[nd] = (dts_dgram){.data = r->buf + start % r->cap, .len = len};
        frames[nd] = k;
        ends[nd++] = pos;
    }
    if (nd == 0) { // skips only, or the pacer says wait
        __atomic_store_n(&r->head, pos, __ATOMIC_RELEASE);
        return !paced && pos < tail;
    }
    size_t sent = 0;
    r->busy = 1;
    pthread_mutex_unlock(&n->mu);
    dts_err err = n->tp_ops->send(n->tp, ch, d, nd, &sent);
    dtsi_lock(&n->mu);
    r->busy = 0;
    size_t head = sent ? ends[sent - 1] : r->head, msgs = 0;
    for (size_t i = 0; i < sent; i++) msgs += frames[i];
    if (err != DTS_OK && err != DTS_EQUEUE && sent < nd) { // that datagram is dropped
        n->nc.send_errors++;
        head = ends[sent];
    }
    n->nc.datagrams_sent += sent;
    if (sent) {
        dtsi_type *t = dtsi_type_find(n, ch);
        if (t) t->c.sent += msgs;
        if (ahead) n->nc.passed_large += msgs;
        ring_lvc(n, t, r->buf + last[sent - 1]);
        if (loop) {
            node_spin_sent(n);
            node_activity(n);
        } else {
            n->activity_ms = dtsi_mono_ms(); // the loop is woken afterwards
        }
    }
    __atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
    if (r->waiters) pthread_cond_broadcast(&n->cond);
    if (err == DTS_EQUEUE) {
        if (loop) uv_timer_start(&n->retry, node_on_retry, 1, 0);
        return 0;
    }
    return !paced;
}

// chan_in says whether channel ch is among the n of set.
static int
chan_in(const uint64_t *set, size_t n, uint64_t ch)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == ch) return 1;
    return 0;
}

// ring_clear_of_queue is the ring position up to which (from head, before
// tail) no frame's type has a message in the send queue. Those frames may
// leave before the queue's head without changing the order of any type's
// messages: a type's messages leave in their order, and its values in the
// ring are newer than those in the queue. Only while the queue is short
// (DTSI_AHEAD_QUEUE_MAX messages) and of few channels (DTSI_AHEAD_CHANNELS);
// else head. Lock held.
static size_t
ring_clear_of_queue(dts_node *n, size_t tail)
{
    dtsi_ring *r = &n->ring;
    if (!r->buf || n->q_len > DTSI_AHEAD_QUEUE_MAX) return r->head;
    uint64_t queued[DTSI_AHEAD_CHANNELS];
    size_t nq = 0;
    for (size_t i = 0; i < n->q_len; i++) {
        uint64_t ch = q_at(n, i)->channel;
        if (chan_in(queued, nq, ch)) continue;
        if (nq == DTSI_AHEAD_CHANNELS) return r->head;
        queued[nq++] = ch;
    }
    size_t pos = r->head;
    const uint8_t *f;
    while ((f = ring_next(r, &pos, tail))) {
        if (chan_in(queued, nq, dtsi_get_u64(f + 16))) return pos;
        pos += ring_frame_len(f);
    }
    return pos;
}

// node_send_ring_ahead sends the ring's frames that may leave before the
// fragmented message at the head of the queue (ring_clear_of_queue), by
// the thread sending it (loop as for node_send_ring); they take the
// pacer's tokens first; the rest moves to the queue. Returns 0 when the
// pacer or a full socket stopped them (on the loop thread the retry timer
// is then set), else 1. Lock held.
static int
node_send_ring_ahead(dts_node *n, int loop)
{
    if (!n->ring.buf || n->ring.busy) return 1;
    size_t tail = __atomic_load_n(&n->ring.tail, __ATOMIC_ACQUIRE);
    if (n->ring.head >= tail) return 1;
    size_t end = ring_clear_of_queue(n, tail);
    while (n->ring.head < end)
        if (!node_send_ring(n, end, loop)) return n->ring.head >= end;
    // A value of a queued type stops the ring's frames there: they move to
    // the queue, where those of other types pass next time (queue_ahead_pick)
    // instead of waiting behind it for the whole large message.
    if (n->ring.head < tail && n->q_len < DTSI_AHEAD_QUEUE_MAX) dtsi_ring_flush(n);
    return 1;
}

// frags_left is how many fragments of o are still to be sent.
static size_t
frags_left(const dts_node *n, const dtsi_out *o)
{
    size_t frag_size = dtsi_frag_size(n);
    return (o->end_off - o->next_off + frag_size - 1) / frag_size;
}

// queue_ahead_pick finds queued messages that may leave before the
// fragmented message at the head of the queue without changing the order
// of any channel's messages: among the first DTSI_AHEAD_QUEUE_MAX, those of
// the first channel (of at most DTSI_AHEAD_CHANNELS seen) with nothing
// before them that stays: whole ones (a datagram each) up to its next
// fragmented one, or that fragmented one alone when what is left of it
// fits one batch (*frag is then set). A larger one keeps its channel's
// messages in place. Never a GOODBYE, nor anything after it: it is a
// node's last word. With only_control, only control frames (the pacer
// holds the rest). Writes their positions from the head to pos
// (ascending) and their channel to *ch; returns how many. Lock held.
static size_t
queue_ahead_pick(dts_node *n, int only_control, size_t *pos, uint64_t *ch, int *frag)
{
    uint64_t held[DTSI_AHEAD_CHANNELS]; // channels whose messages stay in place
    size_t nh = 0, k = 0, end = n->q_len < DTSI_AHEAD_QUEUE_MAX ? n->q_len : DTSI_AHEAD_QUEUE_MAX;
    *frag = 0;
    for (size_t i = 0; i < end; i++) {
        const dtsi_out *o = q_at(n, i);
        if (o->buf[3] == DTSI_KIND_GOODBYE) break;
        if (only_control && o->channel != DTS_CHANNEL_CONTROL) continue;
        if (k > 0) { // the channel is chosen: its whole messages up to a fragmented one
            if (o->channel != *ch) continue;
            if (o->frag) break;
            pos[k++] = i;
            continue;
        }
        if (chan_in(held, nh, o->channel)) continue;
        if (i > 0 && (!o->frag || frags_left(n, o) <= dtsi_frag_batch_max(n))) {
            *ch = o->channel;
            pos[k++] = i;
            if (o->frag) {
                *frag = 1;
                break;
            }
        } else if (nh < DTSI_AHEAD_CHANNELS) {
            held[nh++] = o->channel;
        } else {
            break;
        }
    }
    return k;
}

// ahead_sent is done with what node_send_queue_ahead sent of channel ch:
// `sent` datagrams, and the first `gone` messages at pos taken out of the
// queue, `done` of them sent and the rest dropped (the transport refused
// their datagram). Says whether sending may go on. Lock held.
static int
ahead_sent(dts_node *n, uint64_t ch, const size_t *pos, size_t gone, size_t done, size_t sent,
           dts_err err, int loop)
{
    if (gone > done) n->nc.send_errors++;
    n->nc.datagrams_sent += sent;
    n->nc.passed_large += done;
    queue_take_out(n, pos, gone, done);
    if (sent && loop) {
        node_spin_sent(n);
        if (ch != DTS_CHANNEL_CONTROL) node_activity(n);
    } else if (sent && ch != DTS_CHANNEL_CONTROL) {
        n->activity_ms = dtsi_mono_ms(); // the loop is woken afterwards
    }
    if (err == DTS_EQUEUE && loop) uv_timer_start(&n->retry, node_on_retry, 1, 0);
    return err != DTS_EQUEUE;
}

// ahead_frag sends what is left of the fragmented message at position at
// from the head, of channel ch, for node_send_queue_ahead: *held is set
// when the pacer holds it. Returns 0 when a full socket stopped it, else 1.
// Lock held, released during the send.
static int
ahead_frag(dts_node *n, uint64_t ch, size_t *at, int loop, int *held)
{
    dts_dgram d[DTSI_FRAG_BATCH];
    struct iovec iov[2 * DTSI_FRAG_BATCH];
    dtsi_out *o = q_at(n, *at);
    size_t bytes = 0, sent = 0, nf = frag_batch(n, o, dtsi_frag_batch_max(n), &bytes);
    if (!pace_ok(n, ch, bytes, nf, loop)) {
        *held = 1;
        return 1;
    }
    pthread_mutex_unlock(&n->mu);
    node_build_fragments(n, o, nf, 0, 0, 0, d, iov);
    dts_err err = n->tp_ops->send(n->tp, ch, d, nf, &sent);
    dtsi_lock(&n->mu);
    o = q_at(n, *at);
    o->next_off += sent * dtsi_frag_size(n);
    n->nc.fragments_sent += sent;
    size_t done = o->next_off >= o->end_off;
    size_t gone = done || (err != DTS_OK && err != DTS_EQUEUE);
    return ahead_sent(n, ch, at, gone, done, sent, err, loop);
}

// ahead_whole sends the k whole messages at positions pos from the head,
// of channel ch, for node_send_queue_ahead, packed into datagrams of up to
// max_dgram by iovec: *held is set when the pacer holds some. Returns 0
// when a full socket stopped them, else 1. Lock held, released during the
// send.
static int
ahead_whole(dts_node *n, uint64_t ch, size_t *pos, size_t k, int loop, int *held)
{
    size_t frames[DTSI_AHEAD_QUEUE_MAX], nd = 0, used = 0, sent = 0;
    dts_dgram d[DTSI_AHEAD_QUEUE_MAX];
    struct iovec iov[DTSI_AHEAD_QUEUE_MAX];
    while (used < k) { // a datagram of the next frames, up to max_dgram
        size_t len = 0, f = 0;
        while (used + f < k && f < DTSI_PACK_IOV) {
            const dtsi_out *o = q_at(n, pos[used + f]);
            if (len + o->len > n->max_dgram) break;
            iov[used + f] = (struct iovec){o->buf, o->len};
            len += o->len;
            f++;
        }
        if (!pace_ok(n, ch, len, 1, loop)) {
            *held = 1;
            break;
        }
        d[nd] = f == 1 ? (dts_dgram){.data = iov[used].iov_base, .len = len}
                       : (dts_dgram){.len = len, .iov = &iov[used], .iovcnt = f};
        frames[nd++] = f;
        used += f;
    }
    if (nd == 0) return 1; // the pacer says wait
    pthread_mutex_unlock(&n->mu);
    dts_err err = n->tp_ops->send(n->tp, ch, d, nd, &sent);
    dtsi_lock(&n->mu);
    size_t done = 0;
    for (size_t i = 0; i < sent; i++) done += frames[i];
    // (the datagram after the sent ones failed: its messages are dropped)
    size_t gone = done + (err != DTS_OK && err != DTS_EQUEUE && sent < nd ? frames[sent] : 0);
    return ahead_sent(n, ch, pos, gone, done, sent, err, loop);
}

// node_send_queue_ahead sends the queued messages that may leave before
// the fragmented message at the head of the queue (queue_ahead_pick), one
// channel per transport call: whole ones packed into datagrams by iovec
// (ahead_whole), or a short fragmented one as its fragments (ahead_frag);
// they leave the queue (queue_take_out). Once the pacer holds a channel,
// only control frames (never paced) go on. By the thread sending that
// message (loop as for node_send_ring). Returns 0 when the pacer or a full
// socket stopped them (on the loop thread the retry timer is then set),
// else 1. Lock held, released during the sends: the messages taken stay
// where they are meanwhile, as only the sending thread removes any.
static int
node_send_queue_ahead(dts_node *n, int loop)
{
    int held = 0; // the pacer held a channel: control frames may still pass
    size_t pos[DTSI_AHEAD_QUEUE_MAX];
    for (int c = 0; c < DTSI_AHEAD_CHANNELS; c++) {
        uint64_t ch = 0;
        int frag;
        size_t k = queue_ahead_pick(n, held, pos, &ch, &frag);
        if (k == 0) break;
        if (!(frag ? ahead_frag(n, ch, pos, loop, &held) : ahead_whole(n, ch, pos, k, loop, &held)))
            return 0;
    }
    return !held;
}

// node_send_ahead sends, before the next batch of fragments of the message
// at the head of the queue, what may pass it: queued messages of other
// channels (node_send_queue_ahead), then the ring's frames of types with
// nothing queued (node_send_ring_ahead); older first. A small value then
// waits for a batch of fragments, not for the whole large message (at the
// default pacing cap 0.2 ms for 1 MiB and 13 ms for 64 MiB; on 1 GbE 9 ms
// and half a second), and so does a heartbeat, a SLOW or a NACK. After
// anything passed, the head has its turn (head_turn): a batch of it leaves
// before anything passes again, so that a stream of other values as fast
// as the pacer cannot starve it (nor can it starve them: a pass the pacer
// stopped before it sent anything keeps its turn). Returns 0 when the pacer
// or a full socket stopped them, else 1. Lock held; the message at the
// head stays the head, but it may have moved.
static int
node_send_ahead(dts_node *n, int loop)
{
    if (n->head_turn) return 1;
    uint64_t passed = n->nc.passed_large;
    int ok = node_send_queue_ahead(n, loop) && node_send_ring_ahead(n, loop);
    if (n->nc.passed_large != passed) n->head_turn = 1;
    return ok;
}

// dtsi_queue_half_empty says whether the send queue holds at most half of
// its bounds in messages and in bytes (dts_publish_wait). Lock held.
int
dtsi_queue_half_empty(dts_node *n)
{
    return n->q_len <= n->cfg.queue_max / 2 && n->q_bytes <= n->cfg.queue_max_bytes / 2 &&
           dtsi_ring_used(n) <= n->ring.cap / 2;
}

// dtsi_send_now hands queued messages to the transport until the queue is
// empty, the pacer says wait, or the transport pushes back; then the retry
// timer resumes. Loop thread, lock held on entry and exit. The lock is
// released while datagrams are put together and sent, so that publishing
// threads go on queueing during the copies and the system call instead of
// waiting for them (perf showed futex waits and wake-ups as a publisher's
// largest cost). Only the thread running the loop sends, and what it uses
// meanwhile no other thread changes: the head of the queue (publishers
// append at the tail), pack_buf, frag_bufs and the transport.
void
dtsi_send_now(dts_node *n)
{
    struct iovec iov[DTSI_SEND_BATCH * DTSI_PACK_IOV];
    dts_dgram d[DTSI_SEND_BATCH];
    size_t frames[DTSI_SEND_BATCH], lens[DTSI_SEND_BATCH];
    // The ring as it is now: what publishing threads add meanwhile waits for
    // the next round (they wake the loop), so that they cannot keep it here,
    // away from receiving and its timers.
    size_t ring_end = n->ring.buf ? __atomic_load_n(&n->ring.tail, __ATOMIC_ACQUIRE) : 0;
    while (n->tp) {
        if (n->q_len == 0) { // then what the ring holds, which is newer
            if (!n->ring.buf || n->ring.head >= ring_end || !node_send_ring(n, ring_end, 1)) break;
            continue;
        }
        dtsi_out *first = q_at(n, 0);
        if (first->by_caller) break; // its publisher sends it, then wakes the loop
        if (first->frag) {
            dts_err err = node_send_fragments(n);
            if (err == DTS_EQUEUE) break;
            if (err != DTS_OK) { // the message at the head failed: dropped
                n->nc.send_errors++;
                node_pop(n, 0);
            }
            continue;
        }
        // Plan, under the lock, up to DTSI_SEND_BATCH datagrams of the head's
        // channel for one transport call; a datagram copied into pack_buf
        // ends the batch (there is one pack_buf).
        size_t nd = 0, at = 0;
        int paced = 0;
        while (nd < DTSI_SEND_BATCH) {
            size_t len, k = node_pack_count(n, at, first->channel, &len);
            if (k == 0) break;
            if (!pace_take(n, first->channel, len, 1)) {
                paced = 1;
                break;
            }
            frames[nd] = k;
            lens[nd++] = len;
            at += k;
            if (k > DTSI_PACK_IOV) break;
        }
        if (nd == 0) break; // the pacer says wait
        size_t sent = 0;
        pthread_mutex_unlock(&n->mu);
        for (size_t i = 0, pos = 0; i < nd; pos += frames[i++])
            d[i] = node_pack_dgram(n, pos, frames[i], lens[i], &iov[i * DTSI_PACK_IOV]);
        dts_err err = n->tp_ops->send(n->tp, first->channel, d, nd, &sent);
        dtsi_lock(&n->mu);
        n->nc.datagrams_sent += sent;
        for (size_t i = 0; i < sent; i++)
            for (size_t j = 0; j < frames[i]; j++) node_pop(n, 1);
        if (sent) node_spin_sent(n);
        if (sent && first->channel != DTS_CHANNEL_CONTROL) node_activity(n);
        if (err == DTS_EQUEUE) {
            uv_timer_start(&n->retry, node_on_retry, 1, 0);
            break;
        }
        if (err != DTS_OK) { // the datagram after the sent ones failed: dropped
            n->nc.send_errors++;
            for (size_t j = 0; sent < nd && j < frames[sent]; j++) node_pop(n, 0);
        }
        if (paced) break;
    }
    if (n->q_len == 0 && dtsi_ring_used(n) == 0) pthread_cond_broadcast(&n->cond);
}

// out_unborrow hands the rest of o, which its publishing thread was
// sending, to the loop; a payload still in that thread's buffer is copied
// into a frame of its own first (a loan already is one). Returns 0 without
// memory for it (o is then unchanged). Lock held.
static int
out_unborrow(dts_node *n, dtsi_out *o)
{
    if (o->borrowed) { // all of it: the last-value cache may adopt the frame
        int pooled;
        uint8_t *buf = buf_get(n, o->len, &pooled);
        if (!buf) return 0;
        memcpy(buf, o->buf, DTSI_HDR_SIZE);
        memcpy(buf + DTSI_HDR_SIZE, o->borrowed, o->len - DTSI_HDR_SIZE);
        buf_put(n, o->buf, o->pooled);
        o->buf = buf;
        o->pooled = pooled;
        o->borrowed = NULL;
        n->nc.borrowed_copied++;
    }
    o->by_caller = 0;
    return 1;
}

// dtsi_sleep_us sleeps the calling thread, which is not the loop thread.
void
dtsi_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000};
    nanosleep(&ts, NULL);
}

// dtsi_send_borrowed sends the message at the head of the queue, whose
// payload the publishing thread lent (dtsi_enqueue_borrowed), on that
// thread: a large value then costs the kernel's copy only, not also one
// into a frame (on 1 MiB messages, a fifth of the publisher's CPU time).
// The fragments go in runs of dtsi_frag_batch_max, with the lock released
// while they are built and sent; the loop thread sends nothing meanwhile
// (dtsi_send_now stops at a borrowed head). When the pacer or a full
// socket would make it wait past end_us (mono), or the node closes, what
// is left is copied into a frame for the loop to send. Lock held on entry
// and exit; not the loop thread.
void
dtsi_send_borrowed(dts_node *n, int64_t end_us)
{
    dts_dgram d[DTSI_FRAG_BATCH];
    struct iovec iov[2 * DTSI_FRAG_BATCH];
    size_t frag_size = dtsi_frag_size(n);
    for (;;) {
        dtsi_out *o = q_at(n, 0);
        if (o->next_off >= o->end_off) {
            dtsi_out done = *o;
            dtsi_type *t = lvc_borrowed_type(n, &done);
            if (t) {
                t->last_borrowed = done.borrowed;
                n->lvc_copying++;
            }
            n->nc.borrowed_sent++;
            node_pop(n, 1);
            if (t) {
                uv_async_send(&n->wake); // the loop sends what waited behind it
                node_lvc_copy_borrowed(n, t, &done);
            }
            break;
        }
        if (!n->closing && n->tp) {
            node_send_ahead(n, 0);
            o = q_at(n, 0); // still the head, perhaps moved
        }
        size_t bytes = 0, k = frag_batch(n, o, dtsi_frag_batch_max(n), &bytes);
        uint64_t wait_us = n->closing || !n->tp ? UINT64_MAX : pace_wait_us(n, bytes, k);
        dts_err err = DTS_OK;
        if (wait_us == 0) {
            size_t sent = 0;
            pthread_mutex_unlock(&n->mu);
            node_build_fragments(n, o, k, 0, 0, 0, d, iov);
            err = n->tp_ops->send(n->tp, o->channel, d, k, &sent);
            dtsi_lock(&n->mu);
            n->nc.datagrams_sent += sent;
            n->nc.fragments_sent += sent;
            if (sent) n->head_turn = 0;
            o->next_off += sent * frag_size;
            if (err == DTS_EQUEUE) wait_us = 1000; // the socket is full: as the loop waits
            if (err != DTS_OK && err != DTS_EQUEUE) {
                n->nc.send_errors++; // the message is dropped, as the loop drops it
                node_pop(n, 0);
                break;
            }
        }
        if (wait_us == 0) continue;
        if (wait_us != UINT64_MAX && dtsi_mono_us() + (int64_t)wait_us <= end_us) {
            pthread_mutex_unlock(&n->mu);
            dtsi_sleep_us(wait_us);
            dtsi_lock(&n->mu);
            continue;
        }
        if (out_unborrow(n, o)) break;
        if (n->closing || !n->tp) { // no memory for the copy, and no time
            n->nc.send_errors++;
            node_pop(n, 0);
            break;
        }
        pthread_mutex_unlock(&n->mu); // no memory for the copy: keep sending
        dtsi_sleep_us(1000);
        dtsi_lock(&n->mu);
    }
    pthread_cond_broadcast(&n->cond); // dts_flush, and a closing loop (node_finish_close)
    // The loop sends what was queued behind it, or its rest, and counts the
    // activity (the fast tick, reliable mode's HINTs); a thread waiting in
    // caller mode for the loop to run is released.
    uv_async_send(&n->wake);
}

// ---------------------------------------------------------------------------
// Receive

// dtsi_empty_schema_format: the empty schema of each format has a fixed id,
// so its format is known without a description (a type declared without a
// schema). Returns that format, or -1 for any other id.
int
dtsi_empty_schema_format(uint64_t schema_id)
{
    for (int f = 0; f < DTS_FORMAT_COUNT_; f++)
        if (dts_schema_id((dts_format)f, NULL, 0) == schema_id) return f;
    return -1;
}

// format_of_schema guesses the format of a message not described by
// discovery from its schema id; anything but an empty schema stays raw
// until the description arrives.
static dts_format
format_of_schema(uint64_t schema_id)
{
    int f = dtsi_empty_schema_format(schema_id);
    return f < 0 ? DTS_FORMAT_RAW : (dts_format)f;
}

// msg_fill makes the view a callback receives. The receive time and the
// sender's address are those of the datagram, taken once per datagram by
// node_on_recv (a clock read and a string copy per message cost a quarter
// of the receive path with small packed messages).
static void
msg_fill(const dts_node *n, dts_msg *m, const dtsi_type *t, const dtsi_hdr *h,
         const uint8_t *payload)
{
    memset(m, 0, offsetof(dts_msg, sender_addr));
    m->type = t->name;
    m->type_id = t->id;
    // The type's format is that of its schema; a message of another schema
    // (a publisher that disagrees: a type mismatch) has its own format: the
    // one the other schema's description gave, or for an empty schema the
    // one its id shows.
    if (t->format != DTSI_FORMAT_UNKNOWN && h->schema_id == t->schema_id)
        m->format = (dts_format)t->format;
    else if (t->mismatch && h->schema_id == t->mismatch_schema_id &&
             t->mismatch_format != DTSI_FORMAT_UNKNOWN)
        m->format = (dts_format)t->mismatch_format;
    else
        m->format = format_of_schema(h->schema_id);
    m->schema_id = h->schema_id;
    m->data = payload;
    m->len = h->payload_len;
    m->seq = h->seq;
    m->sender_instance = h->instance;
    m->sender_host = h->host;
    memcpy(m->sender_addr, n->rx_src, sizeof m->sender_addr);
    m->sent_ns = h->sent_ns;
    m->received_ns = n->rx_now_ns;
    m->is_reply = h->kind == DTSI_KIND_REPLY;
}

// node_answer_query replies to a QUERY for a type this node declared, from
// its query handler or its last-value cache.
static void
node_answer_query(dts_node *n, dtsi_type *t, const dtsi_hdr *q)
{
    const void *data = node_lvc_data(n, t);
    size_t len = t->last_len;
    uint64_t seq = t->last_seq;
    if (t->qh) {
        dtsi_in_locked_cb++;
        int answer = t->qh(t->qh_ud, t->name, &data, &len);
        dtsi_in_locked_cb--;
        if (!answer) return;
        if (len > n->cfg.payload_max) return;
        seq = t->last_seq ? t->last_seq : 1;
    } else if (!n->cfg.last_value_cache || t->last_seq == 0 || !data) {
        return;
    }
    // Anyone may ask, and a 64-byte QUERY gets the whole value: a token
    // bucket per type holds the replies to DTSI_REPLY_BYTES_PER_S (a burst
    // of that, or of one value). An asker refused asks again (dts_query,
    // 150 and 450 ms on) or gets the next value published.
    int64_t now = dtsi_mono_ms(),
            cost = len > DTSI_REPLY_COST_MIN ? (int64_t)len : DTSI_REPLY_COST_MIN;
    int64_t burst = cost > (int64_t)DTSI_REPLY_BYTES_PER_S ? cost : (int64_t)DTSI_REPLY_BYTES_PER_S;
    t->reply_tokens += (now - t->reply_ms) * (int64_t)(DTSI_REPLY_BYTES_PER_S / 1000);
    t->reply_ms = now;
    if (t->reply_tokens > burst) t->reply_tokens = burst;
    if (t->reply_tokens < cost) {
        n->nc.replies_refused++;
        return;
    }
    t->reply_tokens -= cost;
    dtsi_hdr h = {.kind = DTSI_KIND_REPLY,
                  .corr = q->corr,
                  .type_id = t->id,
                  .schema_id = t->schema_id,
                  .seq = seq,
                  .sent_ns = t->qh ? dts_now_ns() : t->last_sent_ns};
    if (dtsi_enqueue(n, t->id, &h, data, len) == DTS_OK) n->nc.replies_sent++;
}

static void
node_deliver_reply(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const uint8_t *payload,
                   const char *src)
{
    for (int i = 0; i < DTSI_QUERIES_MAX; i++) {
        dtsi_query *q = &n->queries[i];
        if (!q->active || q->corr != h->corr || q->type_id != t->id) continue;
        int dup = 0;
        for (size_t j = 0; j < q->n_answered; j++) dup |= q->answered[j] == h->instance;
        if (dup) continue; // an answer to a repeated query
        if (q->n_answered < DTSI_QUERY_ANSWERS_MAX) q->answered[q->n_answered++] = h->instance;
        dts_msg m;
        msg_fill(n, &m, t, h, payload);
        q->answers++;
        dtsi_in_locked_cb++;
        if (q->cb) q->cb(q->ud, &m);
        dtsi_in_locked_cb--;
        pthread_cond_broadcast(&n->cond);
    }
}

// node_run_callbacks makes the subscription callbacks that wait, without
// the node's lock, so that a callback may wait for something (an
// application's mutex) that another thread holds while it calls into this
// node. What they use stays valid: the payloads are in buffers that only
// this thread gives back, after this (node_recv, the reassembly and
// decompression paths call it first); the types are never freed; the
// subscriptions are freed only by this thread's tick, and one closed
// meanwhile is skipped. dts_sub_close from another thread waits for the
// run to end (cb_running). Lock held on entry and exit.
static void
node_run_callbacks(dts_node *n)
{
    if (n->n_cb_calls == 0) {
        n->n_cb_msgs = 0;
        return;
    }
    n->cb_running = 1;
    n->cb_tid = pthread_self();
    pthread_mutex_unlock(&n->mu);
    for (size_t i = 0; i < n->n_cb_calls; i++) {
        struct dts_sub *s = n->cb_calls[i].sub;
        if (!__atomic_load_n(&s->closed, __ATOMIC_ACQUIRE))
            s->cb(s->ud, &n->cb_msgs[n->cb_calls[i].msg]);
    }
    dtsi_lock(&n->mu);
    n->n_cb_calls = 0;
    n->n_cb_msgs = 0;
    n->cb_running = 0;
    if (n->cb_waiters) pthread_cond_broadcast(&n->cond);
}

// node_deliver_data checks a DATA frame against the type's schema and
// sequence state and hands it to every matching subscription.
static void
node_deliver_data(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const uint8_t *payload,
                  const char *src)
{
    if (h->instance == n->instance && !n->cfg.receive_own) {
        t->c.dropped_own++;
        return;
    }
    if (t->declared && h->schema_id != t->schema_id) {
        t->c.dropped_mismatch++;
        if (!t->mismatch) {
            t->mismatch = 1;
            t->mismatch_schema_id = h->schema_id;
            n->nc.type_mismatches++;
            DTSI_LOG(DTS_LOG_WARN, DTS_CAT_DISCOVERY, "type-mismatch",
                     "%s: data from %s has schema %016llx, ours is %016llx", t->name, src,
                     (unsigned long long)h->schema_id, (unsigned long long)t->schema_id);
            dtsi_peer *p = dtsi_peer_find(n, h->instance);
            dtsi_event(n, DTS_EV_TYPE_MISMATCH, h->instance, p ? p->hostname : src, t->name,
                       t->schema_id, h->schema_id);
        }
        return;
    }
    // Room for its callbacks first: a message without is not taken as
    // delivered, so that it counts as a gap (and reliable mode asks again).
    if (n->n_cb_msgs == DTSI_CB_MSGS) node_run_callbacks(n);
    if (n->n_cb_calls + t->n_subs > n->cap_cb_calls) {
        size_t cap = n->cap_cb_calls ? n->cap_cb_calls : 256;
        while (cap < n->n_cb_calls + t->n_subs) cap *= 2;
        dtsi_cb_call *c = realloc(n->cb_calls, cap * sizeof *c);
        if (!c) return;
        n->cb_calls = c;
        n->cap_cb_calls = cap;
    }
    uint64_t gaps = t->c.gaps;
    if (!dtsi_sender_track(t, h, n->rx_now_ms, 1, n->deliver_repaired)) return;
    if (t->c.gaps > gaps && !n->rx_reassembled)
        node_on_loss_gap(n, dtsi_sender_find(t, h->instance), h, t->c.gaps - gaps);
    size_t k = n->n_cb_msgs++;
    msg_fill(n, &n->cb_msgs[k], t, h, payload);
    for (size_t i = 0; i < t->n_subs; i++)
        if (!t->subs[i]->closed) n->cb_calls[n->n_cb_calls++] = (dtsi_cb_call){t->subs[i], k};
    t->c.received++;
    t->c.bytes_received += h->payload_len;
    if (!n->in_recv) node_run_callbacks(n);
}

// node_reasm_lost counts a large message given up by reassembly, per type
// and per reason (event "message-lost").
static void
node_reasm_lost(void *ud, const dtsi_reasm_slot *s, dtsi_lost_reason why)
{
    dts_node *n = ud;
    static const char *const reason[] = {"timed out", "evicted by the memory bound",
                                         "superseded by a newer message"};
    dtsi_type *t = dtsi_type_find(n, s->type_id);
    if (t && s->hdr.kind == DTSI_KIND_DATA && (s->hdr.flags & DTSI_FLAG_RELIABLE)) {
        // Reliable publisher: not lost yet. It stays (or becomes) a missing
        // message that NACKs ask for whole, within their bounded tries.
        dtsi_sender_remiss(t, s->instance, s->seq, dtsi_mono_ms());
    } else if (t && s->hdr.kind == DTSI_KIND_DATA) {
        // Accounted once: as incomplete, never also as a gap.
        t->c.incomplete++;
        dtsi_sender_track(t, &s->hdr, dtsi_mono_ms(), 0, 0);
    }
    if (why == DTSI_LOST_TIMEOUT) n->nc.reasm_timed_out++;
    if (why == DTSI_LOST_EVICTED) n->nc.reasm_evicted++;
    if (why == DTSI_LOST_SUPERSEDED) n->nc.reasm_superseded++;
    DTSI_LOG(DTS_LOG_INFO, DTS_CAT_WIRE, "message-lost",
             "%s seq %llu from %016llx: %u of %u fragments, %s", t ? t->name : "?",
             (unsigned long long)s->seq, (unsigned long long)s->instance, s->got, s->n_frags,
             reason[why]);
}

// node_reassemble adds a fragment to its message (of type t; NULL for a
// control message). It returns 1 with the whole message in *whole and *buf
// (the caller gives it back, dtsi_reasm_recycle) when this fragment
// completed it, else 0 (stored, duplicate, or dropped and counted).
static int
node_reassemble(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const uint8_t *payload,
                dtsi_hdr *whole, uint8_t **buf)
{
    dtsi_frag_hdr f;
    size_t dlen;
    n->nc.fragments_received++;
    size_t max = h->kind == DTSI_KIND_SCHEMA_ANS ? DTSI_SCHEMA_ANS_MAX : n->cfg.payload_max;
    const char *why = dtsi_frag_hdr_decode(payload, h->payload_len, (uint32_t)max, &f, &dlen);
    if (why) {
        n->nc.fragments_malformed++;
        DTSI_LOG(DTS_LOG_DEBUG, DTS_CAT_WIRE, "frame-dropped", "fragment from %016llx: %s",
                 (unsigned long long)h->instance, why);
        return 0;
    }
    if (!t && !dtsi_reasm_room(&n->reasm, h, f.msg_len, DTSI_REASM_CONTROL_MAX)) {
        n->nc.control_fragments_refused++; // a control message never evicts data
        return 0;
    }
    dtsi_reasm_rc rc;
    uint64_t skipped = n->reasm.skipped, skipped_open = n->reasm.skipped_open;
    if (n->rx_placed) // its data is in its message's buffer already (node_rx_place)
        rc = dtsi_reasm_add_placed(&n->reasm, n->rx_placed - 1, h, &f, n->rx_now_ms,
                                   n->cfg.latest_only, buf, whole);
    else // latest_only is for data: control messages of a sender all count
        rc = dtsi_reasm_add(&n->reasm, h, &f, payload + DTSI_FRAG_HDR_SIZE, dlen, n->rx_now_ms,
                            n->cfg.latest_only && t, buf, whole);
    // Fragments lost on the way; at the start of a message only from a
    // publisher heard lately (a late joiner comes in the middle of one).
    if (t && (n->reasm.skipped > skipped || n->reasm.skipped_open > skipped_open)) {
        const dtsi_sender *s = dtsi_sender_find(t, h->instance);
        uint64_t lost = n->reasm.skipped - skipped;
        if (s && n->rx_now_ms - s->seen_ms <= DTSI_LOSS_RECENT_MS)
            lost += n->reasm.skipped_open - skipped_open;
        if (lost) node_note_loss(n, h, lost, n->reasm.skipped_run);
    }
    n->nc.reasm_bytes = n->reasm.bytes;
    n->nc.reasm_peak_bytes = n->reasm.peak_bytes;
    // A message of a reliable publisher that now has a slot is repaired by
    // fragment NACKs, not asked for whole.
    if (t && n->reasm.last_opened && (h->flags & DTSI_FLAG_RELIABLE))
        dtsi_sender_unmiss(t, h->instance, h->seq);
    n->nc.reasm_too_big = n->reasm.too_big;
    if (rc == DTSI_REASM_DUP) n->nc.fragments_dup++;
    if (rc != DTSI_REASM_DONE) return 0;
    whole->payload_len = f.msg_len;
    whole->flags &= (uint16_t)~DTSI_FLAG_FRAGMENT;
    n->deliver_repaired = n->reasm.done_nacks > 0;
    return 1;
}

static void node_dispatch(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const uint8_t *payload,
                          const char *src);

// node_decompress turns a whole message with the COMPRESSED flag back into
// its payload, bounded by payload_max before anything is allocated (the
// compressor checks the claimed size first). Returns the buffer to free
// (after delivery) or NULL when the message must be dropped (counted).
static void *
node_decompress(dts_node *n, dtsi_type *t, dtsi_hdr *h, const uint8_t **payload)
{
    const dts_compressor *c = n->cfg.compressor;
    void *out = NULL;
    size_t out_len = 0;
    if (!c ||
        c->decompress(*payload, h->payload_len, n->cfg.payload_max, &out, &out_len) != DTS_OK) {
        // The first of a type without a compressor is a warning: every
        // message of the type is lost to this node until it has one.
        int first = !c && t->c.dropped_compressed == 0;
        t->c.dropped_compressed++;
        DTSI_LOG(first ? DTS_LOG_WARN : DTS_LOG_DEBUG, DTS_CAT_WIRE, "frame-dropped",
                 "%s seq %llu: %s", t->name, (unsigned long long)h->seq,
                 c ? "compressed payload rejected"
                   : "compressed, and no compressor configured (dts_node_config.compressor = "
                     "dts_codec_compressor() reads it); its messages are counted in "
                     "dropped_compressed");
        return NULL;
    }
    h->payload_len = (uint32_t)out_len;
    h->flags &= (uint16_t)~DTSI_FLAG_COMPRESSED;
    *payload = out;
    return out;
}

// node_on_message dispatches one whole DATA or REPLY message of t,
// decompressing it first when it says so.
static void
node_on_message(dts_node *n, dtsi_type *t, const dtsi_hdr *hin, const uint8_t *payload,
                const char *src)
{
    dtsi_hdr hh = *hin;
    const dtsi_hdr *h = &hh;
    void *plain = NULL;
    if (hh.flags & DTSI_FLAG_COMPRESSED) {
        if (t->n_subs == 0 && hh.kind == DTSI_KIND_DATA) {
            n->nc.frames_unknown_type++;
            return;
        }
        plain = node_decompress(n, t, &hh, &payload);
        if (!plain) {
            if (hh.kind == DTSI_KIND_DATA) dtsi_sender_track(t, &hh, dtsi_mono_ms(), 0, 0);
            return;
        }
    }
    node_dispatch(n, t, h, payload, src);
    if (plain) {
        node_run_callbacks(n); // they use plain
        n->cfg.compressor->free_buf(plain);
    }
}

// node_dispatch hands a whole, plain message to the query or the
// subscriptions.
static void
node_dispatch(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const uint8_t *payload, const char *src)
{
    if (h->kind == DTSI_KIND_REPLY && (h->corr != t->join_corr || t->n_subs == 0)) {
        node_deliver_reply(n, t, h, payload, src);
        return;
    }
    if (t->n_subs == 0) {
        n->nc.frames_unknown_type++;
        return;
    }
    node_deliver_data(n, t, h, payload, src);
}

// node_fragment_wanted filters fragments before they cost memory: of a
// type nobody here receives, our own, or of a message already delivered.
static int
node_fragment_wanted(dts_node *n, dtsi_type *t, const dtsi_hdr *h)
{
    if (h->kind == DTSI_KIND_DATA && t->n_subs == 0) {
        n->nc.frames_unknown_type++;
        return 0;
    }
    if (h->instance == n->instance && !n->cfg.receive_own) return 0;
    // A REPLY repeats a value its DATA may have brought already: only DATA
    // is filtered by sequence number.
    if (h->kind == DTSI_KIND_DATA && dtsi_sender_seen(t, h->instance, h->seq)) {
        n->nc.fragments_dup++;
        return 0;
    }
    return 1;
}

// node_on_control hands a control frame to discovery, a fragment of a
// large SCHEMA_ANS once its message is whole.
static void
node_on_control(dts_node *n, const dtsi_hdr *h, const uint8_t *payload, const char *src)
{
    if (h->instance == n->instance) return; // our own, looped back
    n->nc.control_received++;
    n->nc.control_bytes_received += DTSI_HDR_SIZE + h->payload_len;
    dtsi_hdr whole;
    uint8_t *buf = NULL;
    if (!(h->flags & DTSI_FLAG_FRAGMENT)) {
        dtsi_disc_recv(n, h, payload, src);
    } else if (node_reassemble(n, NULL, h, payload, &whole, &buf)) {
        dtsi_disc_recv(n, &whole, buf, src);
        dtsi_reasm_recycle(&n->reasm, buf, n->reasm.done_cap);
    }
    // What it scheduled soon (an answer, a description) must not wait for
    // an idle tick: the tick comes forward to then.
    if (n->tick_ms > DTSI_TICK_MS) {
        int64_t wait = dtsi_disc_next_due(n, n->rx_now_ms) - n->rx_now_ms;
        if (wait < DTSI_TICK_MS) wait = DTSI_TICK_MS;
        if ((uint64_t)wait < uv_timer_get_due_in(&n->tick)) {
            n->tick_ms = (uint64_t)wait;
            uv_timer_start(&n->tick, node_on_tick, n->tick_ms, n->tick_ms);
        }
    }
}

static void
node_on_frame(dts_node *n, const dtsi_hdr *h, const uint8_t *payload, const char *src)
{
    if (h->kind == DTSI_KIND_PAD) return; // the end of a padded fragment datagram
    if (dtsi_kind_is_control(h->kind)) {
        node_on_control(n, h, payload, src);
        return;
    }
    n->activity_ms = n->rx_now_ms;
    node_tick_hurry(n);
    if (h->kind == DTSI_KIND_DATA || h->kind == DTSI_KIND_REPLY) node_spin_answer(n);
    dtsi_type *t = dtsi_type_find(n, h->type_id);
    if (!t) {
        n->nc.frames_unknown_type++;
        return;
    }
    if (h->kind == DTSI_KIND_QUERY) {
        if (t->declared && h->instance != n->instance) node_answer_query(n, t, h);
        return;
    }
    if (h->kind == DTSI_KIND_NACK) {
        if (t->declared && h->instance != n->instance) dtsi_rel_on_nack(n, t, h, payload);
        return;
    }
    if (h->kind == DTSI_KIND_SLOW) {
        if (t->declared && dtsi_get_u64(payload) == n->instance &&
            (!n->cfg.random_loss || h->corr != DTSI_SLOW_LOSS))
            node_slow_down(n, dtsi_get_u64(payload + 8), h->corr);
        return;
    }
    type_refresh_subs(n, t);
    if (h->kind != DTSI_KIND_HINT) { // whom to ask to slow down (node_on_backlog)
        n->rx_last_type = h->type_id;
        n->rx_last_instance = h->instance;
    }
    if (h->kind == DTSI_KIND_HINT) {
        if (t->n_subs && h->instance != n->instance)
            dtsi_sender_hint(t, h->instance, h->seq, dtsi_mono_ms());
        return;
    }
    if (!(h->flags & DTSI_FLAG_FRAGMENT)) {
        node_on_message(n, t, h, payload, src);
        return;
    }
    dtsi_hdr whole;
    uint8_t *buf = NULL;
    if (!node_fragment_wanted(n, t, h) || !node_reassemble(n, t, h, payload, &whole, &buf)) return;
    if (whole.instance == n->instance && !n->cfg.receive_own) {
        t->c.dropped_own++;
    } else {
        n->rx_reassembled = 1;
        node_on_message(n, t, &whole, buf, src);
        n->rx_reassembled = 0;
        node_run_callbacks(n); // they use buf
    }
    n->deliver_repaired = 0;
    dtsi_reasm_recycle(&n->reasm, buf, n->reasm.done_cap);
}

// node_on_batch takes the time for a batch of received datagrams (the
// transport calls it before each recvmmsg's worth): with GRO a batch can
// hold hundreds of fragments, and two clock reads per datagram cost 15% of
// a subscriber. Only the loop thread uses these fields.
static void
node_on_batch(void *ctx)
{
    dts_node *n = ctx;
    n->rx_batched = 1;
    n->rx_now_ns = dts_now_ns();
    n->rx_mono_us = dtsi_mono_us();
    n->rx_now_ms = n->rx_mono_us / 1000;
    if (n->rx_now_ms - n->drain_ms[0] >= DTSI_SLOW_WINDOW_MS) { // node_drain_rate
        // A window with hardly any data (a quiet spell, or control traffic
        // only) measures the quiet, not the drain: a SLOW early in a burst
        // asked a 1 MiB publisher for 8-80 MB/s from it, and the publisher
        // crawled for half a second. Then the rate is not known (0).
        int quiet = n->rx_now_ms - n->drain_ms[0] >= 2 * DTSI_SLOW_WINDOW_MS ||
                    n->rx_bytes - n->drain_bytes[0] < DTSI_SLOW_MIN_BYTES;
        n->drain_ms[1] = quiet ? 0 : n->drain_ms[0], n->drain_bytes[1] = n->drain_bytes[0];
        n->drain_ms[0] = n->rx_now_ms, n->drain_bytes[0] = n->rx_bytes;
    }
}

// node_frames walks the frames of one datagram (docs/spec/wire.md,
// "Datagrams"). The first frame that fails validation ends the datagram:
// nothing after it can be trusted to be aligned. placed: the data of its
// first frame, a fragment, was received in place (guess placed - 1 of
// node_rx_place), and data has a hole there. Lock held.
static void
node_frames(dts_node *n, const uint8_t *data, size_t len, const char *src, size_t placed)
{
    n->nc.datagrams_received++;
    n->rx_bytes += len;
    n->rx_dgram_len = len;
    size_t off = 0;
    while (off < len) {
        dtsi_hdr h;
        const char *why = NULL;
        dtsi_wire_rc rc = dtsi_hdr_decode(data + off, len - off, &h, &why);
        if (rc != DTSI_WIRE_OK) {
            if (rc == DTSI_WIRE_FOREIGN) n->nc.frames_foreign++;
            if (rc == DTSI_WIRE_BAD_VERSION) n->nc.frames_bad_version++;
            if (rc == DTSI_WIRE_MALFORMED) n->nc.frames_malformed++;
            DTSI_LOG(DTS_LOG_DEBUG, DTS_CAT_WIRE, "frame-dropped", "from %s at byte %zu: %s", src,
                     off, why);
            break;
        }
        n->nc.frames_received++;
        n->rx_placed = off == 0 ? placed : 0;
        node_on_frame(n, &h, data + off + DTSI_HDR_SIZE, src);
        n->rx_placed = 0;
        off += DTSI_HDR_SIZE + h.payload_len;
    }
}

// node_recv handles the datagrams of len bytes of data cut every seg bytes
// (the last may be shorter; seg 0: one datagram) from src, under one
// taking of the lock: a UDP GRO run of 1500-byte-MTU fragments is 44 of
// them. placed: as for node_frames, for a lone datagram.
static void
node_recv(dts_node *n, const uint8_t *data, size_t len, size_t seg, const char *src, size_t placed)
{
    dtsi_lock(&n->mu);
    n->in_loop_cb++;
    n->in_recv = 1;
    if (!n->rx_batched) {
        n->rx_now_ns = dts_now_ns();
        n->rx_mono_us = dtsi_mono_us();
        n->rx_now_ms = n->rx_mono_us / 1000;
    }
    node_spin_received(n);
    size_t sl = strnlen(src, sizeof n->rx_src - 1);
    memcpy(n->rx_src, src, sl);
    memset(n->rx_src + sl, 0, sizeof n->rx_src - sl);
    if (!seg || seg > len) seg = len;
    for (size_t at = 0; at < len; at += seg)
        node_frames(n, data + at, len - at < seg ? len - at : seg, src, placed);
    node_run_callbacks(n); // they use data
    // What the callbacks published (answers, relays) and query replies leave
    // now, packed together, without a round through the wake handle.
    if (n->q_len || dtsi_ring_used(n)) dtsi_send_now(n);
    n->in_recv = 0;
    n->in_loop_cb--;
    pthread_mutex_unlock(&n->mu);
}

static void
node_on_recv(void *ctx, const uint8_t *data, size_t len, const char *src)
{
    node_recv(ctx, data, len, 0, src, 0);
}

static void
node_on_recv_run(void *ctx, const uint8_t *data, size_t len, size_t seg, const char *src)
{
    node_recv(ctx, data, len, seg, src, 0);
}

static void
node_on_recv_placed(void *ctx, size_t i, const uint8_t *data, size_t len, const char *src)
{
    node_recv(ctx, data, len, 0, src, i + 1);
}

// node_rx_place guesses where the data of the next datagrams goes: the
// fragments that follow the one received last, of its message
// (dtsi_reasm_plan), each after its frame and fragment headers. So a large
// message's fragments reach its buffer without a copy (issue 7); the first
// of each message is copied.
static size_t
node_rx_place(void *ctx, dts_rx_place *p, size_t max)
{
    dts_node *n = ctx;
    dtsi_lock(&n->mu);
    size_t k = dtsi_reasm_plan(&n->reasm, max);
    for (size_t i = 0; i < k; i++)
        p[i] = (dts_rx_place){.at = DTSI_HDR_SIZE + DTSI_FRAG_HDR_SIZE,
                              .dst = n->reasm.plan[i].dst,
                              .len = n->reasm.plan[i].len};
    pthread_mutex_unlock(&n->mu);
    return k;
}

// node_rx_check says whether datagram i (its first len bytes) is the
// fragment node_rx_place guessed; only its headers are read, the data is
// not in data. The guesses are the loop thread's alone, as is this call:
// no lock (the datagram's handling takes it next).
static int
node_rx_check(void *ctx, size_t i, const uint8_t *data, size_t len)
{
    dts_node *n = ctx;
    dtsi_hdr h;
    dtsi_frag_hdr f;
    size_t dlen;
    if (dtsi_hdr_decode(data, len, &h, NULL) != DTSI_WIRE_OK || !(h.flags & DTSI_FLAG_FRAGMENT) ||
        (h.kind != DTSI_KIND_DATA && h.kind != DTSI_KIND_REPLY))
        return 0;
    return !dtsi_frag_hdr_decode(data + DTSI_HDR_SIZE, h.payload_len, (uint32_t)n->cfg.payload_max,
                                 &f, &dlen) &&
           dtsi_reasm_plan_match(&n->reasm, i, &h, &f, dlen);
}

// ---------------------------------------------------------------------------
// Loop handles

static void node_finish_close(dts_node *n);

static void
node_on_wake(uv_async_t *a)
{
    dts_node *n = a->data;
    dtsi_lock(&n->mu);
    // An interrupt stops dts_node_run; a call waiting on the condition
    // variable (wait_until) sees it itself. The loop of DTS_RUN_THREAD runs
    // on: uv_stop would end its thread.
    if (dtsi_interrupt_pending(n, n->in_run)) {
        if (n->in_run) uv_stop(a->loop);
        pthread_cond_broadcast(&n->cond);
    }
    if (n->stop_requested) {
        n->stop_requested = 0;
        uv_stop(a->loop);
    }
    if (n->closing && !n->stopped) {
        node_finish_close(n);
        pthread_mutex_unlock(&n->mu);
        return;
    }
    node_activity(n); // an API call: declare, subscribe, publish, query
    node_update_membership(n);
    dtsi_send_now(n);
    pthread_mutex_unlock(&n->mu);
}

static void
node_update_rates(dts_node *n, int64_t now)
{
    double dt = (double)(now - n->rate_at_ms) / 1000.0;
    if (dt < 1.0) return;
    n->rate_at_ms = now;
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++) {
        for (dtsi_type *t = n->types[b]; t; t = t->next) {
            uint64_t msgs = t->c.received + t->c.sent;
            t->msgs_per_s = (double)(msgs - t->rate_prev_msgs) / dt;
            t->bytes_per_s = (double)(t->c.bytes_received - t->rate_prev_bytes) / dt;
            t->rate_prev_msgs = msgs;
            t->rate_prev_bytes = t->c.bytes_received;
        }
    }
}

// node_tick_interval chooses the tick's period: DTSI_TICK_MS while
// anything may need it soon (data moved in the last DTSI_ACTIVE_MS, which
// covers reliable mode's HINTs and NACKs; messages being reassembled; a
// query waiting), else the time until discovery is next due (a peer's
// lease ending included), between DTSI_TICK_MS and DTSI_TICK_IDLE_MS: an
// idle node wakes about twice a second, not 20 (PERFORMANCE.md, "Discovery
// cost"). Control traffic alone is no activity, or every heartbeat heard
// would keep the fast tick.
static uint64_t
node_tick_interval(dts_node *n, int64_t now)
{
    if (now - n->activity_ms < DTSI_ACTIVE_MS || n->reasm.n_slots) return DTSI_TICK_MS;
    for (int i = 0; i < DTSI_QUERIES_MAX; i++)
        if (n->queries[i].active) return DTSI_TICK_MS;
    int64_t wait = dtsi_disc_next_due(n, now) - now;
    if (wait < DTSI_TICK_MS) return DTSI_TICK_MS;
    return wait > DTSI_TICK_IDLE_MS ? DTSI_TICK_IDLE_MS : (uint64_t)wait;
}

// node_tick_hurry goes back to the fast tick at once (something happened
// while the node was idle); the next tick chooses the period again
// (node_tick_interval). Loop thread.
static void
node_tick_hurry(dts_node *n)
{
    if (n->tick_ms <= DTSI_TICK_MS || n->closing || n->stopped) return;
    n->tick_ms = DTSI_TICK_MS;
    uv_timer_start(&n->tick, node_on_tick, DTSI_TICK_MS, DTSI_TICK_MS);
}

// node_activity notes data moving or an API call; an idle tick hurries.
static void
node_activity(dts_node *n)
{
    n->activity_ms = dtsi_mono_ms();
    node_tick_hurry(n);
}

static void
node_on_tick(uv_timer_t *tm)
{
    dts_node *n = tm->data;
    dtsi_lock(&n->mu);
    n->in_loop_cb++;
    n->nc.ticks++;
    int64_t now = dtsi_mono_ms();
    dtsi_disc_tick(n, now);
    dtsi_query_resend(n, now);
    dtsi_rel_tick(n, now);
    if (dtsi_reasm_expire(&n->reasm, now)) n->nc.reasm_bytes = n->reasm.bytes;
    dtsi_pool_trim(n, now);
    node_update_rates(n, now);
    node_update_membership(n);
    dtsi_send_now(n);
    uint64_t iv = node_tick_interval(n, now);
    if (iv != n->tick_ms && !n->closing && !n->stopped) {
        n->tick_ms = iv;
        uv_timer_start(&n->tick, node_on_tick, iv, iv);
    }
    n->in_loop_cb--;
    pthread_mutex_unlock(&n->mu);
}

static void
node_on_retry(uv_timer_t *tm)
{
    dts_node *n = tm->data;
    dtsi_lock(&n->mu);
    dtsi_send_now(n);
    pthread_mutex_unlock(&n->mu);
}

static void
node_handle_closed(uv_handle_t *h)
{
    dts_node *n = h->data;
    n->handles_open--;
}

static void
node_tp_closed(void *arg)
{
    dts_node *n = arg;
    n->handles_open--;
}

// node_finish_close runs on the loop thread once closing is set: it says
// goodbye, sends what is queued (once; what the socket refuses is dropped),
// then closes every handle and the transport. Lock held.
static void
node_finish_close(dts_node *n)
{
    n->stopped = 1;
    // A publishing thread sending its own buffer sees closing and hands the
    // rest to the queue (dtsi_send_borrowed).
    // One copying the value it sent into the last-value cache reads the type.
    while ((n->q_len > 0 && q_at(n, 0)->by_caller) || n->lvc_copying > 0)
        pthread_cond_wait(&n->cond, &n->mu);
    // A publishing thread that saw the node open has finished writing to the
    // ring once its lock was free; any later one sees closing. What the ring
    // holds then leaves before the goodbye.
    if (n->ring.buf) {
        dtsi_ring_lock(&n->ring);
        dtsi_ring_unlock(&n->ring);
    }
    dtsi_ring_flush(n);
    dtsi_disc_goodbye(n);
    dtsi_send_now(n);
    for (size_t i = 0; i < n->q_len; i++) out_free(n, q_at(n, i));
    n->q_len = 0;
    if (n->ring.buf) // what the socket refused (producers see closing now)
        __atomic_store_n(&n->ring.head, __atomic_load_n(&n->ring.tail, __ATOMIC_ACQUIRE),
                         __ATOMIC_RELEASE);
    pthread_cond_broadcast(&n->cond);
    uv_timer_stop(&n->tick);
    uv_timer_stop(&n->retry);
    uv_close((uv_handle_t *)&n->tick, node_handle_closed);
    uv_close((uv_handle_t *)&n->retry, node_handle_closed);
    uv_close((uv_handle_t *)&n->step_timer, node_handle_closed);
    uv_close((uv_handle_t *)&n->spin, node_handle_closed);
    uv_close((uv_handle_t *)&n->wake, node_handle_closed);
    n->tp_ops->close(n->tp, node_tp_closed, n);
    n->tp = NULL;
}

static void
node_thread_main(void *arg)
{
    dts_node *n = arg;
    n->loop_tid = pthread_self();
    __atomic_store_n(&n->loop_tid_set, 1, __ATOMIC_RELEASE); // after loop_tid
    uv_run(n->loop, UV_RUN_DEFAULT);
}

// ---------------------------------------------------------------------------
// Open and close

static dts_err
node_check_config(const dts_node_config *c)
{
    if (c->ttl < 0 || c->ttl > 255) return DTS_EINVAL;
    if (c->run_mode == DTS_RUN_UV && !c->uv_loop) return DTS_EINVAL;
    if (c->run_mode > DTS_RUN_UV) return DTS_EINVAL;
    if (c->url && strlen(c->url) >= 256) return DTS_EINVAL;
    if (c->iface && strlen(c->iface) >= 64) return DTS_EINVAL;
    if (c->payload_max > DTS_PAYLOAD_MAX_LIMIT) return DTS_EINVAL;
    if (c->mtu && (c->mtu < 576 || c->mtu > 65535 + 48)) return DTS_EINVAL;
    if (c->spin_us > DTS_SPIN_MAX_US || c->answer_spin_us > DTS_SPIN_MAX_US) return DTS_EINVAL;
    return DTS_OK;
}

static void
node_apply_defaults(dts_node *n, const dts_node_config *cfg)
{
    n->cfg = *cfg;
    if (!n->cfg.port) n->cfg.port = DTS_PORT_DEFAULT;
    if (!n->cfg.queue_max) n->cfg.queue_max = DTS_QUEUE_MAX;
    if (!n->cfg.payload_max) n->cfg.payload_max = DTS_PAYLOAD_MAX_DEFAULT;
    if (!n->cfg.queue_max_bytes) n->cfg.queue_max_bytes = DTS_QUEUE_MAX_BYTES;
    if (!n->cfg.pace_bytes_per_s) n->cfg.pace_bytes_per_s = DTS_PACE_DEFAULT;
    if (!n->cfg.pace_dgrams_per_s) n->cfg.pace_dgrams_per_s = DTS_PACE_DGRAMS_DEFAULT;
    if (!n->cfg.reasm_max_bytes) n->cfg.reasm_max_bytes = DTS_REASM_MAX_BYTES;
    if (!n->cfg.reasm_max_msgs) n->cfg.reasm_max_msgs = DTS_REASM_MAX_MSGS;
    if (!n->cfg.reasm_timeout_ms) n->cfg.reasm_timeout_ms = DTS_REASM_TIMEOUT_MS;
    if (!n->cfg.peer_timeout_ms) n->cfg.peer_timeout_ms = DTS_PEER_TIMEOUT_MS;
    if (!n->cfg.announce_ms) n->cfg.announce_ms = DTS_ANNOUNCE_MS;
    if (n->cfg.peer_timeout_ms < 2 * n->cfg.announce_ms)
        n->cfg.peer_timeout_ms = 2 * n->cfg.announce_ms;
    snprintf(n->url, sizeof n->url, "%s", cfg->url ? cfg->url : "");
    snprintf(n->iface, sizeof n->iface, "%s", cfg->iface ? cfg->iface : "");
    n->cfg.url = n->url;
    n->cfg.iface = n->iface;
    if (cfg->hostname)
        snprintf(n->hostname, sizeof n->hostname, "%s", cfg->hostname);
    else if (gethostname(n->hostname, sizeof n->hostname) != 0)
        snprintf(n->hostname, sizeof n->hostname, "unknown");
    n->hostname[DTSI_HOSTNAME_MAX] = 0;
    n->cfg.hostname = n->hostname;
}

static dts_err
node_open_transport(dts_node *n)
{
    n->tp_ops = dtsi_transport_find(n->url);
    if (!n->tp_ops) {
        char known[256];
        dtsi_transport_schemes(known, sizeof known);
        DTSI_LOG(DTS_LOG_ERROR, DTS_CAT_CORE, "unknown-transport",
                 "no transport for URL '%s' (known: %s)", n->url, known);
        return DTS_ENOTSUP;
    }
    dts_transport_config tc = {.url = n->url,
                               .iface = n->iface,
                               .port = n->cfg.port,
                               .ttl = n->cfg.ttl,
                               .loopback = n->cfg.loopback,
                               .ipv6 = n->cfg.ipv6};
    dts_transport_host host = {.loop = n->loop,
                               .ctx = n,
                               .on_recv = node_on_recv,
                               .on_recv_run = node_on_recv_run,
                               .on_batch = node_on_batch,
                               .on_backlog = node_on_backlog,
                               .rx_place = node_rx_place,
                               .rx_check = node_rx_check,
                               .on_recv_placed = node_on_recv_placed};
    dts_err err = n->tp_ops->open(&tc, &host, &n->tp);
    if (err != DTS_OK) return err;
    n->max_dgram = n->tp_ops->max_dgram(n->tp);
    // A plug-in transport's value is checked: fragments are cut to it.
    if (n->max_dgram < DTS_TRANSPORT_DGRAM_MIN || n->max_dgram > DTS_TRANSPORT_DGRAM_MAX) {
        DTSI_LOG(DTS_LOG_ERROR, DTS_CAT_CORE, "transport-dgram",
                 "transport %s:// says its datagrams hold %zu bytes: not within %d..%d",
                 n->tp_ops->scheme, n->max_dgram, DTS_TRANSPORT_DGRAM_MIN, DTS_TRANSPORT_DGRAM_MAX);
        return DTS_ETRANSPORT;
    }
    // cfg.mtu caps the IP packet: minus the IPv4 or IPv6 and UDP headers.
    size_t ip_udp = n->cfg.ipv6 ? 48 : 28;
    if (n->cfg.mtu && n->cfg.mtu - ip_udp < n->max_dgram) n->max_dgram = n->cfg.mtu - ip_udp;
    n->frag_bufs = malloc(2 * DTSI_FRAG_BATCH * (DTSI_HDR_SIZE + DTSI_FRAG_HDR_SIZE));
    n->pack_buf = malloc(n->max_dgram);
    if (n->max_dgram <= DTSI_STAGE_DGRAM_MAX) {
        n->frag_stage = malloc(DTSI_FRAG_BATCH * n->max_dgram);
        if (!n->frag_stage) return DTS_ENOMEM;
    }
    if (!n->frag_bufs || !n->pack_buf) return DTS_ENOMEM;
    n->pace_tokens = pace_burst(n, n->cfg.pace_bytes_per_s);
    n->pace_rate = n->cfg.pace_bytes_per_s;
    n->large = (dtsi_bufkeep){
        .max_n = DTSI_LARGE_KEEP, .max_bytes = DTSI_LARGE_KEEP_BYTES, .release = large_free};
    n->pace_last_us = mono_us();
    if (dtsi_reasm_init(&n->reasm, n->cfg.reasm_max_msgs, n->cfg.reasm_max_bytes,
                        n->cfg.reasm_timeout_ms, node_reasm_lost, n) != 0)
        return DTS_ENOMEM;
    if (n->cfg.run_mode == DTS_RUN_THREAD) { // other threads publish: the ring
        n->ring.buf = malloc(DTSI_RING_BYTES);
        n->ring.cap = DTSI_RING_BYTES;
        if (!n->ring.buf) return DTS_ENOMEM;
    }
    err = n->tp_ops->join(n->tp, DTS_CHANNEL_CONTROL);
    return err;
}

static void
node_free(dts_node *n)
{
    for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++) {
        for (dtsi_type *t = n->types[b]; t;) {
            dtsi_type *next = t->next;
            type_free(n, t);
            t = next;
        }
    }
    free(n->cb_calls);
    for (struct dts_sub *s = n->subs; s;) {
        struct dts_sub *next = s->next;
        free(s);
        s = next;
    }
    for (size_t i = 0; i < n->n_peers; i++) free(n->peers[i].members);
    free(n->peers);
    for (dtsi_schema *s = n->schemas; s;) {
        dtsi_schema *next = s->next;
        free(s->bytes);
        free(s);
        s = next;
    }
    free(n->q);
    free(n->ring.buf);
    free(n->pack_buf);
    free(n->frag_stage);
    free(n->frag_bufs);
    for (int c = 0; c < DTSI_POOL_CLASSES; c++) {
        while (n->pool_n[c]) free(n->pool[c][--n->pool_n[c]]);
        free(n->pool[c]);
    }
    dtsi_bufkeep_clear(&n->large);
    dtsi_reasm_fini(&n->reasm);
    pthread_mutex_destroy(&n->mu);
    pthread_cond_destroy(&n->cond);
    free(n);
}

static dts_err
node_init_loop(dts_node *n)
{
    if (n->cfg.run_mode == DTS_RUN_UV) {
        n->loop = n->cfg.uv_loop;
        n->open_tid = pthread_self(); // dts.h: opened on the loop's thread
    } else {
        if (uv_loop_init(&n->own_loop) != 0) return DTS_ESYS;
        n->loop = &n->own_loop;
    }
    uv_async_init(n->loop, &n->wake, node_on_wake);
    uv_timer_init(n->loop, &n->tick);
    uv_timer_init(n->loop, &n->retry);
    uv_timer_init(n->loop, &n->step_timer);
    uv_idle_init(n->loop, &n->spin);
    n->wake.data = n->tick.data = n->retry.data = n->step_timer.data = n->spin.data = n;
    n->handles_open = 6; // five handles and the transport
    return DTS_OK;
}

// node_close_handles closes what node_init_loop opened when open fails.
static void
node_abort_open(dts_node *n)
{
    uv_close((uv_handle_t *)&n->wake, node_handle_closed);
    uv_close((uv_handle_t *)&n->tick, node_handle_closed);
    uv_close((uv_handle_t *)&n->retry, node_handle_closed);
    uv_close((uv_handle_t *)&n->step_timer, node_handle_closed);
    uv_close((uv_handle_t *)&n->spin, node_handle_closed);
    n->handles_open--; // no transport
    while (n->handles_open > 0) uv_run(n->loop, UV_RUN_NOWAIT);
    if (n->loop == &n->own_loop) uv_loop_close(&n->own_loop);
}

dts_err
dts_node_open(const dts_node_config *cfg, dts_node **out)
{
    dts_node_config defaults;
    if (!out) return DTS_EINVAL;
    if (!cfg) {
        dts_node_config_init(&defaults);
        cfg = &defaults;
    }
    dts_err err = node_check_config(cfg);
    if (err != DTS_OK) return err;
    dts_node *n = calloc(1, sizeof *n);
    if (!n) return DTS_ENOMEM;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&n->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_cond_init(&n->cond, NULL);
    node_apply_defaults(n, cfg);
    n->instance = node_random64();
    n->host = node_host_id(n->hostname);
    n->pid = (uint32_t)getpid();
    n->q_cap = n->cfg.queue_max + 64; // room for control frames
    n->q = calloc(n->q_cap, sizeof *n->q);
    err = n->q ? node_init_loop(n) : DTS_ENOMEM;
    if (err != DTS_OK) {
        node_free(n);
        return err;
    }
    err = node_open_transport(n);
    if (err != DTS_OK) {
        if (n->tp) {
            n->tp_ops->close(n->tp, node_tp_closed, n);
            n->handles_open++;
        }
        node_abort_open(n);
        node_free(n);
        return err;
    }
    dtsi_disc_init(n);
    uv_timer_start(&n->tick, node_on_tick, DTSI_TICK_MS, DTSI_TICK_MS);
    uv_async_send(&n->wake);
    if (n->cfg.run_mode == DTS_RUN_THREAD) {
        if (uv_thread_create(&n->thread, node_thread_main, n) != 0) {
            dts_node_close(n);
            return DTS_ESYS;
        }
        n->thread_started = 1;
    }
    *out = n;
    return DTS_OK;
}

void
dts_node_close(dts_node *n)
{
    if (!n) return;
    // From a callback of this node the loop would go on with the node
    // freed under it (dts.h forbids the call): stop with a message instead
    // of corrupting memory, as an assertion would.
    if (node_in_own_callback(n)) {
        fprintf(stderr, "dts: dts_node_close called from a callback of the same node; close the "
                        "node once its loop has returned (see dts.h)\n");
        abort();
    }
    // Send what is queued first, within a bound (a large message may need
    // a while at the paced rate).
    if (n->thread_started || n->cfg.run_mode == DTS_RUN_CALLER) dts_flush(n, DTSI_CLOSE_FLUSH_MS);
    dtsi_lock(&n->mu);
    __atomic_store_n(&n->closing, 1, __ATOMIC_RELAXED); // read by publish_ring
    pthread_mutex_unlock(&n->mu);
    if (n->thread_started) {
        uv_async_send(&n->wake);
        uv_thread_join(&n->thread);
    } else {
        dtsi_lock(&n->mu);
        if (!n->stopped) node_finish_close(n);
        pthread_mutex_unlock(&n->mu);
        while (n->handles_open > 0) uv_run(n->loop, UV_RUN_NOWAIT);
    }
    if (n->loop == &n->own_loop) {
        uv_run(n->loop, UV_RUN_NOWAIT);
        uv_loop_close(&n->own_loop);
    }
    node_free(n);
}

dts_err
dts_node_run(dts_node *n)
{
    if (!n || n->cfg.run_mode != DTS_RUN_CALLER) return DTS_EINVAL;
    if (node_in_own_callback(n)) return DTS_EBUSY; // libuv's loop does not nest
    n->loop_tid = pthread_self();
    __atomic_store_n(&n->loop_tid_set, 1, __ATOMIC_RELEASE); // after loop_tid
    dtsi_lock(&n->mu);
    n->in_run = 1;
    int pending = dtsi_interrupt_pending(n, 0);
    pthread_mutex_unlock(&n->mu);
    if (pending) uv_async_send(&n->wake); // an interrupt that no call took yet ends this one
    uv_run(n->loop, UV_RUN_DEFAULT);
    dtsi_lock(&n->mu);
    n->in_run = 0;
    pthread_mutex_unlock(&n->mu);
    return n->closing ? DTS_ECLOSED : DTS_OK;
}

void
dts_node_stop(dts_node *n)
{
    if (!n) return;
    // uv_stop only works on the loop thread: stop directly there, and
    // otherwise ask the loop through the wake handle.
    if (__atomic_load_n(&n->loop_tid_set, __ATOMIC_ACQUIRE) &&
        pthread_equal(n->loop_tid, pthread_self())) {
        uv_stop(n->loop);
        return;
    }
    dtsi_lock(&n->mu);
    n->stop_requested = 1;
    pthread_mutex_unlock(&n->mu);
    uv_async_send(&n->wake);
}

// dts_node_interrupt only adds to a counter and wakes the loop, both safe in
// a signal handler (uv_async_send is async-signal-safe). A waiting call
// (wait_until, publish_waiting, dts_node_run through node_on_wake) that
// finds the counter ahead of interrupts_done takes the interrupts and
// returns; one that comes while none waits is taken by the next, so that a
// signal just before a call is not lost.
void
dts_node_interrupt(dts_node *n)
{
    if (!n) return;
    __atomic_add_fetch(&n->interrupts, 1, __ATOMIC_RELEASE);
    uv_async_send(&n->wake);
}

int
dts_node_fd(const dts_node *n)
{
    if (!n || n->cfg.run_mode != DTS_RUN_CALLER) return -1;
    return uv_backend_fd(n->loop);
}

int
dts_node_timeout_ms(const dts_node *n)
{
    if (!n || n->cfg.run_mode != DTS_RUN_CALLER) return -1;
    return uv_backend_timeout(n->loop);
}

dts_err
dts_node_step(dts_node *n)
{
    return dts_node_step_wait(n, 0);
}

static void
node_on_step_timer(uv_timer_t *tm)
{
    (void)tm; // it only ends the wait of dtsi_run_once
}

// dtsi_run_once runs the loop once, waiting for something to do at most
// timeout_ms (without bound if negative): dts_node_step_wait, and the
// API's waits in caller mode, which would otherwise wake at the next tick
// (up to DTSI_TICK_IDLE_MS) and overshoot their timeout. Caller's thread,
// lock not held.
void
dtsi_run_once(dts_node *n, int64_t timeout_ms)
{
    if (timeout_ms > 0) {
        uv_update_time(n->loop); // the loop's clock may be as old as its last turn
        uv_timer_start(&n->step_timer, node_on_step_timer, (uint64_t)timeout_ms, 0);
    }
    uv_run(n->loop, UV_RUN_ONCE);
    if (timeout_ms > 0) uv_timer_stop(&n->step_timer);
}

// dts_node_step_wait blocks in the loop's own poll (no poll(2) of the
// caller's before it): one system call fewer per message for a program
// that waits for one answer, as a round trip does.
dts_err
dts_node_step_wait(dts_node *n, int timeout_ms)
{
    if (!n || n->cfg.run_mode != DTS_RUN_CALLER) return DTS_EINVAL;
    if (node_in_own_callback(n)) return DTS_EBUSY; // libuv's loop does not nest
    n->loop_tid = pthread_self();
    __atomic_store_n(&n->loop_tid_set, 1, __ATOMIC_RELEASE); // after loop_tid
    n->steps++; // only this thread reads it (publish_now)
    if (timeout_ms == 0 || n->stopped) {
        uv_run(n->loop, UV_RUN_NOWAIT);
        return DTS_OK;
    }
    dtsi_run_once(n, timeout_ms);
    return DTS_OK;
}

uint64_t
dts_node_instance(const dts_node *n)
{
    return n->instance;
}

uint64_t
dts_node_host(const dts_node *n)
{
    return n->host;
}
