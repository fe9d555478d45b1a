// reliable.c: reliable mode, per type, opt-in (docs/spec/wire.md,
// "Reliable mode"; issue: best effort stays the default).
//
// A publisher of a reliable type marks its frames RELIABLE, keeps the last
// messages in a bounded history, sends a HINT with its last sequence number
// while it is active (so a lost last message is noticed), and answers NACKs
// by sending again the messages or fragments asked for, within bounds that
// forged NACKs cannot lift (dtsi_rel_on_nack). A receiver asks, at most
// every DTSI_NACK_INTERVAL_MS and DTSI_NACK_TRIES times, for the messages
// it never saw (seq.c keeps that list) and for the missing fragments of
// partial messages that stopped progressing. After that the loss stays
// counted (gap or incomplete), never hidden. Loop thread, node lock held,
// except dts_type_set_opts.
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/node.h"

// ---------------------------------------------------------------------------
// Publisher: history

static void
hist_drop_oldest(dts_node *n, dtsi_type *t)
{
    dtsi_hist *h = &t->hist[t->hist_head];
    t->hist_bytes -= h->len;
    dtsi_frame_put(n, h->buf, h->pooled);
    h->buf = NULL;
    t->hist_head = (t->hist_head + 1) % DTSI_HISTORY_MAX_MSGS;
    t->hist_n--;
}

// dtsi_rel_store keeps a copy of a published frame (header and payload,
// as first sent) within the type's history bound.
void
dtsi_rel_store(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const void *payload, size_t len)
{
    if (!t->reliable || DTSI_HDR_SIZE + len > t->hist_max_bytes) return;
    if (!t->hist) {
        t->hist = calloc(DTSI_HISTORY_MAX_MSGS, sizeof *t->hist);
        if (!t->hist) return;
    }
    while (t->hist_n && (t->hist_n == DTSI_HISTORY_MAX_MSGS ||
                         t->hist_bytes + DTSI_HDR_SIZE + len > t->hist_max_bytes))
        hist_drop_oldest(n, t);
    int pooled;
    uint8_t *buf = dtsi_frame_get(n, len, &pooled); // the frame pools: no allocation per message
    if (!buf) return;
    dtsi_hdr hh = *h;
    hh.payload_len = (uint32_t)len;
    hh.instance = n->instance;
    hh.host = n->host;
    dtsi_hdr_encode(&hh, buf);
    if (len) memcpy(buf + DTSI_HDR_SIZE, payload, len);
    dtsi_hist *e = &t->hist[(t->hist_head + t->hist_n) % DTSI_HISTORY_MAX_MSGS];
    *e = (dtsi_hist){.seq = h->seq, .buf = buf, .len = DTSI_HDR_SIZE + len, .pooled = pooled};
    t->hist_n++;
    t->hist_bytes += e->len;
    t->last_pub_ms = dtsi_mono_ms();
}

void
dtsi_rel_type_free(dts_node *n, dtsi_type *t)
{
    while (t->hist_n) hist_drop_oldest(n, t);
    free(t->hist);
}

static dtsi_hist *
hist_find(dtsi_type *t, uint64_t seq)
{
    if (!t->hist_n) return NULL;
    uint64_t first = t->hist[t->hist_head].seq;
    if (seq < first || seq - first >= t->hist_n) return NULL; // seqs are consecutive
    dtsi_hist *h = &t->hist[(t->hist_head + (seq - first)) % DTSI_HISTORY_MAX_MSGS];
    return h->seq == seq ? h : NULL;
}

// rel_span is what entry e asks of the message at h, in fragments (a
// message of one datagram is one): *a .. *b - 1 of its *nfr. 0 when e names
// no fragment of it.
static int
rel_span(const dts_node *n, const dtsi_hist *h, const dtsi_nack_entry *e, uint32_t *a, uint32_t *b,
         uint32_t *nfr)
{
    size_t msg_len = h->len - DTSI_HDR_SIZE, fs = dtsi_frag_size(n);
    *a = 0;
    *b = *nfr = h->len > n->max_dgram ? (uint32_t)((msg_len + fs - 1) / fs) : 1;
    if (e->count == DTSI_NACK_WHOLE || *nfr == 1) return 1;
    if (e->first >= *nfr) return 0;
    uint64_t end = (uint64_t)e->first + e->count;
    *a = e->first;
    *b = end < *nfr ? (uint32_t)end : *nfr;
    return 1;
}

