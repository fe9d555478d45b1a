// echo.c: `dts echo PATTERN` (also `dts sub`): subscribe to a type name or
// glob and print every message, as text or as one JSON object per line.
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ECHO_HELP(verb)                                                                            \
    "usage: dts " verb " PATTERN [--count N] [--timeout S] [--json] [--save DIR] [--new]\n"        \
    "\n"                                                                                           \
    "Print each message of the types matching PATTERN: a type name (brewery.Temperature),\n"       \
    "a glob ('brewery.*'; '*' stops at dots, '**' does not, '?' is one character) or '**'\n"       \
    "for everything. Every format is printed as JSON: json as it is; cbor, msgpack,\n"             \
    "protobuf and capnp decoded with the schema the publisher announced (fetched from the\n"       \
    "network by schema id; messages wait up to 2 s for it, then print as base64 with a note\n"     \
    "on stderr); raw as text when printable, else as base64. A payload its codec\n"                \
    "refuses prints as {\"undecodable\": REASON, \"base64\": ...}. 'dts echo' and 'dts sub'\n"     \
    "are the same verb.\n"                                                                         \
    "\n"                                                                                           \
    "A glob joins a type when discovery names it, a fraction of a second after the type's\n"       \
    "first message: a new publisher's first burst reaches it from its latest value on (an\n"       \
    "exact name gets every message).\n"                                                            \
    "\n"                                                                                           \
    "A new subscriber first gets each running publisher's latest value, however old (a\n"          \
    "reply: \"is_reply\": true with --json, 'reply' with -v; its sent_ns tells its age), then\n"   \
    "each new message; --count counts both. --new prints only messages sent from now on.\n"        \
    "\n"                                                                                           \
    "  --count N    exit 0 after N messages (default: run until Ctrl-C)\n"                         \
    "  --timeout S  give up after S seconds: exit 1 if fewer than N messages arrived\n"            \
    "               (or none at all without --count)\n"                                            \
    "  --json       one JSON object per line: {\"type\", \"format\", \"schema_id\", \"seq\",\n"    \
    "               \"sender\": {\"instance\", \"host\", \"addr\"}, \"sent_ns\",\n"                \
    "               \"received_ns\", \"is_reply\", \"value\"}; ids are 16 hex digits\n"            \
    "  --save DIR   write each message's bytes to its own file in DIR (made if missing),\n"        \
    "               named TYPE-SEQ-SENDER.EXT, and print the file name instead of the\n"           \
    "               value (with --json: \"file\" and \"bytes\" keys, \"value\" null)\n"            \
    "  --new        skip the publishers' latest values: only messages sent from now on\n"          \
    "\n"                                                                                           \
    "Without --json each line is the type name and the value.\n"                                   \
    "\n"                                                                                           \
    "examples:\n"                                                                                  \
    "  dts " verb " 'brewery.*'\n"                                                                 \
    "  dts " verb " brewery.Temperature --count 1 --timeout 5 --json\n"                            \
    "  dts " verb " camera.Frame --count 10 --save frames/\n"

// What the subscription callback needs.
typedef struct echo_state {
    const cli_ctx *ctx;
    int json;
    long count;           // stop after this many (0: never)
    long received;        // printed so far
    int done;             // --count reached
    const char *save_dir; // --save
    int save_failed;
    int skip_replies; // --new
    cli_decoder *dec;
} echo_state;

