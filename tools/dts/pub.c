// pub.c: `dts pub TYPE [VALUE]`: declare a type and publish VALUE, or one
// value per line of standard input, optionally paced at --rate. After the
// last value the node lingers (--linger) answering queries from its
// last-value cache. JSON values are encoded into cbor, msgpack, protobuf
// (the schema from a .proto compiled with protoc, or a descriptor set) or
// capnp (the schema from a .capnp compiled with `capnp compile`).
#include "cli.h"

#include <dts/codec.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// The longest line read from standard input; a longer one is skipped.
#define PUB_LINE_MAX (DTS_PAYLOAD_MAX_DEFAULT + 1)
// How long the final flush may take before the node is closed anyway.
#define PUB_FLUSH_MS 2000

static const char pub_help[] =
    "usage: dts pub TYPE [--format F] [--schema FILE] [--message NAME] [--rate HZ]\n"
    "               [--count N] [--linger S] [--compress ALG] [--reliable] [VALUE]\n"
    "\n"
    "Publish VALUE as a message of TYPE: a JSON document for --format json (the default);\n"
    "text for --format raw; a JSON value encoded into the format for cbor, msgpack,\n"
    "protobuf and capnp. VALUE @FILE takes the value from a file (its bytes for raw, a JSON\n"
    "document for the others). Without VALUE, publish one value per line of standard input\n"
    "(empty lines are skipped). The schema travels with the type, so 'dts echo' anywhere\n"
    "prints the values as JSON.\n"
    "\n"
    "  --format F   json (default), raw, cbor, msgpack, protobuf or capnp\n"
    "  --schema FILE  protobuf (required): a .proto file, compiled with protoc, or a\n"
    "               descriptor set (protoc --include_imports --descriptor_set_out=FILE);\n"
    "               json (optional): a JSON Schema document sent as the type's schema.\n"
    "               capnp (required): a .capnp file, compiled with 'capnp compile'.\n"
    "               cbor and msgpack need no schema.\n"
    "  --message NAME  protobuf: the message of FILE (pkg.Name, or Name when unique;\n"
    "               default: TYPE, then the last part of TYPE); capnp: the struct\n"
    "               (Name or Outer.Inner; default: the last part of TYPE, then TYPE)\n"
    "  --rate HZ    at most HZ messages per second (default: as fast as they come)\n"
    "  --count N    send VALUE N times (default 1; 0 means until Ctrl-C); with standard\n"
    "               input, stop after N values sent (default: every line; lines that are\n"
    "               empty or not valid are skipped and not counted; exit 1 when one was\n"
    "               not valid or none was sent)\n"
    "  --linger S   stay S seconds after sending, answering queries for the last value:\n"
    "               'dts query', and subscribers of a glob ('brewery.*') that join a new\n"
    "               type when they hear of it and then ask for its value (default 0.5,\n"
    "               less once every node heard subscribes to TYPE; 0: leave once sent)\n"
    "  --compress ALG  compress values of 1 KiB or more with zstd, lz4 or blosc when it\n"
    "               makes them smaller ('dts echo' decompresses)\n"
    "  --reliable   reliable mode: subscribers ask for what they miss and this process\n"
    "               sends it again while it runs (use --linger to stay for late repairs)\n"
    "\n"
    "examples:\n"
    "  dts pub brewery.Temperature '{\"tank\":\"T1\",\"celsius\":18.5}'\n"
    "  dts pub brewery.Setpoint --linger 60 '{\"tank\":\"T1\",\"celsius\":12}'\n"
    "  dts pub notes.Text --format raw 'hello'\n"
    "  dts pub brewery.Level --format cbor '{\"tank\":\"T1\",\"litres\":950}'\n"
    "  dts pub brewery.Reading --format protobuf --schema reading.proto \\\n"
    "      --message brewery.Reading '{\"tank\":\"T1\",\"celsius\":18.5}'\n"
    "  dts pub brewery.Temperature --format capnp --schema brewery.capnp \\\n"
    "      --message Temperature '{\"tank\":\"T1\",\"celsius\":18.5}'\n"
    "  sensor-reader | dts pub brewery.Temperature --rate 4\n"
    "  dts pub camera.Frame --format raw --compress zstd --reliable @frame.bin\n";

