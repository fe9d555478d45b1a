// frag.c: fragment header and reassembly (docs/spec/wire.md, "Fragments").
//
// A message longer than one datagram travels as fragments that share the
// frame header fields of the message (type, schema, sender, seq, time) and
// carry a 16-byte fragment header: the message length, the fragment's
// offset, and the fragment size used by the sender (all fragments but the
// last carry exactly that many bytes). So a fragment's index is off /
// frag_size and a receiver keeps one bit per fragment.
//
// Memory is bounded before it is spent: a slot's buffer is allocated when
// its first fragment arrives, charged at its full size (a kept buffer
// reused for a message is at most twice its length), and the table never
// holds more than max_bytes; a message that alone exceeds the bound is
// refused. Buffers are not zeroed: only the bytes fragments wrote
// are ever delivered, and only once all are written.
#include "wire/frag.h"

#include <stdlib.h>
#include <string.h>

void
dtsi_frag_hdr_encode(const dtsi_frag_hdr *f, uint8_t out[DTSI_FRAG_HDR_SIZE])
{
    dtsi_put_u32(out, f->msg_len);
    dtsi_put_u32(out + 4, f->off);
    dtsi_put_u32(out + 8, f->frag_size);
    dtsi_put_u32(out + 12, 0);
}

const char *
dtsi_frag_hdr_decode(const uint8_t *p, size_t plen, uint32_t msg_max, dtsi_frag_hdr *f,
                     size_t *data_len)
{
    if (plen < DTSI_FRAG_HDR_SIZE + 1) return "fragment shorter than its header plus one byte";
    f->msg_len = dtsi_get_u32(p);
    f->off = dtsi_get_u32(p + 4);
    f->frag_size = dtsi_get_u32(p + 8);
    f->reserved = dtsi_get_u32(p + 12);
    size_t n = plen - DTSI_FRAG_HDR_SIZE;
    if (f->reserved != 0) return "fragment reserved field not zero";
    if (f->msg_len == 0 || f->msg_len > msg_max) return "message length out of bounds";
    if (f->frag_size == 0 || f->frag_size >= f->msg_len) return "fragment size out of bounds";
    if (f->frag_size < DTSI_FRAG_SIZE_MIN &&
        ((uint64_t)f->msg_len + f->frag_size - 1) / f->frag_size > DTSI_FRAG_MANY)
        return "fragments too small for the message";
    if (f->off % f->frag_size != 0) return "fragment offset not a multiple of the fragment size";
    if (f->off >= f->msg_len || n > f->msg_len - f->off) return "fragment beyond the message";
    uint64_t end = (uint64_t)f->off + n;
    if (end < f->msg_len ? n != f->frag_size : n > f->frag_size)
        return "fragment of the wrong size";
    *data_len = n;
    return NULL;
}

_Static_assert(DTSI_REASM_SPARES <= DTSI_BUFKEEP_MAX && DTSI_REASM_NEXT <= DTSI_BUFKEEP_MAX,
               "kept buffer sets too large");

static void
release(uint8_t *b)
{
    free(b);
}

int
dtsi_reasm_init(dtsi_reasm *r, size_t max_slots, size_t max_bytes, uint32_t timeout_ms,
                dtsi_reasm_lost_fn lost, void *ud)
{
    memset(r, 0, sizeof *r);
    r->slots = calloc(max_slots, sizeof *r->slots);
    if (!r->slots) return -1;
    r->max_slots = max_slots;
    r->max_bytes = max_bytes;
    r->timeout_ms = timeout_ms;
    r->lost = lost;
    r->lost_ud = ud;
    r->spare = (dtsi_bufkeep){
        .max_n = DTSI_REASM_SPARES,
        .max_bytes = max_bytes < DTSI_REASM_SPARE_BYTES ? max_bytes : DTSI_REASM_SPARE_BYTES,
        .release = release};
    r->next = r->spare;
    r->next.max_n = DTSI_REASM_NEXT;
    return 0;
}

