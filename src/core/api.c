// api.c: the application-facing calls that are not lifecycle: declaring
// types, publishing, subscribing, queries and introspection. Each takes the
// node lock, changes state, and wakes the loop, which does the I/O.
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/log.h"
#include "core/node.h"

static void
node_wake(dts_node *n)
{
    uv_async_send(&n->wake);
}

// on_loop_thread says whether the caller is the thread running the loop
// right now, where blocking calls would deadlock.
static int
on_loop_thread(dts_node *n)
{
    if (n->cfg.run_mode == DTS_RUN_THREAD)
        return __atomic_load_n(&n->loop_tid_set, __ATOMIC_ACQUIRE) &&
               pthread_equal(n->loop_tid, pthread_self());
    return n->in_loop_cb > 0;
}

// type_by_name finds a type by its exact name. Only valid names are ever
// stored, so an exact match needs no validation of its own (this runs on
// every publish).
static dtsi_type *
type_by_name(dts_node *n, const char *name)
{
    if (!name[0]) return NULL; // types known only by id have the name ""
    dtsi_type *t = dtsi_type_find(n, dts_type_id(name));
    return t && strcmp(t->name, name) == 0 ? t : NULL;
}

static int wait_until(dts_node *n, int (*done)(dts_node *, void *), void *arg, int timeout_ms);

static int
membership_clean(dts_node *n, void *arg)
{
    return !n->membership_dirty;
}

// wait_membership makes declare and subscribe synchronous where that is
// possible: when the loop runs on the node's own thread, the call returns
// once the loop has joined the channels (bounded by a second). In the other
// run modes the join happens at the next loop step.
static void
wait_membership(dts_node *n)
{
    if (n->cfg.run_mode != DTS_RUN_THREAD || on_loop_thread(n)) return;
    dtsi_lock(&n->mu);
    wait_until(n, membership_clean, NULL, 1000);
    pthread_mutex_unlock(&n->mu);
}

// ---------------------------------------------------------------------------
// Types

dts_err
dts_type_declare(dts_node *n, const char *name, dts_format format, const void *schema,
                 size_t schema_len)
{
    if (!n || !dts_name_valid(name) || (unsigned)format >= DTS_FORMAT_COUNT_) return DTS_EINVAL;
    if (schema_len > DTS_SCHEMA_MAX) return DTS_ETOOBIG;
    if (schema_len && !schema) return DTS_EINVAL;
    uint64_t sid = dts_schema_id(format, schema, schema_len);
    dtsi_lock(&n->mu);
    dts_err err = DTS_OK;
    dtsi_type *t = n->closing ? NULL : dtsi_type_get(n, dts_type_id(name), name, strlen(name));
    if (!t) {
        err = n->closing ? DTS_ECLOSED : DTS_ENOMEM;
    } else if (strcmp(t->name, name) != 0) {
        err = DTS_EEXIST; // another name with the same 64-bit id
    } else if (t->declared) {
        err = (t->format == (int)format && t->schema_id == sid) ? DTS_OK : DTS_EEXIST;
    } else {
        t->schema = schema_len ? malloc(schema_len) : NULL;
        if (schema_len && !t->schema) {
            err = DTS_ENOMEM;
        } else {
            if (schema_len) memcpy(t->schema, schema, schema_len);
            t->schema_len = schema_len;
            t->format = (int)format;
            t->schema_id = sid;
            __atomic_store_n(&t->declared, 1, __ATOMIC_RELEASE);
            n->membership_dirty = 1;
            dtsi_disc_type_declared(n, t);
            dtsi_disc_members_changed(n);
        }
    }
    pthread_mutex_unlock(&n->mu);
    if (err == DTS_OK) {
        node_wake(n);
        wait_membership(n);
    }
    return err;
}

// ---------------------------------------------------------------------------
// Publish

// publish_now sends a message at once, from the caller's thread, when that
// thread is the one that runs the loop (DTS_RUN_CALLER, outside a
// callback: callbacks' messages leave when their datagram is done) and the
// publisher is idle: the loop ran since its last publish, or nothing was
// published in the last DTSI_IDLE_PUBLISH_US. A request-response exchange
// then pays no round through the wake handle, even when its round trips
// are shorter than that. A burst stays queued and is packed when the loop
// runs. Lock held.
static int
publish_now(dts_node *n)
{
    if (n->cfg.run_mode != DTS_RUN_CALLER || n->in_loop_cb ||
        !__atomic_load_n(&n->loop_tid_set, __ATOMIC_ACQUIRE) ||
        !pthread_equal(n->loop_tid, pthread_self()))
        return 0; // the clock is read only where it decides something
    int64_t now = dtsi_mono_us();
    int idle = now - n->last_publish_us > DTSI_IDLE_PUBLISH_US || n->steps != n->publish_steps;
    n->last_publish_us = now;
    n->publish_steps = n->steps;
    if (!idle) return 0;
    dtsi_send_now(n);
    return n->q_len == 0;
}

