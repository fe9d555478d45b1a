// bench.c: `dts bench pub|sub|ping|pong`: throughput and latency of dts
// between processes, like ddsperf or `nats bench`. bench/run puts these
// figures beside the raw-UDP limit (bench/udp_raw) measured in the same run.
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char bench_help[] =
    "usage: dts bench pub|sub --size N --seconds S [--rate R] [--reliable] [--copy] [--mtu M]\n"
    "                         [--pace B] [--pace-dgrams D] [--spin US] [--json]\n"
    "       dts bench ping|pong --size N --count K [--thread] [--mtu M] [--spin US]\n"
    "                           [--answer-spin US] [--json]\n"
    "\n"
    "Measure dts between two processes. 'bench sub' waits for a 'bench pub', which publishes\n"
    "bench.Load messages of N bytes for S seconds as fast as the node accepts them (or R per\n"
    "second), then tells the subscriber how many it sent; the subscriber prints sent and\n"
    "delivered messages/s, MB/s and loss, and exits by itself when the run ends (or after\n"
    "S seconds plus 30 s of grace). 'bench ping' sends K messages one at a time to a\n"
    "'bench pong', which sends each back, and prints the round trips (p50, p90, p99, max);\n"
    "a round trip not back within 1 s is lost, and 5 lost in a row end the ping with an error.\n"
    "The pong exits when its ping has finished (start one pong per ping).\n"
    "Every side prints its CPU time and peak resident memory. Both sides of a pair take the\n"
    "same options (a side ignores those of the other), so a script can start both alike;\n"
    "options of the other pair (--count for pub, --rate for ping) are refused.\n"
    "\n"
    "  --size N      message size in bytes, at least 8 (default 64)\n"
    "  --seconds S   length of a pub run (default 5); sub waits at most S + 30 seconds\n"
    "  --count K     round trips for ping (default 10000, after 100 to warm up)\n"
    "  --rate R      publish at most R messages per second (default: as fast as accepted)\n"
    "  --reliable    reliable mode: receivers ask for what they miss\n"
    "  --copy        pub: publish with dts_publish_wait, which copies each message\n"
    "                (default from 4096 bytes on: build it in a dts_loan buffer,\n"
    "                published without a copy)\n"
    "  --mtu M       cut messages into fragments for an M-byte MTU (default: the path MTU)\n"
    "  --pace B      cap the sender at B bytes/s (default 5e9, and 4,000,000 datagrams/s;\n"
    "                with --pace, B / 1000 datagrams/s)\n"
    "  --pace-dgrams D  cap the sender at D datagrams/s: a datagram costs at least B / D\n"
    "                bytes of the byte cap\n"
    "  --spin US     after sending or receiving, poll US microseconds before sleeping\n"
    "                (dts_node_config.spin_us; default 0, or DTS_SPIN_US): shorter round\n"
    "                trips for CPU time\n"
    "  --thread      ping/pong: run the node's loop on a thread of its own (DTS_RUN_THREAD),\n"
    "                as most applications do; the pong comes back through a callback on\n"
    "                that thread (default: the caller runs the loop, DTS_RUN_CALLER)\n"
    "  --answer-spin US  after a send that was answered in time, poll US microseconds\n"
    "                for the next answer (dts_node_config.answer_spin_us; default 100,\n"
    "                or DTS_ANSWER_SPIN_US; 0: sleep at once)\n"
    "  --json        one JSON object: sent_per_s, delivered_per_s, mb_per_s, loss_pct (sub;\n"
    "                pub too, as the subscriber reports them back, null if it does not),\n"
    "                p50_us, p90_us, p99_us, max_us (ping), peak_rss_kb, cpu_s\n"
    "\n"
    "examples:\n"
    "  dts bench sub --json &  dts bench pub --size 1024 --seconds 5\n"
    "  dts bench pong &        dts bench ping --size 64 --count 10000\n";

