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
    "publishers, subscribers, messages and bytes per second. With --nodes, list the nodes\n"
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
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c);
    }
    if (optind < argc)
        return cli_usage(ctx,
                         "ls takes no argument (got '%s'); to watch types use "
                         "'dts echo PATTERN' or 'dts spy'",
                         argv[optind]);
    return -1;
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
    cli_run_until(node, cli_deadline(o.wait), NULL);
    dts_type_info *types = NULL;
    dts_node_info *nodes = NULL;
    size_t nt = 0, nn = 0;
    dts_err err = o.nodes ? dts_node_peers(node, &nodes, &nn) : dts_node_types(node, &types, &nt);
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