// One publishing session.
typedef struct pub_state {
    const cli_ctx *ctx;
    dts_node *node;
    const char *type;
    dts_format format;
    const char *schema_path; // --schema
    const char *message;     // --message
    void *schema;            // schema bytes as they travel (malloc), or NULL
    size_t schema_len;
    dts_codec_schema *codec; // cbor, msgpack, protobuf, capnp: encodes JSON values
    double rate;             // messages per second, 0 for no pacing
    long count;              // -1: the default for the input source
    double linger;
    int compress; // dts_compress_alg, 0: none
    int reliable;
    int64_t next_ns; // earliest time of the next send when paced
    long sent;
    int bad_input;   // some stdin line was skipped
    int send_failed; // some stdin line could not be published (said why)
} pub_state;

// Standard input split into lines without blocking the loop.
typedef struct pub_lines {
    char *buf;
    size_t len;
    long lineno;
    int eof;
    int skipping; // inside an over-long line
} pub_lines;

// pub_json_error explains where a JSON value is invalid, with a caret under
// the place for a one-line value.
static void
pub_json_error(const pub_state *st, const char *what, const char *text, size_t len,
               const json_error_t *e)
{
    // jansson names its flag; say what is wrong instead.
    const char *why = strstr(e->text, "JSON_ALLOW_NUL") ? "\\u0000 (NUL) in a string" : e->text;
    fprintf(stderr, "dts pub: %s is not valid JSON at line %d, column %d (position %d): %s\n", what,
            e->line, e->column, e->position, why);
    if (len < 100 && !memchr(text, '\n', len) && e->column > 0)
        fprintf(stderr, "  %.*s\n  %*s^\n", (int)len, text, e->column - 1, "");
    if (strstr(e->text, "too big integer") && st->format != DTS_FORMAT_JSON)
        fputs("  Integers outside the signed 64-bit range go as decimal strings: "
              "\"18446744073709551615\".\n",
              stderr);
}

// pub_check validates one value for the format: every format but raw takes
// JSON, which must parse (any JSON value, not only objects). Returns 0 or -1 after printing why.
static int
pub_check(const pub_state *st, const char *what, const char *data, size_t len)
{
    json_error_t e;
    if (st->format == DTS_FORMAT_RAW) return 0;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY, &e);
    // Integers beyond 64 bits are valid JSON, and json without a schema
    // sends the text as it is: check it with such integers read as reals.
    if (!v && !st->codec && strstr(e.text, "too big integer"))
        v = json_loadb(data, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &e);
    if (v) {
        json_decref(v);
        return 0;
    }
    pub_json_error(st, what, data, len, &e);
    return -1;
}

// pub_misfit explains why a JSON value does not fit the format or schema:
// for protobuf, a key that names no field is shown with the valid names.
static void
pub_misfit(const pub_state *st, const char *what, const json_t *v, dts_err err, const char *why)
{
    char *unknown = NULL;
    if (st->format == DTS_FORMAT_PROTOBUF && err == DTS_EINVAL)
        unknown = cli_pb_unknown_field(st->schema, st->schema_len, v);
    int capnp = st->format == DTS_FORMAT_CAPNP;
    const char *msg = capnp || st->format == DTS_FORMAT_PROTOBUF ? (const char *)st->schema : "";
    fprintf(stderr, "dts pub: %s does not fit %s%s%s: %s\n", what, dts_format_name(st->format),
            msg[0] ? (capnp ? " struct " : " message ") : "", msg,
            unknown  ? unknown
            : why[0] ? why
                     : dts_strerror(err));
    if (unknown)
        fputs("  Use the field names of the .proto (or their lowerCamelCase JSON names).\n",
              stderr);
    free(unknown);
}

// pub_encode turns one value into its payload: the text itself for json
// and raw, else the JSON parsed and encoded by the format's codec. *payload
// is data or a buffer to free with dts_codec_free (*owned set). Returns 0,
// or -1 after printing why.
static int
pub_encode(const pub_state *st, const char *what, const char *data, size_t len,
           const void **payload, size_t *plen, int *owned)
{
    *owned = 0;
    if (!st->codec) {
        *payload = data, *plen = len;
        return 0;
    }
    json_error_t je;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY, &je);
    if (!v) {
        pub_json_error(st, what, data, len, &je);
        return -1;
    }
    char why[256] = "";
    void *out = NULL;
    dts_err err = dts_codec_encode(st->codec, v, &out, plen, why, sizeof why);
    if (err != DTS_OK) pub_misfit(st, what, v, err, why);
    json_decref(v);
    if (err != DTS_OK) return -1;
    *payload = out, *owned = 1;
    return 0;
}

