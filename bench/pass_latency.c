// pass_latency.c: how long a small value waits while its node sends large
// values of another type (head-of-line blocking).
//
//   pass_latency [--large BYTES] [--small BYTES] [--mtu N] [--seconds S]
//                [--interval-ms M] [--unsubscribed] [--no-cache]
//
// Opens two nodes in this process (udpm, so run it in a private namespace:
// tests/netns-run build/bench/pass_latency ...). On node A one thread
// publishes values of "lat.Big" of --large bytes back to back
// (dts_publish_wait; none with --large 0), and the main thread publishes a
// value of "lat.Small" of --small bytes every --interval-ms (dts_publish).
// Node B subscribes to both and takes, for each small value, its receive
// time minus its send time (the same clock). Prints one line of key=value:
// the small values' latency percentiles in microseconds, how many arrived
// of how many were sent, and the large values' rate; then a line of the
// sender's counters. --unsubscribed: node B does not subscribe to the
// large type (what the sender alone costs the small values); --no-cache:
// both nodes without the last-value cache.
#include <dts/dts.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct rx {
    pthread_mutex_t mu;
    double *lat_us; // of the small values
    size_t n, cap;
    uint64_t large, large_bytes;
} rx;

static void
on_small(void *ud, const dts_msg *m)
{
    rx *r = ud;
    pthread_mutex_lock(&r->mu);
    if (r->n < r->cap) r->lat_us[r->n++] = (double)(m->received_ns - m->sent_ns) / 1e3;
    pthread_mutex_unlock(&r->mu);
}

static void
on_large(void *ud, const dts_msg *m)
{
    rx *r = ud;
    pthread_mutex_lock(&r->mu);
    r->large++;
    r->large_bytes += m->len;
    pthread_mutex_unlock(&r->mu);
}

typedef struct pub {
    dts_node *a;
    size_t len;
    volatile int stop;
} pub;

static void *
publish_large(void *arg)
{
    pub *p = arg;
    uint8_t *v = calloc(1, p->len);
    if (!v) return NULL;
    while (!p->stop) dts_publish_wait(p->a, "lat.Big", v, p->len, 1000);
    free(v);
    return NULL;
}

static int
cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double
pct(const double *v, size_t n, double p)
{
    if (n == 0) return 0;
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    return v[i ? i - 1 : 0];
}

static int
usage(void)
{
    fprintf(stderr, "usage: pass_latency [--large BYTES] [--small BYTES] [--mtu N] "
                    "[--seconds S] [--interval-ms M] [--unsubscribed] [--no-cache]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    size_t large = 64u << 20, small = 64, mtu = 0;
    int unsubscribed = 0, no_cache = 0;
    double seconds = 5, interval_ms = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--unsubscribed") == 0) {
            unsubscribed = 1;
            continue;
        }
        if (strcmp(argv[i], "--no-cache") == 0) {
            no_cache = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        if (strcmp(argv[i], "--large") == 0)
            large = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--small") == 0)
            small = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--mtu") == 0)
            mtu = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(argv[i], "--interval-ms") == 0)
            interval_ms = atof(v);
        else
            return usage();
        i++;
    }
    if (small < 16 || small > (1u << 20) || seconds <= 0 || interval_ms <= 0) return usage();
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.mtu = mtu;
    cfg.last_value_cache = !no_cache;
    dts_node *a, *b;
    if (dts_node_open(&cfg, &a) != DTS_OK || dts_node_open(&cfg, &b) != DTS_OK) {
        fprintf(stderr, "pass_latency: cannot open the nodes (run it in a namespace: "
                        "tests/netns-run)\n");
        return 1;
    }
    static rx r = {.mu = PTHREAD_MUTEX_INITIALIZER};
    r.cap = (size_t)(seconds * 1000 / interval_ms) + 16;
    r.lat_us = calloc(r.cap, sizeof *r.lat_us);
    dts_sub *s1, *s2;
    if (!r.lat_us || dts_subscribe(b, "lat.Small", on_small, &r, &s1) != DTS_OK ||
        (!unsubscribed && dts_subscribe(b, "lat.Big", on_large, &r, &s2) != DTS_OK) ||
        dts_type_declare(a, "lat.Small", DTS_FORMAT_RAW, NULL, 0) != DTS_OK ||
        dts_type_declare(a, "lat.Big", DTS_FORMAT_RAW, NULL, 0) != DTS_OK)
        return 1;
    uint8_t *sv = calloc(1, small);
    if (!sv) return 1;
    // Until B has joined both types.
    for (int i = 0; i < 500; i++) {
        dts_publish(a, "lat.Small", sv, small);
        dts_publish(a, "lat.Big", sv, 1);
        usleep(10000);
        pthread_mutex_lock(&r.mu);
        int joined = r.n > 0 && (r.large > 0 || unsubscribed);
        pthread_mutex_unlock(&r.mu);
        if (joined) break;
    }
    pthread_mutex_lock(&r.mu);
    r.n = 0;
    r.large = r.large_bytes = 0;
    pthread_mutex_unlock(&r.mu);
    pub p = {.a = a, .len = large};
    pthread_t th;
    if (large && pthread_create(&th, NULL, publish_large, &p) != 0) return 1;
    usleep(200000); // the large values flow
    pthread_mutex_lock(&r.mu);
    r.n = 0;
    r.large = r.large_bytes = 0;
    pthread_mutex_unlock(&r.mu);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t sent = 0;
    double el = 0;
    while (el < seconds) {
        if (dts_publish(a, "lat.Small", sv, small) == DTS_OK) sent++;
        struct timespec ts = {0, (long)(interval_ms * 1e6)};
        nanosleep(&ts, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
        el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
    }
    usleep(300000); // the last small values arrive
    pthread_mutex_lock(&r.mu);
    size_t n = r.n;
    uint64_t nl = r.large, lb = r.large_bytes;
    qsort(r.lat_us, n, sizeof *r.lat_us, cmp);
    printf("large=%zu small=%zu mtu=%zu small_sent=%zu small_received=%zu p50_us=%.1f "
           "p90_us=%.1f p99_us=%.1f max_us=%.1f large_per_s=%.1f large_mb_per_s=%.1f\n",
           large, small, mtu, sent, n, pct(r.lat_us, n, 50), pct(r.lat_us, n, 90),
           pct(r.lat_us, n, 99), n ? r.lat_us[n - 1] : 0.0, (double)nl / el, (double)lb / el / 1e6);
    pthread_mutex_unlock(&r.mu);
    dts_node_counters c;
    dts_node_counters_get(a, &c);
    printf("sender passed_large=%" PRIu64 " ring_published=%" PRIu64 " borrowed_sent=%" PRIu64
           " pace_waits=%" PRIu64 " slow_received=%" PRIu64 "\n",
           c.passed_large, c.ring_published, c.borrowed_sent, c.pace_waits, c.slow_received);
    p.stop = 1;
    if (large) pthread_join(th, NULL);
    dts_node_close(a);
    dts_node_close(b);
    free(sv);
    return 0;
}