// slot_drop frees slot i and moves the last slot into its place; why < 0
// means completed (no loss reported). The freed slot goes past the last
// one with its bitmap, which the next message opened there reuses.
static void
slot_drop(dtsi_reasm *r, size_t i, int why)
{
    dtsi_reasm_slot *s = &r->slots[i];
    if (why >= 0 && r->lost) r->lost(r->lost_ud, s, (dtsi_lost_reason)why);
    if (s->buf) dtsi_reasm_recycle(r, s->buf, s->cap);
    s->buf = NULL;
    r->bytes -= s->charged;
    if (s->bitmap_cap > DTSI_REASM_BITMAP_KEEP) {
        free(s->bitmap);
        s->bitmap = NULL;
        s->bitmap_cap = 0;
    }
    dtsi_reasm_slot gone = *s;
    r->slots[i] = r->slots[--r->n_slots];
    r->slots[r->n_slots] = gone;
}

void
dtsi_reasm_fini(dtsi_reasm *r)
{
    while (r->n_slots) slot_drop(r, r->n_slots - 1, -1);
    for (size_t i = 0; r->slots && i < r->max_slots; i++) free(r->slots[i].bitmap);
    dtsi_bufkeep_clear(&r->spare);
    dtsi_bufkeep_clear(&r->next);
    free(r->slots);
    r->slots = NULL;
}

static size_t
oldest_slot(const dtsi_reasm *r)
{
    size_t o = 0;
    for (size_t i = 1; i < r->n_slots; i++)
        if (r->slots[i].last_ms < r->slots[o].last_ms) o = i;
    return o;
}

// spare_take returns the smallest kept buffer that holds len bytes and is
// at most twice as large and at most max bytes (its size in *cap), else a
// new one. Reusing one spares a large message the page faults of fresh
// memory (16,000 for 64 MiB) and the allocation; a small message given a
// kept 64 MiB buffer would hold far more than it is charged for.
static uint8_t *
spare_take(dtsi_reasm *r, size_t len, size_t max, size_t *cap)
{
    if (max > 2 * len) max = 2 * len;
    if (r->take && r->take_cap >= len && r->take_cap <= max) { // dtsi_reasm_add_placed
        uint8_t *b = r->take;
        *cap = r->take_cap;
        r->take = NULL;
        return b;
    }
    uint8_t *b = dtsi_bufkeep_take_within(&r->spare, len, max, cap);
    if (b) return b;
    r->allocs++;
    *cap = len;
    return dtsi_big_alloc(len);
}

// dtsi_reasm_recycle takes back a message buffer of cap bytes and keeps it
// for the next messages (r->spare), or frees it.
void
dtsi_reasm_recycle(dtsi_reasm *r, uint8_t *buf, size_t cap)
{
    if (buf && !dtsi_bufkeep_put(&r->spare, buf, cap)) free(buf);
}