typedef struct bench_opts {
    const char *mode;
    long size, count;
    double seconds, rate;
    long mtu;
    double pace;        // bytes per second, 0: the node's default
    double pace_dgrams; // datagrams per second, 0: the node's default (pace / 1000 with pace)
    long spin;          // microseconds, -1: the node's default
    long answer_spin;   // microseconds, -1: the node's default
    int reliable, json, copy;
    int thread; // ping/pong: the loop on its own thread (DTS_RUN_THREAD)
} bench_opts;

static double
bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_usage(long *rss_kb, double *cpu_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *rss_kb = ru.ru_maxrss;
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
             (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// bench_open opens a node with the options that configure it, in run mode
// mode: pub and sub on the node's own thread, so that the loop keeps
// receiving while this thread publishes or waits; ping and pong by default
// with the loop run by the caller.
static int
bench_open(cli_ctx *ctx, const bench_opts *o, dts_run_mode mode, dts_node **n)
{
    if (o->mtu) ctx->cfg.mtu = (size_t)o->mtu;
    if (o->spin >= 0) ctx->cfg.spin_us = (uint32_t)o->spin;
    if (o->answer_spin >= 0) ctx->cfg.answer_spin_us = (uint32_t)o->answer_spin;
    if (o->pace > 0) {
        ctx->cfg.pace_bytes_per_s = (uint64_t)o->pace;
        ctx->cfg.pace_dgrams_per_s = (uint64_t)(o->pace / 1000); // about a KB a datagram
    }
    if (o->pace_dgrams > 0) ctx->cfg.pace_dgrams_per_s = (uint64_t)o->pace_dgrams;
    return cli_node_open(ctx, mode, n);
}

// bench_wait_subscriber waits (5 s at most) until some node subscribes to
// type. A node in DTS_RUN_CALLER mode is stepped here, since discovery runs
// on this thread; one on its own thread is only looked at.
static int
bench_wait_subscriber(dts_node *n, const char *type, int step)
{
    double until = bench_now() + 5;
    while (bench_now() < until && !cli_stopped()) {
        if (cli_subscribers(n, type) > 0) return 1;
        if (step)
            cli_step(n, 10, -1);
        else
            usleep(10000);
    }
    return 0;
}

// bench_wait_set waits until *flag (read under mu) is set, Ctrl-C, or
// seconds pass; returns the flag.
static int
bench_wait_set(pthread_mutex_t *mu, const int *flag, double seconds)
{
    double end = bench_now() + seconds;
    int set = 0;
    while (!cli_stopped()) {
        pthread_mutex_lock(mu);
        set = *flag;
        pthread_mutex_unlock(mu);
        if (set || bench_now() >= end) break;
        usleep(10000);
    }
    return set;
}

// ---------------------------------------------------------------------------
// pub and sub

typedef struct sub_state {
    pthread_mutex_t mu;
    uint64_t delivered, bytes, sent;
    double first, last;
    int done;
} sub_state;

// What the subscriber sends back on bench.Result when the run has ended, so
// that the publisher's report has the delivered figures too.
typedef struct bench_result {
    uint64_t delivered, bytes;
    double seconds; // from its first message to its last
} bench_result;

typedef struct pub_result {
    pthread_mutex_t mu;
    bench_result r;
    int got;
} pub_result;

static void
bench_on_result(void *ud, const dts_msg *m)
{
    pub_result *p = ud;
    pthread_mutex_lock(&p->mu);
    if (!p->got && m->len == sizeof p->r) {
        memcpy(&p->r, m->data, sizeof p->r);
        p->got = 1;
    }
    pthread_mutex_unlock(&p->mu);
}

// bench_on_load counts a message; it reads the clock for the first one and
// then every 64th (and on bench.Done), so that measuring costs little.
static void
bench_on_load(void *ud, const dts_msg *m)
{
    sub_state *s = ud;
    pthread_mutex_lock(&s->mu);
    if (!s->first) s->first = bench_now();
    if ((s->delivered & 63) == 0) s->last = bench_now();
    s->delivered++;
    s->bytes += m->len;
    pthread_mutex_unlock(&s->mu);
}

static void
bench_on_done(void *ud, const dts_msg *m)
{
    sub_state *s = ud;
    pthread_mutex_lock(&s->mu);
    if (m->len == sizeof s->sent) memcpy(&s->sent, m->data, sizeof s->sent);
    if (!s->done && s->delivered) s->last = bench_now(); // the first Done follows the last Load
    s->done = 1;
    pthread_mutex_unlock(&s->mu);
}

static void
bench_print_sub(const bench_opts *o, const sub_state *s, const dts_node_counters *nc)
{
    long rss;
    double cpu;
    bench_usage(&rss, &cpu);
    double dt = s->last > s->first ? s->last - s->first : 1e-9;
    double loss = s->sent ? 100.0 * (1.0 - (double)s->delivered / (double)s->sent) : 100.0;
    double size = s->delivered ? (double)s->bytes / (double)s->delivered : (double)o->size;
    double sent_ps = (double)s->sent / dt, got_ps = (double)s->delivered / dt;
    if (o->json)
        printf("{\"mode\":\"sub\",\"size\":%.0f,\"sent\":%" PRIu64 ",\"delivered\":%" PRIu64
               ",\"sent_per_s\":%.0f,\"delivered_per_s\":%.0f,\"mb_per_s\":%.1f,"
               "\"loss_pct\":%.2f,\"peak_rss_kb\":%ld,\"cpu_s\":%.2f,\"slow_sent\":%" PRIu64
               ",\"slow_loss_sent\":%" PRIu64 ",\"fragments_received\":%" PRIu64
               ",\"fragments_placed\":%" PRIu64 ",\"buffers_allocated\":%" PRIu64 "}\n",
               size, s->sent, s->delivered, sent_ps, got_ps, (double)s->bytes / dt / 1e6,
               loss < 0 ? 0 : loss, rss, cpu, nc->slow_sent, nc->slow_loss_sent,
               nc->fragments_received, nc->fragments_placed, nc->buffers_allocated);
    else
        printf("bench sub: %.0f-byte messages: sent %" PRIu64 ", delivered %" PRIu64
               " (%.0f msg/s, %.1f MB/s), loss %.2f%%, cpu %.2f s, peak RSS %ld KiB\n",
               size, s->sent, s->delivered, got_ps, (double)s->bytes / dt / 1e6,
               loss < 0 ? 0 : loss, cpu, rss);
}

static int
bench_sub(cli_ctx *ctx, const bench_opts *o)
{
    dts_node *n;
    int rc = bench_open(ctx, o, DTS_RUN_THREAD, &n);
    if (rc) return rc;
    sub_state s = {.mu = PTHREAD_MUTEX_INITIALIZER};
    dts_sub *a, *b;
    dts_type_declare(n, "bench.Result", DTS_FORMAT_RAW, NULL, 0);
    dts_subscribe(n, "bench.Load", bench_on_load, &s, &a);
    dts_subscribe(n, "bench.Done", bench_on_done, &s, &b);
    int done = bench_wait_set(&s.mu, &s.done, o->seconds + 30);
    usleep(300000); // stragglers and the last repairs
    dts_sub_close(a);
    dts_sub_close(b);
    dts_node_counters nc;
    dts_node_counters_get(n, &nc);
    pthread_mutex_lock(&s.mu);
    if (done || s.delivered) bench_print_sub(o, &s, &nc); // else there is nothing to report
    bench_result res = {s.delivered, s.bytes, s.last > s.first ? s.last - s.first : 0};
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; done && i < 3; i++) { // to the publisher, a few times (best effort)
        dts_publish(n, "bench.Result", &res, sizeof res);
        usleep(20000);
    }
    dts_flush(n, 1000);
    dts_node_close(n);
    if (!done) return cli_error(ctx, "no 'dts bench pub' run ended within %.0f s", o->seconds + 30);
    return s.delivered ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

// bench_publish_for publishes bench.Load for o->seconds; returns the count.
static uint64_t
bench_publish_for(dts_node *n, const bench_opts *o)
{
    uint8_t *buf = calloc(1, (size_t)o->size);
    uint64_t sent = 0, loops = 0;
    double t0 = bench_now(), end = t0 + o->seconds, now = t0;
    while (buf && now < end && !cli_stopped()) {
        if ((++loops & 255) == 0 || o->rate > 0) now = bench_now(); // the clock is not free
        if (o->rate > 0 && (double)sent > (now - t0) * o->rate) {
            usleep(100);
            continue;
        }
        // Honest back-pressure: a full queue holds this thread until the
        // loop has sent half of it.
        dts_err e;
        if (o->copy || o->size < 4096) {
            e = dts_publish_wait(n, "bench.Load", buf, (size_t)o->size, 100);
        } else {
            // From 4 KiB on, built in place, as raw UDP resends one buffer:
            // only a count is written, and dts sends the loaned buffer
            // without a copy (smaller ones cost less to copy than to loan).
            uint8_t *m = dts_loan(n, (size_t)o->size);
            if (!m) break;
            memcpy(m, &sent, sizeof sent < (size_t)o->size ? sizeof sent : (size_t)o->size);
            e = dts_publish_loan(n, "bench.Load", m, (size_t)o->size, 100);
            if (e != DTS_OK) dts_loan_return(n, m);
        }
        if (e == DTS_OK)
            sent++;
        else if (e != DTS_ETIMEDOUT)
            break;
    }
    free(buf);
    return sent;
}

static int
bench_pub(cli_ctx *ctx, const bench_opts *o)
{
    dts_node *n;
    int rc = bench_open(ctx, o, DTS_RUN_THREAD, &n);
    if (rc) return rc;
    dts_type_declare(n, "bench.Load", DTS_FORMAT_RAW, NULL, 0);
    dts_type_declare(n, "bench.Done", DTS_FORMAT_RAW, NULL, 0);
    dts_type_opts to = {.reliable = o->reliable};
    dts_type_set_opts(n, "bench.Load", &to);
    if (!bench_wait_subscriber(n, "bench.Load", 0)) {
        dts_node_close(n);
        return cli_error(ctx, "no subscriber: start 'dts bench sub' first (same -i/--port)");
    }
    pub_result res = {.mu = PTHREAD_MUTEX_INITIALIZER};
    dts_sub *rs = NULL;
    dts_subscribe(n, "bench.Result", bench_on_result, &res, &rs);
    double t0 = bench_now();
    uint64_t sent = bench_publish_for(n, o);
    double dt = bench_now() - t0;
    dts_flush(n, 60000);
    for (int i = 0; i < 3; i++) { // the count, a few times (best effort)
        dts_publish(n, "bench.Done", &sent, sizeof sent);
        usleep(50000);
    }
    dts_flush(n, 5000);
    if (o->reliable) usleep(1000000); // answer the last NACKs
    // The subscriber's figures (it reports 0.3 s after Done): 3 s at most.
    int got = bench_wait_set(&res.mu, &res.got, 3);
    dts_sub_close(rs);
    // The JSON keys, and the words of the text report.
    char delivered[160] = "\"delivered_per_s\":null,\"mb_per_s\":null,\"loss_pct\":null";
    char words[160] = "";
    if (got && res.r.seconds > 0) {
        double loss = sent ? 100.0 * (1.0 - (double)res.r.delivered / (double)sent) : 0;
        double d_ps = (double)res.r.delivered / res.r.seconds;
        double mb_ps = (double)res.r.bytes / res.r.seconds / 1e6;
        loss = loss < 0 ? 0 : loss;
        snprintf(delivered, sizeof delivered,
                 "\"delivered_per_s\":%.0f,\"mb_per_s\":%.1f,\"loss_pct\":%.2f", d_ps, mb_ps, loss);
        snprintf(words, sizeof words, "; delivered %.0f msg/s, %.1f MB/s, loss %.2f%%", d_ps, mb_ps,
                 loss);
    }
    long rss;
    double cpu;
    bench_usage(&rss, &cpu);
    dts_node_counters nc;
    dts_node_counters_get(n, &nc);
    if (o->json)
        printf("{\"mode\":\"pub\",\"size\":%ld,\"sent\":%" PRIu64 ",\"sent_per_s\":%.0f,%s,"
               "\"peak_rss_kb\":%ld,\"cpu_s\":%.2f,\"slow_received\":%" PRIu64
               ",\"pace_waits\":%" PRIu64 ",\"borrowed_sent\":%" PRIu64
               ",\"borrowed_copied\":%" PRIu64 ",\"ring_published\":%" PRIu64
               ",\"queue_peak_bytes\":%" PRIu64 ",\"buffers_allocated\":%" PRIu64
               ",\"buffers_kept_bytes\":%" PRIu64 "}\n",
               o->size, sent, (double)sent / dt, delivered, rss, cpu, nc.slow_received,
               nc.pace_waits, nc.borrowed_sent, nc.borrowed_copied, nc.ring_published,
               nc.queue_peak_bytes, nc.buffers_allocated, nc.buffers_kept_bytes);
    else
        printf("bench pub: %" PRIu64 " messages of %ld bytes in %.1f s (%.0f msg/s), cpu %.2f s, "
               "peak RSS %ld KiB%s\n",
               sent, o->size, dt, (double)sent / dt, cpu, rss, words);
    dts_node_close(n);
    return CLI_EXIT_OK;
}

// ---------------------------------------------------------------------------
// ping and pong

typedef struct ping_state {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t got;
    dts_node *node; // pong: where to answer
    int done;
} ping_state;

static void
bench_on_pong(void *ud, const dts_msg *m)
{
    ping_state *p = ud;
    pthread_mutex_lock(&p->mu);
    p->got++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->mu);
}

static void
bench_on_ping(void *ud, const dts_msg *m)
{
    ping_state *p = ud;
    if (m->len == 4 && !memcmp(m->data, "quit", 4))
        __atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
    else
        dts_publish(p->node, "bench.Pong", m->data, m->len);
}

static int
bench_pong(cli_ctx *ctx, const bench_opts *o)
{
    ping_state p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    int rc = bench_open(ctx, o, o->thread ? DTS_RUN_THREAD : DTS_RUN_CALLER, &p.node);
    if (rc) return rc;
    dts_type_declare(p.node, "bench.Pong", DTS_FORMAT_RAW, NULL, 0);
    dts_sub *s;
    dts_subscribe(p.node, "bench.Ping", bench_on_ping, &p, &s);
    if (!o->json)
        fprintf(stderr, "bench pong: answering bench.Ping until the ping ends (or Ctrl-C)\n");
    while (!cli_stopped() && !__atomic_load_n(&p.done, __ATOMIC_ACQUIRE)) {
        if (o->thread)
            usleep(10000); // the node's thread answers
        else if (cli_step(p.node, 100, -1) < 0)
            break;
    }
    dts_sub_close(s);
    dts_node_close(p.node);
    return CLI_EXIT_OK;
}

static int
bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define BENCH_LOST_MAX 5 // round trips lost in a row that end a ping

// bench_round_trip publishes one ping and runs the node's loop on this
// thread (DTS_RUN_CALLER: no hand-over between threads, as a raw UDP ping
// would recv) until its pong arrives, 1 s at most; returns the round trip in
// microseconds, or -1. With --thread the node's own thread receives the
// pong, and this one waits for its callback's signal, as an application
// that publishes from its own thread would.
static double
bench_round_trip(dts_node *n, ping_state *p, const void *buf, size_t len, int thread)
{
    pthread_mutex_lock(&p->mu);
    uint64_t before = p->got;
    pthread_mutex_unlock(&p->mu);
    double t0 = bench_now(), end = t0 + 1;
    dts_publish(n, "bench.Ping", buf, len);
    if (thread) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_mutex_lock(&p->mu);
        while (p->got == before && !cli_stopped())
            if (pthread_cond_timedwait(&p->cond, &p->mu, &ts) != 0) break;
        uint64_t got = p->got;
        pthread_mutex_unlock(&p->mu);
        return got != before ? (bench_now() - t0) * 1e6 : -1;
    }
    while (p->got == before && bench_now() < end && !cli_stopped())
        if (cli_step(n, 10, -1) < 0) break;
    return p->got != before ? (bench_now() - t0) * 1e6 : -1;
}

