// query.c: `dts query TYPE`: ask the publishers of a type for their latest
// value and print each answer (text, or the echo --json shape).
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>

#define QUERY_TIMEOUT_DEFAULT 1.0

static const char query_help[] =
    "usage: dts query TYPE [--timeout S] [--json]\n"
    "\n"
    "Ask every publisher of TYPE (an exact type name) for its latest value and print each\n"
    "answer: a late joiner gets the current state at once instead of waiting for the next\n"
    "message. Answers are collected for the whole timeout. Values print as JSON, decoded\n"
    "like 'dts echo' does (cbor, msgpack, protobuf and capnp with the schema from the\n"
    "network).\n"
    "\n"
    "  --timeout S  how long to collect answers (default 1)\n"
    "  --json       one JSON object per answer, as 'dts echo --json' prints\n"
    "\n"
    "Exits 1 with a message when nobody answered.\n"
    "\n"
    "example:\n"
    "  dts query brewery.Setpoint --timeout 2 --json\n";

typedef struct query_state {
    const cli_ctx *ctx;
    int json;
    cli_decoder *dec;
} query_state;

// query_on_value prints one answer once the decoder knows its value (main
// thread).
static void
query_on_value(void *ud, const dts_msg *msg, const cli_value *v)
{
    const query_state *st = ud;
    char inst[17];
    if (st->json) {
        cli_print_json_line(cli_msg_json_value(msg, v->format, json_incref(v->value)));
    } else {
        char *text = cli_decoded_text(msg, v);
        printf("%s from %s (%s): %s\n", msg->type, cli_hex64(msg->sender_instance, inst),
               msg->sender_addr, text ? text : "(out of memory)");
        free(text);
    }
    cli_out_flush();
}

// query_on_answer hands one answer to the decoder (loop thread: this
// thread, since the node runs in DTS_RUN_CALLER mode and dts_query runs
// the loop).
static void
query_on_answer(void *ud, const dts_msg *msg)
{
    const query_state *st = ud;
    cli_decoder_msg(st->dec, msg);
}

// query_drain runs the node until every answer waiting for its schema has
// been printed (the decoder bounds the wait to CLI_SCHEMA_WAIT_MS).
static void
query_drain(query_state *st, dts_node *node)
{
    while (!cli_stopped() && cli_decoder_pump(st->dec) > 0)
        if (cli_step(node, CLI_POLL_MAX_MS, -1) < 0) break;
}

// query_parse reads the options; returns -1 to go on or an exit status.
static int
query_parse(const cli_ctx *ctx, int argc, char **argv, query_state *st, double *timeout,
            const char **type)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 't' &&
            cli_parse_double(ctx, "--timeout", optarg, 0.001, 3600, "--timeout 2", timeout) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'j') st->json = 1;
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c, opts);
    }
    if (optind >= argc)
        return cli_usage(ctx, "which type? Give its exact name, for example "
                              "'dts query brewery.Setpoint'");
    if (optind + 1 < argc)
        return cli_usage(ctx, "expected one TYPE, got an extra argument '%s'", argv[optind + 1]);
    *type = argv[optind];
    if (cli_name_too_long(ctx, *type) >= 0) return CLI_EXIT_USAGE;
    if (!dts_name_valid(*type))
        return cli_usage(ctx,
                         "'%s' is not a type name: query takes an exact name made of "
                         "dot-separated parts of [A-Za-z0-9_-], no wildcards",
                         *type);
    return -1;
}

static int
query_run(cli_ctx *ctx, int argc, char **argv)
{
    query_state st = {.ctx = ctx};
    double timeout = QUERY_TIMEOUT_DEFAULT;
    const char *type = NULL;
    int rc = query_parse(ctx, argc, argv, &st, &timeout, &type);
    if (rc >= 0) return rc;
    dts_node *node;
    if ((rc = cli_node_open(ctx, DTS_RUN_CALLER, &node)) != 0) return rc;
    if (!(st.dec = cli_decoder_alloc(node, query_on_value, &st))) {
        dts_node_close(node);
        return cli_error(ctx, "out of memory");
    }
    size_t n = 0;
    cli_interrupt_node(node); // Ctrl-C ends the wait at once
    if (ctx->verbose) fprintf(stderr, "dts query: asking for %s (up to %gs)\n", type, timeout);
    dts_err err = cli_stopped()
                      ? DTS_ETIMEDOUT
                      : dts_query(node, type, (int)(timeout * 1000), 1, query_on_answer, &st, &n);
    cli_interrupt_node(NULL);
    query_drain(&st, node);
    cli_decoder_free(st.dec);
    dts_node_close(node);
    if (err == DTS_OK && n > 0) return CLI_EXIT_OK;
    if (cli_stopped()) return cli_error(ctx, "interrupted before anyone answered for %s", type);
    if (err == DTS_OK || err == DTS_ETIMEDOUT)
        return cli_error(ctx,
                         "nobody answered for %s within %gs: no publisher of it is "
                         "running, or it is on another interface or port. See 'dts ls' "
                         "for the types on the network.",
                         type, timeout);
    return cli_error(ctx, "query for %s failed: %s", type, dts_strerror(err));
}

const cli_verb cli_verb_query = {
    .name = "query",
    .summary = "ask the publishers of a type for their latest value",
    .help = query_help,
    .run = query_run,
};
