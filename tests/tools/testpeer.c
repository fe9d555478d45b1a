// testpeer.c: a small program on the public API that multi-process tests
// drive (tests/mp/core_*.sh). Each mode prints plain lines that a test can
// wait for and parse, and exits 0 when its condition held before its
// deadline, 1 otherwise, 2 on usage errors.
//
//   testpeer sub PATTERN [PATTERN...] [--count N] [--timeout S] [--own]
//       prints "ready", then "msg TYPE SEQ SENDER PAYLOAD" per message, and
//       at exit "counters KEY=VALUE ..." (node counters summed over types).
//   testpeer pub TYPE[,TYPE...] [--count N] [--schema TEXT] [--wait-subs K]
//       [--linger S] [--interval-ms M] [--own]
//       publishes {"type":TYPE,"n":I} for I in 1..N, round robin over the
//       types; with --own it also subscribes and counts what comes back.
//   testpeer query TYPE [--timeout S]
//       prints "reply SEQ PAYLOAD" and "elapsed_ms X"; exit 1 if nobody answered.
//   testpeer declare TYPE --schema TEXT [--timeout S]
//       declares and waits until the node reports a schema mismatch.
//   testpeer peers [--present HEX] [--absent HEX] [--timeout S]
//       waits until a node with that instance is known (or no longer).
//   pub --size B sends B pseudo-random bytes per message and prints
//   "sum TYPE N len=B fnv=HEX" (a word-wise FNV-style checksum); sub --sum
//   prints "len=B fnv=HEX" instead of
//   payloads. --mtu M caps datagrams (fragments) to an M-byte MTU.
//   pub --then-wait FILE --then-count T: after --count messages, print
//   "waiting", wait for FILE to exist, then publish T more (same sequence).
//   sub --accounted N [--linger S]: exit 0 once received + gaps + incomplete
//   reach N (after S more seconds, so that reassembly timeouts have run).
//   --reasm-max B bounds reassembly memory; the counters line is followed
//   by "peak_rss_kb N" (VmHWM).
//   pub --reliable: the types use reliable mode (dts_type_set_opts).
//   sub --slow-us U: each message holds the loop U microseconds (a slow
//   consumer, for flow control); pub --counters prints the counters line.
//   Every mode prints "instance HEX" first; --ipv6 uses IPv6 groups.
#define _GNU_SOURCE
#include <dts/dts.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    const char *mode;
    const char *args[16];
    int n_args;
    long count;
    double timeout;
    const char *schema;
    long wait_subs;
    double linger;
    long interval_ms;
    int own;
    int ipv6;
    int sum;      // sub: print length and FNV-1a of payloads instead of them
    int reliable; // pub: reliable mode for the types
    long size;    // pub: payloads of this many pseudo-random bytes
    long mtu;
    const char *then_wait; // pub: after --count, wait for this file to exist
    long then_count;       // ... then publish this many more
    long accounted;        // sub: exit once received + gaps + incomplete >= this
    long slow_us;          // sub: time each message takes
    int counters;          // pub: print the counters line at the end
    long reasm_max;        // reassembly memory bound in bytes (0: default)
    uint64_t present, absent;
} opts;

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static long received;

static double
mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int print_sums;

// fnv is a 64-bit checksum in the spirit of FNV-1a, taken 8 bytes at a time
// so that a 64 MiB message costs milliseconds in the callback, not the
// tenths of a second that would stall the loop thread.
static uint64_t
fnv(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ull, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h ^ n;
}

static long slow_us;

static void
on_msg(void *ud, const dts_msg *m)
{
    if (slow_us) usleep((useconds_t)slow_us);
    pthread_mutex_lock(&out_mu);
    if (print_sums)
        printf("msg %s %" PRIu64 " %016" PRIx64 " len=%zu fnv=%016" PRIx64 "\n", m->type, m->seq,
               m->sender_instance, m->len, fnv(m->data, m->len));
    else
        printf("msg %s %" PRIu64 " %016" PRIx64 " %.*s\n", m->type, m->seq, m->sender_instance,
               (int)m->len, (const char *)m->data);
    fflush(stdout);
    received++;
    pthread_mutex_unlock(&out_mu);
}

static long
received_now(void)
{
    pthread_mutex_lock(&out_mu);
    long r = received;
    pthread_mutex_unlock(&out_mu);
    return r;
}