// queue_drain_us is about how long the loop needs to send what is queued,
// at the pacing rate. Lock held.
static uint64_t
queue_drain_us(dts_node *n)
{
    uint64_t rate = n->pace_rate ? n->pace_rate : DTS_PACE_DEFAULT;
    return (uint64_t)(n->q_bytes + dtsi_ring_used(n)) * 1000000u / rate;
}

// nothing_queued says whether the send queue and the publish ring are
// empty. Lock held.
static int
nothing_queued(dts_node *n)
{
    return n->q_len == 0 && dtsi_ring_used(n) == 0;
}

// type_declared_unlocked finds a type this node declared, by name, without
// the node's lock: types are only ever added (dtsi_type_get publishes each
// with a release store) and freed with the node, and a declared type's
// name, id and schema id no longer change (dts_type_declare sets declared
// last, with a release store).
static dtsi_type *
type_declared_unlocked(dts_node *n, const char *name)
{
    uint64_t id = dts_type_id(name);
    dtsi_type *t = __atomic_load_n(&n->types[id % DTSI_TYPE_BUCKETS], __ATOMIC_ACQUIRE);
    while (t && t->id != id) t = t->next;
    if (!t || !__atomic_load_n(&t->declared, __ATOMIC_ACQUIRE) || strcmp(t->name, name) != 0)
        return NULL;
    return t;
}

// publish_ring publishes a small value from a thread other than the loop's
// through the publish ring (node.h): the frame is written there and the
// loop woken, without the node's lock. DTS_EBUSY: the value does not go
// that way (too large, compressed, reliable, not declared, the loop's own
// thread, another run mode, a closing node): publish as usual, which
// gives the error if there is one. DTS_EQUEUE:
// the ring is full.
static dts_err
publish_ring(dts_node *n, const char *type, const void *data, size_t len)
{
    dtsi_ring *r = &n->ring;
    if (!r->buf || len > DTSI_RING_PAYLOAD_MAX || len > n->cfg.payload_max ||
        DTSI_HDR_SIZE + len > n->max_dgram || pthread_equal(pthread_self(), n->thread))
        return DTS_EBUSY;
    dtsi_type *t = type_declared_unlocked(n, type);
    if (!t || __atomic_load_n(&t->reliable, __ATOMIC_RELAXED) ||
        __atomic_load_n(&t->compress, __ATOMIC_RELAXED))
        return DTS_EBUSY;
    dtsi_hdr h = {.kind = DTSI_KIND_DATA,
                  .payload_len = (uint32_t)len,
                  .type_id = t->id,
                  .schema_id = t->schema_id,
                  .instance = n->instance,
                  .host = n->host,
                  .sent_ns = dts_now_ns()};
    size_t flen = DTSI_HDR_SIZE + len;
    dtsi_ring_lock(r);
    if (__atomic_load_n(&n->closing, __ATOMIC_RELAXED)) {
        dtsi_ring_unlock(r);
        return DTS_EBUSY; // which says DTS_ECLOSED
    }
    size_t pos = r->tail, off = pos % r->cap;
    size_t skip = r->cap - off < flen ? r->cap - off : 0; // a frame does not wrap
    if (pos + skip + flen - r->head_seen > r->cap) {
        r->head_seen = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
        if (pos + skip + flen - r->head_seen > r->cap) {
            dtsi_ring_unlock(r);
            return DTS_EQUEUE;
        }
    }
    if (skip) {
        r->buf[off] = 0; // the skip mark (dtsi_ring_skips)
        pos += skip;
        off = 0;
    }
    // Ask now for the cache lines that the frames after this one will fill
    // (the loop's core read them last): perf showed a third of the time of
    // a publisher of 64-byte values in the exchange below, which waits for
    // this frame's stores to reach lines taken back from the loop's core.
    if (pos + flen + DTSI_RING_PREFETCH + flen - r->head_seen <= r->cap) {
        size_t ahead = off + flen + DTSI_RING_PREFETCH;
        for (size_t a = ahead & ~(size_t)63; a < ahead + flen; a += 64)
            dtsi_prefetch_write(r->buf + a % r->cap);
    }
    h.seq = __atomic_load_n(&t->next_seq, __ATOMIC_RELAXED);
    __atomic_store_n(&t->next_seq, h.seq + 1, __ATOMIC_RELAXED);
    dtsi_hdr_encode(&h, r->buf + off);
    if (len) memcpy(r->buf + off + DTSI_HDR_SIZE, data, len);
    __atomic_store_n(&r->published, r->published + 1, __ATOMIC_RELAXED); // read unlocked
    // Sequentially consistent (a locked exchange on x86): the tail must be
    // visible before uv_async_send reads, relaxed, whether a wake-up is
    // pending, since the loop clears that flag and then reads the tail.
    // Released only, the last value of a burst could wait for the next event.
    __atomic_store_n(&r->tail, pos + flen, __ATOMIC_SEQ_CST);
    dtsi_ring_unlock(r);
    node_wake(n);
    return DTS_OK;
}