// rel_limit cuts the fragments *a .. *b - 1 of the message at h to what
// may be sent again now (docs/spec/wire.md, "Reliable mode"). Receivers
// that lost the same datagram each ask for it, and one multicast repair
// serves them all: within DTSI_REPAIR_WINDOW_MS a message goes again at
// most once in all (rep_n), and not the part of a request inside the last
// run sent. budget is what the NACK may still have sent: once it is spent,
// nothing more.
static void
rel_limit(const dts_node *n, dtsi_hist *h, uint32_t nfr, int64_t now, int64_t budget, uint32_t *a,
          uint32_t *b)
{
    if (budget <= 0) { // before the window: one that sends nothing does not start it
        *b = *a;
        return;
    }
    if (now - h->rep_ms >= DTSI_REPAIR_WINDOW_MS)
        h->rep_ms = now, h->rep_n = h->rep_first = h->rep_end = 0;
    if (*a >= h->rep_first && *a < h->rep_end) *a = h->rep_end < *b ? h->rep_end : *b;
    if (*b > h->rep_first && *b <= h->rep_end) *b = h->rep_first > *a ? h->rep_first : *a;
    if (*b - *a > nfr - h->rep_n) *b = *a + (nfr - h->rep_n);
    uint64_t fs = dtsi_frag_size(n), k = ((uint64_t)budget + fs - 1) / fs;
    if (nfr > 1 && *b - *a > k) *b = *a + (uint32_t)k;
}

// rel_repair queues a copy of a message, or of a run of its fragments,
// from the history, as far as rel_limit lets it, and takes the bytes sent
// from *budget. Returns 0 when the entry was cut or refused; 1 when it was
// answered in full, or not at all because the message is gone from the
// history (the receiver will count it lost) or the queue is full (it will
// ask again).
static int
rel_repair(dts_node *n, dtsi_type *t, const dtsi_nack_entry *e, int64_t now, int64_t *budget)
{
    dtsi_hist *h = hist_find(t, e->seq);
    uint32_t a, b, nfr;
    if (!h || !rel_span(n, h, e, &a, &b, &nfr)) return 1;
    uint32_t asked = b - a;
    rel_limit(n, h, nfr, now, *budget, &a, &b);
    if (a == b) return 0;
    size_t msg_len = h->len - DTSI_HDR_SIZE, fs = dtsi_frag_size(n);
    size_t from = nfr > 1 ? a * fs : 0;
    size_t to = nfr > 1 && (uint64_t)b * fs < msg_len ? b * fs : msg_len;
    // The copy is of the whole frame even for one fragment: the queue sends
    // fragments from a message's own buffer (dtsi_enqueue_copy).
    if (dtsi_enqueue_copy(n, t->id, h->buf, h->len, from, to) != DTS_OK) return 1;
    n->nc.repairs_sent++;
    *budget -= (int64_t)(nfr > 1 ? to - from : h->len);
    h->rep_n += b - a;
    if (h->rep_first < h->rep_end && a <= h->rep_end && b >= h->rep_first) { // one run
        h->rep_first = a < h->rep_first ? a : h->rep_first;
        h->rep_end = b > h->rep_end ? b : h->rep_end;
    } else {
        h->rep_first = a, h->rep_end = b;
    }
    return b - a == asked;
}

// nack_dup says whether an entry before e[i] in its NACK asks for all that
// e[i] asks for.
static int
nack_dup(const dtsi_nack_entry *e, int i)
{
    for (int j = 0; j < i; j++) {
        if (e[j].seq != e[i].seq) continue;
        if (e[j].count == DTSI_NACK_WHOLE) return 1;
        if (e[i].count != DTSI_NACK_WHOLE && e[j].first <= e[i].first &&
            (uint64_t)e[j].first + e[j].count >= (uint64_t)e[i].first + e[i].count)
            return 1;
    }
    return 0;
}