static void
print_counters(dts_node *n)
{
    dts_node_counters c;
    dts_node_counters_get(n, &c);
    dts_type_info *ti;
    size_t k;
    uint64_t gaps = 0, dup = 0, own = 0, mism = 0, recv = 0, incomplete = 0, repaired = 0;
    if (dts_node_types(n, &ti, &k) == DTS_OK) {
        for (size_t i = 0; i < k; i++) {
            gaps += ti[i].counters.gaps;
            dup += ti[i].counters.dropped_dup;
            own += ti[i].counters.dropped_own;
            mism += ti[i].counters.dropped_mismatch;
            recv += ti[i].counters.received;
            incomplete += ti[i].counters.incomplete;
            repaired += ti[i].counters.repaired;
        }
        dts_free(ti);
    }
    printf("counters received=%" PRIu64 " gaps=%" PRIu64 " dup=%" PRIu64 " own=%" PRIu64
           " mismatch=%" PRIu64 " malformed=%" PRIu64 " foreign=%" PRIu64 " bad_version=%" PRIu64
           " control_malformed=%" PRIu64 " unknown_type=%" PRIu64 " incomplete=%" PRIu64
           " fragments=%" PRIu64 " fragments_dup=%" PRIu64 " fragments_malformed=%" PRIu64
           " reasm_timed_out=%" PRIu64 " reasm_evicted=%" PRIu64 " reasm_too_big=%" PRIu64
           " reasm_peak_bytes=%" PRIu64 " repaired=%" PRIu64 " nacks_sent=%" PRIu64
           " repairs_sent=%" PRIu64 " slow_sent=%" PRIu64 " slow_received=%" PRIu64
           " fragments_placed=%" PRIu64 " buffers_allocated=%" PRIu64
           " control_fragments_refused=%" PRIu64 " schema_answers_held=%" PRIu64
           " slow_loss_sent=%" PRIu64 "\n",
           recv, gaps, dup, own, mism, c.frames_malformed, c.frames_foreign, c.frames_bad_version,
           c.control_malformed, c.frames_unknown_type, incomplete, c.fragments_received,
           c.fragments_dup, c.fragments_malformed, c.reasm_timed_out, c.reasm_evicted,
           c.reasm_too_big, c.reasm_peak_bytes, repaired, c.nacks_sent, c.repairs_sent, c.slow_sent,
           c.slow_received, c.fragments_placed, c.buffers_allocated, c.control_fragments_refused,
           c.schema_answers_held, c.slow_loss_sent);
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) printf("peak_rss_kb %ld\n", atol(line + 6));
    if (f) fclose(f);
    fflush(stdout);
}

// accounted sums what the node knows of every message of its types:
// delivered, never seen (gaps) and given up incomplete.
static uint64_t
accounted(dts_node *n)
{
    dts_type_info *ti;
    size_t k;
    uint64_t sum = 0;
    if (dts_node_types(n, &ti, &k) != DTS_OK) return 0;
    for (size_t i = 0; i < k; i++)
        sum += ti[i].counters.received + ti[i].counters.gaps + ti[i].counters.incomplete;
    dts_free(ti);
    return sum;
}

static int
mode_sub(dts_node *n, const opts *o)
{
    dts_sub *subs[16];
    for (int i = 0; i < o->n_args; i++) {
        if (dts_subscribe(n, o->args[i], on_msg, NULL, &subs[i]) != DTS_OK) {
            fprintf(stderr, "testpeer: cannot subscribe to %s\n", o->args[i]);
            return 2;
        }
    }
    printf("ready\n");
    fflush(stdout);
    double end = mono_s() + o->timeout;
    if (o->accounted > 0) {
        while (mono_s() < end && accounted(n) < (uint64_t)o->accounted) usleep(2000);
        usleep((useconds_t)(o->linger * 1e6)); // let reassembly timeouts classify losses
        print_counters(n);
        return accounted(n) >= (uint64_t)o->accounted ? 0 : 1;
    }
    while (mono_s() < end && (o->count <= 0 || received_now() < o->count)) usleep(2000);
    print_counters(n);
    return o->count <= 0 || received_now() >= o->count ? 0 : 1;
}

// subs_ready says whether every type has at least k subscribers known.
static int
subs_ready(dts_node *n, char **types, int nt, long k)
{
    dts_type_info *ti;
    size_t m;
    if (dts_node_types(n, &ti, &m) != DTS_OK) return 0;
    int ok = 0;
    for (int j = 0; j < nt; j++) {
        for (size_t i = 0; i < m; i++)
            if (strcmp(ti[i].name, types[j]) == 0 && ti[i].subscribers >= (unsigned)k) ok++;
    }
    dts_free(ti);
    return ok == nt;
}