static void
bench_print_ping(const bench_opts *o, double *rtt, long got)
{
    long rss;
    double cpu;
    bench_usage(&rss, &cpu);
    qsort(rtt, (size_t)got, sizeof *rtt, bench_cmp);
    double p50 = rtt[got / 2], p90 = rtt[got * 9 / 10], p99 = rtt[got * 99 / 100],
           max = rtt[got - 1];
    if (o->json)
        printf(
            "{\"mode\":\"ping\",\"size\":%ld,\"round_trips\":%ld,\"p50_us\":%.1f,\"p90_us\":%.1f,"
            "\"p99_us\":%.1f,\"max_us\":%.1f,\"peak_rss_kb\":%ld,\"cpu_s\":%.2f}\n",
            o->size, got, p50, p90, p99, max, rss, cpu);
    else
        printf("bench ping: %ld round trips of %ld bytes: p50 %.1f us, p90 %.1f us, p99 %.1f us, "
               "max %.1f us, cpu %.2f s, peak RSS %ld KiB\n",
               got, o->size, p50, p90, p99, max, cpu, rss);
}

static int
bench_ping(cli_ctx *ctx, const bench_opts *o)
{
    dts_node *n;
    int rc = bench_open(ctx, o, o->thread ? DTS_RUN_THREAD : DTS_RUN_CALLER, &n);
    if (rc) return rc;
    ping_state p = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    dts_type_declare(n, "bench.Ping", DTS_FORMAT_RAW, NULL, 0);
    dts_sub *s;
    dts_subscribe(n, "bench.Pong", bench_on_pong, &p, &s);
    if (!bench_wait_subscriber(n, "bench.Ping", !o->thread)) {
        dts_node_close(n);
        return cli_error(ctx, "no 'dts bench pong' is running (same -i/--port)");
    }
    uint8_t *buf = calloc(1, (size_t)o->size);
    double *rtt = calloc((size_t)o->count, sizeof *rtt);
    long got = 0, lost = 0, i;
    for (i = 0; buf && rtt && i < o->count + 100 && !cli_stopped() && lost < BENCH_LOST_MAX; i++) {
        double us = bench_round_trip(n, &p, buf, (size_t)o->size, o->thread);
        lost = us >= 0 ? 0 : lost + 1;
        if (us >= 0 && i >= 100) rtt[got++] = us;
    }
    // Why the pong stopped answering, as this node sees it: gone (no
    // subscriber of bench.Ping), or there but not answering.
    unsigned pongs = lost >= BENCH_LOST_MAX ? cli_subscribers(n, "bench.Ping") : 0;
    dts_publish(n, "bench.Ping", "quit", 4);
    dts_flush(n, 1000);
    if (got && lost < BENCH_LOST_MAX) bench_print_ping(o, rtt, got);
    free(buf);
    free(rtt);
    dts_sub_close(s);
    dts_node_close(n);
    if (lost >= BENCH_LOST_MAX)
        return cli_error(ctx,
                         "no pong came back for %d round trips in a row (after %ld of %ld): %s",
                         BENCH_LOST_MAX, i - lost, o->count + 100,
                         pongs ? "'dts bench pong' is subscribed but does not answer; is it "
                                 "stuck, or does it not hear this node's subscription?"
                               : "'dts bench pong' is gone (this node no longer hears it)");
    return got ? CLI_EXIT_OK : cli_error(ctx, "no round trip completed");
}