// publish_compress compresses a payload of a type that asks for it; on
// success *data and *len describe the framed compressed bytes and the
// returned buffer (to free) is not NULL. Lock held.
static void *
publish_compress(dts_node *n, dtsi_type *t, const void **data, size_t *len)
{
    const dts_compressor *c = n->cfg.compressor;
    if (!t->compress || !c) return NULL;
    void *out = NULL;
    size_t out_len = 0;
    size_t thr = t->compress_threshold ? t->compress_threshold : 1024;
    if (c->compress(t->compress, t->compress_level, thr, *data, *len, &out, &out_len) != DTS_OK ||
        !out)
        return NULL;
    *data = out;
    *len = out_len;
    return out;
}

// A frame filled before publish takes the lock: a copy of a large payload
// made with the lock released (the loop thread, which needs the lock
// between sends, then does not wait for the copy: perf showed futex waits
// on both threads at 16 KiB), or a loan (dts_loan) the caller built the
// value in. frame is NULL once the node owns it.
typedef struct prefilled {
    uint8_t *frame;
    int pooled, loan;
    // dts_publish_wait of a large value: send it from the caller's buffer
    // on this thread when nothing is queued (dtsi_send_borrowed), until
    // end_us; declined says it could not, and nothing was queued.
    int borrow, declined;
    int64_t end_us, drain_us;
} prefilled;

static void
prefill_copy(dts_node *n, const char *type, const void *data, size_t len, prefilled *pf)
{
    *pf = (prefilled){0};
    if (len < DTSI_COPY_UNLOCKED) return;
    dtsi_lock(&n->mu);
    dtsi_type *t = type_by_name(n, type);
    if (t && t->declared && !t->compress && len <= n->cfg.payload_max)
        pf->frame = dtsi_frame_get(n, len, &pf->pooled);
    pthread_mutex_unlock(&n->mu);
    if (pf->frame) memcpy(pf->frame + DTSI_HDR_SIZE, data, len);
}

// prefill_drop gives back a copy the node did not take (a loan stays the
// caller's).
static void
prefill_drop(dts_node *n, prefilled *pf)
{
    if (!pf->frame || pf->loan) return;
    dtsi_lock(&n->mu);
    dtsi_frame_put(n, pf->frame, pf->pooled);
    pthread_mutex_unlock(&n->mu);
    pf->frame = NULL;
}

// publish queues one value (dts_publish), from pf->frame when it holds it;
// a full queue counts as a drop when count_full, and not when the caller
// will wait and try again.
static dts_err
publish(dts_node *n, const char *type, const void *data, size_t len, int count_full, prefilled *pf)
{
    if (!n || !type || (len && !data)) return DTS_EINVAL;
    if (!pf->frame && !pf->borrow) {
        dts_err err = publish_ring(n, type, data, len);
        // A full ring: a caller that waits (dts_publish_wait) waits; one that
        // does not has the queue behind it.
        if (err == DTS_OK || (err == DTS_EQUEUE && !count_full)) return err;
    }
    const void *orig = data; // the last-value cache keeps it uncompressed
    size_t orig_len = len;
    dtsi_lock(&n->mu);
    dts_err err = DTS_OK;
    dtsi_type *t = type_by_name(n, type);
    if (n->closing) {
        err = DTS_ECLOSED;
    } else if (!t || !t->declared) {
        err = DTS_ENOENT;
    } else if (len > n->cfg.payload_max) {
        err = DTS_ETOOBIG;
    } else if (pf->borrow && (t->compress || !n->tp || DTSI_HDR_SIZE + len <= n->max_dgram ||
                              (!nothing_queued(n) && n->cfg.run_mode != DTS_RUN_THREAD))) {
        // (Without a loop thread of its own, nothing would empty the queue
        // while this one waited for it.)
        pf->declined = 1;
        pthread_mutex_unlock(&n->mu);
        return DTS_EBUSY;
    } else if (pf->borrow && !nothing_queued(n)) { // behind what is queued: wait, or copy
        pf->drain_us = (int64_t)queue_drain_us(n);
        pthread_mutex_unlock(&n->mu);
        return DTS_EBUSY;
    } else if (n->q_len >= n->cfg.queue_max || (!count_full && n->cfg.run_mode == DTS_RUN_THREAD &&
                                                n->q_bytes >= DTSI_WAIT_QUEUE_BYTES)) {
        err = DTS_EQUEUE;
    } else {
        void *packed = publish_compress(n, t, &data, &len);
        // The sequence number and the queue, in the order of the ring's
        // producers: the flush first waits out a send from the ring, so that
        // the one under the ring's lock does not wait.
        dtsi_ring_flush(n);
        if (n->ring.buf) dtsi_ring_lock(&n->ring);
        dtsi_hdr h = {.kind = DTSI_KIND_DATA,
                      .flags = (uint16_t)((t->reliable ? DTSI_FLAG_RELIABLE : 0) |
                                          (packed ? DTSI_FLAG_COMPRESSED : 0)),
                      .type_id = t->id,
                      .schema_id = t->schema_id,
                      .seq = t->next_seq,
                      .sent_ns = dts_now_ns()};
        if (pf->borrow && n->q_len != 0) {
            err = DTS_EBUSY; // a loan its thread sends must be the head: the ring's came first
        } else if (pf->frame && !packed) {
            err = dtsi_enqueue_frame(n, t->id, &h, pf->frame, pf->pooled, len);
            if (err == DTS_OK) pf->frame = NULL; // the queue's now
            // A loan this thread sends must be the head; values a producer
            // wrote to the ring just before its lock was taken here went
            // first (the queue's flush), and then the loop sends it.
            if (err == DTS_OK && pf->borrow && n->q_len == 1)
                n->q[n->q_head].by_caller = 1;
            else if (err == DTS_OK)
                pf->borrow = 0;
        } else if (pf->borrow) {
            err = dtsi_enqueue_borrowed(n, t->id, &h, data, len);
        } else {
            err = dtsi_enqueue(n, t->id, &h, data, len);
        }
        if (err == DTS_OK) __atomic_store_n(&t->next_seq, h.seq + 1, __ATOMIC_RELAXED);
        if (n->ring.buf) dtsi_ring_unlock(&n->ring);
        if (err == DTS_OK) {
            dtsi_rel_store(n, t, &h, data, len);
            if (n->cfg.last_value_cache)
                dtsi_lvc_store(n, t, orig, orig_len, h.seq, h.sent_ns, !packed);
            if (packed) t->c.compressed++;
        }
        if (packed) n->cfg.compressor->free_buf(packed);
        if (err == DTS_EBUSY) { // values came through the ring meanwhile: wait, or copy
            pf->drain_us = (int64_t)queue_drain_us(n);
            pthread_mutex_unlock(&n->mu);
            return DTS_EBUSY;
        }
    }
    if (err == DTS_OK && pf->frame) { // a loan whose value went compressed
        dtsi_frame_put(n, pf->frame, pf->pooled);
        pf->frame = NULL;
    }
    if (err == DTS_EQUEUE && count_full) t->c.dropped_queue_full++;
    if (err == DTS_OK && pf->borrow) { // sends it, and wakes the loop if need be
        dtsi_send_borrowed(n, pf->end_us);
        pthread_mutex_unlock(&n->mu);
        return DTS_OK;
    }
    int sent_now = err == DTS_OK && publish_now(n);
    // A callback's message leaves when its datagram is done (node_on_recv
    // sends what is queued then): waking the loop would cost two more
    // system calls per answer.
    int at_datagram_end = n->in_recv && on_loop_thread(n);
    pthread_mutex_unlock(&n->mu);
    if (err == DTS_OK && !sent_now && !at_datagram_end) node_wake(n);
    return err;
}