// slot_open makes room within the bounds (evicting the least recently
// active messages) and opens a slot for the message of this fragment.
static dtsi_reasm_slot *
slot_open(dtsi_reasm *r, const dtsi_hdr *h, const dtsi_frag_hdr *f, int64_t now)
{
    if (f->msg_len > r->max_bytes || r->max_slots == 0) {
        r->too_big++;
        return NULL;
    }
    while (r->n_slots && (r->n_slots == r->max_slots || r->bytes + f->msg_len > r->max_bytes))
        slot_drop(r, oldest_slot(r), DTSI_LOST_EVICTED);
    uint32_t n_frags = (uint32_t)(((uint64_t)f->msg_len + f->frag_size - 1) / f->frag_size);
    dtsi_reasm_slot *s = &r->slots[r->n_slots];
    size_t bm_len = (n_frags + 7) / 8, cap = 0;
    // The fragment map is not charged: with fragments of at least
    // DTSI_FRAG_SIZE_MIN bytes beyond DTSI_FRAG_MANY of them it is at most
    // a 2048th of its message, or 2 KiB, and a closed slot keeps at most
    // DTSI_REASM_BITMAP_KEEP bytes of it.
    uint8_t *bitmap = s->bitmap; // the bitmap of the message that was here last
    size_t bitmap_cap = s->bitmap_cap;
    if (bitmap_cap < bm_len) {
        free(bitmap);
        bitmap = malloc(bm_len);
        bitmap_cap = bitmap ? bm_len : 0;
        r->allocs++;
    }
    uint8_t *buf = bitmap ? spare_take(r, f->msg_len, r->max_bytes - r->bytes, &cap) : NULL;
    if (!buf) {
        s->bitmap = bitmap;
        s->bitmap_cap = bitmap_cap;
        return NULL;
    }
    memset(bitmap, 0, bm_len);
    r->n_slots++;
    r->spare_used_ms = now; // the kept buffers are in use (dtsi_reasm_expire)
    *s = (dtsi_reasm_slot){.instance = h->instance,
                           .type_id = h->type_id,
                           .seq = h->seq,
                           .msg_len = f->msg_len,
                           .frag_size = f->frag_size,
                           .n_frags = n_frags,
                           .buf = buf,
                           .cap = cap,
                           .bitmap = bitmap,
                           .bitmap_cap = bitmap_cap,
                           .charged = cap,
                           .gen = ++r->gen,
                           .started_ms = now,
                           .last_ms = now,
                           .hdr = *h};
    r->bytes += s->charged;
    if (r->bytes > r->peak_bytes) r->peak_bytes = r->bytes;
    return s;
}

// drop_older_of_sender abandons partial messages of the same sender and
// type with a lower sequence number (latest-only mode).
static void
drop_older_of_sender(dtsi_reasm *r, const dtsi_hdr *h)
{
    for (size_t i = 0; i < r->n_slots;) {
        dtsi_reasm_slot *s = &r->slots[i];
        if (s->instance == h->instance && s->type_id == h->type_id && s->seq < h->seq)
            slot_drop(r, i, DTSI_LOST_SUPERSEDED);
        else
            i++;
    }
}

// slot_holds says whether slot c holds the message of fragment header h
// (its id: instance, type, seq, kind, corr).
static int
slot_holds(const dtsi_reasm_slot *c, const dtsi_hdr *h)
{
    return c->seq == h->seq && c->instance == h->instance && c->type_id == h->type_id &&
           c->hdr.kind == h->kind && c->hdr.corr == h->corr;
}

int
dtsi_reasm_room(const dtsi_reasm *r, const dtsi_hdr *h, uint32_t msg_len, size_t max_kind)
{
    size_t same_kind = 0;
    for (size_t i = 0; i < r->n_slots; i++) {
        const dtsi_reasm_slot *c = &r->slots[i];
        if (slot_holds(c, h)) return 1;
        same_kind += c->hdr.kind == h->kind;
    }
    return same_kind < max_kind && r->n_slots < r->max_slots && r->bytes + msg_len <= r->max_bytes;
}

