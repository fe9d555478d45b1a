// hz.c: `dts hz PATTERN` and `dts bw PATTERN`: every second, the rate (hz)
// or bandwidth (bw) of each matching type and of each of its publishers,
// with the spread of intervals or sizes and the gaps (lost messages) seen
// in each publisher's sequence numbers.
#include "cli.h"
#include "track.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define HZ_WINDOW_DEFAULT 5.0
#define HZ_INTERVAL_DEFAULT 1.0

#define HZ_HELP(verb, what, example_out)                                                           \
    "usage: dts " verb " PATTERN [--window S] [--interval S] [--duration S] [--json]\n"            \
    "\n"                                                                                           \
    "Every --interval seconds, print the " what "\n"                                               \
    "of each type matching PATTERN (a type name, a glob like 'brewery.*', or '**'), then\n"        \
    "one line per publisher (instance id and address) with its own figures and its gaps:\n"        \
    "sequence numbers that never arrived.\n"                                                       \
    "\n"                                                                                           \
    "  --window S    figures cover the last S seconds (default 5)\n"                               \
    "  --interval S  print every S seconds (default 1)\n"                                          \
    "  --duration S  stop after S seconds; exit 1 if nothing arrived (default: Ctrl-C)\n"          \
    "  --json        one JSON object per report: {\"time_ns\", \"types\": [{\"type\",\n"           \
    "                \"format\", \"msgs_per_s\", \"bytes_per_s\", \"publishers\", \"total\",\n"    \
    "                \"gaps\", \"senders\": [{\"instance\", \"addr\", \"msgs_per_s\",\n"           \
    "                \"bytes_per_s\", \"n\", \"interval_min_s\", \"interval_max_s\",\n"            \
    "                \"interval_std_s\", \"size_min\", \"size_max\", \"size_mean\", \"gaps\",\n"   \
    "                \"incomplete\", \"repaired\", \"duplicates\", \"late\"}]}], \"untracked\"}\n" \
    "\n"                                                                                           \
    "example:\n"                                                                                   \
    "  dts " verb " 'brewery.*'\n" example_out

typedef struct hz_state {
    const cli_ctx *ctx;
    int bw;   // 1 for `dts bw`
    int json; // --json
    track tr;
    const char *pattern;
    dts_node *node;
} hz_state;

// hz_loss appends what the library counted for one publisher beyond the
// gaps the tracker sees: messages given up incomplete (fragments missing),
// repaired (reliable mode), duplicates and late arrivals; nothing when all
// are zero.
static void
hz_loss(const hz_state *st, const char *type, uint64_t instance)
{
    dts_pub_info *pi;
    size_t n;
    if (!st->node || dts_type_publishers(st->node, type, &pi, &n) != DTS_OK) return;
    for (size_t i = 0; i < n; i++) {
        if (pi[i].instance != instance) continue;
        if (pi[i].incomplete || pi[i].repaired || pi[i].duplicates || pi[i].late)
            printf("  incomplete %llu  repaired %llu  dup %llu  late %llu",
                   (unsigned long long)pi[i].incomplete, (unsigned long long)pi[i].repaired,
                   (unsigned long long)pi[i].duplicates, (unsigned long long)pi[i].late);
    }
    dts_free(pi);
}

// hz_on_msg feeds the tracker (loop thread = main thread).
static void
hz_on_msg(void *ud, const dts_msg *msg)
{
    hz_state *st = ud;
    track_add(&st->tr, msg);
}

// hz_print_pub prints one publisher's line under its type.
static void
hz_print_pub(const hz_state *st, const char *type, const track_pub *p, int64_t now)
{
    track_stats s;
    char inst[17], a[32], b[32], c[32], d[32];
    track_pub_stats(&st->tr, p, now, &s);
    printf("  %s %-21s ", cli_hex64(p->instance, inst), p->addr);
    if (!st->bw)
        printf("%8.2f msg/s  min %.4fs  max %.4fs  std %.4fs", s.rate, s.iv_min, s.iv_max,
               s.iv_std);
    else
        printf("%10s/s  mean %s  min %s  max %s", cli_fmt_bytes(s.bw, a, sizeof a),
               cli_fmt_bytes(s.size_mean, b, sizeof b), cli_fmt_bytes(s.size_min, c, sizeof c),
               cli_fmt_bytes(s.size_max, d, sizeof d));
    printf("  n %zu  gaps %llu", s.n, (unsigned long long)p->gaps);
    hz_loss(st, type, p->instance);
    printf("\n");
}