dts_err
dts_publish(dts_node *n, const char *type, const void *data, size_t len)
{
    if (!n || !type || (len && !data)) return DTS_EINVAL;
    prefilled pf;
    prefill_copy(n, type, data, len, &pf);
    dts_err err = publish(n, type, data, len, 1, &pf);
    prefill_drop(n, &pf);
    return err;
}

// waits_on_cond says whether this thread waits for the loop on the
// condition variable, the loop running elsewhere: its own thread
// (DTS_RUN_THREAD), or the application's loop on the thread that opened the
// node (DTS_RUN_UV) when this is another thread, which must not run that
// loop too. Otherwise this thread runs the loop while it waits.
static int
waits_on_cond(const dts_node *n)
{
    return n->cfg.run_mode == DTS_RUN_THREAD ||
           (n->cfg.run_mode == DTS_RUN_UV && !pthread_equal(n->open_tid, pthread_self()));
}

// wait_until blocks until done(n, arg) or the deadline, either on the
// condition variable (waits_on_cond) or by running the loop here. Lock
// held on entry and exit. Returns 1 when done.
static int
wait_until(dts_node *n, int (*done)(dts_node *, void *), void *arg, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int64_t end_ms = dtsi_mono_ms() + timeout_ms;
    while (!done(n, arg)) {
        if (n->stopped) return 0;
        if (dtsi_interrupt_pending(n, 1)) return 0;
        if (waits_on_cond(n)) {
            if (pthread_cond_timedwait(&n->cond, &n->mu, &dl) == ETIMEDOUT) return done(n, arg);
        } else {
            int64_t left = end_ms - dtsi_mono_ms();
            if (left <= 0) return done(n, arg);
            pthread_mutex_unlock(&n->mu);
            dtsi_run_once(n, left);
            dtsi_lock(&n->mu);
        }
    }
    return 1;
}

static int
queue_empty(dts_node *n, void *arg)
{
    return nothing_queued(n);
}

dts_err
dts_flush(dts_node *n, int timeout_ms)
{
    if (!n || timeout_ms < 0) return DTS_EINVAL;
    if (on_loop_thread(n)) return DTS_EBUSY;
    dtsi_lock(&n->mu);
    node_wake(n);
    int ok = wait_until(n, queue_empty, NULL, timeout_ms);
    pthread_mutex_unlock(&n->mu);
    return ok ? DTS_OK : DTS_ETIMEDOUT;
}

static int
queue_has_room(dts_node *n, void *arg)
{
    (void)arg;
    return dtsi_queue_half_empty(n) || n->closing;
}