// data is where the fragment's bytes are: in place already when it is the
// slot's buffer at f->off (dtsi_reasm_add_placed).
dtsi_reasm_rc
dtsi_reasm_add(dtsi_reasm *r, const dtsi_hdr *h, const dtsi_frag_hdr *f, const uint8_t *data,
               size_t data_len, int64_t now_ms, int latest_only, uint8_t **out, dtsi_hdr *out_hdr)
{
    dtsi_reasm_slot *s = NULL;
    size_t i;
    r->last_opened = 0;
    for (i = 0; i < r->n_slots; i++) {
        if (slot_holds(&r->slots[i], h)) {
            s = &r->slots[i];
            break;
        }
    }
    if (!s) {
        if (latest_only) drop_older_of_sender(r, h);
        s = slot_open(r, h, f, now_ms);
        if (!s) return DTSI_REASM_REJECT;
        r->last_opened = 1;
        i = (size_t)(s - r->slots);
    } else if (s->msg_len != f->msg_len || s->frag_size != f->frag_size) {
        return DTSI_REASM_REJECT;
    }
    uint32_t idx = f->off / f->frag_size;
    if (s->bitmap[idx / 8] & (1u << (idx % 8))) {
        r->dup_frags++;
        return DTSI_REASM_DUP;
    }
    s->bitmap[idx / 8] |= (uint8_t)(1u << (idx % 8));
    if (idx > s->next_idx && s->type_id) {
        uint32_t run = idx - s->next_idx;
        if (r->last_opened)
            r->skipped_open += run;
        else
            r->skipped += run;
        r->skipped_run = run;
    }
    if (idx >= s->next_idx) s->next_idx = idx + 1;
    if (data != s->buf + f->off) memcpy(s->buf + f->off, data, data_len);
    s->got++;
    s->last_ms = now_ms;
    if (s->type_id) {              // data: placement guesses its next fragments (control is rare)
        if (r->hint.gen != s->gen) // another message than the last fragment's
            r->hint = (dtsi_reasm_place){.instance = s->instance,
                                         .type_id = s->type_id,
                                         .seq = s->seq,
                                         .gen = s->gen,
                                         .corr = s->hdr.corr,
                                         .msg_len = s->msg_len,
                                         .frag_size = s->frag_size,
                                         .kind = s->hdr.kind};
        r->hint.off = f->off + f->frag_size;
    }
    if (s->got < s->n_frags) return DTSI_REASM_PENDING;
    *out = s->buf;
    *out_hdr = s->hdr;
    r->done_nacks = s->nacks;
    r->done_cap = s->cap;
    s->buf = NULL;
    r->completed++;
    slot_drop(r, i, -1);
    return DTSI_REASM_DONE;
}

static dtsi_reasm_slot *
slot_of_gen(dtsi_reasm *r, uint64_t gen)
{
    for (size_t i = 0; i < r->n_slots; i++)
        if (r->slots[i].gen == gen) return &r->slots[i];
    return NULL;
}

// plan_run adds guesses for the fragments of message m from offset off
// on, in buf, while there is room and they are not held (bitmap, when m
// has a slot).
static void
plan_run(dtsi_reasm *r, const dtsi_reasm_place *m, uint32_t off, uint8_t *buf,
         const uint8_t *bitmap, size_t max)
{
    for (; r->n_plan < max && off < m->msg_len; off += m->frag_size) {
        uint32_t idx = off / m->frag_size;
        if (bitmap && (bitmap[idx / 8] & (1u << (idx % 8))))
            break; // held: a repair, not the stream
        dtsi_reasm_place *p = &r->plan[r->n_plan++];
        *p = *m;
        p->off = off;
        p->len = m->msg_len - off < m->frag_size ? m->msg_len - off : m->frag_size;
        p->dst = buf + off;
    }
}

size_t
dtsi_reasm_plan(dtsi_reasm *r, size_t max)
{
    r->n_plan = 0;
    if (!r->hint.gen) return 0;
    if (max > DTSI_REASM_PLAN_MAX) max = DTSI_REASM_PLAN_MAX;
    dtsi_reasm_slot *s = slot_of_gen(r, r->hint.gen);
    if (s) {
        plan_run(r, &r->hint, r->hint.off, s->buf, s->bitmap, max);
        if (r->n_plan == max || r->hint.off + (size_t)r->n_plan * r->hint.frag_size < s->msg_len)
            return r->n_plan; // the rest of this message fills the batch, or a gap ends it
    }
    // Then the sender's next messages, if they are as long: a stream of
    // DATA (camera frames, say), each into a buffer set aside for it. Those
    // go back to the spares once delivered, so a steady stream soon has
    // enough buffers and allocates no more.
    if (r->hint.kind != DTSI_KIND_DATA) return r->n_plan;
    dtsi_reasm_place m = r->hint;
    m.gen = 0;
    for (size_t j = 0; j < DTSI_REASM_NEXT && r->n_plan < max; j++) {
        dtsi_bufkeep *x = &r->next;
        while (j < x->n && x->cap[j] < m.msg_len) { // set aside for shorter ones
            uint8_t *b = x->buf[j];
            size_t cap = x->cap[j];
            dtsi_bufkeep_remove(x, j);
            dtsi_reasm_recycle(r, b, cap);
        }
        if (j == x->n) { // one more set aside: kept, or new (it comes back as a spare)
            size_t cap;
            if (x->bytes + m.msg_len > x->max_bytes) break;
            uint8_t *b = spare_take(r, m.msg_len, x->max_bytes - x->bytes, &cap);
            if (!b) break;
            dtsi_bufkeep_add(x, b, cap);
        }
        m.seq = r->hint.seq + 1 + j;
        plan_run(r, &m, 0, r->next.buf[j], NULL, max);
    }
    return r->n_plan;
}