// pub_wait_turn runs the loop until the pacing allows the next send.
static void
pub_wait_turn(pub_state *st)
{
    while (st->rate > 0 && !cli_stopped()) {
        int64_t now = dts_now_ns();
        if (now >= st->next_ns) break;
        cli_step(st->node, (int)((st->next_ns - now) / 1000000) + 1, -1);
    }
}

// pub_send publishes one value, waiting while the queue is full. Returns 0,
// or -1 after printing why the value cannot be sent.
static int
pub_send(pub_state *st, const void *data, size_t len)
{
    pub_wait_turn(st);
    for (;;) {
        if (cli_stopped()) return -1;
        dts_err err = dts_publish(st->node, st->type, data, len);
        if (err == DTS_OK) break;
        if (err != DTS_EQUEUE) {
            cli_error(st->ctx, "cannot publish %s (%zu bytes): %s", st->type, len,
                      dts_strerror(err));
            return -1;
        }
        cli_step(st->node, 5, -1);
    }
    st->sent++;
    int64_t now = dts_now_ns(), period = st->rate > 0 ? (int64_t)(1e9 / st->rate) : 0;
    st->next_ns = st->next_ns + period < now ? now + period : st->next_ns + period;
    cli_step(st->node, 0, -1);
    return 0;
}