// publish_waiting publishes, waiting up to timeout_ms for room
// (dts_publish_wait). Where this thread runs the loop (waits_on_cond) it
// does so until the queue is half empty. With the loop elsewhere (its own
// thread, or the application's loop on another thread) it sleeps for about the time
// the loop takes to send a quarter of what is queued at the pacing rate
// (20 us to 5 ms), and tries again: measured, this keeps a queue of small
// messages fuller than waiting on the condition variable, whose wake-ups
// (a system call for the loop thread and a wake-up across cores for this
// one) took longer than the loop needs to drain half a queue of 64-byte
// messages (2.8 M against 4.5 M msg/s).
static dts_err
publish_waiting(dts_node *n, const char *type, const void *data, size_t len, int timeout_ms,
                prefilled *pf)
{
    // The clock is read only once the queue is full: at millions of small
    // messages a second, two clock reads per message cost a fifth.
    int loop_thread = on_loop_thread(n);
    dts_err err = publish(n, type, data, len, timeout_ms == 0 || loop_thread, pf);
    if (err != DTS_EQUEUE) return err;
    if (loop_thread) return DTS_EQUEUE; // a callback must not block the loop
    if (timeout_ms == 0) return DTS_ETIMEDOUT;
    int64_t end_ms = dtsi_mono_ms() + timeout_ms;
    for (;;) {
        uint64_t us = 0;
        dtsi_lock(&n->mu);
        if (!waits_on_cond(n)) {
            wait_until(n, queue_has_room, NULL, (int)(end_ms - dtsi_mono_ms()));
        } else {
            us = queue_drain_us(n) / 4;
            us = us < 20 ? 20 : us > 5000 ? 5000 : us;
        }
        int stopped = n->stopped, interrupted = dtsi_interrupt_pending(n, 1);
        pthread_mutex_unlock(&n->mu);
        if (stopped) return DTS_ECLOSED;
        if (interrupted) return DTS_ETIMEDOUT; // dts_node_interrupt
        if (us) dtsi_sleep_us(us);
        int64_t left = end_ms - dtsi_mono_ms();
        err = publish(n, type, data, len, left <= 0, pf);
        if (err != DTS_EQUEUE) return err;
        if (left <= 0) return DTS_ETIMEDOUT;
    }
}

// publish_borrowing publishes a large value that this thread then sends
// itself (dtsi_send_borrowed): from data without a copy (dts_publish_wait),
// or from the loan in pf->frame. It waits, up to timeout_ms, for what is
// queued to leave first. DTS_EBUSY: it could not (the value is small, or
// compressed, or the queue did not empty in time, or this is the loop
// thread), and nothing was queued; publish as usual within what is left of
// *timeout_ms.
static dts_err
publish_borrowing(dts_node *n, const char *type, const void *data, size_t len, int *timeout_ms,
                  prefilled *pf)
{
    if (len < DTSI_BORROW_MIN || on_loop_thread(n)) return DTS_EBUSY;
    pf->borrow = 1;
    pf->end_us = dtsi_mono_us() + (int64_t)*timeout_ms * 1000;
    for (;;) {
        dts_err err = publish(n, type, data, len, 1, pf);
        if (err != DTS_EBUSY) return err;
        if (pf->declined) break;
        int64_t wait = pf->drain_us < 20 ? 20 : pf->drain_us;
        if (dtsi_mono_us() + wait > pf->end_us) break;
        dtsi_sleep_us((uint64_t)wait);
    }
    int64_t left_ms = (pf->end_us - dtsi_mono_us()) / 1000;
    *timeout_ms = left_ms < 0 ? 0 : left_ms < *timeout_ms ? (int)left_ms : *timeout_ms;
    pf->borrow = pf->declined = 0;
    return DTS_EBUSY;
}

dts_err
dts_publish_wait(dts_node *n, const char *type, const void *data, size_t len, int timeout_ms)
{
    if (!n || !type || (len && !data) || timeout_ms < 0) return DTS_EINVAL;
    prefilled pf = {0};
    dts_err err = publish_borrowing(n, type, data, len, &timeout_ms, &pf);
    if (err != DTS_EBUSY) return err;
    prefill_copy(n, type, data, len, &pf);
    err = publish_waiting(n, type, data, len, timeout_ms, &pf);
    prefill_drop(n, &pf);
    return err;
}

// A loan is a frame buffer handed out with its header room marked: 'L' 'N',
// the pool class, 0xa5, and the capacity at byte 8 (dtsi_hdr_encode writes
// over it all when the frame is queued).
static uint8_t *
loan_frame(void *buf, size_t *cap, int *pooled)
{
    if (!buf) return NULL;
    uint8_t *f = (uint8_t *)buf - DTSI_HDR_SIZE;
    if (f[0] != 'L' || f[1] != 'N' || f[3] != 0xa5) return NULL;
    *pooled = f[2];
    memcpy(cap, f + 8, sizeof *cap);
    return f;
}