int
dtsi_reasm_plan_match(const dtsi_reasm *r, size_t i, const dtsi_hdr *h, const dtsi_frag_hdr *f,
                      size_t data_len)
{
    if (i >= r->n_plan) return 0;
    const dtsi_reasm_place *p = &r->plan[i];
    return h->instance == p->instance && h->type_id == p->type_id && h->seq == p->seq &&
           h->kind == p->kind && h->corr == p->corr && f->msg_len == p->msg_len &&
           f->frag_size == p->frag_size && f->off == p->off && data_len == p->len;
}

dtsi_reasm_rc
dtsi_reasm_add_placed(dtsi_reasm *r, size_t i, const dtsi_hdr *h, const dtsi_frag_hdr *f,
                      int64_t now_ms, int latest_only, uint8_t **out, dtsi_hdr *out_hdr)
{
    dtsi_reasm_place *p = &r->plan[i];
    r->last_opened = 0;
    for (size_t j = 0; p->gen == 0 && j < r->next.n; j++) {
        if (p->dst != r->next.buf[j] + p->off) continue;
        // The first of a next message's fragments to come: its slot opens
        // with next.buf[j] (unless one opened meanwhile: copied then, it
        // stays set aside and intact). The other guesses into it now
        // belong to that slot.
        uint8_t *buf = r->next.buf[j];
        r->take = buf;
        r->take_cap = r->next.cap[j];
        dtsi_reasm_rc rc =
            dtsi_reasm_add(r, h, f, p->dst, p->len, now_ms, latest_only, out, out_hdr);
        if (r->take) { // copied into the slot that was there
            r->take = NULL;
            return rc;
        }
        dtsi_bufkeep_remove(&r->next, j);
        r->placed++;
        for (size_t k = 0; k < r->n_plan; k++)
            if (r->plan[k].gen == 0 && r->plan[k].dst == buf + r->plan[k].off)
                r->plan[k].gen = r->gen;
        return rc;
    }
    dtsi_reasm_slot *s = p->gen ? slot_of_gen(r, p->gen) : NULL;
    if (!s || s->buf + p->off != p->dst) { // its message went; the bytes may not be its own
        r->placed_stale++;
        r->dup_frags++;
        return DTSI_REASM_DUP;
    }
    r->placed++;
    return dtsi_reasm_add(r, h, f, p->dst, p->len, now_ms, latest_only, out, out_hdr);
}

size_t
dtsi_reasm_expire(dtsi_reasm *r, int64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_slots;) {
        if (now_ms - r->slots[i].last_ms > (int64_t)r->timeout_ms) {
            slot_drop(r, i, DTSI_LOST_TIMEOUT);
            n++;
        } else {
            i++;
        }
    }
    if ((r->spare.n || r->next.n) && now_ms - r->spare_used_ms > DTSI_REASM_SPARE_IDLE_MS) {
        dtsi_bufkeep_clear(&r->spare);
        dtsi_bufkeep_clear(&r->next);
    }
    return n;
}
