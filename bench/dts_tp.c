// dts_tp.c: dts throughput and latency, to compare with bench/udp_raw.
//
//   dts_tp sub  [--seconds S] [--mtu M]
//   dts_tp pub  --size N --seconds S [--mtu M] [--reliable] [--rate R] [--pace B]
//   dts_tp pong [--mtu M]
//   dts_tp ping --size N --count K [--mtu M]
//
// pub publishes bench.Load messages of N bytes as fast as the API accepts
// them (or R per second) for S seconds, then publishes the count it sent on
// bench.Done. sub counts what it receives between the first and the last
// message and prints one JSON line: sent_per_s, delivered_per_s, mb_per_s,
// loss_pct, peak_rss_kb, cpu_s. ping/pong measure round trips of one
// message (bench.Ping answered on bench.Pong). Run both sides in a private
// namespace (bench/run).
#define _GNU_SOURCE
#include <dts/dts.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    size_t size;
    double seconds, rate;
    long count;
    size_t mtu;
    int reliable;
    double pace; // bytes/s, 0: the default
} opts;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage_stats(long *rss_kb, double *cpu_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *rss_kb = ru.ru_maxrss;
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
             (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static dts_node *
open_node(const opts *o)
{
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.mtu = o->mtu;
    if (o->pace > 0) {
        cfg.pace_bytes_per_s = (uint64_t)o->pace;
        cfg.pace_dgrams_per_s = (uint64_t)(o->pace / 1000); // about 1 KB per datagram
    }
    dts_node *n;
    dts_err e = dts_node_open(&cfg, &n);
    if (e != DTS_OK) {
        fprintf(stderr, "dts_tp: dts_node_open: %s\n", dts_strerror(e));
        exit(1);
    }
    return n;
}

// wait_subscriber waits (5 s at most) until some node subscribes to type.
static void
wait_subscriber(dts_node *n, const char *type)
{
    for (int i = 0; i < 500; i++) {
        dts_type_info *ti;
        size_t k;
        int ok = 0;
        if (dts_node_types(n, &ti, &k) == DTS_OK) {
            for (size_t j = 0; j < k; j++) ok |= !strcmp(ti[j].name, type) && ti[j].subscribers > 0;
            dts_free(ti);
        }
        if (ok) return;
        usleep(10000);
    }
    fprintf(stderr, "dts_tp: no subscriber for %s\n", type);
}

typedef struct sub_state {
    pthread_mutex_t mu;
    uint64_t delivered, bytes, sent;
    double first, last;
    int done;
} sub_state;

static void
on_load(void *ud, const dts_msg *m)
{
    sub_state *s = ud;
    double t = now_s();
    pthread_mutex_lock(&s->mu);
    if (!s->first) s->first = t;
    s->last = t;
    s->delivered++;
    s->bytes += m->len;
    pthread_mutex_unlock(&s->mu);
}

static void
on_done(void *ud, const dts_msg *m)
{
    sub_state *s = ud;
    pthread_mutex_lock(&s->mu);
    if (m->len == sizeof s->sent) memcpy(&s->sent, m->data, sizeof s->sent);
    s->done = 1;
    pthread_mutex_unlock(&s->mu);
}

static int
run_sub(const opts *o)
{
    dts_node *n = open_node(o);
    sub_state s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    dts_sub *a, *b;
    dts_subscribe(n, "bench.Load", on_load, &s, &a);
    dts_subscribe(n, "bench.Done", on_done, &s, &b);
    double end = now_s() + o->seconds + 30;
    int done = 0;
    while (!done && now_s() < end) {
        usleep(10000);
        pthread_mutex_lock(&s.mu);
        done = s.done;
        pthread_mutex_unlock(&s.mu);
    }
    usleep(300000); // stragglers and repairs
    long rss;
    double cpu;
    usage_stats(&rss, &cpu);
    double dt = s.last > s.first ? s.last - s.first : 1e-9;
    double loss = s.sent ? 100.0 * (1.0 - (double)s.delivered / (double)s.sent) : 100.0;
    printf("{\"tool\":\"dts\",\"size\":%zu,\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64
           ",\"sent_per_s\":%.0f,\"delivered_per_s\":%.0f,\"mb_per_s\":%.1f,\"loss_pct\":%.2f,"
           "\"peak_rss_kb\":%ld,\"cpu_s\":%.2f}\n",
           s.delivered ? (size_t)(s.bytes / s.delivered) : o->size, s.sent, s.delivered, (double)s.sent / o->seconds, (double)s.delivered / dt,
           (double)s.bytes / dt / 1e6, loss < 0 ? 0 : loss, rss, cpu);
    dts_sub_close(a);
    dts_sub_close(b);
    dts_node_close(n);
    return s.delivered ? 0 : 1;
}

static int
run_pub(const opts *o)
{
    dts_node *n = open_node(o);
    dts_type_declare(n, "bench.Load", DTS_FORMAT_RAW, NULL, 0);
    dts_type_declare(n, "bench.Done", DTS_FORMAT_RAW, NULL, 0);
    if (o->reliable) {
        dts_type_opts to = {.reliable = 1};
        dts_type_set_opts(n, "bench.Load", &to);
    }
    wait_subscriber(n, "bench.Load");
    uint8_t *buf = calloc(1, o->size);
    uint64_t sent = 0;
    double t0 = now_s(), end = t0 + o->seconds;
    while (now_s() < end) {
        if (o->rate > 0 && (double)sent > (now_s() - t0) * o->rate) {
            usleep(100);
            continue;
        }
        dts_err e = dts_publish(n, "bench.Load", buf, o->size);
        if (e == DTS_OK) sent++;
        else if (e == DTS_EQUEUE) usleep(20);
        else return 1;
    }
    dts_flush(n, 60000);
    for (int i = 0; i < 3; i++) { // the count, a few times (best effort)
        dts_publish(n, "bench.Done", &sent, sizeof sent);
        usleep(50000);
    }
    dts_flush(n, 5000);
    if (o->reliable) usleep(1000000); // answer the last NACKs
    long rss;
    double cpu;
    usage_stats(&rss, &cpu);
    fprintf(stderr, "dts_tp pub: %" PRIu64 " messages of %zu bytes, peak_rss_kb %ld, cpu_s %.2f\n",
            sent, o->size, rss, cpu);
    free(buf);
    dts_node_close(n);
    return 0;
}

typedef struct ping_state {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t got;
} ping_state;

static void
on_pong(void *ud, const dts_msg *m)
{
    ping_state *p = ud;
    pthread_mutex_lock(&p->mu);
    p->got++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

static dts_node *pong_node;

static void
on_ping(void *ud, const dts_msg *m)
{
    dts_publish(pong_node, "bench.Pong", m->data, m->len);
}

static int
run_pong(const opts *o)
{
    pong_node = open_node(o);
    dts_type_declare(pong_node, "bench.Pong", DTS_FORMAT_RAW, NULL, 0);
    dts_sub *s;
    dts_subscribe(pong_node, "bench.Ping", on_ping, NULL, &s);
    double end = now_s() + (o->seconds > 0 ? o->seconds : 60);
    while (now_s() < end) usleep(100000);
    dts_node_close(pong_node);
    return 0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int
run_ping(const opts *o)
{
    dts_node *n = open_node(o);
    ping_state p = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    dts_type_declare(n, "bench.Ping", DTS_FORMAT_RAW, NULL, 0);
    dts_sub *s;
    dts_subscribe(n, "bench.Pong", on_pong, &p, &s);
    wait_subscriber(n, "bench.Ping");
    uint8_t *buf = calloc(1, o->size);
    double *rtt = calloc((size_t)o->count, sizeof *rtt);
    long got = 0;
    for (long i = 0; i < o->count + 100; i++) {
        pthread_mutex_lock(&p.mu);
        uint64_t before = p.got;
        double t0 = now_s();
        dts_publish(n, "bench.Ping", buf, o->size);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 1;
        while (p.got == before && pthread_cond_timedwait(&p.cond, &p.mu, &dl) == 0) {
        }
        int ok = p.got != before;
        pthread_mutex_unlock(&p.mu);
        if (ok && i >= 100) rtt[got++] = (now_s() - t0) * 1e6;
    }
    long rss;
    double cpu;
    usage_stats(&rss, &cpu);
    if (got == 0) return 1;
    qsort(rtt, (size_t)got, sizeof *rtt, cmp_double);
    printf("{\"tool\":\"dts\",\"size\":%zu,\"round_trips\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,"
           "\"p99_us\":%.1f,\"max_us\":%.1f,\"peak_rss_kb\":%ld}\n",
           o->size, got, rtt[got / 2], rtt[got * 9 / 10], rtt[got * 99 / 100], rtt[got - 1], rss);
    free(buf);
    free(rtt);
    dts_node_close(n);
    return 0;
}

int
main(int argc, char **argv)
{
    opts o = {.size = 64, .seconds = 3, .count = 10000};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--size") && i + 1 < argc) o.size = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) o.seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) o.count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--rate") && i + 1 < argc) o.rate = atof(argv[++i]);
        else if (!strcmp(argv[i], "--mtu") && i + 1 < argc) o.mtu = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--reliable")) o.reliable = 1;
        else if (!strcmp(argv[i], "--pace") && i + 1 < argc) o.pace = atof(argv[++i]);
        else argc = 0;
    }
    if (argc < 2 || o.size < 8 || o.count < 1) {
        fprintf(stderr, "usage: dts_tp sub|pub|ping|pong [--size N] [--seconds S] [--count K] "
                        "[--rate R] [--mtu M] [--reliable]\n");
        return 2;
    }
    if (!strcmp(argv[1], "sub")) return run_sub(&o);
    if (!strcmp(argv[1], "pub")) return run_pub(&o);
    if (!strcmp(argv[1], "pong")) return run_pong(&o);
    if (!strcmp(argv[1], "ping")) return run_ping(&o);
    fprintf(stderr, "dts_tp: unknown mode %s\n", argv[1]);
    return 2;
}