// ---------------------------------------------------------------------------

static int
bench_parse(const cli_ctx *ctx, int argc, char **argv, bench_opts *o)
{
    static const struct option opts[] = {
        {"size", required_argument, NULL, 'z'},
        {"seconds", required_argument, NULL, 's'},
        {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"mtu", required_argument, NULL, 'm'},
        {"reliable", no_argument, NULL, 'R'},
        {"json", no_argument, NULL, 'j'},
        {"pace", required_argument, NULL, 'p'},
        {"pace-dgrams", required_argument, NULL, 'D'},
        {"spin", required_argument, NULL, 'S'},
        {"answer-spin", required_argument, NULL, 'A'},
        {"copy", no_argument, NULL, 'C'},
        {"thread", no_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    int c;
    const char *pubsub_only = NULL, *pingpong_only = NULL; // an option given of one pair
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        const char *name = c == 's'   ? "--seconds"
                           : c == 'r' ? "--rate"
                           : c == 'R' ? "--reliable"
                           : c == 'C' ? "--copy"
                           : c == 'n' ? "--count"
                           : c == 'T' ? "--thread"
                                      : NULL;
        if (c == 's' || c == 'r' || c == 'R' || c == 'C') pubsub_only = name;
        if (c == 'n' || c == 'T') pingpong_only = name;
        if ((c == 'z' && cli_parse_long(ctx, "--size", optarg, 8, DTS_PAYLOAD_MAX_DEFAULT,
                                        "--size 1024", &o->size) < 0) ||
            (c == 's' && cli_parse_double(ctx, "--seconds", optarg, 0.1, 3600, "--seconds 5",
                                          &o->seconds) < 0) ||
            (c == 'n' && cli_parse_long(ctx, "--count", optarg, 1, 100000000L, "--count 10000",
                                        &o->count) < 0) ||
            (c == 'r' &&
             cli_parse_double(ctx, "--rate", optarg, 1, 1e9, "--rate 1000", &o->rate) < 0) ||
            (c == 'm' &&
             cli_parse_long(ctx, "--mtu", optarg, 576, 65535, "--mtu 1500", &o->mtu) < 0) ||
            (c == 'p' &&
             cli_parse_double(ctx, "--pace", optarg, 1e5, 1e11, "--pace 2e9", &o->pace) < 0) ||
            (c == 'D' && cli_parse_double(ctx, "--pace-dgrams", optarg, 1e3, 1e9,
                                          "--pace-dgrams 4e6", &o->pace_dgrams) < 0) ||
            (c == 'S' && cli_parse_long(ctx, "--spin", optarg, 0, DTS_SPIN_MAX_US, "--spin 100",
                                        &o->spin) < 0) ||
            (c == 'A' && cli_parse_long(ctx, "--answer-spin", optarg, 0, DTS_SPIN_MAX_US,
                                        "--answer-spin 0", &o->answer_spin) < 0))
            return CLI_EXIT_USAGE;
        if (c == 'R') o->reliable = 1;
        if (c == 'C') o->copy = 1;
        if (c == 'T') o->thread = 1;
        if (c == 'j') o->json = 1;
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c, opts);
    }
    if (optind >= argc)
        return cli_usage(ctx, "which side? 'dts bench sub' and 'dts bench pub', or "
                              "'dts bench pong' and 'dts bench ping'");
    o->mode = argv[optind];
    if (optind + 1 < argc) return cli_usage(ctx, "unexpected argument '%s'", argv[optind + 1]);
    int pubsub = !strcmp(o->mode, "pub") || !strcmp(o->mode, "sub");
    int pingpong = !strcmp(o->mode, "ping") || !strcmp(o->mode, "pong");
    if (pubsub && pingpong_only)
        return cli_usage(ctx, "%s is for 'bench ping' and 'bench pong', not '%s'", pingpong_only,
                         o->mode);
    if (pingpong && pubsub_only)
        return cli_usage(ctx, "%s is for 'bench pub' and 'bench sub', not '%s'", pubsub_only,
                         o->mode);
    return -1;
}

static int
bench_run(cli_ctx *ctx, int argc, char **argv)
{
    bench_opts o = {.size = 64, .count = 10000, .seconds = 5, .spin = -1, .answer_spin = -1};
    int rc = bench_parse(ctx, argc, argv, &o);
    if (rc >= 0) return rc;
    cli_signals_install();
    if (!strcmp(o.mode, "sub")) return bench_sub(ctx, &o);
    if (!strcmp(o.mode, "pub")) return bench_pub(ctx, &o);
    if (!strcmp(o.mode, "ping")) return bench_ping(ctx, &o);
    if (!strcmp(o.mode, "pong")) return bench_pong(ctx, &o);
    return cli_usage(ctx, "unknown side '%s': use pub, sub, ping or pong", o.mode);
}

const cli_verb cli_verb_bench = {
    .name = "bench",
    .summary = "measure throughput (pub/sub) and round trips (ping/pong)",
    .help = bench_help,
    .run = bench_run,
};
