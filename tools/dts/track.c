// track.c: per-type and per-publisher statistics for hz, bw and spy. Each
// publisher keeps a ring of its recent arrivals; statistics are computed
// on demand over the part of the ring inside the window, so a publisher
// that stops is seen to stop. Gaps follow the library's rule (DESIGN.md
// decision 6): a skipped sequence number is a gap, a late arrival undoes
// one.
#include "track.h"
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
track_init(track *t, double window_s, int keep_value)
{
    memset(t, 0, sizeof *t);
    t->window_ns = (int64_t)(window_s * 1e9);
    t->keep_value = keep_value;
}

void
track_fini(track *t)
{
    for (size_t i = 0; i < t->n; i++) {
        track_type *ty = &t->types[i];
        for (size_t j = 0; j < ty->n_pubs; j++) free(ty->pubs[j].ring);
        free(ty->pubs);
        free(ty->last_value);
        free(ty->pending);
    }
    free(t->types);
    memset(t, 0, sizeof *t);
}

track_type *
track_find(track *t, uint64_t type_id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->types[i].type_id == type_id) return &t->types[i];
    return NULL;
}

// track_add_known allocates the full type array on first use so that
// entries never move while a caller holds a pointer to one.
track_type *
track_add_known(track *t, const char *name, uint64_t type_id, dts_format format, uint64_t schema_id)
{
    track_type *ty = track_find(t, type_id);
    if (!ty) {
        if (!t->types && !(t->types = calloc(TRACK_TYPES_MAX, sizeof *t->types))) return NULL;
        if (t->n == TRACK_TYPES_MAX) return NULL;
        ty = &t->types[t->n++];
        memset(ty, 0, sizeof *ty);
        ty->type_id = type_id;
    }
    if (name && name[0])
        snprintf(ty->name, sizeof ty->name, "%s", name);
    else if (!ty->name[0])
        snprintf(ty->name, sizeof ty->name, "#%016llx", (unsigned long long)type_id);
    ty->format = format;
    ty->schema_id = schema_id;
    return ty;
}

// track_pub_get finds the publisher of msg in ty, adding it when there is
// room. Returns NULL past TRACK_PUBS_MAX.
static track_pub *
track_pub_get(track_type *ty, const dts_msg *msg)
{
    for (size_t i = 0; i < ty->n_pubs; i++)
        if (ty->pubs[i].instance == msg->sender_instance) return &ty->pubs[i];
    if (!ty->pubs && !(ty->pubs = calloc(TRACK_PUBS_MAX, sizeof *ty->pubs))) return NULL;
    if (ty->n_pubs == TRACK_PUBS_MAX) return NULL;
    track_pub *p = &ty->pubs[ty->n_pubs];
    memset(p, 0, sizeof *p);
    if (!(p->ring = malloc(TRACK_SAMPLES_MAX * sizeof *p->ring))) return NULL;
    ty->n_pubs++;
    p->instance = msg->sender_instance;
    p->host = msg->sender_host;
    snprintf(p->addr, sizeof p->addr, "%s", msg->sender_addr);
    return p;
}

// track_seq counts gaps and late arrivals from one sequence number.
static void
track_seq(track_pub *p, uint64_t seq)
{
    if (p->next_seq == 0 || seq >= p->next_seq) {
        if (p->next_seq != 0) p->gaps += seq - p->next_seq;
        p->next_seq = seq + 1;
    } else {
        p->late++;
        if (p->gaps > 0) p->gaps--;
    }
}

// track_set_value replaces the last value with text (taken; NULL keeps the
// old one), cut at TRACK_VALUE_MAX bytes on a UTF-8 character boundary.
static void
track_set_value(track_type *ty, char *text)
{
    if (!text) return;
    size_t n = strlen(text);
    if (n > TRACK_VALUE_MAX) {
        n = TRACK_VALUE_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80) n--;
        text[n] = '\0';
    }
    free(ty->last_value);
    ty->last_value = text;
}

// track_render renders a last value: through the decoder when there is one
// (NULL with *wait set when its schema is still awaited), else as raw or
// json text.
static char *
track_render(const track *t, const dts_msg *msg, int *wait)
{
    cli_value v;
    *wait = 0;
    if (!t->dec) return cli_value_text(cli_msg_format(msg), msg->data, msg->len);
    if (!cli_decoder_try(t->dec, msg, &v)) {
        *wait = 1;
        return NULL;
    }
    char *text = v.value ? cli_decoded_text(msg, &v) : NULL;
    json_decref(v.value);
    return text;
}

// track_hold keeps a copy of the payload of a value whose schema is
// awaited (a larger one is shown as its size).
static char *
track_hold(track_type *ty, const dts_msg *msg)
{
    free(ty->pending);
    ty->pending = NULL;
    if (msg->len <= TRACK_PENDING_MAX && (ty->pending = malloc(msg->len ? msg->len : 1))) {
        memcpy(ty->pending, msg->data, msg->len);
        ty->pending_len = msg->len;
        ty->pending_format = msg->format;
        ty->pending_schema_id = msg->schema_id;
        return strdup("(waiting for its schema)");
    }
    char *s = malloc(64);
    if (s) snprintf(s, 64, "(%zu bytes; schema not known yet)", msg->len);
    return s;
}

