// ls.c: `dts ls`: listen to discovery (and to every type, to measure
// rates) for a moment, then list the types on the network, or with
// --nodes the nodes, as a table or as one JSON array.
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define LS_WAIT_DEFAULT 2.0

static const char ls_help[] =
    "usage: dts ls [--nodes] [--json] [--wait S]\n"
    "\n"
    "Listen for S seconds, then list the types on the network: name, format, schema id,\n"
    "publishers, subscribers, messages and bytes per second (received from the moment this\n"
    "ls first heard of the type to the end of S). With --nodes, list the nodes\n"
    "instead: instance id, host id, host name, process id, address, number of types and\n"
    "when each was last heard. This dts process itself is not counted.\n"
    "\n"
    "  --nodes   list nodes instead of types\n"
    "  --json    print one JSON array (ids as 16 hex digits)\n"
    "  --wait S  how long to listen first (default 2; nodes announce every second)\n"
    "\n"
    "examples:\n"
    "  dts ls\n"
    "  dts ls --nodes --wait 5\n"
    "  dts ls --json | python3 -m json.tool\n";

typedef struct ls_opts {
    int nodes;
    int json;
    double wait;
} ls_opts;

// ls_type_json describes one type for --json; subscribers exclude us.
static json_t *
ls_type_json(const dts_type_info *t)
{
    char schema[17], id[17];
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:f, s:f, s:b}", "name", t->name, "type_id",
                     cli_hex64(t->type_id, id), "format", dts_format_name(t->format), "schema_id",
                     cli_hex64(t->schema_id, schema), "publishers", (int)t->publishers,
                     "subscribers", (int)(t->subscribers - !!t->local_sub), "msgs_per_s",
                     t->msgs_per_s, "bytes_per_s", t->bytes_per_s, "mismatch", t->mismatch);
}

// ls_node_json describes one node for --json.
static json_t *
ls_node_json(const dts_node_info *n)
{
    char inst[17], host[17];
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:I}", "instance",
                     cli_hex64(n->instance, inst), "host", cli_hex64(n->host, host), "hostname",
                     n->hostname, "pid", (int)n->pid, "addr", n->addr, "types", (int)n->n_types,
                     "last_seen_ns", (json_int_t)n->last_seen_ns);
}

// ls_print_json prints the array of types or nodes on one line.
static void
ls_print_json(const ls_opts *o, const dts_type_info *types, size_t nt, const dts_node_info *nodes,
              size_t nn)
{
    json_t *arr = json_array();
    for (size_t i = 0; o->nodes && i < nn; i++)
        if (!nodes[i].self) json_array_append_new(arr, ls_node_json(&nodes[i]));
    for (size_t i = 0; !o->nodes && i < nt; i++)
        json_array_append_new(arr, ls_type_json(&types[i]));
    char *s = json_dumps(arr, JSON_COMPACT);
    printf("%s\n", s ? s : "[]");
    free(s);
    json_decref(arr);
}

// ls_print_types prints the table of types, and a warning line under each
// type seen with two schemas.
static void
ls_print_types(const dts_type_info *types, size_t n)
{
    char schema[17], other[17], bw[32];
    printf("%-32s %-8s %-16s %4s %4s %9s %11s\n", "TYPE", "FORMAT", "SCHEMA", "PUBS", "SUBS",
           "MSG/S", "BYTES/S");
    for (size_t i = 0; i < n; i++) {
        const dts_type_info *t = &types[i];
        printf("%-32s %-8s %-16s %4u %4u %9.2f %11s\n", t->name[0] ? t->name : "(unnamed)",
               dts_format_name(t->format), cli_hex64(t->schema_id, schema), t->publishers,
               t->subscribers - !!t->local_sub, t->msgs_per_s,
               cli_fmt_bytes(t->bytes_per_s, bw, sizeof bw));
        if (t->mismatch)
            printf("  ! type-mismatch: also seen with schema %s\n",
                   cli_hex64(t->mismatch_schema_id, other));
    }
    if (n == 0) printf("(no types seen; is anything publishing? try 'dts doctor')\n");
}

// ls_print_nodes prints the table of nodes other than this one.
static void
ls_print_nodes(const dts_node_info *nodes, size_t n)
{
    char inst[17], host[17];
    int64_t now = dts_now_ns();
    size_t shown = 0;
    printf("%-16s %-16s %-20s %7s %-21s %5s %9s\n", "INSTANCE", "HOST", "HOSTNAME", "PID",
           "ADDRESS", "TYPES", "LAST SEEN");
    for (size_t i = 0; i < n; i++) {
        const dts_node_info *d = &nodes[i];
        if (d->self) continue;
        shown++;
        printf("%-16s %-16s %-20.20s %7u %-21s %5u %8.1fs\n", cli_hex64(d->instance, inst),
               cli_hex64(d->host, host), d->hostname, d->pid, d->addr, d->n_types,
               (double)(now - d->last_seen_ns) / 1e9);
    }
    if (shown == 0) printf("(no other nodes heard; try 'dts doctor')\n");
}

// ls_types_filtered returns the types without those only this node knows
// about (our own "**" subscription is no type on the network).
static size_t
ls_types_filtered(dts_type_info *types, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (types[i].publishers > 0 || types[i].subscribers > (unsigned)!!types[i].local_sub ||
            types[i].counters.received > 0)
            types[k++] = types[i];
    return k;
}