// pub_read_file reads @FILE into a new buffer. A file larger than one
// payload is refused rather than cut.
static char *
pub_read_file(const pub_state *st, const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_usage(st->ctx, "cannot read @%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(DTS_PAYLOAD_MAX_DEFAULT + 1);
    size_t n = buf ? fread(buf, 1, DTS_PAYLOAD_MAX_DEFAULT + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > DTS_PAYLOAD_MAX_DEFAULT) {
        char big[64];
        snprintf(big, sizeof big, "it is larger than the largest message (%u MiB)",
                 DTS_PAYLOAD_MAX_DEFAULT >> 20);
        cli_usage(st->ctx, "cannot use @%s: %s", path,
                  !buf  ? "out of memory"
                  : bad ? "read error"
                        : big);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

// pub_value sends the value (VALUE, or the bytes of @FILE: what names it)
// --count times (0: until stopped).
static int
pub_value(pub_state *st, const char *what, const char *value, size_t len)
{
    const void *payload;
    size_t plen;
    int owned;
    if (pub_encode(st, what, value, len, &payload, &plen, &owned) < 0) return CLI_EXIT_USAGE;
    long count = st->count < 0 ? 1 : st->count;
    int rc = CLI_EXIT_OK;
    for (long i = 0; (count == 0 || i < count) && !cli_stopped(); i++) {
        if (pub_send(st, payload, plen) < 0) {
            rc = cli_stopped() ? CLI_EXIT_OK : CLI_EXIT_FAIL;
            break;
        }
    }
    if (owned) dts_codec_free((void *)payload);
    return rc;
}

// pub_fill reads what standard input has (it is non-blocking) into the
// line buffer, keeping room below PUB_LINE_MAX.
static void
pub_fill(pub_lines *in)
{
    if (in->len == PUB_LINE_MAX) { // an over-long line: drop what we have
        in->len = 0;
        in->skipping = 1;
    }
    ssize_t n = read(STDIN_FILENO, in->buf + in->len, PUB_LINE_MAX - in->len);
    if (n > 0)
        in->len += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        in->eof = 1;
}

// pub_next_line returns the length of the first complete line in the
// buffer (the last one may end at EOF) and sets *used to the bytes to drop
// after it, or returns -1 when no line is complete yet.
static ssize_t
pub_next_line(pub_lines *in, size_t *used)
{
    char *nl = memchr(in->buf, '\n', in->len);
    if (!nl && !(in->eof && in->len > 0)) return -1;
    size_t n = nl ? (size_t)(nl - in->buf) : in->len;
    *used = nl ? n + 1 : n;
    if (n > 0 && in->buf[n - 1] == '\r') n--;
    return (ssize_t)n;
}

// pub_one_line sends one input line unless it is empty, the tail of an
// over-long line, or invalid JSON (reported with its line number).
static void
pub_one_line(pub_state *st, pub_lines *in, const char *line, size_t n)
{
    char what[64];
    in->lineno++;
    snprintf(what, sizeof what, "standard input line %ld", in->lineno);
    if (in->skipping) {
        in->skipping = 0;
        st->bad_input = 1;
        fprintf(stderr, "dts pub: %s is longer than %d bytes; skipped\n", what, PUB_LINE_MAX - 1);
        return;
    }
    if (n == 0) return;
    const void *payload;
    size_t plen;
    int owned;
    if (pub_check(st, what, line, n) < 0 ||
        pub_encode(st, what, line, n, &payload, &plen, &owned) < 0) {
        st->bad_input = 1;
        return;
    }
    if (pub_send(st, payload, plen) < 0 && !cli_stopped()) st->send_failed = 1;
    if (owned) dts_codec_free((void *)payload);
}

// pub_stdin publishes each line of standard input, reading only when no
// complete line is waiting so that a fast producer is paced by --rate.
static int
pub_stdin(pub_state *st)
{
    pub_lines in = {.buf = malloc(PUB_LINE_MAX)};
    if (!in.buf) return cli_error(st->ctx, "out of memory");
    int fl = fcntl(STDIN_FILENO, F_GETFL);
    fcntl(STDIN_FILENO, F_SETFL, fl | O_NONBLOCK);
    if (isatty(STDIN_FILENO)) fprintf(stderr, "dts pub: reading one value per line; Ctrl-D ends\n");
    while (!cli_stopped() && (st->count <= 0 || st->sent < st->count)) {
        size_t used;
        ssize_t n = pub_next_line(&in, &used);
        if (n >= 0) {
            pub_one_line(st, &in, in.buf, (size_t)n);
            memmove(in.buf, in.buf + used, in.len - used);
            in.len -= used;
        } else if (in.eof) {
            break;
        } else if (cli_step(st->node, CLI_POLL_MAX_MS, STDIN_FILENO) > 0) {
            pub_fill(&in);
        }
    }
    fcntl(STDIN_FILENO, F_SETFL, fl);
    free(in.buf);
    if (st->sent == 0 && !st->bad_input && !st->send_failed && !cli_stopped())
        return cli_error(st->ctx, "standard input held no value (only empty lines, or none): "
                                  "nothing was sent");
    return st->bad_input || st->send_failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

// pub_check_options checks that --schema and --message go with the format.
// Returns -1 to go on or an exit status.
static int
pub_check_options(const pub_state *st)
{
    const char *f = dts_format_name(st->format);
    if (st->format == DTS_FORMAT_PROTOBUF && !st->schema_path)
        return cli_usage(st->ctx,
                         "protobuf needs its schema: --schema FILE.proto (or a descriptor set "
                         "from 'protoc --include_imports --descriptor_set_out=FILE') and "
                         "--message NAME");
    if (st->format == DTS_FORMAT_CAPNP && !st->schema_path)
        return cli_usage(st->ctx,
                         "capnp needs its schema: --schema FILE.capnp and --message STRUCT "
                         "(the struct of FILE the values are)");
    if (st->schema_path && st->format != DTS_FORMAT_PROTOBUF && st->format != DTS_FORMAT_JSON &&
        st->format != DTS_FORMAT_CAPNP)
        return cli_usage(st->ctx,
                         "--schema is for protobuf (a .proto or descriptor set), capnp (a "
                         ".capnp file) and json (a JSON Schema); %s carries no schema: drop "
                         "--schema",
                         f);
    if (st->message && st->format != DTS_FORMAT_PROTOBUF && st->format != DTS_FORMAT_CAPNP)
        return cli_usage(st->ctx,
                         "--message names a protobuf message or a capnp struct; it means "
                         "nothing for %s",
                         f);
    return -1;
}

// pub_parse reads the options; returns -1 to go on or an exit status.
static int
pub_parse(pub_state *st, int argc, char **argv, const char **value)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"schema", required_argument, NULL, 's'},
        {"message", required_argument, NULL, 'm'},
        {"rate", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'},
        {"linger", required_argument, NULL, 'l'},
        {"compress", required_argument, NULL, 'z'},
        {"reliable", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    const cli_ctx *ctx = st->ctx;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'f' && dts_format_parse(optarg, &st->format) != DTS_OK)
            return cli_usage(ctx,
                             "--format must be json or raw, or cbor, msgpack, protobuf or capnp "
                             "(JSON values encoded), not '%s'",
                             optarg);
        if (c == 's') st->schema_path = optarg;
        if (c == 'm') st->message = optarg;
        if (c == 'r' &&
            cli_parse_double(ctx, "--rate", optarg, 0.001, 1e6, "--rate 10", &st->rate) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'n' &&
            cli_parse_long(ctx, "--count", optarg, 0, 1000000000L, "--count 5", &st->count) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'z') {
            dts_compress_alg alg;
            if (dts_compress_alg_parse(optarg, &alg) != DTS_OK || alg == DTS_COMPRESS_NONE)
                return cli_usage(ctx, "--compress must be zstd, lz4 or blosc, not '%s'", optarg);
            st->compress = (int)alg;
        }
        if (c == 'R') st->reliable = 1;
        if (c == 'l' &&
            cli_parse_double(ctx, "--linger", optarg, 0, 1e9, "--linger 30", &st->linger) < 0)
            return CLI_EXIT_USAGE;
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c, opts);
    }
    if (optind >= argc)
        return cli_usage(ctx, "which type? For example: dts pub brewery.Temperature "
                              "'{\"celsius\":18.5}'");
    st->type = argv[optind++];
    if (cli_name_too_long(ctx, st->type) >= 0) return CLI_EXIT_USAGE;
    if (!dts_name_valid(st->type))
        return cli_usage(ctx,
                         "'%s' is not a type name: use dot-separated parts of "
                         "[A-Za-z0-9_-], for example brewery.Temperature",
                         st->type);
    if (optind + 1 < argc)
        return cli_usage(ctx,
                         "one VALUE only, got an extra argument '%s' (quote JSON: "
                         "'{\"celsius\": 18.5}')",
                         argv[optind + 1]);
    *value = optind < argc ? argv[optind] : NULL;
    int rc = pub_check_options(st);
    if (rc >= 0) return rc;
    if (*value && **value != '@' && pub_check(st, "VALUE", *value, strlen(*value)) < 0)
        return cli_usage(ctx,
                         "quote the value for the shell, for example "
                         "'{\"tank\":\"T1\",\"celsius\":18.5}'%s",
                         st->format == DTS_FORMAT_JSON ? ", or use --format raw" : "");
    return -1;
}

// pub_settle_state: what pub_everyone_has compares with.
typedef struct pub_settle_state {
    unsigned subs0;    // subscribers of the type when the last value left
    uint64_t replies0; // queries this node had answered then
} pub_settle_state;

// pub_others counts the nodes heard, this one not counted.
static size_t
pub_others(dts_node *node)
{
    dts_node_info *peers;
    size_t np, others = 0;
    if (dts_node_peers(node, &peers, &np) != DTS_OK) return 0;
    for (size_t i = 0; i < np; i++) others += !peers[i].self;
    dts_free(peers);
    return others;
}

// pub_everyone_has says whether every node heard has the value: it
// subscribes to the type, and those that joined after the value left
// have had their query for it answered.
static int
pub_everyone_has(dts_node *node, const char *type, const pub_settle_state *s)
{
    unsigned subs = cli_subscribers(node, type);
    size_t others = pub_others(node);
    dts_node_counters nc;
    if (others == 0 || subs < others || dts_node_counters_get(node, &nc) != DTS_OK) return 0;
    return nc.replies_sent - s->replies0 >= (uint64_t)(subs > s->subs0 ? subs - s->subs0 : 0);
}

// pub_settle is the default linger: a subscriber of a glob joins a type
// only when discovery tells it of the type, after this process sent its
// value, and then asks for the value by a query. Stay PUB_SETTLE_S to
// answer it, or until every node heard has the value.
#define PUB_SETTLE_S 0.5
static void
pub_settle(dts_node *node, const char *type)
{
    pub_settle_state s = {.subs0 = cli_subscribers(node, type)};
    dts_node_counters nc;
    if (dts_node_counters_get(node, &nc) == DTS_OK) s.replies0 = nc.replies_sent;
    int64_t end = cli_deadline(PUB_SETTLE_S);
    while (!cli_stopped() && dts_now_ns() < end && !pub_everyone_has(node, type, &s))
        if (cli_step(node, 20, -1) < 0) break;
}

// pub_session opens the node, declares the type with its schema, sends,
// flushes and lingers. A VALUE that does not fit the schema is refused
// before anything goes on the network.
static int
pub_session(pub_state *st, const char *what, const char *value, size_t len)
{
    const cli_ctx *ctx = st->ctx;
    int rc;
    if (value && st->codec) {
        const void *p;
        size_t n;
        int owned;
        if (pub_encode(st, what, value, len, &p, &n, &owned) < 0) return CLI_EXIT_USAGE;
        if (owned) dts_codec_free((void *)p);
    }
    if ((rc = cli_node_open(ctx, DTS_RUN_CALLER, &st->node)) != 0) return rc;
    dts_err err = dts_type_declare(st->node, st->type, st->format, st->schema, st->schema_len);
    if (err != DTS_OK) {
        dts_node_close(st->node);
        return cli_error(ctx, "cannot declare %s as %s: %s", st->type, dts_format_name(st->format),
                         dts_strerror(err));
    }
    dts_type_opts to = {.reliable = st->reliable, .compress = st->compress};
    if ((st->reliable || st->compress) &&
        (err = dts_type_set_opts(st->node, st->type, &to)) != DTS_OK) {
        dts_node_close(st->node);
        return cli_error(ctx, "cannot set --compress or --reliable on %s: %s", st->type,
                         dts_strerror(err));
    }
    st->next_ns = dts_now_ns();
    rc = value ? pub_value(st, what, value, len) : pub_stdin(st);
    if (dts_flush(st->node, PUB_FLUSH_MS) != DTS_OK) {
        cli_error(ctx, "some messages may not have left within %d ms", PUB_FLUSH_MS);
        if (rc == CLI_EXIT_OK) rc = CLI_EXIT_FAIL;
    }
    // A message the transport could not send (no route, interface down) is
    // dropped and counted: say so, and fail, rather than let a script think
    // it went out.
    dts_type_counters tc = {0};
    if (st->sent > 0 && dts_type_counters_get(st->node, st->type, &tc) == DTS_OK &&
        tc.sent < (uint64_t)st->sent) {
        cli_error(ctx,
                  "%llu of %ld message(s) of %s could not be sent (see the warnings above); "
                  "run 'dts doctor' to check the interface and its multicast route",
                  (unsigned long long)((uint64_t)st->sent - tc.sent), st->sent, st->type);
        if (rc == CLI_EXIT_OK) rc = CLI_EXIT_FAIL;
    }
    if (ctx->verbose) fprintf(stderr, "dts pub: sent %ld message(s) of %s\n", st->sent, st->type);
    if (st->linger < 0)
        pub_settle(st->node, st->type);
    else if (st->linger > 0)
        cli_run_until(st->node, cli_deadline(st->linger), NULL);
    dts_node_close(st->node);
    return rc;
}

// pub_run parses the command line, builds the type's schema (cbor, msgpack
// and protobuf get a codec to encode JSON values) and runs the session.
static int
pub_run(cli_ctx *ctx, int argc, char **argv)
{
    pub_state st = {.ctx = ctx, .format = DTS_FORMAT_JSON, .count = -1, .linger = -1};
    const char *value = NULL;
    int rc = pub_parse(&st, argc, argv, &value);
    if (rc >= 0) return rc;
    if ((rc = cli_pub_schema(ctx, st.type, st.format, st.schema_path, st.message, &st.schema,
                             &st.schema_len, &st.codec)) != 0)
        return rc;
    // VALUE @FILE: the file's bytes, read and checked before the node opens.
    const char *what = "VALUE";
    char *file = NULL;
    size_t len = value ? strlen(value) : 0;
    rc = -1;
    if (value && value[0] == '@') {
        if (!(file = pub_read_file(&st, value + 1, &len)) || pub_check(&st, value, file, len) < 0)
            rc = CLI_EXIT_USAGE;
        what = value;
        value = file;
    }
    if (rc < 0) rc = pub_session(&st, what, value, len);
    free(file);
    dts_codec_schema_free(st.codec);
    free(st.schema);
    return rc;
}

const cli_verb cli_verb_pub = {
    .name = "pub",
    .summary = "publish a value (or one per line of stdin) of a type",
    .help = pub_help,
    .run = pub_run,
};