void *
dts_loan(dts_node *n, size_t len)
{
    if (!n || len == 0 || len > n->cfg.payload_max) return NULL;
    int pooled;
    dtsi_lock(&n->mu);
    uint8_t *f = dtsi_frame_get(n, len, &pooled);
    pthread_mutex_unlock(&n->mu);
    if (!f) return NULL;
    f[0] = 'L', f[1] = 'N', f[2] = (uint8_t)pooled, f[3] = 0xa5;
    memcpy(f + 8, &len, sizeof len);
    return f + DTSI_HDR_SIZE;
}

dts_err
dts_publish_loan(dts_node *n, const char *type, void *buf, size_t len, int timeout_ms)
{
    size_t cap;
    prefilled pf = {.loan = 1};
    if (!n || !type || timeout_ms < 0) return DTS_EINVAL;
    pf.frame = loan_frame(buf, &cap, &pf.pooled);
    if (!pf.frame || len > cap) return DTS_EINVAL;
    if (timeout_ms == 0) return publish(n, type, buf, len, 1, &pf);
    dts_err err = publish_borrowing(n, type, buf, len, &timeout_ms, &pf);
    if (err != DTS_EBUSY) return err;
    return publish_waiting(n, type, buf, len, timeout_ms, &pf);
}

void
dts_loan_return(dts_node *n, void *buf)
{
    size_t cap;
    int pooled;
    uint8_t *f = loan_frame(buf, &cap, &pooled);
    if (!n || !f) return;
    f[0] = 0; // a second return is ignored
    dtsi_lock(&n->mu);
    dtsi_frame_put(n, f, pooled);
    pthread_mutex_unlock(&n->mu);
}

// ---------------------------------------------------------------------------
// Subscribe

static int
pattern_valid(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || len > DTS_NAME_MAX) return 0;
    if (strpbrk(p, "*?") == NULL) return dts_name_valid(p);
    return dtsi_chars_valid(p, len, 1);
}

dts_err
dts_subscribe(dts_node *n, const char *pattern, dts_msg_cb cb, void *ud, dts_sub **out)
{
    if (!n || !pattern || !cb || !out || !pattern_valid(pattern)) return DTS_EINVAL;
    struct dts_sub *s = calloc(1, sizeof *s);
    if (!s) return DTS_ENOMEM;
    snprintf(s->pattern, sizeof s->pattern, "%s", pattern);
    s->exact = strpbrk(pattern, "*?") == NULL;
    s->type_id = s->exact ? dts_type_id(pattern) : 0;
    s->cb = cb;
    s->ud = ud;
    s->node = n;
    dtsi_lock(&n->mu);
    dts_err err = n->closing ? DTS_ECLOSED : DTS_OK;
    dtsi_type *t =
        err == DTS_OK && s->exact ? dtsi_type_get(n, s->type_id, pattern, strlen(pattern)) : NULL;
    if (err == DTS_OK && s->exact && !t) err = DTS_ENOMEM;
    if (t && !t->desc_interval_ms) dtsi_disc_type_declared(n, t); // describe its name too
    if (err == DTS_OK) {
        s->next = n->subs;
        n->subs = s;
        n->subs_gen++;
        n->membership_dirty = 1;
        dtsi_disc_members_changed(n);
    }
    pthread_mutex_unlock(&n->mu);
    if (err != DTS_OK) {
        free(s);
        return err;
    }
    node_wake(n);
    wait_membership(n);
    *out = s;
    return DTS_OK;
}

// sub_in_run says whether the run of callbacks going on (node_run_callbacks)
// has a call of s: the calls stay as they are until the run ends, and only
// the loop thread changes them, under the lock. Lock held.
static int
sub_in_run(const dts_node *n, const dts_sub *s)
{
    for (size_t i = 0; i < n->n_cb_calls; i++)
        if (n->cb_calls[i].sub == s) return 1;
    return 0;
}

void
dts_sub_close(dts_sub *s)
{
    if (!s) return;
    dts_node *n = s->node;
    dtsi_lock(&n->mu);
    // Marked closed now, so no further callback; freed at the next tick,
    // when no dispatch can still hold a pointer to it.
    __atomic_store_n(&s->closed, 1, __ATOMIC_RELEASE); // read by node_run_callbacks
    n->subs_gen++;
    n->membership_dirty = 1;
    dtsi_disc_members_changed(n);
    // Its callback may be running on the loop thread without the lock
    // (node_run_callbacks): if the run holds a call of it, wait for the run
    // to end, unless this is that thread, or this thread may hold the lock
    // more than once (a callback run under it, dtsi_in_locked_cb): the wait
    // would release it only once.
    n->cb_waiters++;
    while (n->cb_running && !pthread_equal(n->cb_tid, pthread_self()) && !dtsi_in_locked_cb &&
           sub_in_run(n, s))
        pthread_cond_wait(&n->cond, &n->mu);
    n->cb_waiters--;
    pthread_mutex_unlock(&n->mu);
    node_wake(n);
}

// ---------------------------------------------------------------------------
// Query

dts_err
dts_query_set_handler(dts_node *n, const char *type, dts_query_handler h, void *ud)
{
    if (!n || !type) return DTS_EINVAL;
    dtsi_lock(&n->mu);
    dtsi_type *t = type_by_name(n, type);
    dts_err err = t && t->declared ? DTS_OK : DTS_ENOENT;
    if (err == DTS_OK) {
        t->qh = h;
        t->qh_ud = ud;
    }
    pthread_mutex_unlock(&n->mu);
    return err;
}

