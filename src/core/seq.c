// seq.c: per-publisher sequence tracking on the receiving side
// (docs/spec/wire.md, "Sequence numbers" and "Reliable mode"): gaps,
// duplicates, late messages, and for reliable publishers the list of
// missing messages that NACKs ask for. Loop thread, node lock held.
#include <stdlib.h>
#include <string.h>

#include "core/node.h"

static int
win_get(const dtsi_sender *s, uint64_t seq)
{
    uint64_t i = seq % DTSI_SEQ_WINDOW;
    return (s->window[i / 64] >> (i % 64)) & 1;
}

static void
win_set(dtsi_sender *s, uint64_t seq)
{
    uint64_t i = seq % DTSI_SEQ_WINDOW;
    s->window[i / 64] |= 1ULL << (i % 64);
}

// win_advance moves the window's top from s->last to seq, clearing the
// bits of the sequence numbers in between (not seen yet).
static void
win_advance(dtsi_sender *s, uint64_t seq)
{
    if (seq - s->last >= DTSI_SEQ_WINDOW) {
        memset(s->window, 0, sizeof s->window);
    } else {
        for (uint64_t q = s->last + 1; q <= seq; q++) {
            uint64_t i = q % DTSI_SEQ_WINDOW;
            s->window[i / 64] &= ~(1ULL << (i % 64));
        }
    }
    s->last = seq;
}

dtsi_sender *
dtsi_sender_find(dtsi_type *t, uint64_t instance)
{
    for (size_t i = 0; i < t->n_senders; i++)
        if (t->senders[i].instance == instance) return &t->senders[i];
    return NULL;
}

static dtsi_sender *
sender_get(dtsi_type *t, uint64_t instance, int *fresh)
{
    *fresh = 0;
    dtsi_sender *s = dtsi_sender_find(t, instance);
    if (s) return s;
    if (t->n_senders < DTSI_SENDERS_PER_TYPE) {
        dtsi_sender *ns = realloc(t->senders, (t->n_senders + 1) * sizeof *ns);
        if (!ns) return NULL;
        t->senders = ns;
        s = &t->senders[t->n_senders++];
    } else { // bounded: the least recently heard publisher is forgotten
        s = &t->senders[0];
        for (size_t i = 1; i < t->n_senders; i++)
            if (t->senders[i].seen_ms < s->seen_ms) s = &t->senders[i];
        free(s->missing);
    }
    memset(s, 0, sizeof *s);
    s->instance = instance;
    *fresh = 1;
    return s;
}

// missing_add notes that messages from..to (inclusive) of a reliable
// publisher are missing, to be asked for (bounded by DTSI_MISSING_MAX; what
// does not fit stays a plain gap).
static void
missing_add(dtsi_sender *s, uint64_t from, uint64_t to, int64_t now)
{
    for (uint64_t q = from; q <= to && s->n_missing < DTSI_MISSING_MAX; q++) {
        if (!s->missing) {
            s->missing = calloc(DTSI_MISSING_MAX, sizeof *s->missing);
            if (!s->missing) return;
        }
        s->missing[s->n_missing++] = (dtsi_missing){.seq = q, .due_ms = now + DTSI_NACK_DELAY_MS};
    }
}

// missing_take removes seq from the missing list; returns 1 if it was there.
static int
missing_take(dtsi_sender *s, uint64_t seq)
{
    for (size_t i = 0; i < s->n_missing; i++) {
        if (s->missing[i].seq == seq) {
            s->missing[i] = s->missing[--s->n_missing];
            return 1;
        }
    }
    return 0;
}

// dtsi_sender_track applies the sequence number of a whole message from one
// publisher of t: 1 when it is new, with the numbers it skipped counted as
// gaps (and, for a reliable publisher, noted missing); 0 for a duplicate
// (counted). A number below the last one is late: it was counted as a gap,
// which is undone; if it was asked for, or repaired is set, it counts as
// repaired instead of late. Duplicates are recognised within
// DTSI_SEQ_WINDOW numbers; an older one is taken as late (an instance id
// never restarts its numbering). delivered 0 records a message given up
// incomplete, so that it counts once, as incomplete, never as a gap.
//
// A REPLY (the initial value a subscription asked for) is a copy of a
// message the publisher sent as DATA too, so the two may meet: a REPLY at
// or below the last number seen is dropped without counting, and the DATA
// of the number a REPLY already delivered is dropped without counting it a
// duplicate.
int
dtsi_sender_track(dtsi_type *t, const dtsi_hdr *h, int64_t now_ms, int delivered, int repaired)
{
    int fresh;
    dtsi_sender *s = sender_get(t, h->instance, &fresh);
    if (!s) return 1;
    s->prev_seen_ms = s->seen_ms;
    s->seen_ms = now_ms;
    s->host = h->host;
    if (h->flags & DTSI_FLAG_RELIABLE) s->reliable = 1;
    uint64_t seq = h->seq;
    int reply = h->kind == DTSI_KIND_REPLY;
    if (reply && !fresh && seq <= s->last) return 0; // we have it, or newer
    if (delivered)
        s->delivered++, s->bytes += h->payload_len;
    else
        s->incomplete++;
    if (reply) s->reply_seq = seq;
    if (fresh) {
        s->last = seq;
        win_set(s, seq);
        return 1;
    }
    if (seq > s->last) {
        t->c.gaps += seq - s->last - 1;
        s->gaps += seq - s->last - 1;
        if (s->reliable && seq > s->last + 1) missing_add(s, s->last + 1, seq - 1, now_ms);
        win_advance(s, seq);
        win_set(s, seq);
        if (delivered && repaired) t->c.repaired++, s->repaired++;
        return 1;
    }
    uint64_t back = s->last - seq;
    if (back < DTSI_SEQ_WINDOW) {
        if (win_get(s, seq)) {
            if (seq != s->reply_seq) t->c.dropped_dup++, s->dups++;
            if (delivered)
                s->delivered--, s->bytes -= h->payload_len;
            else
                s->incomplete--;
            return 0;
        }
        win_set(s, seq);
    }
    int asked = missing_take(s, seq);
    if (delivered && (asked || repaired))
        t->c.repaired++, s->repaired++;
    else if (delivered)
        t->c.late++, s->late++;
    if (t->c.gaps) t->c.gaps--;
    if (s->gaps) s->gaps--;
    return 1;
}