// echo_save_dir checks (or makes) the --save directory before anything is
// received, so that a mistake fails at once and not at the first message.
// Returns -1 to go on or an exit status.
static int
echo_save_dir(const cli_ctx *ctx, const char *dir)
{
    struct stat sb;
    if (dir[0] == '-')
        return cli_usage(ctx,
                         "--save needs a directory, got '%s' (write ./%s for a directory "
                         "of that name)",
                         dir, dir);
    if (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return cli_usage(ctx, "--save %s: that is a file, not a directory", dir);
    // A directory that cannot be made or written is a wrong argument too
    // (exit 2, as an unreadable @FILE of 'dts pub' is).
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        cli_error(ctx, "cannot make directory %s for --save: %s", dir, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        cli_error(ctx, "cannot write into %s for --save: %s", dir, strerror(errno));
        return CLI_EXIT_USAGE;
    }
    return -1;
}

// echo_save writes one message's payload to DIR/TYPE-SEQ-SENDER.EXT through
// a temporary file and a rename, so a reader never sees half a file. Fills
// path; returns 0, or -1 after printing why.
static int
echo_save(echo_state *st, const dts_msg *msg, char *path, size_t cap)
{
    char name[DTS_NAME_MAX + 20], inst[17], tmp[4200];
    const char *ext = cli_msg_format(msg) == DTS_FORMAT_JSON ? "json" : "bin";
    int dir_len = (int)strlen(st->save_dir); // "frames/" gives frames/NAME, not frames//NAME
    while (dir_len > 1 && st->save_dir[dir_len - 1] == '/') dir_len--;
    snprintf(path, cap, "%.*s%s%s-%llu-%s.%s", dir_len, st->save_dir,
             st->save_dir[dir_len - 1] == '/' ? "" : "/", cli_type_name(msg, name, sizeof name),
             (unsigned long long)msg->seq, cli_hex64(msg->sender_instance, inst), ext);
    snprintf(tmp, sizeof tmp, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(msg->data, 1, msg->len, f) == msg->len;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) == 0) return 0;
    fprintf(stderr, "dts %s: cannot write %s: %s\n", st->ctx->verb, path, strerror(errno));
    unlink(tmp);
    st->save_failed = 1;
    return -1;
}

// echo_print_text prints "TYPE VALUE", with the sender and sequence number
// in front when -v was given.
static void
echo_print_text(const echo_state *st, const dts_msg *msg, const cli_value *v)
{
    char name[DTS_NAME_MAX + 20], inst[17];
    char *text = cli_decoded_text(msg, v);
    if (st->ctx->verbose)
        printf("%s #%llu from %s (%s)%s ", cli_type_name(msg, name, sizeof name),
               (unsigned long long)msg->seq, cli_hex64(msg->sender_instance, inst),
               msg->sender_addr, msg->is_reply ? " reply" : "");
    else
        printf("%s ", cli_type_name(msg, name, sizeof name));
    printf("%s\n", text ? text : "(out of memory)");
    free(text);
}

// echo_count counts one printed message against --count.
static void
echo_count(echo_state *st)
{
    st->received++;
    st->done = st->count && st->received >= st->count;
    cli_out_flush();
}

// echo_on_value prints one decoded message (called by the decoder, in
// order per type, on the main thread). Messages past --count are ignored.
static void
echo_on_value(void *ud, const dts_msg *msg, const cli_value *v)
{
    echo_state *st = ud;
    if (st->count && st->received >= st->count) return;
    if (st->json)
        cli_print_json_line(cli_msg_json_value(msg, v->format, json_incref(v->value)));
    else
        echo_print_text(st, msg, v);
    echo_count(st);
}

// echo_on_msg handles one message (loop thread, which is the main thread in
// DTS_RUN_CALLER mode): --save writes it at once, otherwise the decoder
// prints it when its schema is known. Messages past --count are ignored.
static void
echo_on_msg(void *ud, const dts_msg *msg)
{
    echo_state *st = ud;
    if (st->count && st->received >= st->count) return;
    char path[4096];
    if (!st->save_dir) {
        cli_decoder_msg(st->dec, msg);
        return;
    }
    if (echo_save(st, msg, path, sizeof path) != 0) return;
    if (st->json) {
        json_t *obj = cli_msg_json(msg);
        if (obj) {
            json_object_set_new(obj, "value", json_null());
            json_object_set_new(obj, "file", json_string(path));
            json_object_set_new(obj, "bytes", json_integer((json_int_t)msg->len));
        }
        cli_print_json_line(obj);
    } else {
        printf("%s %zu bytes -> %s\n", msg->type[0] ? msg->type : "?", msg->len, path);
    }
    echo_count(st);
}

// echo_loop runs the node until --count, the deadline or Ctrl-C, letting
// the decoder release held messages after each step.
static void
echo_loop(echo_state *st, dts_node *node, int64_t deadline_ns)
{
    while (!cli_stopped() && !st->done) {
        int64_t now = dts_now_ns();
        if (deadline_ns && now >= deadline_ns) break;
        int ms = deadline_ns ? (int)((deadline_ns - now + 999999) / 1000000) : CLI_POLL_MAX_MS;
        if (cli_step(node, ms, -1) < 0) break;
        cli_decoder_pump(st->dec);
    }
}