// dtsi_rel_on_nack answers a NACK addressed to this node for a reliable
// type it publishes. Anyone on the network can send one, naming up to 64
// messages of up to payload_max each: duplicates are dropped, and the
// repairs one NACK causes are bounded by DTSI_REPAIR_NACK_BYTES, those of
// a message by one copy every DTSI_REPAIR_WINDOW_MS (rel_limit); what is
// not answered in full counts in repairs_refused.
void
dtsi_rel_on_nack(dts_node *n, dtsi_type *t, const dtsi_hdr *h, const uint8_t *payload)
{
    dtsi_nack_entry e[DTSI_NACK_MAX];
    uint64_t target;
    int k = dtsi_nack_decode(payload, h->payload_len, &target, e);
    if (k < 0) {
        n->nc.frames_malformed++;
        return;
    }
    if (target != n->instance || !t->declared || !t->reliable) return;
    n->nc.nacks_received++;
    // A sixteenth of the history, at least DTSI_REPAIR_NACK_BYTES: a type
    // whose history holds larger messages (history_bytes, payload_max up to
    // 2 GiB) still has any of them repaired within DTSI_NACK_TRIES.
    int64_t budget =
        (int64_t)(t->hist_max_bytes / 16 > DTSI_REPAIR_NACK_BYTES ? t->hist_max_bytes / 16
                                                                  : DTSI_REPAIR_NACK_BYTES);
    for (int i = 0; i < k; i++)
        if (nack_dup(e, i) || !rel_repair(n, t, &e[i], n->rx_now_ms, &budget))
            n->nc.repairs_refused++;
}

// ---------------------------------------------------------------------------
// Receiver: NACKs

typedef struct nack_batch {
    dts_node *n;
    dtsi_type *t;
    uint64_t target;
    dtsi_nack_entry e[DTSI_NACK_MAX];
    uint16_t k;
} nack_batch;

static void
nack_flush(nack_batch *b)
{
    if (!b->k) return;
    uint8_t buf[16 + DTSI_NACK_MAX * 16];
    dtsi_wbuf w = {buf, 0, sizeof buf, 0};
    dtsi_nack_encode(&w, b->target, b->e, b->k);
    dtsi_hdr h = {.kind = DTSI_KIND_NACK, .type_id = b->t->id, .seq = ++b->n->control_seq};
    if (!w.err && dtsi_enqueue(b->n, dtsi_back_channel(b->t->id), &h, buf, w.len) == DTS_OK)
        b->n->nc.nacks_sent++;
    b->k = 0;
}

static void
nack_add(nack_batch *b, uint64_t target, uint64_t seq, uint32_t first, uint32_t count)
{
    if (b->k && b->target != target) nack_flush(b);
    b->target = target;
    b->e[b->k++] = (dtsi_nack_entry){.seq = seq, .first = first, .count = count};
    if (b->k == DTSI_NACK_MAX) nack_flush(b);
}

// rel_nack_missing asks for the whole messages of reliable publishers that
// never arrived, each at most DTSI_NACK_TRIES times.
static void
rel_nack_missing(nack_batch *b, int64_t now)
{
    dtsi_type *t = b->t;
    for (size_t i = 0; i < t->n_senders; i++) {
        dtsi_sender *s = &t->senders[i];
        for (size_t j = 0; j < s->n_missing;) {
            dtsi_missing *m = &s->missing[j];
            if (m->tries >= DTSI_NACK_TRIES) { // given up: it stays a gap
                *m = s->missing[--s->n_missing];
                continue;
            }
            if (m->due_ms <= now) {
                nack_add(b, s->instance, m->seq, 0, DTSI_NACK_WHOLE);
                m->tries++;
                m->due_ms = now + DTSI_NACK_INTERVAL_MS;
            }
            j++;
        }
        nack_flush(b);
    }
}