// hz_print_type prints a type's summary line followed by its publishers.
static void
hz_print_type(const hz_state *st, const track_type *ty, int64_t now)
{
    track_stats s;
    char a[32];
    track_type_stats(&st->tr, ty, now, &s);
    printf("%s (%s)  ", ty->name, dts_format_name(ty->format));
    if (st->bw)
        printf("%s/s  %.2f msg/s", cli_fmt_bytes(s.bw, a, sizeof a), s.rate);
    else
        printf("%.2f msg/s  %s/s", s.rate, cli_fmt_bytes(s.bw, a, sizeof a));
    printf("  publishers %u  total %llu  gaps %llu\n", s.pubs, (unsigned long long)ty->count,
           (unsigned long long)s.gaps);
    for (size_t i = 0; i < ty->n_pubs; i++) hz_print_pub(st, ty->name, &ty->pubs[i], now);
}

// hz_sender_json describes one publisher of type for --json: the
// tracker's figures and what the library counted beyond its gaps.
static json_t *
hz_sender_json(const hz_state *st, const char *type, const track_pub *p, int64_t now)
{
    track_stats s;
    char inst[17];
    track_pub_stats(&st->tr, p, now, &s);
    dts_pub_info *pi = NULL, *mine = NULL;
    size_t n = 0;
    if (st->node && dts_type_publishers(st->node, type, &pi, &n) == DTS_OK)
        for (size_t i = 0; i < n; i++)
            if (pi[i].instance == p->instance) mine = &pi[i];
    json_t *o = json_pack(
        "{s:s, s:s, s:f, s:f, s:I, s:f, s:f, s:f, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I}",
        "instance", cli_hex64(p->instance, inst), "addr", p->addr, "msgs_per_s", s.rate,
        "bytes_per_s", s.bw, "n", (json_int_t)s.n, "interval_min_s", s.n >= 2 ? s.iv_min : 0.0,
        "interval_max_s", s.n >= 2 ? s.iv_max : 0.0, "interval_std_s", s.n >= 2 ? s.iv_std : 0.0,
        "size_min", (json_int_t)(s.n ? s.size_min : 0), "size_max",
        (json_int_t)(s.n ? s.size_max : 0), "size_mean", s.n ? s.size_mean : 0.0, "gaps",
        (json_int_t)p->gaps, "incomplete", (json_int_t)(mine ? mine->incomplete : 0), "repaired",
        (json_int_t)(mine ? mine->repaired : 0), "duplicates",
        (json_int_t)(mine ? mine->duplicates : 0), "late", (json_int_t)(mine ? mine->late : 0));
    dts_free(pi);
    return o;
}

// hz_report_json prints one report as one line of JSON.
static void
hz_report_json(hz_state *st, int64_t now)
{
    json_t *types = json_array();
    for (size_t i = 0; i < st->tr.n; i++) {
        const track_type *ty = &st->tr.types[i];
        track_stats s;
        track_type_stats(&st->tr, ty, now, &s);
        json_t *senders = json_array();
        for (size_t j = 0; j < ty->n_pubs; j++)
            json_array_append_new(senders, hz_sender_json(st, ty->name, &ty->pubs[j], now));
        json_array_append_new(
            types, json_pack("{s:s, s:s, s:f, s:f, s:i, s:I, s:I, s:o}", "type", ty->name, "format",
                             dts_format_name(ty->format), "msgs_per_s", s.rate, "bytes_per_s", s.bw,
                             "publishers", (int)s.pubs, "total", (json_int_t)ty->count, "gaps",
                             (json_int_t)s.gaps, "senders", senders));
    }
    json_t *o = json_pack("{s:I, s:o, s:I}", "time_ns", (json_int_t)now, "types", types,
                          "untracked", (json_int_t)st->tr.untracked);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line) printf("%s\n", line);
    free(line);
    json_decref(o);
    cli_out_flush();
}

// hz_report prints every tracked type; a blank line separates reports.
static void
hz_report(hz_state *st)
{
    int64_t now = dts_now_ns();
    track_sort(&st->tr);
    if (st->json) {
        hz_report_json(st, now);
        return;
    }
    if (st->tr.n == 0) printf("no messages for '%s' yet\n", st->pattern);
    for (size_t i = 0; i < st->tr.n; i++) hz_print_type(st, &st->tr.types[i], now);
    if (st->tr.untracked)
        printf("(%llu messages past the tracking limits)\n", (unsigned long long)st->tr.untracked);
    printf("\n");
    cli_out_flush();
}