// echo_parse reads the verb's options; returns -1 to go on or an exit
// status. *pattern receives the one positional argument.
static int
echo_parse(const cli_ctx *ctx, int argc, char **argv, echo_state *st, double *timeout,
           const char **pattern)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'n'}, {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},        {"save", required_argument, NULL, 's'},
        {"new", no_argument, NULL, 'N'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'n' &&
            cli_parse_long(ctx, "--count", optarg, 1, 1000000000L, "--count 10", &st->count) < 0)
            return CLI_EXIT_USAGE;
        if (c == 't' &&
            cli_parse_double(ctx, "--timeout", optarg, 0.001, 1e9, "--timeout 5", timeout) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'j') st->json = 1;
        if (c == 's') st->save_dir = optarg;
        if (c == 'N') st->skip_replies = 1;
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c, opts);
    }
    if (optind >= argc)
        return cli_usage(ctx, "which types? Give a PATTERN, for example 'brewery.*', or '**' "
                              "for everything");
    if (optind + 1 < argc)
        return cli_usage(ctx,
                         "expected one PATTERN, got an extra argument '%s' (quote globs: "
                         "'brewery.*')",
                         argv[optind + 1]);
    *pattern = argv[optind];
    if (cli_name_too_long(ctx, *pattern) >= 0) return CLI_EXIT_USAGE;
    return st->save_dir ? echo_save_dir(ctx, st->save_dir) : -1;
}

// echo_run subscribes, runs the loop until --count messages, --timeout or
// Ctrl-C, and returns 0 when it got what was asked for.
static int
echo_run(cli_ctx *ctx, int argc, char **argv)
{
    echo_state st = {.ctx = ctx};
    double timeout = 0;
    const char *pattern = NULL;
    int rc = echo_parse(ctx, argc, argv, &st, &timeout, &pattern);
    if (rc >= 0) return rc;
    dts_node *node;
    if (st.skip_replies) ctx->cfg.initial_value = 0;
    if ((rc = cli_node_open(ctx, DTS_RUN_CALLER, &node)) != 0) return rc;
    if (!(st.dec = cli_decoder_alloc(node, echo_on_value, &st))) {
        dts_node_close(node);
        return cli_error(ctx, "out of memory");
    }
    dts_sub *sub;
    dts_err err = dts_subscribe(node, pattern, echo_on_msg, &st, &sub);
    if (err != DTS_OK) {
        cli_decoder_free(st.dec);
        dts_node_close(node);
        return cli_usage(ctx,
                         "cannot subscribe to '%s': %s. A pattern is a type name made of "
                         "dot-separated parts of [A-Za-z0-9_-], with * ** ? as wildcards",
                         pattern, dts_strerror(err));
    }
    if (ctx->verbose) fprintf(stderr, "dts %s: listening for '%s'\n", ctx->verb, pattern);
    int64_t start = dts_now_ns();
    echo_loop(&st, node, cli_deadline(timeout));
    double ran = (double)(dts_now_ns() - start) / 1e9;
    dts_sub_close(sub);
    cli_decoder_free(st.dec); // prints what still waits for a schema
    dts_node_close(node);
    if (st.save_failed) return CLI_EXIT_FAIL;
    if (st.count ? st.received >= st.count : !(timeout > 0 && st.received == 0)) return CLI_EXIT_OK;
    if (cli_stopped() && !(timeout > 0 && ran >= timeout))
        return cli_error(ctx, "interrupted after %.1fs with %ld of %ld message(s) for '%s'", ran,
                         st.received, st.count ? st.count : 1, pattern);
    // '*' stops at dots: 'brewery.*' is the usual glob, and '*' alone
    // matches only names without one.
    int star =
        st.received == 0 && strchr(pattern, '*') && !strstr(pattern, "**") && !strchr(pattern, '.');
    return cli_error(ctx,
                     "timed out after %gs with %ld of %ld message(s) for '%s'. Is anyone "
                     "publishing it? Try 'dts ls' or 'dts doctor'.%s",
                     timeout, st.received, st.count ? st.count : 1, pattern,
                     star ? " ('*' stops at dots, so it matches only names without one: "
                            "'**' matches every type)"
                          : "");
}

const cli_verb cli_verb_echo = {
    .name = "echo",
    .summary = "print the messages of a type or glob (also: sub)",
    .help = ECHO_HELP("echo"),
    .run = echo_run,
};

const cli_verb cli_verb_sub = {
    .name = "sub",
    .summary = "same as echo",
    .help = ECHO_HELP("sub"),
    .run = echo_run,
};