static int
mode_pub(dts_node *n, const opts *o)
{
    char *list = strdup(o->args[0]), *save = NULL, *types[16];
    int nt = 0;
    for (char *t = strtok_r(list, ",", &save); t && nt < 16; t = strtok_r(NULL, ",", &save))
        types[nt++] = t;
    const char *schema = o->schema ? o->schema : "";
    dts_sub *s;
    for (int j = 0; j < nt; j++) {
        if (dts_type_declare(n, types[j], DTS_FORMAT_JSON, schema, strlen(schema)) != DTS_OK)
            return 2;
        dts_type_opts to = {.reliable = o->reliable};
        if (o->reliable && dts_type_set_opts(n, types[j], &to) != DTS_OK) return 2;
        if (o->own) dts_subscribe(n, types[j], on_msg, NULL, &s);
    }
    double end = mono_s() + o->timeout;
    while (o->wait_subs > 0 && !subs_ready(n, types, nt, o->wait_subs)) {
        if (mono_s() > end) {
            fprintf(stderr, "testpeer: subscribers not seen in time\n");
            return 1;
        }
        usleep(5000);
    }
    char small[300];
    uint8_t *big = o->size > 0 ? malloc((size_t)o->size) : NULL;
    long total = o->count + o->then_count;
    for (long i = 1; i <= total; i++) {
        if (i == o->count + 1 && o->then_wait) {
            dts_flush(n, 60000);
            printf("waiting\n");
            fflush(stdout);
            while (access(o->then_wait, F_OK) != 0) usleep(2000);
        }
        for (int j = 0; j < nt; j++) {
            const void *buf = small;
            size_t len =
                (size_t)snprintf(small, sizeof small, "{\"type\":\"%s\",\"n\":%ld}", types[j], i);
            if (big) {
                uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(i * 16 + j + 1);
                for (long b = 0; b < o->size; b++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    big[b] = (uint8_t)x;
                }
                buf = big, len = (size_t)o->size;
                printf("sum %s %ld len=%zu fnv=%016" PRIx64 "\n", types[j], i, len, fnv(big, len));
            }
            dts_err e;
            while ((e = dts_publish(n, types[j], buf, len)) == DTS_EQUEUE) usleep(200);
            if (e != DTS_OK) {
                fprintf(stderr, "testpeer: publish: %s\n", dts_strerror(e));
                return 1;
            }
        }
        if (o->interval_ms) usleep((useconds_t)o->interval_ms * 1000);
    }
    free(big);
    if (dts_flush(n, 60000) != DTS_OK) fprintf(stderr, "testpeer: flush timed out\n");
    printf("sent %ld\n", total * nt);
    fflush(stdout);
    end = mono_s() + o->linger;
    while (mono_s() < end) usleep(10000);
    if (o->own || o->counters) print_counters(n);
    free(list);
    return 0;
}

static void
on_reply(void *ud, const dts_msg *m)
{
    printf("reply %" PRIu64 " %.*s\n", m->seq, (int)m->len, (const char *)m->data);
    fflush(stdout);
}

static int
mode_query(dts_node *n, const opts *o)
{
    double t0 = mono_s();
    size_t answers = 0;
    dts_err e = dts_query(n, o->args[0], (int)(o->timeout * 1000), 0, on_reply, NULL, &answers);
    printf("elapsed_ms %.0f\n", (mono_s() - t0) * 1000);
    return e == DTS_OK && answers > 0 ? 0 : 1;
}

static int
mode_declare(dts_node *n, const opts *o)
{
    const char *schema = o->schema ? o->schema : "";
    if (dts_type_declare(n, o->args[0], DTS_FORMAT_JSON, schema, strlen(schema)) != DTS_OK)
        return 2;
    double end = mono_s() + o->timeout;
    while (mono_s() < end) {
        dts_type_info *ti;
        size_t k;
        if (dts_node_types(n, &ti, &k) == DTS_OK) {
            for (size_t i = 0; i < k; i++) {
                if (strcmp(ti[i].name, o->args[0]) == 0 && ti[i].mismatch) {
                    printf("mismatch %016" PRIx64 " %016" PRIx64 "\n", ti[i].schema_id,
                           ti[i].mismatch_schema_id);
                    fflush(stdout);
                    dts_free(ti);
                    usleep(300000); // stay long enough for the other side to see us too
                    return 0;
                }
            }
            dts_free(ti);
        }
        usleep(5000);
    }
    return 1;
}

static int
peer_known(dts_node *n, uint64_t inst)
{
    dts_node_info *ni;
    size_t k;
    int found = 0;
    if (dts_node_peers(n, &ni, &k) != DTS_OK) return 0;
    for (size_t i = 0; i < k; i++) found |= ni[i].instance == inst;
    dts_free(ni);
    return found;
}