typedef struct query_wait {
    dtsi_query *q;
    int wait_all;
} query_wait;

static int
query_done(dts_node *n, void *arg)
{
    query_wait *w = arg;
    return !w->wait_all && w->q->answers > 0;
}

static dtsi_query *
query_slot(dts_node *n)
{
    for (int i = 0; i < DTSI_QUERIES_MAX; i++)
        if (!n->queries[i].active) return &n->queries[i];
    return NULL;
}

dts_err
dts_query(dts_node *n, const char *type, int timeout_ms, int wait_all, dts_msg_cb cb, void *ud,
          size_t *n_answers)
{
    if (!n || !dts_name_valid(type) || timeout_ms < 0) return DTS_EINVAL;
    if (on_loop_thread(n)) return DTS_EBUSY;
    dtsi_lock(&n->mu);
    dtsi_query *q = n->closing ? NULL : query_slot(n);
    dtsi_type *t = q ? dtsi_type_get(n, dts_type_id(type), type, strlen(type)) : NULL;
    if (!q || !t) {
        pthread_mutex_unlock(&n->mu);
        return n->closing ? DTS_ECLOSED : DTS_EBUSY;
    }
    uint32_t corr = 0;
    while (corr == 0) {
        if (getrandom(&corr, sizeof corr, 0) != sizeof corr) corr = (uint32_t)dts_now_ns();
    }
    *q = (dtsi_query){.corr = corr,
                      .type_id = t->id,
                      .cb = cb,
                      .ud = ud,
                      .active = 1,
                      .resend_ms = dtsi_mono_ms() + 150};
    t->want_refs_query++;
    n->membership_dirty = 1;
    dtsi_hdr h = {
        .kind = DTSI_KIND_QUERY, .corr = corr, .type_id = t->id, .schema_id = t->schema_id};
    dtsi_enqueue(n, dtsi_back_channel(t->id), &h, NULL, 0);
    node_wake(n);
    query_wait w = {q, wait_all};
    wait_until(n, query_done, &w, timeout_ms);
    size_t answers = q->answers;
    q->active = 0;
    t->want_refs_query--;
    n->membership_dirty = 1;
    pthread_mutex_unlock(&n->mu);
    node_wake(n);
    if (n_answers) *n_answers = answers;
    return answers ? DTS_OK : DTS_ETIMEDOUT;
}

// dtsi_query_resend repeats each waiting query twice (after 150 ms and
// 450 ms) so that one lost datagram does not lose the answer; repliers
// answer each copy and the asker keeps the first answer of each. Loop
// thread, lock held.
void
dtsi_query_resend(dts_node *n, int64_t now)
{
    for (int i = 0; i < DTSI_QUERIES_MAX; i++) {
        dtsi_query *q = &n->queries[i];
        if (!q->active || q->resends >= 2 || now < q->resend_ms) continue;
        q->resends++;
        q->resend_ms = now + 300;
        dtsi_type *t = dtsi_type_find(n, q->type_id);
        dtsi_hdr h = {.kind = DTSI_KIND_QUERY,
                      .corr = q->corr,
                      .type_id = q->type_id,
                      .schema_id = t ? t->schema_id : 0};
        dtsi_enqueue(n, dtsi_back_channel(q->type_id), &h, NULL, 0);
    }
}

// ---------------------------------------------------------------------------
// Introspection

// peer_role_count counts the peers that publish (role PUB) or subscribe
// (SUB, or a GLOB matching the name) to t.
static unsigned
peer_role_count(dts_node *n, const dtsi_type *t, int pub)
{
    unsigned count = 0;
    for (size_t i = 0; i < n->n_peers; i++) {
        const dtsi_peer *p = &n->peers[i];
        for (size_t j = 0; j < p->n_members; j++) {
            const dtsi_peer_member *m = &p->members[j];
            int hit = pub ? (m->role == DTSI_ROLE_PUB && m->type_id == t->id)
                          : (m->role == DTSI_ROLE_SUB && m->type_id == t->id) ||
                                (m->role == DTSI_ROLE_GLOB && t->name[0] &&
                                 dts_glob_match(m->pattern, t->name));
            if (hit) {
                count++;
                break;
            }
        }
    }
    return count;
}

static void
type_info_fill(dts_node *n, dtsi_type *t, dts_type_info *ti)
{
    memset(ti, 0, sizeof *ti);
    snprintf(ti->name, sizeof ti->name, "%s", t->name);
    ti->type_id = t->id;
    ti->format = t->format == DTSI_FORMAT_UNKNOWN ? DTS_FORMAT_RAW : (dts_format)t->format;
    ti->schema_id = t->schema_id;
    ti->local_pub = t->declared;
    ti->local_sub = dtsi_type_wanted(n, t) && t->n_subs > 0;
    ti->publishers = peer_role_count(n, t, 1) + (unsigned)t->declared;
    ti->subscribers = peer_role_count(n, t, 0) + (unsigned)ti->local_sub;
    ti->mismatch = t->mismatch;
    ti->mismatch_schema_id = t->mismatch_schema_id;
    ti->msgs_per_s = t->msgs_per_s;
    ti->bytes_per_s = t->bytes_per_s;
    ti->counters = t->c;
}