// track_keep_value stores the rendered value, cut at TRACK_VALUE_MAX bytes
// on a UTF-8 character boundary.
static void
track_keep_value(const track *t, track_type *ty, const dts_msg *msg)
{
    int wait;
    char *text = track_render(t, msg, &wait);
    if (wait) {
        text = track_hold(ty, msg);
    } else {
        free(ty->pending);
        ty->pending = NULL;
    }
    track_set_value(ty, text);
}

track_type *
track_add(track *t, const dts_msg *msg)
{
    if (msg->is_reply) {
        track_type *known = track_find(t, msg->type_id);
        if (known && !known->last_value && t->keep_value) track_keep_value(t, known, msg);
        return known;
    }
    track_type *ty =
        track_add_known(t, msg->type, msg->type_id, cli_msg_format(msg), msg->schema_id);
    track_pub *p = ty ? track_pub_get(ty, msg) : NULL;
    if (!p) {
        t->untracked++;
        return ty;
    }
    int64_t now = dts_now_ns();
    track_seq(p, msg->seq);
    p->ring[p->head] = (track_sample){.t_ns = now, .size = (uint32_t)msg->len};
    p->head = (p->head + 1) % TRACK_SAMPLES_MAX;
    if (p->n < TRACK_SAMPLES_MAX) p->n++;
    p->count++, ty->count++;
    p->bytes += msg->len, ty->bytes += msg->len;
    p->last_ns = ty->last_ns = now;
    if (t->keep_value) track_keep_value(t, ty, msg);
    return ty;
}

// track_window_rate turns n samples from first to last into a rate, and
// lets it decay once the publisher has been silent for more than two of
// its usual intervals.
static double
track_window_rate(size_t n, int64_t first, int64_t last, int64_t now)
{
    if (n == 0) return 0;
    if (n == 1) return now > first ? fmin(1.0, 1e9 / (double)(now - first)) : 1.0;
    double span = (double)(last - first);
    double period = span / (double)(n - 1);
    if ((double)(now - last) > 2 * period) span = (double)(now - first);
    return span > 0 ? (double)(n - 1) * 1e9 / span : 0;
}

// track_pub_stats walks the ring from the oldest sample inside the window
// to the newest, with Welford's method for the interval variance.
void
track_pub_stats(const track *t, const track_pub *p, int64_t now_ns, track_stats *out)
{
    memset(out, 0, sizeof *out);
    out->gaps = p->gaps;
    int64_t from = now_ns - t->window_ns, first = 0, prev = 0;
    double m2 = 0, bytes = 0;
    for (size_t k = 0; k < p->n; k++) {
        const track_sample *s =
            &p->ring[(p->head + TRACK_SAMPLES_MAX - p->n + k) % TRACK_SAMPLES_MAX];
        if (s->t_ns < from) continue;
        if (out->n == 0) {
            first = s->t_ns;
            out->size_min = out->size_max = s->size;
        } else {
            double iv = (double)(s->t_ns - prev) / 1e9, d = iv - out->iv_mean;
            out->iv_min = out->n == 1 || iv < out->iv_min ? iv : out->iv_min;
            out->iv_max = iv > out->iv_max ? iv : out->iv_max;
            out->iv_mean += d / (double)out->n;
            m2 += d * (iv - out->iv_mean);
        }
        out->size_min = s->size < out->size_min ? s->size : out->size_min;
        out->size_max = s->size > out->size_max ? s->size : out->size_max;
        bytes += s->size;
        prev = s->t_ns;
        out->n++;
    }
    if (out->n == 0) return;
    out->iv_std = out->n > 2 ? sqrt(m2 / (double)(out->n - 2)) : 0;
    out->size_mean = bytes / (double)out->n;
    out->rate = track_window_rate(out->n, first, prev, now_ns);
    out->bw = out->rate * out->size_mean;
    out->pubs = 1;
}

void
track_type_stats(const track *t, const track_type *ty, int64_t now_ns, track_stats *out)
{
    memset(out, 0, sizeof *out);
    double bytes = 0;
    for (size_t i = 0; i < ty->n_pubs; i++) {
        track_stats ps;
        track_pub_stats(t, &ty->pubs[i], now_ns, &ps);
        out->gaps += ps.gaps;
        if (ps.n == 0) continue;
        out->size_min = out->n == 0 || ps.size_min < out->size_min ? ps.size_min : out->size_min;
        out->size_max = ps.size_max > out->size_max ? ps.size_max : out->size_max;
        out->n += ps.n;
        bytes += ps.size_mean * (double)ps.n;
        out->rate += ps.rate;
        out->bw += ps.bw;
        out->pubs++;
    }
    out->size_mean = out->n ? bytes / (double)out->n : 0;
}

void
track_retry(track *t)
{
    for (size_t i = 0; i < t->n; i++) {
        track_type *ty = &t->types[i];
        if (!ty->pending) continue;
        dts_msg m = {.type = ty->name,
                     .type_id = ty->type_id,
                     .format = ty->pending_format,
                     .schema_id = ty->pending_schema_id,
                     .data = ty->pending,
                     .len = ty->pending_len};
        int wait;
        char *text = track_render(t, &m, &wait);
        if (wait) continue;
        free(ty->pending);
        ty->pending = NULL;
        track_set_value(ty, text);
    }
}

static int
track_cmp(const void *a, const void *b)
{
    return strcmp(((const track_type *)a)->name, ((const track_type *)b)->name);
}

void
track_sort(track *t)
{
    if (t->n > 1) qsort(t->types, t->n, sizeof *t->types, track_cmp);
}