// mode_peers waits until the --present instance is known (prints
// "present"), then until the --absent one is gone (prints "absent"). With
// the same instance for both it watches one node come and go.
static int
mode_peers(dts_node *n, const opts *o)
{
    double end = mono_s() + o->timeout;
    while (o->present && !peer_known(n, o->present)) {
        if (mono_s() > end) return 1;
        usleep(5000);
    }
    printf("present\n");
    fflush(stdout);
    while (o->absent && peer_known(n, o->absent)) {
        if (mono_s() > end) return 1;
        usleep(5000);
    }
    printf("absent\n");
    fflush(stdout);
    return 0;
}

static int
parse(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->count = 1;
    o->timeout = 10;
    if (argc < 2) return -1;
    o->mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--reliable") == 0) {
            o->reliable = 1;
            continue;
        }
        if (strcmp(a, "--counters") == 0) {
            o->counters = 1;
            continue;
        }
        if (strcmp(a, "--own") == 0 || strcmp(a, "--ipv6") == 0 || strcmp(a, "--sum") == 0) {
            if (a[2] == 'o')
                o->own = 1;
            else if (a[2] == 'i')
                o->ipv6 = 1;
            else
                o->sum = 1;
            continue;
        }
        if (a[0] == '-' && a[1] == '-' && !v) return -1;
        if (strcmp(a, "--count") == 0)
            o->count = atol(v), i++;
        else if (strcmp(a, "--timeout") == 0)
            o->timeout = atof(v), i++;
        else if (strcmp(a, "--schema") == 0)
            o->schema = v, i++;
        else if (strcmp(a, "--wait-subs") == 0)
            o->wait_subs = atol(v), i++;
        else if (strcmp(a, "--size") == 0)
            o->size = atol(v), i++;
        else if (strcmp(a, "--then-wait") == 0)
            o->then_wait = v, i++;
        else if (strcmp(a, "--then-count") == 0)
            o->then_count = atol(v), i++;
        else if (strcmp(a, "--accounted") == 0)
            o->accounted = atol(v), i++;
        else if (strcmp(a, "--reasm-max") == 0)
            o->reasm_max = atol(v), i++;
        else if (strcmp(a, "--mtu") == 0)
            o->mtu = atol(v), i++;
        else if (strcmp(a, "--linger") == 0)
            o->linger = atof(v), i++;
        else if (strcmp(a, "--slow-us") == 0)
            o->slow_us = atol(v), i++;
        else if (strcmp(a, "--interval-ms") == 0)
            o->interval_ms = atol(v), i++;
        else if (strcmp(a, "--present") == 0)
            o->present = strtoull(v, NULL, 16), i++;
        else if (strcmp(a, "--absent") == 0)
            o->absent = strtoull(v, NULL, 16), i++;
        else if (a[0] == '-')
            return -1;
        else if (o->n_args < 16)
            o->args[o->n_args++] = a;
    }
    return 0;
}

static void
log_stderr(void *ud, dts_log_level level, dts_log_cat cat, const char *event, const char *msg)
{
    fprintf(stderr, "testpeer: %s %s %s %s\n", dts_log_level_name(level), dts_log_cat_name(cat),
            event, msg);
}

int
main(int argc, char **argv)
{
    if (getenv("TESTPEER_LOG")) dts_log_set_sink(log_stderr, NULL, DTS_LOG_DEBUG);
    opts o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: testpeer sub|pub|query|declare|peers ARGS (see testpeer.c)\n");
        return 2;
    }
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.receive_own = o.own;
    cfg.ipv6 = o.ipv6;
    cfg.mtu = (size_t)o.mtu;
    cfg.reasm_max_bytes = (size_t)o.reasm_max;
    print_sums = o.sum;
    slow_us = o.slow_us;
    dts_node *n;
    dts_err e = dts_node_open(&cfg, &n);
    if (e != DTS_OK) {
        fprintf(stderr, "testpeer: dts_node_open: %s\n", dts_strerror(e));
        return 1;
    }
    printf("instance %016" PRIx64 "\n", dts_node_instance(n));
    fflush(stdout);
    int rc = 2;
    if (strcmp(o.mode, "sub") == 0 && o.n_args > 0)
        rc = mode_sub(n, &o);
    else if (strcmp(o.mode, "pub") == 0 && o.n_args == 1)
        rc = mode_pub(n, &o);
    else if (strcmp(o.mode, "query") == 0 && o.n_args == 1)
        rc = mode_query(n, &o);
    else if (strcmp(o.mode, "declare") == 0 && o.n_args == 1)
        rc = mode_declare(n, &o);
    else if (strcmp(o.mode, "peers") == 0)
        rc = mode_peers(n, &o);
    else
        fprintf(stderr, "testpeer: unknown mode or arguments\n");
    dts_node_close(n);
    return rc;
}