// ls_parse reads the options; returns -1 to go on or an exit status.
static int
ls_parse(const cli_ctx *ctx, int argc, char **argv, ls_opts *o)
{
    static const struct option opts[] = {
        {"nodes", no_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"wait", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'n') o->nodes = 1;
        if (c == 'j') o->json = 1;
        if (c == 'w' &&
            cli_parse_double(ctx, "--wait", optarg, 0.1, 3600, "--wait 3", &o->wait) < 0)
            return CLI_EXIT_USAGE;
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c, opts);
    }
    if (optind < argc)
        return cli_usage(ctx,
                         "ls takes no argument (got '%s'); to watch types use "
                         "'dts echo PATTERN' or 'dts spy'",
                         argv[optind]);
    return -1;
}

// When ls first knew each type: its subscription to every type receives a
// type's messages only from then, so a rate counts the messages received
// over that time, not over all of --wait (the library's own rates cover
// whole seconds only: a --wait under one showed 0 msg/s for busy types).
typedef struct ls_seen {
    uint64_t id;
    int64_t at_ns;
} ls_seen;

typedef struct ls_seen_set {
    ls_seen *v; // sorted by id
    size_t n, cap;
} ls_seen_set;

static ls_seen *
ls_seen_find(const ls_seen_set *s, uint64_t id, size_t *pos)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos) *pos = lo;
    return lo < s->n && s->v[lo].id == id ? &s->v[lo] : NULL;
}

// ls_note_types records the types known now that were not before.
static void
ls_note_types(dts_node *node, ls_seen_set *s, int64_t now)
{
    dts_type_info *ti;
    size_t k, pos;
    if (dts_node_types(node, &ti, &k) != DTS_OK) return;
    for (size_t i = 0; i < k; i++) {
        if (ls_seen_find(s, ti[i].type_id, &pos)) continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            ls_seen *v = realloc(s->v, cap * sizeof *v);
            if (!v) break;
            s->v = v;
            s->cap = cap;
        }
        memmove(&s->v[pos + 1], &s->v[pos], (s->n - pos) * sizeof *s->v);
        s->v[pos] = (ls_seen){ti[i].type_id, now};
        s->n++;
    }
    dts_free(ti);
}

// ls_listen runs the node until the deadline, noting when each type
// becomes known (every LS_NOTE_MS).
#define LS_NOTE_MS 20
static void
ls_listen(dts_node *node, int64_t deadline, ls_seen_set *seen)
{
    int64_t next_note = 0;
    while (!cli_stopped()) {
        int64_t now = dts_now_ns();
        if (seen && now >= next_note) {
            ls_note_types(node, seen, now);
            next_note = now + LS_NOTE_MS * 1000000LL;
        }
        if (now >= deadline) break;
        int64_t until = seen && next_note < deadline ? next_note : deadline;
        if (cli_step(node, (int)((until - now + 999999) / 1000000), -1) < 0) break;
    }
}

// ls_rates sets each type's rates to what this node received over the
// time since it knew the type (ls_seen), up to end.
static void
ls_rates(dts_type_info *types, size_t n, const ls_seen_set *seen, int64_t end)
{
    for (size_t i = 0; i < n; i++) {
        const ls_seen *w = ls_seen_find(seen, types[i].type_id, NULL);
        double secs = w ? (double)(end - w->at_ns) / 1e9 : 0;
        if (secs < (double)LS_NOTE_MS / 1000) continue; // too short to tell: the library's
        types[i].msgs_per_s = (double)types[i].counters.received / secs;
        types[i].bytes_per_s = (double)types[i].counters.bytes_received / secs;
    }
}

// ls_on_msg ignores messages: the subscription to every type only makes
// the library receive them so that it can measure their rates.
static void
ls_on_msg(void *ud, const dts_msg *msg)
{
}

static int
ls_cmp_type(const void *a, const void *b)
{
    return strcmp(((const dts_type_info *)a)->name, ((const dts_type_info *)b)->name);
}

static int
ls_run(cli_ctx *ctx, int argc, char **argv)
{
    ls_opts o = {.wait = LS_WAIT_DEFAULT};
    int rc = ls_parse(ctx, argc, argv, &o);
    if (rc >= 0) return rc;
    dts_node *node;
    // The rates count what is published while ls listens, not the latest
    // values that publishers send a new subscriber (a lingering publisher of
    // nothing showed 1 msg/s, one of 4 Hz 4.99).
    ctx->cfg.initial_value = 0;
    if ((rc = cli_node_open(ctx, DTS_RUN_CALLER, &node)) != 0) return rc;
    dts_sub *sub = NULL;
    if (!o.nodes) dts_subscribe(node, "**", ls_on_msg, NULL, &sub);
    ls_seen_set seen = {0};
    ls_listen(node, cli_deadline(o.wait), o.nodes ? NULL : &seen);
    dts_type_info *types = NULL;
    dts_node_info *nodes = NULL;
    size_t nt = 0, nn = 0;
    dts_err err = o.nodes ? dts_node_peers(node, &nodes, &nn) : dts_node_types(node, &types, &nt);
    if (err == DTS_OK && !o.nodes) ls_rates(types, nt, &seen, dts_now_ns());
    free(seen.v);
    nt = ls_types_filtered(types, nt);
    if (nt > 1) qsort(types, nt, sizeof *types, ls_cmp_type);
    if (err == DTS_OK && o.json)
        ls_print_json(&o, types, nt, nodes, nn);
    else if (err == DTS_OK)
        o.nodes ? ls_print_nodes(nodes, nn) : ls_print_types(types, nt);
    dts_free(types);
    dts_free(nodes);
    if (sub) dts_sub_close(sub);
    dts_node_close(node);
    if (err != DTS_OK) return cli_error(ctx, "cannot list: %s", dts_strerror(err));
    return CLI_EXIT_OK;
}

const cli_verb cli_verb_ls = {
    .name = "ls",
    .summary = "list the types (or the nodes) on the network",
    .help = ls_help,
    .run = ls_run,
};