dts_err
dts_node_types(dts_node *n, dts_type_info **out, size_t *count)
{
    if (!n || !out || !count) return DTS_EINVAL;
    dtsi_lock(&n->mu);
    dts_type_info *arr = calloc(n->n_types ? n->n_types : 1, sizeof *arr);
    size_t k = 0;
    for (size_t b = 0; arr && b < DTSI_TYPE_BUCKETS; b++)
        for (dtsi_type *t = n->types[b]; t; t = t->next) type_info_fill(n, t, &arr[k++]);
    pthread_mutex_unlock(&n->mu);
    if (!arr) return DTS_ENOMEM;
    *out = arr;
    *count = k;
    return DTS_OK;
}

dts_err
dts_node_peers(dts_node *n, dts_node_info **out, size_t *count)
{
    if (!n || !out || !count) return DTS_EINVAL;
    dtsi_lock(&n->mu);
    dts_node_info *arr = calloc(n->n_peers + 1, sizeof *arr);
    if (arr) {
        dts_node_info *me = &arr[0];
        me->instance = n->instance;
        me->host = n->host;
        snprintf(me->hostname, sizeof me->hostname, "%s", n->hostname);
        me->pid = n->pid;
        snprintf(me->addr, sizeof me->addr, "local");
        me->last_seen_ns = dts_now_ns();
        me->self = 1;
        for (size_t b = 0; b < DTSI_TYPE_BUCKETS; b++)
            for (dtsi_type *t = n->types[b]; t; t = t->next)
                me->n_types += t->declared || (dtsi_type_wanted(n, t) && t->n_subs > 0);
        for (size_t i = 0; i < n->n_peers; i++) {
            const dtsi_peer *p = &n->peers[i];
            dts_node_info *ni = &arr[i + 1];
            ni->instance = p->instance;
            ni->host = p->host;
            snprintf(ni->hostname, sizeof ni->hostname, "%s", p->hostname);
            ni->pid = p->pid;
            snprintf(ni->addr, sizeof ni->addr, "%s", p->addr);
            ni->last_seen_ns = p->last_seen_ns;
            ni->n_types = (unsigned)p->n_members;
        }
    }
    size_t k = n->n_peers + 1;
    pthread_mutex_unlock(&n->mu);
    if (!arr) return DTS_ENOMEM;
    *out = arr;
    *count = k;
    return DTS_OK;
}

dts_err
dts_node_counters_get(dts_node *n, dts_node_counters *out)
{
    if (!n || !out) return DTS_EINVAL;
    dtsi_lock(&n->mu);
    *out = n->nc;
    out->buffers_allocated += n->reasm.allocs;
    out->fragments_placed = n->reasm.placed;
    out->ring_published = __atomic_load_n(&n->ring.published, __ATOMIC_RELAXED);
    out->buffers_kept_bytes = dtsi_pool_kept_bytes(n);
    pthread_mutex_unlock(&n->mu);
    return DTS_OK;
}

dts_err
dts_type_counters_get(dts_node *n, const char *type, dts_type_counters *out)
{
    if (!n || !type || !out) return DTS_EINVAL;
    dtsi_lock(&n->mu);
    dtsi_type *t = type_by_name(n, type);
    if (t) *out = t->c;
    pthread_mutex_unlock(&n->mu);
    return t ? DTS_OK : DTS_ENOENT;
}

dts_err
dts_schema_get(dts_node *n, uint64_t schema_id, dts_format *format, void **schema, size_t *len)
{
    if (!n || !schema || !len) return DTS_EINVAL;
    dtsi_lock(&n->mu);
    const uint8_t *src = NULL;
    size_t slen = 0;
    int fmt = 0, found = 0;
    for (size_t b = 0; !found && b < DTSI_TYPE_BUCKETS; b++) {
        for (dtsi_type *t = n->types[b]; t && !found; t = t->next) {
            if (t->declared && t->schema_id == schema_id) {
                src = t->schema, slen = t->schema_len, fmt = t->format, found = 1;
            }
        }
    }
    const dtsi_schema *s = found ? NULL : dtsi_schema_find(n, schema_id);
    if (s) src = s->bytes, slen = s->len, fmt = s->format, found = 1;
    if (!found && (fmt = dtsi_empty_schema_format(schema_id)) >= 0) found = 1; // length 0
    dts_err err = DTS_ENOENT;
    if (found) {
        *schema = malloc(slen ? slen : 1);
        err = *schema ? DTS_OK : DTS_ENOMEM;
        if (*schema && slen) memcpy(*schema, src, slen);
        *len = slen;
        if (format) *format = (dts_format)fmt;
    } else {
        dtsi_schema_request(n, schema_id);
    }
    pthread_mutex_unlock(&n->mu);
    if (!found) node_wake(n);
    return err;
}