// dtsi_sender_unmiss takes a message off the missing list (its fragments
// are arriving; fragment NACKs repair the rest).
void
dtsi_sender_unmiss(dtsi_type *t, uint64_t instance, uint64_t seq)
{
    dtsi_sender *s = dtsi_sender_find(t, instance);
    if (s) missing_take(s, seq);
}

// dtsi_sender_remiss puts back on the missing list a partial message of a
// reliable publisher that reassembly gave up (memory bound, timeout), if it
// is behind the last number seen (so counted as a gap); one beyond it is
// noticed through the publisher's HINT. It keeps half of its tries, so a
// message that keeps being evicted is given up in the end.
void
dtsi_sender_remiss(dtsi_type *t, uint64_t instance, uint64_t seq, int64_t now_ms)
{
    dtsi_sender *s = dtsi_sender_find(t, instance);
    if (!s || seq > s->last || (s->last - seq < DTSI_SEQ_WINDOW && win_get(s, seq))) return;
    for (size_t i = 0; i < s->n_missing; i++)
        if (s->missing[i].seq == seq) return;
    missing_add(s, seq, seq, now_ms);
    if (s->n_missing && s->missing[s->n_missing - 1].seq == seq)
        s->missing[s->n_missing - 1].tries = DTSI_NACK_TRIES / 2;
}

// dtsi_sender_seen says whether a message (instance, seq) of t was
// delivered already, without changing the tracker: late fragments of a
// delivered message must not open a new reassembly.
int
dtsi_sender_seen(dtsi_type *t, uint64_t instance, uint64_t seq)
{
    dtsi_sender *s = dtsi_sender_find(t, instance);
    if (!s || seq > s->last) return 0;
    return s->last - seq < DTSI_SEQ_WINDOW && win_get(s, seq);
}

// dtsi_sender_hint applies a reliable publisher's HINT (its last sequence
// number): messages up to it that never arrived are gaps, noted missing.
// A publisher not heard before is not asked for its history.
void
dtsi_sender_hint(dtsi_type *t, uint64_t instance, uint64_t seq, int64_t now_ms)
{
    dtsi_sender *s = dtsi_sender_find(t, instance);
    if (!s || !s->reliable || seq <= s->last) return;
    t->c.gaps += seq - s->last;
    s->gaps += seq - s->last;
    missing_add(s, s->last + 1, seq, now_ms);
    win_advance(s, seq); // the bit of seq itself stays clear: not received
}

void
dtsi_senders_free(dtsi_type *t)
{
    for (size_t i = 0; i < t->n_senders; i++) free(t->senders[i].missing);
    free(t->senders);
}

dts_err
dts_type_publishers(dts_node *n, const char *type, dts_pub_info **out, size_t *count)
{
    if (!n || !type || !out || !count || !dts_name_valid(type)) return DTS_EINVAL;
    dtsi_lock(&n->mu);
    dtsi_type *t = dtsi_type_find(n, dts_type_id(type));
    dts_err err = t && strcmp(t->name, type) == 0 ? DTS_OK : DTS_ENOENT;
    dts_pub_info *arr = NULL;
    int64_t now = dtsi_mono_ms();
    if (err == DTS_OK) {
        arr = calloc(t->n_senders ? t->n_senders : 1, sizeof *arr);
        if (!arr) err = DTS_ENOMEM;
    }
    for (size_t i = 0; arr && i < t->n_senders; i++) {
        const dtsi_sender *s = &t->senders[i];
        arr[i] = (dts_pub_info){.instance = s->instance,
                                .host = s->host,
                                .last_seq = s->last,
                                .delivered = s->delivered,
                                .bytes = s->bytes,
                                .gaps = s->gaps,
                                .late = s->late,
                                .duplicates = s->dups,
                                .incomplete = s->incomplete,
                                .repaired = s->repaired,
                                .reliable = s->reliable,
                                .silent_ms = now - s->seen_ms};
    }
    *count = err == DTS_OK ? t->n_senders : 0;
    pthread_mutex_unlock(&n->mu);
    *out = arr;
    return err;
}