// rel_nack_fragments asks for the missing fragments of partial messages of
// reliable publishers that made no progress for DTSI_NACK_DELAY_MS.
static void
rel_nack_fragments(dts_node *n, int64_t now)
{
    nack_batch b = {.n = n};
    for (size_t i = 0; i < n->reasm.n_slots; i++) {
        dtsi_reasm_slot *s = &n->reasm.slots[i];
        if (!(s->hdr.flags & DTSI_FLAG_RELIABLE) || s->hdr.kind != DTSI_KIND_DATA) continue;
        if (now - s->last_ms < DTSI_NACK_DELAY_MS || now - s->nack_ms < DTSI_NACK_INTERVAL_MS)
            continue;
        if (s->nacks >= DTSI_NACK_TRIES) continue; // the reassembly timeout will count it
        b.t = dtsi_type_find(n, s->type_id);
        if (!b.t) continue;
        s->nack_ms = now;
        s->nacks++;
        for (uint32_t f = 0; f < s->n_frags;) {
            if (s->bitmap[f / 8] & (1u << (f % 8))) {
                f++;
                continue;
            }
            uint32_t run = 0;
            while (f + run < s->n_frags && !(s->bitmap[(f + run) / 8] & (1u << ((f + run) % 8))))
                run++;
            nack_add(&b, s->instance, s->seq, f, run);
            f += run;
        }
        nack_flush(&b);
    }
}

// rel_send_hints: a reliable publisher active in the last
// DTSI_HINT_ACTIVE_MS says its last sequence number every tick.
static void
rel_send_hint(dts_node *n, dtsi_type *t, int64_t now)
{
    // (next_seq is also taken under the publish ring's lock only.)
    uint64_t next = __atomic_load_n(&t->next_seq, __ATOMIC_RELAXED);
    if (!t->declared || !t->reliable || next <= 1) return;
    if (now - t->last_pub_ms > DTSI_HINT_ACTIVE_MS) return;
    dtsi_hdr h = {.kind = DTSI_KIND_HINT,
                  .type_id = t->id,
                  .schema_id = t->schema_id,
                  .flags = DTSI_FLAG_RELIABLE,
                  .seq = next - 1};
    dtsi_enqueue(n, t->id, &h, NULL, 0);
}

void
dtsi_rel_tick(dts_node *n, int64_t now)
{
    for (size_t bkt = 0; bkt < DTSI_TYPE_BUCKETS; bkt++) {
        for (dtsi_type *t = n->types[bkt]; t; t = t->next) {
            rel_send_hint(n, t, now);
            nack_batch b = {.n = n, .t = t};
            rel_nack_missing(&b, now);
        }
    }
    rel_nack_fragments(n, now);
}

// ---------------------------------------------------------------------------
// API

dts_err
dts_type_set_opts(dts_node *n, const char *type, const dts_type_opts *opts)
{
    if (!n || !type || !opts || !dts_name_valid(type)) return DTS_EINVAL;
    if (opts->compress < 0 || opts->compress > 3) return DTS_EINVAL;
    const dts_compressor *c = n->cfg.compressor;
    if (opts->compress && !c) return DTS_ENOTSUP; // it would never compress
    if (opts->compress) {
        // The compressor checks the algorithm and level (a call with nothing
        // to compress does only that); a refusal here beats values that go
        // out uncompressed without a word.
        void *out = NULL;
        size_t out_len = 0;
        dts_err e =
            c->compress(opts->compress, opts->compress_level, SIZE_MAX, "", 0, &out, &out_len);
        if (out) c->free_buf(out);
        if (e != DTS_OK) return e;
    }
    dtsi_lock(&n->mu);
    dtsi_type *t = dtsi_type_find(n, dts_type_id(type));
    dts_err err = t && t->declared && strcmp(t->name, type) == 0 ? DTS_OK : DTS_ENOENT;
    if (err == DTS_OK) {
        // Both are read without the lock by publish_ring (api.c).
        __atomic_store_n(&t->reliable, opts->reliable != 0, __ATOMIC_RELAXED);
        __atomic_store_n(&t->compress, opts->compress, __ATOMIC_RELAXED);
        t->compress_level = opts->compress_level;
        t->compress_threshold = opts->compress_threshold;
        t->hist_max_bytes = opts->history_bytes ? opts->history_bytes : DTS_HISTORY_BYTES;
        while (t->hist_n && (!t->reliable || t->hist_bytes > t->hist_max_bytes))
            hist_drop_oldest(n, t);
    }
    pthread_mutex_unlock(&n->mu);
    return err;
}