// hz_parse reads the options; returns -1 to go on or an exit status.
static int
hz_parse(hz_state *st, int argc, char **argv, double *window, double *interval, double *duration)
{
    static const struct option opts[] = {
        {"window", required_argument, NULL, 'w'},
        {"interval", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const cli_ctx *ctx = st->ctx;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'w' &&
            cli_parse_double(ctx, "--window", optarg, 0.1, 3600, "--window 5", window) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'i' &&
            cli_parse_double(ctx, "--interval", optarg, 0.05, 3600, "--interval 1", interval) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'd' &&
            cli_parse_double(ctx, "--duration", optarg, 0.001, 1e9, "--duration 10", duration) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'j') st->json = 1;
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c, opts);
    }
    if (optind >= argc)
        return cli_usage(ctx, "which types? Give a PATTERN, for example 'brewery.*', or '**' "
                              "for everything");
    if (optind + 1 < argc)
        return cli_usage(ctx, "expected one PATTERN, got an extra argument '%s'", argv[optind + 1]);
    st->pattern = argv[optind];
    return cli_name_too_long(ctx, st->pattern) >= 0 ? CLI_EXIT_USAGE : -1;
}

// hz_loop runs the node and prints a report every interval until the
// duration ends or Ctrl-C.
static void
hz_loop(hz_state *st, dts_node *node, double interval, double duration)
{
    int64_t end = cli_deadline(duration);
    while (!cli_stopped() && (!end || dts_now_ns() < end)) {
        int64_t next = cli_deadline(interval);
        cli_run_until(node, end && end < next ? end : next, NULL);
        if (!cli_stopped()) hz_report(st);
    }
}

static int
hz_run_common(cli_ctx *ctx, int argc, char **argv, int bw)
{
    hz_state st = {.ctx = ctx, .bw = bw};
    double window = HZ_WINDOW_DEFAULT, interval = HZ_INTERVAL_DEFAULT, duration = 0;
    int rc = hz_parse(&st, argc, argv, &window, &interval, &duration);
    if (rc >= 0) return rc;
    dts_node *node;
    if ((rc = cli_node_open(ctx, DTS_RUN_CALLER, &node)) != 0) return rc;
    st.node = node;
    track_init(&st.tr, window, 0);
    dts_sub *sub;
    dts_err err = dts_subscribe(node, st.pattern, hz_on_msg, &st, &sub);
    if (err == DTS_OK) {
        hz_loop(&st, node, interval, duration);
        dts_sub_close(sub);
    }
    dts_node_close(node);
    int got = st.tr.n > 0;
    track_fini(&st.tr);
    if (err != DTS_OK)
        return cli_usage(ctx,
                         "cannot subscribe to '%s': %s. A pattern is a type name made of "
                         "dot-separated parts of [A-Za-z0-9_-], with * ** ? as wildcards",
                         st.pattern, dts_strerror(err));
    if (duration > 0 && !got)
        return cli_error(ctx, "no messages for '%s' within %gs. Try 'dts ls' or 'dts doctor'.",
                         st.pattern, duration);
    return CLI_EXIT_OK;
}

static int
hz_run(cli_ctx *ctx, int argc, char **argv)
{
    return hz_run_common(ctx, argc, argv, 0);
}

static int
bw_run(cli_ctx *ctx, int argc, char **argv)
{
    return hz_run_common(ctx, argc, argv, 1);
}

const cli_verb cli_verb_hz = {
    .name = "hz",
    .summary = "message rate per type and per publisher, with gaps",
    .help = HZ_HELP("hz", "rate (messages per second)",
                    "\n"
                    "  brewery.Temperature (json)  12.00 msg/s  456 B/s  publishers 3  total 120  "
                    "gaps 0\n"
                    "    5c1e0f9a2b3c4d5e 10.0.0.7:5555            4.00 msg/s  min 0.2490s  "
                    "max 0.2510s  std 0.0004s  n 20  gaps 0\n"),
    .run = hz_run,
};

const cli_verb cli_verb_bw = {
    .name = "bw",
    .summary = "bandwidth per type and per publisher, with gaps",
    .help = HZ_HELP("bw", "bandwidth (payload bytes per second)", ""),
    .run = bw_run,
};
